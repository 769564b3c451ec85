//! The flow check: for every required flow, whether it is open end to end and what admits or
//! blocks it — the target's ingress, the source's egress, and the network ACLs of the subnets
//! the traffic crosses (request and return path, since ACLs are stateless).
//!
//! It is about reachability: a rule naming a CIDR that contains the addresses of the other end
//! admits it as surely as a rule naming its group, so the path is open, through a rule that is
//! flagged as broader than the flow needs.
//!
//! ACLs are only reported, never changed: they are usually owned by a network team and a wrong
//! automatic change there cuts far more than one stack.

use crate::ids::{NetworkAclId, SecurityGroupId, SubnetId};
use crate::net::{Peer, PortRange, Protocol, Rule};
use crate::security_groups::addresses::{admitted_by_cidr, places_of, CidrAdmission};
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
    /// Security groups admit it, but some hop could not be checked (nothing locates a subnet).
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
    /// The target group, or the CIDR an egress path leads to.
    pub target: String,
    pub status: FlowStatus,
    pub hops: Vec<Hop>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Hop {
    pub layer: HopLayer,
    pub resource: String,
    pub verdict: Verdict,
    pub detail: String,
    /// The security-group rules that admit the traffic here (ingress and egress hops).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Rule>,
    /// The admitting ingress rules admit sources the flow does not name: a CIDR containing the
    /// source group's addresses, or a wider CIDR than the flow's. Open, but anything else in
    /// that range is admitted too.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub broader: bool,
}

impl Hop {
    pub(super) fn new(layer: HopLayer, resource: String, verdict: Verdict, detail: String) -> Self {
        Self {
            layer,
            resource,
            verdict,
            detail,
            rules: Vec::new(),
            broader: false,
        }
    }
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

/// Only admitted groups are a flow's targets and sources: a refused one is reported apart.
pub(super) fn check_flow(file: &StackFile, flow: &Flow, stack: &ObservedStack) -> FlowCheck {
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
    if !targets.is_empty() {
        paths.extend(databases_off_the_targets(flow, stack, &targets, &sources));
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
        status: FlowStatus::of_paths(&paths, note.as_deref()),
        paths,
        note,
    }
}

/// The stack's DB instances of the flow's target role that wear none of the groups checked:
/// the paths above say nothing of how traffic reaches them, so each gets a path through its own
/// groups (the stack's, or read by ID: `ObservedStack::database_groups`), the most open one,
/// since any group a database wears may admit the traffic. A database whose groups could not be
/// read is unverified, naming them.
fn databases_off_the_targets(
    flow: &Flow,
    stack: &ObservedStack,
    targets: &[&ObservedGroup],
    sources: &[(Peer, Option<&ObservedGroup>)],
) -> Vec<PathCheck> {
    let checked: BTreeSet<&SecurityGroupId> = targets.iter().map(|g| &g.id).collect();
    let known = || stack.groups.iter().chain(&stack.database_groups);
    let mut paths = Vec::new();
    for database in stack
        .databases
        .iter()
        .filter(|d| d.role.as_ref() == Some(&flow.to))
    {
        if database.groups.iter().any(|g| checked.contains(g)) {
            continue;
        }
        let own: Vec<&ObservedGroup> = database
            .groups
            .iter()
            .filter_map(|id| known().find(|g| &g.id == id))
            .collect();
        let target = format!("DB instance {}", database.id);
        for (peer, source) in sources {
            let best = own
                .iter()
                .map(|group| check_path(flow, stack, peer, *source, group))
                .max_by_key(|path| path.status);
            let path = match best {
                Some(path) => PathCheck {
                    target: format!("{target} ({})", path.target),
                    ..path
                },
                None => {
                    let detail = format!(
                        "{target} wears {}, none of them a group of role {} and none readable: its rules are not checked",
                        named(database.groups.iter().map(SecurityGroupId::as_str)),
                        flow.to
                    );
                    let hop = Hop::new(
                        HopLayer::TargetIngress,
                        target.clone(),
                        Verdict::Unknown,
                        detail,
                    );
                    PathCheck {
                        source: peer.to_string(),
                        target: target.clone(),
                        status: FlowStatus::Unverified,
                        hops: vec![hop],
                    }
                }
            };
            paths.push(path);
        }
    }
    paths
}

impl FlowStatus {
    /// A flow is as open as its least open path; with nothing to check (`note`), blocked.
    pub(super) fn of_paths(paths: &[PathCheck], note: Option<&str>) -> Self {
        paths
            .iter()
            .map(|p| p.status)
            .min()
            .filter(|_| note.is_none())
            .unwrap_or(Self::Blocked)
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
    hops.push(check_ingress(flow, stack, peer, target));
    hops.extend(acl_hops);
    PathCheck {
        source: peer.to_string(),
        target: target.id.to_string(),
        status: status_of(&hops),
        hops,
    }
}

/// A path is blocked by any denying hop, unverified by any unknown one.
pub(super) fn status_of(hops: &[Hop]) -> FlowStatus {
    if hops.iter().any(|h| h.verdict == Verdict::Denied) {
        FlowStatus::Blocked
    } else if hops.iter().any(|h| h.verdict == Verdict::Unknown) {
        FlowStatus::Unverified
    } else {
        FlowStatus::Open
    }
}

/// The target's ingress: a rule naming the source as the flow does, or a CIDR containing it;
/// for a group source, also rules whose CIDRs contain every place of the group.
fn check_ingress(flow: &Flow, stack: &ObservedStack, peer: &Peer, target: &ObservedGroup) -> Hop {
    let hop = |verdict, detail| {
        Hop::new(
            HopLayer::TargetIngress,
            target.id.to_string(),
            verdict,
            detail,
        )
    };
    // The rule naming exactly the flow's source, if there is one, before any wider CIDR.
    let admitting = |exact: bool| {
        target
            .ingress
            .iter()
            .find(move |r| r.admits(flow.protocol, flow.ports, peer) && (!exact || r.peer == *peer))
    };
    if let Some(rule) = admitting(true).or_else(|| admitting(false)) {
        let broader = rule.peer != *peer;
        let detail = if broader {
            format!("admitted by ingress rule {rule}, broader than the flow needs ({peer})")
        } else {
            format!("admitted by ingress rule {rule}")
        };
        return Hop {
            rules: vec![rule.clone()],
            broader,
            ..hop(Verdict::Allowed, detail)
        };
    }
    let refused = format!(
        "no ingress rule admits {} {} from {peer}",
        flow.protocol, flow.ports
    );
    let Peer::Group(source) = peer else {
        return hop(Verdict::Denied, refused);
    };
    let rules: Vec<&Rule> = target.ingress.iter().collect();
    let places = places_of(stack, source);
    match admitted_by_cidr(&rules, flow.protocol, flow.ports, &places) {
        CidrAdmission::All(admitting) => Hop {
            rules: admitting.iter().map(|r| (*r).clone()).collect(),
            broader: true,
            ..hop(
                Verdict::Allowed,
                format!(
                    "admitted by ingress {}, whose CIDR contains the addresses of {source} ({}): \
                     broader than the flow needs, it admits anything else in that range too",
                    listed(&admitting),
                    named(places.iter().map(|p| p.name.as_str()))
                ),
            )
        },
        CidrAdmission::Partly { admitted, missing } => hop(
            Verdict::Denied,
            not_contained(refused, &rules, flow, source, admitted, &missing),
        ),
        // A CIDR admits what it contains; with no address of the source there is no knowing.
        CidrAdmission::Unlocated => hop(Verdict::Denied, refused),
    }
}

/// The source's egress: a rule naming the target group, or rules whose CIDRs contain every
/// place of the target. Egress to a CIDR is not flagged as broader: every group starts with
/// AWS's default egress to the whole internet, and the engine manages ingress only.
fn check_egress(
    flow: &Flow,
    stack: &ObservedStack,
    source: &ObservedGroup,
    target: &ObservedGroup,
) -> Hop {
    let hop = |verdict, detail| {
        Hop::new(
            HopLayer::SourceEgress,
            source.id.to_string(),
            verdict,
            detail,
        )
    };
    let allowed = |rules: Vec<&Rule>| Hop {
        rules: rules.iter().map(|r| (*r).clone()).collect(),
        ..hop(
            Verdict::Allowed,
            format!(
                "allowed by egress rule {}",
                rules
                    .iter()
                    .map(|r| r.as_egress())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    };
    if let Some(rule) = source
        .egress
        .iter()
        .find(|rule| rule.admits(flow.protocol, flow.ports, &Peer::Group(target.id.clone())))
    {
        return allowed(vec![rule]);
    }
    let refused = format!(
        "no egress rule allows {} {} to {}",
        flow.protocol, flow.ports, target.id
    );
    let rules: Vec<&Rule> = source.egress.iter().collect();
    let places = places_of(stack, &target.id);
    match admitted_by_cidr(&rules, flow.protocol, flow.ports, &places) {
        CidrAdmission::All(admitting) => allowed(admitting),
        CidrAdmission::Partly { admitted, missing } => hop(
            Verdict::Denied,
            not_contained(refused, &rules, flow, &target.id, admitted, &missing),
        ),
        CidrAdmission::Unlocated => {
            // Wherever the target is, egress to the whole internet reaches it.
            let world = source
                .egress
                .iter()
                .find(|r| r.peer.is_world() && r.admits(flow.protocol, flow.ports, &r.peer));
            if let Some(rule) = world {
                allowed(vec![rule])
            } else if source
                .egress
                .iter()
                .any(|r| matches!(r.peer, Peer::Cidr(_)) && r.opens_any(flow.protocol, flow.ports))
            {
                hop(
                    Verdict::Unknown,
                    format!(
                        "egress admits some CIDRs, but {} has no located interfaces to compare",
                        target.id
                    ),
                )
            } else {
                hop(Verdict::Denied, refused)
            }
        }
    }
}

/// Why the rules naming CIDRs do not reach all of `group`, after `refused`; `refused` alone
/// when no such rule opens the flow's ports at all.
fn not_contained(
    refused: String,
    rules: &[&Rule],
    flow: &Flow,
    group: &SecurityGroupId,
    admitted: usize,
    missing: &[String],
) -> String {
    let cidrs: Vec<String> = rules
        .iter()
        .filter(|r| matches!(r.peer, Peer::Cidr(_)) && r.opens_any(flow.protocol, flow.ports))
        .map(|r| r.peer.to_string())
        .collect();
    if cidrs.is_empty() {
        return refused;
    }
    let cidrs = cidrs.join(", ");
    let missing = named(missing.iter().map(String::as_str));
    if admitted == 0 {
        format!("{refused}: no rule's CIDR ({cidrs}) contains an address of {group} ({missing})")
    } else {
        format!(
            "{refused}: the rules' CIDRs ({cidrs}) contain {admitted} of {group}'s interfaces or \
             subnets, not {missing}"
        )
    }
}

/// "rule …" or "rules …, …".
fn listed(rules: &[&Rule]) -> String {
    let shown: Vec<String> = rules.iter().map(|r| r.to_string()).collect();
    match shown.as_slice() {
        [one] => format!("rule {one}"),
        many => format!("rules {}", many.join(", ")),
    }
}

/// A few names, and how many more: a group of a large fleet wears hundreds of interfaces.
fn named<'a>(names: impl ExactSizeIterator<Item = &'a str>) -> String {
    const SHOWN: usize = 3;
    let total = names.len();
    let shown: Vec<&str> = names.take(SHOWN).collect();
    match total.saturating_sub(SHOWN) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// Where traffic of a group really is: the subnets of the instances and of the other network
/// interfaces (a database's, a load balancer's) wearing it, and those of the DB subnet group of
/// each of the stack's DB instances wearing it.
pub(super) fn subnets_of<'a>(
    stack: &'a ObservedStack,
    group: &'a SecurityGroupId,
) -> BTreeSet<&'a SubnetId> {
    let instances = stack.instances_in(group).filter_map(|i| i.subnet.as_ref());
    let interfaces = stack.interfaces_in(group).filter_map(|i| i.subnet.as_ref());
    let databases = stack.databases_in(group).flat_map(|d| &d.subnets);
    instances.chain(interfaces).chain(databases).collect()
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
        return vec![unlocated(&target.id)];
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
                    hops.push(unlocated(&source.id));
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

/// The ACL hop of a group no instance or interface wears: nothing says which subnets it is in.
pub(super) fn unlocated(group: &SecurityGroupId) -> Hop {
    unknown_acl_hop(format!(
        "no instance, network interface or DB instance wears {group}: its subnets are unknown"
    ))
}

pub(super) fn unknown_acl_hop(detail: String) -> Hop {
    Hop::new(
        HopLayer::TargetAclInbound,
        "network ACL".into(),
        Verdict::Unknown,
        detail,
    )
}

pub(super) fn acl_hop(
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
        return Hop::new(
            layer,
            acl.map_or_else(|| "network ACL".to_string(), |id| id.to_string()),
            Verdict::Unknown,
            "the subnet's network ACL was not described".into(),
        );
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
    Hop::new(layer, acl_id.to_string(), verdict, detail)
}
