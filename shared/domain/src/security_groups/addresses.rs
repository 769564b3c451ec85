//! Where a group's traffic really is, as addresses, and whether rules naming CIDRs admit it.
//!
//! A rule naming a CIDR admits every address inside it, whatever group wears the address: a
//! database group open to the VPC's CIDR admits the nodes as surely as a rule naming their
//! group. The flow check says so (the path is open, through a rule broader than the flow needs)
//! and the planner counts it (unless the flow asks for a rule of its own); both read the rules
//! here, so what the report calls open is what the planner leaves alone.

use super::observed::ObservedStack;
use crate::ids::SecurityGroupId;
use crate::net::{Peer, PortRange, Protocol, Rule};
use ipnet::IpNet;
use std::collections::BTreeSet;

/// One place a group's traffic comes from or goes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Place {
    /// What it is, for reports: a network interface's ID, or a subnet's.
    pub name: String,
    /// An interface's addresses (host-length networks: traffic leaves from one of them), or the
    /// range of the subnet an instance sits in when no interface of the group was read.
    pub nets: Vec<IpNet>,
}

/// The places of `group`: every network interface wearing it; when none was read, the subnet of
/// every instance wearing it and the subnets of every DB instance's subnet group (a rule whose
/// CIDR contains the subnet contains the instance).
/// Empty when nothing locates the group.
pub(crate) fn places_of(stack: &ObservedStack, group: &SecurityGroupId) -> Vec<Place> {
    let interfaces: Vec<Place> = stack
        .interfaces_in(group)
        .filter(|interface| !interface.addresses.is_empty())
        .map(|interface| Place {
            name: interface.id.to_string(),
            nets: interface
                .addresses
                .iter()
                .copied()
                .map(IpNet::from)
                .collect(),
        })
        .collect();
    if !interfaces.is_empty() {
        return interfaces;
    }
    let databases = stack.databases_in(group).flat_map(|d| &d.subnets);
    stack
        .instances_in(group)
        .filter_map(|instance| instance.subnet.as_ref())
        .chain(databases)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter_map(|subnet| {
            let cidr = stack.subnets.get(subnet)?.cidr?;
            Some(Place {
                name: subnet.to_string(),
                nets: vec![cidr],
            })
        })
        .collect()
}

/// How rules naming CIDRs admit the places of a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CidrAdmission<'a> {
    /// Every place is admitted, by these rules (each admits at least one place).
    All(Vec<&'a Rule>),
    /// Nothing locates the group: there is nothing to compare the CIDRs with.
    Unlocated,
    /// Some places are admitted by none of the rules.
    Partly {
        admitted: usize,
        missing: Vec<String>,
    },
}

/// Whether `rules` admit `protocol`/`ports` traffic with every one of `places` by the CIDRs
/// they name. A place counts when a rule contains one of its addresses: which one the operating
/// system sends from (IPv4 or IPv6) is not visible from AWS, and a flow needs only one to work.
pub(crate) fn admitted_by_cidr<'a>(
    rules: &[&'a Rule],
    protocol: Protocol,
    ports: PortRange,
    places: &[Place],
) -> CidrAdmission<'a> {
    if places.is_empty() {
        return CidrAdmission::Unlocated;
    }
    let admits = |rule: &Rule, place: &Place| {
        place
            .nets
            .iter()
            .any(|net| rule.admits(protocol, ports, &Peer::Cidr(*net)))
    };
    let mut admitting: Vec<&'a Rule> = Vec::new();
    let mut missing = Vec::new();
    for place in places {
        let mut admitted = false;
        for rule in rules.iter().copied().filter(|rule| admits(rule, place)) {
            admitted = true;
            if !admitting.contains(&rule) {
                admitting.push(rule);
            }
        }
        if !admitted {
            missing.push(place.name.clone());
        }
    }
    if missing.is_empty() {
        CidrAdmission::All(admitting)
    } else {
        CidrAdmission::Partly {
            admitted: places.len() - missing.len(),
            missing,
        }
    }
}
