//! Chainlink parameter validation and rollback against moto's Parameter Store (history,
//! labels, SecureString), driven by the same events the parameter function receives.

use domain::outcome::Outcome;
use domain::report::{Report, Status};
use domain::stack::StackFile;
use serde_json::{json, Value};
use shared::aws::Clients;
use shared::engine::{Capabilities, Engine};
use shared::invocation::handle_event;
use tests::ssm::{change_event, valid_legacy, DEV_DB, GOOD_DB, OTHER_KMS_KEY, STACK_KMS_KEY};
use tests::{repo_path, ssm, Moto};

const PREFIX: &str = "/chainlink/demo/";
const LABEL: &str = "last-known-good";
fn stack_file(mode: &str) -> StackFile {
    let text = std::fs::read_to_string(repo_path("samples/stack.toml"))
        .unwrap_or_default()
        .replace("mode = \"enforce\"", &format!("mode = \"{mode}\""));
    StackFile::parse(&text, "stack.toml").unwrap_or_else(|e| panic!("{e}"))
}

async fn engine(moto: &Moto, mode: &str) -> Engine {
    Engine::new(
        Clients::new(&moto.sdk_config().await),
        stack_file(mode),
        Capabilities::PARAMETERS,
    )
}

/// The demo stack in enforce mode, its `[parameters]` declaring `kms_key`.
async fn engine_declaring_key(moto: &Moto, kms_key: &str) -> Engine {
    let text = std::fs::read_to_string(repo_path("samples/stack.toml"))
        .unwrap_or_default()
        .replace(
            "label = \"last-known-good\"",
            &format!("label = \"last-known-good\"\nkms_key = \"{kms_key}\""),
        );
    let file = StackFile::parse(&text, "kms.toml").unwrap_or_else(|e| panic!("{e}"));
    assert!(
        file.parameters
            .as_ref()
            .and_then(|p| p.kms_key.as_ref())
            .is_some(),
        "the key is declared"
    );
    Engine::new(
        Clients::new(&moto.sdk_config().await),
        file,
        Capabilities::PARAMETERS,
    )
}

async fn handle(engine: &Engine, event: Value) -> Report {
    handle_event(engine, event)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

fn parameter_actions(report: &Report) -> Vec<(String, Outcome)> {
    report
        .stacks
        .iter()
        .filter_map(|s| s.parameters.as_ref())
        .flat_map(|p| &p.actions)
        .map(|a| {
            (
                format!("{} {}", a.action.kind(), a.action.name()),
                a.outcome.outcome.clone(),
            )
        })
        .collect()
}

fn finding_codes(report: &Report) -> Vec<String> {
    report
        .stacks
        .iter()
        .filter_map(|s| s.parameters.as_ref())
        .flat_map(|p| &p.findings)
        .map(|f| format!("{} {}", f.code.as_str(), f.parameter))
        .collect()
}

#[tokio::test]
async fn a_valid_set_is_labeled_last_known_good() {
    let moto = Moto::start();
    let client = ssm::client(&moto).await;
    ssm::put_all(&client, PREFIX, &valid_legacy()).await;

    let report = handle(
        &engine(&moto, "enforce").await,
        change_event("Create", "/chainlink/demo/ETH_URL"),
    )
    .await;

    assert_eq!(report.status, Status::Converged, "{report}");
    for (key, _) in valid_legacy() {
        assert_eq!(
            ssm::labeled(&client, &format!("{PREFIX}{key}"), LABEL).await,
            Some(1),
            "{key}"
        );
    }
}

#[tokio::test]
async fn production_pointed_at_the_dev_database_is_rolled_back_once() {
    let moto = Moto::start();
    let client = ssm::client(&moto).await;
    ssm::put_all(&client, PREFIX, &valid_legacy()).await;
    let engine = engine(&moto, "enforce").await;
    handle(
        &engine,
        change_event("Create", "/chainlink/demo/DATABASE_URL"),
    )
    .await;
    let name = "/chainlink/demo/DATABASE_URL";
    assert_eq!(ssm::put(&client, name, DEV_DB).await, 2);

    let report = handle(&engine, change_event("Update", name)).await;

    assert_eq!(report.status, Status::Converged, "{report}");
    assert!(
        finding_codes(&report)
            .iter()
            .any(|c| c.starts_with("CL-ISO") && c.ends_with("DATABASE_URL")),
        "{:?}",
        finding_codes(&report)
    );
    assert_eq!(
        parameter_actions(&report),
        [(format!("RevertParameter {name}"), Outcome::Applied)]
    );
    assert_eq!(
        ssm::current(&client, name).await,
        (3, GOOD_DB.to_string()),
        "version 1's value, as a new version"
    );
    assert_eq!(ssm::labeled(&client, name, LABEL).await, Some(3));
    assert_eq!(ssm::history_len(&client, name).await, 3, "history is kept");

    // The restore's own change event, and a redelivery of the bad one: nothing more happens.
    let recording = moto.start_recording();
    for event in [change_event("Update", name), change_event("Update", name)] {
        let again = handle(&engine, event).await;
        assert!(parameter_actions(&again).is_empty(), "{again}");
        assert_eq!(again.status, Status::Converged);
    }
    assert_eq!(recording.mutating_calls(), Vec::<String>::new());
    assert_eq!(ssm::current(&client, name).await.0, 3);
    assert_eq!(ssm::history_len(&client, name).await, 3);
}

#[tokio::test]
async fn a_bad_v2_websocket_url_is_rolled_back() {
    let moto = Moto::start();
    let client = ssm::client(&moto).await;
    let config = include_str!("../../shared/domain/tests/testdata/v2-config.toml");
    let secrets = include_str!("../../shared/domain/tests/testdata/v2-secrets.toml");
    ssm::put_all(
        &client,
        PREFIX,
        &[("config.toml", config), ("secrets.toml", secrets)],
    )
    .await;
    let engine = engine(&moto, "enforce").await;
    handle(
        &engine,
        change_event("Create", "/chainlink/demo/config.toml"),
    )
    .await;
    ssm::put(
        &client,
        "/chainlink/demo/config.toml",
        &config.replace("wss://eth-1", "http://eth-1"),
    )
    .await;

    let report = handle(
        &engine,
        change_event("Update", "/chainlink/demo/config.toml"),
    )
    .await;

    assert!(
        finding_codes(&report).contains(&"CL-RPC-001 config.toml".to_string()),
        "{report}"
    );
    assert_eq!(
        ssm::current(&client, "/chainlink/demo/config.toml").await,
        (3, config.to_string())
    );
}

#[tokio::test]
async fn a_chain_and_link_address_mismatch_is_caught_and_reverted() {
    let moto = Moto::start();
    let client = ssm::client(&moto).await;
    ssm::put_all(&client, PREFIX, &valid_legacy()).await;
    let engine = engine(&moto, "enforce").await;
    handle(&engine, change_event("Create", "/chainlink/demo/ETH_URL")).await;
    let name = "/chainlink/demo/LINK_CONTRACT_ADDRESS";
    ssm::put(&client, name, "0x779877A7B0D9E8603169DdbD7836e478b4624789").await; // Sepolia's LINK

    let report = handle(&engine, change_event("Update", name)).await;

    assert!(
        finding_codes(&report)
            .iter()
            .any(|c| c.starts_with("CL-LINK") && c.ends_with("LINK_CONTRACT_ADDRESS")),
        "{report}"
    );
    assert_eq!(
        ssm::current(&client, name).await.1,
        "0x514910771AF9Ca656af840dff83E8264EcF986CA"
    );
}

#[tokio::test]
async fn a_deleted_required_parameter_is_critical_and_left_to_people() {
    let moto = Moto::start();
    let client = ssm::client(&moto).await;
    ssm::put_all(&client, PREFIX, &valid_legacy()).await;
    let engine = engine(&moto, "enforce").await;
    handle(&engine, change_event("Create", "/chainlink/demo/ETH_URL")).await;
    client
        .delete_parameter()
        .name("/chainlink/demo/DATABASE_URL")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));

    let recording = moto.start_recording();
    let report = handle(
        &engine,
        change_event("Delete", "/chainlink/demo/DATABASE_URL"),
    )
    .await;

    assert_eq!(report.status, Status::Invalid, "{report}");
    assert_eq!(
        recording.mutating_calls(),
        Vec::<String>::new(),
        "nothing written: no parameter recreated, no label moved"
    );
    let gone = client
        .get_parameter()
        .name("/chainlink/demo/DATABASE_URL")
        .send()
        .await;
    assert!(
        gone.as_ref().is_err_and(|e| e
            .as_service_error()
            .is_some_and(|e| e.is_parameter_not_found())),
        "still deleted: {gone:?}"
    );
    assert_eq!(report.status.exit_code(), 1);
    let parameters = report.stacks[0]
        .parameters
        .as_ref()
        .unwrap_or_else(|| panic!("no parameters report"));
    assert!(parameters.findings.iter().any(
        |f| f.severity == chainlink::Severity::Critical && f.parameter.contains("DATABASE_URL")
    ));
    assert!(
        parameters.actions.is_empty(),
        "nothing is recreated from a copy: the tool keeps none"
    );
}

#[tokio::test]
async fn report_mode_only_finds() {
    let moto = Moto::start();
    let client = ssm::client(&moto).await;
    ssm::put_all(&client, PREFIX, &valid_legacy()).await;
    ssm::put(&client, "/chainlink/demo/DATABASE_URL", DEV_DB).await;

    let recording = moto.start_recording();
    let report = handle(
        &engine(&moto, "report").await,
        change_event("Update", "/chainlink/demo/DATABASE_URL"),
    )
    .await;

    assert!(!finding_codes(&report).is_empty());
    assert!(!parameter_actions(&report).is_empty(), "{report}");
    assert_eq!(recording.mutating_calls(), Vec::<String>::new());
    assert!(
        parameter_actions(&report)
            .iter()
            .all(|(_, o)| *o == Outcome::Planned),
        "{report}"
    );
    assert_eq!(
        ssm::current(&client, "/chainlink/demo/DATABASE_URL")
            .await
            .1,
        DEV_DB
    );
}

#[tokio::test]
async fn events_outside_the_prefix_and_malformed_events_do_nothing() {
    let moto = Moto::start();
    let engine = engine(&moto, "enforce").await;
    let recording = moto.start_recording();
    let outside = handle(&engine, change_event("Update", "/other-team/DATABASE_URL")).await;
    assert!(outside.stacks.is_empty());
    assert!(
        outside
            .skipped
            .iter()
            .any(|s| s.contains("outside the parameter prefix")),
        "{:?}",
        outside.skipped
    );

    let mut malformed = change_event("Update", "/chainlink/demo/DATABASE_URL");
    malformed["detail"] = json!({"operation": "Update"});
    let rejected = handle(&engine, malformed).await;
    assert_eq!(rejected.status, Status::Rejected);
    assert_eq!(
        recording.requests(),
        Vec::<(String, String)>::new(),
        "neither reads anything"
    );
}

#[tokio::test]
async fn the_live_probe_finds_an_rpc_node_serving_another_chain() {
    let moto = Moto::start();
    let anvil = tests::Anvil::start(11_155_111); // Sepolia, while the stack declares mainnet
    let client = ssm::client(&moto).await;
    let rpc = format!("ws://127.0.0.1:{}", anvil.port);
    let mut set = valid_legacy();
    set.retain(|(key, _)| *key != "ETH_URL");
    ssm::put_all(&client, PREFIX, &set).await;
    ssm::put(&client, "/chainlink/demo/ETH_URL", &rpc).await;
    let text = std::fs::read_to_string(repo_path("samples/stack.toml"))
        .unwrap_or_default()
        .replace(
            "label = \"last-known-good\"",
            "label = \"last-known-good\"\nprobes = true",
        )
        .replace(
            "rpc_hosts = [\"*.rpc.prod.demo.internal\"]",
            "rpc_hosts = [\"127.0.0.1\"]",
        );
    let file = StackFile::parse(&text, "probes.toml").unwrap_or_else(|e| panic!("{e}"));
    let engine = Engine::new(
        Clients::new(&moto.sdk_config().await),
        file,
        Capabilities::PARAMETERS,
    );

    let recording = moto.start_recording();
    let report = handle(&engine, change_event("Update", "/chainlink/demo/ETH_URL")).await;

    let codes = finding_codes(&report);
    assert!(
        codes.contains(&"CL-PROBE-003 ETH_URL".to_string()),
        "{report}"
    );
    assert!(
        codes.contains(&"CL-PROBE-001 DATABASE_URL".to_string()),
        "db.prod.demo.internal does not resolve here: {codes:?}"
    );
    assert_eq!(
        report.status,
        Status::Invalid,
        "a live failure needs a person; it never triggers a rollback"
    );
    assert!(parameter_actions(&report)
        .iter()
        .all(|(kind, _)| !kind.starts_with("RevertParameter")));
    assert!(
        recording
            .mutating_calls()
            .iter()
            .all(|call| !call.starts_with("PutParameter")),
        "{:?}",
        recording.mutating_calls()
    );
    assert_eq!(
        ssm::current(&client, "/chainlink/demo/ETH_URL").await,
        (1, rpc.clone())
    );
    let text = report.to_string();
    assert!(
        text.contains("serves chain 11155111, but the stack declares chain 1"),
        "{text}"
    );
}

#[tokio::test]
async fn a_scheduled_sweep_checks_the_parameters_without_any_security_group() {
    let moto = Moto::start();
    let client = ssm::client(&moto).await;
    ssm::put_all(&client, PREFIX, &valid_legacy()).await;
    ssm::put(&client, "/chainlink/demo/DATABASE_URL", DEV_DB).await;
    let schedule: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_path("samples/events/schedule.json")).unwrap_or_default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));

    let report = handle(&engine(&moto, "enforce").await, schedule).await;

    assert_eq!(report.signal.origin, "schedule");
    assert_eq!(
        parameter_actions(&report),
        [(
            "RevertParameter /chainlink/demo/DATABASE_URL".to_string(),
            Outcome::Applied
        )]
    );
    assert_eq!(
        ssm::current(&client, "/chainlink/demo/DATABASE_URL").await,
        (3, GOOD_DB.to_string())
    );
}

#[tokio::test]
async fn a_pattern_sweep_finds_its_stacks_with_one_read_and_checks_each_prefix() {
    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    let client = ssm::client(&moto).await;
    for stack in ["prod-a", "prod-b", "dev-a"] {
        tests::SeededStack::healthy(&ec2, stack).await;
        ssm::put_all(&client, &format!("/chainlink/{stack}/"), &valid_legacy()).await;
    }
    let text = std::fs::read_to_string(repo_path("samples/stack.toml"))
        .unwrap_or_default()
        .replace("name = \"demo\"", "name = \"prod-*\"")
        .replace(
            "prefix = \"/chainlink/demo/\"",
            "prefix = \"/chainlink/{stack}/\"",
        );
    // Without a declared connection limit, no node is counted: the stacks' names are the only
    // EC2 read (the count is its own test).
    let limit = "database_max_connections = 100";
    assert!(text.contains(limit), "the sample's connection limit moved");
    let text = text.replace(limit, "");
    let file = StackFile::parse(&text, "prod.toml").unwrap_or_else(|e| panic!("{e}"));
    let engine = Engine::new(
        Clients::new(&moto.sdk_config().await),
        file,
        Capabilities::PARAMETERS,
    );
    let schedule: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_path("samples/events/schedule.json")).unwrap_or_default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let recording = moto.start_recording();

    let report = handle(&engine, schedule).await;

    let stacks: Vec<String> = report.stacks.iter().map(|s| s.stack.to_string()).collect();
    assert_eq!(stacks, ["prod-a", "prod-b"], "{report}");
    let reads: Vec<String> = recording
        .requests()
        .into_iter()
        .map(|(action, _)| action)
        .filter(|action| action.starts_with("Describe"))
        .collect();
    let of = |prefix: &str| -> Vec<&str> {
        reads
            .iter()
            .map(String::as_str)
            .filter(|a| a.starts_with(prefix))
            .collect()
    };
    let ec2_reads: Vec<&str> = reads
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("DescribeParameters") && !a.starts_with("DescribeDB"))
        .collect();
    assert_eq!(
        ec2_reads,
        ["DescribeSecurityGroups"],
        "stack names need one read, not the whole network"
    );
    assert_eq!(
        of("DescribeDBInstances"),
        ["DescribeDBInstances"],
        "the region's databases are listed once for both stacks ([database])"
    );
    assert_eq!(
        ssm::labeled(&client, "/chainlink/prod-b/DATABASE_URL", LABEL).await,
        Some(1)
    );
    assert_eq!(
        ssm::labeled(&client, "/chainlink/dev-a/DATABASE_URL", LABEL).await,
        None,
        "dev-a is not guarded"
    );
}

/// The attack: whoever may write the parameter puts a bad value under a KMS key they hold. The
/// rollback must put the good value back under the key it was under, not theirs.
#[tokio::test]
async fn a_rollback_keeps_the_restored_versions_key_not_the_attackers() {
    let moto = Moto::start();
    let client = ssm::client(&moto).await;
    ssm::put_all_under(&client, PREFIX, &valid_legacy(), STACK_KMS_KEY).await;
    let engine = engine_declaring_key(&moto, STACK_KMS_KEY).await;
    handle(&engine, change_event("Create", "/chainlink/demo/ETH_URL")).await;
    let name = "/chainlink/demo/DATABASE_URL";
    assert_eq!(
        ssm::put_as(&client, name, DEV_DB, Some(OTHER_KMS_KEY)).await,
        2
    );

    let report = handle(&engine, change_event("Update", name)).await;

    assert_eq!(
        parameter_actions(&report),
        [(format!("RevertParameter {name}"), Outcome::Applied)],
        "{report}"
    );
    assert!(
        report
            .to_string()
            .contains("SecureString under KMS key alias/chainlink-demo"),
        "the report shows the key it used: {report}"
    );
    assert_eq!(ssm::current(&client, name).await, (3, GOOD_DB.to_string()));
    assert_eq!(
        ssm::type_and_key(&client, name, 3).await,
        ("SecureString".to_string(), Some(STACK_KMS_KEY.to_string()))
    );
    assert_eq!(
        ssm::described_key(&client, name).await.as_deref(),
        Some(STACK_KMS_KEY)
    );
}

/// Without a declared key, a restore still takes the restored version's type and key: neither
/// a foreign key nor a plain String written over a SecureString is kept.
#[tokio::test]
async fn without_a_declared_key_a_rollback_keeps_the_restored_versions_type_and_key() {
    for attackers_key in [Some(OTHER_KMS_KEY), None] {
        let moto = Moto::start();
        let client = ssm::client(&moto).await;
        ssm::put_all_under(&client, PREFIX, &valid_legacy(), STACK_KMS_KEY).await;
        let engine = engine(&moto, "enforce").await;
        handle(&engine, change_event("Create", "/chainlink/demo/ETH_URL")).await;
        let name = "/chainlink/demo/DATABASE_URL";
        ssm::put_as(&client, name, DEV_DB, attackers_key).await;

        let report = handle(&engine, change_event("Update", name)).await;

        assert_eq!(
            parameter_actions(&report),
            [(format!("RevertParameter {name}"), Outcome::Applied)],
            "{attackers_key:?}: {report}"
        );
        assert!(
            report.to_string().contains("note: no kms_key is declared"),
            "{report}"
        );
        assert_eq!(ssm::current(&client, name).await, (3, GOOD_DB.to_string()));
        assert_eq!(
            ssm::type_and_key(&client, name, 3).await,
            ("SecureString".to_string(), Some(STACK_KMS_KEY.to_string())),
            "{attackers_key:?}"
        );
    }
}

/// A good value under another key than the declared one is not put back: restoring it would
/// re-encrypt the secret under a key the stack does not own. Nothing is written.
#[tokio::test]
async fn a_restore_under_an_undeclared_key_is_refused_and_writes_nothing() {
    let moto = Moto::start();
    let client = ssm::client(&moto).await;
    ssm::put_all_under(&client, PREFIX, &valid_legacy(), OTHER_KMS_KEY).await;
    let engine = engine_declaring_key(&moto, STACK_KMS_KEY).await;
    handle(&engine, change_event("Create", "/chainlink/demo/ETH_URL")).await;
    let name = "/chainlink/demo/DATABASE_URL";
    ssm::put_as(&client, name, DEV_DB, Some(OTHER_KMS_KEY)).await;
    let recording = moto.start_recording();

    let report = handle(&engine, change_event("Update", name)).await;

    assert_eq!(recording.mutating_calls(), Vec::<String>::new(), "{report}");
    assert!(parameter_actions(&report).is_empty(), "{report}");
    assert!(
        finding_codes(&report).contains(&"CL-SSM-002 DATABASE_URL".to_string()),
        "{report}"
    );
    assert_eq!(report.status, Status::Invalid, "{report}");
    assert_eq!(ssm::current(&client, name).await, (2, DEV_DB.to_string()));
}

/// Seeds the valid set, labels it, points `name` at the dev database (version 2) and returns
/// the judgement, not applied: the restore of version 1 over version 2.
async fn judged_restore(
    moto: &Moto,
    name: &str,
) -> (
    aws_sdk_ssm::Client,
    Vec<domain::parameters::ParameterAction>,
) {
    use domain::parameters::ParameterAction;
    use domain::report::Execution;
    use domain::signal::Signal;
    let client = ssm::client(moto).await;
    let engine = engine(moto, "enforce").await;
    ssm::put_all(&client, PREFIX, &valid_legacy()).await;
    handle(&engine, change_event("Create", name)).await;
    assert_eq!(ssm::put(&client, name, DEV_DB).await, 2);
    let judged = engine
        .run(Signal::sweep("test"), Execution::Plan)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let actions: Vec<ParameterAction> = judged
        .stacks
        .iter()
        .filter_map(|s| s.parameters.as_ref())
        .flat_map(|p| &p.actions)
        .map(|a| a.action.clone())
        .collect();
    assert!(
        matches!(
            actions.as_slice(),
            [ParameterAction::RevertParameter {
                from_version: 2,
                to_version: 1,
                ..
            }]
        ),
        "{judged}"
    );
    (client, actions)
}

/// Applies the judged `actions` and returns why the one restore was skipped: nothing written.
async fn skipped_without_writing(
    moto: &Moto,
    client: &aws_sdk_ssm::Client,
    actions: &[domain::parameters::ParameterAction],
) -> String {
    let recording = moto.start_recording();
    let outcomes = shared::parameters::apply::apply_parameter_actions(client, actions).await;
    assert_eq!(
        recording.mutating_calls(),
        Vec::<String>::new(),
        "no put, no label"
    );
    match outcomes.as_slice() {
        [outcome] => match &outcome.outcome {
            Outcome::Skipped { reason } => reason.clone(),
            other => panic!("expected a skip, got {other:?}"),
        },
        other => panic!("expected one outcome, got {other:?}"),
    }
}

/// A restore first re-checks that the parameter is still at the version it judged: a change made
/// between the judgement and the restore is someone else's, judged on its own event, and never
/// overwritten with the older value.
#[tokio::test]
async fn a_restore_never_overwrites_a_change_made_after_the_judgement() {
    let moto = Moto::start();
    let name = "/chainlink/demo/DATABASE_URL";
    // The judgement: version 2 is bad, version 1's value goes back.
    let (client, actions) = judged_restore(&moto, name).await;
    // Meanwhile an operator fixes it by hand, with a new password.
    let fixed = GOOD_DB.replace("Str0ng-enough-passw0rd", "An0ther-str0ng-passw0rd");
    assert_eq!(ssm::put(&client, name, &fixed).await, 3);

    let reason = skipped_without_writing(&moto, &client, &actions).await;

    assert!(
        reason.contains("changed since it was read (version 3, planned from 2)"),
        "{reason}"
    );
    assert_eq!(ssm::current(&client, name).await, (3, fixed));
    assert_eq!(ssm::history_len(&client, name).await, 3);
    assert_eq!(ssm::labeled(&client, name, LABEL).await, Some(1));
}

/// A restore only overwrites: a parameter deleted between the judgement and the restore is not
/// written back (an overwrite of a missing name would create it, which the templates' tag
/// condition refuses and a CLI with broad credentials must not do either).
#[tokio::test]
async fn a_restore_of_a_parameter_deleted_since_the_judgement_is_skipped_not_created() {
    let moto = Moto::start();
    let name = "/chainlink/demo/DATABASE_URL";
    let (client, actions) = judged_restore(&moto, name).await;
    // Meanwhile the parameter is deleted.
    client
        .delete_parameter()
        .name(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));

    let reason = skipped_without_writing(&moto, &client, &actions).await;

    assert!(
        reason.contains(&format!("{name} no longer exists")),
        "{reason}"
    );
    let gone = client.get_parameter().name(name).send().await;
    assert!(
        gone.is_err_and(|e| e
            .as_service_error()
            .is_some_and(|s| s.is_parameter_not_found())),
        "{name} was not created again"
    );
}

#[tokio::test]
async fn the_nodes_connections_are_checked_against_the_databases_limit_on_the_running_nodes() {
    let moto = Moto::start();
    let client = ssm::client(&moto).await;
    ssm::put_all(&client, PREFIX, &valid_legacy()).await;
    let ec2 = moto.ec2().await;
    let subnet = tests::fleet::subnet(&ec2, "us-east-1a").await;
    // Legacy nodes open up to 20 connections each (ORM_MAX_OPEN_CONNS's default); the sample's
    // database takes 100: five nodes fit, six do not. A database instance does not count.
    let mut nodes = Vec::new();
    for _ in 0..6 {
        nodes.push(tests::fleet::node(&ec2, &subnet, "demo", "node", "m6i.large").await);
    }
    tests::fleet::node(&ec2, &subnet, "demo", "db", "m6i.large").await;
    let engine = engine(&moto, "enforce").await;
    let over = handle(&engine, change_event("Create", "/chainlink/demo/ETH_URL")).await;
    let connections = |report: &Report| -> Vec<String> {
        report
            .stacks
            .iter()
            .filter_map(|s| s.parameters.as_ref())
            .flat_map(|p| &p.findings)
            .filter(|f| f.code.as_str() == "CL-DB-011")
            .map(|f| f.message.clone())
            .collect()
    };
    let found = connections(&over);
    assert_eq!(found.len(), 1, "{over}");
    assert!(
        found[0].contains("20") && found[0].contains('6') && found[0].contains("100"),
        "the message names all three numbers: {}",
        found[0]
    );

    ec2.terminate_instances()
        .instance_ids(&nodes[0])
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let fits = handle(&engine, change_event("Update", "/chainlink/demo/ETH_URL")).await;
    assert_eq!(connections(&fits), Vec::<String>::new(), "{fits}");
}

#[tokio::test]
async fn the_node_version_read_from_the_nodes_tag_applies_its_boot_rules() {
    let moto = Moto::start();
    let client = ssm::client(&moto).await;
    ssm::put_all(&client, PREFIX, &valid_legacy()).await;
    let ec2 = moto.ec2().await;
    let subnet = tests::fleet::subnet(&ec2, "us-east-1a").await;
    let node = tests::fleet::node(&ec2, &subnet, "demo", "node", "m6i.large").await;
    let text = std::fs::read_to_string(repo_path("samples/stack.toml"))
        .unwrap_or_default()
        .replace(
            "database_max_connections = 100",
            "node_version_tag = \"chainlink:node-version\"",
        );
    let file = StackFile::parse(&text, "tagged.toml").unwrap_or_else(|e| panic!("{e}"));
    let engine = Engine::new(
        Clients::new(&moto.sdk_config().await),
        file,
        Capabilities::PARAMETERS,
    );
    let refused = |report: &Report| {
        finding_codes(report)
            .iter()
            .filter(|c| c.starts_with("CL-VER-001"))
            .count()
    };

    let untagged = handle(&engine, change_event("Create", "/chainlink/demo/ETH_URL")).await;
    assert_eq!(refused(&untagged), 0, "no tag, no version: {untagged}");

    // The node is upgraded to a 2.x release, which refuses legacy variables at boot.
    tests::fleet::tag_instance(&ec2, &node, "chainlink:node-version", "v2.18.0").await;
    let tagged = handle(&engine, change_event("Update", "/chainlink/demo/ETH_URL")).await;
    // The environment variables the node reads (not the files API_* and KEYSTORE_PASSWORD
    // stand for).
    assert_eq!(
        refused(&tagged),
        5,
        "each legacy variable, for the version the tag names: {tagged}"
    );
    assert!(tagged.to_string().contains("node 2.18.0"), "{tagged}");
}

/// The demo stack, its keystore password declared kept in Secrets Manager.
fn keystore_in_secrets_manager() -> StackFile {
    let text = std::fs::read_to_string(repo_path("samples/stack.toml"))
        .unwrap_or_default()
        .replace(
            "label = \"last-known-good\"",
            "label = \"last-known-good\"\n[parameters.external]\n\
             KEYSTORE_PASSWORD = { secrets_manager = \"chainlink/{stack}/keystore\" }",
        );
    StackFile::parse(&text, "external.toml").unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn a_keystore_password_kept_in_secrets_manager_is_checked_to_exist_and_never_read() {
    let moto = Moto::start();
    let client = ssm::client(&moto).await;
    let mut set = valid_legacy();
    set.retain(|(key, _)| *key != "KEYSTORE_PASSWORD");
    ssm::put_all(&client, PREFIX, &set).await;
    let secrets = aws_sdk_secretsmanager::Client::new(&moto.sdk_config().await);
    let engine = Engine::new(
        Clients::new(&moto.sdk_config().await),
        keystore_in_secrets_manager(),
        Capabilities::PARAMETERS,
    );
    let codes_of = |report: &Report| -> Vec<String> {
        finding_codes(report)
            .into_iter()
            .filter(|c| c.contains("KEYSTORE_PASSWORD"))
            .collect()
    };

    // Declared, but not there: critical, and not a rollback's to fix; the valid set is labeled.
    let recording = moto.start_recording();
    let missing = handle(&engine, change_event("Create", "/chainlink/demo/ETH_URL")).await;
    assert_eq!(
        codes_of(&missing),
        ["CL-EXT-003 KEYSTORE_PASSWORD"],
        "{missing}"
    );
    assert_eq!(missing.status, Status::Invalid, "{missing}");
    assert!(
        missing.to_string().contains("not a rollback's to fix"),
        "{missing}"
    );
    assert!(
        parameter_actions(&missing)
            .iter()
            .all(|(action, _)| action.starts_with("LabelParameter")),
        "no rollback: {missing}"
    );
    let looked: Vec<(String, String)> = recording
        .requests()
        .into_iter()
        .filter(|(action, _)| action.contains("Secret"))
        .collect();
    assert_eq!(
        looked,
        [(
            "DescribeSecret".to_string(),
            "chainlink/demo/keystore".to_string()
        )],
        "one look, by the stack's own name, and no read of the value"
    );

    // There: advice only, and the run is clean.
    tests::seed::stack_secret(&moto, "chainlink/demo/keystore", "demo").await;
    let present = handle(&engine, change_event("Update", "/chainlink/demo/ETH_URL")).await;
    assert_eq!(
        codes_of(&present),
        ["CL-EXT-001 KEYSTORE_PASSWORD"],
        "{present}"
    );
    assert_eq!(present.status, Status::Converged, "{present}");
    assert!(present.to_string().contains("it exists"), "{present}");

    // Scheduled for deletion: the node can no longer read it.
    secrets
        .delete_secret()
        .secret_id("chainlink/demo/keystore")
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let deleted = handle(&engine, change_event("Update", "/chainlink/demo/ETH_URL")).await;
    assert_eq!(
        codes_of(&deleted),
        ["CL-EXT-003 KEYSTORE_PASSWORD"],
        "{deleted}"
    );
    assert!(
        deleted.to_string().contains("scheduled for deletion"),
        "{deleted}"
    );
}

/// The demo's RDS database, tagged into the stack with role `db`, its parameter group setting
/// `max_connections` to `limit`. Returns the endpoint's host.
async fn seed_database(moto: &Moto, limit: &str) -> String {
    use aws_sdk_rds::types::{Parameter, Tag};
    let rds = aws_sdk_rds::Client::new(&moto.sdk_config().await);
    rds.create_db_parameter_group()
        .db_parameter_group_name("demo-postgres16")
        .db_parameter_group_family("postgres16")
        .description("the demo database's settings")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    rds.modify_db_parameter_group()
        .db_parameter_group_name("demo-postgres16")
        .parameters(
            Parameter::builder()
                .parameter_name("max_connections")
                .parameter_value(limit)
                .apply_method(aws_sdk_rds::types::ApplyMethod::PendingReboot)
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let tag = |key: &str, value: &str| Tag::builder().key(key).value(value).build();
    let created = rds
        .create_db_instance()
        .db_instance_identifier("demo-db")
        .engine("postgres")
        .engine_version("16.4")
        .db_instance_class("db.m6i.large")
        .allocated_storage(100)
        .master_username("chainlink")
        .master_user_password("Str0ng-enough-passw0rd")
        .db_parameter_group_name("demo-postgres16")
        .tags(tag("chainlink:stack", "demo"))
        .tags(tag("chainlink:role", "db"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    created
        .db_instance()
        .and_then(|i| i.endpoint())
        .and_then(|e| e.address())
        .unwrap_or_default()
        .to_string()
}

/// With `[database]`, the stack's RDS instance is read with the parameters: the connection
/// check uses the limit its parameter group sets (over the file's), and the node's URL must
/// name it, by its endpoint or a declared alias, on its port.
#[tokio::test]
async fn the_databases_own_limit_and_endpoint_are_checked_against_the_nodes_url() {
    let moto = Moto::start();
    let client = ssm::client(&moto).await;
    ssm::put_all(&client, PREFIX, &valid_legacy()).await;
    let ec2 = moto.ec2().await;
    let subnet = tests::fleet::subnet(&ec2, "us-east-1a").await;
    // Three legacy nodes open up to 60 connections: within the file's 100, over the
    // database's own 50.
    for _ in 0..3 {
        tests::fleet::node(&ec2, &subnet, "demo", "node", "m6i.large").await;
    }
    let host = seed_database(&moto, "50").await;
    let engine = engine(&moto, "enforce").await;
    let codes_and_messages = |report: &Report| -> Vec<(String, String)> {
        report
            .stacks
            .iter()
            .filter_map(|s| s.parameters.as_ref())
            .flat_map(|p| &p.findings)
            .filter(|f| {
                ["CL-DB-011", "CL-RDS"]
                    .iter()
                    .any(|c| f.code.as_str().starts_with(c))
            })
            .map(|f| (f.code.as_str().to_string(), f.message.clone()))
            .collect()
    };

    let recording = moto.start_recording();
    let report = handle(&engine, change_event("Create", "/chainlink/demo/ETH_URL")).await;
    let found = codes_and_messages(&report);
    let codes: Vec<&str> = found.iter().map(|(c, _)| c.as_str()).collect();
    // Production: storage autoscaling off is a warning too (CL-RDS-006).
    assert_eq!(codes, ["CL-DB-011", "CL-RDS-006", "CL-RDS-007"], "{report}");
    assert!(
        found[0].1.contains("limit of 50"),
        "the database's limit: {}",
        found[0].1
    );
    assert!(
        found[2].1.contains("100"),
        "names the file's figure: {}",
        found[2].1
    );
    let rds_reads: Vec<String> = recording
        .requests()
        .into_iter()
        .map(|(action, _)| action)
        .filter(|action| action.starts_with("DescribeDB"))
        .collect();
    assert_eq!(
        rds_reads,
        ["DescribeDBInstances", "DescribeDBParameters"],
        "one page of instances with their tags, the group's own settings"
    );

    // The URL moved to another port of the alias: named with both ports, and not rolled
    // back (the stack file's hosts are the rollback's rule).
    let moved = valid_legacy()
        .iter()
        .find(|(k, _)| *k == "DATABASE_URL")
        .map(|(_, v)| v.replace(":5432/", ":6543/"))
        .unwrap_or_default();
    ssm::put(&client, "/chainlink/demo/DATABASE_URL", &moved).await;
    let report = handle(
        &engine,
        change_event("Update", "/chainlink/demo/DATABASE_URL"),
    )
    .await;
    let found = codes_and_messages(&report);
    assert!(
        found
            .iter()
            .any(|(c, m)| c == "CL-RDS-002" && m.contains("6543") && m.contains("5432")),
        "{report}"
    );
    assert!(
        !report.to_string().contains("Str0ng-enough"),
        "no password in {report}"
    );
    assert!(!host.is_empty());
}

/// An Aurora PostgreSQL cluster's member tagged as the stack's database: the node's URL names
/// the cluster's writer endpoint, which is the database (no CL-RDS-001), and Aurora's volume
/// asks for no storage threshold (no CL-RDS-006). One more read, for the clusters' endpoints.
/// (The stack file's `database_hosts` allowlist, the rollback's rule, does not name the
/// cluster: CL-ISO-001 says so, as it would on AWS.)
#[tokio::test]
async fn an_aurora_clusters_endpoint_is_the_stacks_database() {
    use aws_sdk_rds::types::Tag;
    let moto = Moto::start();
    let rds = aws_sdk_rds::Client::new(&moto.sdk_config().await);
    let tag = |key: &str, value: &str| Tag::builder().key(key).value(value).build();
    let cluster = rds
        .create_db_cluster()
        .db_cluster_identifier("demo-cluster")
        .engine("aurora-postgresql")
        .engine_version("16.4")
        .master_username("chainlink")
        .master_user_password("Str0ng-enough-passw0rd")
        .tags(tag("chainlink:stack", "demo"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let writer = cluster
        .db_cluster()
        .and_then(|c| c.endpoint())
        .unwrap_or_default()
        .to_string();
    rds.create_db_instance()
        .db_instance_identifier("demo-db-1")
        .db_cluster_identifier("demo-cluster")
        .engine("aurora-postgresql")
        .db_instance_class("db.r6g.large")
        .tags(tag("chainlink:stack", "demo"))
        .tags(tag("chainlink:role", "db"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let client = ssm::client(&moto).await;
    let mut set = valid_legacy();
    let url = format!(
        "postgresql://chainlink:Str0ng-enough-passw0rd@{writer}:5432/chainlink?sslmode=require"
    );
    for (key, value) in &mut set {
        if *key == "DATABASE_URL" {
            *value = &url;
        }
    }
    ssm::put_all(&client, PREFIX, &set).await;
    let engine = engine(&moto, "enforce").await;

    let recording = moto.start_recording();
    let report = handle(&engine, change_event("Create", "/chainlink/demo/ETH_URL")).await;

    let rds_codes: Vec<String> = report
        .stacks
        .iter()
        .filter_map(|s| s.parameters.as_ref())
        .flat_map(|p| &p.findings)
        .map(|f| f.code.as_str().to_string())
        .filter(|code| code.starts_with("CL-RDS-00") && code != "CL-RDS-008")
        .collect();
    assert!(!writer.is_empty());
    assert_eq!(rds_codes, Vec::<String>::new(), "{report}");
    let rds_reads: Vec<String> = recording
        .requests()
        .into_iter()
        .map(|(action, _)| action)
        .filter(|action| action.starts_with("DescribeDB"))
        .collect();
    assert_eq!(
        rds_reads,
        [
            "DescribeDBInstances",
            "DescribeDBClusters",
            "DescribeDBParameters"
        ],
        "{report}"
    );
}
