//! The node's configuration drives its network: flows whose port is the configuration's
//! (`config_port`) follow a change of `config.toml` in the run that judges it, make before
//! break, never on a value being rolled back, and never on a guess.

use domain::report::{Execution, Report, Status};
use domain::signal::Signal;
use domain::stack::StackFile;
use serde_json::Value;
use shared::aws::Clients;
use shared::engine::{Capabilities, Engine};
use shared::invocation::handle_event;
use tests::ssm::change_event;
use tests::{repo_path, ssm, Moto, SeededStack};

const CONFIG: &str = "/chainlink/demo/config.toml";
const LABEL: &str = "last-known-good";
const V2_CONFIG: &str = include_str!("../../shared/domain/tests/testdata/v2-config.toml");
const V2_SECRETS: &str = include_str!("../../shared/domain/tests/testdata/v2-secrets.toml");

/// The node's v2 configuration, its P2P listener on `port` (none: no `[P2P.V2]` at all).
fn config_listening_on(port: Option<u16>) -> String {
    match port {
        Some(port) => format!("{V2_CONFIG}\n[P2P.V2]\nListenAddresses = ['0.0.0.0:{port}']\n"),
        None => V2_CONFIG.to_string(),
    }
}

/// The demo stack file with its P2P flows taking their port from the configuration alone.
fn following_stack_file_text() -> String {
    let sample = std::fs::read_to_string(repo_path("samples/stack.toml")).unwrap_or_default();
    assert_eq!(
        sample.matches("ports = 6690\n").count(),
        2,
        "the sample's two P2P flows state 6690"
    );
    sample.replace("ports = 6690\n", "")
}

fn following_stack_file() -> StackFile {
    let text = following_stack_file_text();
    let file = StackFile::parse(&text, "following.toml").unwrap_or_else(|e| panic!("{e}"));
    assert!(
        file.moves_with_node_config(),
        "the P2P flows follow the node"
    );
    file
}

async fn engine(moto: &Moto, capabilities: Capabilities) -> Engine {
    Engine::new(
        Clients::new(&moto.sdk_config().await),
        following_stack_file(),
        capabilities,
    )
}

async fn handle(engine: &Engine, event: Value) -> Report {
    handle_event(engine, event)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn sweep(engine: &Engine) -> Report {
    engine
        .run(Signal::sweep("test"), Execution::Apply)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A healthy demo stack whose node listens for P2P on 6690, its configuration (a plain String:
/// it holds no secret) labeled last-known-good by the parameter function.
async fn labeled_stack(moto: &Moto, parameters: &Engine) -> SeededStack {
    let stack = SeededStack::healthy(&moto.ec2().await, "demo").await;
    let client = ssm::client(moto).await;
    ssm::put_as(&client, CONFIG, &config_listening_on(Some(6690)), None).await;
    ssm::put(&client, "/chainlink/demo/secrets.toml", V2_SECRETS).await;
    let first = handle(parameters, change_event("Create", CONFIG)).await;
    assert_eq!(first.status, Status::Converged, "{first}");
    assert_eq!(
        ssm::labeled(&client, CONFIG, LABEL).await,
        Some(1),
        "{first}"
    );
    stack
}

fn node_rules_on(stack: &SeededStack, p2p: u16) -> Vec<String> {
    let mut rules = vec![
        "tcp 6688 from 10.20.0.0/16".to_string(),
        format!("tcp {p2p} from {}", stack.node),
        format!("tcp {p2p} from 0.0.0.0/0"),
    ];
    rules.sort();
    rules
}

fn net_findings(report: &Report) -> Vec<String> {
    report
        .stacks
        .iter()
        .flat_map(|s| &s.security_groups.findings)
        .map(|f| format!("{} {}", f.code.as_str(), f.message))
        .collect()
}

#[tokio::test]
async fn a_p2p_port_moved_in_config_toml_moves_the_rules_new_before_old_then_labels() {
    let moto = Moto::start();
    let parameters = engine(&moto, Capabilities::PARAMETERS).await;
    let stack = labeled_stack(&moto, &parameters).await;
    let client = ssm::client(&moto).await;
    ssm::put_as(&client, CONFIG, &config_listening_on(Some(7000)), None).await;
    let recording = moto.start_recording();

    let report = handle(&parameters, change_event("Update", CONFIG)).await;

    assert_eq!(report.status, Status::Converged, "{report}");
    let ec2 = moto.ec2().await;
    assert_eq!(
        tests::seed::ingress(&ec2, &stack.node).await,
        node_rules_on(&stack, 7000)
    );
    let node = stack.node.as_str();
    assert_eq!(
        recording.mutating_calls(),
        [
            format!("AuthorizeSecurityGroupIngress {node}"),
            format!("RevokeSecurityGroupIngress {node}"),
            format!("LabelParameterVersion {CONFIG}"),
        ],
        "the new port is open before the old one closes, and the change is labeled last"
    );
    assert_eq!(ssm::labeled(&client, CONFIG, LABEL).await, Some(2));
    let text = report.to_string();
    assert!(text.contains("moved to 7000"), "{text}");
}

#[tokio::test]
async fn a_config_being_rolled_back_never_moves_the_rules() {
    let moto = Moto::start();
    let parameters = engine(&moto, Capabilities::PARAMETERS).await;
    let stack = labeled_stack(&moto, &parameters).await;
    let client = ssm::client(&moto).await;
    // The port moves, and the same change breaks the RPC URL: the set is invalid.
    let broken = config_listening_on(Some(7000)).replace("wss://eth-1", "http://eth-1");
    ssm::put_as(&client, CONFIG, &broken, None).await;
    let recording = moto.start_recording();

    let report = handle(&parameters, change_event("Update", CONFIG)).await;

    assert_eq!(
        tests::seed::ingress(&moto.ec2().await, &stack.node).await,
        node_rules_on(&stack, 6690),
        "the rules follow the last-known-good configuration: {report}"
    );
    assert!(
        recording
            .mutating_calls()
            .iter()
            .all(|call| !call.contains("SecurityGroup")),
        "{:?}",
        recording.mutating_calls()
    );
    assert_eq!(
        ssm::current(&client, CONFIG).await.1,
        config_listening_on(Some(6690)),
        "the bad change is rolled back"
    );
}

#[tokio::test]
async fn a_config_naming_no_p2p_port_is_a_clear_finding_and_no_guess() {
    let moto = Moto::start();
    let parameters = engine(&moto, Capabilities::PARAMETERS).await;
    let stack = labeled_stack(&moto, &parameters).await;
    let client = ssm::client(&moto).await;
    ssm::put_as(&client, CONFIG, &config_listening_on(None), None).await;
    let recording = moto.start_recording();

    let report = handle(&parameters, change_event("Update", CONFIG)).await;

    let findings = net_findings(&report);
    assert!(
        findings
            .iter()
            .any(|f| f.starts_with("CL-NET-001") && f.contains("node-p2p")),
        "{findings:?}"
    );
    assert!(
        recording
            .mutating_calls()
            .iter()
            .all(|call| !call.contains("SecurityGroup")),
        "no port is guessed, no rule revoked: {:?}",
        recording.mutating_calls()
    );
    assert_eq!(
        tests::seed::ingress(&moto.ec2().await, &stack.node).await,
        node_rules_on(&stack, 6690)
    );
}

#[tokio::test]
async fn the_two_functions_changing_the_same_group_converge_and_never_undo_each_other() {
    let moto = Moto::start();
    let parameters = engine(&moto, Capabilities::PARAMETERS).await;
    let groups = engine(&moto, Capabilities::SECURITY_GROUPS).await;
    let stack = labeled_stack(&moto, &parameters).await;
    let client = ssm::client(&moto).await;
    ssm::put_as(&client, CONFIG, &config_listening_on(Some(7000)), None).await;

    // The security-group function sweeps before the change is judged: it does not follow a
    // configuration the parameter function has not judged, and changes nothing for it.
    let early = sweep(&groups).await;
    assert!(
        net_findings(&early)
            .iter()
            .any(|f| f.starts_with("CL-NET-004")),
        "{early}"
    );
    assert!(
        early.stacks[0].security_groups.actions.is_empty(),
        "{early}"
    );

    // Both at once: the parameter function moving the port, the security-group function
    // reacting to a change of the group.
    let group_event = security_group_event(stack.node.as_str());
    let (moved, reacted) = tokio::join!(
        handle(&parameters, change_event("Update", CONFIG)),
        handle(&groups, group_event.clone()),
    );
    assert_eq!(moved.status, Status::Converged, "{moved}");
    assert_ne!(reacted.status, Status::Failed, "{reacted}");

    // Whatever either saw, a second round of both changes nothing: they agree on the end.
    let recording = moto.start_recording();
    let again = handle(&groups, group_event).await;
    let swept = sweep(&parameters).await;
    assert_eq!(
        recording.mutating_calls(),
        Vec::<String>::new(),
        "{again}\n{swept}"
    );
    assert_eq!(
        tests::seed::ingress(&moto.ec2().await, &stack.node).await,
        node_rules_on(&stack, 7000)
    );
}

/// The CloudTrail event of a change to `group`, from the sample.
fn security_group_event(group: &str) -> Value {
    let raw = std::fs::read_to_string(repo_path(
        "samples/events/cloudtrail-authorize-ingress.json",
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    serde_json::from_str(&raw.replace("sg-0a1b2c3d4e5f60718", group))
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn a_legacy_p2p_listen_port_secure_string_moves_the_rules_too() {
    let moto = Moto::start();
    let parameters = engine(&moto, Capabilities::PARAMETERS).await;
    let stack = SeededStack::healthy(&moto.ec2().await, "demo").await;
    let client = ssm::client(&moto).await;
    ssm::put_all(&client, "/chainlink/demo/", &ssm::valid_legacy()).await;
    let port = "/chainlink/demo/P2P_LISTEN_PORT";
    let first = handle(&parameters, change_event("Create", port)).await;
    assert_eq!(ssm::labeled(&client, port, LABEL).await, Some(1), "{first}");
    ssm::put(&client, port, "7000").await;

    let report = handle(&parameters, change_event("Update", port)).await;

    assert_eq!(
        tests::seed::ingress(&moto.ec2().await, &stack.node).await,
        node_rules_on(&stack, 7000),
        "{report}"
    );
    assert_eq!(
        ssm::labeled(&client, port, LABEL).await,
        Some(2),
        "{report}"
    );

    // And back: the rules this run authorized are revoked as exactly as the seeded ones were.
    ssm::put(&client, port, "6690").await;
    let back = handle(&parameters, change_event("Update", port)).await;

    assert_eq!(back.status, Status::Converged, "{back}");
    assert_eq!(
        tests::seed::ingress(&moto.ec2().await, &stack.node).await,
        node_rules_on(&stack, 6690),
        "{back}"
    );
}

#[tokio::test]
async fn the_path_to_the_rpc_nodes_is_checked_on_the_ports_of_the_nodes_rpc_urls() {
    let moto = Moto::start();
    let parameters = engine(&moto, Capabilities::PARAMETERS).await;
    let ec2 = moto.ec2().await;
    let stack = SeededStack::healthy(&ec2, "demo").await;
    let subnet = tests::seed::subnet(&ec2, &stack.vpc, "10.0.1.0/24").await;
    tests::seed::instance(&ec2, &subnet, &stack.node, "demo", "node").await;
    // The node may reach its RPC nodes over HTTPS only: the websocket port is closed.
    ec2.revoke_security_group_egress()
        .group_id(stack.node.as_str())
        .ip_permissions(shared::security_groups::apply::permission(
            &tests::rule::all_traffic("0.0.0.0/0"),
            None,
        ))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    ec2.authorize_security_group_egress()
        .group_id(stack.node.as_str())
        .ip_permissions(shared::security_groups::apply::permission(
            &tests::rule::tcp(443, "10.50.0.0/16"),
            None,
        ))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let client = ssm::client(&moto).await;
    let rpc = "\n[[EVM.Nodes]]\nName = 'b'\nWSURL = 'wss://b.rpc.prod.demo.internal:8546'\n\
               HTTPURL = 'https://b.rpc.prod.demo.internal'\n";
    let config = format!("{}{rpc}", config_listening_on(Some(6690)));
    ssm::put_as(&client, CONFIG, &config, None).await;
    ssm::put(&client, "/chainlink/demo/secrets.toml", V2_SECRETS).await;
    handle(&parameters, change_event("Create", CONFIG)).await;

    let sample_rpc_network = "to = [\"10.40.0.0/16\"]";
    let text = following_stack_file_text();
    assert!(
        text.contains(sample_rpc_network),
        "the sample's node-rpc moved"
    );
    let text = text.replace(sample_rpc_network, "to = [\"10.50.0.0/16\"]");
    let file = StackFile::parse(&text, "egress.toml").unwrap_or_else(|e| panic!("{e}"));
    let groups = Engine::new(
        Clients::new(&moto.sdk_config().await),
        file,
        Capabilities::SECURITY_GROUPS,
    );
    let report = sweep(&groups).await;

    let rpc: Vec<String> = report.stacks[0]
        .security_groups
        .flow_check
        .iter()
        .filter(|f| f.check.flow == "node-rpc")
        .map(|f| format!("{} {} {}", f.check.ports, f.check.status, f.after))
        .collect();
    assert_eq!(rpc, ["443 OPEN OPEN", "8546 BLOCKED BLOCKED"], "{report}");
    let text = report.to_string();
    assert!(
        text.contains("no egress rule allows tcp 8546 to 10.50.0.0/16"),
        "{text}"
    );
    assert!(
        report.stacks[0].security_groups.actions.is_empty(),
        "egress is reported, never changed: {report}"
    );
}

#[tokio::test]
async fn a_failed_security_group_step_never_keeps_a_pattern_sweep_from_rolling_back() {
    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    let client = ssm::client(&moto).await;
    SeededStack::healthy(&ec2, "prod-a").await;
    let config = "/chainlink/prod-a/config.toml";
    ssm::put_as(&client, config, &config_listening_on(Some(6690)), None).await;
    ssm::put(&client, "/chainlink/prod-a/secrets.toml", V2_SECRETS).await;
    let text = following_stack_file_text()
        .replace("name = \"demo\"", "name = \"prod-*\"")
        .replace(
            "prefix = \"/chainlink/demo/\"",
            "prefix = \"/chainlink/{stack}/\"",
        );
    let file = StackFile::parse(&text, "prod.toml").unwrap_or_else(|e| panic!("{e}"));
    let proxy = tests::FaultProxy::start(&moto.endpoint);
    let clients = Clients::new(&tests::sdk_config_loader(&proxy.endpoint).load().await);
    let parameters = Engine::new(clients, file, Capabilities::PARAMETERS);
    let first = sweep(&parameters).await;
    assert_eq!(
        ssm::labeled(&client, config, LABEL).await,
        Some(1),
        "{first}"
    );
    let broken = config_listening_on(Some(7000)).replace("wss://eth-1", "http://eth-1");
    ssm::put_as(&client, config, &broken, None).await;
    // The security-group step cannot observe the stack (its instances are refused); the stack's
    // name still comes from its groups.
    proxy.fail(
        "DescribeInstances",
        tests::Schedule::Always,
        tests::Fault::Refuse {
            status: 403,
            code: "UnauthorizedOperation",
            message: "You are not authorized to perform this operation.",
        },
    );

    let report = sweep(&parameters).await;

    assert!(
        report
            .skipped
            .iter()
            .any(|s| s.starts_with("the security groups were not brought")),
        "{report}"
    );
    assert_eq!(
        ssm::current(&client, config).await.1,
        config_listening_on(Some(6690)),
        "the bad change is rolled back all the same: {report}"
    );
}

#[tokio::test]
async fn the_rules_follow_a_change_only_if_the_node_version_its_tag_names_would_boot_it() {
    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    let client = ssm::client(&moto).await;
    let stack = SeededStack::healthy(&ec2, "demo").await;
    let subnet = tests::seed::subnet(&ec2, &stack.vpc, "10.0.1.0/24").await;
    let node = tests::seed::instance(&ec2, &subnet, &stack.node, "demo", "node").await;
    tests::fleet::tag_instance(&ec2, &node, "chainlink:node-version", "2.18.0").await;
    let text = following_stack_file_text().replace(
        "database_max_connections = 100",
        "node_version_tag = \"chainlink:node-version\"",
    );
    let file = StackFile::parse(&text, "tagged.toml").unwrap_or_else(|e| panic!("{e}"));
    let parameters = Engine::new(
        Clients::new(&moto.sdk_config().await),
        file,
        Capabilities::PARAMETERS,
    );
    ssm::put_as(&client, CONFIG, &config_listening_on(Some(6690)), None).await;
    ssm::put(&client, "/chainlink/demo/secrets.toml", V2_SECRETS).await;
    let first = handle(&parameters, change_event("Create", CONFIG)).await;
    assert_eq!(
        ssm::labeled(&client, CONFIG, LABEL).await,
        Some(1),
        "{first}"
    );
    // Valid for the stack file's environment alone, but a 2.9.0+ node refuses [P2P.V1] at boot.
    let refused = format!(
        "{}[P2P.V1]\nEnabled = false\n",
        config_listening_on(Some(7000))
    );
    ssm::put_as(&client, CONFIG, &refused, None).await;

    let report = handle(&parameters, change_event("Update", CONFIG)).await;

    assert_eq!(
        ssm::current(&client, CONFIG).await.1,
        config_listening_on(Some(6690)),
        "rolled back for the tagged version: {report}"
    );
    assert_eq!(
        tests::seed::ingress(&ec2, &stack.node).await,
        node_rules_on(&stack, 6690),
        "the rules stay on the port the rolled-back set gives: {report}"
    );
}
