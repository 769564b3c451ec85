//! AWS reads: the load balancers in front of the stacks' instances, found through the targets
//! registered in their target groups (a third party's load balancer carries no stack tag), with
//! their listeners and security groups. Read on sweeps only; the check is
//! `domain::security_groups::world_exposures`, and nothing here is ever changed.
//!
//! Calls: DescribeTargetGroups (paged, every group of the region, kept when in a stack's VPC
//! and of instance targets), DescribeTargetHealth per kept target group, DescribeLoadBalancers
//! for the load balancers of those with a stack instance registered (20 ARNs per call),
//! DescribeListeners per internet-facing one, and DescribeSecurityGroups of their groups by ID.

use super::observe::{describe_groups, GroupScope};
use aws_sdk_elasticloadbalancingv2::types::{
    Action, LoadBalancerSchemeEnum, TargetGroup, TargetTypeEnum,
};
use aws_sdk_elasticloadbalancingv2::Client;
use domain::ids::{InstanceId, LoadBalancerArn, SecurityGroupId, TargetGroupArn, VpcId};
use domain::security_groups::load_balancers::{
    Listener, ObservedLoadBalancer, ObservedTargetGroup, Scheme, Target,
};
use domain::security_groups::observed::ObservedStack;
use domain::stack::StackFile;
use domain::Error;
use std::collections::{BTreeMap, BTreeSet};

/// The most results Elastic Load Balancing returns per page.
const PAGE_SIZE: i32 = 400;
/// The most load balancer ARNs one DescribeLoadBalancers call accepts.
const ARNS_PER_CALL: usize = 20;

/// Adds to each stack the load balancers with one of its instances registered in a target
/// group. The stacks' VPCs are the stack file's, or else those of their groups.
pub async fn observe_load_balancers(
    elb: &Client,
    ec2: &aws_sdk_ec2::Client,
    file: &StackFile,
    stacks: &mut [ObservedStack],
) -> Result<(), Error> {
    let instances: BTreeSet<&InstanceId> = stacks
        .iter()
        .flat_map(|s| s.instances.iter().map(|i| &i.id))
        .collect();
    if instances.is_empty() {
        return Ok(());
    }
    let vpcs: BTreeSet<VpcId> = if file.vpcs.is_empty() {
        stacks
            .iter()
            .flat_map(|s| s.groups.iter().filter_map(|g| g.vpc.clone()))
            .collect()
    } else {
        file.vpcs.iter().cloned().collect()
    };

    // Target groups of instances in the stacks' VPCs, with the stacks' instances among their
    // targets, and the load balancers they serve.
    let mut target_groups: Vec<(ObservedTargetGroup, Vec<LoadBalancerArn>)> = Vec::new();
    for group in describe_target_groups(elb).await? {
        let in_vpc = group
            .vpc_id()
            .is_some_and(|vpc| vpcs.contains(&VpcId::new(vpc)));
        let of_instances = group
            .target_type()
            .is_none_or(|t| *t == TargetTypeEnum::Instance);
        let (Some(arn), true, true) = (group.target_group_arn(), in_vpc, of_instances) else {
            continue;
        };
        if group.load_balancer_arns().is_empty() {
            continue;
        }
        let arn = TargetGroupArn::new(arn);
        let targets: Vec<Target> = describe_targets(elb, &arn, group.port())
            .await?
            .into_iter()
            .filter(|t| instances.contains(&t.instance))
            .collect();
        if targets.is_empty() {
            continue;
        }
        target_groups.push((
            ObservedTargetGroup {
                arn,
                name: group.target_group_name().unwrap_or_default().to_string(),
                protocol: protocol_of(&group),
                targets,
            },
            group
                .load_balancer_arns()
                .iter()
                .map(LoadBalancerArn::new)
                .collect(),
        ));
    }
    if target_groups.is_empty() {
        return Ok(());
    }

    let arns: BTreeSet<&LoadBalancerArn> = target_groups.iter().flat_map(|(_, lbs)| lbs).collect();
    let mut load_balancers = describe_load_balancers(elb, &arns).await?;
    for (lb, group_ids) in &mut load_balancers {
        if lb.scheme == Scheme::InternetFacing {
            lb.listeners = describe_listeners(elb, &lb.arn).await?;
        } else {
            group_ids.clear();
        }
        lb.target_groups = target_groups
            .iter()
            .filter(|(_, lbs)| lbs.contains(&lb.arn))
            .map(|(tg, _)| tg.clone())
            .collect();
    }
    // The internet-facing load balancers' groups, in one read by ID.
    let group_ids: Vec<SecurityGroupId> = load_balancers
        .iter()
        .flat_map(|(_, ids)| ids.iter().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if !group_ids.is_empty() {
        let groups: BTreeMap<SecurityGroupId, _> =
            describe_groups(ec2, GroupScope::Ids(&group_ids))
                .await?
                .into_iter()
                .map(|tagged| (tagged.group.id.clone(), tagged.group))
                .collect();
        for (lb, ids) in &mut load_balancers {
            lb.groups = ids
                .iter()
                .filter_map(|id| groups.get(id).cloned())
                .collect();
        }
    }

    for stack in stacks.iter_mut() {
        let own: BTreeSet<&InstanceId> = stack.instances.iter().map(|i| &i.id).collect();
        stack.load_balancers = load_balancers
            .iter()
            .filter_map(|(lb, _)| {
                let mut lb = lb.clone();
                for tg in &mut lb.target_groups {
                    tg.targets.retain(|t| own.contains(&t.instance));
                }
                lb.target_groups.retain(|tg| !tg.targets.is_empty());
                (!lb.target_groups.is_empty()).then_some(lb)
            })
            .collect();
    }
    Ok(())
}

async fn describe_target_groups(elb: &Client) -> Result<Vec<TargetGroup>, Error> {
    let mut pages = elb
        .describe_target_groups()
        .page_size(PAGE_SIZE)
        .into_paginator()
        .send();
    let mut groups = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| crate::aws::sdk_error("DescribeTargetGroups", e))?;
        groups.extend(page.target_groups().iter().cloned());
    }
    Ok(groups)
}

/// The instances registered in a target group, each on its own port or the group's.
async fn describe_targets(
    elb: &Client,
    arn: &TargetGroupArn,
    group_port: Option<i32>,
) -> Result<Vec<Target>, Error> {
    let health = elb
        .describe_target_health()
        .target_group_arn(arn.as_str())
        .send()
        .await
        .map_err(|e| crate::aws::sdk_error("DescribeTargetHealth", e))?;
    Ok(health
        .target_health_descriptions()
        .iter()
        .filter_map(|description| {
            let target = description.target()?;
            let port = target.port().or(group_port)?;
            Some(Target {
                instance: InstanceId::parse(target.id()?)?,
                port: u16::try_from(port).ok()?,
            })
        })
        .collect())
}

/// The load balancers by ARN, each with the IDs of its security groups (listeners, groups and
/// target groups are filled in by the caller).
async fn describe_load_balancers(
    elb: &Client,
    arns: &BTreeSet<&LoadBalancerArn>,
) -> Result<Vec<(ObservedLoadBalancer, Vec<SecurityGroupId>)>, Error> {
    let arns: Vec<&str> = arns.iter().map(|arn| arn.as_str()).collect();
    let mut load_balancers = Vec::new();
    for chunk in arns.chunks(ARNS_PER_CALL) {
        let described = elb
            .describe_load_balancers()
            .set_load_balancer_arns(Some(chunk.iter().map(|a| a.to_string()).collect()))
            .send()
            .await
            .map_err(|e| crate::aws::sdk_error("DescribeLoadBalancers", e))?;
        for lb in described.load_balancers() {
            let Some(arn) = lb.load_balancer_arn() else {
                continue;
            };
            let scheme = match lb.scheme() {
                Some(LoadBalancerSchemeEnum::InternetFacing) => Scheme::InternetFacing,
                _ => Scheme::Internal,
            };
            load_balancers.push((
                ObservedLoadBalancer {
                    arn: LoadBalancerArn::new(arn),
                    name: lb.load_balancer_name().unwrap_or_default().to_string(),
                    scheme,
                    groups: Vec::new(),
                    listeners: Vec::new(),
                    target_groups: Vec::new(),
                },
                lb.security_groups()
                    .iter()
                    .filter_map(|id| SecurityGroupId::parse(id))
                    .collect(),
            ));
        }
    }
    Ok(load_balancers)
}

async fn describe_listeners(elb: &Client, arn: &LoadBalancerArn) -> Result<Vec<Listener>, Error> {
    let mut pages = elb
        .describe_listeners()
        .load_balancer_arn(arn.as_str())
        .page_size(PAGE_SIZE)
        .into_paginator()
        .send();
    let mut listeners = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| crate::aws::sdk_error("DescribeListeners", e))?;
        for listener in page.listeners() {
            let Some(port) = listener.port().and_then(|p| u16::try_from(p).ok()) else {
                continue;
            };
            listeners.push(Listener {
                protocol: listener
                    .protocol()
                    .map_or("TCP", |p| p.as_str())
                    .to_string(),
                port,
                forwards_to: listener
                    .default_actions()
                    .iter()
                    .flat_map(forwarded_target_groups)
                    .collect(),
            });
        }
    }
    Ok(listeners)
}

/// The target groups an action forwards to: its own, or its forward configuration's.
fn forwarded_target_groups(action: &Action) -> Vec<TargetGroupArn> {
    let weighted = action
        .forward_config()
        .into_iter()
        .flat_map(|config| config.target_groups())
        .filter_map(|tuple| tuple.target_group_arn());
    let mut arns: Vec<TargetGroupArn> = Vec::new();
    for arn in action.target_group_arn().into_iter().chain(weighted) {
        let arn = TargetGroupArn::new(arn);
        if !arns.contains(&arn) {
            arns.push(arn);
        }
    }
    arns
}

fn protocol_of(group: &TargetGroup) -> String {
    group.protocol().map_or("TCP", |p| p.as_str()).to_string()
}
