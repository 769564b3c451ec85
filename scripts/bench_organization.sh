#!/usr/bin/env bash
# Benchmark, not a test: `remediator apply` over an organisation of N accounts × R regions (the
# demo stack in each, one target in five drifted) at concurrency C, on the emulator: wall time,
# CPU, peak memory and API calls per target, and from them the model of a 1,000 accounts × 4
# regions sweep on the deployed functions.
#
#   bash scripts/bench_organization.sh [accounts] [regions] [concurrency]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO_ROOT"

ensure_rust_tools
ensure_moto

log "building the remediator binary and the benchmark"
cargo build --workspace --bins --examples --quiet
log "running"
"$CARGO_TARGET_DIR/debug/examples/bench_organization" "$@"
