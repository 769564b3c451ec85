//! `[[egress]]`: paths out of the stack, towards CIDRs the file declares (the RPC nodes', an
//! external database's). The flow check verifies the source role's egress rules and its
//! subnets' network ACLs towards them; nothing here is ever repaired, and no host name is ever
//! resolved: the CIDRs are the file's word for where the other end is.

use super::raw::RawEgress;
use super::{declared_role, parse_cidr, parse_node_port, parse_ports, parse_protocol};
use super::{Problems, RoleSpec};
use crate::ids::RoleName;
use crate::net::{PortRange, Protocol};
use chainlink::NodePort;
use ipnet::IpNet;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// A declared path out of the stack.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EgressFlow {
    pub name: String,
    pub description: String,
    pub from: RoleName,
    pub to: Vec<IpNet>,
    pub protocol: Protocol,
    pub ports: EgressPorts,
}

/// Where an egress flow's ports come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EgressPorts {
    Stated(PortRange),
    /// The ports the node's configuration connects to (`rpc`: its RPC URLs' ports).
    Node(NodePort),
}

/// An egress flow on one port range: what the flow check traces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboundFlow {
    pub name: String,
    pub from: RoleName,
    pub to: Vec<IpNet>,
    pub protocol: Protocol,
    pub ports: PortRange,
}

impl EgressFlow {
    pub fn on_ports(&self, ports: PortRange) -> OutboundFlow {
        OutboundFlow {
            name: self.name.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            protocol: self.protocol,
            ports,
        }
    }
}

pub(super) fn build_egress(
    raw: &[RawEgress],
    roles: &BTreeMap<RoleName, RoleSpec>,
    has_parameters: bool,
    problems: &mut Problems,
) -> Vec<EgressFlow> {
    let mut names = BTreeSet::new();
    let mut built = Vec::with_capacity(raw.len());
    for (i, entry) in raw.iter().enumerate() {
        let field = format!("egress[{i}]");
        if entry.name.trim().is_empty() {
            problems.push(format!("{field}.name"), "must not be empty");
        } else if !names.insert(entry.name.as_str()) {
            problems.push(
                format!("{field}.name"),
                format!(
                    "{:?} names another egress entry too; names must be unique",
                    entry.name
                ),
            );
        }
        if let Some(flow) = build_one(entry, &field, roles, has_parameters, problems) {
            built.push(flow);
        }
    }
    built
}

fn build_one(
    raw: &RawEgress,
    field: &str,
    roles: &BTreeMap<RoleName, RoleSpec>,
    has_parameters: bool,
    problems: &mut Problems,
) -> Option<EgressFlow> {
    let from = problems.check(&format!("{field}.from"), declared_role(&raw.from, roles));
    if raw.to.is_empty() {
        problems.push(
            format!("{field}.to"),
            "names no CIDR: list where the other end is, e.g. [\"10.50.0.0/16\"] (host names are never resolved)",
        );
    }
    let to: Vec<Option<IpNet>> = raw
        .to
        .iter()
        .enumerate()
        .map(|(j, cidr)| problems.check(&format!("{field}.to[{j}]"), parse_cidr(cidr)))
        .collect();
    let protocol = problems.check(&format!("{field}.protocol"), parse_protocol(&raw.protocol));
    let ports = match (&raw.ports, &raw.config_port) {
        (Some(ports), None) => problems
            .check(&format!("{field}.ports"), parse_ports(ports))
            .map(EgressPorts::Stated),
        (None, Some(name)) => problems
            .check(
                &format!("{field}.config_port"),
                parse_node_port(name, has_parameters).and_then(outbound),
            )
            .map(EgressPorts::Node),
        (Some(_), Some(_)) => {
            problems.push(
                format!("{field}.config_port"),
                "an egress entry takes its ports from ports or from config_port, not both",
            );
            None
        }
        (None, None) => {
            problems.push(
                format!("{field}.ports"),
                "is required: a port (8546) or range, or config_port = \"rpc\" to take the ports \
                 of the node's RPC URLs",
            );
            None
        }
    };
    Some(EgressFlow {
        name: raw.name.clone(),
        description: raw.description.clone(),
        from: from?,
        to: to.into_iter().collect::<Option<Vec<IpNet>>>()?,
        protocol: protocol?,
        ports: ports?,
    })
}

/// Only a port the node connects out on names where traffic leaves the stack.
fn outbound(port: NodePort) -> Result<NodePort, String> {
    if port.is_outbound() {
        Ok(port)
    } else {
        Err(format!(
            "the node's {port} port is one it listens on, not one it connects to: an egress \
             entry takes \"rpc\" or \"database\""
        ))
    }
}
