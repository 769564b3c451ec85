//! The state of a stack as read from AWS, in domain terms: its security groups (rules flattened
//! to one peer each), its instances, the network interfaces wearing its groups, and the subnets
//! and network ACLs they sit in, and the load balancers in front of its instances.
//!
//! The planner reads only this, so it can be built by hand in tests and benchmarks.

use super::node_flows::NodeConfig;
use crate::ids::{
    DbInstanceId, InstanceId, LoadBalancerArn, NetworkAclId, NetworkInterfaceId, RoleName,
    SecurityGroupId, StackName, SubnetId, TargetGroupArn, VpcId,
};
use crate::net::{PortRange, Protocol, Rule};
use ipnet::IpNet;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

#[derive(Clone, Debug, Serialize)]
pub struct ObservedStack {
    pub name: StackName,
    pub groups: Vec<ObservedGroup>,
    pub instances: Vec<ObservedInstance>,
    /// Every network interface wearing one of the stack's groups, whatever it belongs to (an
    /// instance, a database cluster, a load balancer): the addresses a group's traffic really
    /// has, which rules naming a CIDR are compared with.
    pub interfaces: Vec<ObservedInterface>,
    pub subnets: BTreeMap<SubnetId, ObservedSubnet>,
    pub acls: BTreeMap<NetworkAclId, NetworkAcl>,
    /// The load balancers with one of the stack's instances among their targets; read on
    /// sweeps only (empty when not read).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub load_balancers: Vec<ObservedLoadBalancer>,
    /// The stack's RDS DB instances (`[database]`): the groups each wears and the subnets of
    /// its DB subnet group, where traffic to it arrives. Empty without `[database]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub databases: Vec<DatabasePlacement>,
    /// Groups the stack's DB instances wear that are not the stack's, read by ID for the flow
    /// check: never planned, never changed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub database_groups: Vec<ObservedGroup>,
    /// The node's ports, read from its parameters when a flow of the stack file follows them
    /// (`None`: not read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<NodeConfig>,
}

/// Where an RDS DB instance of the stack receives traffic: RDS's own network interfaces are not
/// always listed as wearing its groups (and the emulator has none), so the flow check locates
/// the database by the subnets of its DB subnet group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DatabasePlacement {
    pub id: DbInstanceId,
    /// Its `chainlink:role` tag.
    pub role: Option<RoleName>,
    pub groups: Vec<SecurityGroupId>,
    pub subnets: Vec<SubnetId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ObservedGroup {
    pub id: SecurityGroupId,
    pub name: String,
    pub vpc: Option<VpcId>,
    pub role: Option<RoleName>,
    pub ingress: Vec<Rule>,
    pub egress: Vec<Rule>,
    /// The approvals a plan changing this group already ran on (`APPROVAL_TAG`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub used_approvals: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ObservedInstance {
    pub id: InstanceId,
    pub role: Option<RoleName>,
    pub subnet: Option<SubnetId>,
    pub groups: Vec<SecurityGroupId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ObservedInterface {
    pub id: NetworkInterfaceId,
    pub subnet: Option<SubnetId>,
    pub groups: Vec<SecurityGroupId>,
    /// Its private IPv4 addresses and its IPv6 addresses: traffic leaves it from one of them.
    pub addresses: Vec<IpAddr>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ObservedSubnet {
    pub cidr: Option<IpNet>,
    pub acl: Option<NetworkAclId>,
}

/// A stateless subnet firewall: entries are evaluated in rule-number order, first match wins,
/// and anything unmatched is denied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NetworkAcl {
    pub entries: Vec<AclEntry>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Inbound,
    Outbound,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AclEntry {
    /// 32767 is AWS's catch-all `*` entry.
    pub rule_number: i32,
    pub direction: Direction,
    pub protocol: Protocol,
    pub ports: Option<PortRange>,
    pub cidr: IpNet,
    pub allow: bool,
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
        })
    }
}

impl NetworkAcl {
    /// The entry that decides `protocol`/`ports` traffic with `peer` in `direction`, if any
    /// (none means the implicit deny). An entry decides when its range overlaps the peer's:
    /// for a range of addresses that is the rule the first of them meets.
    pub fn deciding_entry(
        &self,
        direction: Direction,
        protocol: Protocol,
        ports: PortRange,
        peer: &IpNet,
    ) -> Option<&AclEntry> {
        let mut entries: Vec<&AclEntry> = self
            .entries
            .iter()
            .filter(|e| e.direction == direction)
            .collect();
        entries.sort_by_key(|e| e.rule_number);
        entries.into_iter().find(|entry| {
            let ports_match = match (entry.protocol, entry.ports) {
                (Protocol::All, _) | (_, None) => true,
                (_, Some(range)) => range.overlaps(ports),
            };
            entry.protocol.admits(protocol) && ports_match && overlaps(&entry.cidr, peer)
        })
    }
}

fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(b) || b.contains(a)
}

impl ObservedStack {
    pub fn groups_with_role<'a>(
        &'a self,
        role: &'a RoleName,
    ) -> impl Iterator<Item = &'a ObservedGroup> + 'a {
        self.groups
            .iter()
            .filter(move |g| g.role.as_ref() == Some(role))
    }

    /// The instances wearing `group`: where its traffic really comes from or goes to.
    pub fn instances_in<'a>(
        &'a self,
        group: &'a SecurityGroupId,
    ) -> impl Iterator<Item = &'a ObservedInstance> + 'a {
        self.instances
            .iter()
            .filter(move |i| i.groups.contains(group))
    }

    /// The DB instances wearing `group`.
    pub fn databases_in<'a>(
        &'a self,
        group: &'a SecurityGroupId,
    ) -> impl Iterator<Item = &'a DatabasePlacement> + 'a {
        self.databases
            .iter()
            .filter(move |d| d.groups.contains(group))
    }

    /// The network interfaces wearing `group`, of instances and of anything else.
    pub fn interfaces_in<'a>(
        &'a self,
        group: &'a SecurityGroupId,
    ) -> impl Iterator<Item = &'a ObservedInterface> + 'a {
        self.interfaces
            .iter()
            .filter(move |i| i.groups.contains(group))
    }
}

// ---- Load balancers in front of the stack's instances (`load_balancers` checks them) ----------

/// A load balancer with a target group that has one of the stack's instances registered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ObservedLoadBalancer {
    pub arn: LoadBalancerArn,
    pub name: String,
    pub scheme: Scheme,
    /// Its security groups, as read by ID (a third party's groups carry no stack tag).
    pub groups: Vec<ObservedGroup>,
    pub listeners: Vec<Listener>,
    /// Its target groups that have one of the stack's instances registered.
    pub target_groups: Vec<ObservedTargetGroup>,
}

/// Whether the load balancer has public addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    InternetFacing,
    Internal,
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InternetFacing => "internet-facing",
            Self::Internal => "internal",
        })
    }
}

/// A listener and the target groups its default action forwards to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Listener {
    /// As Elastic Load Balancing names it: `HTTP`, `HTTPS`, `TCP`, `TLS`, `UDP`, `TCP_UDP`…
    pub protocol: String,
    pub port: u16,
    pub forwards_to: Vec<TargetGroupArn>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ObservedTargetGroup {
    pub arn: TargetGroupArn,
    pub name: String,
    /// As Elastic Load Balancing names it (`HTTP`, `TCP`…).
    pub protocol: String,
    pub targets: Vec<Target>,
}

/// An instance registered in a target group, on the port traffic is sent to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Target {
    pub instance: InstanceId,
    pub port: u16,
}
