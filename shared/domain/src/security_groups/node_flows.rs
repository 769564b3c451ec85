//! The flows of one stack as this run holds them to: the flows whose ports the stack file
//! states, and the flows whose ports the node's configuration decides, on the ports the
//! configuration gives now. A configuration that moved a port away from its last-known-good one
//! also names the rules the old port needed, which the planner may then revoke.
//!
//! Every disagreement is a finding, never a guess: a flow whose port the configuration does not
//! give requires no rule and revokes none.

use crate::net::PortRange;
use crate::stack::{EgressPorts, Flow, FlowSource, NodeFlow, OutboundFlow, StackFile};
use chainlink::{Finding, FindingCode, NodePort, NodePorts, PortSetting, UnknownPort};
use serde::Serialize;

/// What a run knows of one stack's node ports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum NodeConfig {
    /// The flows follow these ports. `replaced`: the last-known-good configuration's ports,
    /// when `ports` are those of a newer configuration judged valid in this run.
    Known {
        ports: NodePorts,
        basis: ConfigBasis,
        #[serde(skip_serializing_if = "Option::is_none")]
        replaced: Option<NodePorts>,
    },
    /// The flows follow no port this run, and why.
    Unknown { reason: String },
}

/// Which version of the configuration the flows follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConfigBasis {
    /// The current parameters: valid, or the last-known-good ones themselves.
    Current,
    /// The last-known-good parameters, because the current ones are invalid (and are being
    /// rolled back): never a value that is going away.
    LastKnownGood,
}

/// The flows a run holds one stack to, and what resolving them found.
#[derive(Clone, Debug, Default)]
pub struct StackFlows {
    pub flows: Vec<Flow>,
    /// The `[[egress]]` paths to trace, each on the ports it is checked on now.
    pub outbound: Vec<OutboundFlow>,
    /// Flows on ports the configuration moved away from: the rules they required may go once
    /// the new port's are in place.
    pub moved: Vec<MovedFlow>,
    pub findings: Vec<Finding>,
}

/// A flow on a port its configuration no longer gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MovedFlow {
    /// The flow as it was, on the old port.
    pub flow: Flow,
    /// Where the configuration puts it now, for people: `7000 (config.toml P2P.V2.…)`.
    pub now: String,
}

/// The flows of `file` for a stack whose node configuration is `node` (`None`: not read, the
/// file has no flow that needs it).
pub fn stack_flows(file: &StackFile, node: Option<&NodeConfig>) -> StackFlows {
    let mut resolved = StackFlows {
        flows: file.flows.clone(),
        outbound: file
            .egress
            .iter()
            .filter_map(|e| match e.ports {
                EgressPorts::Stated(ports) => Some(e.on_ports(ports)),
                EgressPorts::Node(_) => None,
            })
            .collect(),
        ..StackFlows::default()
    };
    let Some(node) = node else {
        return resolved;
    };
    let following: Vec<&str> = file
        .node_flows
        .iter()
        .map(|f| f.name.as_str())
        .chain(
            file.egress
                .iter()
                .filter(|e| matches!(e.ports, EgressPorts::Node(_)))
                .map(|e| e.name.as_str()),
        )
        .collect();
    let (ports, replaced) = match node {
        NodeConfig::Known {
            ports, replaced, ..
        } => (ports, replaced.as_ref()),
        NodeConfig::Unknown { reason } => {
            if !following.is_empty() {
                resolved.findings.push(Finding::new(
                    FindingCode::NodePortsNotFollowed,
                    "flows",
                    format!(
                        "flow {} follows the node's configuration, which this run does not: \
                         {reason}; no rule is added or revoked, and no path checked, for it",
                        following.join(", ")
                    ),
                ));
            }
            return resolved;
        }
    };
    for flow in file.flows.iter() {
        if let Some(finding) = disagreement(flow, ports) {
            resolved.findings.push(finding);
        }
    }
    for flow in &file.node_flows {
        match ports.get(flow.node_port) {
            Ok(setting) => {
                resolve(file, flow, setting, &mut resolved);
                if let Some(old) = replaced.and_then(|old| old.get(flow.node_port).ok()) {
                    let gone = old.ports.iter().filter(|p| !setting.ports.contains(p));
                    resolved.moved.extend(gone.map(|port| MovedFlow {
                        flow: flow.on_port(*port),
                        now: setting.to_string(),
                    }));
                }
            }
            Err(why) => resolved.findings.push(unknown_port(
                "flows",
                format!(
                    "flow {} takes its port from the node's {} port",
                    flow.name, flow.node_port
                ),
                why,
                "no rule is added or revoked for it",
            )),
        }
    }
    for egress in &file.egress {
        let EgressPorts::Node(node_port) = egress.ports else {
            continue;
        };
        match ports.get(node_port) {
            Ok(setting) => resolved.outbound.extend(
                setting
                    .ports
                    .iter()
                    .map(|port| egress.on_ports(PortRange::single(*port))),
            ),
            Err(why) => resolved.findings.push(unknown_port(
                "egress",
                format!(
                    "egress {} takes its ports from the node's {node_port} settings",
                    egress.name
                ),
                why,
                "the path is not checked",
            )),
        }
    }
    resolved
}

/// A port this run does not know: an error when the configuration gives none (nothing can
/// follow it until someone sets it), information when this reader may not decrypt the value
/// that gives it (the parameter function and the CLI, which decrypt, follow it).
fn unknown_port(field: &str, subject: String, why: &UnknownPort, consequence: &str) -> Finding {
    if why.withheld {
        Finding::new(
            FindingCode::NodePortsNotFollowed,
            field,
            format!("{subject}, which this run cannot read: {why}; {consequence} in this run"),
        )
    } else {
        Finding::new(
            FindingCode::NodePortUnknown,
            field,
            format!("{subject}, and the configuration gives none: {why}; {consequence}"),
        )
    }
}

/// The flow on each port `setting` gives, except a port the file forbids facing the world.
fn resolve(file: &StackFile, flow: &NodeFlow, setting: &PortSetting, into: &mut StackFlows) {
    if setting.ports.is_empty() {
        into.findings.push(Finding::new(
            FindingCode::NodePortOff,
            setting.source.as_str(),
            format!(
                "flow {} follows the node's {} port, which the configuration turns off: no rule is required for it",
                flow.name, flow.node_port
            ),
        ));
    }
    for port in &setting.ports {
        let resolved = flow.on_port(*port);
        if let Some(forbidden) = forbidden_to_world(file, &resolved) {
            into.findings.push(Finding::new(
                FindingCode::NodePortForbidden,
                setting.source.as_str(),
                format!(
                    "flow {} opens the node's {} port to the world, and the configuration puts \
                     it on {} {port}, which [[forbidden]] forbids ({forbidden}): not authorized",
                    flow.name, flow.node_port, flow.protocol
                ),
            ));
            continue;
        }
        into.flows.push(resolved);
    }
}

/// What `[[forbidden]]` says of a flow from the whole internet on its port, if it forbids it.
fn forbidden_to_world<'a>(file: &'a StackFile, flow: &Flow) -> Option<&'a str> {
    let FlowSource::Cidr(net) = &flow.from else {
        return None;
    };
    if net.prefix_len() != 0 {
        return None;
    }
    file.forbidden
        .iter()
        .find(|f| {
            f.protocol == flow.protocol
                && f.applies_to(Some(&flow.to))
                && f.ports.iter().any(|p| p.overlaps(flow.ports))
        })
        .map(|f| f.description.as_str())
}

/// A flow whose port the file states, for a setting of the node that puts it elsewhere.
fn disagreement(flow: &Flow, ports: &NodePorts) -> Option<Finding> {
    let node_port: NodePort = flow.node_port?;
    let stated = format!("{} {}", flow.protocol, flow.ports);
    let message = match ports.get(node_port) {
        Ok(setting) if setting.ports.is_empty() => format!(
            "flow {} states {stated} for the node's {node_port} port, which the configuration \
             turns off ({})",
            flow.name, setting.source
        ),
        Ok(setting) => {
            let outside: Vec<String> = setting
                .ports
                .iter()
                .filter(|p| !flow.ports.contains(PortRange::single(**p)))
                .map(u16::to_string)
                .collect();
            if outside.is_empty() {
                return None;
            }
            format!(
                "flow {} states {stated} for the node's {node_port} port, but the configuration \
                 puts it on {}: the flow does not carry the node's traffic",
                flow.name, setting
            )
        }
        Err(why) if why.withheld => {
            return Some(Finding::new(
                FindingCode::NodePortsNotFollowed,
                "flows",
                format!(
                    "flow {} states {stated} for the node's {node_port} port, which this run \
                     cannot check: {why}",
                    flow.name
                ),
            ))
        }
        Err(why) => format!(
            "flow {} states {stated} for the node's {node_port} port, and the configuration \
             gives none: {why}",
            flow.name
        ),
    };
    let source = ports
        .get(node_port)
        .map(|setting| setting.source.clone())
        .unwrap_or_else(|_| "flows".to_string());
    Some(Finding::new(
        FindingCode::FlowPortDisagrees,
        source,
        message,
    ))
}
