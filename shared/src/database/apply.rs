//! AWS writes of a database remediation: the record tag first (`AddTagsToResource`), then one
//! `ModifyDBInstance`, sent only after the DB instance is read again and found as planned
//! (`Precondition::check`). A call whose answer is lost is read back, never sent twice: a
//! second `ApplyImmediately` could apply modifications someone queued in between.

use crate::aws::sdk_error;
use crate::database::observe::read_database;
use crate::instances::apply::in_order;
use aws_sdk_rds::types::Tag;
use aws_sdk_rds::Client;
use domain::database::plan::ApplyTiming;
use domain::database::{DatabaseAction, ObservedDatabase};
use domain::ids::DbInstanceArn;
use domain::instances::closing::{closing_of, note_closing};
use domain::instances::REMEDIATION_TAG;
use domain::outcome::{ActionOutcome, Outcome};
use domain::Error;

/// Runs the actions in order; after a failure the rest are skipped and the record is closed
/// as rolled back (nothing took effect: a retry of the event may act again) or failed.
pub(crate) async fn apply_database_actions(
    rds: &Client,
    actions: &[DatabaseAction],
) -> Vec<ActionOutcome> {
    let (mut outcomes, failed) = in_order(actions, async |action| {
        let outcome = apply_one(rds, action).await;
        tracing::info!(action = action.kind(), database = %action.database(), outcome = %outcome.outcome, "database action executed");
        outcome
    })
    .await;
    if let Some(index) = failed {
        close_record(rds, actions, &mut outcomes, index).await;
    }
    outcomes
}

async fn apply_one(rds: &Client, action: &DatabaseAction) -> ActionOutcome {
    match action {
        DatabaseAction::RecordRemediation { arn, record, .. } => {
            match tag_remediation(rds, arn, record).await {
                Ok(()) => ActionOutcome::plain(Outcome::Applied),
                Err(error) => ActionOutcome::failed_unchanged(error, None),
            }
        }
        change => modify(rds, change).await,
    }
}

async fn tag_remediation(rds: &Client, arn: &DbInstanceArn, record: &str) -> Result<(), Error> {
    rds.add_tags_to_resource()
        .resource_name(arn.as_str())
        .tags(Tag::builder().key(REMEDIATION_TAG).value(record).build())
        .send()
        .await
        .map_err(|e| sdk_error("AddTagsToResource", e))?;
    Ok(())
}

/// Whether `now` already shows the change, applied or pending.
fn shows(action: &DatabaseAction, now: &ObservedDatabase) -> bool {
    match action {
        DatabaseAction::RecordRemediation { .. } => false,
        DatabaseAction::GrowStorage { to_gib, .. } => {
            now.allocated_storage_gib >= *to_gib
                || now
                    .pending
                    .allocated_storage_gib
                    .is_some_and(|p| p >= *to_gib)
        }
        DatabaseAction::RaiseStorageCeiling { to_gib, .. } => {
            now.max_allocated_storage_gib.is_some_and(|c| c >= *to_gib)
        }
        DatabaseAction::ScaleClass { to, .. } => {
            now.class == to.as_str() || now.pending.class.as_deref() == Some(to.as_str())
        }
    }
}

async fn modify(rds: &Client, action: &DatabaseAction) -> ActionOutcome {
    let id = action.database();
    let Some(precondition) = action.precondition() else {
        return ActionOutcome::plain(Outcome::Skipped {
            reason: format!("{} changes nothing on DB instance {id}", action.kind()),
        });
    };
    let now = match read_database(rds, id).await {
        Ok(Some(now)) => now,
        Ok(None) => {
            let vanished = Error::Vanished {
                operation: "ModifyDBInstance",
                resource: format!("DB instance {id}"),
            };
            return ActionOutcome::failed_unchanged(vanished, None);
        }
        Err(error) => return ActionOutcome::failed_unchanged(error, None),
    };
    if shows(action, &now) {
        return ActionOutcome::plain(Outcome::AlreadyConverged);
    }
    if let Err(reason) = precondition.check(&now) {
        return ActionOutcome::plain(Outcome::Skipped { reason });
    }
    let sent = send_modification(rds, action).await;
    let sent = match sent {
        Ok(()) => Ok(()),
        // The answer may be lost although RDS took the change: read back, never send twice.
        Err(error) => match read_database(rds, id).await {
            Ok(Some(after)) if shows(action, &after) => Ok(()),
            _ => Err(error),
        },
    };
    match sent {
        Ok(()) => ActionOutcome::applied(effect(action)),
        Err(error) => ActionOutcome::failed_unchanged(error, None),
    }
}

async fn send_modification(rds: &Client, action: &DatabaseAction) -> Result<(), Error> {
    let request = rds
        .modify_db_instance()
        .db_instance_identifier(action.database().as_str())
        .apply_immediately(action.applies_immediately());
    let request = match action {
        DatabaseAction::GrowStorage { to_gib, .. } => request.allocated_storage(gib(*to_gib)),
        DatabaseAction::RaiseStorageCeiling { to_gib, .. } => {
            request.max_allocated_storage(gib(*to_gib))
        }
        DatabaseAction::ScaleClass { to, .. } => request.db_instance_class(to.as_str()),
        DatabaseAction::RecordRemediation { .. } => return Ok(()),
    };
    request
        .send()
        .await
        .map_err(|e| sdk_error("ModifyDBInstance", e))?;
    Ok(())
}

/// The planner keeps sizes within RDS's 64 TiB, far inside `i32`.
fn gib(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// What the accepted modification does, and when.
fn effect(action: &DatabaseAction) -> String {
    let id = action.database();
    match action {
        DatabaseAction::GrowStorage { to_gib, .. } => format!(
            "DB instance {id} is growing to {to_gib} GiB now; RDS optimizes the storage next, and refuses another storage change for six hours"
        ),
        DatabaseAction::RaiseStorageCeiling { to_gib, .. } => {
            format!("DB instance {id} autoscales its storage up to {to_gib} GiB")
        }
        DatabaseAction::ScaleClass {
            to,
            apply: ApplyTiming::Immediately,
            ..
        } => format!("DB instance {id} is moving to {to} now"),
        DatabaseAction::ScaleClass {
            to,
            maintenance_window,
            ..
        } => format!(
            "DB instance {id} moves to {to} in its maintenance window ({}); it is pending until then",
            maintenance_window.as_deref().unwrap_or("window unknown")
        ),
        DatabaseAction::RecordRemediation { .. } => String::new(),
    }
}

/// After the step at `failed`, marks the record the plan wrote first: rolled back when nothing
/// took effect, failed otherwise. The failed step's recovery says which.
async fn close_record(
    rds: &Client,
    actions: &[DatabaseAction],
    outcomes: &mut [ActionOutcome],
    failed: usize,
) {
    let Some(DatabaseAction::RecordRemediation {
        database,
        arn,
        record,
    }) = actions.first()
    else {
        return;
    };
    let is_record = |at: usize| matches!(actions[at], DatabaseAction::RecordRemediation { .. });
    let closed = closing_of(outcomes, is_record, failed);
    let word = closed.tag_word().unwrap_or_default();
    let step = actions[failed].kind();
    let written = tag_remediation(rds, arn, &format!("{record} {word} step={step}")).await;
    tracing::info!(database = %database, outcome = word, step, "remediation record closed");
    let written = written.map_err(|error| error.to_string());
    let resource = format!("DB instance {database}");
    note_closing(&mut outcomes[failed], closed, step, &resource, written);
}
