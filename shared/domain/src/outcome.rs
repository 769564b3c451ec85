//! What became of a planned action. One type for every capability, owned by the report side:
//! applies produce it, reports and metrics read it.

use crate::Error;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::fmt;

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
        error: Error,
    },
    /// Not executed: the stack file's `[approvals]` makes it wait for a person, until then
    /// (the report's `approvals` carries the links).
    PendingApproval {
        until: DateTime<Utc>,
    },
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Planned => f.write_str("planned"),
            Self::Applied => f.write_str("applied"),
            Self::AlreadyConverged => f.write_str("already converged"),
            Self::Skipped { reason } => write!(f, "skipped: {reason}"),
            Self::Failed { error } => write!(f, "FAILED: {error}"),
            Self::PendingApproval { until } => {
                write!(f, "pending approval until {}", until.to_rfc3339())
            }
        }
    }
}

/// What became of one planned action: every capability's apply returns one per action, in
/// order. `detail` says what it produced (a new template version, a command ID); `recovery`,
/// when it failed, what was done to leave the resource as it was.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ActionOutcome {
    #[serde(flatten)]
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery: Option<String>,
    /// A failed step that left its resource as it was: nothing took effect, or the rollback
    /// undid it. Decides how the remediation's record is closed.
    #[serde(skip)]
    pub left_as_it_was: bool,
    /// On an alarm remediation's failed step: how its record was closed on the resource, when
    /// the write succeeded. Decides what a retry of the event does.
    #[serde(skip)]
    pub record_closed: Option<crate::instances::RecordOutcome>,
}

impl ActionOutcome {
    pub fn planned() -> Self {
        Self::plain(Outcome::Planned)
    }

    pub fn plain(outcome: Outcome) -> Self {
        Self {
            outcome,
            detail: None,
            recovery: None,
            left_as_it_was: false,
            record_closed: None,
        }
    }

    pub fn applied(detail: impl Into<String>) -> Self {
        Self {
            detail: Some(detail.into()),
            ..Self::plain(Outcome::Applied)
        }
    }

    /// A failure that changed nothing, or whose rollback put everything back.
    pub fn failed_unchanged(error: Error, recovery: Option<String>) -> Self {
        Self {
            recovery,
            left_as_it_was: true,
            ..Self::plain(Outcome::Failed { error })
        }
    }

    /// A failure after which the resource is changed or in doubt.
    pub fn failed_changed(error: Error, recovery: String) -> Self {
        Self {
            recovery: Some(recovery),
            ..Self::plain(Outcome::Failed { error })
        }
    }

    pub fn is_failed(&self) -> bool {
        matches!(self.outcome, Outcome::Failed { .. })
    }
}

impl From<Outcome> for ActionOutcome {
    fn from(outcome: Outcome) -> Self {
        Self::plain(outcome)
    }
}

/// Actions numbered in execution order, each with its outcome on the line below.
pub(crate) fn write_numbered<'a>(
    f: &mut fmt::Formatter<'_>,
    indent: &str,
    actions: impl Iterator<Item = (&'a dyn fmt::Display, &'a Outcome)>,
) -> fmt::Result {
    for (i, (action, outcome)) in actions.enumerate() {
        writeln!(f, "{indent}{}. {action}\n{indent}   → {outcome}", i + 1)?;
    }
    Ok(())
}
