//! The instances section of a stack's report: an alarm's remediation, the decision, and each
//! step with its outcome, what it produced and, after a failure, what was done about it.

use super::{Decision, InstanceAction, InstancePlan};
use crate::outcome::ActionOutcome;
use crate::stack::Remediation;
use serde::Serialize;
use std::fmt;

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
    pub outcome: ActionOutcome,
}

impl InstanceReport {
    pub fn new(plan: InstancePlan, outcomes: Vec<ActionOutcome>) -> Self {
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

impl fmt::Display for InstanceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let report = self;
        writeln!(
            f,
            "  alarm {} (incident {}) → {} of {}",
            report.alarm,
            report.incident,
            report.remediation.as_str(),
            report.target
        )?;
        write_steps(
            f,
            &report.decision,
            report
                .actions
                .iter()
                .map(|step| (&step.action, &step.outcome)),
        )
    }
}

/// An alarm remediation's decision, then each step and what became of it: the same layout
/// for the instances and the database.
pub(crate) fn write_steps<'a, A: fmt::Display + 'a>(
    f: &mut fmt::Formatter<'_>,
    decision: &Decision,
    steps: impl Iterator<Item = (&'a A, &'a ActionOutcome)>,
) -> fmt::Result {
    match decision {
        Decision::Act => {}
        Decision::NoAction(reason) => writeln!(f, "    no action: {reason}")?,
        Decision::Refused(reason) => writeln!(f, "    refused: {reason}")?,
    }
    for (i, (action, outcome)) in steps.enumerate() {
        writeln!(f, "    {}. {action}", i + 1)?;
        writeln!(f, "       → {}", outcome.outcome)?;
        if let Some(detail) = &outcome.detail {
            writeln!(f, "         {detail}")?;
        }
        if let Some(recovery) = &outcome.recovery {
            writeln!(f, "         {recovery}")?;
        }
    }
    Ok(())
}
