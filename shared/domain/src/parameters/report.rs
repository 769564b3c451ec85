//! The parameters section of a stack's report: the set's findings, and what was done about
//! them.

use super::{ParameterAction, ParameterPlan};
use crate::outcome::{write_numbered, ActionOutcome, Outcome};
use crate::Error;
use chainlink::{ConfigStyle, Finding, Severity};
use serde::Serialize;
use std::fmt;

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
    pub error: Option<Error>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ParameterActionReport {
    #[serde(flatten)]
    pub action: ParameterAction,
    #[serde(flatten)]
    pub outcome: ActionOutcome,
}

impl ParameterReport {
    pub fn new(plan: ParameterPlan, outcomes: Vec<ActionOutcome>) -> Self {
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

    pub fn unreadable(prefix: String, error: Error) -> Self {
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
                        a.outcome.outcome,
                        Outcome::Planned | Outcome::Applied | Outcome::AlreadyConverged
                    )
            })
    }
}

impl fmt::Display for ParameterReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parameters = self;
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
            .map(|a| (&a.action as &dyn fmt::Display, &a.outcome.outcome));
        write_numbered(f, "    ", actions)?;
        if let Some(note) = &parameters.note {
            writeln!(f, "    note: {note}")?;
        }
        if let Some(error) = &parameters.error {
            writeln!(f, "    FAILED to read them: {error}")?;
        }
        Ok(())
    }
}
