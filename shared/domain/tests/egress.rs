//! `[[egress]]`: the paths out of the stack (the node to its RPC nodes), checked on the source
//! group's egress rules and its subnets' ACLs towards the declared CIDRs, on the ports the file
//! states or the node's RPC URLs give. Reported, never repaired.

use chainlink::{node_ports, SecretValue};
use domain::net::Protocol;
use domain::net::Rule;
use domain::security_groups::observed::{AclEntry, Direction, ObservedStack};
use domain::security_groups::*;
use domain::stack::StackFile;
use test_support::*;

const FILE: &str = r#"
[stack]
name = "demo"
mode = "enforce"
unpinned = "tests"

[roles]
node = {}

[[egress]]
name = "node-rpc"
from = "node"
to = ["10.50.0.0/16"]
config_port = "rpc"

[[egress]]
name = "node-archive"
from = "node"
to = ["10.60.0.0/24", "10.61.0.0/24"]
ports = 8546

[parameters]
prefix = "/chainlink/demo/"
"#;

fn file() -> StackFile {
    StackFile::parse(FILE, "egress.rs").unwrap_or_else(|e| panic!("{e}"))
}

/// The node in subnet 10.0.1.0/24 behind `acl`, its egress `rules`, following a configuration
/// whose RPC URLs are on 8546 (ws) and 443 (https).
fn node_with(egress: Vec<Rule>, acl: Vec<AclEntry>) -> ObservedStack {
    let config = "[[EVM]]\nChainID = '1'\n[[EVM.Nodes]]\nName = 'a'\n\
                  WSURL = 'ws://a.rpc.internal:8546'\nHTTPURL = 'https://a.rpc.internal'\n";
    let set = [("config.toml".to_string(), SecretValue::new(config))];
    let node = NodeConfig::Known {
        ports: node_ports(&set, &[]),
        basis: ConfigBasis::Current,
        replaced: None,
    };
    ObservedStack {
        node: Some(node),
        ..stack("demo", vec![group("sg-node", "node").egress_only(egress)])
            .with_instance("i-node", "node", "subnet-app", &["sg-node"])
            .with_subnet("subnet-app", "10.0.1.0/24", "acl-app")
            .with_acl("acl-app", acl)
    }
}

fn open_acl() -> Vec<AclEntry> {
    vec![
        acl_entry(100, Direction::Outbound, None, "0.0.0.0/0", true),
        acl_entry(100, Direction::Inbound, None, "0.0.0.0/0", true),
    ]
}

fn statuses(checks: &[FlowCheck]) -> Vec<String> {
    checks
        .iter()
        .map(|c| format!("{} {} {} {}", c.flow, c.to, c.ports, c.status))
        .collect()
}

#[test]
fn default_egress_opens_every_declared_path_on_the_rpc_urls_ports() {
    let stack = node_with(vec![all_traffic().from("0.0.0.0/0")], open_acl());
    let checks = check_flows(&file(), &stack);
    assert_eq!(
        statuses(&checks),
        [
            "node-archive 10.60.0.0/24, 10.61.0.0/24 8546 OPEN",
            "node-rpc 10.50.0.0/16 443 OPEN",
            "node-rpc 10.50.0.0/16 8546 OPEN",
        ]
    );
    assert_eq!(checks[0].paths.len(), 2, "one path per destination CIDR");
    assert!(
        plan_security_groups(&file(), &stack).actions.is_empty(),
        "egress is checked, never repaired"
    );
}

#[test]
fn egress_reaching_part_of_the_rpc_cidr_or_another_port_is_blocked_and_says_so() {
    let stack = node_with(
        vec![
            tcp(8546).from("10.50.1.0/24"),
            tcp(443).from("10.50.0.0/16"),
            tcp_range(8546, 8546).from("10.60.0.0/24"),
        ],
        open_acl(),
    );
    let checks = check_flows(&file(), &stack);
    assert_eq!(
        statuses(&checks),
        [
            "node-archive 10.60.0.0/24, 10.61.0.0/24 8546 BLOCKED",
            "node-rpc 10.50.0.0/16 443 OPEN",
            "node-rpc 10.50.0.0/16 8546 BLOCKED",
        ]
    );
    let rpc = &checks[2].paths[0].hops[0];
    assert_eq!(rpc.verdict, Verdict::Denied);
    assert!(
        rpc.detail
            .contains("tcp 8546 to 10.50.1.0/24 reach only part of it"),
        "{}",
        rpc.detail
    );
    let archive: Vec<FlowStatus> = checks[0].paths.iter().map(|p| p.status).collect();
    assert_eq!(archive, [FlowStatus::Open, FlowStatus::Blocked]);
}

#[test]
fn a_network_acl_denying_the_replies_blocks_the_path() {
    let acl = vec![
        acl_entry(100, Direction::Outbound, None, "0.0.0.0/0", true),
        acl_entry(
            90,
            Direction::Inbound,
            Some((1024, 65535)),
            "10.50.0.0/16",
            false,
        ),
        acl_entry(100, Direction::Inbound, None, "0.0.0.0/0", true),
    ];
    let stack = node_with(vec![all_traffic().from("0.0.0.0/0")], acl);
    let rpc: Vec<FlowCheck> = check_flows(&file(), &stack)
        .into_iter()
        .filter(|c| c.flow == "node-rpc")
        .collect();
    assert!(rpc.iter().all(|c| c.status == FlowStatus::Blocked));
    let reply = rpc[0].paths[0]
        .hops
        .iter()
        .find(|h| h.layer == HopLayer::SourceAclReturn)
        .map(|h| (h.verdict, h.detail.clone()));
    assert_eq!(
        reply,
        Some((
            Verdict::Denied,
            "inbound rule 90 denies tcp 1024-65535 from 10.50.0.0/16".to_string()
        ))
    );
    assert_eq!(rpc[0].protocol, Protocol::Tcp);
}

#[test]
fn rpc_ports_the_configuration_does_not_give_are_a_finding_not_a_guess() {
    let mut stack = node_with(vec![all_traffic().from("0.0.0.0/0")], open_acl());
    let set = [(
        "config.toml".to_string(),
        SecretValue::new("[[EVM]]\nChainID = '1'\n"),
    )];
    stack.node = Some(NodeConfig::Known {
        ports: node_ports(&set, &[]),
        basis: ConfigBasis::Current,
        replaced: None,
    });
    let resolved = stack_flows(&file(), stack.node.as_ref());
    assert_eq!(resolved.outbound.len(), 1, "only the stated node-archive");
    let findings: Vec<String> = resolved
        .findings
        .iter()
        .map(|f| format!("{} {}", f.code.as_str(), f.message))
        .collect();
    assert!(
        findings
            .iter()
            .any(|f| f.starts_with("CL-NET-001 egress node-rpc") && f.contains("no RPC URL")),
        "{findings:?}"
    );
}

#[test]
fn the_stack_file_refuses_rpc_on_a_flow_and_a_listening_port_on_egress() {
    let on_flow = FILE.replace(
        "[parameters]",
        "[[flows]]\nname = \"x\"\nfrom = \"node\"\nto = \"node\"\nconfig_port = \"rpc\"\n\n[parameters]",
    );
    let error = StackFile::parse(&on_flow, "x.toml")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        error.contains("flows[0].config_port") && error.contains("[[egress]]"),
        "{error}"
    );

    let listening = FILE.replace("config_port = \"rpc\"", "config_port = \"p2p\"");
    let error = StackFile::parse(&listening, "x.toml")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        error.contains("egress[0].config_port") && error.contains("listens on"),
        "{error}"
    );

    let both = FILE.replace("ports = 8546", "ports = 8546\nconfig_port = \"rpc\"");
    let error = StackFile::parse(&both, "x.toml")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        error.contains("egress[1].config_port") && error.contains("not both"),
        "{error}"
    );

    let no_cidr = FILE.replace("to = [\"10.50.0.0/16\"]", "to = [\"rpc.internal\"]");
    let error = StackFile::parse(&no_cidr, "x.toml")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(error.contains("egress[0].to[0]"), "{error}");
}
