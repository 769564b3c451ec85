//! An alarm's target in AWS: the instance or Auto Scaling group, its history, volume and the
//! type a resize would move to (`observe`), and the remediation's steps carried out (`apply`).
//! The model, the planner and the report section are `domain::instances`.

pub mod alarm;
pub mod apply;
pub mod observe;

use crate::approvals::Approvable;
use crate::capability::{Capability, Context};
use alarm::checked_alarm;
use apply::apply_instance_actions;
use domain::approvals::Subject;
use domain::ids::StackName;
use domain::instances::{
    plan_remediation, InstanceAction, InstancePlan, Observation, RemediationInputs,
    RemediationRecord,
};
use domain::outcome::ActionOutcome;
use domain::report::{InstanceReport, Section};
use domain::signal::{AlarmNotice, Signal, SignalKind};
use domain::stack::{InstancePolicy, Remediation};
use domain::Error;
use observe::{observe_target, InstanceClients};

#[derive(Debug)]
pub(crate) struct Instances;

/// An alarm, and the stack file's rule for it.
#[derive(Clone, Debug)]
pub(crate) struct AlarmScope {
    notice: AlarmNotice,
    remediation: Remediation,
    policy: InstancePolicy,
    /// The stack the re-read alarm is tagged into: its target must belong to it too.
    stack: StackName,
}

/// An alarm's target as read, in the stack it belongs to.
#[derive(Debug)]
pub(crate) struct ObservedTarget {
    scope: AlarmScope,
    stack: StackName,
    observation: Observation,
}

impl Capability for Instances {
    type Scope = AlarmScope;
    type Observed = ObservedTarget;
    type Plan = InstancePlan;

    async fn scopes(
        &self,
        cx: &Context<'_>,
        signal: &Signal,
        skipped: &mut Vec<String>,
    ) -> Result<Vec<AlarmScope>, Error> {
        let SignalKind::AlarmFired(notice) = &signal.kind else {
            return Ok(Vec::new());
        };
        let Some(policy) = &cx.file.instances else {
            skipped.push(format!(
                "alarm {}: the stack file declares no [[alarms]], so alarms are not handled",
                notice.name
            ));
            return Ok(Vec::new());
        };
        let checked = match checked_alarm(cx, notice, policy).await? {
            Ok(checked) => checked.clone(),
            Err(reason) => {
                skipped.push(reason.clone());
                return Ok(Vec::new());
            }
        };
        // The database capability's, which runs next.
        if checked.remediation.is_database() {
            return Ok(Vec::new());
        }
        Ok(vec![AlarmScope {
            notice: checked.notice,
            remediation: checked.remediation,
            policy: policy.clone(),
            stack: checked.stack,
        }])
    }

    async fn observe(
        &self,
        cx: &Context<'_>,
        scope: &AlarmScope,
        skipped: &mut Vec<String>,
    ) -> Result<Vec<Self::Observed>, Error> {
        let clients = InstanceClients::from(cx.clients);
        let observed =
            observe_target(clients, cx.file, &scope.notice, scope.remediation, cx.now).await?;
        Ok(match observed {
            Ok((stack, _)) if stack != scope.stack => {
                skipped.push(format!(
                    "alarm {} belongs to stack {} but its target to stack {stack}: nothing is done",
                    scope.notice.name, scope.stack
                ));
                Vec::new()
            }
            Ok((stack, observation)) => vec![ObservedTarget {
                scope: scope.clone(),
                stack,
                observation,
            }],
            Err(no_target) => {
                skipped.push(format!("alarm {}: {no_target}", scope.notice.name));
                Vec::new()
            }
        })
    }

    fn plan(&self, cx: &Context<'_>, observed: &ObservedTarget) -> InstancePlan {
        plan_remediation(RemediationInputs {
            policy: &observed.scope.policy,
            roles: &cx.file.roles,
            notice: &observed.scope.notice,
            remediation: observed.scope.remediation,
            observation: &observed.observation,
            now: cx.now,
        })
    }

    fn action_count(plan: &InstancePlan) -> usize {
        plan.actions.len()
    }

    fn approvable(
        &self,
        cx: &Context<'_>,
        observed: &ObservedTarget,
        plan: &InstancePlan,
    ) -> Option<Approvable> {
        let notice = &observed.scope.notice;
        Some(Approvable {
            stack: observed.stack.clone(),
            subject: alarm_subject(notice, plan.remediation),
            target: plan.target.clone(),
            digest: plan.approval_digest(),
            waits: waits(cx, plan.remediation),
            used: used_approvals(cx, &observed.observation.history),
        })
    }

    async fn apply(&self, cx: &Context<'_>, plan: &InstancePlan) -> Vec<ActionOutcome> {
        let clients = InstanceClients::from(cx.clients);
        let mut actions = plan.actions.clone();
        if let (Some(claim), Some(InstanceAction::RecordRemediation { record, .. })) =
            (&cx.approval, actions.first_mut())
        {
            *record = RemediationRecord::approved(record, &claim.nonce);
        }
        apply_instance_actions(clients, &actions, cx.waits, cx.filesystem_document).await
    }

    fn report(
        &self,
        _cx: &Context<'_>,
        observed: ObservedTarget,
        plan: InstancePlan,
        outcomes: Vec<ActionOutcome>,
    ) -> (StackName, Section) {
        let scope = &observed.scope;
        tracing::info!(
            alarm = %scope.notice.name,
            incident = %plan.incident,
            remediation = scope.remediation.as_str(),
            target = %plan.target,
            decision = ?plan.decision,
            "alarm planned"
        );
        (
            observed.stack,
            Section::Instances(InstanceReport::new(plan, outcomes)),
        )
    }
}

/// The approvals the records say were used, when the run acts on one: a second use is refused.
pub(crate) fn used_approvals(cx: &Context<'_>, history: &[RemediationRecord]) -> Vec<String> {
    if cx.approval.is_none() {
        return Vec::new();
    }
    history
        .iter()
        .filter_map(|record| record.approval.clone())
        .collect()
}

/// What an approval of an alarm remediation names: the alarm and its transition (the incident).
pub(crate) fn alarm_subject(notice: &AlarmNotice, remediation: Remediation) -> Subject {
    Subject::Alarm {
        alarm: notice.name.clone(),
        changed_at: notice.changed_at.clone(),
        remediation,
    }
}

/// Whether the stack file makes `remediation` wait for a person.
pub(crate) fn waits(cx: &Context<'_>, remediation: Remediation) -> bool {
    cx.file
        .approvals
        .as_ref()
        .is_some_and(|policy| policy.requires(remediation, cx.file.environment.production))
}
