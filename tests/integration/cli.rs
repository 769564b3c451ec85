//! The `remediator` binary's contract: subcommands, exit codes, JSON output, and the standard
//! `AWS_ENDPOINT_URL` route to the emulator.

use serde_json::Value;
use std::process::Output;
use tests::{remediator_binary, repo_path, rule, seed, ssm, Moto, SeededStack};

fn remediator(moto: &Moto, args: &[&str]) -> Output {
    tests::output::run(
        std::process::Command::new(remediator_binary())
            .args(args)
            .envs(moto.env()),
    )
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}): {}",
            text(&output.stdout)
        )
    })
}

fn sample_stack() -> String {
    repo_path("samples/stack.toml").display().to_string()
}

fn write_temp(name: &str, content: &str) -> String {
    let path = std::env::temp_dir().join(format!("remediator-cli-{}-{name}", std::process::id()));
    std::fs::write(&path, content).unwrap_or_else(|e| panic!("{e}"));
    path.display().to_string()
}

/// The demo stack with the node's UI open to the world and a valid parameter set: one revoke
/// to plan, nothing else wrong.
async fn node_ui_open_to_the_world() -> (Moto, aws_sdk_ec2::Client, SeededStack) {
    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    let stack = SeededStack::healthy(&ec2, "demo").await;
    seed::allow(&ec2, &stack.node, &[rule::tcp(6688, "0.0.0.0/0")]).await;
    ssm::put_all(
        &ssm::client(&moto).await,
        "/chainlink/demo/",
        &ssm::valid_legacy(),
    )
    .await;
    (moto, ec2, stack)
}

#[tokio::test]
async fn plan_then_apply_then_apply_again() {
    let (moto, ec2, stack) = node_ui_open_to_the_world().await;

    let plan = remediator(&moto, &["plan", "--stack", &sample_stack(), "--json"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan.stderr));
    let report = json(&plan);
    assert_eq!(report["status"], "planned");
    let action = &report["stacks"][0]["actions"][0];
    assert_eq!(
        (action["kind"].as_str(), action["outcome"].as_str()),
        (Some("RevokeIngress"), Some("planned"))
    );
    assert_eq!(action["group"], stack.node.as_str());
    let flows: Vec<&str> = report["stacks"][0]["flow_check"]
        .as_array()
        .map(|checks| checks.iter().filter_map(|c| c["flow"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        flows,
        [
            "operator-ui",
            "node-p2p",
            "ocr-peers",
            "node-db",
            "node-rpc"
        ],
        "every flow, and the egress path to the RPC nodes"
    );
    assert!(
        seed::ingress(&ec2, &stack.node)
            .await
            .contains(&"tcp 6688 from 0.0.0.0/0".to_string()),
        "plan changed AWS"
    );

    let apply = remediator(&moto, &["apply", "--stack", &sample_stack()]);
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply.stderr));
    let printed = text(&apply.stdout);
    assert!(
        printed.contains("revoke on") && printed.contains("→ applied"),
        "{printed}"
    );
    assert_eq!(
        seed::ingress(&ec2, &stack.node).await,
        stack.healthy_node_rules()
    );

    let again = remediator(&moto, &["apply", "--stack", &sample_stack(), "--json"]);
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(
        json(&again)["stacks"][0]["actions"],
        Value::Array(Vec::new())
    );
}

#[tokio::test]
async fn handle_runs_the_function_path_for_an_event_file() {
    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    let stack = SeededStack::healthy(&ec2, "demo").await;
    seed::allow(&ec2, &stack.db, &[rule::tcp(5432, "::/0")]).await;
    let sample = std::fs::read_to_string(repo_path(
        "samples/events/config-security-group-change.json",
    ))
    .unwrap_or_default();
    let event = write_temp(
        "event.json",
        &sample.replace("sg-0a1b2c3d4e5f60718", stack.db.as_str()),
    );

    let handled = remediator(
        &moto,
        &[
            "handle",
            "--stack",
            &sample_stack(),
            "--event",
            &event,
            "--json",
        ],
    );

    assert_eq!(handled.status.code(), Some(0), "{}", text(&handled.stderr));
    let report = json(&handled);
    assert_eq!(report["command"], "handle");
    assert_eq!(report["warnings"], Value::Array(Vec::new()));
    assert_eq!(report["signal"]["origin"], "config:AWS::EC2::SecurityGroup");
    assert_eq!(report["status"], "converged");
    assert_eq!(
        seed::ingress(&ec2, &stack.db).await,
        [format!("tcp 5432 from {}", stack.node)]
    );
}

#[tokio::test]
async fn bad_input_exits_2_naming_the_problem() {
    let moto = Moto::start();
    let invalid_stack = write_temp(
        "invalid.toml",
        &std::fs::read_to_string(repo_path("samples/stack.toml"))
            .unwrap_or_default()
            .replace("from = \"10.20.0.0/16\"", "from = \"10.20.0.0/33\""),
    );
    let malformed_event = write_temp("malformed.json", "{\"detail-type\": \"Scheduled Event\"}");
    let not_json = write_temp("not.json", "this is not json");
    let sample = sample_stack();
    let cases: [(Vec<&str>, &str); 6] = [
        (
            vec!["plan", "--stack", &invalid_stack],
            "flows[0].from: \"10.20.0.0/33\" is not a CIDR block",
        ),
        (
            vec!["plan", "--stack", "/nonexistent/stack.toml"],
            "cannot read stack file /nonexistent/stack.toml",
        ),
        (
            vec![
                "handle",
                "--stack",
                &sample,
                "--event",
                "/nonexistent/event.json",
            ],
            "cannot read event file",
        ),
        (
            vec!["handle", "--stack", &sample, "--event", &not_json],
            "is not JSON",
        ),
        (
            vec!["handle", "--stack", &sample, "--event", &malformed_event],
            "malformed event",
        ),
        (vec!["frobnicate"], "unrecognized subcommand"),
    ];
    for (args, message) in cases {
        let output = remediator(&moto, &args);
        let said = text(&output.stderr) + &text(&output.stdout);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {said}");
        assert!(
            said.contains(message),
            "{args:?}: expected {message:?} in {said}"
        );
        // With --json, the same failure as the one document on stdout.
        let mut args = args.clone();
        args.push("--json");
        let output = remediator(&moto, &args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let report = one_document(&output);
        assert_eq!(report["status"], "rejected", "{args:?}: {report}");
        assert!(
            report["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(message)),
            "{args:?}: expected {message:?} in {report}"
        );
        assert!(
            report["error"]["code"]
                .as_str()
                .is_some_and(|c| !c.is_empty()),
            "{report}"
        );
        assert!(report["warnings"].is_array(), "{report}");
    }
}

/// AWS answering an error with no code and no message (the SDK's `Unknown:`): `--json` still
/// prints its one document, with the failure and what is known about the call (its HTTP
/// status, its request ID); exit 1. A failure a retry could fix says so on stderr.
#[tokio::test]
async fn aws_that_cannot_be_read_still_prints_one_json_document() {
    use tests::{Fault, FaultProxy, Schedule};
    let moto = Moto::start();
    SeededStack::healthy(&moto.ec2().await, "demo").await;
    let proxy = FaultProxy::start(&moto.endpoint);
    proxy.fail(
        "DescribeSecurityGroups",
        Schedule::Always,
        Fault::Refuse {
            status: 400,
            code: "",
            message: "",
        },
    );
    let run = |command: &str| {
        tests::output::run(
            std::process::Command::new(remediator_binary())
                .args([command, "--stack", &sample_stack(), "--json"])
                .envs(tests::binary_env(&proxy.endpoint))
                .env("AWS_MAX_ATTEMPTS", "1"),
        )
    };

    for command in ["plan", "apply"] {
        let output = run(command);
        assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
        let report = one_document(&output);
        assert_eq!(report["status"], "failed", "{report}");
        assert_eq!(report["command"], command, "{report}");
        let error = &report["error"];
        assert_eq!(error["operation"], "DescribeSecurityGroups", "{report}");
        assert_eq!(error["code"], "Unknown", "{report}");
        let message = error["message"].as_str().unwrap_or_default();
        for known in [
            "DescribeSecurityGroups answered without a message",
            "HTTP status 400",
            "request ID 00000000-0000-4000-8000-fa0170000000",
        ] {
            assert!(message.contains(known), "{known:?} in {message:?}");
        }
    }

    proxy.reset();
    proxy.fail(
        "DescribeSecurityGroups",
        Schedule::Always,
        Fault::InternalError,
    );
    let output = run("plan");
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let report = one_document(&output);
    assert_eq!(report["status"], "failed", "{report}");
    assert_eq!(report["error"]["code"], "InternalError", "{report}");
    assert_eq!(report["error"]["retryable"], true, "{report}");
    assert!(
        text(&output.stderr).contains("a Lambda function would run the event again"),
        "{}",
        text(&output.stderr)
    );
}

/// Every report is headed by the command that ran, shows the stack file's warnings first (and
/// in the JSON), and names each group by its name and role next to its ID.
#[tokio::test]
async fn reports_name_the_command_show_warnings_and_name_groups() {
    let (moto, _, stack) = node_ui_open_to_the_world().await;
    let warned = write_temp(
        "warned.toml",
        &std::fs::read_to_string(repo_path("samples/stack.toml"))
            .unwrap_or_default()
            .replace(
                "db = { description = \"PostgreSQL database of the node\" }",
                "db = { description = \"PostgreSQL database of the node\" }\nspare = { description = \"nothing uses it\" }",
            ),
    );

    let plan = remediator(&moto, &["plan", "--stack", &warned, "--json"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan.stderr));
    let report = json(&plan);
    assert_eq!(report["command"], "plan");
    assert_eq!(report["warnings"][0]["field"], "roles.spare", "{report}");
    assert!(
        report["warnings"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no flow")),
        "{report}"
    );
    let label = &report["stacks"][0]["groups"][stack.node.as_str()];
    assert_eq!(label["role"], "node", "{report}");
    let name = label["name"].as_str().unwrap_or_default().to_string();
    assert!(!name.is_empty(), "{report}");
    assert_eq!(
        report["stacks"][0]["actions"][0]["group"],
        stack.node.as_str(),
        "the group field keeps its ID"
    );

    let plan = remediator(&moto, &["plan", "--stack", &warned]);
    let printed = text(&plan.stdout);
    let mut lines = printed.lines();
    assert!(
        lines
            .next()
            .is_some_and(|l| l.starts_with("chainlink-remediator plan · mode")),
        "{printed}"
    );
    assert!(
        lines
            .next()
            .is_some_and(|l| l.contains("warning: stack file roles.spare: no flow")),
        "the warnings come first: {printed}"
    );
    assert!(
        printed.contains(&format!("revoke on {} ({name}, role node):", stack.node)),
        "{printed}"
    );

    let event = write_temp(
        "scheduled.json",
        &std::fs::read_to_string(repo_path("samples/events/schedule.json")).unwrap_or_default(),
    );
    let handled = remediator(&moto, &["handle", "--stack", &warned, "--event", &event]);
    let printed = text(&handled.stdout);
    assert!(
        printed.starts_with("chainlink-remediator handle · mode"),
        "handle is not headed apply: {printed}"
    );
    assert!(
        printed.contains("warning: stack file roles.spare"),
        "{printed}"
    );
}

#[tokio::test]
async fn a_refused_run_exits_1_and_an_unreachable_endpoint_is_a_clear_error() {
    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    let vpc = seed::vpc(&ec2, "10.0.0.0/16").await;
    seed::group(&ec2, &vpc, "node", "demo", "node").await;
    seed::group(&ec2, &vpc, "db", "demo", "db").await;
    let limited = write_temp(
        "limited.toml",
        &std::fs::read_to_string(repo_path("samples/stack.toml"))
            .unwrap_or_default()
            .replace("max_changes_per_run = 25", "max_changes_per_run = 1"),
    );
    let refused = remediator(&moto, &["apply", "--stack", &limited, "--json"]);
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(json(&refused)["status"], "refused");

    let unreachable = tests::output::run(
        std::process::Command::new(remediator_binary())
            .args(["plan", "--stack", &sample_stack()])
            .envs(moto.env())
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
    );
    assert_eq!(unreachable.status.code(), Some(1));
    assert!(
        text(&unreachable.stderr).contains("DescribeSecurityGroups failed: Dispatch"),
        "{}",
        text(&unreachable.stderr)
    );
}

/// Planted in every secret-bearing position; no output of any command may contain it. The test
/// script also fails if it appears anywhere in the whole test run's output.
const CANARY: &str = "CANARY-s3cr3t-7f1e";

#[tokio::test]
async fn no_command_ever_prints_a_secret() {
    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    SeededStack::healthy(&ec2, "demo").await;
    let client = ssm::client(&moto).await;
    let db = canary_database_url();
    let keystore = format!("{CANARY}-keystore");
    let api = format!("{CANARY}-api-password");
    let set: Vec<(&str, &str)> = ssm::valid_legacy()
        .into_iter()
        .map(|(key, value)| match key {
            "DATABASE_URL" => (key, db.as_str()),
            "KEYSTORE_PASSWORD" => (key, keystore.as_str()),
            "API_PASSWORD" => (key, api.as_str()),
            _ => (key, value),
        })
        .collect();
    ssm::put_all(&client, "/chainlink/demo/", &set).await;
    remediator(&moto, &["apply", "--stack", &sample_stack()]);

    assert_a_bad_change_prints_no_secret(&moto, &client, "DATABASE_URL", &db).await;
}

/// The same with a v2 parameter set: secrets in `secrets.toml` and in `CL_*` parameters.
#[tokio::test]
async fn no_command_ever_prints_a_v2_secret() {
    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    SeededStack::healthy(&ec2, "demo").await;
    let client = ssm::client(&moto).await;
    let config = include_str!("../../shared/domain/tests/testdata/v2-config.toml");
    let db = canary_database_url();
    let keystore = format!("{CANARY}-keystore");
    let secrets = format!("[Database]\nURL = '{db}'\n\n[Password]\nKeystore = '{keystore}'\n");
    let vrf = format!("{CANARY}-vrf-password");
    ssm::put_all(
        &client,
        "/chainlink/demo/",
        &[
            ("config.toml", config),
            ("secrets.toml", &secrets),
            ("CL_DATABASE_URL", &db),
            ("CL_PASSWORD_KEYSTORE", &keystore),
            ("CL_PASSWORD_VRF", &vrf),
        ],
    )
    .await;
    let first = remediator(&moto, &["validate", "--stack", &sample_stack(), "--json"]);
    assert_eq!(
        json(&first)["stacks"][0]["parameters"]["valid"],
        true,
        "the v2 set starts valid: {}",
        text(&first.stdout)
    );
    remediator(&moto, &["apply", "--stack", &sample_stack()]);

    assert_a_bad_change_prints_no_secret(&moto, &client, "CL_DATABASE_URL", &db).await;
    for (name, planted) in [("secrets.toml", &secrets), ("CL_PASSWORD_VRF", &vrf)] {
        let (version, value) = ssm::current(&client, &format!("/chainlink/demo/{name}")).await;
        assert_eq!((version, &value), (1, planted), "{name} untouched");
    }
}

/// A production database URL whose password is the canary.
fn canary_database_url() -> String {
    format!("postgresql://chainlink:{CANARY}-db-passw0rd@db.prod.demo.internal:5432/chainlink?sslmode=require")
}

/// Changes the parameter `bad` (under `/chainlink/demo/`, now `good`) to a URL whose password
/// carries the canary and breaks it, pointing at another environment; then runs every command,
/// in text and JSON: none may print the canary, and the change is rolled back to `good`.
async fn assert_a_bad_change_prints_no_secret(
    moto: &Moto,
    client: &aws_sdk_ssm::Client,
    bad: &str,
    good: &str,
) {
    let name = format!("/chainlink/demo/{bad}");
    let broken = format!(
        "postgresql://chainlink:{CANARY}#x@db.dev.demo.internal:5432/chainlink?sslmode=disable"
    );
    ssm::put(client, &name, &broken).await;
    let sample_event =
        std::fs::read_to_string(repo_path("samples/events/ssm-parameter-update.json"))
            .unwrap_or_default()
            .replace(
                "/chainlink/demo/DATABASE_URL",
                &format!("/chainlink/demo/{bad}"),
            );
    let event = write_temp(&format!("ssm-event-{bad}.json"), &sample_event);

    let stack = sample_stack();
    let commands: [Vec<&str>; 4] = [
        vec!["validate", "--stack", &stack],
        vec!["plan", "--stack", &stack],
        vec!["handle", "--stack", &stack, "--event", &event],
        vec!["apply", "--stack", &stack],
    ];
    for command in commands {
        for json_flag in [false, true] {
            let mut args = command.clone();
            if json_flag {
                args.push("--json");
            }
            let output = remediator(moto, &args);
            let said = text(&output.stdout) + &text(&output.stderr);
            assert!(!said.contains("s3cr3t"), "{args:?} leaked a secret");
            assert!(
                said.contains("CL-DB-005") || said.contains("converged"),
                "{args:?} said: {said}"
            );
            assert!(said.contains("TRACE"), "{args:?} logged at trace level");
        }
    }
    let (_, value) = ssm::current(client, &name).await;
    assert_eq!(
        value, good,
        "the bad change was rolled back to the last good value"
    );
}

/// The scan `scripts/test.sh` runs over everything the tests' commands printed and logged
/// (`tests::output`): a canary in a command's output is caught and the file named; a clean
/// run's output, trace-level logs included, passes; an empty directory proves nothing.
#[tokio::test]
async fn the_canary_scan_catches_a_secret_a_command_printed() {
    let moto = Moto::start();
    SeededStack::healthy(&moto.ec2().await, "demo").await;
    ssm::put_all(
        &ssm::client(&moto).await,
        "/chainlink/demo/",
        &ssm::valid_legacy(),
    )
    .await;
    let scratch = std::env::temp_dir().join(format!("canary-scan-{}", std::process::id()));
    let (planted, clean, empty) = (
        scratch.join("planted"),
        scratch.join("clean"),
        scratch.join("empty"),
    );
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&empty).unwrap_or_else(|e| panic!("{e}"));
    let command = |args: &[&str]| {
        let mut command = std::process::Command::new(remediator_binary());
        command.args(args).envs(moto.env());
        command
    };

    // The binary names the stack file it cannot read: the canary reaches its stderr.
    let missing = format!("/nonexistent/{CANARY}.toml");
    let leaked = tests::output::run_into(&planted, &mut command(&["plan", "--stack", &missing]));
    assert_eq!(leaked.status.code(), Some(2));
    assert!(
        text(&leaked.stderr).contains(CANARY),
        "{}",
        text(&leaked.stderr)
    );
    let fine = tests::output::run_into(&clean, &mut command(&["plan", "--stack", &sample_stack()]));
    assert_eq!(fine.status.code(), Some(0), "{}", text(&fine.stderr));
    let kept: String = std::fs::read_dir(&clean)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok())
        .map(|entry| std::fs::read_to_string(entry.path()).unwrap_or_default())
        .collect();
    assert!(kept.contains("TRACE"), "trace-level logs are kept: {kept}");
    assert!(kept.contains("flow check"), "stdout is kept: {kept}");

    let scan = |dirs: &[&std::path::Path]| {
        tests::output::run(
            std::process::Command::new("bash")
                .arg(repo_path("scripts/canary_scan.sh"))
                .args(dirs),
        )
    };
    let caught = scan(&[&clean, &planted]);
    assert_eq!(caught.status.code(), Some(1), "{}", text(&caught.stderr));
    assert!(
        text(&caught.stderr).contains(&planted.display().to_string()),
        "the scan names the file: {}",
        text(&caught.stderr)
    );
    assert_eq!(scan(&[&clean]).status.code(), Some(0));
    assert_eq!(scan(&[&empty]).status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&scratch);
}

#[tokio::test]
async fn validate_exits_by_the_validity_of_the_parameters() {
    let moto = Moto::start();
    let client = ssm::client(&moto).await;
    ssm::put_all(&client, "/chainlink/demo/", &ssm::valid_legacy()).await;
    let valid = remediator(&moto, &["validate", "--stack", &sample_stack(), "--json"]);
    assert_eq!(valid.status.code(), Some(0), "{}", text(&valid.stdout));
    assert_eq!(json(&valid)["stacks"][0]["parameters"]["valid"], true);

    ssm::put(
        &client,
        "/chainlink/demo/ETH_URL",
        "http://eth-1.rpc.prod.demo.internal",
    )
    .await;
    ssm::put(
        &client,
        "/chainlink/demo/ETH_URL",
        "https://eth-2.rpc.prod.demo.internal",
    )
    .await;
    let invalid = remediator(&moto, &["validate", "--stack", &sample_stack()]);
    let said = text(&invalid.stdout);
    assert!(said.contains("CL-RPC-001 ETH_URL"), "{said}");
    assert_eq!(
        invalid.status.code(),
        Some(0),
        "an earlier version (1) is valid: a rollback is planned"
    );

    let sample = std::fs::read_to_string(repo_path("samples/stack.toml")).unwrap_or_default();
    let no_parameters = write_temp("no-parameters.toml", &tests::without_parameters(&sample));
    let refused = remediator(&moto, &["validate", "--stack", &no_parameters]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(text(&refused.stderr).contains("declares no [parameters] section"));
}

/// A sample alarm event aimed at `instance`, whose alarm exists in the emulator, written to a
/// temporary file.
async fn alarm_event(moto: &Moto, name: &str, instance: &str) -> String {
    let raw = std::fs::read_to_string(repo_path(&format!("samples/events/{name}")))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let raw =
        tests::fleet::real_alarm_event(moto, &raw.replace("i-0123456789abcdef0", instance)).await;
    write_temp(name, &raw)
}

#[tokio::test]
async fn plan_previews_an_alarm_and_handle_resizes_the_node() {
    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    let subnet = tests::fleet::subnet(&ec2, "us-east-1a").await;
    let node = tests::fleet::node(&ec2, &subnet, "demo", "node", "m6i.large").await;
    let event = alarm_event(&moto, "alarm-eventbridge-cpu.json", &node).await;

    let plan = remediator(
        &moto,
        &[
            "plan",
            "--stack",
            &sample_stack(),
            "--event",
            &event,
            "--json",
        ],
    );
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan.stderr));
    let report = json(&plan);
    assert_eq!(report["status"], "planned");
    let steps = &report["stacks"][0]["instances"]["actions"];
    assert_eq!(steps[1]["action"], "resize_instance");
    assert_eq!(steps[1]["to"], "m6i.xlarge");
    assert_eq!(steps[1]["outcome"], "planned");
    assert_eq!(tests::fleet::state(&ec2, &node).await.1, "m6i.large");

    let handled = remediator(
        &moto,
        &[
            "handle",
            "--stack",
            &sample_stack(),
            "--event",
            &event,
            "--json",
        ],
    );
    assert_eq!(handled.status.code(), Some(0), "{}", text(&handled.stderr));
    let report = json(&handled);
    assert_eq!(report["status"], "converged");
    assert_eq!(report["stacks"][0]["instances"]["decision"], "act");
    assert_eq!(
        report["stacks"][0]["instances"]["actions"][1]["outcome"],
        "applied"
    );
    assert_eq!(
        tests::fleet::state(&ec2, &node).await,
        ("running".into(), "m6i.xlarge".into())
    );
}

/// A resize that waits for approval exits 1 with the links (bare tokens without a handler);
/// `decide` with the approve token applies it, once.
#[tokio::test]
async fn a_waiting_resize_is_decided_from_the_terminal() {
    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    let subnet = tests::fleet::subnet(&ec2, "us-east-1a").await;
    let node = tests::fleet::node(&ec2, &subnet, "demo", "node", "m6i.large").await;
    aws_sdk_ssm::Client::new(&moto.sdk_config().await)
        .put_parameter()
        .name("/demo/approval-key")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .value("the demo's approval key, at least 32 bytes long")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let stack = write_temp(
        "approvals.toml",
        &format!(
            "{}\n[approvals]\nkey_parameter = \"/demo/approval-key\"\nrequire = [\"resize\"]\n",
            std::fs::read_to_string(sample_stack()).unwrap_or_default()
        ),
    );
    let event = alarm_event(&moto, "alarm-eventbridge-cpu.json", &node).await;

    let waiting = remediator(
        &moto,
        &["handle", "--stack", &stack, "--event", &event, "--json"],
    );
    assert_eq!(waiting.status.code(), Some(1), "{}", text(&waiting.stderr));
    let report = json(&waiting);
    assert_eq!(report["status"], "pending_approval");
    let approve = report["stacks"][0]["approvals"][0]["approve"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        approve.contains('.') && !approve.contains("token="),
        "a bare token: {approve}"
    );
    assert_eq!(tests::fleet::state(&ec2, &node).await.1, "m6i.large");

    let decided = remediator(&moto, &["decide", "--stack", &stack, &approve, "--json"]);
    assert_eq!(decided.status.code(), Some(0), "{}", text(&decided.stderr));
    let report = json(&decided);
    assert_eq!(
        (report["command"].as_str(), report["status"].as_str()),
        (Some("decide"), Some("converged"))
    );
    assert_eq!(tests::fleet::state(&ec2, &node).await.1, "m6i.xlarge");
}

/// A well-formed AWS event that is no function's job is ignored with a reason (exit 0), never
/// rejected as bad input, and nothing is read.
#[tokio::test]
async fn events_outside_every_job_exit_0_with_a_reason_and_read_nothing() {
    let moto = Moto::start();
    let recording = moto.start_recording();
    for (sample, why) in [
        (
            "alarm-configuration-change.json",
            "not a job of these functions",
        ),
        (
            "alarm-sns-plain-message.json",
            "not a CloudWatch alarm notification",
        ),
        ("cloudtrail-s3-put-bucket-policy.json", "from aws.s3"),
        (
            "config-rules-compliance-change.json",
            "not a job of these functions",
        ),
        (
            "ssm-run-command-invocation-status.json",
            "not a job of these functions",
        ),
    ] {
        let event = repo_path(&format!("samples/events/{sample}"));
        let handled = remediator(
            &moto,
            &[
                "handle",
                "--stack",
                &sample_stack(),
                "--event",
                &event.to_string_lossy(),
                "--json",
            ],
        );
        assert_eq!(
            handled.status.code(),
            Some(0),
            "{sample}: {}",
            text(&handled.stderr)
        );
        let report = json(&handled);
        assert_eq!(report["status"], "converged", "{sample}: {report}");
        let reason = report["skipped"][0].as_str().unwrap_or_default();
        assert!(reason.contains(why), "{sample}: {report}");
    }
    assert!(
        recording.requests().is_empty(),
        "an ignored event reads nothing"
    );
}

/// `--json` prints exactly one document, whatever happened.
fn one_document(output: &Output) -> Value {
    let documents: Vec<Value> = serde_json::Deserializer::from_slice(&output.stdout)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", text(&output.stdout)));
    assert_eq!(documents.len(), 1, "{}", text(&output.stdout));
    documents.into_iter().next().unwrap_or_default()
}

/// A write AWS refuses on every attempt: the action fails, the binary exits 1 with one JSON
/// document saying so, and the rule it could not revoke is still there (nothing else changed).
#[tokio::test]
async fn a_failed_action_exits_1_with_one_failed_report() {
    use tests::{Fault, FaultProxy, Schedule};
    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    let stack = SeededStack::healthy(&ec2, "demo").await;
    seed::allow(&ec2, &stack.node, &[rule::tcp(6688, "0.0.0.0/0")]).await;
    let proxy = FaultProxy::start(&moto.endpoint);
    proxy.fail(
        "RevokeSecurityGroupIngress",
        Schedule::Always,
        Fault::Refuse {
            status: 400,
            code: "UnauthorizedOperation",
            message: "You are not authorized to perform this operation.",
        },
    );
    let recording = moto.start_recording();

    let output = tests::output::run(
        std::process::Command::new(remediator_binary())
            .args(["apply", "--stack", &sample_stack(), "--json"])
            .envs(tests::binary_env(&proxy.endpoint))
            .env("AWS_MAX_ATTEMPTS", "2"),
    );

    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let report = one_document(&output);
    assert_eq!(report["status"], "failed", "{report}");
    let action = &report["stacks"][0]["actions"][0];
    assert_eq!(
        (action["kind"].as_str(), action["outcome"].as_str()),
        (Some("RevokeIngress"), Some("failed")),
        "{report}"
    );
    assert!(
        !proxy.exchanges_of("RevokeSecurityGroupIngress").is_empty(),
        "the revoke was attempted"
    );
    assert!(
        recording.mutating_calls().is_empty(),
        "no refused write reached AWS, and nothing else was written: {:?}",
        recording.mutating_calls()
    );
    let mut rules = stack.healthy_node_rules();
    rules.push("tcp 6688 from 0.0.0.0/0".into());
    rules.sort();
    assert_eq!(seed::ingress(&ec2, &stack.node).await, rules);
}

/// Parameters the engine cannot repair (a required one deleted: nothing to restore from) leave
/// the run invalid: `apply` exits 1 with one JSON document, and writes nothing.
#[tokio::test]
async fn parameters_left_invalid_exit_1_with_one_invalid_report() {
    let moto = Moto::start();
    SeededStack::healthy(&moto.ec2().await, "demo").await;
    let client = ssm::client(&moto).await;
    let mut set = ssm::valid_legacy();
    set.retain(|(key, _)| *key != "DATABASE_URL");
    ssm::put_all(&client, "/chainlink/demo/", &set).await;
    let recording = moto.start_recording();

    let output = remediator(&moto, &["apply", "--stack", &sample_stack(), "--json"]);

    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let report = one_document(&output);
    assert_eq!(report["status"], "invalid", "{report}");
    let parameters = &report["stacks"][0]["parameters"];
    assert_eq!(parameters["valid"], false, "{report}");
    assert!(
        parameters["findings"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["code"] == "CL-DB-001")),
        "{report}"
    );
    assert_eq!(recording.mutating_calls(), Vec::<String>::new());
    assert!(
        client
            .get_parameter()
            .name("/chainlink/demo/DATABASE_URL")
            .send()
            .await
            .is_err(),
        "nothing is recreated"
    );
}

/// `validate` on a set that is invalid and never was valid: no rollback can help, exit 1, one
/// JSON document, and Parameter Store unchanged.
#[tokio::test]
async fn validate_on_an_invalid_set_with_no_valid_history_exits_1() {
    let moto = Moto::start();
    let client = ssm::client(&moto).await;
    let set: Vec<(&str, &str)> = ssm::valid_legacy()
        .into_iter()
        .map(|(key, value)| match key {
            "ETH_URL" => (key, "http://eth-1.rpc.prod.demo.internal"),
            _ => (key, value),
        })
        .collect();
    ssm::put_all(&client, "/chainlink/demo/", &set).await;
    let recording = moto.start_recording();

    let stack = sample_stack();
    for json_flag in [false, true] {
        let mut args = vec!["validate", "--stack", &stack];
        if json_flag {
            args.push("--json");
        }
        let output = remediator(&moto, &args);
        assert_eq!(output.status.code(), Some(1), "{}", text(&output.stdout));
        if json_flag {
            let report = one_document(&output);
            assert_eq!(report["status"], "invalid", "{report}");
            assert_eq!(report["stacks"][0]["parameters"]["valid"], false);
        } else {
            assert!(text(&output.stdout).contains("CL-RPC-001 ETH_URL"));
        }
    }
    assert_eq!(recording.mutating_calls(), Vec::<String>::new());
    assert_eq!(
        ssm::current(&client, "/chainlink/demo/ETH_URL").await,
        (1, "http://eth-1.rpc.prod.demo.internal".to_string())
    );
}

/// `--html FILE` writes the report as one self-contained page beside the usual output: each
/// flow drawn with its hops, a blocked hop marked as such, nothing fetched from anywhere.
#[tokio::test]
async fn html_writes_one_self_contained_page_with_each_flow_and_its_blocked_hops() {
    let (moto, ec2, stack) = node_ui_open_to_the_world().await;
    // The node lost its way to the database: blocked now, open after the plan.
    seed::revoke(&ec2, &stack.db, &rule::tcp(5432, stack.node.as_str())).await;
    let subnet = seed::subnet(&ec2, &stack.vpc, "10.0.1.0/24").await;
    seed::instance(&ec2, &subnet, &stack.node, "demo", "node").await;
    seed::instance(&ec2, &subnet, &stack.db, "demo", "db").await;
    let page =
        std::env::temp_dir().join(format!("remediator-cli-{}-report.html", std::process::id()));
    let _ = std::fs::remove_file(&page);

    let plan = remediator(
        &moto,
        &[
            "plan",
            "--stack",
            &sample_stack(),
            "--json",
            "--html",
            &page.display().to_string(),
        ],
    );
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan.stderr));
    assert_eq!(
        json(&plan)["command"],
        "plan",
        "stdout still carries the JSON document"
    );
    let html = std::fs::read_to_string(&page).unwrap_or_else(|e| panic!("no page: {e}"));
    assert!(
        html.starts_with("<!DOCTYPE html>"),
        "{}",
        &html[..80.min(html.len())]
    );
    for flow in ["operator-ui", "node-p2p", "ocr-peers", "node-db"] {
        assert!(
            html.contains(&format!("data-flow=\"{flow}\"")),
            "{flow} is drawn"
        );
    }
    assert!(
        html.contains("data-flow=\"node-db\" data-status=\"blocked\" data-after=\"open\""),
        "node-db: blocked now, open after the plan"
    );
    assert!(
        html.contains("data-verdict=\"blocked\""),
        "the blocked hop is marked"
    );
    assert!(html.contains("data-verdict=\"allowed\""));
    for external in ["http://", "https://", "<script", "<link", "@import"] {
        assert!(
            !html
                .replace("http://www.w3.org/2000/svg", "")
                .contains(external),
            "a self-contained page has no {external}"
        );
    }

    // An unwritable path: the report still prints, and the run says why it failed.
    let unwritable = remediator(
        &moto,
        &[
            "plan",
            "--stack",
            &sample_stack(),
            "--json",
            "--html",
            "/nonexistent/dir/report.html",
        ],
    );
    assert_eq!(unwritable.status.code(), Some(1));
    assert_eq!(json(&unwritable)["command"], "plan");
    assert!(
        text(&unwritable.stderr)
            .contains("cannot write the HTML report /nonexistent/dir/report.html"),
        "{}",
        text(&unwritable.stderr)
    );
}
