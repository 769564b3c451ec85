//! AWS reads for an alarm: the instance or Auto Scaling group its dimensions name, the stack's
//! remediation history (from tags), the volume behind a disk alarm, and what AWS says about the
//! type a resize would move to. The alarm is only a hint: all of this is read fresh.

use crate::aws::{filter, tag};
use chrono::{DateTime, Utc};
use domain::ids::{
    AutoScalingGroupName, InstanceId, LaunchTemplateId, RoleName, StackName, VolumeId, ROLE_TAG,
    STACK_TAG,
};
use domain::instance_type::Capacity;
use domain::instances::target::{resize_candidate, volume_for, ResizeCandidate};
use domain::instances::{
    AttachedVolume, GroupState, InstanceState, LaunchTemplateRef, Observation, RemediationRecord,
    Target, TypeCheck, VolumeState, GROUP_TAG, REMEDIATION_TAG,
};
use domain::signal::AlarmNotice;
use domain::stack::{Remediation, StackFile};
use domain::Error;
use std::collections::BTreeSet;

/// The largest page each describe call allows.
const INSTANCE_PAGE: i32 = 1000;
const GROUP_PAGE: i32 = 100;

/// Why an alarm has no target in a guarded stack: reported, never retried.
#[derive(Debug, PartialEq, Eq)]
pub enum NoTarget {
    /// The alarm carries neither an `InstanceId` nor an `AutoScalingGroupName` dimension.
    NoDimension,
    /// The instance or group does not exist (any more).
    Missing(String),
    /// It exists but is not tagged into a stack this file guards.
    OutsideStack(String),
}

impl std::fmt::Display for NoTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoDimension => f.write_str(
                "the alarm has no InstanceId or AutoScalingGroupName dimension: nothing to act on",
            ),
            Self::Missing(what) => write!(f, "{what} does not exist (terminated or deleted?)"),
            Self::OutsideStack(what) => write!(
                f,
                "{what} is not part of a stack this file guards (tag {STACK_TAG})"
            ),
        }
    }
}

impl<'a> From<&'a crate::aws::Clients> for InstanceClients<'a> {
    fn from(clients: &'a crate::aws::Clients) -> Self {
        Self {
            ec2: &clients.ec2,
            autoscaling: &clients.autoscaling,
            ssm: &clients.ssm,
        }
    }
}

/// The AWS clients the instance function reads and writes through.
#[derive(Clone, Copy, Debug)]
pub struct InstanceClients<'a> {
    pub ec2: &'a aws_sdk_ec2::Client,
    pub autoscaling: &'a aws_sdk_autoscaling::Client,
    pub ssm: &'a aws_sdk_ssm::Client,
}

/// Reads everything the planner needs about the alarm's target.
pub async fn observe_target(
    clients: InstanceClients<'_>,
    file: &StackFile,
    notice: &AlarmNotice,
    remediation: Remediation,
    now: DateTime<Utc>,
) -> Result<Result<(StackName, Observation), NoTarget>, Error> {
    let mut target = match read_target(clients, notice).await? {
        Ok(target) => target,
        Err(no_target) => return Ok(Err(no_target)),
    };
    let Some(stack) = target.stack().filter(|s| file.selector.matches(s)).cloned() else {
        return Ok(Err(NoTarget::OutsideStack(target.to_string())));
    };
    let history = stack_history(clients, &stack).await?;
    if remediation == Remediation::Resize {
        if let Target::Instance {
            group: Some(group), ..
        }
        | Target::Group { group } = &mut target
        {
            // A group on a launch configuration is refused whatever its refreshes: not asked.
            if group.launch_template.is_some() {
                group.refresh_in_progress =
                    refresh_in_progress(clients.autoscaling, group.name.as_str()).await?;
            }
        }
    }
    let volume = match (&target, remediation) {
        (Target::Instance { instance, .. }, Remediation::GrowDisk) => {
            match volume_for(instance, notice) {
                Some(volume_id) => read_volume(clients.ec2, volume_id.as_str(), now).await?,
                None => None,
            }
        }
        _ => None,
    };
    let next_type = match remediation {
        Remediation::Resize => check_next_type(clients.ec2, file, &target).await?,
        _ => None,
    };
    Ok(Ok((
        stack,
        Observation {
            target,
            volume,
            next_type,
            history,
        },
    )))
}

async fn read_target(
    clients: InstanceClients<'_>,
    notice: &AlarmNotice,
) -> Result<Result<Target, NoTarget>, Error> {
    if let Some(raw_id) = notice.dimension("InstanceId") {
        let Some(instance) = read_instance(clients.ec2, raw_id).await? else {
            return Ok(Err(NoTarget::Missing(format!("instance {raw_id}"))));
        };
        let group = match &instance.auto_scaling_group {
            Some(name) => read_group(clients, name.as_str()).await?,
            None => None,
        };
        return Ok(Ok(Target::Instance { instance, group }));
    }
    if let Some(name) = notice.dimension("AutoScalingGroupName") {
        return Ok(match read_group(clients, name).await? {
            Some(group) => Ok(Target::Group { group }),
            None => Err(NoTarget::Missing(format!("group {name}"))),
        });
    }
    Ok(Err(NoTarget::NoDimension))
}

/// `None` for an instance ID that does not exist or is malformed: nothing to act on.
pub async fn read_instance(
    ec2: &aws_sdk_ec2::Client,
    raw_id: &str,
) -> Result<Option<InstanceState>, Error> {
    if !is_instance_id(raw_id) {
        return Ok(None);
    }
    let response = ec2.describe_instances().instance_ids(raw_id).send().await;
    let response = match response {
        Ok(response) => response,
        Err(e) => {
            let error = crate::aws::sdk_error("DescribeInstances", e);
            if error.code().starts_with("InvalidInstanceID") {
                return Ok(None);
            }
            return Err(error);
        }
    };
    Ok(response
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .find(|i| i.instance_id() == Some(raw_id))
        .map(instance_from_sdk))
}

fn is_instance_id(raw: &str) -> bool {
    raw.strip_prefix("i-").is_some_and(|hex| {
        (8..=17).contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

fn instance_from_sdk(instance: &aws_sdk_ec2::types::Instance) -> InstanceState {
    let tags = instance.tags();
    InstanceState {
        id: InstanceId::new(instance.instance_id().unwrap_or_default()),
        stack: tag(tags, STACK_TAG).map(StackName::new),
        role: tag(tags, ROLE_TAG).and_then(RoleName::parse),
        state: instance
            .state()
            .and_then(|s| s.name())
            .map(|n| n.as_str().to_string())
            .unwrap_or_default(),
        instance_type: instance
            .instance_type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default(),
        availability_zone: instance
            .placement()
            .and_then(|p| p.availability_zone())
            .unwrap_or_default()
            .to_string(),
        auto_scaling_group: tag(tags, GROUP_TAG).map(AutoScalingGroupName::new),
        root_device: instance.root_device_name().map(String::from),
        volumes: instance
            .block_device_mappings()
            .iter()
            .filter_map(|mapping| {
                Some(AttachedVolume {
                    device: mapping.device_name()?.to_string(),
                    volume_id: VolumeId::new(mapping.ebs()?.volume_id()?),
                })
            })
            .collect(),
        last_remediation: tag(tags, REMEDIATION_TAG).and_then(RemediationRecord::parse),
    }
}

pub async fn read_group(
    clients: InstanceClients<'_>,
    name: &str,
) -> Result<Option<GroupState>, Error> {
    let response = clients
        .autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .map_err(|e| crate::aws::sdk_error("DescribeAutoScalingGroups", e))?;
    let Some(group) = response.auto_scaling_groups().first() else {
        return Ok(None);
    };
    let tag = |key: &str| {
        group
            .tags()
            .iter()
            .find(|t| t.key() == Some(key))
            .and_then(|t| t.value())
    };
    let mixed = group
        .mixed_instances_policy()
        .and_then(|policy| policy.launch_template());
    let spec = group
        .launch_template()
        .or_else(|| mixed.and_then(|t| t.launch_template_specification()));
    let launch_template = match spec {
        Some(spec) => read_template(clients.ec2, spec).await?,
        None => None,
    };
    let type_overrides = mixed
        .map(|t| {
            t.overrides()
                .iter()
                .filter_map(|o| o.instance_type().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Ok(Some(GroupState {
        name: AutoScalingGroupName::new(group.auto_scaling_group_name().unwrap_or(name)),
        stack: tag(STACK_TAG).map(StackName::new),
        role: tag(ROLE_TAG).and_then(RoleName::parse),
        launch_template,
        type_overrides,
        availability_zones: group.availability_zones().to_vec(),
        instances: group
            .instances()
            .iter()
            .filter_map(|i| {
                Some((
                    InstanceId::new(i.instance_id()?),
                    i.lifecycle_state()?.as_str().to_string(),
                ))
            })
            .collect(),
        // Read only for a resize, the one remediation a refresh in progress stops.
        refresh_in_progress: false,
        last_remediation: tag(REMEDIATION_TAG).and_then(RemediationRecord::parse),
    }))
}

/// Resolves `$Latest`/`$Default` to a version number, and reads its instance type and the
/// template's own stack tag (DescribeLaunchTemplateVersions returns no tags: one more read).
async fn read_template(
    ec2: &aws_sdk_ec2::Client,
    spec: &aws_sdk_autoscaling::types::LaunchTemplateSpecification,
) -> Result<Option<LaunchTemplateRef>, Error> {
    let Some(mut template) = read_template_version(ec2, spec).await? else {
        return Ok(None);
    };
    let described = ec2
        .describe_launch_templates()
        .launch_template_ids(template.id.as_str())
        .send()
        .await
        .map_err(|e| crate::aws::sdk_error("DescribeLaunchTemplates", e))?;
    template.stack = described
        .launch_templates()
        .first()
        .and_then(|t| tag(t.tags(), STACK_TAG))
        .map(StackName::new);
    Ok(Some(template))
}

async fn read_template_version(
    ec2: &aws_sdk_ec2::Client,
    spec: &aws_sdk_autoscaling::types::LaunchTemplateSpecification,
) -> Result<Option<LaunchTemplateRef>, Error> {
    let requested = spec.version().unwrap_or("$Default").to_string();
    let response = ec2
        .describe_launch_template_versions()
        .set_launch_template_id(spec.launch_template_id().map(String::from))
        .set_launch_template_name(spec.launch_template_name().map(String::from))
        .versions(&requested)
        .send()
        .await
        .map_err(|e| crate::aws::sdk_error("DescribeLaunchTemplateVersions", e))?;
    Ok(response
        .launch_template_versions()
        .first()
        .map(|version| LaunchTemplateRef {
            id: LaunchTemplateId::new(version.launch_template_id().unwrap_or_default()),
            stack: None,
            version: version.version_number().unwrap_or_default(),
            requested_version: requested.clone(),
            instance_type: version
                .launch_template_data()
                .and_then(|d| d.instance_type())
                .map(|t| t.as_str().to_string()),
        }))
}

/// Whether an instance refresh is running: a second one would be refused by AWS anyway.
pub async fn refresh_in_progress(
    autoscaling: &aws_sdk_autoscaling::Client,
    group: &str,
) -> Result<bool, Error> {
    use aws_sdk_autoscaling::types::InstanceRefreshStatus as Status;
    let response = autoscaling
        .describe_instance_refreshes()
        .auto_scaling_group_name(group)
        .max_records(100)
        .send()
        .await
        .map_err(|e| crate::aws::sdk_error("DescribeInstanceRefreshes", e))?;
    Ok(response.instance_refreshes().iter().any(|refresh| {
        matches!(
            refresh.status(),
            Some(
                Status::Pending
                    | Status::InProgress
                    | Status::Cancelling
                    | Status::RollbackInProgress
                    | Status::Baking
            )
        )
    }))
}

/// Every remediation recorded in the stack: its instances' and groups' tags, two calls.
async fn stack_history(
    clients: InstanceClients<'_>,
    stack: &StackName,
) -> Result<Vec<RemediationRecord>, Error> {
    let mut history = Vec::new();
    let mut pages = clients
        .ec2
        .describe_instances()
        .filters(filter(&format!("tag:{STACK_TAG}"), [stack.as_str()]))
        .filters(filter("tag-key", [REMEDIATION_TAG]))
        .into_paginator()
        .page_size(INSTANCE_PAGE)
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| crate::aws::sdk_error("DescribeInstances", e))?;
        history.extend(
            page.reservations()
                .iter()
                .flat_map(|r| r.instances())
                .filter_map(|i| tag(i.tags(), REMEDIATION_TAG))
                .filter_map(RemediationRecord::parse),
        );
    }
    let mut groups = clients
        .autoscaling
        .describe_auto_scaling_groups()
        .filters(
            aws_sdk_autoscaling::types::Filter::builder()
                .name(format!("tag:{STACK_TAG}"))
                .values(stack.as_str())
                .build(),
        )
        .into_paginator()
        .page_size(GROUP_PAGE)
        .send();
    while let Some(page) = groups.next().await {
        let page = page.map_err(|e| crate::aws::sdk_error("DescribeAutoScalingGroups", e))?;
        history.extend(
            page.auto_scaling_groups()
                .iter()
                .flat_map(|g| g.tags())
                .filter(|t| t.key() == Some(REMEDIATION_TAG))
                .filter_map(|t| RemediationRecord::parse(t.value()?)),
        );
    }
    Ok(history)
}

/// AWS allows one modification of a volume every six hours.
const MODIFICATION_INTERVAL_HOURS: i64 = 6;

async fn read_volume(
    ec2: &aws_sdk_ec2::Client,
    volume_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<VolumeState>, Error> {
    let response = ec2
        .describe_volumes()
        .volume_ids(volume_id)
        .send()
        .await
        .map_err(|e| crate::aws::sdk_error("DescribeVolumes", e))?;
    let Some(volume) = response.volumes().first() else {
        return Ok(None);
    };
    let modifications = ec2
        .describe_volumes_modifications()
        .volume_ids(volume_id)
        .send()
        .await
        .map_err(|e| crate::aws::sdk_error("DescribeVolumesModifications", e))?;
    use aws_sdk_ec2::types::VolumeModificationState as State;
    let recent = chrono::Duration::hours(MODIFICATION_INTERVAL_HOURS);
    let busy = modifications.volumes_modifications().iter().any(|m| {
        let unfinished = matches!(
            m.modification_state(),
            Some(State::Modifying | State::Optimizing)
        );
        let started = m
            .start_time()
            .and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), 0));
        unfinished || started.is_some_and(|at| now - at < recent)
    });
    Ok(Some(VolumeState {
        id: VolumeId::new(volume_id),
        stack: tag(volume.tags(), STACK_TAG).map(StackName::new),
        size_gib: volume
            .size()
            .and_then(|s| u32::try_from(s).ok())
            .unwrap_or(0),
        modification_in_progress: busy,
    }))
}

/// The type one step up the ladder: whether AWS offers it where the target runs, and both
/// types' architectures and sizes as AWS describes them. `None` when no step up exists: the
/// planner says why.
async fn check_next_type(
    ec2: &aws_sdk_ec2::Client,
    file: &StackFile,
    target: &Target,
) -> Result<Option<TypeCheck>, Error> {
    let Some(ResizeCandidate {
        current,
        next,
        zones,
    }) = resize_candidate(&file.roles, target)
    else {
        return Ok(None);
    };
    let current = current.as_str();
    use aws_sdk_ec2::types::InstanceType as SdkType;
    let described = ec2
        .describe_instance_types()
        .instance_types(SdkType::from(current))
        .instance_types(SdkType::from(next.as_str()))
        .send()
        .await;
    let described = match described {
        Ok(described) => described,
        Err(e) => {
            let error = crate::aws::sdk_error("DescribeInstanceTypes", e);
            if error.code().starts_with("InvalidInstanceType") {
                return Ok(None);
            }
            return Err(error);
        }
    };
    let (Some(next_info), Some(current_info)) = (
        described_type(&described, next.as_str()),
        described_type(&described, current),
    ) else {
        return Ok(None);
    };
    let architectures = |info: &aws_sdk_ec2::types::InstanceTypeInfo| -> Vec<String> {
        info.processor_info()
            .map(|p| {
                p.supported_architectures()
                    .iter()
                    .map(|a| a.as_str().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    // The ladder was sized offline, from a catalog that may not know a newer type: the planner
    // checks the step against these.
    let capacity = |info: &aws_sdk_ec2::types::InstanceTypeInfo| -> Option<Capacity> {
        Some(Capacity {
            vcpus: u32::try_from(info.v_cpu_info()?.default_v_cpus()?).ok()?,
            memory_mib: u32::try_from(info.memory_info()?.size_in_mib()?).ok()?,
        })
    };
    let offerings = ec2
        .describe_instance_type_offerings()
        .location_type(aws_sdk_ec2::types::LocationType::AvailabilityZone)
        .filters(filter("instance-type", [next.as_str()]))
        .filters(filter("location", zones.iter().map(String::as_str)))
        .send()
        .await
        .map_err(|e| crate::aws::sdk_error("DescribeInstanceTypeOfferings", e))?;
    let offered_in: BTreeSet<&str> = offerings
        .instance_type_offerings()
        .iter()
        .filter_map(|o| o.location())
        .collect();
    Ok(Some(TypeCheck {
        offered: !zones.is_empty() && zones.iter().all(|z| offered_in.contains(z.as_str())),
        instance_type: next,
        architectures: architectures(next_info),
        current_architectures: architectures(current_info),
        capacity: capacity(next_info),
        current_capacity: capacity(current_info),
    }))
}

/// What DescribeInstanceTypes said about `name`, if it described it.
fn described_type<'a>(
    described: &'a aws_sdk_ec2::operation::describe_instance_types::DescribeInstanceTypesOutput,
    name: &str,
) -> Option<&'a aws_sdk_ec2::types::InstanceTypeInfo> {
    described
        .instance_types()
        .iter()
        .find(|t| t.instance_type().map(|t| t.as_str()) == Some(name))
}
