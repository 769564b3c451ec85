//! The pure planner for the database's alarm remediations: (stack file, alarm, observed DB
//! instance, history, now) → what to change, or why nothing. No AWS, no clock.
//!
//! AWS's own rules are planned for, never discovered by calling: a storage increase of at
//! least 10 %, none within six hours of the last storage change nor while storage is being
//! optimized ("Increasing DB instance storage capacity"), and `ApplyImmediately` applying every
//! pending modification with the change. Whether a change of the autoscaling ceiling alone
//! counts as a storage change for the six-hour rule AWS does not say; it is treated as one.

use super::class::DbInstanceClass;
use super::observed::{ObservedDatabase, PendingModifications, AVAILABLE, STORAGE_OPTIMIZATION};
use crate::ids::{DbInstanceArn, DbInstanceId, StackName, ROLE_TAG, STACK_TAG};
use crate::instances::plan::{
    check_cooldown_of, check_hourly_limit, check_incident, started_record,
};
use crate::instances::{Decision, RecordOutcome, RemediationRecord};
use crate::signal::AlarmNotice;
use crate::stack::MIN_STORAGE_STEP_PERCENT;
use crate::stack::{DatabasePolicy, InstancePolicy, PendingPolicy, Remediation};
use chainlink::Finding;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::Serialize;

/// AWS refuses a storage change this soon after the last one.
pub const STORAGE_CHANGE_INTERVAL_HOURS: i64 = 6;

/// When a class change takes effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplyTiming {
    /// `ApplyImmediately`: a Multi-AZ failover (one to two minutes), or a single-AZ restart
    /// when the stack file allows downtime.
    Immediately,
    /// In the instance's next maintenance window.
    MaintenanceWindow,
}

/// What the apply step re-reads and compares before its call: a stale plan (the class or the
/// storage changed, a modification appeared) is not sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Precondition {
    pub class: String,
    pub allocated_storage_gib: u32,
    pub max_allocated_storage_gib: Option<u32>,
    /// Always `available`.
    pub status: String,
    /// The pending modifications the plan was made with: none, unless the stack file applies
    /// them with the change.
    pub pending: PendingModifications,
}

impl Precondition {
    fn of(database: &ObservedDatabase) -> Self {
        Self {
            class: database.class.clone(),
            allocated_storage_gib: database.allocated_storage_gib,
            max_allocated_storage_gib: database.max_allocated_storage_gib,
            status: AVAILABLE.to_string(),
            pending: database.pending.clone(),
        }
    }

    /// `Err` says what changed since the plan.
    pub fn check(&self, now: &ObservedDatabase) -> Result<(), String> {
        let mut changed = Vec::new();
        if now.class != self.class {
            changed.push(format!("class {} (planned with {})", now.class, self.class));
        }
        if now.allocated_storage_gib != self.allocated_storage_gib {
            changed.push(format!(
                "allocated storage {} GiB (planned with {} GiB)",
                now.allocated_storage_gib, self.allocated_storage_gib
            ));
        }
        if now.max_allocated_storage_gib != self.max_allocated_storage_gib {
            changed.push(format!(
                "storage ceiling {} (planned with {})",
                gib_or_off(now.max_allocated_storage_gib),
                gib_or_off(self.max_allocated_storage_gib)
            ));
        }
        if now.status != self.status {
            changed.push(format!("status {} (not {})", now.status, self.status));
        }
        if now.pending != self.pending {
            changed.push(format!(
                "pending modifications: {} (planned with: {})",
                now.pending, self.pending
            ));
        }
        if changed.is_empty() {
            return Ok(());
        }
        Err(format!(
            "{now} changed since the plan: {}; nothing is sent",
            changed.join("; ")
        ))
    }
}

pub(super) fn gib_or_off(gib: Option<u32>) -> String {
    gib.map_or_else(|| "off".to_string(), |g| format!("{g} GiB"))
}

/// One step of a database remediation, in execution order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum DatabaseAction {
    /// Tag the DB instance with this remediation first (once per incident, the cooldown).
    RecordRemediation {
        database: DbInstanceId,
        arn: DbInstanceArn,
        record: String,
    },
    /// `ModifyDBInstance` `AllocatedStorage`, applied immediately.
    GrowStorage {
        database: DbInstanceId,
        from_gib: u32,
        to_gib: u32,
        precondition: Precondition,
    },
    /// `ModifyDBInstance` `MaxAllocatedStorage` (turning storage autoscaling on when `from_gib`
    /// is `None`), applied immediately.
    RaiseStorageCeiling {
        database: DbInstanceId,
        from_gib: Option<u32>,
        to_gib: u32,
        precondition: Precondition,
    },
    /// `ModifyDBInstance` `DBInstanceClass`, with `ApplyImmediately` as `apply` says.
    ScaleClass {
        database: DbInstanceId,
        from: String,
        to: DbInstanceClass,
        apply: ApplyTiming,
        multi_az: bool,
        maintenance_window: Option<String>,
        precondition: Precondition,
    },
}

impl DatabaseAction {
    /// The action's name, as in the JSON report and the remediation tag's `step=`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::RecordRemediation { .. } => "record_remediation",
            Self::GrowStorage { .. } => "grow_storage",
            Self::RaiseStorageCeiling { .. } => "raise_storage_ceiling",
            Self::ScaleClass { .. } => "scale_class",
        }
    }

    /// The DB instance the step acts on.
    pub fn database(&self) -> &DbInstanceId {
        match self {
            Self::RecordRemediation { database, .. }
            | Self::GrowStorage { database, .. }
            | Self::RaiseStorageCeiling { database, .. }
            | Self::ScaleClass { database, .. } => database,
        }
    }

    /// What the apply step re-checks before its call; `None` for the tag.
    pub fn precondition(&self) -> Option<&Precondition> {
        match self {
            Self::RecordRemediation { .. } => None,
            Self::GrowStorage { precondition, .. }
            | Self::RaiseStorageCeiling { precondition, .. }
            | Self::ScaleClass { precondition, .. } => Some(precondition),
        }
    }

    /// Whether the call is sent with `ApplyImmediately`, which applies every pending
    /// modification too.
    pub fn applies_immediately(&self) -> bool {
        match self {
            Self::RecordRemediation { .. } => false,
            Self::GrowStorage { .. } | Self::RaiseStorageCeiling { .. } => true,
            Self::ScaleClass { apply, .. } => *apply == ApplyTiming::Immediately,
        }
    }
}

/// What the database planner decided for one alarm.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DatabasePlan {
    pub alarm: String,
    pub incident: String,
    pub remediation: Remediation,
    pub database: DbInstanceId,
    pub decision: Decision,
    pub actions: Vec<DatabaseAction>,
    /// For a connections alarm: the nodes' pools against the limit.
    pub findings: Vec<Finding>,
}

impl DatabasePlan {
    /// What a person approves: the remediation, the DB instance and its steps (with the
    /// state each expects) but the record, whose time changes on every run.
    pub fn approval_digest(&self) -> String {
        let steps: Vec<&DatabaseAction> = self
            .actions
            .iter()
            .filter(|a| !matches!(a, DatabaseAction::RecordRemediation { .. }))
            .collect();
        crate::approvals::plan_digest(&(self.remediation, &self.database, steps))
    }
}

/// Everything the planner looks at.
#[derive(Clone, Copy, Debug)]
pub struct DatabaseInputs<'a> {
    pub policy: &'a DatabasePolicy,
    /// The cooldown and the per-stack hourly limit (`[instances]`).
    pub limits: &'a InstancePolicy,
    pub notice: &'a AlarmNotice,
    pub remediation: Remediation,
    /// The stack the checked alarm belongs to.
    pub stack: &'a StackName,
    pub database: &'a ObservedDatabase,
    /// Every remediation recorded on the stack's DB instances.
    pub history: &'a [RemediationRecord],
    /// For `report_connections`: the finding the caller built with
    /// `checks::connections_finding` (`None`: the pools or the limit are unknown).
    pub connections: Option<&'a Finding>,
    pub now: DateTime<Utc>,
}

pub fn plan_database_remediation(inputs: DatabaseInputs<'_>) -> DatabasePlan {
    let incident = inputs.notice.incident();
    let (decision, actions) = match decide(&inputs, &incident) {
        Ok(actions) => (Decision::Act, actions),
        Err(decision) => (decision, Vec::new()),
    };
    let findings = match inputs.remediation {
        Remediation::ReportConnections => inputs.connections.cloned().into_iter().collect(),
        _ => Vec::new(),
    };
    DatabasePlan {
        alarm: inputs.notice.name.clone(),
        incident,
        remediation: inputs.remediation,
        database: inputs.database.id.clone(),
        decision,
        actions,
        findings,
    }
}

fn at(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn decide(inputs: &DatabaseInputs<'_>, incident: &str) -> Result<Vec<DatabaseAction>, Decision> {
    let database = inputs.database;
    check_owned(inputs)?;
    check_incident(inputs.history, incident)?;
    if let (Some(cluster), true) = (&database.cluster, inputs.remediation.changes_database()) {
        return Err(Decision::Refused(format!(
            "{database} is a member of Aurora cluster {}: Aurora's storage grows by itself, and a member's class change is a failover within its cluster, which the engine leaves to a person (Aurora is observed and checked only)",
            cluster.id
        )));
    }
    match inputs.remediation {
        Remediation::ReportConnections => {
            return Err(Decision::NoAction(match inputs.connections {
                Some(_) => "a connections alarm changes nothing on the database: the finding compares the nodes' pools with its limit".to_string(),
                None => "a connections alarm changes nothing on the database; the nodes' pools or the database's limit are unknown, so they are not compared".to_string(),
            }))
        }
        Remediation::GrowStorage | Remediation::ScaleClass => {}
        other => {
            return Err(Decision::Refused(format!(
                "{} is a remediation of an instance, not of {database}",
                other.as_str()
            )))
        }
    }
    check_cooldown(inputs)?;
    if inputs.remediation == Remediation::GrowStorage {
        check_storage_window(inputs)?;
    }
    if database.status != AVAILABLE {
        return Err(Decision::NoAction(format!(
            "{database} is {}, not {AVAILABLE}: someone or something else is changing it",
            database.status
        )));
    }
    let change = match inputs.remediation {
        Remediation::GrowStorage => plan_storage(inputs)?,
        _ => plan_class(inputs)?,
    };
    check_pending(inputs, &change)?;
    Ok(vec![record(inputs), change])
}

/// The DB instance carries the stack tag of the alarm's stack and the database's role.
fn check_owned(inputs: &DatabaseInputs<'_>) -> Result<(), Decision> {
    let database = inputs.database;
    match database.stack() {
        Some(stack) if stack == *inputs.stack => {}
        Some(other) => {
            return Err(Decision::Refused(format!(
                "{database} carries {STACK_TAG} = {other}: it is not changed on behalf of stack {}",
                inputs.stack
            )))
        }
        None => {
            return Err(Decision::Refused(format!(
                "{database} carries no {STACK_TAG} tag: it is not changed on behalf of stack {}",
                inputs.stack
            )))
        }
    }
    if database.role().as_ref() != Some(&inputs.policy.role) {
        return Err(Decision::Refused(format!(
            "{database} does not carry {ROLE_TAG} = {} (database.role): it is not the stack's database",
            inputs.policy.role
        )));
    }
    Ok(())
}

fn check_cooldown(inputs: &DatabaseInputs<'_>) -> Result<(), Decision> {
    check_cooldown_of(
        inputs.limits,
        inputs.now,
        &inputs.database.to_string(),
        inputs.database.last_remediation().as_ref(),
    )
}

/// The last storage change: the one AWS's events report, or a storage remediation of ours.
fn last_storage_change(inputs: &DatabaseInputs<'_>) -> Option<DateTime<Utc>> {
    let ours = inputs
        .database
        .last_remediation()
        .into_iter()
        .chain(inputs.history.iter().cloned())
        .filter(|r| {
            r.remediation == Remediation::GrowStorage && r.outcome != RecordOutcome::RolledBack
        })
        .map(|r| r.at);
    inputs
        .database
        .storage_modified_at
        .into_iter()
        .chain(ours)
        .max()
}

fn check_storage_window(inputs: &DatabaseInputs<'_>) -> Result<(), Decision> {
    let database = inputs.database;
    let earliest = last_storage_change(inputs)
        .map(|last| (last, last + Duration::hours(STORAGE_CHANGE_INTERVAL_HOURS)));
    if database.status == STORAGE_OPTIMIZATION {
        let not_before = match earliest {
            Some((_, possible)) if possible > inputs.now => {
                format!(", and not before {}", at(possible))
            }
            _ => String::new(),
        };
        return Err(Decision::Refused(format!(
            "{database} is optimizing its storage after the last change: AWS accepts another storage change once the optimization finishes (it can take hours){not_before}"
        )));
    }
    match earliest {
        Some((last, possible)) if inputs.now < possible => Err(Decision::Refused(format!(
            "{database}'s storage was last changed at {}: AWS refuses another storage change within {STORAGE_CHANGE_INTERVAL_HOURS} hours; possible from {}",
            at(last),
            at(possible)
        ))),
        _ => Ok(()),
    }
}

/// `current` grown by the declared step, at least 10 %, rounded up to a whole GiB.
fn grown(current: u32, step_percent: u32) -> u64 {
    let step = step_percent.max(MIN_STORAGE_STEP_PERCENT);
    u64::from(current) + (u64::from(current) * u64::from(step)).div_ceil(100).max(1)
}

/// The least AWS accepts above `current`: 10 % more, rounded up.
fn minimum_above(current: u32) -> u64 {
    u64::from(current) + (u64::from(current) * u64::from(MIN_STORAGE_STEP_PERCENT)).div_ceil(100)
}

fn plan_storage(inputs: &DatabaseInputs<'_>) -> Result<DatabaseAction, Decision> {
    let database = inputs.database;
    let policy = inputs.policy;
    let cap = u64::from(policy.storage_max_gib);
    let allocated = database.allocated_storage_gib;
    let precondition = Precondition::of(database);
    if policy.prefer_autoscaling_ceiling {
        let ceiling = database.max_allocated_storage_gib;
        // Autoscaling grows by at least 10 GiB or 10 %: with that much room, it acts itself.
        let room = (u64::from(allocated) * 10).div_ceil(100).max(10);
        if let Some(ceiling) = ceiling.filter(|c| u64::from(*c) >= u64::from(allocated) + room) {
            return Err(Decision::NoAction(format!(
                "{database} autoscales its storage up to {ceiling} GiB ({allocated} GiB allocated): RDS grows it when free space falls to 10 %"
            )));
        }
        let base = ceiling.unwrap_or(allocated).max(allocated);
        let to = grown(base, policy.storage_step_percent)
            .max(minimum_above(allocated))
            .min(cap);
        if to < minimum_above(allocated) || to <= u64::from(base) {
            return Err(Decision::Refused(format!(
                "{database}'s storage ceiling is {}, and the cap is {cap} GiB (database.storage_max_gib): a ceiling AWS accepts (10 % over the {allocated} GiB allocated) would pass it; the database needs a person",
                gib_or_off(ceiling)
            )));
        }
        return Ok(DatabaseAction::RaiseStorageCeiling {
            database: database.id.clone(),
            from_gib: ceiling,
            to_gib: u32::try_from(to).unwrap_or(policy.storage_max_gib),
            precondition,
        });
    }
    let to = grown(allocated, policy.storage_step_percent).min(cap);
    if to < minimum_above(allocated) {
        return Err(Decision::Refused(format!(
            "{database} has {allocated} GiB, and the cap is {cap} GiB (database.storage_max_gib): AWS requires a growth of at least 10 % ({} GiB), which would pass it; the database needs a person",
            minimum_above(allocated)
        )));
    }
    Ok(DatabaseAction::GrowStorage {
        database: database.id.clone(),
        from_gib: allocated,
        to_gib: u32::try_from(to).unwrap_or(policy.storage_max_gib),
        precondition,
    })
}

fn plan_class(inputs: &DatabaseInputs<'_>) -> Result<DatabaseAction, Decision> {
    let database = inputs.database;
    let policy = inputs.policy;
    let ladder = || {
        policy
            .ladder
            .iter()
            .map(DbInstanceClass::as_str)
            .collect::<Vec<_>>()
            .join(" → ")
    };
    if policy.ladder.is_empty() {
        return Err(Decision::Refused(
            "no class ladder is declared (database.ladder)".into(),
        ));
    }
    if !policy.ladder.iter().any(|c| *c == *database.class) {
        return Err(Decision::Refused(format!(
            "{database} is a {}, which is not on the ladder ({}): change its class by hand",
            database.class,
            ladder()
        )));
    }
    let next = policy.next_class(&database.class).ok_or_else(|| {
        Decision::Refused(format!(
            "{} is the top of the ladder ({}): {database} needs a person",
            database.class,
            ladder()
        ))
    })?;
    if database.pending.class.as_deref() == Some(next.as_str()) {
        return Err(Decision::NoAction(format!(
            "{database}'s change to {next} is already pending: it takes effect in the maintenance window ({})",
            database.maintenance_window.as_deref().unwrap_or("unknown")
        )));
    }
    check_scale_limit(inputs)?;
    let apply = if database.multi_az || policy.allow_downtime {
        ApplyTiming::Immediately
    } else {
        ApplyTiming::MaintenanceWindow
    };
    Ok(DatabaseAction::ScaleClass {
        database: database.id.clone(),
        from: database.class.clone(),
        to: next.clone(),
        apply,
        multi_az: database.multi_az,
        maintenance_window: database.maintenance_window.clone(),
        precondition: Precondition::of(database),
    })
}

/// Class changes of the stack's database within the last hour count against the stack's
/// hourly resize limit (`instances.max_resizes_per_hour`), rolled back ones included.
fn check_scale_limit(inputs: &DatabaseInputs<'_>) -> Result<(), Decision> {
    check_hourly_limit(
        inputs.limits,
        inputs.history,
        Remediation::ScaleClass,
        inputs.now,
        "class change(s) of the stack's database",
    )
}

/// A change sent with `ApplyImmediately` applies the pending modifications too: never
/// silently. Scheduled for the window, it joins them, and one of the same field is replaced.
fn check_pending(inputs: &DatabaseInputs<'_>, change: &DatabaseAction) -> Result<(), Decision> {
    let database = inputs.database;
    if database.pending.is_empty() {
        return Ok(());
    }
    if let DatabaseAction::GrowStorage { to_gib, .. } = change {
        if database
            .pending
            .allocated_storage_gib
            .is_some_and(|pending| pending >= *to_gib)
        {
            return Err(Decision::NoAction(format!(
                "{database}'s growth to {} GiB is already pending",
                database.pending.allocated_storage_gib.unwrap_or_default()
            )));
        }
    }
    match inputs.policy.pending_modifications {
        PendingPolicy::ApplyWith => Ok(()),
        PendingPolicy::Refuse => Err(Decision::Refused(format!(
            "{database} has pending modifications ({}): {}; the stack file leaves them to a person (database.pending_modifications = \"refuse\")",
            database.pending,
            if change.applies_immediately() {
                "the change would apply them at once (ApplyImmediately)"
            } else {
                "the change would join them in the maintenance window"
            }
        ))),
    }
}

fn record(inputs: &DatabaseInputs<'_>) -> DatabaseAction {
    DatabaseAction::RecordRemediation {
        database: inputs.database.id.clone(),
        arn: inputs.database.arn.clone(),
        record: started_record(inputs.remediation, inputs.now, inputs.notice),
    }
}
