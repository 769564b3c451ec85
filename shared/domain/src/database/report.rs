//! The database section of a stack's report: an alarm's remediation of the stack's RDS
//! instance, the decision, each step with its outcome, and the findings it produced. Each
//! step says when it takes effect and which pending modifications it carries along.

use super::plan::{gib_or_off, ApplyTiming, DatabaseAction, DatabasePlan};
use crate::instances::report::write_steps;
use crate::instances::Decision;
use crate::outcome::ActionOutcome;
use crate::stack::Remediation;
use chainlink::Finding;
use serde::Serialize;
use std::fmt;

/// An alarm's remediation of the database: the decision, and each step with its outcome.
#[derive(Clone, Debug, Serialize)]
pub struct DatabaseReport {
    pub alarm: String,
    pub incident: String,
    pub remediation: Remediation,
    pub database: String,
    #[serde(flatten)]
    pub decision: Decision,
    pub actions: Vec<DatabaseActionReport>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
}

#[derive(Clone, Debug, Serialize)]
pub struct DatabaseActionReport {
    #[serde(flatten)]
    pub action: DatabaseAction,
    #[serde(flatten)]
    pub outcome: ActionOutcome,
}

impl DatabaseReport {
    pub fn new(plan: DatabasePlan, outcomes: Vec<ActionOutcome>) -> Self {
        Self {
            alarm: plan.alarm,
            incident: plan.incident,
            remediation: plan.remediation,
            database: plan.database.to_string(),
            decision: plan.decision,
            actions: plan
                .actions
                .into_iter()
                .zip(outcomes)
                .map(|(action, outcome)| DatabaseActionReport { action, outcome })
                .collect(),
            findings: plan.findings,
        }
    }
}

impl fmt::Display for ApplyTiming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Immediately => "immediately",
            Self::MaintenanceWindow => "in the maintenance window",
        })
    }
}

impl fmt::Display for DatabaseAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RecordRemediation {
                database, record, ..
            } => write!(f, "record on DB instance {database}: {record}"),
            Self::GrowStorage {
                database,
                from_gib,
                to_gib,
                ..
            } => write!(
                f,
                "grow the storage of DB instance {database} {from_gib} GiB → {to_gib} GiB, applied immediately (no downtime; RDS then optimizes the storage for hours)"
            ),
            Self::RaiseStorageCeiling {
                database,
                from_gib: None,
                to_gib,
                ..
            } => write!(
                f,
                "turn on storage autoscaling of DB instance {database} up to {to_gib} GiB, applied immediately (RDS grows the storage when free space falls to 10 %)"
            ),
            Self::RaiseStorageCeiling {
                database,
                from_gib: Some(from),
                to_gib,
                ..
            } => write!(
                f,
                "raise the storage-autoscaling ceiling of DB instance {database} {from} GiB → {to_gib} GiB, applied immediately"
            ),
            Self::ScaleClass {
                database,
                from,
                to,
                apply: ApplyTiming::Immediately,
                multi_az: true,
                ..
            } => write!(
                f,
                "change the class of DB instance {database} {from} → {to} immediately: a Multi-AZ failover to the resized standby, one to two minutes without connections"
            ),
            Self::ScaleClass {
                database,
                from,
                to,
                apply: ApplyTiming::Immediately,
                ..
            } => write!(
                f,
                "change the class of DB instance {database} {from} → {to} immediately: a single-AZ instance restarts, minutes of downtime (database.allow_downtime)"
            ),
            Self::ScaleClass {
                database,
                from,
                to,
                maintenance_window,
                ..
            } => write!(
                f,
                "change the class of DB instance {database} {from} → {to} in its next maintenance window ({}): a single-AZ instance restarts then; until then it stays {from}",
                maintenance_window.as_deref().unwrap_or("window unknown")
            ),
        }?;
        let Some(precondition) = self.precondition() else {
            return Ok(());
        };
        if !precondition.pending.is_empty() {
            if self.applies_immediately() {
                write!(
                    f,
                    "; also applies now the pending modifications ({}), as database.pending_modifications = \"apply_with\" allows",
                    precondition.pending
                )?;
            } else {
                write!(
                    f,
                    "; joins the pending modifications ({})",
                    precondition.pending
                )?;
            }
        }
        write!(
            f,
            " [only if still {} with {} GiB (ceiling {}), {}, pending: {}]",
            precondition.class,
            precondition.allocated_storage_gib,
            gib_or_off(precondition.max_allocated_storage_gib),
            precondition.status,
            precondition.pending
        )
    }
}

impl fmt::Display for DatabasePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let outcomes = vec![ActionOutcome::planned(); self.actions.len()];
        DatabaseReport::new(self.clone(), outcomes).fmt(f)
    }
}

impl fmt::Display for DatabaseReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "  alarm {} (incident {}) → {} of DB instance {}",
            self.alarm,
            self.incident,
            self.remediation.as_str(),
            self.database
        )?;
        write_steps(
            f,
            &self.decision,
            self.actions
                .iter()
                .map(|step| (&step.action, &step.outcome)),
        )?;
        for finding in &self.findings {
            writeln!(f, "    {finding}")?;
        }
        Ok(())
    }
}
