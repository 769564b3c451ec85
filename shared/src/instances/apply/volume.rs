//! A volume: grown by the step (never twice for one incident), then its filesystem extended
//! through SSM Run Command with the stack's own document, which can do nothing else.

use super::{checked, Waits};
use crate::instances::observe::InstanceClients;
use domain::ids::{DocumentName, InstanceId};
use domain::outcome::ActionOutcome;
use domain::outcome::Outcome;
use domain::Error;

pub(super) async fn grow_volume(
    ec2: &aws_sdk_ec2::Client,
    volume: &str,
    from_gib: u32,
    to_gib: u32,
    waits: Waits,
) -> Result<ActionOutcome, Error> {
    match volume_size(ec2, volume).await? {
        Some(size) if size >= to_gib => return Ok(ActionOutcome::plain(Outcome::AlreadyConverged)),
        Some(size) if size != from_gib => {
            return Ok(ActionOutcome::plain(Outcome::Skipped {
                reason: format!("{volume} is now {size} GiB: planned from {from_gib} GiB"),
            }))
        }
        _ => {}
    }
    let sent = ec2
        .modify_volume()
        .volume_id(volume)
        .size(i32::try_from(to_gib).unwrap_or(i32::MAX))
        .send()
        .await
        .map_err(|e| crate::aws::sdk_error("ModifyVolume", e));
    checked(sent, || async {
        volume_size(ec2, volume).await.ok().flatten() == Some(to_gib)
    })
    .await?;
    Ok(match wait_for_volume(ec2, volume, waits).await {
        Ok(()) => ActionOutcome::applied(format!("{volume} is {to_gib} GiB")),
        Err(error) => ActionOutcome::failed_changed(
            error,
            format!(
                "{volume} is being grown to {to_gib} GiB; once its modification is optimizing, extend the filesystem by hand"
            ),
        ),
    })
}

async fn volume_size(ec2: &aws_sdk_ec2::Client, volume: &str) -> Result<Option<u32>, Error> {
    let described = ec2
        .describe_volumes()
        .volume_ids(volume)
        .send()
        .await
        .map_err(|e| crate::aws::sdk_error("DescribeVolumes", e))?;
    Ok(described
        .volumes()
        .first()
        .and_then(|v| v.size())
        .and_then(|s| u32::try_from(s).ok()))
}

/// The new size is usable once the modification is `optimizing` (or done).
async fn wait_for_volume(
    ec2: &aws_sdk_ec2::Client,
    volume: &str,
    waits: Waits,
) -> Result<(), Error> {
    use aws_sdk_ec2::types::VolumeModificationState as State;
    let mut reads = 0;
    loop {
        let response = ec2
            .describe_volumes_modifications()
            .volume_ids(volume)
            .send()
            .await
            .map_err(|e| crate::aws::sdk_error("DescribeVolumesModifications", e))?;
        reads += 1;
        let state = response
            .volumes_modifications()
            .iter()
            .max_by_key(|m| m.start_time().map(|t| t.secs()))
            .and_then(|m| m.modification_state().cloned());
        match state {
            Some(State::Optimizing | State::Completed) => return Ok(()),
            Some(State::Failed) => {
                return Err(Error::NotCarriedOut {
                    operation: "DescribeVolumesModifications",
                    message: format!("the modification of {volume} failed"),
                })
            }
            _ if reads >= waits.reads => {
                return Err(Error::WaitTimedOut {
                    operation: "DescribeVolumesModifications",
                    resource: volume.to_string(),
                    wanted: "optimizing".into(),
                    seen: state.as_ref().map_or("unknown", |s| s.as_str()).to_string(),
                })
            }
            _ => tokio::time::sleep(waits.poll).await,
        }
    }
}

/// The name of the stack document's one parameter: the mount path, checked by Systems Manager
/// against the document's `allowedPattern` (the planner's own rule, `MOUNT_PATH_PATTERN`).
pub const MOUNT_PATH_PARAMETER: &str = "mountPath";

/// Runs the stack's filesystem document (infra/: grows the partition and the ext4/XFS filesystem
/// at its one parameter, the mount path, and nothing else). Without a document configured, the
/// volume is grown and a person extends the filesystem: the engine never falls back to a
/// document that runs any command it is given (`AWS-RunShellScript`).
pub(super) async fn extend_filesystem(
    clients: InstanceClients<'_>,
    document: Option<&DocumentName>,
    instance: &InstanceId,
    path: &str,
) -> Result<ActionOutcome, Error> {
    let by_hand = format!("the volume is grown; extend the filesystem at {path} on {instance} by hand (growpart, then resize2fs or xfs_growfs)");
    let Some(document) = document else {
        return Ok(ActionOutcome::failed_changed(
            Error::NotCarriedOut {
                operation: "SendCommand",
                message: "no filesystem document is configured (FILESYSTEM_DOCUMENT, or the CLI's --filesystem-document)".into(),
            },
            by_hand,
        ));
    };
    let sent = match send_extend_command(clients, document, instance, path).await {
        Ok(sent) => sent,
        // The volume is already bigger: only the filesystem is missing.
        Err(error) => return Ok(ActionOutcome::failed_changed(error, by_hand)),
    };
    let command = sent
        .command()
        .and_then(|c| c.command_id())
        .unwrap_or("unknown");
    Ok(ActionOutcome::applied(format!(
        "SSM command {command} ({document}) extends {path} on {instance}"
    )))
}

async fn send_extend_command(
    clients: InstanceClients<'_>,
    document: &DocumentName,
    instance: &InstanceId,
    path: &str,
) -> Result<aws_sdk_ssm::operation::send_command::SendCommandOutput, Error> {
    clients
        .ssm
        .send_command()
        .document_name(document.as_str())
        .instance_ids(instance.as_str())
        .comment("chainlink-remediator: extend the filesystem after a volume growth")
        .parameters(MOUNT_PATH_PARAMETER, vec![path.to_string()])
        .timeout_seconds(600)
        .send()
        .await
        .map_err(|e| crate::aws::sdk_error("SendCommand", e))
}
