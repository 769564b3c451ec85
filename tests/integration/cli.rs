//! The `remediator` binary's contract: subcommands, exit codes, JSON output, and the standard
//! `AWS_ENDPOINT_URL` route to the emulator.

use serde_json::Value;
use std::process::Output;
use tests::{remediator_binary, repo_path, rule, seed, ssm, Moto, SeededStack};

fn remediator(moto: &Moto, args: &[&str]) -> Output {
    std::process::Command::new(remediator_binary())
        .args(args)
        .envs(moto.env())
        .output()
        .unwrap_or_else(|e| panic!("cannot run remediator: {e}"))
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

#[tokio::test]
async fn plan_then_apply_then_apply_again() {
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
    assert!(report["stacks"][0]["flow_check"]
        .as_array()
        .is_some_and(|f| f.len() == 4));
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
    }
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

    let unreachable = std::process::Command::new(remediator_binary())
        .args(["plan", "--stack", &sample_stack()])
        .envs(moto.env())
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
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
    let db = format!("postgresql://chainlink:{CANARY}-db-passw0rd@db.prod.demo.internal:5432/chainlink?sslmode=require");
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
    // A bad change whose password also breaks the URL, pointing at another environment.
    let bad = format!(
        "postgresql://chainlink:{CANARY}#x@db.dev.demo.internal:5432/chainlink?sslmode=disable"
    );
    ssm::put(&client, "/chainlink/demo/DATABASE_URL", &bad).await;
    let sample_event =
        std::fs::read_to_string(repo_path("samples/events/ssm-parameter-update.json"))
            .unwrap_or_default();
    let event = write_temp("ssm-event.json", &sample_event);

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
            let output = std::process::Command::new(remediator_binary())
                .args(&args)
                .envs(moto.env())
                .env("RUST_LOG", "trace")
                .output()
                .unwrap_or_else(|e| panic!("{e}"));
            let said = text(&output.stdout) + &text(&output.stderr);
            assert!(!said.contains("s3cr3t"), "{args:?} leaked a secret");
            assert!(
                said.contains("CL-DB-005") || said.contains("converged"),
                "{args:?} said: {said}"
            );
        }
    }
    let (_, value) = ssm::current(&client, "/chainlink/demo/DATABASE_URL").await;
    assert_eq!(
        value, db,
        "the bad change was rolled back to the last good value"
    );
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
    let without_parameters = sample.split("\n[parameters]").next().unwrap_or_default();
    let no_parameters = write_temp("no-parameters.toml", without_parameters);
    let refused = remediator(&moto, &["validate", "--stack", &no_parameters]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(text(&refused.stderr).contains("declares no [parameters] section"));
}

/// A sample alarm event aimed at `instance`, written to a temporary file.
fn alarm_event(name: &str, instance: &str) -> String {
    let raw = std::fs::read_to_string(repo_path(&format!("samples/events/{name}")))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    write_temp(name, &raw.replace("i-0123456789abcdef0", instance))
}

#[tokio::test]
async fn plan_previews_an_alarm_and_handle_resizes_the_node() {
    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    let subnet = tests::fleet::subnet(&ec2, "us-east-1a").await;
    let node = tests::fleet::node(&ec2, &subnet, "demo", "node", "m6i.large").await;
    let event = alarm_event("alarm-eventbridge-cpu.json", &node);

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
