//! Instances that run out of CPU, memory or disk, or fail their status checks: resized one step
//! up their role's ladder, their disk grown, or replaced — once per incident, within the stack
//! file's limits, standalone or in an Auto Scaling group.
//!
//! This is the pure half: the model of what was read, `plan` (the decision), `target` (what an
//! alarm concerns) and `report`. Reading the target fresh (the alarm is a hint) and acting,
//! re-checking each precondition and never leaving a node stopped, are `shared::instances`.

pub mod alarm;
pub mod closing;
pub mod plan;
pub mod report;
pub mod target;
#[cfg(test)]
mod tests;

use crate::ids::{
    AutoScalingGroupName, InstanceId, LaunchTemplateId, RoleName, StackName, VolumeId,
};
use crate::instance_type::{Capacity, InstanceType};
use crate::stack::Remediation;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use std::fmt;

pub use plan::{
    plan_remediation, Decision, InstanceAction, InstancePlan, RemediationInputs, Resource,
};

/// The tag that records a resource's last remediation, so that the cooldown and the
/// once-per-incident rule survive cold starts and concurrent deliveries.
pub const REMEDIATION_TAG: &str = "chainlink:remediation";
/// The tag Auto Scaling puts on the instances it launches.
pub const GROUP_TAG: &str = "aws:autoscaling:groupName";

/// The last remediation of a resource: `resize at=2026-11-24T05:00:00Z incident=0123abcd…`,
/// with ` outcome=rolled-back step=…` or ` outcome=failed step=…` appended when it did not
/// succeed: a replay of the incident can then say how the attempt ended, and where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RemediationRecord {
    pub remediation: Remediation,
    pub at: DateTime<Utc>,
    pub incident: String,
    pub outcome: RecordOutcome,
    /// The step that failed (`resize_group`…), as `InstanceAction::kind` names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The nonce of the approval this remediation ran on, if it waited for one: a second use
    /// of that approval finds it here and is refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<String>,
}

/// How a recorded remediation ended, as far as the engine could tell.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecordOutcome {
    /// Written before the first change and left as is when the remediation succeeds.
    #[default]
    Started,
    /// It failed and left the resource as it was: a retry of the incident may act again, and
    /// it starts no cooldown. It still counts toward the hourly resize limit, which bounds a
    /// remediation that keeps failing.
    RolledBack,
    /// It failed and left the resource changed or in doubt: the incident counts as handled
    /// (acting again could act twice), and the report says what a person must check.
    Failed,
}

impl RecordOutcome {
    /// The word appended to a record's tag value, if any.
    pub fn tag_word(self) -> Option<&'static str> {
        match self {
            Self::Started => None,
            Self::RolledBack => Some("outcome=rolled-back"),
            Self::Failed => Some("outcome=failed"),
        }
    }
}

impl RemediationRecord {
    /// A tag value: only characters EC2 and Auto Scaling tags accept, well under 256.
    pub fn tag_value(&self) -> String {
        let value = format!(
            "{} at={} incident={}",
            self.remediation.as_str(),
            self.at.to_rfc3339_opts(SecondsFormat::Secs, true),
            self.incident
        );
        let value = match self.outcome.tag_word() {
            Some(word) => format!("{value} {word}"),
            None => value,
        };
        let value = match &self.step {
            Some(step) => format!("{value} step={step}"),
            None => value,
        };
        match &self.approval {
            Some(nonce) => format!("{value} approval={nonce}"),
            None => value,
        }
    }

    /// A started record's tag value (`tag_value`) marked with the approval it runs on.
    pub fn approved(record: &str, nonce: &str) -> String {
        format!("{record} approval={nonce}")
    }

    /// How a replay of this record's incident tells what happened: the same words the
    /// failed run's report and log use.
    pub fn handled_before(&self) -> String {
        let at = self.at.to_rfc3339_opts(SecondsFormat::Secs, true);
        let step = self.step.as_deref().unwrap_or("a step");
        match self.outcome {
            RecordOutcome::Failed => format!(
                "handled before: failed at {step}, see the report of {at}; a failed attempt is not made again (it may have changed the resource): check it by hand"
            ),
            RecordOutcome::RolledBack => {
                format!("handled before: rolled back after {step} failed, see the report of {at}")
            }
            RecordOutcome::Started => {
                format!("already handled ({} at {at})", self.remediation.as_str())
            }
        }
    }

    /// Whether the incident counts as handled and the resource's cooldown runs.
    pub fn took_effect(&self) -> bool {
        self.outcome != RecordOutcome::RolledBack
    }

    /// `None` for a tag this engine did not write: it is ignored rather than trusted.
    pub fn parse(value: &str) -> Option<Self> {
        let mut words = value.split_whitespace();
        let remediation = Remediation::parse(words.next()?)?;
        let (mut at, mut incident, mut outcome) = (None, None, RecordOutcome::Started);
        let (mut step, mut approval) = (None, None);
        for word in words {
            match word.split_once('=')? {
                ("at", value) => at = DateTime::parse_from_rfc3339(value).ok(),
                ("incident", value) => incident = Some(value.to_string()),
                ("outcome", "rolled-back") => outcome = RecordOutcome::RolledBack,
                ("outcome", "failed") => outcome = RecordOutcome::Failed,
                ("step", value) => step = Some(value.to_string()),
                ("approval", value) => approval = Some(value.to_string()),
                _ => {}
            }
        }
        Some(Self {
            remediation,
            at: at?.with_timezone(&Utc),
            incident: incident?,
            outcome,
            step,
            approval,
        })
    }
}

/// An EC2 instance as the instance function sees it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InstanceState {
    pub id: InstanceId,
    pub stack: Option<StackName>,
    pub role: Option<RoleName>,
    /// `pending`, `running`, `stopping`, `stopped`…
    pub state: String,
    pub instance_type: String,
    pub availability_zone: String,
    pub auto_scaling_group: Option<AutoScalingGroupName>,
    pub root_device: Option<String>,
    pub volumes: Vec<AttachedVolume>,
    pub last_remediation: Option<RemediationRecord>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AttachedVolume {
    /// As the instance's block device mapping names it: `/dev/xvda`, `/dev/sdf`.
    pub device: String,
    pub volume_id: VolumeId,
}

/// An EBS volume, for disk growth.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VolumeState {
    pub id: VolumeId,
    /// Its own `chainlink:stack` tag: a volume is grown only if it belongs to the stack, not
    /// merely because an instance of the stack has it attached.
    pub stack: Option<StackName>,
    pub size_gib: u32,
    /// A modification AWS has not finished (`modifying`, `optimizing`): another one is refused.
    pub modification_in_progress: bool,
}

/// An Auto Scaling group as the instance function sees it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupState {
    pub name: AutoScalingGroupName,
    pub stack: Option<StackName>,
    pub role: Option<RoleName>,
    /// Its launch template, or its mixed-instances policy's; `None` for a launch
    /// configuration: not resized here.
    pub launch_template: Option<LaunchTemplateRef>,
    /// The instance types its mixed-instances policy launches instead of the template's
    /// (empty without one). A resize sets exactly one.
    pub type_overrides: Vec<String>,
    pub availability_zones: Vec<String>,
    /// `(instance, lifecycle state)`.
    pub instances: Vec<(InstanceId, String)>,
    pub refresh_in_progress: bool,
    pub last_remediation: Option<RemediationRecord>,
}

impl GroupState {
    /// What it launches: its one type override, else its launch template version's type.
    /// `None` with several overrides (a fleet of types) or a template that sets no type.
    pub fn current_type(&self) -> Option<&str> {
        match self.type_overrides.as_slice() {
            [] => self
                .launch_template
                .as_ref()
                .and_then(|t| t.instance_type.as_deref()),
            [only] => Some(only),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LaunchTemplateRef {
    pub id: LaunchTemplateId,
    /// The template's own `chainlink:stack` tag: a group of the stack may point at a template
    /// of another, which a resize must then not touch.
    pub stack: Option<StackName>,
    /// The version number the group's `$Latest`/`$Default`/number resolves to.
    pub version: i64,
    /// What the group asks for (`$Latest`, `$Default` or a number), kept for reports.
    pub requested_version: String,
    pub instance_type: Option<String>,
}

/// What AWS says about the type a resize would move to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TypeCheck {
    pub instance_type: InstanceType,
    /// Offered in every Availability Zone the target runs in.
    pub offered: bool,
    pub architectures: Vec<String>,
    pub current_architectures: Vec<String>,
    /// Both types' sizes as AWS reports them (`None` when it does not): the ladder was checked
    /// offline against a catalog that may be older than the type.
    pub capacity: Option<Capacity>,
    pub current_capacity: Option<Capacity>,
}

/// What an alarm points at, re-read from AWS.
// One value per invocation: boxing the smaller variant would only complicate the matches.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    Instance {
        instance: InstanceState,
        group: Option<GroupState>,
    },
    Group {
        group: GroupState,
    },
}

impl Target {
    pub fn stack(&self) -> Option<&StackName> {
        match self {
            Self::Instance { instance, .. } => instance.stack.as_ref(),
            Self::Group { group } => group.stack.as_ref(),
        }
    }

    pub fn role(&self) -> Option<&RoleName> {
        match self {
            Self::Instance { instance, group } => instance
                .role
                .as_ref()
                .or_else(|| group.as_ref()?.role.as_ref()),
            Self::Group { group } => group.role.as_ref(),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Instance {
                instance,
                group: Some(group),
            } => write!(f, "instance {} of group {}", instance.id, group.name),
            Self::Instance { instance, .. } => write!(f, "instance {}", instance.id),
            Self::Group { group } => write!(f, "group {}", group.name),
        }
    }
}

/// Everything `observe_target` found, for the planner.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Observation {
    pub target: Target,
    /// The volume behind the alarm's filesystem, for disk growth.
    pub volume: Option<VolumeState>,
    /// The type one step up the ladder, when a resize is possible.
    pub next_type: Option<TypeCheck>,
    /// Every remediation recorded on the stack's instances and groups.
    pub history: Vec<RemediationRecord>,
}
