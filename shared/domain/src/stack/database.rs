//! The database part of a stack file: which RDS DB instance is the stack's (by its role tag),
//! which host names stand for it in the node's database URL, and what its alarm remediations
//! may do (the class ladder, the storage step and cap, downtime, pending modifications). The
//! alarm rules themselves are `[[alarms]]` entries with a database remediation; their checks
//! live here too.

use super::{check_step, Problems};
use crate::database::class::DbInstanceClass;
use crate::ids::RoleName;
use crate::stack::Remediation;
use chainlink::HostPattern;
use serde::{Deserialize, Serialize};

/// The namespace of RDS's CloudWatch metrics.
pub const RDS_NAMESPACE: &str = "AWS/RDS";

/// AWS refuses a storage increase of less than 10 % ("Increasing DB instance storage
/// capacity"), and a storage-autoscaling ceiling less than 10 % above the allocated storage.
pub const MIN_STORAGE_STEP_PERCENT: u32 = 10;

/// The largest RDS for PostgreSQL storage (64 TiB).
const MAX_STORAGE_GIB: i64 = 65_536;
/// The smallest gp2/gp3 RDS for PostgreSQL storage.
const MIN_STORAGE_GIB: i64 = 20;

/// `[database]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDatabase {
    /// The `chainlink:role` tag of the stack's DB instance.
    #[serde(default = "default_role")]
    pub role: String,
    /// Host names the node's URL may use instead of the endpoint (a proxy, a CNAME).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// DB instance classes, smallest first.
    #[serde(default)]
    pub ladder: Vec<String>,
    #[serde(default = "default_step")]
    pub storage_step_percent: i64,
    #[serde(default = "default_max_gib")]
    pub storage_max_gib: i64,
    #[serde(default)]
    pub prefer_autoscaling_ceiling: bool,
    #[serde(default)]
    pub allow_downtime: bool,
    #[serde(default = "default_pending")]
    pub pending_modifications: String,
}

fn default_role() -> String {
    "db".into()
}

fn default_step() -> i64 {
    20
}

fn default_max_gib() -> i64 {
    1000
}

fn default_pending() -> String {
    "refuse".into()
}

/// What the engine may do to the stack's database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatabasePolicy {
    /// The role tag that marks the stack's DB instance (`db` by default).
    pub role: RoleName,
    /// Names accepted, besides the endpoint, as the host of the node's database URL.
    pub hosts: Vec<HostPattern>,
    /// Classes, smallest first; empty: the class is never changed.
    pub ladder: Vec<DbInstanceClass>,
    /// Each storage growth adds this share of the allocated storage (at least 10 %), rounded
    /// up to a whole GiB.
    pub storage_step_percent: u32,
    /// Neither the allocated storage nor the autoscaling ceiling is raised past this.
    pub storage_max_gib: u32,
    /// Grow storage by raising the storage-autoscaling ceiling (`MaxAllocatedStorage`) rather
    /// than the allocated storage.
    pub prefer_autoscaling_ceiling: bool,
    /// A single-AZ instance's class change is applied at once (minutes of downtime) rather
    /// than in the maintenance window.
    pub allow_downtime: bool,
    pub pending_modifications: PendingPolicy,
}

/// What to do when a modification is already pending: a change sent with `ApplyImmediately`
/// applies every pending one too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PendingPolicy {
    /// Leave the database to a person (the default).
    Refuse,
    /// Act, and apply the pending modifications with the change, saying so.
    ApplyWith,
}

impl DatabasePolicy {
    /// The class one step up from `current`: `None` at the top or off the ladder.
    pub fn next_class(&self, current: &str) -> Option<&DbInstanceClass> {
        let at = self.ladder.iter().position(|c| c == current)?;
        self.ladder.get(at + 1)
    }
}

pub(super) fn build_database(
    raw: &RawDatabase,
    production: bool,
    problems: &mut Problems,
    warnings: &mut Problems,
) -> Option<DatabasePolicy> {
    let role = problems.check(
        "database.role",
        RoleName::parse(&raw.role).ok_or_else(|| format!("{:?} is not a role name", raw.role)),
    );
    let hosts: Vec<HostPattern> = raw
        .hosts
        .iter()
        .enumerate()
        .filter_map(|(i, host)| {
            problems.check(
                &format!("database.hosts[{i}]"),
                host.parse::<HostPattern>().map_err(|e| e.to_string()),
            )
        })
        .collect();
    let ladder = build_class_ladder(&raw.ladder, production, problems, warnings);
    let step = problems.check(
        "database.storage_step_percent",
        u32::try_from(raw.storage_step_percent)
            .ok()
            .filter(|p| (MIN_STORAGE_STEP_PERCENT..=1000).contains(p))
            .ok_or_else(|| {
                format!(
                    "{} is out of range: 10 to 1000 percent (AWS refuses a storage increase of less than 10 %)",
                    raw.storage_step_percent
                )
            }),
    );
    let max_gib = problems.check(
        "database.storage_max_gib",
        (MIN_STORAGE_GIB..=MAX_STORAGE_GIB)
            .contains(&raw.storage_max_gib)
            .then(|| u32::try_from(raw.storage_max_gib).ok())
            .flatten()
            .ok_or_else(|| {
                format!(
                    "{} is out of range: {MIN_STORAGE_GIB} to {MAX_STORAGE_GIB} GiB",
                    raw.storage_max_gib
                )
            }),
    );
    let pending = problems.check(
        "database.pending_modifications",
        match raw.pending_modifications.as_str() {
            "refuse" => Ok(PendingPolicy::Refuse),
            "apply_with" => Ok(PendingPolicy::ApplyWith),
            other => Err(format!(
                "{other:?} is not a choice: use \"refuse\" or \"apply_with\""
            )),
        },
    );
    Some(DatabasePolicy {
        role: role?,
        hosts,
        ladder,
        storage_step_percent: step?,
        storage_max_gib: max_gib?,
        prefer_autoscaling_ceiling: raw.prefer_autoscaling_ceiling,
        allow_downtime: raw.allow_downtime,
        pending_modifications: pending?,
    })
}

/// Known classes, each a step up from the one before: more vCPUs or memory, no less of either.
fn build_class_ladder(
    raw: &[String],
    production: bool,
    problems: &mut Problems,
    warnings: &mut Problems,
) -> Vec<DbInstanceClass> {
    let field = "database.ladder";
    let classes: Vec<DbInstanceClass> = raw
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            problems.check(
                &format!("{field}[{i}]"),
                DbInstanceClass::parse(c).map_err(|e| e.to_string()),
            )
        })
        .collect();
    if classes.len() != raw.len() {
        return classes;
    }
    if classes.len() == 1 {
        problems.push(
            field,
            "a ladder needs at least two classes: there is nothing to scale to",
        );
    }
    for (i, pair) in classes.windows(2).enumerate() {
        let (lower, upper) = (&pair[0], &pair[1]);
        check_step(
            &format!("{field}[{}]", i + 1),
            (lower, lower.spec().capacity()),
            (upper, upper.spec().capacity()),
            problems,
        );
    }
    if production {
        for (i, class) in classes.iter().enumerate().filter(|(_, c)| c.is_burstable()) {
            warnings.push(
                format!("{field}[{i}]"),
                format!("{class} is burstable: under sustained load it runs out of CPU credits"),
            );
        }
    }
    classes
}

/// Which remediation suits an RDS metric; `None` for a metric without one.
fn remediation_of(metric: &str) -> Option<Remediation> {
    match metric {
        "FreeStorageSpace" => Some(Remediation::GrowStorage),
        "CPUUtilization" | "FreeableMemory" => Some(Remediation::ScaleClass),
        "DatabaseConnections" => Some(Remediation::ReportConnections),
        _ => None,
    }
}

/// The `[[alarms]]` entries of the database: a database remediation needs `[database]` (and
/// a ladder to scale the class), its metric must be one of RDS's, and a known RDS metric must
/// call for the remediation that helps it. Read from the raw entries, so each problem names the
/// entry as written (`(metric, remediation)` of each, in order); an entry invalid for other
/// reasons is reported by `build_alarm`.
pub(super) fn check_database_alarms(
    alarms: &[(Option<&str>, &str)],
    database: Option<&DatabasePolicy>,
    database_declared: bool,
    problems: &mut Problems,
) {
    for (i, &(metric, remediation)) in alarms.iter().enumerate() {
        let Some(remediation) = Remediation::parse(remediation) else {
            continue;
        };
        let field = format!("alarms[{i}]");
        if remediation.is_database() && !database_declared {
            problems.push(
                format!("{field}.remediation"),
                format!(
                    "{} acts on the stack's database: declare [database]",
                    remediation.as_str()
                ),
            );
        }
        if remediation == Remediation::ScaleClass && database.is_some_and(|db| db.ladder.is_empty())
        {
            problems.push(
                format!("{field}.remediation"),
                "scale_class needs a class ladder: declare database.ladder",
            );
        }
        let metric = metric.map(str::split_whitespace);
        let Some((namespace, name)) =
            metric.and_then(|mut words| Some((words.next()?, words.next()?)))
        else {
            continue;
        };
        match (remediation.is_database(), namespace == RDS_NAMESPACE) {
            (true, false) => problems.push(
                format!("{field}.metric"),
                format!(
                    "{} acts on the database: its alarms watch {RDS_NAMESPACE} metrics, not {namespace}",
                    remediation.as_str()
                ),
            ),
            (false, true) => problems.push(
                format!("{field}.remediation"),
                format!(
                    "{RDS_NAMESPACE} metrics are the database's: use grow_storage, scale_class or report_connections, not {}",
                    remediation.as_str()
                ),
            ),
            (true, true) => match remediation_of(name) {
                Some(fits) if fits != remediation => problems.push(
                    format!("{field}.remediation"),
                    format!(
                        "{name} calls for {}, not {}",
                        fits.as_str(),
                        remediation.as_str()
                    ),
                ),
                _ => {}
            },
            (false, false) => {}
        }
    }
}
