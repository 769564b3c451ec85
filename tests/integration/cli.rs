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
