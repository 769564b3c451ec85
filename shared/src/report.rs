//! What a run did, as a value: each planned action with its outcome, what was left alone and
//! why, and the flow check. It prints as text for people and serializes as JSON for machines;
//! a plan and an apply report have the same shape, so the preview is exactly what runs.

use crate::aws::AwsError;
use crate::chainlink::{ConfigStyle, Finding, Severity};
use crate::ids::StackName;
use crate::instances::apply::StepOutcome;
use crate::instances::{Decision, InstanceAction, InstancePlan};
use crate::parameters::{ParameterAction, ParameterPlan};
use crate::plan::{Action, Exemption, FlowCheck, FlowStatus, UnmanagedRule};
use crate::signal::{Signal, SignalKind};
use crate::stack::{Mode, Remediation};
use serde::Serialize;
use std::fmt;

/// Whether a run may change anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Execution {
    /// Observe and plan; change nothing.
    Plan,
    /// Observe, plan and apply, if the stack file's mode is `enforce`.
    Apply,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Not executed: a plan, or a run in `report` mode.
    Planned,
    Applied,
    /// Someone or something had already made the change: nothing to do.
    AlreadyConverged,
    Skipped {
        reason: String,
    },
    Failed {
        error: AwsError,
    },
}

#[derive(Clone, Debug, Serialize)]
pub struct ActionReport {
    #[serde(flatten)]
    pub action: Action,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// A flow as observed at the start of the run, and its status once the run's changes hold.
#[derive(Clone, Debug, Serialize)]
pub struct FlowReport {
    #[serde(flatten)]
    pub check: FlowCheck,
    pub after: FlowStatus,
}

#[derive(Clone, Debug, Serialize)]
pub struct StackReport {
    pub stack: StackName,
    pub actions: Vec<ActionReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    pub exempt: Vec<Exemption>,
    pub unmanaged: Vec<UnmanagedRule>,
    pub flow_check: Vec<FlowReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<ParameterReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instances: Option<InstanceReport>,
}

impl StackReport {
    fn empty(stack: StackName) -> Self {
        Self {
            stack,
            actions: Vec::new(),
            refusal: None,
            exempt: Vec::new(),
            unmanaged: Vec::new(),
            flow_check: Vec::new(),
            parameters: None,
            instances: None,
        }
    }

    pub fn parameters_only(stack: StackName, parameters: ParameterReport) -> Self {
        Self {
            parameters: Some(parameters),
            ..Self::empty(stack)
        }
    }

    pub fn instances_only(stack: StackName, instances: InstanceReport) -> Self {
        Self {
            instances: Some(instances),
            ..Self::empty(stack)
        }
    }

    fn outcomes(&self) -> impl Iterator<Item = &Outcome> {
        let parameter_outcomes = self
            .parameters
            .iter()
            .flat_map(|p| p.actions.iter().map(|a| &a.outcome));
        let instance_outcomes = self
            .instances
            .iter()
            .flat_map(|i| i.actions.iter().map(|a| &a.outcome.outcome));
        self.actions
            .iter()
            .map(|a| &a.outcome)
            .chain(parameter_outcomes)
            .chain(instance_outcomes)
    }

    fn refused(&self) -> bool {
        self.refusal.is_some()
            || self
                .instances
                .as_ref()
                .is_some_and(|i| matches!(i.decision, Decision::Refused(_)))
    }
}

/// An alarm's remediation: the decision, and each step with its outcome.
#[derive(Clone, Debug, Serialize)]
pub struct InstanceReport {
    pub alarm: String,
    pub incident: String,
    pub remediation: Remediation,
    pub target: String,
    #[serde(flatten)]
    pub decision: Decision,
    pub actions: Vec<InstanceActionReport>,
}

#[derive(Clone, Debug, Serialize)]
pub struct InstanceActionReport {
    #[serde(flatten)]
    pub action: InstanceAction,
    #[serde(flatten)]
    pub outcome: StepOutcome,
}

impl InstanceReport {
    pub fn new(plan: InstancePlan, outcomes: Vec<StepOutcome>) -> Self {
        Self {
            alarm: plan.alarm,
            incident: plan.incident,
            remediation: plan.remediation,
            target: plan.target,
            decision: plan.decision,
            actions: plan
                .actions
                .into_iter()
                .zip(outcomes)
                .map(|(action, outcome)| InstanceActionReport { action, outcome })
                .collect(),
        }
    }
}

/// The parameter set of a stack: its findings, and what was done about them.
#[derive(Clone, Debug, Serialize)]
pub struct ParameterReport {
    pub prefix: String,
    pub style: ConfigStyle,
    pub valid: bool,
    pub findings: Vec<Finding>,
    pub actions: Vec<ParameterActionReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Set when the parameters could not be read: nothing about them is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<AwsError>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ParameterActionReport {
    #[serde(flatten)]
    pub action: ParameterAction,
    #[serde(flatten)]
    pub outcome: Outcome,
}

impl ParameterReport {
    pub fn new(plan: ParameterPlan, outcomes: Vec<Outcome>) -> Self {
        Self {
            prefix: plan.prefix,
            style: plan.style,
            valid: plan.valid,
            findings: plan.findings,
            actions: plan
                .actions
                .into_iter()
                .zip(outcomes)
                .map(|(action, outcome)| ParameterActionReport { action, outcome })
                .collect(),
            note: plan.note,
            error: None,
        }
    }

    pub fn unreadable(prefix: String, error: AwsError) -> Self {
        Self {
            prefix,
            style: ConfigStyle::Unknown,
            valid: false,
            findings: Vec::new(),
            actions: Vec::new(),
            note: None,
            error: Some(error),
        }
    }

    /// Invalid (or failing a live probe), and nothing planned or done brings back a valid set.
    pub fn left_invalid(&self) -> bool {
        let failing = !self.valid || self.findings.iter().any(|f| f.severity >= Severity::Error);
        failing
            && !self.actions.iter().any(|a| {
                matches!(a.action, ParameterAction::RevertParameter { .. })
                    && matches!(
                        a.outcome,
                        Outcome::Planned | Outcome::Applied | Outcome::AlreadyConverged
                    )
            })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Nothing to do, or every action applied.
    Converged,
    /// Changes are needed and were only planned (plan, or `report` mode).
    Planned,
    /// A limit of the stack file stopped the run from applying anything.
    Refused,
    /// At least one action failed.
    Failed,
    /// The event could not be used.
    Rejected,
    /// A stack's parameters are invalid and no earlier valid values could be restored.
    Invalid,
}

impl Status {
    /// The CLI's contract: 0 converged or planned, 1 something needs a person, 2 bad input.
    pub fn exit_code(self) -> i32 {
        match self {
            Self::Converged | Self::Planned => 0,
            Self::Refused | Self::Failed | Self::Invalid => 1,
            Self::Rejected => 2,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub execution: Execution,
    pub mode: Mode,
    pub signal: Signal,
    pub status: Status,
    pub stacks: Vec<StackReport>,
    /// Parts of the signal that called for nothing, with the reason.
    pub skipped: Vec<String>,
}

impl Report {
    pub fn new(
        execution: Execution,
        mode: Mode,
        signal: Signal,
        stacks: Vec<StackReport>,
        skipped: Vec<String>,
    ) -> Self {
        let outcomes = || stacks.iter().flat_map(StackReport::outcomes);
        let unreadable = stacks
            .iter()
            .any(|s| s.parameters.as_ref().is_some_and(|p| p.error.is_some()));
        let status = if unreadable || outcomes().any(|o| matches!(o, Outcome::Failed { .. })) {
            Status::Failed
        } else if stacks.iter().any(StackReport::refused) {
            Status::Refused
        } else if stacks
            .iter()
            .filter_map(|s| s.parameters.as_ref())
            .any(ParameterReport::left_invalid)
        {
            Status::Invalid
        } else if outcomes().any(|o| *o == Outcome::Planned) {
            Status::Planned
        } else {
            Status::Converged
        };
        Self {
            execution,
            mode,
            signal,
            status,
            stacks,
            skipped,
        }
    }

    /// A report for an event that could not be used: nothing was read or changed.
    pub fn rejected(execution: Execution, mode: Mode, reason: String) -> Self {
        Self {
            execution,
            mode,
            signal: unusable_event(&reason),
            status: Status::Rejected,
            stacks: Vec::new(),
            skipped: vec![reason],
        }
    }

    /// A report for a run that could not read the stacks, for a reason retrying cannot fix.
    pub fn unreadable(execution: Execution, mode: Mode, error: AwsError) -> Self {
        Self {
            execution,
            mode,
            signal: unusable_event("the stacks could not be read"),
            status: Status::Failed,
            stacks: Vec::new(),
            skipped: vec![format!("the stacks could not be read: {error}")],
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self)
            .unwrap_or_else(|e| format!("{{\"error\":\"report not serializable: {e}\"}}"))
    }

    /// The first failure that trying again later could fix (throttling, 5xx, timeouts).
    pub fn retryable_failure(&self) -> Option<&AwsError> {
        self.stacks
            .iter()
            .flat_map(|stack| {
                let unreadable = stack.parameters.as_ref().and_then(|p| p.error.as_ref());
                let failed = stack.outcomes().filter_map(|outcome| match outcome {
                    Outcome::Failed { error } => Some(error),
                    _ => None,
                });
                failed.chain(unreadable)
            })
            .find(|error| error.retryable)
    }

    pub fn count(&self, pick: impl Fn(&Outcome) -> bool) -> usize {
        self.stacks
            .iter()
            .flat_map(StackReport::outcomes)
            .filter(|o| pick(o))
            .count()
    }
}

fn unusable_event(reason: &str) -> Signal {
    Signal {
        id: String::new(),
        origin: "event".into(),
        kind: SignalKind::Ignored {
            reason: reason.to_string(),
        },
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Planned => f.write_str("planned"),
            Self::Applied => f.write_str("applied"),
            Self::AlreadyConverged => f.write_str("already converged"),
            Self::Skipped { reason } => write!(f, "skipped: {reason}"),
            Self::Failed { error } => write!(f, "FAILED: {error}"),
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let execution = match self.execution {
            Execution::Plan => "plan",
            Execution::Apply => "apply",
        };
        writeln!(
            f,
            "chainlink-remediator {execution} · mode {} · signal {}",
            self.mode, self.signal
        )?;
        for reason in &self.skipped {
            writeln!(f, "  no-op: {reason}")?;
        }
        for stack in &self.stacks {
            write_stack(f, stack)?;
        }
        let changes = self.count(|o| *o == Outcome::Applied);
        let summary = match self.status {
            Status::Converged if changes > 0 => format!("converged: {changes} action(s) applied"),
            Status::Converged => "converged: nothing to do".to_string(),
            Status::Planned => format!(
                "planned: {} action(s) not applied ({})",
                self.count(|o| *o == Outcome::Planned),
                if self.mode == Mode::Report {
                    "the stack file is in report mode"
                } else {
                    "run apply to enforce"
                }
            ),
            Status::Refused => {
                "refused: the stack file's limits do not allow what is needed; nothing was applied (see above)"
                    .to_string()
            }
            Status::Invalid => "invalid: a stack's parameters are invalid and no earlier valid values exist; fix them by hand".to_string(),
            Status::Failed => format!(
                "failed: {} action(s) failed; see above",
                self.count(|o| matches!(o, Outcome::Failed { .. }))
            ),
            Status::Rejected => {
                "rejected: the event could not be used; nothing was read or changed".to_string()
            }
        };
        writeln!(f, "result: {summary}")
    }
}

fn write_stack(f: &mut fmt::Formatter<'_>, stack: &StackReport) -> fmt::Result {
    writeln!(f, "\nstack {}", stack.stack)?;
    if let Some(parameters) = &stack.parameters {
        write_parameters(f, parameters)?;
    }
    if let Some(instances) = &stack.instances {
        write_instances(f, instances)?;
    }
    if stack.actions.is_empty() && stack.flow_check.is_empty() {
        return Ok(());
    }
    match stack.actions.len() {
        0 => writeln!(f, "  security groups: nothing to do")?,
        n => writeln!(f, "  security groups: {n} action(s)")?,
    }
    let actions = stack
        .actions
        .iter()
        .map(|a| (&a.action as &dyn fmt::Display, &a.outcome));
    write_numbered(f, "  ", actions)?;
    if let Some(refusal) = &stack.refusal {
        writeln!(f, "  refused: {refusal}")?;
    }
    for exempt in &stack.exempt {
        writeln!(
            f,
            "  exempt: {} on {} ({})",
            exempt.change, exempt.group, exempt.reason
        )?;
    }
    if !stack.unmanaged.is_empty() {
        writeln!(
            f,
            "  unmanaged rules (neither required nor forbidden; left alone):"
        )?;
        for unmanaged in &stack.unmanaged {
            writeln!(f, "    {}: {}", unmanaged.group, unmanaged.rule)?;
        }
    }
    writeln!(
        f,
        "  flow check (security groups and network ACLs, now → after this run):"
    )?;
    for flow in &stack.flow_check {
        let check = &flow.check;
        let path = format!("{} → {}", check.from, check.to);
        let traffic = format!("{} {}", check.protocol, check.ports);
        let status = check.status.to_string();
        writeln!(
            f,
            "    {:<14} {path:<26} {traffic:<10} {status:>10} → {}",
            check.flow, flow.after
        )?;
        if let Some(note) = &check.note {
            writeln!(f, "        {note}")?;
        }
        if check.status == FlowStatus::Open {
            continue;
        }
        for path in check.paths.iter().filter(|p| p.status != FlowStatus::Open) {
            for hop in path
                .hops
                .iter()
                .filter(|h| h.verdict != crate::plan::Verdict::Allowed)
            {
                let verdict = format!("{:?}", hop.verdict).to_lowercase();
                writeln!(
                    f,
                    "        {} → {}: {verdict} at {}: {}",
                    path.source, path.target, hop.resource, hop.detail
                )?;
            }
        }
    }
    Ok(())
}

/// Actions numbered in execution order, each with its outcome on the line below.
fn write_numbered<'a>(
    f: &mut fmt::Formatter<'_>,
    indent: &str,
    actions: impl Iterator<Item = (&'a dyn fmt::Display, &'a Outcome)>,
) -> fmt::Result {
    for (i, (action, outcome)) in actions.enumerate() {
        writeln!(f, "{indent}{}. {action}\n{indent}   → {outcome}", i + 1)?;
    }
    Ok(())
}

fn write_instances(f: &mut fmt::Formatter<'_>, report: &InstanceReport) -> fmt::Result {
    writeln!(
        f,
        "  alarm {} (incident {}) → {} of {}",
        report.alarm,
        report.incident,
        report.remediation.as_str(),
        report.target
    )?;
    match &report.decision {
        Decision::Act => {}
        Decision::NoAction(reason) => writeln!(f, "    no action: {reason}")?,
        Decision::Refused(reason) => writeln!(f, "    refused: {reason}")?,
    }
    for (i, step) in report.actions.iter().enumerate() {
        writeln!(f, "    {}. {}", i + 1, step.action)?;
        writeln!(f, "       → {}", step.outcome.outcome)?;
        if let Some(detail) = &step.outcome.detail {
            writeln!(f, "         {detail}")?;
        }
        if let Some(recovery) = &step.outcome.recovery {
            writeln!(f, "         {recovery}")?;
        }
    }
    Ok(())
}

fn write_parameters(f: &mut fmt::Formatter<'_>, parameters: &ParameterReport) -> fmt::Result {
    let verdict = if parameters.valid { "valid" } else { "INVALID" };
    writeln!(
        f,
        "  parameters under {} ({:?} config): {verdict}",
        parameters.prefix, parameters.style
    )?;
    for finding in &parameters.findings {
        let field = finding
            .field
            .as_deref()
            .map(|field| format!(" {field}"))
            .unwrap_or_default();
        writeln!(
            f,
            "    {:<8} {} {}{field}: {}",
            finding.severity.to_string(),
            finding.code.as_str(),
            finding.parameter,
            finding.message
        )?;
    }
    let actions = parameters
        .actions
        .iter()
        .map(|a| (&a.action as &dyn fmt::Display, &a.outcome));
    write_numbered(f, "    ", actions)?;
    if let Some(note) = &parameters.note {
        writeln!(f, "    note: {note}")?;
    }
    if let Some(error) = &parameters.error {
        writeln!(f, "    FAILED to read them: {error}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{group, stack, tcp};
    use crate::plan::Action;

    fn throttled(retryable: bool) -> AwsError {
        AwsError {
            operation: "GetParametersByPath",
            code: if retryable {
                "ThrottlingException"
            } else {
                "AccessDeniedException"
            }
            .into(),
            message: "no".into(),
            retryable,
        }
    }

    /// A stack whose security-group repair was applied and whose parameters could not be read.
    fn half_done(retryable: bool) -> Report {
        let observed = stack("demo", vec![group("sg-db", "db")]);
        let mut report = StackReport::parameters_only(
            observed.name.clone(),
            ParameterReport::unreadable("/chainlink/demo/".into(), throttled(retryable)),
        );
        report.actions.push(ActionReport {
            action: Action::AuthorizeIngress {
                group: observed.groups[0].id.clone(),
                rules: vec![crate::plan::RequiredRule {
                    rule: tcp(5432).from("sg-node"),
                    flows: vec!["node-db".into()],
                }],
            },
            outcome: Outcome::Applied,
        });
        Report::new(
            Execution::Apply,
            Mode::Enforce,
            Signal::sweep("test"),
            vec![report],
            Vec::new(),
        )
    }

    #[test]
    fn a_failed_read_after_applied_changes_is_reported_with_them() {
        let report = half_done(false);
        assert_eq!(report.status, Status::Failed);
        assert_eq!(report.status.exit_code(), 1);
        let text = report.to_string();
        assert!(
            text.contains("→ applied"),
            "the applied change stays visible: {text}"
        );
        assert!(
            text.contains("FAILED to read them: GetParametersByPath failed"),
            "{text}"
        );
        assert!(report.to_json().contains("\"AccessDeniedException\""));
        assert_eq!(
            report.retryable_failure(),
            None,
            "access denied: retrying cannot help"
        );
    }

    #[test]
    fn throttling_anywhere_makes_the_invocation_retryable() {
        let report = half_done(true);
        assert_eq!(
            report.retryable_failure().map(|e| e.code.as_str()),
            Some("ThrottlingException")
        );
    }
}
