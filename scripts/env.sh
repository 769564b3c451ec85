# Shared by the project's scripts: where things live, and how to install what they need.
# Source it; it defines functions and variables only.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Outside the clone, so a fresh clone (CI) reuses what an earlier run built or installed.
CACHE_DIR="${REMEDIATOR_CACHE:-$HOME/.cache/chainlink-remediator}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE_DIR/target}"
MOTO_VERSION="5.2.1"
export MOTO_VENV="$CACHE_DIR/moto-$MOTO_VERSION"
# moto with the project's extension that makes it behave like AWS (time, pages): every run uses it.
export REMEDIATOR_MOTO_SERVER="$REPO_ROOT/scripts/emulator/moto_server"

ANVIL_VERSION="1.7.1"
ANVIL_DIR="$CACHE_DIR/anvil-$ANVIL_VERSION"
# The platform binary itself, not npm's node wrapper: a test that stops the wrapper would leave
# the real node running.
anvil_binary() { ls "$ANVIL_DIR"/node_modules/@foundry-rs/anvil-*/bin/anvil 2>/dev/null | head -n 1; }
export REMEDIATOR_ANVIL="$(anvil_binary)"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# The AWS API emulator (moto's server mode), pinned, in its own virtualenv.
ensure_moto() {
  if [ -x "$MOTO_VENV/bin/moto_server" ] && "$MOTO_VENV/bin/python" -c "import moto, flask" 2>/dev/null; then
    return 0
  fi
  log "installing moto[server]==$MOTO_VERSION into $MOTO_VENV"
  rm -rf "$MOTO_VENV"
  python3 -m venv "$MOTO_VENV"
  "$MOTO_VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
}

# A local Ethereum node (foundry's anvil, from npm) for the live RPC probe tests.
ensure_anvil() {
  if [ -n "$REMEDIATOR_ANVIL" ] && "$REMEDIATOR_ANVIL" --version >/dev/null 2>&1; then
    return 0
  fi
  command -v npm >/dev/null || { echo "npm is required to install anvil (Node.js)" >&2; exit 1; }
  log "installing @foundry-rs/anvil@$ANVIL_VERSION into $ANVIL_DIR"
  mkdir -p "$ANVIL_DIR"
  (cd "$ANVIL_DIR" && npm install --no-audit --no-fund --silent "@foundry-rs/anvil@$ANVIL_VERSION")
  REMEDIATOR_ANVIL="$(anvil_binary)"
  export REMEDIATOR_ANVIL
  [ -n "$REMEDIATOR_ANVIL" ] || { echo "npm installed no anvil binary for this platform" >&2; exit 1; }
}

ensure_rust_tools() {
  command -v cargo >/dev/null || { echo "cargo is required (https://rustup.rs)" >&2; exit 1; }
  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt clippy
}

# A free loopback port: bind to 0 and let the kernel choose.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Starts moto on a free port; sets MOTO_PID and AWS_ENDPOINT_URL, and fake credentials so
# that nothing can reach a real account. A port that looked free may be taken before moto binds
# it: the server must answer its own instance token, or it is started again on another port.
start_moto() {
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  unset AWS_PROFILE AWS_SESSION_TOKEN
  local attempt port instance
  for attempt in 1 2 3 4 5; do
    port="$(free_port)"
    instance="script-$$-$port"
    AWS_LIKE_INSTANCE="$instance" "$REMEDIATOR_MOTO_SERVER" -H 127.0.0.1 -p "$port" >"$CACHE_DIR/moto-$port.log" 2>&1 &
    MOTO_PID=$!
    export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
    for _ in $(seq 1 100); do
      kill -0 "$MOTO_PID" 2>/dev/null || break
      if [ "$(curl -fsS "$AWS_ENDPOINT_URL/aws-like/instance" 2>/dev/null)" = "$instance" ]; then return 0; fi
      sleep 0.1
    done
    kill "$MOTO_PID" 2>/dev/null || true
    wait "$MOTO_PID" 2>/dev/null || true
  done
  echo "moto did not start; see $CACHE_DIR/moto-$port.log" >&2
  return 1
}

stop_moto() {
  [ -n "${MOTO_PID:-}" ] && kill "$MOTO_PID" 2>/dev/null && wait "$MOTO_PID" 2>/dev/null
  MOTO_PID=""
}
