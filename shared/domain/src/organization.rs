//! The report of a run over an organisation: one entry per account × region, each with its own
//! status and stacks, and a summary. The run's status is the worst of its targets', so a script
//! reading the exit code learns that something, somewhere, needs a person.

use crate::outcome::Outcome;
use crate::outputs::{outcome_name, status_name};
use crate::report::{Execution, Report, RunError, StackReport, Status};
use crate::stack::{Mode, Problem, Target};
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

/// One target's run: its account and region, and the report of the engine that ran there.
#[derive(Clone, Debug)]
pub struct TargetReport {
    pub target: Target,
    pub report: Report,
}

impl Serialize for TargetReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Shape<'a> {
            account: &'a str,
            region: &'a str,
            status: Status,
            #[serde(skip_serializing_if = "Option::is_none")]
            error: Option<&'a RunError>,
            stacks: &'a [StackReport],
            skipped: &'a [String],
        }
        Shape {
            account: &self.target.account,
            region: &self.target.region,
            status: self.report.status,
            error: self.report.error.as_ref(),
            stacks: &self.report.stacks,
            skipped: &self.report.skipped,
        }
        .serialize(serializer)
    }
}

/// How many targets ended in each status, and how many actions in each outcome.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub targets: BTreeMap<&'static str, usize>,
    pub actions: BTreeMap<&'static str, usize>,
}

/// The whole run.
#[derive(Clone, Debug, Serialize)]
pub struct OrganizationReport {
    pub command: String,
    pub execution: Execution,
    pub mode: Mode,
    pub status: Status,
    pub warnings: Vec<Problem>,
    /// Why no target was run at all (the accounts could not be listed, say).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<RunError>,
    pub summary: Summary,
    /// Why a signal called for nothing (an event from outside the organisation).
    pub skipped: Vec<String>,
    /// Sorted by account, then region.
    pub targets: Vec<TargetReport>,
}

impl OrganizationReport {
    pub fn new(
        command: &str,
        execution: Execution,
        mode: Mode,
        mut targets: Vec<TargetReport>,
    ) -> Self {
        targets.sort_by(|a, b| a.target.cmp(&b.target));
        let mut summary = Summary::default();
        for target in &targets {
            *summary
                .targets
                .entry(status_name(target.report.status))
                .or_default() += 1;
            for outcome in target.report.stacks.iter().flat_map(StackReport::outcomes) {
                *summary.actions.entry(outcome_name(outcome)).or_default() += 1;
            }
        }
        let status = targets
            .iter()
            .map(|t| t.report.status)
            .max_by_key(|status| severity(*status))
            .unwrap_or(Status::Converged);
        Self {
            command: command.to_string(),
            execution,
            mode,
            status,
            warnings: Vec::new(),
            error: None,
            summary,
            skipped: Vec::new(),
            targets,
        }
    }

    /// No target ran: the targets themselves could not be found.
    pub fn unlisted(command: &str, execution: Execution, mode: Mode, error: RunError) -> Self {
        Self {
            status: Status::Failed,
            error: Some(error),
            ..Self::new(command, execution, mode, Vec::new())
        }
    }

    pub fn with_warnings(mut self, warnings: &[Problem]) -> Self {
        self.warnings = warnings.to_vec();
        self
    }

    pub fn to_json(&self) -> String {
        crate::report::pretty_json(self)
    }

    /// The exit code: the worst target's.
    pub fn exit_code(&self) -> i32 {
        self.status.exit_code()
    }
}

/// Worse is larger: bad input, then failure, then what a person must look at, then work left.
fn severity(status: Status) -> u8 {
    match status {
        Status::Converged => 0,
        Status::Planned => 1,
        Status::PendingApproval => 2,
        Status::Invalid => 3,
        Status::Refused => 4,
        Status::Failed => 5,
        Status::Rejected => 6,
    }
}

impl fmt::Display for OrganizationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "chainlink-remediator {} · mode {} · organisation: {} target(s)",
            self.command,
            self.mode,
            self.targets.len()
        )?;
        for warning in &self.warnings {
            writeln!(f, "  warning: stack file {warning}")?;
        }
        if let Some(error) = &self.error {
            writeln!(f, "  error: {error}")?;
        }
        for reason in &self.skipped {
            writeln!(f, "  no-op: {reason}")?;
        }
        for target in &self.targets {
            let report = &target.report;
            // A quiet target is one line; the others are their whole report, indented.
            if report.status == Status::Converged
                && report.count(|o| *o != Outcome::AlreadyConverged) == 0
                && report
                    .stacks
                    .iter()
                    .all(|s| s.security_groups.exposures.is_empty())
            {
                writeln!(f, "\n{}: converged, nothing to do", target.target)?;
                continue;
            }
            writeln!(f, "\n{}: {}", target.target, status_name(report.status))?;
            for line in report.to_string().lines().skip(1) {
                writeln!(f, "  {line}")?;
            }
        }
        let targets: Vec<String> = self
            .summary
            .targets
            .iter()
            .map(|(status, n)| format!("{n} {status}"))
            .collect();
        let actions: Vec<String> = self
            .summary
            .actions
            .iter()
            .map(|(outcome, n)| format!("{n} {outcome}"))
            .collect();
        writeln!(
            f,
            "\n{}: targets {}; actions {}",
            status_name(self.status),
            if targets.is_empty() {
                "none".to_string()
            } else {
                targets.join(", ")
            },
            if actions.is_empty() {
                "none".to_string()
            } else {
                actions.join(", ")
            }
        )
    }
}

/// One piece of a target's work on the functions' FIFO queue: the event to handle there (a
/// schedule's sweep, or an event a member account forwarded), and where.
#[derive(Clone, Debug, PartialEq, serde::Deserialize, Serialize)]
pub struct TargetWork {
    pub account: String,
    pub region: String,
    pub event: serde_json::Value,
}

impl TargetWork {
    pub fn new(target: &Target, event: serde_json::Value) -> Self {
        Self {
            account: target.account.clone(),
            region: target.region.clone(),
            event,
        }
    }

    pub fn target(&self) -> Target {
        Target::new(&self.account, &self.region)
    }

    /// The FIFO deduplication ID: the same event for the same target is queued once in SQS's
    /// five-minute window (a redelivered EventBridge event, a fan-out retried after a partial
    /// failure). The event's own ID, or its whole text when it has none (an SNS alarm).
    pub fn deduplication_id(&self) -> String {
        use sha3::{Digest, Sha3_256};
        let key = match self.event.get("id").and_then(serde_json::Value::as_str) {
            Some(id) if !id.is_empty() => id.to_string(),
            _ => self.event.to_string(),
        };
        let digest = Sha3_256::digest(format!("{key}\n{}/{}", self.account, self.region));
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A message of an SQS batch as Lambda delivers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedMessage {
    pub id: String,
    pub body: String,
}

/// The messages of a Lambda SQS event, in order; `None` when the payload is not one.
pub fn sqs_messages(payload: &serde_json::Value) -> Option<Vec<QueuedMessage>> {
    let records = payload.get("Records")?.as_array()?;
    let from_sqs = |record: &serde_json::Value| {
        record
            .get("eventSource")
            .and_then(serde_json::Value::as_str)
            == Some("aws:sqs")
    };
    if records.is_empty() || !records.iter().all(from_sqs) {
        return None;
    }
    records
        .iter()
        .map(|record| {
            Some(QueuedMessage {
                id: record.get("messageId")?.as_str()?.to_string(),
                body: record.get("body")?.as_str()?.to_string(),
            })
        })
        .collect()
}

/// Lambda's partial batch response: the messages to deliver again. From a FIFO queue, every
/// message after the first failure must be in it too, or a later message of the group would
/// run before the one that failed.
pub fn batch_response(failed: &[String]) -> serde_json::Value {
    serde_json::json!({
        "batchItemFailures": failed
            .iter()
            .map(|id| serde_json::json!({"itemIdentifier": id}))
            .collect::<Vec<_>>()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::signal::Signal;

    fn target(account: &str, region: &str, report: Report) -> TargetReport {
        TargetReport {
            target: Target::new(account, region),
            report,
        }
    }

    #[test]
    fn the_worst_target_decides_and_the_summary_counts_every_target() {
        let quiet = || {
            Report::new(
                Execution::Apply,
                Mode::Enforce,
                Signal::sweep("cli"),
                Vec::new(),
                Vec::new(),
            )
        };
        let unreachable = Report::unreadable(
            Execution::Apply,
            Mode::Enforce,
            Error::Aws {
                operation: "AssumeRole",
                code: "AccessDenied".into(),
                message: "not authorized to perform sts:AssumeRole".into(),
                retryable: false,
            },
        );
        let report = OrganizationReport::new(
            "apply",
            Execution::Apply,
            Mode::Enforce,
            vec![
                target("222222222222", "us-east-1", quiet()),
                target("111111111111", "us-east-1", unreachable),
                target("111111111111", "eu-west-1", quiet()),
            ],
        );
        assert_eq!(report.status, Status::Failed);
        assert_eq!(report.exit_code(), 1);
        assert_eq!(report.summary.targets.get("converged"), Some(&2));
        assert_eq!(report.summary.targets.get("failed"), Some(&1));
        let order: Vec<String> = report
            .targets
            .iter()
            .map(|t| t.target.to_string())
            .collect();
        assert_eq!(
            order,
            [
                "111111111111 in eu-west-1",
                "111111111111 in us-east-1",
                "222222222222 in us-east-1"
            ]
        );
        let json: serde_json::Value =
            serde_json::from_str(&report.to_json()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(json["targets"][1]["account"], "111111111111");
        assert_eq!(json["targets"][1]["region"], "us-east-1");
        assert_eq!(json["targets"][1]["status"], "failed");
        assert_eq!(json["targets"][1]["error"]["code"], "AccessDenied");
        assert_eq!(json["summary"]["targets"]["converged"], 2);
        let text = report.to_string();
        assert!(text.contains("111111111111 in us-east-1: failed"), "{text}");
        assert!(text.contains("AccessDenied"), "{text}");
        assert!(
            text.contains("222222222222 in us-east-1: converged, nothing to do"),
            "{text}"
        );
        assert!(
            text.contains("failed: targets 2 converged, 1 failed"),
            "{text}"
        );
    }

    #[test]
    fn work_is_deduplicated_per_event_and_target() {
        let event = serde_json::json!({"id": "7bf73129", "source": "aws.events"});
        let here = TargetWork::new(&Target::new("111111111111", "us-east-1"), event.clone());
        let there = TargetWork::new(&Target::new("111111111111", "eu-west-1"), event);
        assert_eq!(here.deduplication_id(), here.clone().deduplication_id());
        assert_ne!(here.deduplication_id(), there.deduplication_id());
        assert_eq!(here.deduplication_id().len(), 64);
        let body = serde_json::to_string(&here).unwrap_or_default();
        let read: TargetWork = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read, here);
    }

    #[test]
    fn an_sqs_batch_is_read_in_order_and_anything_else_is_not_one() {
        let batch = serde_json::json!({"Records": [
            {"messageId": "m-1", "body": "{}", "eventSource": "aws:sqs"},
            {"messageId": "m-2", "body": "[]", "eventSource": "aws:sqs"}
        ]});
        let messages = sqs_messages(&batch).unwrap_or_default();
        assert_eq!(
            messages.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
            ["m-1", "m-2"]
        );
        let sns = serde_json::json!({"Records": [{"EventSource": "aws:sns", "Sns": {}}]});
        assert_eq!(sqs_messages(&sns), None);
        assert_eq!(
            batch_response(&["m-2".into()]),
            serde_json::json!({"batchItemFailures": [{"itemIdentifier": "m-2"}]})
        );
    }

    #[test]
    fn no_target_is_converged_and_an_unlisted_organisation_failed() {
        let empty = OrganizationReport::new("plan", Execution::Plan, Mode::Enforce, Vec::new());
        assert_eq!(empty.status, Status::Converged);
        let unlisted = OrganizationReport::unlisted(
            "plan",
            Execution::Plan,
            Mode::Enforce,
            RunError::bad_input("AccessDenied", "ListAccounts refused"),
        );
        assert_eq!(unlisted.exit_code(), 1);
        assert!(unlisted.to_string().contains("ListAccounts refused"));
    }
}
