//! The functions' environment, through a real function binary: the stack file read from an SSM
//! parameter (`STACK_FILE_PARAMETER`) at cold start, and an invalid or missing one failing the
//! cold start before the function serves. No Lambda Runtime API is given, so a binary that got
//! past its cold start stops right after logging "function ready" (the runtime test,
//! `scripts/runtime_test.sh`, serves invocations).

use std::process::{Command, Output};
use tests::{output, repo_path, ssm, workspace_binary, Moto};

const PARAMETER: &str = "/chainlink-remediator/demo/stack-file";

/// The security-group function's cold start with `env`; its exit and everything it printed.
fn cold_start(moto: &Moto, env: &[(&str, &str)]) -> (Output, String) {
    let mut command = Command::new(workspace_binary("security-group-guard"));
    command
        .env_clear()
        .envs(moto.env())
        .envs(env.iter().copied());
    let run = output::run(&mut command);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    (run, text)
}

/// A stack file whose `vpcs` are not the deployment's.
const ELSEWHERE: &str = "/chainlink-remediator/elsewhere/stack.toml";

/// A stack file that does not exist: only the parameter can make the cold start succeed.
const NO_FILE: (&str, &str) = ("STACK_FILE", "/nonexistent/stack.toml");

#[tokio::test]
async fn the_stack_file_is_read_from_its_ssm_parameter_at_cold_start() {
    let moto = Moto::start();
    let text = std::fs::read_to_string(repo_path("samples/stack.toml"))
        .unwrap_or_else(|e| panic!("{e}"))
        .replace("name = \"demo\"", "name = \"from-parameter\"");
    ssm::put(&ssm::client(&moto).await, PARAMETER, &text).await;

    // A stack file naming no VPCs is pinned to the deployment's.
    let (_, output) = cold_start(
        &moto,
        &[
            NO_FILE,
            ("STACK_FILE_PARAMETER", PARAMETER),
            ("STACK_VPC_IDS", "vpc-0a1b2c3d4e5f60718"),
        ],
    );

    assert!(
        output.contains("function ready stack=from-parameter"),
        "the parameter's stack file was not loaded:\n{output}"
    );
}

#[tokio::test]
async fn an_invalid_or_missing_stack_file_fails_the_cold_start() {
    let moto = Moto::start();
    ssm::put(
        &ssm::client(&moto).await,
        PARAMETER,
        "[stack]\nname = \"demo\"\nmode = \"fix-everything\"\n",
    )
    .await;
    let elsewhere = std::fs::read_to_string(repo_path("samples/stack.toml"))
        .unwrap_or_else(|e| panic!("{e}"))
        .replacen(
            "name = \"demo\"",
            "name = \"demo\"\nvpcs = [\"vpc-0c1b2c3d4e5f60718\"]",
            1,
        );
    ssm::put(&ssm::client(&moto).await, ELSEWHERE, &elsewhere).await;
    let invalid_file = std::env::temp_dir().join(format!("invalid-{}.toml", std::process::id()));
    std::fs::write(&invalid_file, "[stack\nname = ").unwrap_or_else(|e| panic!("{e}"));
    let invalid_path = invalid_file.to_string_lossy().into_owned();

    for (case, env, named) in [
        (
            "an invalid stack file in the parameter",
            vec![NO_FILE, ("STACK_FILE_PARAMETER", PARAMETER)],
            PARAMETER,
        ),
        (
            "a parameter that does not exist",
            vec![
                NO_FILE,
                ("STACK_FILE_PARAMETER", "/chainlink-remediator/none"),
            ],
            "GetParameter",
        ),
        (
            "an invalid bundled stack file",
            vec![("STACK_FILE", invalid_path.as_str())],
            invalid_path.as_str(),
        ),
        (
            "no stack file at all",
            vec![NO_FILE],
            "/nonexistent/stack.toml",
        ),
        (
            "a stack file naming other VPCs than the deployment's",
            vec![
                NO_FILE,
                ("STACK_FILE_PARAMETER", ELSEWHERE),
                ("STACK_VPC_IDS", "vpc-0a1b2c3d4e5f60718"),
            ],
            "are not the deployment's StackVpcIds (vpc-0a1b2c3d4e5f60718)",
        ),
        (
            "a deployment VPC that is no VPC ID",
            vec![(
                "STACK_VPC_IDS",
                "vpc-0a1b2c3d4e5f60718,sg-0a1b2c3d4e5f60718",
            )],
            "STACK_VPC_IDS",
        ),
    ] {
        let (run, output) = cold_start(&moto, &env);
        assert!(!run.status.success(), "{case}: the cold start succeeded");
        assert!(
            !output.contains("function ready"),
            "{case}: the function got ready:\n{output}"
        );
        assert!(
            output.contains(named),
            "{case}: the error does not name {named}:\n{output}"
        );
    }
    let _ = std::fs::remove_file(invalid_file);
}
