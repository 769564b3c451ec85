//! Security groups in AWS: the stacks' groups, instances, subnets and ACLs read into the observed
//! model (`observe`), and a plan's authorizations and revocations carried out (`apply`). The
//! model, the planner, the flow check and the report section are `domain::security_groups`.

pub mod apply;
mod approval_record;
pub mod load_balancers;
mod node_config;
pub mod observe;

use crate::approvals::Approvable;
use crate::capability::{Capability, Context};
use apply::apply_plan;
use domain::approvals::Subject;
use domain::ids::{SecurityGroupId, StackName, STACK_TAG};
use domain::outcome::{ActionOutcome, Outcome};
use domain::report::{ActionReport, FlowReport, Section, SecurityGroupReport};
use domain::security_groups::observed::{DatabasePlacement, ObservedStack};
use domain::security_groups::report::GroupLabel;
use domain::security_groups::{
    check_flows, plan_security_groups, world_exposures, FlowStatus, SecurityGroupAction,
    SecurityGroupPlan,
};
use domain::signal::{Signal, SignalKind};
use domain::stack::StackSelector;
use domain::Error;
use load_balancers::observe_load_balancers;
use node_config::observe_node_config;
use observe::{describe_groups, observe_stacks, GroupScope};

#[derive(Debug)]
pub(crate) struct SecurityGroups;

/// The stacks to read, the groups an event named in them (none for a sweep), and whether to
/// read the load balancers in front of the stacks' instances: on sweeps only. An event about
/// groups re-reads the groups; the load balancers are a third party's, their changes raise no
/// event here, and the next sweep reads them.
#[derive(Debug)]
pub(crate) struct GroupsScope {
    selector: StackSelector,
    named: Option<Vec<SecurityGroupId>>,
    load_balancers: bool,
}

impl Capability for SecurityGroups {
    type Scope = GroupsScope;
    type Observed = ObservedStack;
    type Plan = SecurityGroupPlan;

    async fn scopes(
        &self,
        cx: &Context<'_>,
        signal: &Signal,
        skipped: &mut Vec<String>,
    ) -> Result<Vec<GroupsScope>, Error> {
        let groups = match &signal.kind {
            SignalKind::Sweep => {
                return Ok(vec![GroupsScope {
                    selector: cx.file.selector.clone(),
                    named: None,
                    // The load balancers are the security-group function's to read; the
                    // parameter function only follows the node's ports.
                    load_balancers: cx.guards_security_groups,
                }]);
            }
            SignalKind::SecurityGroupsChanged { groups } => groups,
            // A parameter change may move a port a flow follows: the stack's groups follow in
            // the same run, before the parameter step labels or rolls back the change.
            SignalKind::ParameterChanged { name, .. } if cx.file.moves_with_node_config() => {
                return Ok(cx
                    .stack_of_parameter(name)
                    .map(|stack| GroupsScope {
                        selector: StackSelector::Exact(stack),
                        named: None,
                        load_balancers: false,
                    })
                    .into_iter()
                    .collect());
            }
            _ => return Ok(Vec::new()),
        };
        // A file that names its stack reads that stack once, by its tag, and finds the event's
        // groups in it; only a pattern needs the groups read first, to learn their stacks.
        if let StackSelector::Exact(_) = &cx.file.selector {
            return Ok(vec![GroupsScope {
                selector: cx.file.selector.clone(),
                named: Some(groups.clone()),
                load_balancers: false,
            }]);
        }
        let mut stacks: Vec<StackName> = Vec::new();
        for stack in stacks_of(cx, groups, skipped).await? {
            if !stacks.contains(&stack) {
                stacks.push(stack);
            }
        }
        Ok(stacks
            .into_iter()
            .map(|stack| GroupsScope {
                selector: StackSelector::Exact(stack),
                named: None,
                load_balancers: false,
            })
            .collect())
    }

    async fn observe(
        &self,
        cx: &Context<'_>,
        scope: &GroupsScope,
        skipped: &mut Vec<String>,
    ) -> Result<Vec<ObservedStack>, Error> {
        let databases = database_placements(cx, &scope.selector);
        let mut stacks = observe_stacks(&cx.clients.ec2, &scope.selector, databases).await?;
        if scope.load_balancers {
            observe_load_balancers(&cx.clients.elb, &cx.clients.ec2, cx.file, &mut stacks).await?;
        }
        for stack in &mut stacks {
            stack.node = observe_node_config(cx, &stack.name).await;
        }
        let Some(named) = &scope.named else {
            if stacks.is_empty() {
                skipped.push(format!(
                    "no security group carries the tag {STACK_TAG} = {}",
                    cx.file.selector
                ));
            }
            return Ok(stacks);
        };
        let in_stack = |id: &SecurityGroupId, stack: &ObservedStack| {
            stack.groups.iter().any(|group| &group.id == id)
        };
        stacks.retain(|stack| named.iter().any(|id| in_stack(id, stack)));
        let elsewhere: Vec<SecurityGroupId> = named
            .iter()
            .filter(|id| !stacks.iter().any(|stack| in_stack(id, stack)))
            .cloned()
            .collect();
        // Only an event about groups outside the stack costs a read by ID: to say why.
        if !elsewhere.is_empty() {
            stacks_of(cx, &elsewhere, skipped).await?;
        }
        Ok(stacks)
    }

    fn plan(&self, cx: &Context<'_>, observed: &ObservedStack) -> SecurityGroupPlan {
        plan_security_groups(cx.file, observed)
    }

    fn action_count(plan: &SecurityGroupPlan) -> usize {
        plan.actions.len()
    }

    fn refusal(plan: &SecurityGroupPlan) -> Option<String> {
        plan.refusal.clone()
    }

    /// Only the security-group function asks: the parameter function's moving a port with
    /// the node's configuration is part of judging that change, and never waits.
    fn approvable(
        &self,
        cx: &Context<'_>,
        observed: &ObservedStack,
        plan: &SecurityGroupPlan,
    ) -> Option<Approvable> {
        let policy = cx.file.approvals.as_ref()?;
        if !cx.guards_security_groups {
            return None;
        }
        let opens = plan
            .actions
            .iter()
            .any(|a| matches!(a, SecurityGroupAction::AuthorizeIngress { .. }));
        let changes: usize = plan
            .actions
            .iter()
            .map(SecurityGroupAction::change_count)
            .sum();
        Some(Approvable {
            stack: plan.stack.clone(),
            subject: Subject::SecurityGroups,
            target: match changes {
                0 => "the stack's security groups".to_string(),
                n => format!("{n} rule change(s) on the stack's security groups"),
            },
            digest: domain::approvals::plan_digest(&plan.actions),
            waits: policy.requires_for_groups(
                plan.refusal.is_some(),
                opens,
                cx.file.environment.production,
            ),
            used: match cx.approval {
                Some(_) => observed
                    .groups
                    .iter()
                    .flat_map(|group| group.used_approvals.iter().cloned())
                    .collect(),
                None => Vec::new(),
            },
        })
    }

    /// An approved plan records its approval's use on the groups first: if that fails,
    /// nothing is changed, since an unrecorded use could be repeated.
    async fn apply(&self, cx: &Context<'_>, plan: &SecurityGroupPlan) -> Vec<ActionOutcome> {
        let approved = cx.approval.as_ref().filter(|claim| {
            claim.stack == plan.stack.as_str() && claim.subject == Subject::SecurityGroups
        });
        if let Some(claim) = approved {
            if let Err(error) =
                approval_record::record_approval(&cx.clients.ec2, plan, &claim.nonce).await
            {
                tracing::error!(error = %error, "the approval's use could not be recorded");
                return vec![Outcome::Failed { error }.into(); plan.actions.len()];
            }
        }
        apply_plan(&cx.clients.ec2, plan).await
    }

    fn report(
        &self,
        cx: &Context<'_>,
        stack: ObservedStack,
        plan: SecurityGroupPlan,
        outcomes: Vec<ActionOutcome>,
    ) -> (StackName, Section) {
        // "After" assumes what was planned (plan) or what took effect (apply).
        let effective: Vec<&SecurityGroupAction> = plan
            .actions
            .iter()
            .zip(&outcomes)
            .filter(|(_, outcome)| {
                matches!(
                    outcome.outcome,
                    Outcome::Planned | Outcome::Applied | Outcome::AlreadyConverged
                )
            })
            .map(|(action, _)| action)
            .collect();
        let before = check_flows(cx.file, &stack);
        let exposures = world_exposures(cx.file, &stack);
        // Most stacks of a sweep need nothing: their flows after are the flows before, and
        // modelling the stack again would only cost a copy of it.
        let after: Vec<FlowStatus> = if effective.is_empty() {
            before.iter().map(|check| check.status).collect()
        } else {
            check_flows(cx.file, &stack.with_actions(effective))
                .into_iter()
                .map(|check| check.status)
                .collect()
        };
        let flow_check = before
            .into_iter()
            .zip(after)
            .map(|(check, after)| FlowReport { check, after })
            .collect();
        tracing::info!(
            stack = %stack.name,
            actions = plan.actions.len(),
            changes = plan.change_count(),
            refused = plan.refusal.is_some(),
            not_admitted = plan.refused.len(),
            exposures = exposures.len(),
            "stack planned"
        );
        // Over the limit, a plan that waits for approval, or ran on one, is not refused.
        let lifted = outcomes
            .iter()
            .any(|o| !matches!(o.outcome, Outcome::Planned | Outcome::Skipped { .. }));
        let section = SecurityGroupReport {
            actions: plan
                .actions
                .into_iter()
                .zip(outcomes)
                .map(|(action, outcome)| ActionReport { action, outcome })
                .collect(),
            refusal: plan.refusal.filter(|_| !lifted),
            exempt: plan.exempt,
            unmanaged: plan.unmanaged,
            refused: plan.refused,
            findings: plan.findings,
            flow_check,
            exposures,
            groups: GroupLabel::of(&stack.groups),
        };
        (plan.stack, Section::SecurityGroups(Box::new(section)))
    }
}

/// The guarded stacks that `groups` belong to, read by ID; every group that leads nowhere is
/// in `skipped` with the reason.
async fn stacks_of(
    cx: &Context<'_>,
    groups: &[SecurityGroupId],
    skipped: &mut Vec<String>,
) -> Result<Vec<StackName>, Error> {
    let found = describe_groups(&cx.clients.ec2, GroupScope::Ids(groups)).await?;
    for id in groups
        .iter()
        .filter(|id| !found.iter().any(|t| &t.group.id == *id))
    {
        skipped.push(format!(
            "{id}: no such security group here (deleted, or in another account or region)"
        ));
    }
    let mut stacks = Vec::new();
    for tagged in found {
        match tagged.stack {
            Some(stack) if cx.file.selector.matches(&stack) => stacks.push(stack),
            Some(stack) => skipped.push(format!(
                "{}: belongs to stack {stack}, which this stack file ({}) does not guard",
                tagged.group.id, cx.file.selector
            )),
            None => skipped.push(format!(
                "{}: carries no {STACK_TAG} tag, so it is outside every stack",
                tagged.group.id
            )),
        }
    }
    Ok(stacks)
}

/// Where the stacks' DB instances (`[database]`) receive traffic, from the region's list the
/// run reads once: nothing is read without `[database]`.
async fn database_placements(
    cx: &Context<'_>,
    selector: &StackSelector,
) -> Result<Vec<(StackName, DatabasePlacement)>, Error> {
    let Some(declared) = &cx.file.database else {
        return Ok(Vec::new());
    };
    let region = cx.databases.get(&cx.clients.rds).await?;
    Ok(region
        .iter()
        .filter(|(database, _)| database.role().as_ref() == Some(&declared.role))
        .filter_map(|(database, _)| {
            let stack = database.stack().filter(|s| selector.matches(s))?;
            let placement = DatabasePlacement {
                id: database.id.clone(),
                role: database.role(),
                groups: database.security_groups.clone(),
                subnets: database.subnets.clone(),
            };
            Some((stack, placement))
        })
        .collect())
}
