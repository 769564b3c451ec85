//! AWS writes: executes a plan's actions in order and says what became of each.
//!
//! Every step converges rather than insists: a rule someone else already added or removed is
//! success, found by re-reading the group only when AWS reports a conflict (so the common path
//! costs one call per group and direction). A revocation whose replacement rules could not be
//! authorized is not executed: a required flow is never closed to remove an exposure.

use crate::security_groups::observe::{describe_groups, GroupScope};
use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range, PrefixListId, UserIdGroupPair};
use aws_sdk_ec2::Client;
use domain::ids::SecurityGroupId;
use domain::net::{Peer, Rule};
use domain::outcome::{ActionOutcome, Outcome};
use domain::security_groups::{ExposingRule, RequiredRule, SecurityGroupAction, SecurityGroupPlan};
use domain::Error;
use std::collections::BTreeSet;

/// Applies `plan.actions` in order; one outcome per action.
pub async fn apply_plan(ec2: &Client, plan: &SecurityGroupPlan) -> Vec<ActionOutcome> {
    let mut unauthorized: BTreeSet<&SecurityGroupId> = BTreeSet::new();
    let mut outcomes = Vec::with_capacity(plan.actions.len());
    for action in &plan.actions {
        let outcome = match action {
            SecurityGroupAction::AuthorizeIngress { group, rules } => {
                let outcome = apply_authorize(ec2, group, rules).await;
                if matches!(outcome, Outcome::Failed { .. } | Outcome::Skipped { .. }) {
                    unauthorized.insert(group);
                }
                outcome
            }
            SecurityGroupAction::RevokeIngress { group, rules } => {
                let carried: Vec<&str> = rules
                    .iter()
                    .flat_map(|r| r.replaced_by.iter().map(String::as_str))
                    .collect();
                if unauthorized.contains(group) && !carried.is_empty() {
                    Outcome::Skipped {
                        reason: format!(
                            "the narrower rules for flow {} could not be authorized first; revoking now would close it",
                            carried.join(", ")
                        ),
                    }
                } else {
                    apply_revoke(ec2, group, rules).await
                }
            }
        };
        tracing::info!(
            action = action.kind(),
            target = %action.group(),
            outcome = %outcome,
            "action executed"
        );
        outcomes.push(ActionOutcome::from(outcome));
    }
    outcomes
}

async fn apply_authorize(ec2: &Client, group: &SecurityGroupId, rules: &[RequiredRule]) -> Outcome {
    let permissions: Vec<IpPermission> = rules
        .iter()
        .map(|r| permission(&r.rule, Some(&r.flows)))
        .collect();
    match call_authorize(ec2, group, permissions).await {
        Ok(()) => Outcome::Applied,
        Err(e) if e.is_aws_code("InvalidGroup.NotFound") => group_gone(),
        // Some of the rules appeared since the plan was made (a duplicate delivery, a person):
        // AWS refuses the whole batch, so add only what is still missing.
        Err(e) if e.is_aws_code("InvalidPermission.Duplicate") => {
            let current = match current_ingress(ec2, group).await {
                Ok(Some(current)) => current,
                Ok(None) => return group_gone(),
                Err(error) => return Outcome::Failed { error },
            };
            let missing: Vec<IpPermission> = rules
                .iter()
                .filter(|r| !current.contains(&r.rule))
                .map(|r| permission(&r.rule, Some(&r.flows)))
                .collect();
            if missing.is_empty() {
                return Outcome::AlreadyConverged;
            }
            match call_authorize(ec2, group, missing).await {
                Ok(()) => Outcome::Applied,
                Err(error) => Outcome::Failed { error },
            }
        }
        Err(error) => Outcome::Failed { error },
    }
}

async fn apply_revoke(ec2: &Client, group: &SecurityGroupId, rules: &[ExposingRule]) -> Outcome {
    let permissions: Vec<IpPermission> = rules.iter().map(|r| permission(&r.rule, None)).collect();
    match call_revoke(ec2, group, permissions).await {
        Ok(unknown) if unknown == rules.len() => Outcome::AlreadyConverged,
        Ok(_) => Outcome::Applied,
        // A deleted group exposes nothing.
        Err(e) if e.is_aws_code("InvalidGroup.NotFound") => Outcome::AlreadyConverged,
        Err(e) if e.is_aws_code("InvalidPermission.NotFound") => {
            let current = match current_ingress(ec2, group).await {
                Ok(Some(current)) => current,
                Ok(None) => return Outcome::AlreadyConverged,
                Err(error) => return Outcome::Failed { error },
            };
            let present: Vec<IpPermission> = rules
                .iter()
                .filter(|r| current.contains(&r.rule))
                .map(|r| permission(&r.rule, None))
                .collect();
            if present.is_empty() {
                return Outcome::AlreadyConverged;
            }
            match call_revoke(ec2, group, present).await {
                Ok(_) => Outcome::Applied,
                Err(error) => Outcome::Failed { error },
            }
        }
        Err(error) => Outcome::Failed { error },
    }
}

fn group_gone() -> Outcome {
    Outcome::Skipped {
        reason: "the security group was deleted after it was read".into(),
    }
}

async fn current_ingress(
    ec2: &Client,
    group: &SecurityGroupId,
) -> Result<Option<Vec<Rule>>, Error> {
    let ids = [group.clone()];
    let groups = describe_groups(ec2, GroupScope::Ids(&ids)).await?;
    Ok(groups.into_iter().next().map(|tagged| tagged.group.ingress))
}

async fn call_authorize(
    ec2: &Client,
    group: &SecurityGroupId,
    permissions: Vec<IpPermission>,
) -> Result<(), Error> {
    ec2.authorize_security_group_ingress()
        .group_id(group.as_str())
        .set_ip_permissions(Some(permissions))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| crate::aws::sdk_error("AuthorizeSecurityGroupIngress", e))
}

/// Returns how many of the permissions AWS did not find.
async fn call_revoke(
    ec2: &Client,
    group: &SecurityGroupId,
    permissions: Vec<IpPermission>,
) -> Result<usize, Error> {
    ec2.revoke_security_group_ingress()
        .group_id(group.as_str())
        .set_ip_permissions(Some(permissions))
        .send()
        .await
        .map(|output| output.unknown_ip_permissions().len())
        .map_err(|e| crate::aws::sdk_error("RevokeSecurityGroupIngress", e))
}

/// The `IpPermission` for one single-peer rule. Authorized rules say which flows need them, so
/// a person reading the group in the console knows why the rule is there.
pub fn permission(rule: &Rule, flows: Option<&[String]>) -> IpPermission {
    let description = flows.map(|flows| format!("chainlink-remediator: flow {}", flows.join(", ")));
    let mut builder = IpPermission::builder().ip_protocol(rule.protocol.to_aws());
    if let Some(ports) = rule.ports {
        builder = builder
            .from_port(i32::from(ports.from))
            .to_port(i32::from(ports.to));
    }
    match &rule.peer {
        Peer::Cidr(net @ ipnet::IpNet::V4(_)) => builder.ip_ranges(
            IpRange::builder()
                .cidr_ip(net.to_string())
                .set_description(description)
                .build(),
        ),
        Peer::Cidr(net) => builder.ipv6_ranges(
            Ipv6Range::builder()
                .cidr_ipv6(net.to_string())
                .set_description(description)
                .build(),
        ),
        Peer::Group(id) => builder.user_id_group_pairs(
            UserIdGroupPair::builder()
                .group_id(id.as_str())
                .set_description(description)
                .build(),
        ),
        Peer::PrefixList(id) => builder.prefix_list_ids(
            PrefixListId::builder()
                .prefix_list_id(id)
                .set_description(description)
                .build(),
        ),
    }
    .build()
}
