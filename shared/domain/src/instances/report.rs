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
}
