//! AWS writes for alarm remediations. Each step re-checks its precondition against AWS (resize
//! only if the type is still the planned one), and a resize that fails at any step puts the
//! instance back on its old type and running: a remediation never leaves a node stopped.

use super::observe::{read_group, read_instance, refresh_in_progress, InstanceClients};
use super::plan::{InstanceAction, Resource};
use crate::aws::AwsError;
use crate::ids::InstanceId;
use crate::instance_type::InstanceType;
use crate::report::Outcome;
use serde::Serialize;
use std::time::Duration;
use tokio::time::Instant;

/// How long to wait for an instance or a volume to reach a state, and how often to look.
#[derive(Clone, Copy, Debug)]
pub struct Waits {
    pub poll: Duration,
    pub timeout: Duration,
}

impl Default for Waits {
    /// A stop or start takes under two minutes; the function's timeout leaves room for both
    /// plus a rollback.
    fn default() -> Self {
        Self {
            poll: Duration::from_secs(3),
            timeout: Duration::from_secs(120),
        }
    }
}

/// An action's outcome, what it produced (a new template version, a command ID) and, when it
/// failed, what was done to leave the resource as it was.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StepOutcome {
    #[serde(flatten)]
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery: Option<String>,
}

impl StepOutcome {
    pub fn planned() -> Self {
        Self::plain(Outcome::Planned)
    }

    fn plain(outcome: Outcome) -> Self {
        Self {
            outcome,
            detail: None,
            recovery: None,
        }
    }

    fn applied(detail: impl Into<String>) -> Self {
        Self {
            outcome: Outcome::Applied,
            detail: Some(detail.into()),
            recovery: None,
        }
    }

    fn failed(error: AwsError, recovery: Option<String>) -> Self {
        Self {
            outcome: Outcome::Failed { error },
            detail: None,
            recovery,
        }
    }
}

/// Runs the actions in order; after a failure, the rest are skipped.
pub async fn apply_instance_actions(
    clients: InstanceClients<'_>,
    actions: &[InstanceAction],
    waits: Waits,
) -> Vec<StepOutcome> {
    let mut outcomes = Vec::with_capacity(actions.len());
    let mut failed = false;
    for action in actions {
        if failed {
            outcomes.push(StepOutcome::plain(Outcome::Skipped {
                reason: "an earlier step failed".into(),
            }));
            continue;
        }
        let outcome = apply_one(clients, action, waits).await;
        tracing::info!(
            action = action.kind(),
            target = %action.target(),
            outcome = %outcome.outcome,
            "action executed"
        );
        failed = matches!(outcome.outcome, Outcome::Failed { .. });
        outcomes.push(outcome);
    }
    outcomes
}

async fn apply_one(
    clients: InstanceClients<'_>,
    action: &InstanceAction,
    waits: Waits,
) -> StepOutcome {
    let result = match action {
        InstanceAction::RecordRemediation { resource, record } => {
            record_remediation(clients, resource, record).await
        }
        InstanceAction::ResizeInstance { instance, from, to } => {
            return resize_instance(clients.ec2, instance, from, to, waits).await
        }
        InstanceAction::ResizeGroup {
            group,
            launch_template,
            from_version,
            to,
            min_healthy_percentage,
            ..
        } => {
            resize_group(
                clients,
                group,
                launch_template,
                *from_version,
                to,
                *min_healthy_percentage,
            )
            .await
        }
        InstanceAction::GrowVolume {
            volume,
            from_gib,
            to_gib,
            ..
        } => grow_volume(clients.ec2, volume, *from_gib, *to_gib, waits).await,
        InstanceAction::ExtendFilesystem { instance, path } => {
            extend_filesystem(clients, instance, path).await
        }
        InstanceAction::MarkUnhealthy { instance, .. } => mark_unhealthy(clients, instance).await,
        InstanceAction::RestartInstance { instance } => {
            return restart_instance(clients.ec2, instance, waits).await
        }
    };
    result.unwrap_or_else(|error| StepOutcome::failed(error, None))
}

async fn record_remediation(
    clients: InstanceClients<'_>,
    resource: &Resource,
    record: &str,
) -> Result<StepOutcome, AwsError> {
    match resource {
        Resource::Instance(id) => {
            clients
                .ec2
                .create_tags()
                .resources(id.as_str())
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key(super::REMEDIATION_TAG)
                        .value(record)
                        .build(),
                )
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("CreateTags", e))?;
        }
        Resource::Group(name) => {
            let tag = aws_sdk_autoscaling::types::Tag::builder()
                .resource_id(name)
                .resource_type("auto-scaling-group")
                .key(super::REMEDIATION_TAG)
                .value(record)
                .propagate_at_launch(false)
                .build();
            clients
                .autoscaling
                .create_or_update_tags()
                .tags(tag)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("CreateOrUpdateTags", e))?;
        }
        // The planner records on the instance or group it acts on, never on a volume.
        Resource::Volume(id) => {
            return Err(AwsError {
                operation: "CreateTags",
                code: "Unsupported".into(),
                message: format!("remediations are recorded on instances and groups, not on {id}"),
                retryable: false,
            })
        }
    }
    Ok(StepOutcome::plain(Outcome::Applied))
}

/// Where a resize stopped, which decides how to recover.
enum ResizeStage {
    Stop,
    Modify,
    Start,
}

async fn resize_instance(
    ec2: &aws_sdk_ec2::Client,
    instance: &InstanceId,
    from: &str,
    to: &InstanceType,
    waits: Waits,
) -> StepOutcome {
    let current = match read_instance(ec2, instance.as_str()).await {
        Ok(Some(current)) => current,
        Ok(None) => return StepOutcome::failed(vanished(instance), None),
        Err(error) => return StepOutcome::failed(error, None),
    };
    if current.instance_type == to.as_str() && current.state == "running" {
        return StepOutcome::plain(Outcome::AlreadyConverged);
    }
    if current.instance_type != from || current.state != "running" {
        return StepOutcome::plain(Outcome::Skipped {
            reason: format!(
                "{instance} is now {} and {}: planned from {from}, running",
                current.instance_type, current.state
            ),
        });
    }
    match resize_steps(ec2, instance, to, waits).await {
        Ok(()) => StepOutcome::applied(format!("{instance} is running as {to}")),
        Err((stage, error)) => {
            let recovery = recover_resize(ec2, instance, from, stage, waits).await;
            StepOutcome::failed(error, Some(recovery))
        }
    }
}

/// Stop, wait, change the type, start, wait: AWS refuses a type change on a running instance.
async fn resize_steps(
    ec2: &aws_sdk_ec2::Client,
    instance: &InstanceId,
    to: &InstanceType,
    waits: Waits,
) -> Result<(), (ResizeStage, AwsError)> {
    stop(ec2, instance)
        .await
        .map_err(|e| (ResizeStage::Stop, e))?;
    wait_for_state(ec2, instance, "stopped", waits)
        .await
        .map_err(|e| (ResizeStage::Stop, e))?;
    ec2.modify_instance_attribute()
        .instance_id(instance.as_str())
        .instance_type(
            aws_sdk_ec2::types::AttributeValue::builder()
                .value(to.as_str())
                .build(),
        )
        .send()
        .await
        .map_err(|e| {
            (
                ResizeStage::Modify,
                AwsError::from_sdk("ModifyInstanceAttribute", e),
            )
        })?;
    start(ec2, instance)
        .await
        .map_err(|e| (ResizeStage::Start, e))?;
    wait_for_state(ec2, instance, "running", waits)
        .await
        .map_err(|e| (ResizeStage::Start, e))
}

/// Puts the instance back on `from` and running, whatever step failed; says what it did.
async fn recover_resize(
    ec2: &aws_sdk_ec2::Client,
    instance: &InstanceId,
    from: &str,
    stage: ResizeStage,
    waits: Waits,
) -> String {
    let result = async {
        if matches!(stage, ResizeStage::Start) {
            // The new type may be what failed to start: stop again if needed, and go back.
            let current = read_instance(ec2, instance.as_str())
                .await?
                .ok_or_else(|| vanished(instance))?;
            if current.state == "running" && current.instance_type == from {
                return Ok(());
            }
            if current.state != "stopped" {
                stop(ec2, instance).await?;
                wait_for_state(ec2, instance, "stopped", waits).await?;
            }
            if current.instance_type != from {
                ec2.modify_instance_attribute()
                    .instance_id(instance.as_str())
                    .instance_type(
                        aws_sdk_ec2::types::AttributeValue::builder()
                            .value(from)
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk("ModifyInstanceAttribute", e))?;
            }
        }
        ensure_running(ec2, instance, waits).await
    }
    .await;
    match result {
        Ok(()) => format!("rolled back: {instance} is running as {from}"),
        Err(error) => {
            format!("ROLLBACK FAILED ({error}): check {instance} by hand; it should run as {from}")
        }
    }
}

/// Starts the instance if it is stopped or stopping, and waits until it runs.
async fn ensure_running(
    ec2: &aws_sdk_ec2::Client,
    instance: &InstanceId,
    waits: Waits,
) -> Result<(), AwsError> {
    let current = read_instance(ec2, instance.as_str())
        .await?
        .ok_or_else(|| vanished(instance))?;
    match current.state.as_str() {
        "running" => return Ok(()),
        "stopping" => wait_for_state(ec2, instance, "stopped", waits).await?,
        _ => {}
    }
    if current.state != "pending" {
        start(ec2, instance).await?;
    }
    wait_for_state(ec2, instance, "running", waits).await
}

async fn stop(ec2: &aws_sdk_ec2::Client, instance: &InstanceId) -> Result<(), AwsError> {
    ec2.stop_instances()
        .instance_ids(instance.as_str())
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("StopInstances", e))
}

async fn start(ec2: &aws_sdk_ec2::Client, instance: &InstanceId) -> Result<(), AwsError> {
    ec2.start_instances()
        .instance_ids(instance.as_str())
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("StartInstances", e))
}

async fn wait_for_state(
    ec2: &aws_sdk_ec2::Client,
    instance: &InstanceId,
    wanted: &str,
    waits: Waits,
) -> Result<(), AwsError> {
    let deadline = Instant::now() + waits.timeout;
    loop {
        let current = read_instance(ec2, instance.as_str())
            .await?
            .ok_or_else(|| vanished(instance))?;
        if current.state == wanted {
            return Ok(());
        }
        if matches!(current.state.as_str(), "terminated" | "shutting-down") {
            return Err(wait_error(instance, wanted, &current.state));
        }
        if Instant::now() >= deadline {
            return Err(wait_error(instance, wanted, &current.state));
        }
        tokio::time::sleep(waits.poll).await;
    }
}

fn wait_error(instance: &InstanceId, wanted: &str, state: &str) -> AwsError {
    AwsError {
        operation: "DescribeInstances",
        code: "WaitTimeout".into(),
        message: format!("{instance} did not become {wanted} in time (it is {state})"),
        retryable: false,
    }
}

fn vanished(instance: &InstanceId) -> AwsError {
    AwsError {
        operation: "DescribeInstances",
        code: "InvalidInstanceID.NotFound".into(),
        message: format!("{instance} no longer exists"),
        retryable: false,
    }
}

async fn restart_instance(
    ec2: &aws_sdk_ec2::Client,
    instance: &InstanceId,
    waits: Waits,
) -> StepOutcome {
    let steps = async {
        stop(ec2, instance).await?;
        wait_for_state(ec2, instance, "stopped", waits).await?;
        start(ec2, instance).await?;
        wait_for_state(ec2, instance, "running", waits).await
    };
    match steps.await {
        Ok(()) => StepOutcome::applied(format!("{instance} is running on a new host")),
        Err(error) => {
            let recovery = match ensure_running(ec2, instance, waits).await {
                Ok(()) => format!("{instance} is running"),
                Err(e) => {
                    format!("RECOVERY FAILED ({e}): {instance} may be stopped; start it by hand")
                }
            };
            StepOutcome::failed(error, Some(recovery))
        }
    }
}

async fn resize_group(
    clients: InstanceClients<'_>,
    group: &str,
    launch_template: &str,
    from_version: i64,
    to: &InstanceType,
    min_healthy_percentage: u8,
) -> Result<StepOutcome, AwsError> {
    let Some(current) = read_group(clients, group).await? else {
        return Err(AwsError {
            operation: "DescribeAutoScalingGroups",
            code: "NotFound".into(),
            message: format!("group {group} no longer exists"),
            retryable: false,
        });
    };
    let version = current.launch_template.as_ref().map(|t| t.version);
    if version != Some(from_version) {
        return Ok(StepOutcome::plain(Outcome::Skipped {
            reason: format!(
                "group {group} no longer uses version {from_version} of {launch_template}: someone changed it since the plan"
            ),
        }));
    }
    if refresh_in_progress(clients.autoscaling, group).await? {
        return Ok(StepOutcome::plain(Outcome::Skipped {
            reason: format!("an instance refresh of group {group} started since the plan"),
        }));
    }
    let created = clients
        .ec2
        .create_launch_template_version()
        .launch_template_id(launch_template)
        .source_version(from_version.to_string())
        .version_description(format!("chainlink-remediator: resize to {to}"))
        .launch_template_data(
            aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                .instance_type(aws_sdk_ec2::types::InstanceType::from(to.as_str()))
                .build(),
        )
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("CreateLaunchTemplateVersion", e))?;
    let new_version = created
        .launch_template_version()
        .and_then(|v| v.version_number())
        .ok_or_else(|| AwsError {
            operation: "CreateLaunchTemplateVersion",
            code: "BadResponse".into(),
            message: "no version number in the response".into(),
            retryable: false,
        })?;
    clients
        .autoscaling
        .update_auto_scaling_group()
        .auto_scaling_group_name(group)
        .launch_template(
            aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder()
                .launch_template_id(launch_template)
                .version(new_version.to_string())
                .build(),
        )
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("UpdateAutoScalingGroup", e))?;
    let refresh = clients
        .autoscaling
        .start_instance_refresh()
        .auto_scaling_group_name(group)
        .strategy(aws_sdk_autoscaling::types::RefreshStrategy::Rolling)
        .preferences(
            aws_sdk_autoscaling::types::RefreshPreferences::builder()
                .min_healthy_percentage(i32::from(min_healthy_percentage))
                .build(),
        )
        .send()
        .await;
    match refresh {
        Ok(refresh) => Ok(StepOutcome::applied(format!(
            "group {group} uses {launch_template} version {new_version}; instance refresh {}",
            refresh.instance_refresh_id().unwrap_or("started")
        ))),
        // The group already launches the new type; only the replacement of running
        // instances is missing. Say exactly that.
        Err(e) => Ok(StepOutcome::failed(
            AwsError::from_sdk("StartInstanceRefresh", e),
            Some(format!(
                "group {group} now launches {to} (version {new_version}); its running instances keep their type until replaced"
            )),
        )),
    }
}

async fn grow_volume(
    ec2: &aws_sdk_ec2::Client,
    volume: &str,
    from_gib: u32,
    to_gib: u32,
    waits: Waits,
) -> Result<StepOutcome, AwsError> {
    let described = ec2
        .describe_volumes()
        .volume_ids(volume)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DescribeVolumes", e))?;
    let size = described
        .volumes()
        .first()
        .and_then(|v| v.size())
        .and_then(|s| u32::try_from(s).ok());
    match size {
        Some(size) if size >= to_gib => return Ok(StepOutcome::plain(Outcome::AlreadyConverged)),
        Some(size) if size != from_gib => {
            return Ok(StepOutcome::plain(Outcome::Skipped {
                reason: format!("{volume} is now {size} GiB: planned from {from_gib} GiB"),
            }))
        }
        _ => {}
    }
    ec2.modify_volume()
        .volume_id(volume)
        .size(i32::try_from(to_gib).unwrap_or(i32::MAX))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ModifyVolume", e))?;
    wait_for_volume(ec2, volume, waits).await?;
    Ok(StepOutcome::applied(format!("{volume} is {to_gib} GiB")))
}

/// The new size is usable once the modification is `optimizing` (or done).
async fn wait_for_volume(
    ec2: &aws_sdk_ec2::Client,
    volume: &str,
    waits: Waits,
) -> Result<(), AwsError> {
    use aws_sdk_ec2::types::VolumeModificationState as State;
    let deadline = Instant::now() + waits.timeout;
    loop {
        let response = ec2
            .describe_volumes_modifications()
            .volume_ids(volume)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeVolumesModifications", e))?;
        let state = response
            .volumes_modifications()
            .iter()
            .max_by_key(|m| m.start_time().map(|t| t.secs()))
            .and_then(|m| m.modification_state().cloned());
        match state {
            Some(State::Optimizing | State::Completed) => return Ok(()),
            Some(State::Failed) => {
                return Err(AwsError {
                    operation: "DescribeVolumesModifications",
                    code: "ModificationFailed".into(),
                    message: format!("the modification of {volume} failed"),
                    retryable: false,
                })
            }
            _ if Instant::now() >= deadline => {
                return Err(AwsError {
                    operation: "DescribeVolumesModifications",
                    code: "WaitTimeout".into(),
                    message: format!("{volume} did not reach the optimizing state in time"),
                    retryable: false,
                })
            }
            _ => tokio::time::sleep(waits.poll).await,
        }
    }
}

/// The SSM document that runs a shell script on the instance.
pub const RUN_SHELL_SCRIPT: &str = "AWS-RunShellScript";

/// Grows the partition (if any) and the filesystem mounted at `path`, for ext4 and XFS. The
/// path passed the planner's character check: it cannot break out of its quotes.
pub fn extend_filesystem_script(path: &str) -> Vec<String> {
    vec![
        "set -eu".into(),
        format!("mount_path='{path}'"),
        r#"source=$(findmnt -n -o SOURCE --target "$mount_path")"#.into(),
        r#"fstype=$(findmnt -n -o FSTYPE --target "$mount_path")"#.into(),
        r#"disk=$(lsblk -n -o PKNAME "$source" | head -n 1)"#.into(),
        r#"part=$(cat "/sys/class/block/$(basename "$source")/partition" 2>/dev/null || true)"#
            .into(),
        r#"if [ -n "$disk" ] && [ -n "$part" ]; then growpart "/dev/$disk" "$part" || true; fi"#
            .into(),
        r#"case "$fstype" in xfs) xfs_growfs -d "$mount_path" ;; ext2|ext3|ext4) resize2fs "$source" ;; *) echo "cannot extend $fstype at $mount_path" >&2; exit 1 ;; esac"#
            .into(),
    ]
}

async fn extend_filesystem(
    clients: InstanceClients<'_>,
    instance: &InstanceId,
    path: &str,
) -> Result<StepOutcome, AwsError> {
    let sent = clients
        .ssm
        .send_command()
        .document_name(RUN_SHELL_SCRIPT)
        .instance_ids(instance.as_str())
        .comment("chainlink-remediator: extend the filesystem after a volume growth")
        .parameters("commands", extend_filesystem_script(path))
        .timeout_seconds(600)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("SendCommand", e))?;
    let command = sent
        .command()
        .and_then(|c| c.command_id())
        .unwrap_or("unknown");
    Ok(StepOutcome::applied(format!(
        "SSM command {command} extends {path} on {instance}"
    )))
}

async fn mark_unhealthy(
    clients: InstanceClients<'_>,
    instance: &InstanceId,
) -> Result<StepOutcome, AwsError> {
    clients
        .autoscaling
        .set_instance_health()
        .instance_id(instance.as_str())
        .health_status("Unhealthy")
        .should_respect_grace_period(false)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("SetInstanceHealth", e))?;
    Ok(StepOutcome::applied(format!(
        "{instance} is marked unhealthy; its group replaces it"
    )))
}
