//! Security-group drift repair: the engine's observe → plan → apply against the emulator.

use domain::outcome::Outcome;
use domain::report::{Execution, Report, Status};
use domain::signal::Signal;
use domain::stack::StackFile;
use serde_json::Value;
use shared::aws::Clients;
use shared::engine::{Capabilities, Engine};
use shared::invocation::handle_event;
use tests::{repo_path, rule, seed, Moto, SeededStack};

fn sample_stack() -> StackFile {
    StackFile::load(&repo_path("samples/stack.toml")).unwrap_or_else(|e| panic!("{e}"))
}

async fn engine(moto: &Moto, file: StackFile) -> Engine {
    Engine::new(
        Clients::new(&moto.sdk_config().await),
        file,
        Capabilities::SECURITY_GROUPS,
    )
}

async fn run(engine: &Engine, execution: Execution) -> Report {
    engine
        .run(Signal::sweep("test"), execution)
        .await
        .unwrap_or_else(|e| panic!("run failed: {e}"))
}

fn outcomes(report: &Report) -> Vec<(String, Outcome)> {
    report
        .stacks
        .iter()
        .flat_map(|s| &s.security_groups.actions)
        .map(|a| {
            (
                format!("{} {}", a.action.kind(), a.action.group()),
                a.outcome.outcome.clone(),
            )
        })
        .collect()
}

/// A sample event with its group ID replaced by `group`.
fn event_for(sample: &str, group: &str) -> Value {
    let raw = std::fs::read_to_string(repo_path(&format!("samples/events/{sample}")))
        .unwrap_or_else(|e| panic!("{e}"));
    serde_json::from_str(&raw.replace("sg-0a1b2c3d4e5f60718", group))
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn a_missing_database_rule_is_restored() {
    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    let vpc = seed::vpc(&ec2, "10.0.0.0/16").await;
    let node = seed::group(&ec2, &vpc, "node", "demo", "node").await;
    let db = seed::group(&ec2, &vpc, "db", "demo", "db").await;
    seed::allow(
        &ec2,
        &node,
        &[
            rule::tcp(6688, "10.20.0.0/16"),
            rule::tcp(6690, node.as_str()),
            rule::tcp(6690, "0.0.0.0/0"),
        ],
    )
    .await;

    let report = run(&engine(&moto, sample_stack()).await, Execution::Apply).await;

    assert_eq!(report.status, Status::Converged, "{report}");
    assert_eq!(
        seed::ingress(&ec2, &db).await,
        [format!("tcp 5432 from {node}")]
    );
}

#[tokio::test]
async fn forbidden_world_exposures_are_revoked_exactly() {
    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    let stack = SeededStack::healthy(&ec2, "demo").await;
    seed::allow(
        &ec2,
        &stack.node,
        &[rule::tcp(6688, "0.0.0.0/0"), rule::tcp(443, "0.0.0.0/0")],
    )
    .await;
    seed::allow(
        &ec2,
        &stack.db,
        &[
            rule::all_traffic("0.0.0.0/0"),
            rule::tcp_range(0, 65535, "::/0"),
        ],
    )
    .await;

    let report = run(&engine(&moto, sample_stack()).await, Execution::Apply).await;

    assert_eq!(report.status, Status::Converged, "{report}");
    let mut node_rules = stack.healthy_node_rules();
    node_rules.push("tcp 443 from 0.0.0.0/0".into());
    node_rules.sort();
    assert_eq!(
        seed::ingress(&ec2, &stack.node).await,
        node_rules,
        "443 is not forbidden: left alone"
    );
    assert_eq!(
        seed::ingress(&ec2, &stack.db).await,
        [format!("tcp 5432 from {}", stack.node)]
    );
    let unmanaged: Vec<String> = report.stacks[0]
        .security_groups
        .unmanaged
        .iter()
        .map(|u| u.rule.to_string())
        .collect();
    assert_eq!(unmanaged, ["tcp 443 from 0.0.0.0/0"]);
}

#[tokio::test]
async fn a_broad_rule_carrying_p2p_is_replaced_before_it_is_revoked() {
    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    let vpc = seed::vpc(&ec2, "10.0.0.0/16").await;
    let node = seed::group(&ec2, &vpc, "node", "demo", "node").await;
    let db = seed::group(&ec2, &vpc, "db", "demo", "db").await;
    seed::allow(&ec2, &node, &[rule::all_traffic("0.0.0.0/0")]).await;
    seed::allow(&ec2, &db, &[rule::tcp(5432, node.as_str())]).await;

    let recording = moto.start_recording();
    let report = run(&engine(&moto, sample_stack()).await, Execution::Apply).await;
    let calls = recording.mutating_calls();

    assert_eq!(report.status, Status::Converged, "{report}");
    assert_eq!(
        calls,
        [
            format!("AuthorizeSecurityGroupIngress {node}"),
            format!("RevokeSecurityGroupIngress {node}"),
        ],
        "make before break: one authorize, then one revoke"
    );
    let expected = SeededStack {
        vpc,
        node: node.clone(),
        db,
    }
    .healthy_node_rules();
    assert_eq!(seed::ingress(&ec2, &node).await, expected);
}

#[tokio::test]
async fn groups_outside_the_stack_are_left_alone() {
    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    let stack = SeededStack::healthy(&ec2, "demo").await;
    let other = seed::group(&ec2, &stack.vpc, "other-node", "other", "node").await;
    let untagged = seed::group(&ec2, &stack.vpc, "untagged", "", "").await;
    for group in [&other, &untagged] {
        seed::allow(&ec2, group, &[rule::tcp(22, "0.0.0.0/0")]).await;
    }

    let recording = moto.start_recording();
    let report = run(&engine(&moto, sample_stack()).await, Execution::Apply).await;

    assert!(outcomes(&report).is_empty(), "{report}");
    assert_eq!(recording.mutating_calls(), Vec::<String>::new());
    for group in [&other, &untagged] {
        assert_eq!(seed::ingress(&ec2, group).await, ["tcp 22 from 0.0.0.0/0"]);
    }
}

#[tokio::test]
async fn plan_changes_nothing_and_a_second_apply_does_nothing() {
    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    let stack = SeededStack::healthy(&ec2, "demo").await;
    seed::allow(&ec2, &stack.node, &[rule::tcp(22, "0.0.0.0/0")]).await;
    let engine = engine(&moto, sample_stack()).await;
    let drifted = {
        let mut rules = stack.healthy_node_rules();
        rules.push("tcp 22 from 0.0.0.0/0".to_string());
        rules.sort();
        rules
    };
    assert_eq!(seed::ingress(&ec2, &stack.node).await, drifted);

    let recording = moto.start_recording();
    let plan = run(&engine, Execution::Plan).await;
    assert_eq!(plan.status, Status::Planned);
    assert_eq!(
        outcomes(&plan),
        [(format!("RevokeIngress {}", stack.node), Outcome::Planned)]
    );
    assert!(seed::ingress(&ec2, &stack.node)
        .await
        .contains(&"tcp 22 from 0.0.0.0/0".to_string()));
    assert_eq!(
        recording.mutating_calls(),
        Vec::<String>::new(),
        "a plan writes nothing"
    );
    assert_eq!(seed::ingress(&ec2, &stack.node).await, drifted);

    let recording = moto.start_recording();
    let first = run(&engine, Execution::Apply).await;
    assert_eq!(
        outcomes(&first),
        [(format!("RevokeIngress {}", stack.node), Outcome::Applied)]
    );
    assert_eq!(
        recording.mutating_calls(),
        [format!("RevokeSecurityGroupIngress {}", stack.node)]
    );
    assert_eq!(
        seed::ingress(&ec2, &stack.node).await,
        stack.healthy_node_rules()
    );
    let recording = moto.start_recording();
    let second = run(&engine, Execution::Apply).await;
    assert!(outcomes(&second).is_empty(), "{second}");
    assert_eq!(second.status, Status::Converged);
    assert_eq!(
        recording.mutating_calls(),
        Vec::<String>::new(),
        "a second apply writes nothing"
    );
    assert_eq!(
        seed::ingress(&ec2, &stack.node).await,
        stack.healthy_node_rules()
    );
}

#[tokio::test]
async fn report_mode_only_plans_even_on_apply() {
    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    let stack = SeededStack::healthy(&ec2, "demo").await;
    seed::allow(&ec2, &stack.db, &[rule::tcp(5432, "0.0.0.0/0")]).await;
    let text = std::fs::read_to_string(repo_path("samples/stack.toml"))
        .unwrap_or_default()
        .replace("mode = \"enforce\"", "mode = \"report\"");
    let file = StackFile::parse(&text, "report.toml").unwrap_or_else(|e| panic!("{e}"));

    let recording = moto.start_recording();
    let report = run(&engine(&moto, file).await, Execution::Apply).await;

    assert_eq!(report.status, Status::Planned);
    assert!(!outcomes(&report).is_empty(), "{report}");
    assert!(
        outcomes(&report)
            .iter()
            .all(|(_, outcome)| *outcome == Outcome::Planned),
        "{report}"
    );
    assert_eq!(
        seed::ingress(&ec2, &stack.db).await.len(),
        2,
        "nothing revoked"
    );
    assert_eq!(recording.mutating_calls(), Vec::<String>::new());
}

#[tokio::test]
async fn a_plan_over_the_limit_is_refused_and_changes_nothing() {
    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    let vpc = seed::vpc(&ec2, "10.0.0.0/16").await;
    let node = seed::group(&ec2, &vpc, "node", "demo", "node").await;
    let db = seed::group(&ec2, &vpc, "db", "demo", "db").await;
    let text = std::fs::read_to_string(repo_path("samples/stack.toml"))
        .unwrap_or_default()
        .replace("max_changes_per_run = 25", "max_changes_per_run = 2");
    let file = StackFile::parse(&text, "limited.toml").unwrap_or_else(|e| panic!("{e}"));

    let recording = moto.start_recording();
    let report = run(&engine(&moto, file).await, Execution::Apply).await;

    assert_eq!(report.status, Status::Refused, "{report}");
    assert_eq!(recording.mutating_calls(), Vec::<String>::new());
    assert_eq!(report.status.exit_code(), 1);
    assert!(
        seed::ingress(&ec2, &node).await.is_empty() && seed::ingress(&ec2, &db).await.is_empty()
    );
}

#[tokio::test]
async fn a_pattern_guards_every_matching_stack_and_flows_never_cross() {
    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    let a = SeededStack::healthy(&ec2, "prod-a").await;
    let b = SeededStack::healthy(&ec2, "prod-b").await;
    let dev = SeededStack::healthy(&ec2, "dev-a").await;
    for stack in [&a, &b, &dev] {
        seed::allow(&ec2, &stack.node, &[rule::tcp(6688, "0.0.0.0/0")]).await;
    }
    let text = std::fs::read_to_string(repo_path("samples/stack.toml"))
        .unwrap_or_default()
        .replace("name = \"demo\"", "name = \"prod-*\"");
    let file = StackFile::parse(&text, "prod.toml").unwrap_or_else(|e| panic!("{e}"));

    let report = run(&engine(&moto, file).await, Execution::Apply).await;

    let stacks: Vec<String> = report.stacks.iter().map(|s| s.stack.to_string()).collect();
    assert_eq!(stacks, ["prod-a", "prod-b"]);
    assert_eq!(seed::ingress(&ec2, &a.node).await, a.healthy_node_rules());
    assert_eq!(seed::ingress(&ec2, &b.node).await, b.healthy_node_rules());
    assert_eq!(
        seed::ingress(&ec2, &a.db).await,
        [format!("tcp 5432 from {}", a.node)],
        "no rule from prod-b's node"
    );
    assert!(
        seed::ingress(&ec2, &dev.node)
            .await
            .contains(&"tcp 6688 from 0.0.0.0/0".to_string()),
        "dev-a is not guarded"
    );
}

#[tokio::test]
async fn a_change_event_repairs_the_stack_of_the_group_it_names_once() {
    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    let stack = SeededStack::healthy(&ec2, "demo").await;
    seed::allow(&ec2, &stack.node, &[rule::tcp(6688, "0.0.0.0/0")]).await;
    let engine = engine(&moto, sample_stack()).await;

    for sample in [
        "cloudtrail-authorize-ingress.json",
        "config-security-group-change.json",
        "cloudtrail-modify-rules.json",
    ] {
        let event = event_for(sample, stack.node.as_str());
        let report = handle_event(&engine, event.clone())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(report.status, Status::Converged, "{sample}: {report}");
        // EventBridge delivers at least once: the same event again acts no more.
        let recording = moto.start_recording();
        let again = handle_event(&engine, event)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(outcomes(&again).is_empty(), "{sample} redelivered: {again}");
        assert_eq!(
            recording.mutating_calls(),
            Vec::<String>::new(),
            "{sample} redelivered"
        );
    }
    assert_eq!(
        seed::ingress(&ec2, &stack.node).await,
        stack.healthy_node_rules()
    );
}

#[tokio::test]
async fn an_event_about_a_group_of_the_named_stack_reads_that_stack_once() {
    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    let stack = SeededStack::healthy(&ec2, "demo").await;
    let engine = engine(&moto, sample_stack()).await;
    let event = event_for("cloudtrail-authorize-ingress.json", stack.node.as_str());

    let recording = moto.start_recording();
    let report = handle_event(&engine, event)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let reads: Vec<String> = recording
        .requests()
        .into_iter()
        .map(|(action, _)| action)
        .collect();

    assert_eq!(report.status, Status::Converged, "{report}");
    // The stack's groups by its tag, its instances, the network interfaces wearing its groups,
    // their subnets and ACLs: never the event's group by ID first (a stack file that names its
    // stack knows which stack to read).
    assert_eq!(
        reads
            .iter()
            .filter(|action| *action == "DescribeSecurityGroups")
            .count(),
        1,
        "{reads:?}"
    );
    assert!(reads.len() <= 5, "{reads:?}");
}

#[tokio::test]
async fn events_about_unknown_or_foreign_groups_and_failed_calls_are_no_ops_with_a_reason() {
    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    let stack = SeededStack::healthy(&ec2, "demo").await;
    let foreign = seed::group(&ec2, &stack.vpc, "foreign", "other", "node").await;
    seed::allow(&ec2, &foreign, &[rule::tcp(22, "0.0.0.0/0")]).await;
    let engine = engine(&moto, sample_stack()).await;
    let recording = moto.start_recording();

    let cases = [
        (
            event_for("cloudtrail-authorize-ingress.json", "sg-0123456789abcdef0"),
            "no such security group",
        ),
        (
            event_for("cloudtrail-authorize-ingress.json", foreign.as_str()),
            "belongs to stack other",
        ),
        (
            event_for("cloudtrail-failed-call.json", stack.node.as_str()),
            "the call failed (Client.UnauthorizedOperation)",
        ),
    ];
    for (event, reason) in cases {
        let report = handle_event(&engine, event)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(report.status, Status::Converged);
        assert!(report.stacks.is_empty(), "{report}");
        assert!(
            report.skipped.iter().any(|s| s.contains(reason)),
            "{reason}: {:?}",
            report.skipped
        );
    }
    assert_eq!(
        seed::ingress(&ec2, &foreign).await,
        ["tcp 22 from 0.0.0.0/0"]
    );
    assert_eq!(recording.mutating_calls(), Vec::<String>::new());
}

#[tokio::test]
async fn a_malformed_event_is_rejected_without_touching_aws() {
    let moto = Moto::start();
    let engine = engine(&moto, sample_stack()).await;
    let recording = moto.start_recording();
    let report = handle_event(&engine, serde_json::json!({"detail-type": 42}))
        .await
        .unwrap_or_else(|e| panic!("a malformed event must not be retried: {e}"));
    assert_eq!(report.status, Status::Rejected);
    assert!(
        report.skipped[0].starts_with("malformed event"),
        "{:?}",
        report.skipped
    );
    assert_eq!(recording.requests(), Vec::<(String, String)>::new());
}

#[tokio::test]
async fn the_flow_check_traces_network_acls_of_the_instances_subnets() {
    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    let stack = SeededStack::healthy(&ec2, "demo").await;
    let app = tests::seed::subnet(&ec2, &stack.vpc, "10.0.1.0/24").await;
    let data = tests::seed::subnet(&ec2, &stack.vpc, "10.0.2.0/24").await;
    tests::seed::instance(&ec2, &app, &stack.node, "demo", "node").await;
    tests::seed::instance(&ec2, &data, &stack.db, "demo", "db").await;
    // The data subnet gets its own ACL that admits everything but Postgres from the app subnet.
    tests::seed::acl_denying(&ec2, &stack.vpc, &data, 5432, "10.0.1.0/24").await;

    let recording = moto.start_recording();
    let report = run(&engine(&moto, sample_stack()).await, Execution::Plan).await;

    let flows = &report.stacks[0].security_groups.flow_check;
    let node_db = flows
        .iter()
        .find(|f| f.check.flow == "node-db")
        .unwrap_or_else(|| panic!("no node-db"));
    assert_eq!(
        node_db.check.status,
        domain::security_groups::FlowStatus::Blocked,
        "{report}"
    );
    let text = report.to_string();
    assert!(
        text.contains("inbound rule 90 denies tcp 5432 from 10.0.1.0/24"),
        "{text}"
    );
    let ui = flows
        .iter()
        .find(|f| f.check.flow == "operator-ui")
        .unwrap_or_else(|| panic!("no operator-ui"));
    assert_eq!(
        ui.check.status,
        domain::security_groups::FlowStatus::Open,
        "{report}"
    );
    assert!(
        outcomes(&report).is_empty(),
        "ACLs are reported, never changed"
    );
    assert_eq!(recording.mutating_calls(), Vec::<String>::new());
}

/// Network ACLs are stateless: a reply goes back on an ephemeral port (1024-65535) and must pass
/// the ACLs again. An ACL that admits the request but sends no reply blocks the flow, and says so.
#[tokio::test]
async fn an_acl_that_admits_the_request_but_blocks_the_reply_blocks_the_flow() {
    use domain::security_groups::{FlowStatus, HopLayer, Verdict};
    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    let stack = SeededStack::healthy(&ec2, "demo").await;
    let app = seed::subnet(&ec2, &stack.vpc, "10.0.1.0/24").await;
    let data = seed::subnet(&ec2, &stack.vpc, "10.0.2.0/24").await;
    seed::instance(&ec2, &app, &stack.node, "demo", "node").await;
    seed::instance(&ec2, &data, &stack.db, "demo", "db").await;
    // The database's subnet sends no reply to the node's; the node's none to the operators.
    let data_acl = seed::acl_denying_replies(&ec2, &stack.vpc, &data, "10.0.1.0/24").await;
    let app_acl = seed::acl_denying_replies(&ec2, &stack.vpc, &app, "10.20.0.0/16").await;
    let recording = moto.start_recording();

    let report = run(&engine(&moto, sample_stack()).await, Execution::Apply).await;

    let flows = &report.stacks[0].security_groups.flow_check;
    let flow = |name: &str| {
        flows
            .iter()
            .map(|f| &f.check)
            .find(|c| c.flow == name)
            .unwrap_or_else(|| panic!("no {name} in {report}"))
    };
    for (name, acl) in [("node-db", &data_acl), ("operator-ui", &app_acl)] {
        let check = flow(name);
        assert_eq!(check.status, FlowStatus::Blocked, "{name}: {report}");
        assert_eq!(check.paths.len(), 1, "{name}: {report}");
        let hops = &check.paths[0].hops;
        let verdict = |layer: HopLayer| {
            hops.iter()
                .find(|h| h.layer == layer)
                .map(|h| (h.verdict, h.resource.clone()))
        };
        assert_eq!(
            verdict(HopLayer::TargetIngress).map(|(v, _)| v),
            Some(Verdict::Allowed),
            "{name}: the group admits the request"
        );
        assert_eq!(
            verdict(HopLayer::TargetAclInbound),
            Some((Verdict::Allowed, acl.clone())),
            "{name}: the ACL admits the request"
        );
        assert_eq!(
            verdict(HopLayer::TargetAclReturn),
            Some((Verdict::Denied, acl.clone())),
            "{name}: the ACL blocks the reply"
        );
    }
    let text = report.to_string();
    for reason in [
        "outbound rule 90 denies tcp 1024-65535 to 10.0.1.0/24",
        "outbound rule 90 denies tcp 1024-65535 to 10.20.0.0/16",
    ] {
        assert!(text.contains(reason), "{reason}: {text}");
    }
    assert_eq!(
        flow("node-p2p").status,
        FlowStatus::Open,
        "inside one subnet no ACL is crossed: {report}"
    );
    assert_eq!(
        recording.mutating_calls(),
        Vec::<String>::new(),
        "ACLs are reported, never changed"
    );
}

#[tokio::test]
async fn a_stale_plan_converges_when_a_duplicate_delivery_already_made_the_change() {
    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    let vpc = seed::vpc(&ec2, "10.0.0.0/16").await;
    let node = seed::group(&ec2, &vpc, "node", "demo", "node").await;
    let db = seed::group(&ec2, &vpc, "db", "demo", "db").await;
    let p2p = [
        rule::tcp(6688, "10.20.0.0/16"),
        rule::tcp(6690, node.as_str()),
        rule::tcp(6690, "0.0.0.0/0"),
    ];
    seed::allow(&ec2, &node, &p2p).await;
    seed::allow(&ec2, &node, &[rule::tcp(22, "0.0.0.0/0")]).await;
    let file = sample_stack();
    let selector = file.selector.clone();
    let observed =
        shared::security_groups::observe::observe_stacks(&ec2, &selector, async { Ok(Vec::new()) })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    let plan = domain::security_groups::plan_security_groups(&file, &observed[0]);

    // Between plan and apply, a concurrent duplicate delivery made both changes. (It writes the
    // rule with the function's own description: moto, unlike AWS, tells group-pair rules apart
    // by description, so a hand-made copy would not be a duplicate there.)
    ec2.authorize_security_group_ingress()
        .group_id(db.as_str())
        .ip_permissions(shared::security_groups::apply::permission(
            &rule::tcp(5432, node.as_str()),
            Some(&["node-db".to_string()]),
        ))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    seed::revoke(&ec2, &node, &rule::tcp(22, "0.0.0.0/0")).await;
    let recording = moto.start_recording();

    let outcomes = shared::security_groups::apply::apply_plan(&ec2, &plan).await;

    assert_eq!(
        outcomes,
        [
            Outcome::AlreadyConverged.into(),
            Outcome::AlreadyConverged.into()
        ]
    );
    let writes = recording.mutating_calls();
    assert_eq!(
        writes.len(),
        2,
        "one refused attempt each, then a re-read and no second write: {writes:?}"
    );
    assert_eq!(
        seed::ingress(&ec2, &db).await,
        [format!("tcp 5432 from {node}")]
    );
}

/// The engine's group reads follow AWS's pages to the end, and convert every kind of rule and
/// tag exactly as the SDK's own paginator reports them.
#[tokio::test]
async fn group_reads_find_every_group_across_pages() {
    use domain::ids::{SecurityGroupId, StackName};
    use domain::stack::StackSelector;
    use shared::security_groups::observe::{describe_groups, tagged_group_from_sdk, GroupScope};

    // Two groups a page: the read must follow the token to the second page and beyond.
    let moto = Moto::start_with(&[("AWS_LIKE_PAGE_CAP", "2")]);
    let ec2 = moto.ec2().await;
    let vpc = seed::vpc(&ec2, "10.0.0.0/16").await;
    let node = seed::group(&ec2, &vpc, "node & <ui>", "demo", "node").await;
    let db = seed::group(&ec2, &vpc, "db", "demo", "db").await;
    let other = seed::group(&ec2, &vpc, "other", "prod-1", "node").await;
    let _untagged = seed::group(&ec2, &vpc, "untagged", "", "").await;
    seed::allow(
        &ec2,
        &node,
        &[
            rule::tcp(6688, "10.20.0.0/16"),
            rule::tcp(6688, "::/0"),
            rule::tcp_range(6690, 6699, node.as_str()),
            rule::all_traffic("10.9.0.0/16"),
        ],
    )
    .await;
    seed::allow(&ec2, &db, &[rule::tcp(5432, node.as_str())]).await;
    seed::allow(&ec2, &other, &[rule::tcp(22, "0.0.0.0/0")]).await;

    let selector = StackSelector::Pattern("*".into());
    let mut read = describe_groups(&ec2, GroupScope::Stacks(&selector))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let sdk: Vec<_> = ec2
        .describe_security_groups()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:chainlink:stack")
                .values("*")
                .build(),
        )
        .into_paginator()
        .page_size(1000)
        .items()
        .send()
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let mut expected: Vec<_> = sdk.iter().filter_map(tagged_group_from_sdk).collect();
    read.sort_by(|a, b| a.group.id.cmp(&b.group.id));
    expected.sort_by(|a, b| a.group.id.cmp(&b.group.id));
    assert_eq!(read, expected);

    let by_id = |id: &SecurityGroupId| read.iter().find(|t| &t.group.id == id);
    assert_eq!(read.len(), 3, "the untagged group is outside every stack");
    assert_eq!(
        by_id(&node).map(|t| t.group.name.as_str()),
        Some("node & <ui>")
    );
    assert_eq!(by_id(&node).map(|t| t.group.ingress.len()), Some(4));
    assert_eq!(
        by_id(&other).and_then(|t| t.stack.clone()),
        Some(StackName::new("prod-1"))
    );
}

/// AWS pages its answers, and may return fewer items than asked with a token for the rest: a
/// sweep over stacks whose groups span several pages finds and repairs every one of them.
#[tokio::test]
async fn a_sweep_over_groups_that_span_pages_repairs_every_group() {
    let moto = Moto::start_with(&[("AWS_LIKE_PAGE_CAP", "3")]);
    let ec2 = moto.ec2().await;
    let fleet = SeededStack::drifted_fleet(&ec2, 4, 1).await;
    let file = StackFile::parse(&tests::fleet_stack_file("fleet-*"), "test")
        .unwrap_or_else(|e| panic!("{e}"));
    let engine = engine(&moto, file).await;

    let recording = moto.start_recording();
    let report = run(&engine, Execution::Apply).await;
    let pages = recording
        .requests()
        .iter()
        .filter(|(action, _)| action == "DescribeSecurityGroups")
        .count();

    assert_eq!(report.status, Status::Converged, "{report}");
    assert_eq!(report.stacks.len(), 4, "{report}");
    assert_eq!(pages, 3, "eight groups, three a page, one sweep");
    for stack in &fleet {
        assert_eq!(
            seed::ingress(&ec2, &stack.node).await,
            stack.healthy_node_rules()
        );
        assert_eq!(
            seed::ingress(&ec2, &stack.db).await,
            [format!("tcp 5432 from {}", stack.node)]
        );
    }
    let recording = moto.start_recording();
    let again = run(&engine, Execution::Plan).await;
    assert!(outcomes(&again).is_empty(), "{again}");
    assert_eq!(recording.mutating_calls(), Vec::<String>::new());
}

/// The sample stack file pinned to `stack`'s VPC, with its node and db groups the only ones
/// accepted in their roles.
fn pinned_stack(stack: &SeededStack) -> StackFile {
    let text = std::fs::read_to_string(repo_path("samples/stack.toml"))
        .unwrap_or_default()
        .replace(
            "unpinned = ",
            &format!("vpcs = [\"{}\"]\n# unpinned = ", stack.vpc),
        )
        .replace(
            "node = { description",
            &format!("node = {{ groups = [\"{}\"], description", stack.node),
        )
        .replace(
            "db = { description",
            &format!("db = {{ groups = [\"{}\"], description", stack.db),
        );
    StackFile::parse(&text, "pinned.toml").unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn a_group_of_another_vpc_or_not_accepted_in_its_role_is_never_admitted() {
    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    let stack = SeededStack::healthy(&ec2, "demo").await;
    let elsewhere = seed::vpc(&ec2, "10.9.0.0/16").await;
    // Both carry the stack tag and role node, and expose SSH to the world.
    let outsider = seed::group(&ec2, &elsewhere, "outsider", "demo", "node").await;
    let unlisted = seed::group(&ec2, &stack.vpc, "unlisted", "demo", "node").await;
    for intruder in [&outsider, &unlisted] {
        seed::allow(&ec2, intruder, &[rule::tcp(22, "0.0.0.0/0")]).await;
    }

    let report = run(&engine(&moto, pinned_stack(&stack)).await, Execution::Apply).await;

    assert_eq!(report.status, Status::Converged, "{report}");
    assert_eq!(outcomes(&report), Vec::new(), "{report}");
    // Re-read from AWS: the db and node groups admit only the stack's node group, and the
    // intruders are untouched.
    assert_eq!(
        seed::ingress(&ec2, &stack.db).await,
        [format!("tcp 5432 from {}", stack.node)]
    );
    assert_eq!(
        seed::ingress(&ec2, &stack.node).await,
        stack.healthy_node_rules()
    );
    for intruder in [&outsider, &unlisted] {
        assert_eq!(
            seed::ingress(&ec2, intruder).await,
            ["tcp 22 from 0.0.0.0/0"]
        );
    }
    let refused: Vec<(String, String, String)> = report
        .stacks
        .iter()
        .flat_map(|s| &s.security_groups.refused)
        .map(|r| {
            let vpc = r.vpc.as_ref().map(|v| v.to_string()).unwrap_or_default();
            (r.group.to_string(), vpc, r.reason.clone())
        })
        .collect();
    assert_eq!(refused.len(), 2, "{report}");
    let outsider_entry = refused.iter().find(|(g, _, _)| *g == outsider.to_string());
    let Some((_, vpc, reason)) = outsider_entry else {
        panic!("{outsider} not reported: {report}")
    };
    assert_eq!(*vpc, elsewhere);
    assert!(
        reason.contains(&format!("in VPC {elsewhere}, not in the stack's VPCs")),
        "{reason}"
    );
    let unlisted_entry = refused.iter().find(|(g, _, _)| *g == unlisted.to_string());
    let Some((_, vpc, reason)) = unlisted_entry else {
        panic!("{unlisted} not reported: {report}")
    };
    assert_eq!(*vpc, stack.vpc);
    assert!(
        reason.contains("not one of its accepted groups"),
        "{reason}"
    );
    assert!(
        report.to_string().contains(&format!(
            "not admitted: {outsider} (outsider, {elsewhere}, role node)"
        )),
        "{report}"
    );

    // The same stack unpinned (the sample as shipped) would admit both as node peers.
    let plan = run(&engine(&moto, sample_stack()).await, Execution::Plan).await;
    assert!(
        plan.to_string()
            .contains(&format!("tcp 5432 from {outsider}")),
        "{plan}"
    );
}

/// The sample stack file with a bastion and a load balancer role that no flow uses: the
/// bastion only in `forbidden` (never RDP from the world) and an exception (break-glass SSH),
/// the load balancer only in an exception.
fn stack_with_edge_roles() -> StackFile {
    let text = std::fs::read_to_string(repo_path("samples/stack.toml"))
        .unwrap_or_default()
        .replace(
            "db = { description",
            "bastion = { description = \"SSH jump host\" }\n\
             alb = { description = \"the deployment's load balancer\" }\n\
             db = { description",
        )
        + "\n[[forbidden]]\nports = [3389]\nroles = [\"bastion\"]\n"
        + "\n[[exceptions]]\nrole = \"bastion\"\nfrom = \"0.0.0.0/0\"\nports = 22\nreason = \"break-glass SSH, ticket OPS-123\"\n"
        + "\n[[exceptions]]\nrole = \"alb\"\nfrom = \"0.0.0.0/0\"\nports = 443\nreason = \"the public site\"\n";
    StackFile::parse(&text, "edge-roles.toml").unwrap_or_else(|e| panic!("{e}"))
}

/// The healthy demo stack whose database admits Postgres from `db_cidr` instead of the node
/// group, with a node instance in 10.0.1.0/24 and the database located only by its own network
/// interface in 10.0.2.0/24, as an Aurora cluster is. Returns the stack and that interface.
async fn seed_cidr_admitted_database(
    ec2: &aws_sdk_ec2::Client,
    db_cidr: &str,
) -> (SeededStack, String) {
    let stack = SeededStack::healthy(ec2, "demo").await;
    seed::revoke(ec2, &stack.db, &rule::tcp(5432, stack.node.as_str())).await;
    seed::allow(ec2, &stack.db, &[rule::tcp(5432, db_cidr)]).await;
    let app = seed::subnet(ec2, &stack.vpc, "10.0.1.0/24").await;
    let data = seed::subnet(ec2, &stack.vpc, "10.0.2.0/24").await;
    seed::instance(ec2, &app, &stack.node, "demo", "node").await;
    let db_interface = seed::interface(ec2, &data, &stack.db).await;
    (stack, db_interface)
}

/// A third party's deployment (issue 17): the database admits Postgres from the VPC's CIDR, and
/// is located only by its own network interface, as an Aurora cluster is. The nodes' addresses
/// are inside that CIDR, so the path is open: reported OPEN, through a rule flagged as broader
/// than the flow needs, and left alone. A bastion whose role only `forbidden` and an exception
/// name is guarded all the same.
#[tokio::test]
async fn a_database_admitting_the_vpc_cidr_is_reached_and_an_edge_role_is_guarded() {
    use domain::security_groups::{FlowStatus, HopLayer, Verdict};
    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    let (stack, db_interface) = seed_cidr_admitted_database(&ec2, "10.0.0.0/16").await;
    let bastion = seed::group(&ec2, &stack.vpc, "bastion", "demo", "bastion").await;
    seed::allow(
        &ec2,
        &bastion,
        &[rule::tcp(22, "0.0.0.0/0"), rule::tcp(3389, "0.0.0.0/0")],
    )
    .await;
    let file = stack_with_edge_roles();
    assert!(
        file.warnings.iter().all(|w| !w.field.starts_with("roles.")),
        "{:?}",
        file.warnings
    );

    let recording = moto.start_recording();
    let report = run(&engine(&moto, file).await, Execution::Apply).await;
    let reads: Vec<String> = recording
        .requests()
        .into_iter()
        .map(|(action, _)| action)
        .collect();

    assert_eq!(report.status, Status::Converged, "{report}");
    let flows = &report.stacks[0].security_groups.flow_check;
    let node_db = flows
        .iter()
        .find(|f| f.check.flow == "node-db")
        .unwrap_or_else(|| panic!("no node-db in {report}"));
    assert_eq!(node_db.check.status, FlowStatus::Open, "{report}");
    assert_eq!(node_db.after, FlowStatus::Open, "{report}");
    let ingress = node_db.check.paths[0]
        .hops
        .iter()
        .find(|h| h.layer == HopLayer::TargetIngress)
        .unwrap_or_else(|| panic!("no ingress hop: {report}"));
    assert_eq!(ingress.verdict, Verdict::Allowed);
    assert!(ingress.broader, "{ingress:?}");
    assert_eq!(ingress.rules, [rule::tcp(5432, "10.0.0.0/16")]);
    let text = report.to_string();
    assert!(
        text.contains(&format!(
            "{} (demo-node, role node) → {db} (demo-db, role db): open at {db} (demo-db, role db): admitted by ingress rule tcp 5432 from 10.0.0.0/16",
            stack.node,
            db = stack.db
        )),
        "{text}"
    );
    assert!(
        node_db.check.paths[0]
            .hops
            .iter()
            .all(|h| h.verdict == Verdict::Allowed),
        "the database's subnet and ACL are located by its interface {db_interface}: {report}"
    );
    // Re-read from AWS: no group rule was added beside the CIDR rule that already carries it.
    assert_eq!(
        seed::ingress(&ec2, &stack.db).await,
        ["tcp 5432 from 10.0.0.0/16"]
    );
    assert_eq!(
        reads
            .iter()
            .filter(|action| *action == "DescribeNetworkInterfaces")
            .count(),
        1,
        "every interface of every group in one read: {reads:?}"
    );

    // The bastion: RDP from the world revoked by its role's `forbidden` entry, SSH exempt.
    assert_eq!(
        seed::ingress(&ec2, &bastion).await,
        ["tcp 22 from 0.0.0.0/0"]
    );
    let exempt: Vec<(String, String)> = report.stacks[0]
        .security_groups
        .exempt
        .iter()
        .map(|e| (e.group.to_string(), e.reason.clone()))
        .collect();
    assert_eq!(
        exempt,
        [(
            bastion.to_string(),
            "break-glass SSH, ticket OPS-123".into()
        )]
    );
}

/// The same deployment with the database admitting only its own subnet: the nodes are outside
/// the CIDR, the path is blocked, and the group rule is added.
#[tokio::test]
async fn a_database_cidr_that_misses_the_nodes_is_no_path_and_the_group_rule_is_added() {
    use domain::security_groups::FlowStatus;
    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    let (stack, _) = seed_cidr_admitted_database(&ec2, "10.0.2.0/24").await;

    let report = run(&engine(&moto, sample_stack()).await, Execution::Apply).await;

    assert_eq!(report.status, Status::Converged, "{report}");
    let node_db = report.stacks[0]
        .security_groups
        .flow_check
        .iter()
        .find(|f| f.check.flow == "node-db")
        .unwrap_or_else(|| panic!("no node-db in {report}"));
    assert_eq!(node_db.check.status, FlowStatus::Blocked, "{report}");
    assert_eq!(node_db.after, FlowStatus::Open, "{report}");
    assert!(
        report
            .to_string()
            .contains("no rule's CIDR (10.0.2.0/24) contains an address of"),
        "{report}"
    );
    let mut expected = vec![
        "tcp 5432 from 10.0.2.0/24".to_string(),
        format!("tcp 5432 from {}", stack.node),
    ];
    expected.sort();
    assert_eq!(seed::ingress(&ec2, &stack.db).await, expected);
}

/// An application load balancer `name` of `scheme` in `vpc`'s `subnets` wearing `group`, with a target
/// group per listener: each listener `(port, target group)` forwards over HTTP to the instance
/// on 6688. Returns nothing: the engine must find it all through the targets.
async fn seed_alb(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    (vpc, subnets): (&str, &[String]),
    name: &str,
    scheme: aws_sdk_elasticloadbalancingv2::types::LoadBalancerSchemeEnum,
    group: &domain::ids::SecurityGroupId,
    listeners: &[(i32, &str)],
    instance: &str,
) {
    use aws_sdk_elasticloadbalancingv2::types::{
        Action, ActionTypeEnum, LoadBalancerTypeEnum, ProtocolEnum, TargetDescription,
        TargetTypeEnum,
    };
    let created = elb
        .create_load_balancer()
        .name(name)
        .r#type(LoadBalancerTypeEnum::Application)
        .scheme(scheme)
        .set_subnets(Some(subnets.to_vec()))
        .security_groups(group.as_str())
        .send()
        .await
        .unwrap_or_else(|e| panic!("create load balancer {name}: {e:?}"));
    let lb = created.load_balancers()[0]
        .load_balancer_arn()
        .unwrap_or_default()
        .to_string();
    for (port, target_group) in listeners {
        let created = elb
            .create_target_group()
            .name(*target_group)
            .protocol(ProtocolEnum::Http)
            .port(6688)
            .vpc_id(vpc)
            .target_type(TargetTypeEnum::Instance)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create target group {target_group}: {e:?}"));
        let tg = created.target_groups()[0]
            .target_group_arn()
            .unwrap_or_default()
            .to_string();
        elb.register_targets()
            .target_group_arn(&tg)
            .targets(TargetDescription::builder().id(instance).port(6688).build())
            .send()
            .await
            .unwrap_or_else(|e| panic!("register targets: {e:?}"));
        elb.create_listener()
            .load_balancer_arn(&lb)
            .protocol(ProtocolEnum::Http)
            .port(*port)
            .default_actions(
                Action::builder()
                    .r#type(ActionTypeEnum::Forward)
                    .target_group_arn(&tg)
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("create listener {port}: {e:?}"));
    }
}

#[tokio::test]
async fn a_load_balancer_opening_the_ui_port_to_the_world_is_reported_and_left_alone() {
    use aws_sdk_elasticloadbalancingv2::types::LoadBalancerSchemeEnum;
    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&moto.sdk_config().await);
    let stack = SeededStack::healthy(&ec2, "demo").await;
    let subnet_a = seed::subnet(&ec2, &stack.vpc, "10.0.1.0/24").await;
    let subnet_b = seed::subnet_in(&ec2, &stack.vpc, "10.0.2.0/24", "us-east-1b").await;
    let subnets = [subnet_a.clone(), subnet_b];
    let node = seed::instance(&ec2, &subnet_a, &stack.node, "demo", "node").await;
    // A third party's load balancers: their groups carry no stack tag. The public one opens
    // 80 to the world and 8080 only to the VPC; the internal one opens 80 to the world.
    let public = seed::group(&ec2, &stack.vpc, "public-alb", "", "").await;
    seed::allow(
        &ec2,
        &public,
        &[rule::tcp(80, "0.0.0.0/0"), rule::tcp(8080, "10.0.0.0/16")],
    )
    .await;
    let internal = seed::group(&ec2, &stack.vpc, "internal-alb", "", "").await;
    seed::allow(&ec2, &internal, &[rule::tcp(80, "0.0.0.0/0")]).await;
    // The nodes let both load balancers in on the UI port.
    seed::allow(
        &ec2,
        &stack.node,
        &[
            rule::tcp(6688, public.as_str()),
            rule::tcp(6688, internal.as_str()),
        ],
    )
    .await;
    seed_alb(
        &elb,
        (&stack.vpc, &subnets),
        "public-alb",
        LoadBalancerSchemeEnum::InternetFacing,
        &public,
        &[(80, "ui-public"), (8080, "ui-vpc")],
        &node,
    )
    .await;
    seed_alb(
        &elb,
        (&stack.vpc, &subnets),
        "internal-alb",
        LoadBalancerSchemeEnum::Internal,
        &internal,
        &[(80, "ui-internal")],
        &node,
    )
    .await;

    let recording = moto.start_recording();
    let report = run(&engine(&moto, sample_stack()).await, Execution::Apply).await;
    let requests = recording.requests();

    // Report-only, like a flow a network ACL blocks: nothing to do, nothing changed.
    assert_eq!(report.status, Status::Converged, "{report}");
    assert_eq!(recording.mutating_calls(), Vec::<String>::new());
    let exposures: Vec<String> = report
        .stacks
        .iter()
        .flat_map(|s| &s.security_groups.exposures)
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        exposures,
        [format!(
            "{node}:6688 (tcp, role node) reachable from the world: load balancer public-alb → \
             listener HTTP:80, admitted from the world by {public} (public-alb) (tcp 80 from 0.0.0.0/0) \
             → target group ui-public → {node}:6688, let in by {} (demo-node) (tcp 6688 from {public})",
            stack.node
        )],
        "{report}"
    );
    let text = report.to_string();
    assert!(text.contains("belongs to whoever deployed it"), "{text}");
    assert!(
        text.contains("1 exposure(s) through a load balancer"),
        "{text}"
    );
    assert!(report.to_json().contains("\"exposures\""));
    let elb_calls = |action: &str| requests.iter().filter(|(a, _)| a == action).count();
    assert_eq!(
        [
            elb_calls("DescribeTargetGroups"),
            elb_calls("DescribeTargetHealth"),
            elb_calls("DescribeLoadBalancers"),
            elb_calls("DescribeListeners"),
        ],
        [1, 3, 1, 1],
        "one page of target groups, one health read each, the load balancers at once, the \
         listeners of the internet-facing one only: {requests:?}"
    );
    assert_eq!(
        seed::ingress(&ec2, &public).await,
        ["tcp 80 from 0.0.0.0/0", "tcp 8080 from 10.0.0.0/16"]
    );
}

#[tokio::test]
async fn an_event_about_a_group_does_not_read_load_balancers() {
    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    let stack = SeededStack::healthy(&ec2, "demo").await;
    let subnet = seed::subnet(&ec2, &stack.vpc, "10.0.1.0/24").await;
    seed::instance(&ec2, &subnet, &stack.node, "demo", "node").await;

    // A file naming its stack, and a pattern (which reads the event's groups first).
    let text = std::fs::read_to_string(repo_path("samples/stack.toml"))
        .unwrap_or_else(|e| panic!("{e}"))
        .replace("name = \"demo\"", "name = \"dem*\"");
    let pattern = StackFile::parse(&text, "pattern").unwrap_or_else(|e| panic!("{e}"));
    for file in [sample_stack(), pattern] {
        let recording = moto.start_recording();
        let event = event_for("cloudtrail-authorize-ingress.json", stack.node.as_str());
        let report = handle_event(&engine(&moto, file).await, event)
            .await
            .unwrap_or_else(|e| panic!("{e}"));

        assert!(!report.stacks.is_empty(), "{report}");
        let read_elb = recording.requests().iter().any(|(action, _)| {
            action.starts_with("DescribeTarget") || action == "DescribeLoadBalancers"
        });
        assert!(
            !read_elb,
            "an event reads the groups, not the load balancers"
        );
    }
}
