//! Exposure through a load balancer: a forbidden port of a stack's instance that the whole
//! internet reaches through an internet-facing load balancer, because a listener its security
//! groups open to the world forwards to a target group with the instance registered on that
//! port.
//!
//! The instance's own groups may admit only the load balancer, so the forbidden check of the
//! groups never sees it; the path has to be followed from the listener. The load balancer is
//! found through its target groups' targets, not by a tag: it is usually a third party's (a
//! marketplace template's, a platform team's) and carries no stack tag. For the same reason it is
//! only reported, never changed: it belongs to whoever deployed it, and closing a listener or a
//! group of theirs from here would break whatever else it serves.

// The model lives with the rest of the observed stack; re-exported here, where it is used.
pub use super::observed::{Listener, ObservedLoadBalancer, ObservedTargetGroup, Scheme, Target};
use super::observed::{ObservedGroup, ObservedInstance, ObservedStack};
use crate::ids::{InstanceId, LoadBalancerArn, RoleName, SecurityGroupId, TargetGroupArn};
use crate::net::{Peer, PortRange, Protocol, Rule};
use crate::stack::StackFile;
use serde::Serialize;
use std::fmt;

/// A security group named by its ID and its name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NamedGroup {
    pub id: SecurityGroupId,
    pub name: String,
}

impl fmt::Display for NamedGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.is_empty() {
            write!(f, "{}", self.id)
        } else {
            write!(f, "{} ({})", self.id, self.name)
        }
    }
}

/// A forbidden port of a stack's instance reachable from the world through a load balancer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Exposure {
    pub load_balancer: String,
    pub load_balancer_arn: LoadBalancerArn,
    /// `PROTOCOL:PORT`, as the listener is shown in the console.
    pub listener: String,
    /// The load balancer's group that opens the listener to the world, and its rule.
    pub admitted_by: NamedGroup,
    pub world_rule: Rule,
    pub target_group: String,
    pub target_group_arn: TargetGroupArn,
    pub instance: InstanceId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<RoleName>,
    pub protocol: Protocol,
    pub port: u16,
    /// The rule of the instance's groups that lets the load balancer in, when the groups were
    /// read (a rule naming the load balancer's group, a CIDR or a prefix list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_rule: Option<(NamedGroup, Rule)>,
    pub note: String,
}

impl fmt::Display for Exposure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let role = self
            .role
            .as_ref()
            .map_or(String::new(), |role| format!(", role {role}"));
        write!(
            f,
            "{}:{} ({}{role}) reachable from the world: load balancer {} → listener {}, admitted from the world by {} ({}) → target group {} → {}:{}",
            self.instance,
            self.port,
            self.protocol,
            self.load_balancer,
            self.listener,
            self.admitted_by,
            self.world_rule,
            self.target_group,
            self.instance,
            self.port,
        )?;
        if let Some((group, rule)) = &self.instance_rule {
            write!(f, ", let in by {group} ({rule})")?;
        }
        Ok(())
    }
}

/// Every forbidden port of `stack`'s instances (the stack file's `[[forbidden]]` entries,
/// applied to the instance's role as they are to groups) that an internet-facing load balancer
/// lets the world reach: a listener a rule of its groups opens to `0.0.0.0/0` or `::/0`,
/// forwarding to a target group with the instance registered on the forbidden port.
///
/// An internal load balancer, a listener its groups do not open to the world, a target port no
/// entry forbids, or an instance whose groups (all read) let nothing of the load balancer in, is
/// no exposure. A load balancer without security groups (a network load balancer can have none)
/// passes the clients' addresses through: the instance's own groups then face the world, and
/// the forbidden check of the groups covers them.
pub fn world_exposures(file: &StackFile, stack: &ObservedStack) -> Vec<Exposure> {
    let mut exposures = Vec::new();
    for lb in &stack.load_balancers {
        if lb.scheme != Scheme::InternetFacing {
            continue;
        }
        for listener in &lb.listeners {
            let Some((group, world_rule)) = world_admission(lb, listener) else {
                continue;
            };
            let target_groups = lb
                .target_groups
                .iter()
                .filter(|tg| listener.forwards_to.contains(&tg.arn));
            for tg in target_groups {
                for target in &tg.targets {
                    let Some(instance) = stack.instances.iter().find(|i| i.id == target.instance)
                    else {
                        continue;
                    };
                    let Some(protocol) = forbidden_protocol(file, instance, &tg.protocol, target)
                    else {
                        continue;
                    };
                    let Some(instance_rule) =
                        instance_admission(stack, instance, lb, protocol, target)
                    else {
                        continue;
                    };
                    exposures.push(Exposure {
                        load_balancer: lb.name.clone(),
                        load_balancer_arn: lb.arn.clone(),
                        listener: format!("{}:{}", listener.protocol, listener.port),
                        admitted_by: named(group),
                        world_rule: world_rule.clone(),
                        target_group: tg.name.clone(),
                        target_group_arn: tg.arn.clone(),
                        instance: instance.id.clone(),
                        role: instance.role.clone(),
                        protocol,
                        port: target.port,
                        instance_rule,
                        note: format!(
                            "reported, not changed: the load balancer belongs to whoever deployed it; \
                             its owner closes the listener to the world or stops forwarding to port {}",
                            target.port
                        ),
                    });
                }
            }
        }
    }
    exposures
}

/// The load balancer's group and rule that open `listener` to the world, if any.
fn world_admission<'a>(
    lb: &'a ObservedLoadBalancer,
    listener: &Listener,
) -> Option<(&'a ObservedGroup, &'a Rule)> {
    let ports = PortRange::single(listener.port);
    ip_protocols(&listener.protocol)
        .iter()
        .find_map(|protocol| {
            lb.groups.iter().find_map(|group| {
                group
                    .ingress
                    .iter()
                    .find(|rule| rule.peer.is_world() && rule.admits(*protocol, ports, &rule.peer))
                    .map(|rule| (group, rule))
            })
        })
}

/// The IP protocol of a forbidden entry that covers the target's port on the instance's role,
/// if any.
fn forbidden_protocol(
    file: &StackFile,
    instance: &ObservedInstance,
    target_group_protocol: &str,
    target: &Target,
) -> Option<Protocol> {
    let ports = PortRange::single(target.port);
    ip_protocols(target_group_protocol)
        .into_iter()
        .find(|protocol| {
            file.forbidden.iter().any(|forbidden| {
                forbidden.applies_to(instance.role.as_ref())
                    && forbidden.protocol.admits(*protocol)
                    && forbidden.ports.iter().any(|range| range.contains(ports))
            })
        })
}

/// Whether the instance's groups let the load balancer in on the target's port: `Some(None)`
/// when some of its groups were not read (so nothing rules it out), `Some(Some(rule))` with the
/// first rule that may (one naming a group of the load balancer, a CIDR, a prefix list), `None`
/// when every group was read and none does.
fn instance_admission(
    stack: &ObservedStack,
    instance: &ObservedInstance,
    lb: &ObservedLoadBalancer,
    protocol: Protocol,
    target: &Target,
) -> Option<Option<(NamedGroup, Rule)>> {
    let ports = PortRange::single(target.port);
    let groups: Vec<&ObservedGroup> = instance
        .groups
        .iter()
        .filter_map(|id| stack.groups.iter().find(|g| &g.id == id))
        .collect();
    let lets_in = |rule: &Rule| {
        rule.opens_any(protocol, ports)
            && match &rule.peer {
                Peer::Group(id) => lb.groups.iter().any(|g| &g.id == id),
                Peer::Cidr(_) | Peer::PrefixList(_) => true,
            }
    };
    // A rule naming the load balancer's group says most about the path: it first.
    let naming_the_lb = |rule: &&Rule| matches!(rule.peer, Peer::Group(_));
    let first = |pick: &dyn Fn(&&Rule) -> bool| {
        groups.iter().find_map(|group| {
            group
                .ingress
                .iter()
                .filter(|rule| lets_in(rule))
                .find(|rule| pick(rule))
                .map(|rule| (named(group), rule.clone()))
        })
    };
    let found = first(&naming_the_lb).or_else(|| first(&|_| true));
    match found {
        Some(found) => Some(Some(found)),
        None if groups.len() < instance.groups.len() => Some(None),
        None => None,
    }
}

/// The IP protocols a listener or target group protocol runs over.
fn ip_protocols(elb_protocol: &str) -> Vec<Protocol> {
    match elb_protocol.to_ascii_uppercase().as_str() {
        "UDP" | "GENEVE" => vec![Protocol::Udp],
        "TCP_UDP" => vec![Protocol::Tcp, Protocol::Udp],
        _ => vec![Protocol::Tcp],
    }
}

fn named(group: &ObservedGroup) -> NamedGroup {
    NamedGroup {
        id: group.id.clone(),
        name: group.name.clone(),
    }
}
