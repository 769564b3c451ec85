//! The flow check: for every required flow, whether it is open end to end and what admits or
//! blocks it — the target's ingress, the source's egress, and the network ACLs of the subnets
//! the traffic crosses (request and return path, since ACLs are stateless).
//!
//! ACLs are only reported, never changed: they are usually owned by a network team and a wrong
//! automatic change there cuts far more than one stack.

use crate::ids::{NetworkAclId, SecurityGroupId, SubnetId};
use crate::net::{Peer, PortRange, Protocol};
use crate::security_groups::admission::admitted_with_role;
use crate::security_groups::observed::{Direction, ObservedGroup, ObservedStack};
use crate::stack::{Flow, FlowSource, StackFile};
use ipnet::IpNet;
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt;

#[derive(Clone, Debug, Serialize)]
pub struct FlowCheck {
    pub flow: String,
    pub from: String,
    pub to: String,
    pub protocol: Protocol,
    pub ports: PortRange,
    pub status: FlowStatus,
    pub paths: Vec<PathCheck>,
    /// Set when there is no path to check at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// From worst to best, so the status of a flow is the minimum over its paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowStatus {
    Blocked,
    /// Security groups admit it, but some hop could not be checked (no instances to locate).
    Unverified,
    Open,
}

impl fmt::Display for FlowStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Blocked => "BLOCKED",
            Self::Unverified => "UNVERIFIED",
            Self::Open => "OPEN",
        })
    }
}

/// One source → one target group.
#[derive(Clone, Debug, Serialize)]
pub struct PathCheck {
    pub source: String,
    pub target: SecurityGroupId,
    pub status: FlowStatus,
    pub hops: Vec<Hop>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Hop {
    pub layer: HopLayer,
    pub resource: String,
    pub verdict: Verdict,
    pub detail: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HopLayer {
    SourceEgress,
    TargetIngress,
    SourceAclOutbound,
    TargetAclInbound,
    TargetAclReturn,
    SourceAclReturn,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Allowed,
    Denied,
    Unknown,
}

/// Checks every flow of `file` against `stack`.
pub fn check_flows(file: &StackFile, stack: &ObservedStack) -> Vec<FlowCheck> {
    file.flows
        .iter()
        .map(|flow| check_flow(file, flow, stack))
        .collect()
}

/// Only admitted groups are a flow's targets and sources: a refused one is reported apart.
fn check_flow(file: &StackFile, flow: &Flow, stack: &ObservedStack) -> FlowCheck {
    let targets: Vec<&ObservedGroup> = admitted_with_role(file, stack, &flow.to).collect();
    let sources: Vec<(Peer, Option<&ObservedGroup>)> = match &flow.from {
        FlowSource::Cidr(net) => vec![(Peer::Cidr(*net), None)],
        FlowSource::Role(role) => admitted_with_role(file, stack, role)
            .map(|g| (Peer::Group(g.id.clone()), Some(g)))
            .collect(),
    };
    // Sized exactly, here and for the hops: a sweep's report holds a few of these per stack for
    // thousands of stacks, and growth by doubling would leave most of each allocation unused.
    let mut paths = Vec::with_capacity(targets.len() * sources.len());
    for target in &targets {
        for (peer, source) in &sources {
            paths.push(check_path(flow, stack, peer, *source, target));
        }
    }
    let note = if targets.is_empty() {
        Some(format!(
            "no security group of the stack has role {}",
            flow.to
        ))
    } else if sources.is_empty() {
        Some(format!("no security group of the stack has {}", flow.from))
    } else {
        None
    };
    FlowCheck {
        flow: flow.name.clone(),
        from: flow.from.to_string(),
        to: flow.to.to_string(),
        protocol: flow.protocol,
        ports: flow.ports,
        status: paths
            .iter()
            .map(|p| p.status)
            .min()
            .filter(|_| note.is_none())
            .unwrap_or(FlowStatus::Blocked),
        paths,
        note,
    }
}

fn check_path(
    flow: &Flow,
    stack: &ObservedStack,
    peer: &Peer,
    source: Option<&ObservedGroup>,
    target: &ObservedGroup,
) -> PathCheck {
    let acl_hops = check_acls(flow, stack, peer, source, target);
    let mut hops = Vec::with_capacity(usize::from(source.is_some()) + 1 + acl_hops.len());
    if let Some(source) = source {
        hops.push(check_egress(flow, stack, source, target));
    }
    hops.push(check_ingress(flow, peer, target));
    hops.extend(acl_hops);
    let status = if hops.iter().any(|h| h.verdict == Verdict::Denied) {
        FlowStatus::Blocked
    } else if hops.iter().any(|h| h.verdict == Verdict::Unknown) {
        FlowStatus::Unverified
    } else {
        FlowStatus::Open
    };
    PathCheck {
        source: peer.to_string(),
        target: target.id.clone(),
        status,
        hops,
    }
}

fn check_ingress(flow: &Flow, peer: &Peer, target: &ObservedGroup) -> Hop {
    let admitting = target
        .ingress
        .iter()
        .find(|r| r.admits(flow.protocol, flow.ports, peer));
    Hop {
        layer: HopLayer::TargetIngress,
        resource: target.id.to_string(),
        verdict: if admitting.is_some() {
            Verdict::Allowed
        } else {
            Verdict::Denied
        },
        detail: match admitting {
            Some(rule) => format!("admitted by ingress rule {rule}"),
            None => format!(
                "no ingress rule admits {} {} from {peer}",
                flow.protocol, flow.ports
            ),
        },
    }
}

fn check_egress(
    flow: &Flow,
    stack: &ObservedStack,
    source: &ObservedGroup,
    target: &ObservedGroup,
) -> Hop {
    let target_nets = subnet_cidrs(stack, &target.id);
    let allowing = source.egress.iter().find(|rule| {
        let by_group = rule.admits(flow.protocol, flow.ports, &Peer::Group(target.id.clone()));
        let by_cidr = !target_nets.is_empty()
            && target_nets
                .iter()
                .all(|net| rule.admits(flow.protocol, flow.ports, &Peer::Cidr(*net)));
        by_group
            || by_cidr
            || rule.peer.is_world() && rule.admits(flow.protocol, flow.ports, &rule.peer)
    });
    let (verdict, detail) = match allowing {
        Some(rule) => (
            Verdict::Allowed,
            format!("allowed by egress rule {}", rule.as_egress()),
        ),
        None if target_nets.is_empty()
            && source.egress.iter().any(|r| {
                matches!(r.peer, Peer::Cidr(_)) && r.opens_any(flow.protocol, flow.ports)
            }) =>
        {
            (
                Verdict::Unknown,
                format!(
                    "egress admits some CIDRs, but {} has no located instances to compare",
                    target.id
                ),
            )
        }
        None => (
            Verdict::Denied,
            format!(
                "no egress rule allows {} {} to {}",
                flow.protocol, flow.ports, target.id
            ),
        ),
    };
    Hop {
        layer: HopLayer::SourceEgress,
        resource: source.id.to_string(),
        verdict,
        detail,
    }
}

/// Where traffic of a group really is: the subnets of the instances wearing it.
fn subnets_of<'a>(stack: &'a ObservedStack, group: &'a SecurityGroupId) -> BTreeSet<&'a SubnetId> {
    stack
        .instances_in(group)
        .filter_map(|i| i.subnet.as_ref())
        .collect()
}

fn subnet_cidrs(stack: &ObservedStack, group: &SecurityGroupId) -> Vec<IpNet> {
    subnets_of(stack, group)
        .into_iter()
        .filter_map(|s| stack.subnets.get(s).and_then(|s| s.cidr))
        .collect()
}

fn check_acls(
    flow: &Flow,
    stack: &ObservedStack,
    peer: &Peer,
    source: Option<&ObservedGroup>,
    target: &ObservedGroup,
) -> Vec<Hop> {
    let target_subnets = subnets_of(stack, &target.id);
    if target_subnets.is_empty() {
        return vec![unknown_acl_hop(format!(
            "no instance wears {}: its subnets are unknown",
            target.id
        ))];
    }
    let mut hops = Vec::new();
    for target_subnet in target_subnets {
        let Some(target_net) = stack.subnets.get(target_subnet).and_then(|s| s.cidr) else {
            hops.push(unknown_acl_hop(format!(
                "subnet {target_subnet} was not described"
            )));
            continue;
        };
        let target_acl = stack
            .subnets
            .get(target_subnet)
            .and_then(|s| s.acl.as_ref());
        match source {
            None => {
                let Peer::Cidr(from) = peer else { continue };
                hops.push(acl_hop(
                    stack,
                    target_acl,
                    HopLayer::TargetAclInbound,
                    flow.protocol,
                    flow.ports,
                    from,
                ));
                hops.push(acl_hop(
                    stack,
                    target_acl,
                    HopLayer::TargetAclReturn,
                    flow.protocol,
                    PortRange::EPHEMERAL,
                    from,
                ));
            }
            Some(source) => {
                let source_subnets = subnets_of(stack, &source.id);
                if source_subnets.is_empty() {
                    hops.push(unknown_acl_hop(format!(
                        "no instance wears {}: its subnets are unknown",
                        source.id
                    )));
                }
                for source_subnet in source_subnets {
                    if source_subnet == target_subnet {
                        continue; // traffic inside one subnet never crosses its ACL
                    }
                    let Some(source_net) = stack.subnets.get(source_subnet).and_then(|s| s.cidr)
                    else {
                        hops.push(unknown_acl_hop(format!(
                            "subnet {source_subnet} was not described"
                        )));
                        continue;
                    };
                    let source_acl = stack
                        .subnets
                        .get(source_subnet)
                        .and_then(|s| s.acl.as_ref());
                    hops.push(acl_hop(
                        stack,
                        source_acl,
                        HopLayer::SourceAclOutbound,
                        flow.protocol,
                        flow.ports,
                        &target_net,
                    ));
                    hops.push(acl_hop(
                        stack,
                        target_acl,
                        HopLayer::TargetAclInbound,
                        flow.protocol,
                        flow.ports,
                        &source_net,
                    ));
                    hops.push(acl_hop(
                        stack,
                        target_acl,
                        HopLayer::TargetAclReturn,
                        flow.protocol,
                        PortRange::EPHEMERAL,
                        &source_net,
                    ));
                    hops.push(acl_hop(
                        stack,
                        source_acl,
                        HopLayer::SourceAclReturn,
                        flow.protocol,
                        PortRange::EPHEMERAL,
                        &target_net,
                    ));
                }
            }
        }
    }
    hops
}

fn unknown_acl_hop(detail: String) -> Hop {
    Hop {
        layer: HopLayer::TargetAclInbound,
        resource: "network ACL".into(),
        verdict: Verdict::Unknown,
        detail,
    }
}

fn acl_hop(
    stack: &ObservedStack,
    acl: Option<&NetworkAclId>,
    layer: HopLayer,
    protocol: Protocol,
    ports: PortRange,
    peer: &IpNet,
) -> Hop {
    let direction = match layer {
        HopLayer::TargetAclInbound | HopLayer::SourceAclReturn => Direction::Inbound,
        _ => Direction::Outbound,
    };
    let Some((acl_id, acl)) = acl.and_then(|id| stack.acls.get(id).map(|acl| (id, acl))) else {
        return Hop {
            layer,
            resource: acl.map_or_else(|| "network ACL".to_string(), |id| id.to_string()),
            verdict: Verdict::Unknown,
            detail: "the subnet's network ACL was not described".into(),
        };
    };
    let way = match direction {
        Direction::Inbound => "from",
        Direction::Outbound => "to",
    };
    let (verdict, detail) = match acl.deciding_entry(direction, protocol, ports, peer) {
        Some(entry) if entry.allow => (Verdict::Allowed, format!("{direction} rule {} allows {protocol} {ports} {way} {peer}", entry.rule_number)),
        Some(entry) => (Verdict::Denied, format!("{direction} rule {} denies {protocol} {ports} {way} {peer}", entry.rule_number)),
        None => (Verdict::Denied, format!("no {direction} rule matches {protocol} {ports} {way} {peer}: the default rule denies it")),
    };
    Hop {
        layer,
        resource: acl_id.to_string(),
        verdict,
        detail,
    }
}
