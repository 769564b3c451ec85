//! Captured output: `cargo test` shows nothing of a passing test, so the canary scan
//! (`scripts/canary_scan.sh`) could never fail on what the test log holds. Every command a test
//! runs (the `remediator` binary) goes through `run`, which gives it trace-level logs and writes
//! its stdout and stderr to a file under one directory; the engine's own logs in the test
//! process go there too. `scripts/test.sh` names the directory (`REMEDIATOR_TEST_OUTPUT`) and
//! scans it.
//!
//! The emulator and anvil are left out: their logs are theirs, not the engine's.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once};

/// The variable naming the directory; without it, a directory under the system's temp dir.
pub const DIR_VARIABLE: &str = "REMEDIATOR_TEST_OUTPUT";

/// Where every test's commands and the engine's logs write.
pub fn dir() -> PathBuf {
    std::env::var_os(DIR_VARIABLE)
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("chainlink-remediator-test-output"))
}

/// Runs `command` to completion with `RUST_LOG=trace` and keeps what it printed under `dir()`.
pub fn run(command: &mut Command) -> Output {
    run_into(&dir(), command)
}

/// `run`, keeping the output under `dir` (a test of the scan plants its canary elsewhere).
pub fn run_into(dir: &Path, command: &mut Command) -> Output {
    command.env("RUST_LOG", "trace");
    let program = command.get_program().to_string_lossy().into_owned();
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    keep(dir, command, &output);
    output
}

/// One file per run: the command line, its exit status, its stdout and its stderr.
fn keep(dir: &Path, command: &Command, output: &Output) {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let name = Path::new(command.get_program())
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let run = RUNS.fetch_add(1, Ordering::SeqCst);
    let path = dir.join(format!("{name}-{}-{run}.log", std::process::id()));
    let args: Vec<String> = command
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut text = format!(
        "$ {name} {}\nexit: {:?}\n--- stdout\n",
        args.join(" "),
        output.status.code()
    )
    .into_bytes();
    text.extend_from_slice(&output.stdout);
    text.extend_from_slice(b"\n--- stderr\n");
    text.extend_from_slice(&output.stderr);
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&path, text))
        .unwrap_or_else(|e| panic!("cannot keep the output in {}: {e}", path.display()));
}

/// Sends the engine's logs in this test process to a file under `dir()`: the project's crates at
/// trace level, its dependencies at info (the SDK's own trace adds megabytes a test and no
/// value the engine handles: the binary's runs, at trace throughout, show it logs none). Once
/// per process: every integration test starts an emulator, which calls this.
pub fn capture_engine_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let dir = dir();
        let path = dir.join(format!("engine-{}.log", std::process::id()));
        let file: std::io::Result<File> = std::fs::create_dir_all(&dir)
            .and_then(|()| OpenOptions::new().create(true).append(true).open(&path));
        let file = file.unwrap_or_else(|e| panic!("cannot log to {}: {e}", path.display()));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "info,shared=trace,domain=trace,chainlink=trace,tests=trace",
            ))
            .with_ansi(false)
            .with_writer(Mutex::new(file))
            .try_init();
    });
}
