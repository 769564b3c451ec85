#!/usr/bin/env bash
# Runs every check and test of the project on a fresh machine: installs what it needs (the
# pinned AWS emulator in a virtualenv, a local Ethereum node from npm, cargo-lambda,
# rustfmt/clippy), then formatting, the instance type catalog against moto's data, lints, unit
# and integration tests, the deployment templates, the function binaries under a local Lambda
# Runtime API, and the HTML report in headless Chromium. `.ci/run` calls this script.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO_ROOT"

ensure_rust_tools
ensure_moto
ensure_anvil

log "formatting"
cargo fmt --all -- --check

log "purity: the pure crates depend on neither the AWS SDK nor tokio"
for crate in chainlink domain; do
  impure=$(cargo tree -p "$crate" -e normal --prefix none | grep -E '^(aws-sdk-[a-z0-9-]+|aws-smithy-[a-z0-9-]+|aws-config|aws-runtime|tokio|hyper) ' | sort -u || true)
  if [ -n "$impure" ]; then
    echo "$crate depends on: $impure" >&2
    exit 1
  fi
done

log "no dependency circle between the modules of a crate"
python3 "$REPO_ROOT/scripts/module_cycles.py" shared/src shared/domain/src shared/chainlink/src

log "the instance type catalog is what moto's DescribeInstanceTypes data generates"
python3 "$REPO_ROOT/scripts/instance_types/generate.py" --check

log "lints"
cargo clippy --workspace --all-targets --quiet -- -D warnings
# The planner benchmark builds only with its feature (criterion stays out of the test build).
cargo clippy -p domain --features bench --benches --quiet -- -D warnings

log "unit and integration tests (moto $MOTO_VERSION on loopback, one server per test)"
FAULT_MATRIX_THREADS="${FAULT_MATRIX_THREADS:-6}"
# Every command the tests run, and the engine's logs in the test processes, write here at trace
# level (tests/src/output.rs): what `cargo test` hides of passing tests, for the canary scan.
export REMEDIATOR_TEST_OUTPUT="$CACHE_DIR/test-output"
rm -rf "$REMEDIATOR_TEST_OUTPUT"
mkdir -p "$REMEDIATOR_TEST_OUTPUT"
# The binaries the tests run (the CLI, the functions) belong to other packages than the tests:
# `cargo test` builds their test harnesses, not them, so a warm target dir would hold stale ones.
cargo build --workspace --all-targets --quiet
set +e
cargo test --workspace --all-targets -- --skip faults:: 2>&1 | tee "$CACHE_DIR/last-test.log"
status=${PIPESTATUS[0]}
# The fault matrix runs the engine's adaptive retry mode, whose rate limiter paces a throttled
# client to a request every two seconds: its tests mostly wait, so they run on their own with
# more threads than cores (tests/integration/faults.rs, run_schedules).
log "the fault matrix (adaptive retries, $FAULT_MATRIX_THREADS test threads)"
cargo test -p tests --test integration -- faults:: --test-threads "$FAULT_MATRIX_THREADS" 2>&1 | tee -a "$CACHE_DIR/last-test.log"
matrix_status=${PIPESTATUS[0]}
[ "$status" -ne 0 ] || status=$matrix_status
set -e
summary=$(grep -E '^test result:' "$CACHE_DIR/last-test.log" | awk '{p+=$4; f+=$6; i+=$8} END {printf "%d passed, %d failed, %d skipped", p, f, i}')
echo "tests: $summary"
# Canary secrets are planted in the tests' parameters: they must appear nowhere in the output,
# the test log or what the tests' commands and the engine printed and logged.
bash "$REPO_ROOT/scripts/canary_scan.sh" "$CACHE_DIR/last-test.log" "$REMEDIATOR_TEST_OUTPUT"
[ "$status" -eq 0 ] || exit "$status"

log "deployment infrastructure (SAM and CDK templates, offline)"
bash "$REPO_ROOT/scripts/infra_check.sh"

log "the function binaries under a Lambda Runtime API (cargo lambda watch + invoke)"
bash "$REPO_ROOT/scripts/runtime_test.sh"

log "the HTML report in a real browser (headless Chromium, installed if missing)"
bash "$REPO_ROOT/scripts/browser_check.sh"
