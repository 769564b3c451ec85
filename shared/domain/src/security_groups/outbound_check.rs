//! The flow check of an `[[egress]]` path: from each admitted group of the source role to each
//! declared CIDR, the group's egress rules and its subnets' network ACLs (out, and the replies
//! back in on ephemeral ports). The other end is outside the stack: its own ingress is not the
//! stack's to know, and its CIDRs are taken as declared, never resolved from host names.

use super::admission::admitted_with_role;
use super::flow_check::{
    acl_hop, status_of, subnets_of, unknown_acl_hop, unlocated, FlowCheck, FlowStatus, Hop,
    HopLayer, PathCheck, Verdict,
};
use super::observed::{ObservedGroup, ObservedStack};
use crate::net::{Peer, PortRange, Rule};
use crate::stack::{OutboundFlow, StackFile};
use ipnet::IpNet;

pub(super) fn check_outbound(
    file: &StackFile,
    flow: &OutboundFlow,
    stack: &ObservedStack,
) -> FlowCheck {
    let sources: Vec<&ObservedGroup> = admitted_with_role(file, stack, &flow.from).collect();
    let mut paths = Vec::with_capacity(sources.len() * flow.to.len());
    for source in &sources {
        for destination in &flow.to {
            let mut hops = vec![check_egress(flow, source, destination)];
            hops.extend(check_acls(flow, stack, source, destination));
            paths.push(PathCheck {
                source: source.id.to_string(),
                target: destination.to_string(),
                status: status_of(&hops),
                hops,
            });
        }
    }
    let note = sources
        .is_empty()
        .then(|| format!("no security group of the stack has role {}", flow.from));
    let to: Vec<String> = flow.to.iter().map(IpNet::to_string).collect();
    FlowCheck {
        flow: flow.name.clone(),
        from: flow.from.to_string(),
        to: to.join(", "),
        protocol: flow.protocol,
        ports: flow.ports,
        status: FlowStatus::of_paths(&paths, note.as_deref()),
        paths,
        note,
    }
}

/// An egress rule whose CIDR contains the whole destination, for the flow's protocol and ports.
fn check_egress(flow: &OutboundFlow, source: &ObservedGroup, destination: &IpNet) -> Hop {
    let peer = Peer::Cidr(*destination);
    let hop = |verdict, detail| {
        Hop::new(
            HopLayer::SourceEgress,
            source.id.to_string(),
            verdict,
            detail,
        )
    };
    if let Some(rule) = source
        .egress
        .iter()
        .find(|rule| rule.admits(flow.protocol, flow.ports, &peer))
    {
        return Hop {
            rules: vec![rule.clone()],
            ..hop(
                Verdict::Allowed,
                format!("allowed by egress rule {}", rule.as_egress()),
            )
        };
    }
    let refused = format!(
        "no egress rule allows {} {} to {destination}",
        flow.protocol, flow.ports
    );
    let partial: Vec<String> = source
        .egress
        .iter()
        .filter(|rule| {
            reaches_part_of(rule, destination) && rule.opens_any(flow.protocol, flow.ports)
        })
        .map(Rule::as_egress)
        .collect();
    if partial.is_empty() {
        hop(Verdict::Denied, refused)
    } else {
        hop(
            Verdict::Denied,
            format!("{refused}: {} reach only part of it", partial.join(", ")),
        )
    }
}

/// Whether a rule's CIDR lies inside `destination`: it reaches part of it, not all.
fn reaches_part_of(rule: &Rule, destination: &IpNet) -> bool {
    matches!(&rule.peer, Peer::Cidr(net) if destination.contains(net))
}

fn check_acls(
    flow: &OutboundFlow,
    stack: &ObservedStack,
    source: &ObservedGroup,
    destination: &IpNet,
) -> Vec<Hop> {
    let subnets = subnets_of(stack, &source.id);
    if subnets.is_empty() {
        return vec![unlocated(&source.id)];
    }
    let mut hops = Vec::with_capacity(subnets.len() * 2);
    for subnet in subnets {
        let Some(described) = stack.subnets.get(subnet) else {
            hops.push(unknown_acl_hop(format!(
                "subnet {subnet} was not described"
            )));
            continue;
        };
        let acl = described.acl.as_ref();
        hops.push(acl_hop(
            stack,
            acl,
            HopLayer::SourceAclOutbound,
            flow.protocol,
            flow.ports,
            destination,
        ));
        hops.push(acl_hop(
            stack,
            acl,
            HopLayer::SourceAclReturn,
            flow.protocol,
            PortRange::EPHEMERAL,
            destination,
        ));
    }
    hops
}
