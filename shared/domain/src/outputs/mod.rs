//! The report where operators already look: a self-contained HTML page with the flow check
//! drawn (`html`), Security Hub findings in the AWS Security Finding Format (`security_hub`),
//! and the notification AWS Chatbot shows in a chat channel (`chat`). Each is a pure function
//! of a `Report` (and, where a time is written, a `now` passed in); sending them is the
//! `shared` crate's job. What they say alike (the result line, each action with its outcome)
//! is worded here once.

pub mod chat;
mod clip;
pub mod html;
pub mod security_hub;

pub use chat::{chatbot_notification, sns_message};
pub use html::{render_html, render_organization_html};
pub use security_hub::{batches, security_hub_findings, AsffFinding};

use crate::outcome::{ActionOutcome, Outcome};
use crate::report::{Report, StackReport, Status};
use crate::security_groups::SecurityGroupAction;
use std::fmt;

/// The text report's last line without its `result: `: one wording of the outcome for every
/// output.
pub(crate) fn result_line(report: &Report) -> Option<String> {
    let text = report.to_string();
    text.lines()
        .rev()
        .find_map(|line| line.strip_prefix("result: "))
        .map(str::to_string)
}

/// The status as the JSON report spells it.
pub fn status_name(status: Status) -> &'static str {
    match status {
        Status::Converged => "converged",
        Status::Planned => "planned",
        Status::Refused => "refused",
        Status::Failed => "failed",
        Status::Rejected => "rejected",
        Status::Invalid => "invalid",
        Status::PendingApproval => "pending_approval",
    }
}

/// The outcome as the JSON report tags it (`applied`, `already_converged`…).
pub(crate) fn outcome_name(outcome: &crate::outcome::Outcome) -> &'static str {
    use crate::outcome::Outcome;
    match outcome {
        Outcome::Planned => "planned",
        Outcome::Applied => "applied",
        Outcome::AlreadyConverged => "already_converged",
        Outcome::Skipped { .. } => "skipped",
        Outcome::Failed { .. } => "failed",
        Outcome::PendingApproval { .. } => "pending_approval",
    }
}

/// A security-group action with its group shown by label, as the text report shows it.
struct Labeled<'a> {
    action: &'a SecurityGroupAction,
    group: String,
}

impl fmt::Display for Labeled<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.action.write_on(f, &self.group)
    }
}

/// One action of a stack with its outcome, whichever capability planned it.
pub(crate) struct ActionLine<'a> {
    pub capability: &'static str,
    /// As the text report words it (never a parameter's value), on several lines for a
    /// security-group action with several rules.
    pub action: String,
    pub outcome: &'a Outcome,
    pub detail: Option<&'a str>,
    pub recovery: Option<&'a str>,
}

fn line<'a>(
    capability: &'static str,
    action: String,
    outcome: &'a ActionOutcome,
) -> ActionLine<'a> {
    ActionLine {
        capability,
        action,
        outcome: &outcome.outcome,
        detail: outcome.detail.as_deref(),
        recovery: outcome.recovery.as_deref(),
    }
}

/// Every action of `stack` in the text report's order: parameters, instances, the database,
/// security groups.
pub(crate) fn action_lines(stack: &StackReport) -> Vec<ActionLine<'_>> {
    let groups = &stack.security_groups;
    let parameters = stack.parameters.iter().flat_map(|p| &p.actions);
    let instances = stack.instances.iter().flat_map(|i| &i.actions);
    let parameters = parameters.map(|a| line("parameters", a.action.to_string(), &a.outcome));
    let instances = instances.map(|a| line("instances", a.action.to_string(), &a.outcome));
    let database = stack.database.iter().flat_map(|d| &d.actions);
    let database = database.map(|a| line("database", a.action.to_string(), &a.outcome));
    let security_groups = groups.actions.iter().map(|a| {
        let labeled = Labeled {
            action: &a.action,
            group: groups.label(a.action.group().as_str()),
        };
        line("security groups", labeled.to_string(), &a.outcome)
    });
    parameters
        .chain(instances)
        .chain(database)
        .chain(security_groups)
        .collect()
}
