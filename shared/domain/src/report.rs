//! What a run did, as a value: for each stack, a section per capability (each in its
//! capability's `report` module), the run's status, and what was left alone and why. It prints as text for people and serializes as JSON for machines;
//! a plan and an apply report have the same shape, so the preview is exactly what runs.

use crate::approvals::ApprovalRequest;
use crate::ids::StackName;
use crate::instances::Decision;
use crate::outcome::Outcome;
use crate::signal::{Signal, SignalKind};
use crate::stack::{Mode, Problem};
use crate::Error;
use chainlink::{FindingCode, Severity};
use serde::Serialize;
use std::fmt;

pub use crate::database::report::{DatabaseActionReport, DatabaseReport};
pub use crate::instances::report::{InstanceActionReport, InstanceReport};
pub use crate::parameters::report::{ParameterActionReport, ParameterReport};
pub use crate::security_groups::report::{ActionReport, FlowReport, SecurityGroupReport};

/// Whether a run may change anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Execution {
    /// Observe and plan; change nothing.
    Plan,
    /// Observe, plan and apply, if the stack file's mode is `enforce`.
    Apply,
}

/// What one capability found and did for one stack.
#[derive(Clone, Debug)]
pub enum Section {
    SecurityGroups(Box<SecurityGroupReport>),
    Parameters(ParameterReport),
    Instances(InstanceReport),
    Database(DatabaseReport),
}

/// One stack's report: a section per capability that ran for it.
#[derive(Clone, Debug, Serialize)]
pub struct StackReport {
    pub stack: StackName,
    #[serde(flatten)]
    pub security_groups: SecurityGroupReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<ParameterReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instances: Option<InstanceReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<DatabaseReport>,
    /// Remediations of this run that wait for a person, with the links that decide them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<ApprovalRequest>,
    /// Why a remediation that needs approval did not run and waits for nobody: no approval
    /// could be asked, or its approval was denied or already used. The stack is left as it
    /// was, which is not converged.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<String>,
}

impl StackReport {
    fn empty(stack: StackName) -> Self {
        Self {
            stack,
            security_groups: SecurityGroupReport::default(),
            parameters: None,
            instances: None,
            database: None,
            approvals: Vec::new(),
            held: Vec::new(),
        }
    }

    /// A stack's report with one capability's section: the router adds each section that a
    /// run produces for the stack to the same report.
    pub fn with_section(stack: StackName, section: Section) -> Self {
        let mut report = Self::empty(stack);
        report.add(section);
        report
    }

    pub fn add(&mut self, section: Section) {
        match section {
            Section::SecurityGroups(section) => self.security_groups = *section,
            Section::Parameters(parameters) => self.parameters = Some(parameters),
            Section::Instances(instances) => self.instances = Some(instances),
            Section::Database(database) => self.database = Some(database),
        }
    }

    pub fn parameters_only(stack: StackName, parameters: ParameterReport) -> Self {
        Self::with_section(stack, Section::Parameters(parameters))
    }

    pub fn outcomes(&self) -> impl Iterator<Item = &Outcome> {
        let parameter_outcomes = self
            .parameters
            .iter()
            .flat_map(|p| p.actions.iter().map(|a| &a.outcome.outcome));
        let instance_outcomes = self
            .instances
            .iter()
            .flat_map(|i| i.actions.iter().map(|a| &a.outcome.outcome));
        let database_outcomes = self
            .database
            .iter()
            .flat_map(|d| d.actions.iter().map(|a| &a.outcome.outcome));
        self.security_groups
            .actions
            .iter()
            .map(|a| &a.outcome.outcome)
            .chain(parameter_outcomes)
            .chain(instance_outcomes)
            .chain(database_outcomes)
    }

    /// The alarm remediations' decisions: of an instance, of the database.
    pub fn alarm_decisions(&self) -> impl Iterator<Item = &Decision> {
        let instances = self.instances.iter().map(|i| &i.decision);
        instances.chain(self.database.iter().map(|d| &d.decision))
    }

    /// A limit or an approval rule of the stack file kept a remediation from running.
    pub(crate) fn refused(&self) -> bool {
        self.limited() || !self.held.is_empty()
    }

    /// A limit of the stack file refused a plan or an alarm remediation.
    pub(crate) fn limited(&self) -> bool {
        self.security_groups.refusal.is_some()
            || self
                .alarm_decisions()
                .any(|decision| matches!(decision, Decision::Refused(_)))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Nothing to do, or every action applied.
    Converged,
    /// Changes are needed and were only planned (plan, or `report` mode).
    Planned,
    /// A limit of the stack file stopped the run from applying anything, or an approval rule
    /// kept a remediation from running (`held` in the stack's report).
    Refused,
    /// At least one action failed.
    Failed,
    /// The event could not be used.
    Rejected,
    /// A stack's parameters are invalid and no earlier valid values could be restored.
    Invalid,
    /// A remediation waits for a person's approval (`approvals` in the stack's report).
    PendingApproval,
}

impl Status {
    /// The CLI's contract: 0 converged or planned, 1 something needs a person, 2 bad input.
    pub fn exit_code(self) -> i32 {
        match self {
            Self::Converged | Self::Planned => 0,
            Self::Refused | Self::Failed | Self::Invalid | Self::PendingApproval => 1,
            Self::Rejected => 2,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The command that ran (`plan`, `apply`, `validate`, `handle`); a function's runs are
    /// `handle`.
    pub command: String,
    pub execution: Execution,
    /// The stack file's mode; absent when the stack file could not be loaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    pub signal: Signal,
    pub status: Status,
    /// Why the run stopped before any stack was reported: bad input, or AWS that could not be
    /// read. Failures of single actions are in the stacks' sections.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<RunError>,
    /// The stack file's warnings: it loaded, but something in it deserves a look.
    pub warnings: Vec<Problem>,
    pub stacks: Vec<StackReport>,
    /// Parts of the signal that called for nothing, with the reason.
    pub skipped: Vec<String>,
    /// Where the same report is kept as a page (`--html`'s), when the function stores it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    /// The account and region the run acted in, for a member of an organisation (`account`
    /// and `region` in the JSON); absent for the deployment's own.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub target: Option<crate::stack::Target>,
}

/// Why a whole run stopped: the same fields as an action's error (`code`, `message`,
/// `retryable`, and the AWS operation when AWS answered), so one parser reads both.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RunError {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<&'static str>,
    pub code: String,
    pub message: String,
    pub retryable: bool,
}

impl RunError {
    /// Input the run cannot use (stack file, event file, arguments, environment): exit 2.
    pub fn bad_input(code: &str, message: impl Into<String>) -> Self {
        Self {
            operation: None,
            code: code.to_string(),
            message: message.into(),
            retryable: false,
        }
    }
}

impl From<&Error> for RunError {
    fn from(error: &Error) -> Self {
        Self {
            operation: Some(error.operation()),
            code: error.code().to_string(),
            message: error.message(),
            retryable: error.is_retryable(),
        }
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.operation {
            Some(operation) => write!(f, "{operation} failed: {}: {}", self.code, self.message),
            None => write!(f, "{}", self.message),
        }
    }
}

fn default_command(execution: Execution) -> String {
    match execution {
        Execution::Plan => "plan",
        Execution::Apply => "apply",
    }
    .to_string()
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
        } else if outcomes().any(|o| matches!(o, Outcome::PendingApproval { .. })) {
            Status::PendingApproval
        } else if outcomes().any(|o| *o == Outcome::Planned) {
            Status::Planned
        } else {
            Status::Converged
        };
        Self {
            command: default_command(execution),
            execution,
            mode: Some(mode),
            signal,
            status,
            error: None,
            warnings: Vec::new(),
            stacks,
            skipped,
            page: None,
            target: None,
        }
    }

    /// A report for an event that could not be used: nothing was read or changed.
    pub fn rejected(execution: Execution, mode: Mode, reason: String) -> Self {
        Self {
            mode: Some(mode),
            ..Self::bad_input(execution, RunError::bad_input("EventRejected", reason))
        }
    }

    /// A report for input the run could not use before reading anything: a stack file that
    /// does not load, an unreadable event file, a bad argument. Status `rejected` (exit 2).
    pub fn bad_input(execution: Execution, error: RunError) -> Self {
        Self {
            command: default_command(execution),
            execution,
            mode: None,
            signal: unusable_event(&error.message),
            status: Status::Rejected,
            skipped: vec![error.message.clone()],
            error: Some(error),
            warnings: Vec::new(),
            stacks: Vec::new(),
            page: None,
            target: None,
        }
    }

    /// A report for a run that could not read the stacks: status `failed` (exit 1), with
    /// AWS's error, whether or not a retry can help.
    pub fn unreadable(execution: Execution, mode: Mode, error: Error) -> Self {
        Self {
            command: default_command(execution),
            execution,
            mode: Some(mode),
            signal: unusable_event("the stacks could not be read"),
            status: Status::Failed,
            error: Some(RunError::from(&error)),
            warnings: Vec::new(),
            stacks: Vec::new(),
            skipped: vec![format!("the stacks could not be read: {error}")],
            page: None,
            target: None,
        }
    }

    /// Names the command that ran, in the heading and the JSON.
    pub fn with_command(mut self, command: &str) -> Self {
        self.command = command.to_string();
        self
    }

    /// The stack file's warnings, shown first.
    pub fn with_warnings(mut self, warnings: &[Problem]) -> Self {
        self.warnings = warnings.to_vec();
        self
    }

    pub fn to_json(&self) -> String {
        pretty_json(self)
    }

    /// The first failure that trying again later could fix (throttling, 5xx, timeouts).
    pub fn retryable_failure(&self) -> Option<&Error> {
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
            .find(|error| error.is_retryable())
    }

    /// What Lambda's retry of a run that failed with a retryable error would do, told as the
    /// report and a replay of the incident tell it: an alarm remediation whose failed step
    /// closed its record as rolled back acts again; one recorded as failed (or whose record
    /// could not be closed) does not; anything else is re-read and redone where still needed.
    pub fn retry_note(&self) -> String {
        let instance_steps = self
            .stacks
            .iter()
            .filter_map(|stack| stack.instances.as_ref())
            .flat_map(|instances| &instances.actions)
            .map(|step| (step.action.kind(), &step.outcome));
        let database_steps = self
            .stacks
            .iter()
            .filter_map(|stack| stack.database.as_ref())
            .flat_map(|database| &database.actions)
            .map(|step| (step.action.kind(), &step.outcome));
        let failed_step = instance_steps
            .chain(database_steps)
            .find(|(_, outcome)| outcome.is_failed());
        match failed_step {
            Some((kind, outcome)) => match outcome.record_closed {
                Some(crate::instances::RecordOutcome::RolledBack) => format!(
                    "a Lambda function would retry this event, and the retry acts again: the attempt is recorded as rolled back after {kind} failed"
                ),
                _ => format!(
                    "a Lambda function would retry this event, but the retry will not act again: the incident is recorded as failed at {kind}"
                ),
            },
            None => "a Lambda function would retry this event: the retry re-reads the stacks and does what is still needed".to_string(),
        }
    }

    pub fn count(&self, pick: impl Fn(&Outcome) -> bool) -> usize {
        self.stacks
            .iter()
            .flat_map(StackReport::outcomes)
            .filter(|o| pick(o))
            .count()
    }
}

/// A report as indented JSON; a report that cannot be serialised still prints one document.
pub(crate) fn pretty_json<T: Serialize>(report: &T) -> String {
    serde_json::to_string_pretty(report)
        .unwrap_or_else(|e| format!("{{\"error\":\"report not serializable: {e}\"}}"))
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

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = self
            .mode
            .map_or(String::new(), |mode| format!(" · mode {mode}"));
        writeln!(
            f,
            "chainlink-remediator {}{mode} · signal {}",
            self.command, self.signal
        )?;
        for warning in &self.warnings {
            writeln!(f, "  warning: stack file {warning}")?;
        }
        // Said once: a rejected event's reason and an unreadable run's error are also its
        // `skipped` entry.
        if let Some(error) = self
            .error
            .as_ref()
            .filter(|e| !self.skipped.iter().any(|s| s.ends_with(&e.to_string())))
        {
            writeln!(f, "  error: {error}")?;
        }
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
                if self.mode == Some(Mode::Report) {
                    "the stack file is in report mode"
                } else {
                    "run apply to enforce"
                }
            ),
            Status::Refused => format!(
                "refused: {}; nothing was applied",
                self.refusals().join("; ")
            ),
            Status::Invalid => format!(
                "invalid: {}; fix them by hand",
                self.invalid_causes().join("; ")
            ),
            Status::Failed if self.error.is_some() => {
                "failed: AWS could not be read; nothing was changed".to_string()
            }
            Status::Failed => format!(
                "failed: {} action(s) failed; see above",
                self.count(|o| matches!(o, Outcome::Failed { .. }))
            ),
            Status::Rejected => {
                "rejected: the input could not be used; nothing was read or changed".to_string()
            }
            Status::PendingApproval => format!(
                "pending approval: {} action(s) wait for a person (the approve and deny links are in the report)",
                self.count(|o| matches!(o, Outcome::PendingApproval { .. }))
            ),
        };
        // Report-only findings, like a flow a network ACL blocks, leave the status alone; the
        // summary still points at them so "nothing to do" is not read as "nothing wrong".
        let exposures: usize = self
            .stacks
            .iter()
            .map(|s| s.security_groups.exposures.len())
            .sum();
        if exposures > 0 {
            writeln!(
                f,
                "result: {summary}; {exposures} exposure(s) through a load balancer reported above, not changed"
            )
        } else {
            writeln!(f, "result: {summary}")
        }
    }
}

impl Report {
    /// Why each stack's parameters are left invalid: no earlier valid values to restore, a
    /// restore refused for its KMS key, or findings a rollback cannot fix (a live probe, a
    /// parameter about to expire).
    fn invalid_causes(&self) -> Vec<String> {
        self.stacks
            .iter()
            .filter_map(|stack| Some((&stack.stack, stack.parameters.as_ref()?)))
            .filter(|(_, parameters)| parameters.left_invalid())
            .map(|(stack, parameters)| {
                if parameters.valid {
                    let serious = parameters
                        .findings
                        .iter()
                        .filter(|f| f.severity >= Severity::Error)
                        .count();
                    format!("{stack}: the values are valid, but {serious} finding(s) above are not a rollback's to fix")
                } else if parameters
                    .findings
                    .iter()
                    .any(|f| f.code == FindingCode::RestoreKeyNotDeclared)
                {
                    format!("{stack}: the parameters are invalid and their rollback was refused: the valid earlier value is under a KMS key the stack does not declare")
                } else {
                    format!("{stack}: the parameters are invalid and no earlier valid values exist")
                }
            })
            .collect()
    }

    /// Each refusal's own reason, with its stack: a limit of the stack file, a type AWS does not
    /// offer, a target without a ladder… never one summary for all.
    fn refusals(&self) -> Vec<String> {
        let mut reasons = Vec::new();
        for stack in &self.stacks {
            if let Some(refusal) = &stack.security_groups.refusal {
                reasons.push(format!("{}: {refusal}", stack.stack));
            }
            for decision in stack.alarm_decisions() {
                if let Decision::Refused(reason) = decision {
                    reasons.push(format!("{}: {reason}", stack.stack));
                }
            }
            reasons.extend(stack.held.iter().map(|h| format!("{}: {h}", stack.stack)));
        }
        reasons
    }
}

fn write_stack(f: &mut fmt::Formatter<'_>, stack: &StackReport) -> fmt::Result {
    writeln!(f, "\nstack {}", stack.stack)?;
    if let Some(parameters) = &stack.parameters {
        write!(f, "{parameters}")?;
    }
    if let Some(instances) = &stack.instances {
        write!(f, "{instances}")?;
    }
    if let Some(database) = &stack.database {
        write!(f, "{database}")?;
    }
    for request in &stack.approvals {
        write!(f, "{request}")?;
    }
    write!(f, "{}", stack.security_groups)
}
