#!/usr/bin/env bash
# Side by side with Cloud Custodian on the same emulated account: for N security groups (N/2
# Chainlink stacks, a tenth of the node groups with 6688 open to the world), Custodian's
# `remove-permissions` policy and `remediator apply` each run on an identical fresh seed; prints
# wall time, CPU time, peak memory, API calls and end-state correctness, and the ratios.
# Results also go to $CACHE_DIR/bench-custodian.json. Not part of the test suite. Exits 1 when a
# target is missed, keeping the tools' output.
#
#   bash scripts/bench_custodian.sh [--release | --binary PATH] [--sizes 1000,5000] [--repeat K] [--stock-moto]
#
# By default the remediator is built with the bench profile (our crates optimised, the SDK at
# opt-level 1: minutes). --release measures what ships: the release profile (fat LTO, the SDK
# at opt-level 3), in the release target dir scripts/release_metrics.sh shares; a cold build
# takes 20+ minutes on two cores.
#
# --binary PATH measures a remediator built elsewhere (no build), e.g. the tests' debug build.
#
# moto runs as every test run starts it (scripts/emulator/aws_like.py): pages of at most
# MaxResults as AWS sends them (the remediator asks for 1,000), and an O(1) tag lookup (stock
# moto spends O(N^2) on every describe of tagged groups). --stock-moto runs it as released.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO_ROOT"

C7N_VERSION="0.9.53"
C7N_VENV="$CACHE_DIR/c7n-$C7N_VERSION"

# Cloud Custodian, pinned, in a virtualenv of its own (it pins its own boto3).
ensure_custodian() {
  if [ -x "$C7N_VENV/bin/custodian" ] && "$C7N_VENV/bin/custodian" version >/dev/null 2>&1; then
    return 0
  fi
  log "installing c7n==$C7N_VERSION into $C7N_VENV"
  rm -rf "$C7N_VENV"
  python3 -m venv "$C7N_VENV"
  "$C7N_VENV/bin/pip" install --quiet --disable-pip-version-check "c7n==$C7N_VERSION"
}

mkdir -p "$CACHE_DIR"
ensure_moto
ensure_custodian

command -v cc >/dev/null || { echo "a C compiler (cc) is required for the measuring wrapper" >&2; exit 1; }
MEASURE="$CACHE_DIR/bench-measure"
if [ ! -x "$MEASURE" ] || [ scripts/bench_custodian/measure.c -nt "$MEASURE" ]; then
  cc -O2 -o "$MEASURE" scripts/bench_custodian/measure.c
fi

PROFILE=bench
REMEDIATOR=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --release) PROFILE=release ;;
    --binary) REMEDIATOR="$2"; PROFILE="prebuilt $2"; shift ;;
    *) args+=("$1") ;;
  esac
  shift
done
set -- "${args[@]+"${args[@]}"}"
if [ -z "$REMEDIATOR" ]; then
  if [ "$PROFILE" = release ]; then export CARGO_TARGET_DIR="$CACHE_DIR/target-release"; fi
  log "building remediator (cargo profile $PROFILE)"
  REMEDIATOR="$(cargo build --profile "$PROFILE" -p shared --bin remediator --message-format=json-render-diagnostics \
    | "$MOTO_VENV/bin/python" -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "remediator":
        print(m["executable"])')"
fi
[ -x "$REMEDIATOR" ] || { echo "cannot find the remediator binary ($REMEDIATOR)" >&2; exit 1; }

WORKDIR="$(mktemp -d "${TMPDIR:-/tmp}/bench-custodian.XXXXXX")"
# A copy: the shared target dir is rebuilt by other work while the benchmark runs.
cp "$REMEDIATOR" "$WORKDIR/remediator"
REMEDIATOR="$WORKDIR/remediator"

COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ "$COMMIT" != unknown ] && ! git diff --quiet HEAD -- 2>/dev/null; then COMMIT="$COMMIT+uncommitted changes"; fi
VERSIONS="$("$MOTO_VENV/bin/python" -c 'import json, sys
print(json.dumps({"c7n": sys.argv[1], "moto": sys.argv[2], "remediator": sys.argv[3], "commit": sys.argv[4]}))' \
  "$C7N_VERSION" "$MOTO_VERSION" "$("$REMEDIATOR" --version)" "$COMMIT")"

status=0
"$MOTO_VENV/bin/python" scripts/bench_custodian.py \
  --remediator "$REMEDIATOR" \
  --custodian "$C7N_VENV/bin/custodian" \
  --moto-python "$MOTO_VENV/bin/python" \
  --measure "$MEASURE" \
  --workdir "$WORKDIR" \
  --json-out "$CACHE_DIR/bench-custodian.json" \
  --versions "$VERSIONS" \
  --build-profile "$PROFILE" \
  "$@" || status=$?
if [ "$status" -eq 0 ]; then
  rm -rf "$WORKDIR"
else
  log "a target was missed or a run failed; the tools' output is kept in $WORKDIR"
fi
exit "$status"
