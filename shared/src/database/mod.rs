//! The stack's RDS database as the engine reads and repairs it. The parameter checks read it
//! (the node's database URL against the instance's endpoint, `rds.force_ssl` against its
//! `sslmode`, the connection limit CL-DB-011 compares the nodes' pools with); its CloudWatch
//! alarms are remediated here, as the `Databases` capability: the alarm the instance function
//! checked, the DB instance its dimension names (`observe`), the pure planner
//! (`domain::database::plan`), and `ModifyDBInstance` after a re-read of the precondition
//! (`apply`).

pub(crate) mod apply;
mod connections;
pub(crate) mod observe;

use crate::approvals::Approvable;
use crate::capability::{Capability, Context};
use crate::instances::alarm::checked_alarm;
use chainlink::Finding;
use connections::pools_against_limit;
use domain::database::{
    plan_database_remediation, DatabaseAction, DatabaseInputs, DatabasePlan, DatabaseReport,
    ObservedDatabase,
};
use domain::ids::{DbInstanceId, StackName, STACK_TAG};
use domain::instances::{RemediationRecord, REMEDIATION_TAG};
use domain::outcome::ActionOutcome;
use domain::report::Section;
use domain::signal::{AlarmNotice, Signal, SignalKind};
use domain::stack::{DatabasePolicy, InstancePolicy, Remediation};
use domain::Error;

/// The dimension of RDS's per-instance metrics.
const DB_INSTANCE_DIMENSION: &str = "DBInstanceIdentifier";

#[derive(Debug)]
pub(crate) struct Databases;

/// A checked alarm that calls for a remediation of the database.
#[derive(Clone, Debug)]
pub(crate) struct DatabaseAlarm {
    notice: AlarmNotice,
    remediation: Remediation,
    stack: StackName,
    database: DbInstanceId,
    policy: DatabasePolicy,
    /// The cooldown and the per-stack hourly limit (`[instances]`).
    limits: InstancePolicy,
}

/// The alarm's DB instance as read, and every remediation recorded on the stack's DB instances.
#[derive(Debug)]
pub(crate) struct ObservedDatabaseAlarm {
    alarm: DatabaseAlarm,
    database: ObservedDatabase,
    history: Vec<RemediationRecord>,
    /// For a connections alarm: the nodes' pools against the database's limit.
    connections: Option<Finding>,
}

impl Capability for Databases {
    type Scope = DatabaseAlarm;
    type Observed = ObservedDatabaseAlarm;
    type Plan = DatabasePlan;

    async fn scopes(
        &self,
        cx: &Context<'_>,
        signal: &Signal,
        skipped: &mut Vec<String>,
    ) -> Result<Vec<DatabaseAlarm>, Error> {
        let SignalKind::AlarmFired(notice) = &signal.kind else {
            return Ok(Vec::new());
        };
        // Without [[alarms]], or for an alarm that is left, the instance capability has
        // already said why.
        let Some(limits) = &cx.file.instances else {
            return Ok(Vec::new());
        };
        let Ok(checked) = checked_alarm(cx, notice, limits).await? else {
            return Ok(Vec::new());
        };
        if !checked.remediation.is_database() {
            return Ok(Vec::new());
        }
        let Some(policy) = &cx.file.database else {
            skipped.push(format!(
                "alarm {}: {} acts on the stack's database, and the stack file declares no [database]",
                notice.name,
                checked.remediation.as_str()
            ));
            return Ok(Vec::new());
        };
        let Some(database) = alarmed_database(&checked.notice) else {
            skipped.push(format!(
                "alarm {}: it has no {DB_INSTANCE_DIMENSION} dimension: nothing to act on",
                notice.name
            ));
            return Ok(Vec::new());
        };
        Ok(vec![DatabaseAlarm {
            notice: checked.notice.clone(),
            remediation: checked.remediation,
            stack: checked.stack.clone(),
            database,
            policy: policy.clone(),
            limits: limits.clone(),
        }])
    }

    async fn observe(
        &self,
        cx: &Context<'_>,
        alarm: &DatabaseAlarm,
        skipped: &mut Vec<String>,
    ) -> Result<Vec<ObservedDatabaseAlarm>, Error> {
        let rds = &cx.clients.rds;
        let region = cx.databases.get(rds).await?;
        let Some((database, group)) = region.iter().find(|(db, _)| db.id == alarm.database) else {
            skipped.push(format!(
                "alarm {}: DB instance {} does not exist (deleted?)",
                alarm.notice.name, alarm.database
            ));
            return Ok(Vec::new());
        };
        let mut database = database.clone();
        let history = region
            .iter()
            .filter(|(db, _)| {
                db.tags.get(STACK_TAG).map(String::as_str) == Some(alarm.stack.as_str())
            })
            .filter_map(|(db, _)| db.tags.get(REMEDIATION_TAG))
            .filter_map(|value| RemediationRecord::parse(value))
            .collect();
        // Only a storage change is bound by the six-hour rule; the event history is read for
        // nothing else, and not for a DB instance the planner will refuse as another stack's.
        let owned = database.stack().as_ref() == Some(&alarm.stack);
        if alarm.remediation == Remediation::GrowStorage && owned {
            database.storage_modified_at =
                observe::last_storage_change(rds, &database.id, cx.now).await?;
        }
        let mut connections = None;
        if alarm.remediation == Remediation::ReportConnections && owned {
            let stack = &alarm.stack;
            match pools_against_limit(cx, stack, &mut database, group.as_deref()).await? {
                Ok(finding) => connections = Some(finding),
                Err(reason) => skipped.push(format!(
                    "alarm {}: the nodes' pools are not compared with the limit of DB instance {}: {reason}",
                    alarm.notice.name, alarm.database
                )),
            }
        }
        Ok(vec![ObservedDatabaseAlarm {
            alarm: alarm.clone(),
            database,
            history,
            connections,
        }])
    }

    fn plan(&self, cx: &Context<'_>, observed: &ObservedDatabaseAlarm) -> DatabasePlan {
        plan_database_remediation(DatabaseInputs {
            policy: &observed.alarm.policy,
            limits: &observed.alarm.limits,
            notice: &observed.alarm.notice,
            remediation: observed.alarm.remediation,
            stack: &observed.alarm.stack,
            database: &observed.database,
            history: &observed.history,
            connections: observed.connections.as_ref(),
            now: cx.now,
        })
    }

    fn action_count(plan: &DatabasePlan) -> usize {
        plan.actions.len()
    }

    fn approvable(
        &self,
        cx: &Context<'_>,
        observed: &ObservedDatabaseAlarm,
        plan: &DatabasePlan,
    ) -> Option<Approvable> {
        Some(Approvable {
            stack: observed.alarm.stack.clone(),
            subject: crate::instances::alarm_subject(&observed.alarm.notice, plan.remediation),
            target: format!("DB instance {}", plan.database),
            digest: plan.approval_digest(),
            waits: crate::instances::waits(cx, plan.remediation),
            used: crate::instances::used_approvals(cx, &observed.history),
        })
    }

    async fn apply(&self, cx: &Context<'_>, plan: &DatabasePlan) -> Vec<ActionOutcome> {
        let mut actions = plan.actions.clone();
        if let (Some(claim), Some(DatabaseAction::RecordRemediation { record, .. })) =
            (&cx.approval, actions.first_mut())
        {
            *record = RemediationRecord::approved(record, &claim.nonce);
        }
        apply::apply_database_actions(&cx.clients.rds, &actions).await
    }

    fn report(
        &self,
        _cx: &Context<'_>,
        observed: ObservedDatabaseAlarm,
        plan: DatabasePlan,
        outcomes: Vec<ActionOutcome>,
    ) -> (StackName, Section) {
        tracing::info!(
            alarm = %plan.alarm,
            incident = %plan.incident,
            remediation = plan.remediation.as_str(),
            database = %plan.database,
            decision = ?plan.decision,
            "database alarm planned"
        );
        (
            observed.alarm.stack,
            Section::Database(DatabaseReport::new(plan, outcomes)),
        )
    }
}

/// The DB instance the alarm's metric is about.
fn alarmed_database(notice: &AlarmNotice) -> Option<DbInstanceId> {
    notice
        .metrics
        .iter()
        .find_map(|metric| metric.dimensions.get(DB_INSTANCE_DIMENSION))
        .and_then(|id| DbInstanceId::parse(id))
}
