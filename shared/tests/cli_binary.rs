//! The `remediator` binary starts and describes itself without touching AWS. Being an
//! integration test of this package, it also makes `cargo test` build the binary that the
//! workspace's CLI tests run.

use std::process::Command;

#[test]
fn help_lists_every_subcommand_and_exits_0() {
    let output = Command::new(env!("CARGO_BIN_EXE_remediator"))
        .arg("--help")
        .output()
        .expect("the binary runs");
    let help = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0));
    for subcommand in ["plan", "apply", "validate", "handle"] {
        assert!(
            help.contains(subcommand),
            "{subcommand} missing from:\n{help}"
        );
    }
}

#[test]
fn a_missing_argument_exits_2() {
    let output = Command::new(env!("CARGO_BIN_EXE_remediator"))
        .arg("plan")
        .output()
        .expect("the binary runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--stack"));
}
