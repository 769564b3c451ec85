//! Closing a remediation's record after a failed step: how (rolled back or failed) and the
//! note the step's report carries. The instance and database apply steps share it.

use super::RecordOutcome;
use crate::outcome::{ActionOutcome, Outcome};

/// How the record of a remediation whose step `failed` failed is closed: rolled back when that
/// step left its resource as it was and no earlier step but the record (`is_record`) applied a
/// change — a retry of the event may act again — failed otherwise.
pub fn closing_of(
    outcomes: &[ActionOutcome],
    is_record: impl Fn(usize) -> bool,
    failed: usize,
) -> RecordOutcome {
    let changed_before = outcomes[..failed]
        .iter()
        .enumerate()
        .any(|(at, outcome)| outcome.outcome == Outcome::Applied && !is_record(at));
    if outcomes[failed].left_as_it_was && !changed_before {
        RecordOutcome::RolledBack
    } else {
        RecordOutcome::Failed
    }
}

/// Notes on the failed `step` how its record was closed on `resource` (`written`: the close
/// was written, or why not), in the words the report, the log and a replay of the incident
/// share.
pub fn note_closing(
    step: &mut ActionOutcome,
    closed: RecordOutcome,
    kind: &str,
    resource: &str,
    written: Result<(), String>,
) {
    let note = match written {
        Ok(()) => {
            step.record_closed = Some(closed);
            match closed {
                RecordOutcome::RolledBack => format!(
                    "recorded as rolled back after {kind} failed: a retry of the event acts again"
                ),
                _ => format!(
                    "recorded as failed at {kind}: a retry of the event will not act again"
                ),
            }
        }
        Err(error) => format!(
            "the record on {resource} could not be closed ({error}): it still says the incident is handled, so a retry of the event will not act again"
        ),
    };
    step.recovery = Some(match step.recovery.take() {
        Some(recovery) => format!("{recovery}; {note}"),
        None => note,
    });
}
