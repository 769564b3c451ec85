//! The instance part of a stack file: which CloudWatch alarms call for which remediation, each
//! role's resize ladder, and the limits that keep remediation to once per incident.

use super::raw::{RawAlarm, RawInstances};
use super::{check_step, glob_matches, Problems, RoleSpec};
use crate::ids::RoleName;
use crate::instance_type::{InstanceType, Spec, SOURCE};
use serde::Serialize;
use std::collections::BTreeMap;

/// What the instance function may do, and how often.
#[derive(Clone, Debug, Serialize)]
pub struct InstancePolicy {
    pub alarms: Vec<AlarmRule>,
    /// After a remediation, a resource is left alone this long: alarms flap, and a resize needs
    /// time to show its effect.
    pub cooldown_minutes: u32,
    /// Per stack, over the last hour, counted from the remediation tags.
    pub max_resizes_per_hour: usize,
    /// The instance refresh of an Auto Scaling group keeps this share of the group in service.
    pub min_healthy_percentage: u8,
    pub disk: DiskPolicy,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct DiskPolicy {
    /// Each growth adds this share of the current size, rounded up to a whole GiB.
    pub step_percent: u32,
    pub max_gib: u32,
}

impl DiskPolicy {
    /// The next size of a volume, or `None` at the cap.
    pub fn next_size(&self, current_gib: u32) -> Option<u32> {
        let step = (u64::from(current_gib) * u64::from(self.step_percent)).div_ceil(100);
        let next = (u64::from(current_gib) + step.max(1)).min(u64::from(self.max_gib));
        let next = u32::try_from(next).ok()?;
        (next > current_gib).then_some(next)
    }
}

/// One `[[alarms]]` entry: alarms it matches, and what to do when one fires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AlarmRule {
    pub matcher: AlarmMatcher,
    pub remediation: Remediation,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmMatcher {
    /// The alarm's name, `*` as a wildcard.
    Name(String),
    /// The alarm's metric: a namespace and a metric name, `*` as a wildcard in the name
    /// (`AWS/EC2 StatusCheckFailed*`).
    Metric { namespace: String, name: String },
}

impl AlarmMatcher {
    pub fn matches(&self, alarm_name: &str, metrics: &[(String, String)]) -> bool {
        match self {
            Self::Name(pattern) => glob_matches(pattern, alarm_name),
            Self::Metric { namespace, name } => metrics
                .iter()
                .any(|(ns, metric)| ns == namespace && glob_matches(name, metric)),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Remediation {
    /// One step up the role's ladder.
    Resize,
    /// Grow the EBS volume behind the alarm's filesystem, then extend the filesystem.
    GrowDisk,
    /// Replace an instance that fails its status checks.
    Replace,
    /// Grow the stack's database storage by `[database]`'s step (or raise its storage
    /// autoscaling ceiling), up to its cap.
    GrowStorage,
    /// One step up `[database]`'s class ladder.
    ScaleClass,
    /// No change: the database's connections against the nodes' pools, as a finding.
    ReportConnections,
}

impl Remediation {
    pub const ALL: [Self; 6] = [
        Self::Resize,
        Self::GrowDisk,
        Self::Replace,
        Self::GrowStorage,
        Self::ScaleClass,
        Self::ReportConnections,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Resize => "resize",
            Self::GrowDisk => "grow_disk",
            Self::Replace => "replace",
            Self::GrowStorage => "grow_storage",
            Self::ScaleClass => "scale_class",
            Self::ReportConnections => "report_connections",
        }
    }

    /// As the stack file and the remediation tag write it.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == raw)
    }

    /// A remediation of the stack's RDS database (`database::plan`), not of an instance.
    pub fn is_database(self) -> bool {
        matches!(
            self,
            Self::GrowStorage | Self::ScaleClass | Self::ReportConnections
        )
    }

    /// A remediation that changes a resource (every one but `report_connections`).
    pub fn changes_something(self) -> bool {
        self != Self::ReportConnections
    }

    /// A remediation that modifies the stack's database (not `report_connections`).
    pub fn changes_database(self) -> bool {
        matches!(self, Self::GrowStorage | Self::ScaleClass)
    }
}

impl InstancePolicy {
    /// The remediation for an alarm: the first matching rule wins.
    pub fn remediation_for(
        &self,
        alarm_name: &str,
        metrics: &[(String, String)],
    ) -> Option<Remediation> {
        self.alarms
            .iter()
            .find(|rule| rule.matcher.matches(alarm_name, metrics))
            .map(|rule| rule.remediation)
    }
}

pub(super) fn build_instances(
    raw: Option<&RawInstances>,
    alarms: &[RawAlarm],
    roles: &BTreeMap<RoleName, RoleSpec>,
    problems: &mut Problems,
) -> Option<InstancePolicy> {
    if raw.is_none() && alarms.is_empty() {
        return None;
    }
    let defaults = RawInstances::default();
    let raw = raw.unwrap_or(&defaults);
    let alarms: Vec<AlarmRule> = alarms
        .iter()
        .enumerate()
        .filter_map(|(i, alarm)| build_alarm(alarm, &format!("alarms[{i}]"), problems))
        .collect();
    let resizes = alarms.iter().any(|a| a.remediation == Remediation::Resize);
    if resizes && roles.values().all(|spec| spec.ladder.is_empty()) {
        problems.push(
            "alarms",
            "an alarm asks for a resize, but no role declares a ladder of instance types",
        );
    }
    let in_range = |field: &str, value: i64, min: i64, max: i64, unit: &str| {
        (min..=max)
            .contains(&value)
            .then_some(value)
            .ok_or_else(|| format!("{value} is out of range: {min} to {max} {unit}"))
            .map_err(|message| (field.to_string(), message))
    };
    let mut checked = |field: &str, value: i64, min: i64, max: i64, unit: &str| match in_range(
        field, value, min, max, unit,
    ) {
        Ok(value) => Some(value),
        Err((field, message)) => {
            problems.push(field, message);
            None
        }
    };
    let cooldown = checked(
        "instances.cooldown_minutes",
        raw.cooldown_minutes,
        0,
        7 * 24 * 60,
        "minutes",
    );
    let resizes_per_hour = checked(
        "instances.max_resizes_per_hour",
        raw.max_resizes_per_hour,
        1,
        100,
        "resizes",
    );
    let healthy = checked(
        "instances.min_healthy_percentage",
        raw.min_healthy_percentage,
        0,
        100,
        "percent",
    );
    let step = checked(
        "instances.disk_step_percent",
        raw.disk_step_percent,
        1,
        1000,
        "percent",
    );
    // io2 Block Express volumes reach 64 TiB; gp3 16 TiB.
    let max_gib = checked("instances.disk_max_gib", raw.disk_max_gib, 1, 65_536, "GiB");
    Some(InstancePolicy {
        alarms,
        cooldown_minutes: u32::try_from(cooldown?).ok()?,
        max_resizes_per_hour: usize::try_from(resizes_per_hour?).ok()?,
        min_healthy_percentage: u8::try_from(healthy?).ok()?,
        disk: DiskPolicy {
            step_percent: u32::try_from(step?).ok()?,
            max_gib: u32::try_from(max_gib?).ok()?,
        },
    })
}

fn build_alarm(raw: &RawAlarm, field: &str, problems: &mut Problems) -> Option<AlarmRule> {
    let remediation = Remediation::parse(&raw.remediation);
    if remediation.is_none() {
        let names: Vec<String> = Remediation::ALL
            .iter()
            .map(|r| format!("{:?}", r.as_str()))
            .collect();
        problems.push(
            format!("{field}.remediation"),
            format!(
                "{:?} is not a remediation: use one of {}",
                raw.remediation,
                names.join(", ")
            ),
        );
    }
    let matcher = match (&raw.name, &raw.metric) {
        (Some(name), None) if !name.trim().is_empty() => Some(AlarmMatcher::Name(name.clone())),
        (None, Some(metric)) => {
            let mut words = metric.split_whitespace();
            match (words.next(), words.next(), words.next()) {
                (Some(namespace), Some(name), None) => Some(AlarmMatcher::Metric {
                    namespace: namespace.to_string(),
                    name: name.to_string(),
                }),
                _ => {
                    problems.push(
                        format!("{field}.metric"),
                        format!("{metric:?} must be a namespace and a metric name, such as \"AWS/EC2 CPUUtilization\""),
                    );
                    None
                }
            }
        }
        _ => {
            problems.push(
                field,
                "must name either an alarm name pattern (name) or a metric (metric), not both",
            );
            None
        }
    };
    Some(AlarmRule {
        matcher: matcher?,
        remediation: remediation?,
    })
}

/// A ladder: known types, each strictly bigger than the one before, one architecture.
/// Returns the types and, separately, warnings that do not make the file invalid. A type newer
/// than the catalog cannot be sized here: it is a warning, the types around it are still
/// ordered, and AWS sizes it before a resize.
pub(super) fn build_ladder(
    raw: &[String],
    field: &str,
    production: bool,
    problems: &mut Problems,
    warnings: &mut Problems,
) -> Vec<InstanceType> {
    let types: Vec<InstanceType> = raw
        .iter()
        .enumerate()
        .filter_map(|(i, t)| problems.check(&format!("{field}[{i}]"), InstanceType::parse(t)))
        .collect();
    if types.len() != raw.len() {
        // The bad entries are reported; comparing the rest would only add noise.
        return types;
    }
    if types.len() == 1 {
        problems.push(
            field,
            "a ladder needs at least two instance types: there is nothing to resize to",
        );
    }
    for (i, t) in types.iter().enumerate().filter(|(_, t)| t.spec().is_none()) {
        warnings.push(
            format!("{field}[{i}]"),
            format!("{t} is not in {SOURCE} (a newer family, or a misspelt one): its size and architecture are not checked against its neighbours here; before resizing to it, the engine asks AWS whether it exists, is offered, shares the architecture and is bigger"),
        );
    }
    // Each sized type against the next sized one: a type outside the catalog is passed over,
    // not a break in the order.
    let sized: Vec<(usize, &InstanceType, &Spec)> = types
        .iter()
        .enumerate()
        .filter_map(|(i, t)| Some((i, t, t.spec()?)))
        .collect();
    for pair in sized.windows(2) {
        let ((_, lower, lower_spec), (i, upper, upper_spec)) = (pair[0], pair[1]);
        check_step(
            &format!("{field}[{i}]"),
            (lower, lower_spec.capacity()),
            (upper, upper_spec.capacity()),
            problems,
        );
        if lower.shares_architecture(upper) == Some(false) {
            problems.push(
                format!("{field}[{i}]"),
                format!(
                    "{lower} and {upper} have different architectures: the node's binaries would not run"
                ),
            );
        }
    }
    if production {
        for (i, t) in types.iter().enumerate().filter(|(_, t)| t.is_burstable()) {
            warnings.push(
                format!("{field}[{i}]"),
                format!("{t} is burstable (T family): Chainlink advises against burstable instances for production nodes, which run out of CPU credits under sustained load"),
            );
        }
    }
    types
}
