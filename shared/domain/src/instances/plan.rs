//! The pure planner for alarm remediations: (stack file, alarm, observed target, now) → what to
//! do, or why nothing. No AWS, no clock: `now` is an input, so cooldowns are plain unit tests.

use super::{
    GroupState, InstanceState, Observation, RecordOutcome, RemediationRecord, Target, TypeCheck,
    VolumeState,
};
use crate::ids::{
    AutoScalingGroupName, InstanceId, LaunchTemplateId, RoleName, StackName, VolumeId, STACK_TAG,
};
use crate::instance_type::InstanceType;
use crate::signal::AlarmNotice;
use crate::stack::{InstancePolicy, Remediation, RoleSpec};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

/// One step of a remediation, in execution order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum InstanceAction {
    /// Tag the resource with this remediation first, so a duplicate delivery of the incident,
    /// or a second alarm within the cooldown, finds it and does nothing.
    RecordRemediation { resource: Resource, record: String },
    /// Stop, wait until stopped, change the type, start, wait until running; on any failure,
    /// back to `from` and running.
    ResizeInstance {
        instance: InstanceId,
        from: String,
        to: InstanceType,
    },
    /// The group launches `to` through an instance-type override of the launch template
    /// version it already uses (no new template version, so no new launch content), then an
    /// instance refresh.
    ResizeGroup {
        group: AutoScalingGroupName,
        launch_template: LaunchTemplateId,
        /// What the group asks for (`$Latest`, `$Default` or a number), kept as it is.
        version: String,
        from: String,
        to: InstanceType,
        min_healthy_percentage: u8,
    },
    GrowVolume {
        instance: InstanceId,
        volume: VolumeId,
        from_gib: u32,
        to_gib: u32,
    },
    /// An SSM Run Command of the stack's own document on the instance: grow the partition and
    /// the filesystem at `path`.
    ExtendFilesystem { instance: InstanceId, path: String },
    /// Auto Scaling replaces an unhealthy instance with a new one.
    MarkUnhealthy {
        group: AutoScalingGroupName,
        instance: InstanceId,
    },
    /// Stop and start: a standalone instance comes back on a new host.
    RestartInstance { instance: InstanceId },
    /// Start an instance a remediation of ours left stopped (AWS refused every start, or the
    /// invocation died mid-way): the next delivery brings the node back.
    StartInstance { instance: InstanceId },
}

impl InstanceAction {
    /// The action's name, as in the JSON report.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::RecordRemediation { .. } => "record_remediation",
            Self::ResizeInstance { .. } => "resize_instance",
            Self::ResizeGroup { .. } => "resize_group",
            Self::GrowVolume { .. } => "grow_volume",
            Self::ExtendFilesystem { .. } => "extend_filesystem",
            Self::MarkUnhealthy { .. } => "mark_unhealthy",
            Self::RestartInstance { .. } => "restart_instance",
            Self::StartInstance { .. } => "start_instance",
        }
    }

    /// The resource the action changes.
    pub fn target(&self) -> Resource {
        match self {
            Self::RecordRemediation { resource, .. } => resource.clone(),
            Self::ResizeGroup { group, .. } => Resource::Group(group.clone()),
            Self::GrowVolume { volume, .. } => Resource::Volume(volume.clone()),
            Self::ResizeInstance { instance, .. }
            | Self::ExtendFilesystem { instance, .. }
            | Self::MarkUnhealthy { instance, .. }
            | Self::RestartInstance { instance }
            | Self::StartInstance { instance } => Resource::Instance(instance.clone()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Resource {
    Instance(InstanceId),
    Group(AutoScalingGroupName),
    Volume(VolumeId),
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Instance(id) => write!(f, "instance {id}"),
            Self::Group(name) => write!(f, "group {name}"),
            Self::Volume(id) => write!(f, "volume {id}"),
        }
    }
}

impl fmt::Display for InstanceAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RecordRemediation { resource, record } => {
                write!(f, "record on {resource}: {record}")
            }
            Self::ResizeInstance { instance, from, to } => write!(
                f,
                "resize {instance} {from} → {to}: stop, wait until stopped, change the type, start, wait until running"
            ),
            Self::ResizeGroup {
                group,
                launch_template,
                version,
                from,
                to,
                min_healthy_percentage,
            } => write!(
                f,
                "resize group {group} {from} → {to}: launch {to} through an instance-type override of launch template {launch_template} version {version} (no new version), start an instance refresh keeping {min_healthy_percentage}% healthy"
            ),
            Self::GrowVolume {
                instance,
                volume,
                from_gib,
                to_gib,
            } => write!(
                f,
                "grow volume {volume} of {instance} {from_gib} GiB → {to_gib} GiB"
            ),
            Self::ExtendFilesystem { instance, path } => write!(
                f,
                "extend the filesystem at {path} on {instance} (SSM Run Command: the stack's filesystem document)"
            ),
            Self::MarkUnhealthy { group, instance } => write!(
                f,
                "mark {instance} unhealthy so group {group} replaces it"
            ),
            Self::RestartInstance { instance } => write!(
                f,
                "stop and start {instance} so it moves to a new host"
            ),
            Self::StartInstance { instance } => write!(
                f,
                "start {instance}: an unfinished or failed remediation of ours left it stopped"
            ),
        }
    }
}

/// Whether the alarm calls for action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", content = "reason", rename_all = "snake_case")]
pub enum Decision {
    Act,
    /// Nothing to do, as it should be: a duplicate, a cooldown, an instance already replaced.
    NoAction(String),
    /// Something is needed that the stack file does not allow: a person must look.
    Refused(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InstancePlan {
    pub alarm: String,
    pub incident: String,
    pub remediation: Remediation,
    pub target: String,
    pub decision: Decision,
    pub actions: Vec<InstanceAction>,
}

impl InstancePlan {
    /// What a person approves: the remediation, its target and its steps but the record
    /// (whose time changes on every run). Another step, type or size is another digest.
    pub fn approval_digest(&self) -> String {
        let steps: Vec<&InstanceAction> = self
            .actions
            .iter()
            .filter(|a| !matches!(a, InstanceAction::RecordRemediation { .. }))
            .collect();
        crate::approvals::plan_digest(&(self.remediation, &self.target, steps))
    }
}

/// Everything the planner looks at.
#[derive(Clone, Copy, Debug)]
pub struct RemediationInputs<'a> {
    pub policy: &'a InstancePolicy,
    pub roles: &'a BTreeMap<RoleName, RoleSpec>,
    pub notice: &'a AlarmNotice,
    pub remediation: Remediation,
    pub observation: &'a Observation,
    pub now: DateTime<Utc>,
}

pub fn plan_remediation(inputs: RemediationInputs<'_>) -> InstancePlan {
    let incident = inputs.notice.incident();
    let (decision, actions) = match decide(&inputs, &incident) {
        Ok(actions) => (Decision::Act, actions),
        Err(decision) => (decision, Vec::new()),
    };
    InstancePlan {
        alarm: inputs.notice.name.clone(),
        incident,
        remediation: inputs.remediation,
        target: inputs.observation.target.to_string(),
        decision,
        actions,
    }
}

/// The type one step up `role`'s ladder from `current`: what observe checks with AWS.
pub fn next_type(
    roles: &BTreeMap<RoleName, RoleSpec>,
    role: Option<&RoleName>,
    current: &str,
) -> Result<InstanceType, Decision> {
    let role = role.ok_or_else(|| {
        Decision::Refused("the target has no chainlink:role tag, so no ladder applies".into())
    })?;
    let spec = roles
        .get(role)
        .filter(|spec| !spec.ladder.is_empty())
        .ok_or_else(|| Decision::Refused(format!("role {role} declares no ladder")))?;
    let current_type = InstanceType::parse(current)
        .map_err(|_| Decision::Refused(format!("{current} is not on role {role}'s ladder")))?;
    if !spec.ladder.contains(&current_type) {
        return Err(Decision::Refused(format!(
            "{current} is not on role {role}'s ladder ({}): resize it by hand",
            ladder_text(&spec.ladder)
        )));
    }
    spec.next_type(&current_type).cloned().ok_or_else(|| {
        Decision::Refused(format!(
            "{current} is the top of role {role}'s ladder: the node needs a person (a bigger type on the ladder, or a different fix)"
        ))
    })
}

fn ladder_text(ladder: &[InstanceType]) -> String {
    ladder
        .iter()
        .map(InstanceType::as_str)
        .collect::<Vec<_>>()
        .join(" → ")
}

fn decide(inputs: &RemediationInputs<'_>, incident: &str) -> Result<Vec<InstanceAction>, Decision> {
    let observation = inputs.observation;
    if let Target::Instance { instance, .. } = &observation.target {
        if left_stopped_by_us(inputs, instance) {
            return Ok(vec![InstanceAction::StartInstance {
                instance: instance.id.clone(),
            }]);
        }
    }
    check_owned(inputs)?;
    check_incident(&observation.history, incident)?;
    match (inputs.remediation, &observation.target) {
        (
            remediation @ (Remediation::GrowStorage
            | Remediation::ScaleClass
            | Remediation::ReportConnections),
            _,
        ) => Err(Decision::Refused(format!(
            "{} is a remediation of the stack's database, which database::plan decides, not of {}",
            remediation.as_str(),
            observation.target
        ))),
        (Remediation::Resize, Target::Instance { group: Some(group), .. })
        | (Remediation::Resize, Target::Group { group }) => plan_group_resize(inputs, group),
        (Remediation::Resize, Target::Instance { instance, .. }) => {
            plan_instance_resize(inputs, instance)
        }
        (Remediation::GrowDisk, Target::Instance { instance, .. }) => {
            plan_disk_growth(inputs, instance, observation.volume.as_ref())
        }
        (Remediation::GrowDisk, Target::Group { group }) => Err(Decision::Refused(format!(
            "the disk alarm names group {} but no instance: add the InstanceId dimension",
            group.name
        ))),
        (Remediation::Replace, Target::Instance { instance, group }) => {
            plan_replacement(inputs, instance, group.as_ref())
        }
        (Remediation::Replace, Target::Group { group }) => Err(Decision::NoAction(format!(
            "group {} replaces instances that fail EC2 status checks itself; the alarm names no instance",
            group.name
        ))),
    }
}

/// Every resource the remediation would write carries the stack tag of the stack being
/// remediated (the target's), not merely an instance of the stack pointing at it: IAM enforces
/// this in Lambda, and the CLI, run with broader credentials, must too. The writes: a resize
/// through a group changes the group and its launch template; a disk growth, the volume; a
/// replacement in a group, the group. The instance itself is the target.
fn check_owned(inputs: &RemediationInputs<'_>) -> Result<(), Decision> {
    let observation = inputs.observation;
    let Some(stack) = observation.target.stack() else {
        return Err(Decision::Refused(format!(
            "{} carries no {STACK_TAG} tag",
            observation.target
        )));
    };
    let refuse = |what: String, tagged: Option<&StackName>| {
        Err(Decision::Refused(format!(
            "{what} {}: it is not changed on behalf of stack {}",
            match tagged {
                Some(other) => format!("carries {STACK_TAG} = {other}"),
                None => format!("carries no {STACK_TAG} tag"),
            },
            stack
        )))
    };
    let group = match &observation.target {
        Target::Instance { group, .. } => group.as_ref(),
        Target::Group { group } => Some(group),
    };
    match inputs.remediation {
        Remediation::Resize | Remediation::Replace => {
            if let Some(group) = group {
                if group.stack.as_ref() != Some(stack) {
                    return refuse(format!("group {}", group.name), group.stack.as_ref());
                }
                let template = group.launch_template.as_ref();
                if let Some(template) =
                    template.filter(|_| inputs.remediation == Remediation::Resize)
                {
                    if template.stack.as_ref() != Some(stack) {
                        return refuse(
                            format!("launch template {} of group {}", template.id, group.name),
                            template.stack.as_ref(),
                        );
                    }
                }
            }
        }
        // Refused by `decide`: nothing of an instance is written.
        Remediation::GrowStorage | Remediation::ScaleClass | Remediation::ReportConnections => {}
        Remediation::GrowDisk => {
            if let Some(volume) = &observation.volume {
                if volume.stack.as_ref() != Some(stack) {
                    return refuse(format!("volume {}", volume.id), volume.stack.as_ref());
                }
            }
        }
    }
    Ok(())
}

/// A stopped instance whose last remediation, a resize or restart of ours within the cooldown,
/// failed (AWS refused every start) or never finished (the invocation died mid-way, at its
/// timeout say): the node must not stay down. One remediation runs at a time (reserved
/// concurrency 1), so an unfinished record is not one in progress. Outside the cooldown a
/// stopped node is someone's decision, not our leftover.
fn left_stopped_by_us(inputs: &RemediationInputs<'_>, instance: &InstanceState) -> bool {
    let cooldown = Duration::minutes(i64::from(inputs.policy.cooldown_minutes));
    instance.state == "stopped"
        && instance.last_remediation.as_ref().is_some_and(|record| {
            record.outcome != RecordOutcome::RolledBack
                && matches!(
                    record.remediation,
                    Remediation::Resize | Remediation::Replace
                )
                && inputs.now < record.at + cooldown
        })
}

/// An incident is handled once: a record of it that took effect means nothing more to do.
pub(crate) fn check_incident(
    history: &[RemediationRecord],
    incident: &str,
) -> Result<(), Decision> {
    match history
        .iter()
        .find(|record| record.incident == incident && record.took_effect())
    {
        Some(earlier) => Err(Decision::NoAction(format!(
            "incident {incident} was {}",
            earlier.handled_before()
        ))),
        None => Ok(()),
    }
}

/// Refuses while the resource's last remediation is within the cooldown.
fn check_cooldown(
    inputs: &RemediationInputs<'_>,
    resource: &str,
    last: Option<&RemediationRecord>,
) -> Result<(), Decision> {
    check_cooldown_of(inputs.policy, inputs.now, resource, last)
}

/// The cooldown of `[instances]`, for any resource (an instance, a group, the database).
pub(crate) fn check_cooldown_of(
    policy: &InstancePolicy,
    now: DateTime<Utc>,
    resource: &str,
    last: Option<&RemediationRecord>,
) -> Result<(), Decision> {
    let cooldown = Duration::minutes(i64::from(policy.cooldown_minutes));
    match last {
        Some(record) if record.took_effect() && now < record.at + cooldown => {
            Err(Decision::NoAction(format!(
                "{resource} is cooling down: {} at {}; the {}-minute cooldown ends at {}",
                record.remediation.as_str(),
                record.at.to_rfc3339(),
                policy.cooldown_minutes,
                (record.at + cooldown).to_rfc3339()
            )))
        }
        _ => Ok(()),
    }
}

fn check_instance_cooldown(
    inputs: &RemediationInputs<'_>,
    instance: &InstanceState,
) -> Result<(), Decision> {
    check_cooldown(
        inputs,
        &format!("instance {}", instance.id),
        instance.last_remediation.as_ref(),
    )
}

/// Someone else is working on an instance that is not running: leave it to them.
fn check_running(instance: &InstanceState) -> Result<(), Decision> {
    if instance.state == "running" {
        return Ok(());
    }
    Err(Decision::NoAction(format!(
        "instance {} is {}, not running: someone else is working on it",
        instance.id, instance.state
    )))
}

/// Counts every recorded resize, rolled back ones included: a resize that keeps failing
/// stops and starts a node each time, and the limit bounds that too.
fn check_resize_limit(inputs: &RemediationInputs<'_>) -> Result<(), Decision> {
    check_hourly_limit(
        inputs.policy,
        &inputs.observation.history,
        Remediation::Resize,
        inputs.now,
        "resize(s) in this stack",
    )
}

/// `[instances] max_resizes_per_hour` against the records of `remediation` in `history`.
pub(crate) fn check_hourly_limit(
    policy: &InstancePolicy,
    history: &[RemediationRecord],
    remediation: Remediation,
    now: DateTime<Utc>,
    what: &str,
) -> Result<(), Decision> {
    let since = now - Duration::hours(1);
    let recent = history
        .iter()
        .filter(|r| r.remediation == remediation && r.at > since)
        .count();
    if recent >= policy.max_resizes_per_hour {
        return Err(Decision::Refused(format!(
            "{recent} {what} within the last hour: the limit is {} (instances.max_resizes_per_hour)",
            policy.max_resizes_per_hour
        )));
    }
    Ok(())
}

/// The next type, checked against what AWS said about it.
fn checked_next_type(
    inputs: &RemediationInputs<'_>,
    role: Option<&RoleName>,
    current: &str,
    zones: &str,
) -> Result<InstanceType, Decision> {
    let next = next_type(inputs.roles, role, current)?;
    let check: &TypeCheck = inputs
        .observation
        .next_type
        .as_ref()
        .filter(|check| check.instance_type == next)
        .ok_or_else(|| {
            Decision::Refused(format!("AWS did not describe {next}: it may not exist"))
        })?;
    if !check.offered {
        return Err(Decision::Refused(format!(
            "{next} is not offered in {zones}"
        )));
    }
    let same_architecture = check
        .architectures
        .iter()
        .any(|a| check.current_architectures.contains(a));
    if !same_architecture {
        return Err(Decision::Refused(format!(
            "{next} ({}) does not share an architecture with {current} ({}): the node's binaries would not run",
            check.architectures.join(", "),
            check.current_architectures.join(", ")
        )));
    }
    let (Some(size), Some(current_size)) = (check.capacity, check.current_capacity) else {
        return Err(Decision::Refused(format!(
            "AWS did not say how big {next} and {current} are, so the step up cannot be checked"
        )));
    };
    if current_size.compare(&size) != Some(Ordering::Less) {
        return Err(Decision::Refused(format!(
            "AWS describes {next} ({size}) as no bigger than {current} ({current_size}): fix the ladder"
        )));
    }
    Ok(next)
}

fn record(inputs: &RemediationInputs<'_>, resource: Resource) -> InstanceAction {
    InstanceAction::RecordRemediation {
        resource,
        record: started_record(inputs.remediation, inputs.now, inputs.notice),
    }
}

/// The tag value that marks a remediation of the notice's incident as started.
pub(crate) fn started_record(
    remediation: Remediation,
    now: DateTime<Utc>,
    notice: &AlarmNotice,
) -> String {
    RemediationRecord {
        remediation,
        at: now,
        incident: notice.incident(),
        outcome: RecordOutcome::Started,
        step: None,
        approval: None,
    }
    .tag_value()
}

fn plan_instance_resize(
    inputs: &RemediationInputs<'_>,
    instance: &InstanceState,
) -> Result<Vec<InstanceAction>, Decision> {
    check_instance_cooldown(inputs, instance)?;
    check_running(instance)?;
    let next = checked_next_type(
        inputs,
        instance.role.as_ref(),
        &instance.instance_type,
        &instance.availability_zone,
    )?;
    check_resize_limit(inputs)?;
    Ok(vec![
        record(inputs, Resource::Instance(instance.id.clone())),
        InstanceAction::ResizeInstance {
            instance: instance.id.clone(),
            from: instance.instance_type.clone(),
            to: next,
        },
    ])
}

/// AWS's guide to moving a group off a launch configuration.
pub const LAUNCH_TEMPLATE_MIGRATION: &str =
    "https://docs.aws.amazon.com/autoscaling/ec2/userguide/migrate-to-launch-templates.html";

fn plan_group_resize(
    inputs: &RemediationInputs<'_>,
    group: &GroupState,
) -> Result<Vec<InstanceAction>, Decision> {
    check_cooldown(
        inputs,
        &format!("group {}", group.name),
        group.last_remediation.as_ref(),
    )?;
    let template = group.launch_template.as_ref().ok_or_else(|| {
        Decision::Refused(format!(
            "group {} uses a launch configuration: resize it by hand. Launch configurations are deprecated: move the group to a launch template (AWS's guide \"Migrate your Auto Scaling groups to launch templates\": {LAUNCH_TEMPLATE_MIGRATION}), and the next alarm resizes it",
            group.name
        ))
    })?;
    // One override is this engine's own earlier resize; several are a fleet of types someone
    // chose, which one step up a ladder does not describe.
    if group.type_overrides.len() > 1 {
        return Err(Decision::Refused(format!(
            "group {} launches several instance types ({}): resize it by hand",
            group.name,
            group.type_overrides.join(", ")
        )));
    }
    let current = group.current_type().ok_or_else(|| {
        Decision::Refused(format!(
            "launch template {} version {} sets no instance type, and group {} overrides none",
            template.id, template.version, group.name
        ))
    })?;
    if group.refresh_in_progress {
        return Err(Decision::NoAction(format!(
            "an instance refresh of group {} is already in progress",
            group.name
        )));
    }
    let zones = group.availability_zones.join(", ");
    let next = checked_next_type(inputs, group.role.as_ref(), current, &zones)?;
    check_resize_limit(inputs)?;
    Ok(vec![
        record(inputs, Resource::Group(group.name.clone())),
        InstanceAction::ResizeGroup {
            group: group.name.clone(),
            launch_template: template.id.clone(),
            version: template.requested_version.clone(),
            from: current.to_string(),
            to: next,
            min_healthy_percentage: inputs.policy.min_healthy_percentage,
        },
    ])
}

fn plan_disk_growth(
    inputs: &RemediationInputs<'_>,
    instance: &InstanceState,
    volume: Option<&VolumeState>,
) -> Result<Vec<InstanceAction>, Decision> {
    check_instance_cooldown(inputs, instance)?;
    let path = inputs.notice.dimension("path").unwrap_or("/");
    if !is_safe_path(path) {
        return Err(Decision::Refused(format!(
            "the alarm's path dimension {path:?} is not a plain filesystem path"
        )));
    }
    let volume = volume.ok_or_else(|| {
        Decision::Refused(format!(
            "no EBS volume of instance {} matches the alarm's filesystem {path}",
            instance.id
        ))
    })?;
    if volume.modification_in_progress {
        return Err(Decision::NoAction(format!(
            "volume {} is still being modified: AWS allows one modification at a time",
            volume.id
        )));
    }
    let to_gib = inputs
        .policy
        .disk
        .next_size(volume.size_gib)
        .ok_or_else(|| {
            Decision::Refused(format!(
                "volume {} is {} GiB, the cap (instances.disk_max_gib = {}): the node needs a person",
                volume.id, volume.size_gib, inputs.policy.disk.max_gib
            ))
        })?;
    check_running(instance)?;
    Ok(vec![
        record(inputs, Resource::Instance(instance.id.clone())),
        InstanceAction::GrowVolume {
            instance: instance.id.clone(),
            volume: volume.id.clone(),
            from_gib: volume.size_gib,
            to_gib,
        },
        InstanceAction::ExtendFilesystem {
            instance: instance.id.clone(),
            path: path.to_string(),
        },
    ])
}

/// The mount-path rule as a regular expression: the stack's SSM document (infra/) declares it
/// as its `mountPath` parameter's `allowedPattern`, with `maxChars` = [`MOUNT_PATH_MAX_CHARS`],
/// so Systems Manager refuses, before anything runs on the node, every path this engine would
/// refuse. An absolute path of letters, digits and `/ _ . -` with no `..` (each `.` is followed
/// by another character or ends the path). No look-around: SSM, JavaScript and Rust's `regex`
/// read it alike, and the tests check it against [`is_safe_path`] and both templates.
pub const MOUNT_PATH_PATTERN: &str = r"^/([A-Za-z0-9/_-]|\.[A-Za-z0-9/_-])*\.?$";
/// The longest mount path the engine (and the SSM document) accepts.
pub const MOUNT_PATH_MAX_CHARS: usize = 256;

/// The path reaches a shell script on the node (the SSM document's `mountPath`): only plain
/// path characters pass. [`MOUNT_PATH_PATTERN`] is the same rule.
pub fn is_safe_path(path: &str) -> bool {
    path.starts_with('/')
        && path.len() <= MOUNT_PATH_MAX_CHARS
        && !path.contains("..")
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_.-".contains(c))
}

fn plan_replacement(
    inputs: &RemediationInputs<'_>,
    instance: &InstanceState,
    group: Option<&GroupState>,
) -> Result<Vec<InstanceAction>, Decision> {
    check_instance_cooldown(inputs, instance)?;
    if let Some(group) = group {
        let lifecycle = group
            .instances
            .iter()
            .find(|(id, _)| *id == instance.id)
            .map(|(_, state)| state.as_str());
        return match lifecycle {
            Some("InService") => Ok(vec![
                record(inputs, Resource::Instance(instance.id.clone())),
                InstanceAction::MarkUnhealthy {
                    group: group.name.clone(),
                    instance: instance.id.clone(),
                },
            ]),
            Some(state) => Err(Decision::NoAction(format!(
                "instance {} is {state} in group {}: already on its way out",
                instance.id, group.name
            ))),
            None => Err(Decision::NoAction(format!(
                "instance {} is no longer in group {}",
                instance.id, group.name
            ))),
        };
    }
    check_running(instance)?;
    Ok(vec![
        record(inputs, Resource::Instance(instance.id.clone())),
        InstanceAction::RestartInstance {
            instance: instance.id.clone(),
        },
    ])
}
