#!/usr/bin/env bash
# Benchmarks of the planner (criterion). Prints time per run and throughput in groups/s.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO_ROOT"
cargo bench -p domain --features bench --bench planner "$@"
