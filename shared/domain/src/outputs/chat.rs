//! The report as a chat message: the custom-notification format AWS Chatbot (now "Amazon Q
//! Developer in chat applications") renders in a Slack or Teams channel subscribed to an SNS
//! topic, with no code of ours in between.
//!
//! The format (`version` "1.0", `source` "custom", `content` with `textType`
//! "client-markdown", `title`, `description`, `nextSteps`, `keywords`; `metadata` with
//! `summary`, `threadId`, `eventType`, `additionalContext`) is the one AWS documents for custom
//! notifications; Chatbot drops, without an error, a message that is not in it. So the report
//! JSON cannot simply go to Chatbot, and Chatbot's message cannot replace the report JSON other
//! subscribers read.
//!
//! Chatbot subscribes to a topic with the `https` protocol (its endpoint is
//! `https://global.sns-api.chatbot.amazonaws.com`). A message published with
//! `MessageStructure = json` gives each protocol its own entry and every other protocol the
//! `default` one, so `sns_message` puts the report JSON under `default` (SQS, Lambda and email
//! subscribers receive it exactly as before) and the Chatbot notification under `https`. The
//! catch: every HTTPS subscriber of the topic (a webhook of someone else's, say) then receives
//! the Chatbot notification, not the report. A deployment with such subscribers publishes the
//! notification on a topic of its own instead: `chatbot_notification` as a plain message,
//! without `MessageStructure`.
//!
//! The text is a summary (status, stacks, actions counted by outcome, the worst findings, the
//! first few actions): the report itself stays in JSON, and in the HTML page when linked. Like
//! the report, it never carries a parameter's value.

use super::clip::clip;
use super::{action_lines, result_line, status_name};
use crate::outcome::Outcome;
use crate::report::{Report, StackReport, Status};
use crate::security_groups::FlowStatus;
use crate::stack::Mode;
use chainlink::Finding;
use serde_json::{json, Value};

/// How many of the worst findings, and of the first actions, the summary lists.
const LISTED: usize = 5;
/// What one listed line may take.
const LINE_MAX: usize = 220;
/// The description's length: well under what a Slack section holds (3000 characters).
const DESCRIPTION_MAX: usize = 2800;
const TITLE_MAX: usize = 250;

/// The Chatbot custom notification for `report`.
pub fn chatbot_notification(report: &Report) -> Value {
    let stacks: Vec<String> = report.stacks.iter().map(|s| s.stack.to_string()).collect();
    let status = status_name(report.status);
    let subject = match stacks.as_slice() {
        [] => "no stack".to_string(),
        [one] => one.clone(),
        [first, rest @ ..] => format!("{first} and {} more stack(s)", rest.len()),
    };
    let title = clip(
        &defused(&format!(
            "{} chainlink-remediator {}: {subject} {status}",
            emoji(report.status),
            report.command
        )),
        TITLE_MAX,
    );
    let result = result_line(report).unwrap_or_else(|| status.to_string());
    let mut keywords = vec!["chainlink-remediator".to_string(), status.to_string()];
    keywords.extend(stacks.iter().take(3).cloned());
    let mut metadata = json!({
        "summary": clip(&format!("chainlink-remediator {}: {subject} {status}", report.command), 200),
        "eventType": "ChainlinkRemediatorReport",
        "additionalContext": {
            "command": report.command,
            "status": status,
            "stacks": stacks.join(","),
        },
    });
    // One thread per stack, when the report is about one: its runs follow each other there.
    if let ([stack], Some(map)) = (stacks.as_slice(), metadata.as_object_mut()) {
        map.insert(
            "threadId".into(),
            Value::from(format!("chainlink-remediator-{stack}")),
        );
    }
    let mut notification = json!({
        "version": "1.0",
        "source": "custom",
        "content": {
            "textType": "client-markdown",
            "title": title,
            "description": clip(&description(report, &result), DESCRIPTION_MAX),
            "nextSteps": next_steps(report),
            "keywords": keywords,
        },
        "metadata": metadata,
    });
    if let (false, Some(map)) = (report.signal.id.is_empty(), notification.as_object_mut()) {
        map.insert("id".into(), Value::from(report.signal.id.clone()));
    }
    notification
}

/// The message to publish with `MessageStructure = json`: `default` is `report_json` (what
/// every subscriber but an HTTPS one receives: pass what the topic carried so far), `https` the
/// Chatbot notification. SNS's size limit (256 KiB) applies to the whole of it, the report JSON
/// escaped inside a string: check the result's length, not `report_json`'s.
pub fn sns_message(report: &Report, report_json: &str) -> String {
    json!({
        "default": report_json,
        "https": chatbot_notification(report).to_string(),
    })
    .to_string()
}

/// Slack's and Teams' emoji short codes, so the status reads at a glance.
fn emoji(status: Status) -> &'static str {
    match status {
        Status::Converged => ":white_check_mark:",
        Status::Planned => ":memo:",
        Status::Refused => ":no_entry:",
        Status::Failed => ":x:",
        Status::Rejected => ":warning:",
        Status::Invalid => ":rotating_light:",
        Status::PendingApproval => ":raised_hand:",
    }
}

fn description(report: &Report, result: &str) -> String {
    let mut lines = vec![format!("*Result:* {}", one_line(result))];
    let mode = report.mode.map_or("none".to_string(), |m| m.to_string());
    lines.push(format!(
        "*Run:* {} · mode {mode} · signal {}",
        report.command,
        one_line(&report.signal.to_string())
    ));
    if !report.stacks.is_empty() {
        let names: Vec<String> = report.stacks.iter().map(|s| s.stack.to_string()).collect();
        lines.push(format!("*Stacks:* {}", one_line(&names.join(", "))));
    }
    lines.push(format!("*Actions:* {}", action_counts(report)));
    let mut findings: Vec<(&StackReport, &Finding)> = report
        .stacks
        .iter()
        .flat_map(|stack| {
            let parameters = stack.parameters.iter().flat_map(|p| &p.findings);
            parameters
                .chain(&stack.security_groups.findings)
                .map(move |finding| (stack, finding))
        })
        .collect();
    if !findings.is_empty() {
        // Worst first; among equals, in the report's order.
        findings.sort_by_key(|(_, finding)| std::cmp::Reverse(finding.severity));
        lines.push(format!("*Findings:* {}", finding_counts(&findings)));
        for (stack, finding) in findings.iter().take(LISTED) {
            let field = finding
                .field
                .as_deref()
                .map_or(String::new(), |f| format!(" ({f})"));
            lines.push(format!(
                "• [{}] `{}` {} {}{field}: {}",
                finding.severity,
                finding.code,
                stack.stack,
                finding.parameter,
                one_line(&finding.message)
            ));
        }
    }
    let actions: Vec<String> = report
        .stacks
        .iter()
        .flat_map(|stack| {
            action_lines(stack)
                .into_iter()
                .map(move |line| (stack, line))
        })
        .take(LISTED)
        .enumerate()
        .map(|(i, (stack, line))| {
            format!(
                "{}. {}: {} → {}",
                i + 1,
                stack.stack,
                one_line(&line.action),
                one_line(&line.outcome.to_string())
            )
        })
        .collect();
    if !actions.is_empty() {
        lines.push("*First actions:*".to_string());
        lines.extend(actions);
    }
    let exposures: usize = report
        .stacks
        .iter()
        .map(|s| s.security_groups.exposures.len())
        .sum();
    if exposures > 0 {
        lines.push(format!(
            "*Exposures:* {exposures} forbidden port(s) reachable from the world through a load balancer (reported, not changed)"
        ));
    }
    let blocked: Vec<String> = report
        .stacks
        .iter()
        .flat_map(|stack| {
            stack
                .security_groups
                .flow_check
                .iter()
                .filter(|flow| flow.after == FlowStatus::Blocked)
                .map(move |flow| format!("{} ({})", flow.check.flow, stack.stack))
        })
        .collect();
    if !blocked.is_empty() {
        lines.push(format!(
            "*Blocked after this run:* {}",
            one_line(&blocked.join(", "))
        ));
    }
    lines
        .iter()
        .map(|line| clip(&defused(line), LINE_MAX))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `text` with its angle brackets turned into look-alikes: Slack reads `<…>` as a link or a
/// mention (`<!channel>`), and group names and descriptions come from AWS, where anyone who may
/// create a group writes them.
fn defused(text: &str) -> String {
    text.replace('<', "‹").replace('>', "›")
}

/// `text` on one line: chat clients show a message's lines as they come.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `2 applied · 1 failed`, or `none`.
fn action_counts(report: &Report) -> String {
    type Pick = fn(&Outcome) -> bool;
    let kinds: [(&str, Pick); 6] = [
        ("applied", |o| *o == Outcome::Applied),
        ("already converged", |o| *o == Outcome::AlreadyConverged),
        ("planned", |o| *o == Outcome::Planned),
        ("skipped", |o| matches!(o, Outcome::Skipped { .. })),
        ("failed", |o| matches!(o, Outcome::Failed { .. })),
        ("pending approval", |o| {
            matches!(o, Outcome::PendingApproval { .. })
        }),
    ];
    let counts: Vec<String> = kinds
        .iter()
        .map(|(name, pick)| (name, report.count(pick)))
        .filter(|(_, count)| *count > 0)
        .map(|(name, count)| format!("{count} {name}"))
        .collect();
    if counts.is_empty() {
        "none".to_string()
    } else {
        counts.join(" · ")
    }
}

/// `1 critical · 2 error`, worst first.
fn finding_counts(findings: &[(&StackReport, &Finding)]) -> String {
    use chainlink::Severity;
    [
        Severity::Critical,
        Severity::Error,
        Severity::Warning,
        Severity::Info,
    ]
    .iter()
    .map(|severity| {
        (
            severity,
            findings
                .iter()
                .filter(|(_, f)| f.severity == *severity)
                .count(),
        )
    })
    .filter(|(_, count)| *count > 0)
    .map(|(severity, count)| format!("{count} {severity}"))
    .collect::<Vec<_>>()
    .join(" · ")
}

/// What a person does next, by status.
fn next_steps(report: &Report) -> Vec<String> {
    let mut steps = Vec::new();
    match report.status {
        Status::Converged => {}
        Status::Rejected => {
            steps.push("Check the input: the event or stack file could not be used".to_string());
        }
        Status::Planned if report.mode == Some(Mode::Report) => steps.push(
            "The stack file is in report mode: review the plan, then set mode = \"enforce\" or run `chainlink-remediator apply`".to_string(),
        ),
        Status::Planned => {
            steps.push("Review the plan, then run `chainlink-remediator apply`".to_string());
        }
        Status::Refused => {
            for held in report.stacks.iter().flat_map(|s| &s.held) {
                steps.push(format!("Not run, and waiting for nobody: {held}"));
            }
            if report.stacks.iter().any(StackReport::limited) {
                steps.push("A limit of the stack file stopped the run: check the plan (a mass change usually means a wrong stack file), then raise the limit or fix the stack".to_string());
            }
        }
        Status::Invalid => steps.push(
            "Fix the listed parameters by hand: no earlier valid version could be restored".to_string(),
        ),
        Status::Failed => steps.push(
            "Read the failed actions in the report JSON; retryable failures are retried on the next event or sweep".to_string(),
        ),
        Status::PendingApproval => {
            for request in report.stacks.iter().flat_map(|s| &s.approvals) {
                steps.push(format!(
                    "Approve {} of {} before {}: {} · deny: {}",
                    request.remediation.as_str(),
                    request.target,
                    request.expires_at.to_rfc3339(),
                    request.approve,
                    request.deny
                ));
            }
        }
    }
    if report
        .stacks
        .iter()
        .any(|s| !s.security_groups.exposures.is_empty())
    {
        steps.push(
            "Ask the owner of the load balancer to close the exposed listener: it is not changed from here".to_string(),
        );
    }
    if let Some(page) = &report.page {
        steps.push(format!("The whole report, as a page: {page}"));
    }
    steps
}
