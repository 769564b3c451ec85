//! Flows whose ports the node's configuration decides: resolved from the configuration the run
//! follows, moved rules revoked only after the new ones, and a finding instead of a guess.

use chainlink::{node_ports, NodePorts, SecretValue};
use domain::security_groups::observed::ObservedStack;
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
db = {}

[[flows]]
name = "node-p2p"
from = "node"
to = "node"
config_port = "p2p"

[[flows]]
name = "ocr-peers"
from = "0.0.0.0/0"
to = "node"
config_port = "p2p"

[[flows]]
name = "operator-ui"
from = "10.20.0.0/16"
to = "node"
config_port = "http"

[[flows]]
name = "node-db"
from = "node"
to = "db"
ports = 5432
config_port = "database"

[[forbidden]]
ports = [22, 5432, 6688]

[parameters]
prefix = "/chainlink/demo/"
"#;

fn file() -> StackFile {
    StackFile::parse(FILE, "node_flows.rs").unwrap_or_else(|e| panic!("{e}"))
}

fn ports_of(config: &str) -> NodePorts {
    let secrets =
        "[Database]\nURL = 'postgresql://cl:a-long-enough-password@db.internal:5432/cl'\n";
    let set = [
        ("config.toml".to_string(), SecretValue::new(config)),
        ("secrets.toml".to_string(), SecretValue::new(secrets)),
    ];
    node_ports(&set, &[])
}

fn p2p_on(port: u16) -> NodePorts {
    ports_of(&format!("[P2P.V2]\nListenAddresses = ['0.0.0.0:{port}']\n"))
}

fn following(stack: ObservedStack, node: NodeConfig) -> ObservedStack {
    ObservedStack {
        node: Some(node),
        ..stack
    }
}

fn current(ports: NodePorts, replaced: Option<NodePorts>) -> NodeConfig {
    NodeConfig::Known {
        ports,
        basis: ConfigBasis::Current,
        replaced,
    }
}

/// The demo stack's groups with P2P rules on `port`.
fn demo_on(port: u16) -> ObservedStack {
    stack(
        "demo",
        vec![
            group("sg-node", "node")
                .allow(tcp(6688).from("10.20.0.0/16"))
                .allow(tcp(port).from("sg-node"))
                .allow(tcp(port).from("0.0.0.0/0")),
            group("sg-db", "db").allow(tcp(5432).from("sg-node")),
        ],
    )
}

fn changes(plan: &SecurityGroupPlan) -> Vec<String> {
    plan.actions
        .iter()
        .flat_map(|action| match action {
            SecurityGroupAction::AuthorizeIngress { group, rules } => rules
                .iter()
                .map(|r| format!("+ {group} {}", r.rule))
                .collect::<Vec<_>>(),
            SecurityGroupAction::RevokeIngress { group, rules } => rules
                .iter()
                .map(|r| format!("- {group} {}", r.rule))
                .collect(),
        })
        .collect()
}

fn codes(plan: &SecurityGroupPlan) -> Vec<&'static str> {
    plan.findings.iter().map(|f| f.code.as_str()).collect()
}

#[test]
fn flows_follow_the_configured_ports_and_a_settled_stack_needs_nothing() {
    let stack = following(demo_on(6690), current(p2p_on(6690), None));
    let plan = plan_security_groups(&file(), &stack);
    assert_eq!(changes(&plan), Vec::<String>::new());
    assert!(plan.findings.is_empty(), "{:?}", plan.findings);
    let checked: Vec<String> = check_flows(&file(), &stack)
        .iter()
        .map(|c| format!("{} {}", c.flow, c.ports))
        .collect();
    assert_eq!(
        checked,
        [
            "node-db 5432",
            "node-p2p 6690",
            "ocr-peers 6690",
            "operator-ui 6688"
        ]
    );
}

#[test]
fn a_moved_port_is_authorized_before_the_old_rules_are_revoked() {
    let stack = following(demo_on(6690), current(p2p_on(7000), Some(p2p_on(6690))));
    let plan = plan_security_groups(&file(), &stack);
    assert_eq!(
        changes(&plan),
        [
            "+ sg-node tcp 7000 from sg-node",
            "+ sg-node tcp 7000 from 0.0.0.0/0",
            "- sg-node tcp 6690 from sg-node",
            "- sg-node tcp 6690 from 0.0.0.0/0",
        ]
    );
    let text = plan.actions[1].to_string();
    assert!(
        text.contains("flow node-p2p moved to 7000 (config.toml P2P.V2.ListenAddresses)"),
        "{text}"
    );
    // Planning the stack as the plan leaves it finds nothing more to do.
    let after = stack.with_actions(&plan.actions);
    assert_eq!(
        changes(&plan_security_groups(&file(), &after)),
        Vec::<String>::new()
    );
}

#[test]
fn only_the_rules_the_old_port_required_are_revoked() {
    // A wider rule, another peer's rule on the old port, and a rule a stated flow needs are
    // someone else's: left alone.
    let mut stack = demo_on(6690);
    stack.groups[0] = stack.groups[0]
        .clone()
        .allow(tcp_range(6690, 6699).from("10.9.0.0/16"))
        .allow(tcp(6690).from("10.8.0.0/16"));
    let stack = following(stack, current(p2p_on(7000), Some(p2p_on(6690))));
    let plan = plan_security_groups(&file(), &stack);
    let revoked: Vec<String> = changes(&plan)
        .into_iter()
        .filter(|c| c.starts_with('-'))
        .collect();
    assert_eq!(
        revoked,
        [
            "- sg-node tcp 6690 from sg-node",
            "- sg-node tcp 6690 from 0.0.0.0/0"
        ]
    );
    let unmanaged: Vec<String> = plan.unmanaged.iter().map(|u| u.rule.to_string()).collect();
    assert_eq!(
        unmanaged,
        [
            "tcp 6690-6699 from 10.9.0.0/16",
            "tcp 6690 from 10.8.0.0/16"
        ]
    );
}

#[test]
fn following_the_last_known_good_configuration_changes_nothing() {
    // The current configuration is invalid and being rolled back: the flows stay on the
    // last-known-good ports, and nothing moves.
    let node = NodeConfig::Known {
        ports: p2p_on(6690),
        basis: ConfigBasis::LastKnownGood,
        replaced: None,
    };
    let plan = plan_security_groups(&file(), &following(demo_on(6690), node));
    assert_eq!(changes(&plan), Vec::<String>::new());
}

#[test]
fn a_configuration_without_a_p2p_port_is_a_finding_not_a_guess() {
    let stack = following(
        demo_on(6690),
        current(ports_of("[[EVM]]\nChainID = '1'\n"), None),
    );
    let plan = plan_security_groups(&file(), &stack);
    assert_eq!(changes(&plan), Vec::<String>::new());
    assert_eq!(codes(&plan), ["CL-NET-001", "CL-NET-001"]);
    assert!(
        plan.findings[0].message.contains("node-p2p")
            && plan.findings[0].message.contains("no default P2P port"),
        "{}",
        plan.findings[0].message
    );
    // The P2P rules are no flow's now: listed for review, never revoked.
    assert_eq!(plan.unmanaged.len(), 2, "{:?}", plan.unmanaged);
}

#[test]
fn a_configuration_not_followed_this_run_changes_nothing_and_says_why() {
    let node = NodeConfig::Unknown {
        reason: "config.toml changed (version 4, last known good 3)".into(),
    };
    let plan = plan_security_groups(&file(), &following(demo_on(7000), node));
    assert_eq!(changes(&plan), Vec::<String>::new());
    assert_eq!(codes(&plan), ["CL-NET-004"]);
    assert!(plan.findings[0].message.contains("version 4"));
}

#[test]
fn a_stated_port_that_disagrees_with_the_configuration_names_both() {
    let stack = following(
        demo_on(6690),
        current(
            ports_of("[P2P.V2]\nListenAddresses = ['0.0.0.0:6690']\n"),
            None,
        ),
    );
    let secrets_on_6543 = {
        let secrets =
            "[Database]\nURL = 'postgresql://cl:a-long-enough-password@db.internal:6543/cl'\n";
        let set = [
            (
                "config.toml".to_string(),
                SecretValue::new("[P2P.V2]\nListenAddresses = ['0.0.0.0:6690']\n"),
            ),
            ("secrets.toml".to_string(), SecretValue::new(secrets)),
        ];
        node_ports(&set, &[])
    };
    assert!(codes(&plan_security_groups(&file(), &stack)).is_empty());
    let stack = following(stack, current(secrets_on_6543, None));
    let plan = plan_security_groups(&file(), &stack);
    assert_eq!(codes(&plan), ["CL-NET-002"]);
    let message = &plan.findings[0].message;
    assert!(
        message.contains("tcp 5432") && message.contains("6543 (secrets.toml Database.URL)"),
        "{message}"
    );
}

#[test]
fn a_configured_port_the_file_forbids_facing_the_world_is_not_authorized() {
    // ocr-peers comes from 0.0.0.0/0: a configuration putting P2P on 22 must not open SSH.
    let stack = following(demo_on(6690), current(p2p_on(22), Some(p2p_on(6690))));
    let plan = plan_security_groups(&file(), &stack);
    assert_eq!(codes(&plan), ["CL-NET-003"]);
    let authorized: Vec<String> = changes(&plan)
        .into_iter()
        .filter(|c| c.starts_with('+'))
        .collect();
    assert_eq!(authorized, ["+ sg-node tcp 22 from sg-node"]);
}

#[test]
fn a_stack_file_says_which_ports_come_from_the_configuration() {
    let without_parameters = FILE.replace("[parameters]\nprefix = \"/chainlink/demo/\"\n", "");
    let error = StackFile::parse(&without_parameters, "f")
        .err()
        .map(|e| e.to_string());
    assert!(
        error.as_deref().is_some_and(
            |e| e.contains("flows[0].config_port") && e.contains("declare [parameters]")
        ),
        "{error:?}"
    );
    let unknown = FILE.replacen("config_port = \"p2p\"", "config_port = \"ui\"", 1);
    let error = StackFile::parse(&unknown, "f").err().map(|e| e.to_string());
    assert!(
        error
            .as_deref()
            .is_some_and(|e| e.contains("\"ui\" is not a port of the node's configuration: use one of p2p, http, https, database")),
        "{error:?}"
    );
    let neither = FILE.replacen("config_port = \"p2p\"\n", "", 1);
    let error = StackFile::parse(&neither, "f").err().map(|e| e.to_string());
    assert!(
        error
            .as_deref()
            .is_some_and(|e| e.contains("flows[0].ports: is required")),
        "{error:?}"
    );
}
