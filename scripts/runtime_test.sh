#!/usr/bin/env bash
# The three functions on the real Lambda runtime path: each binary is started as Lambda starts
# `bootstrap`, polls a local Runtime API (`cargo lambda watch --only-lambda-apis`) through the
# lambda_runtime client, and is sent sample events with `cargo lambda invoke`, against a drifted
# demo stack in the AWS emulator. Checks the reports, their effect on the emulated account, the
# EMF metrics and logs on stdout, and how bad events and a bad environment fail
# (scripts/runtime_test/run.py). The emulator enforces IAM: each function runs as a user allowed
# exactly its role's actions in the SAM template, and the emulator's request recording proves
# which of them each function needed (scripts/runtime_test/permissions.py,
# infra/unexercised-actions.toml). Installs what it needs (moto, cargo-lambda, the SAM
# translator from PyPI); a minute or so once the test build is warm.
# Last line: `runtime: N passed, M failed`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
source "$REPO_ROOT/scripts/runtime_test/cargo_lambda.sh"
cd "$REPO_ROOT"

command -v cargo >/dev/null || { echo "cargo is required (https://rustup.rs)" >&2; exit 1; }
ensure_moto
ensure_cargo_lambda

# The SAM translator turns the template into the CloudFormation AWS would deploy, whose roles
# say what each function may do. Pinned where scripts/infra_check.sh pins it; its virtualenv is
# reused when there, else a small one of its own.
SAM_TRANSLATOR_VERSION="$(sed -n 's/^SAM_TRANSLATOR_VERSION="\(.*\)"$/\1/p' scripts/infra_check.sh)"
[ -n "$SAM_TRANSLATOR_VERSION" ] || { echo "no SAM_TRANSLATOR_VERSION in scripts/infra_check.sh" >&2; exit 1; }
ensure_sam_translator() {
  local python
  for python in "$CACHE_DIR"/infra-*-samt-"$SAM_TRANSLATOR_VERSION"/bin/python "$CACHE_DIR/sam-translator-$SAM_TRANSLATOR_VERSION/bin/python"; do
    if [ -x "$python" ] && "$python" -c "import samtranslator, yaml" 2>/dev/null; then
      SAM_PYTHON="$python"
      return 0
    fi
  done
  local venv="$CACHE_DIR/sam-translator-$SAM_TRANSLATOR_VERSION"
  log "installing aws-sam-translator==$SAM_TRANSLATOR_VERSION into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "aws-sam-translator==$SAM_TRANSLATOR_VERSION" "PyYAML==6.0.3"
  SAM_PYTHON="$venv/bin/python"
}
ensure_sam_translator

# The same command line as the test build shares its feature resolution, so nothing but the
# three function binaries is compiled on top of `cargo test --workspace --all-targets` (a
# narrower `--bins` build resolves other features and rebuilds the AWS SDK crates).
log "building the function binaries (cargo build --workspace --all-targets)"
started=$(date +%s)
cargo build --quiet --workspace --all-targets
log "built in $(($(date +%s) - started)) s"

WORK="$(mktemp -d "$CACHE_DIR/runtime-test.XXXXXX")"
mkdir -p "$WORK/pids"
EMULATOR_PID=""
DRIVER_PID=""
cleanup() {
  local status=$?
  [ -n "$DRIVER_PID" ] && kill "$DRIVER_PID" 2>/dev/null && wait "$DRIVER_PID" 2>/dev/null
  # Function processes the driver could not stop itself (it was killed).
  for pid_file in "$WORK"/pids/*; do
    [ -e "$pid_file" ] && kill "$(basename "$pid_file")" 2>/dev/null
  done
  [ -n "$EMULATOR_PID" ] && kill "$EMULATOR_PID" 2>/dev/null && wait "$EMULATOR_PID" 2>/dev/null
  stop_moto
  if [ "$status" -eq 0 ]; then rm -rf "$WORK"; else echo "runtime test logs kept in $WORK" >&2; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$SAM_PYTHON" infra/sam/transform.py infra/sam/template.yaml "$WORK/sam-transformed.json"

# IAM enforced after the first requests (the driver's bootstrap of an administrator: three), and
# every request recorded, with the key that signed it. (The emulator checks each signature
# against the bytes the SDK signed: scripts/emulator/aws_like.py.)
NO_AUTH_REQUESTS=3
INITIAL_NO_AUTH_ACTION_COUNT="$NO_AUTH_REQUESTS" MOTO_ENABLE_RECORDING=true \
  MOTO_RECORDER_FILEPATH="$WORK/emulator-requests.jsonl" start_moto
log "emulator listening at $AWS_ENDPOINT_URL (IAM enforced after $NO_AUTH_REQUESTS requests)"
# Everything here talks to loopback: never through a proxy a machine may have configured.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"

port="$(free_port)"
cargo lambda watch --only-lambda-apis --ignore-changes --invoke-address 127.0.0.1 --invoke-port "$port" \
  >"$WORK/runtime-api.log" 2>&1 &
EMULATOR_PID=$!
# Ready when it accepts connections. (An HTTP request would not do: every path outside the
# Runtime API is an invocation of some function, and waits for it.)
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }
for _ in $(seq 1 300); do
  listening && break
  if ! kill -0 "$EMULATOR_PID" 2>/dev/null; then
    echo "cargo lambda watch exited:" >&2; cat "$WORK/runtime-api.log" >&2; exit 1
  fi
  sleep 0.1
done
listening || { echo "the Runtime API did not start on port $port within 30 s" >&2; exit 1; }
log "Lambda Runtime API (cargo lambda watch --only-lambda-apis) at 127.0.0.1:$port"

"$MOTO_VENV/bin/python" scripts/runtime_test/run.py --repo "$REPO_ROOT" --work "$WORK" \
  --bin-dir "$CARGO_TARGET_DIR/debug" --emulator-port "$port" \
  --template "$WORK/sam-transformed.json" --justified infra/unexercised-actions.toml \
  --no-auth-requests "$NO_AUTH_REQUESTS" &
DRIVER_PID=$!
set +e
wait "$DRIVER_PID"
status=$?
set -e
DRIVER_PID=""
exit "$status"
