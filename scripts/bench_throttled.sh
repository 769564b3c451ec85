#!/usr/bin/env bash
# Benchmark, not a test: one `remediator apply` over 300 drifted security groups (150 stacks,
# 600 authorize/revoke calls) behind EC2's token buckets at their documented rates (mutating and
# resource-intensive: 50 tokens, 5 per second; describes: 100, 20 per second), timed against the
# least time the buckets allow. With one bucket per category, 600 writes need (600 - 50) / 5 =
# 110 s; with AWS's per-action buckets, authorize and revoke refill in parallel: (300 - 50) / 5 = 50 s.
#
#   bash scripts/bench_throttled.sh [stacks] [category|action] [refill factor]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO_ROOT"

ensure_rust_tools
ensure_moto

log "building the remediator binary and the benchmark"
# Workspace-wide, as scripts/test.sh builds: the same feature resolution, so the SDK crates
# already compiled for the tests are reused.
cargo build --workspace --bins --examples --quiet
log "running"
"$CARGO_TARGET_DIR/debug/examples/bench_throttled" "$@"
