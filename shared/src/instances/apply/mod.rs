//! AWS writes for alarm remediations, one module per kind of resource. Each step re-checks
//! its precondition against AWS (resize only if the type is still the planned one), reads a
//! resource back when a write's answer is lost, and a resize that fails at any step puts the
//! instance back on its old type and running: a remediation never leaves a node stopped.

mod group;
mod instance;
mod volume;

pub use volume::MOUNT_PATH_PARAMETER;

use super::observe::InstanceClients;
use domain::ids::{DocumentName, InstanceId};
use domain::instances::closing::{closing_of, note_closing};
use domain::instances::plan::{InstanceAction, Resource};
use domain::outcome::{ActionOutcome, Outcome};
use domain::Error;

/// A write whose answer may be lost (a timeout, a dropped connection) although AWS carried it
/// out: after an error, `took_effect` reads the resource back, and a write that happened anyway
/// is done. Sending it again could act twice.
async fn checked<T, F>(sent: Result<T, Error>, took_effect: impl FnOnce() -> F) -> Result<(), Error>
where
    F: std::future::Future<Output = bool>,
{
    let Err(error) = sent else {
        return Ok(());
    };
    if took_effect().await {
        Ok(())
    } else {
        Err(error)
    }
}

pub use crate::aws::Waits;

/// Runs the actions in order; after a failure, the rest are skipped and the remediation's
/// record is closed as rolled back or failed.
/// `filesystem_document` is the stack's SSM document that extends a filesystem (none: a person
/// does it).
pub async fn apply_instance_actions(
    clients: InstanceClients<'_>,
    actions: &[InstanceAction],
    waits: Waits,
    filesystem_document: Option<&DocumentName>,
) -> Vec<ActionOutcome> {
    let (mut outcomes, failed) = in_order(actions, async |action| {
        let outcome = apply_one(clients, action, waits, filesystem_document).await;
        tracing::info!(
            action = action.kind(),
            target = %action.target(),
            outcome = %outcome.outcome,
            "action executed"
        );
        outcome
    })
    .await;
    if let Some(index) = failed {
        close_record(clients, actions, &mut outcomes, index).await;
    }
    outcomes
}

/// Runs a remediation's steps in order with `apply`, one outcome each: after the first that
/// fails, the rest are skipped. Returns the outcomes and the failed step's index.
pub(crate) async fn in_order<A>(
    actions: &[A],
    mut apply: impl AsyncFnMut(&A) -> ActionOutcome,
) -> (Vec<ActionOutcome>, Option<usize>) {
    let mut outcomes: Vec<ActionOutcome> = Vec::with_capacity(actions.len());
    let mut failed = None;
    for (index, action) in actions.iter().enumerate() {
        if failed.is_some() {
            outcomes.push(ActionOutcome::plain(Outcome::Skipped {
                reason: "an earlier step failed".into(),
            }));
            continue;
        }
        let outcome = apply(action).await;
        if outcome.is_failed() {
            failed = Some(index);
        }
        outcomes.push(outcome);
    }
    (outcomes, failed)
}

/// After the step at `failed`, marks the record the plan wrote first: rolled back when nothing
/// took effect (a retry of the event may act again), failed otherwise (the incident stays
/// handled: acting again could act twice). The failed step's recovery says which.
async fn close_record(
    clients: InstanceClients<'_>,
    actions: &[InstanceAction],
    outcomes: &mut [ActionOutcome],
    failed: usize,
) {
    let Some(InstanceAction::RecordRemediation { resource, record }) = actions.first() else {
        return;
    };
    let is_record = |at: usize| matches!(actions[at], InstanceAction::RecordRemediation { .. });
    let closed = closing_of(outcomes, is_record, failed);
    let word = closed.tag_word().unwrap_or_default();
    let step = actions[failed].kind();
    let value = format!("{record} {word} step={step}");
    let written = record_remediation(clients, resource, &value).await;
    tracing::info!(target = %resource, outcome = word, step, "remediation record closed");
    let written = written.map(|_| ()).map_err(|error| error.to_string());
    note_closing(
        &mut outcomes[failed],
        closed,
        step,
        &resource.to_string(),
        written,
    );
}

async fn apply_one(
    clients: InstanceClients<'_>,
    action: &InstanceAction,
    waits: Waits,
    filesystem_document: Option<&DocumentName>,
) -> ActionOutcome {
    let result = match action {
        InstanceAction::RecordRemediation { resource, record } => {
            record_remediation(clients, resource, record).await
        }
        InstanceAction::ResizeInstance { instance, from, to } => {
            return instance::resize_instance(clients.ec2, instance, from, to, waits).await
        }
        InstanceAction::ResizeGroup {
            group,
            launch_template,
            version,
            from,
            to,
            min_healthy_percentage,
        } => {
            let resize = group::GroupResize {
                group: group.as_str(),
                launch_template: launch_template.as_str(),
                version,
                from,
                to,
                min_healthy_percentage: *min_healthy_percentage,
            };
            group::resize_group(clients, &resize).await
        }
        InstanceAction::GrowVolume {
            volume,
            from_gib,
            to_gib,
            ..
        } => volume::grow_volume(clients.ec2, volume.as_str(), *from_gib, *to_gib, waits).await,
        InstanceAction::ExtendFilesystem { instance, path } => {
            volume::extend_filesystem(clients, filesystem_document, instance, path).await
        }
        InstanceAction::MarkUnhealthy { instance, .. } => mark_unhealthy(clients, instance).await,
        InstanceAction::RestartInstance { instance } => {
            return instance::restart_instance(clients.ec2, instance, waits).await
        }
        InstanceAction::StartInstance { instance } => {
            return match instance::ensure_running(clients.ec2, instance, waits).await {
                Ok(()) => ActionOutcome::applied(format!("{instance} is running")),
                Err(error) => ActionOutcome::failed_changed(
                    error,
                    format!("{instance} is still stopped: start it by hand"),
                ),
            }
        }
    };
    // Steps that return a bare error stopped before anything took effect, or re-read AWS to
    // make sure (a write whose answer was lost is checked, not assumed).
    result.unwrap_or_else(|error| ActionOutcome::failed_unchanged(error, None))
}

async fn record_remediation(
    clients: InstanceClients<'_>,
    resource: &Resource,
    record: &str,
) -> Result<ActionOutcome, Error> {
    match resource {
        Resource::Instance(id) => {
            clients
                .ec2
                .create_tags()
                .resources(id.as_str())
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key(domain::instances::REMEDIATION_TAG)
                        .value(record)
                        .build(),
                )
                .send()
                .await
                .map_err(|e| crate::aws::sdk_error("CreateTags", e))?;
        }
        Resource::Group(name) => {
            let tag = aws_sdk_autoscaling::types::Tag::builder()
                .resource_id(name.as_str())
                .resource_type("auto-scaling-group")
                .key(domain::instances::REMEDIATION_TAG)
                .value(record)
                .propagate_at_launch(false)
                .build();
            clients
                .autoscaling
                .create_or_update_tags()
                .tags(tag)
                .send()
                .await
                .map_err(|e| crate::aws::sdk_error("CreateOrUpdateTags", e))?;
        }
        // The planner records on the instance or group it acts on, never on a volume.
        Resource::Volume(id) => {
            return Err(Error::NotCarriedOut {
                operation: "CreateTags",
                message: format!("remediations are recorded on instances and groups, not on {id}"),
            })
        }
    }
    Ok(ActionOutcome::plain(Outcome::Applied))
}

async fn mark_unhealthy(
    clients: InstanceClients<'_>,
    instance: &InstanceId,
) -> Result<ActionOutcome, Error> {
    clients
        .autoscaling
        .set_instance_health()
        .instance_id(instance.as_str())
        .health_status("Unhealthy")
        .should_respect_grace_period(false)
        .send()
        .await
        .map_err(|e| crate::aws::sdk_error("SetInstanceHealth", e))?;
    Ok(ActionOutcome::applied(format!(
        "{instance} is marked unhealthy; its group replaces it"
    )))
}
