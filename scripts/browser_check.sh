#!/usr/bin/env bash
# The `--html` report in a real browser: seeds the demo stack in the AWS emulator (its data
# subnet's network ACL blocks node -> Postgres, so the node-db flow is BLOCKED), writes the
# plan's report with `remediator plan --html`, has headless Chromium (Debian's `chromium`,
# installed here when missing) render it, and checks the rendered DOM
# (scripts/browser_check.py): every flow of the stack file drawn, blocked hops marked, every hop
# with a verdict, nothing loaded from outside the page. Keeps the page, its DOM and a screenshot
# under $CACHE_DIR/browser/. Needs the debug build of the CLI (the test script builds it first):
# it builds nothing. As root, as on CI (apt-get, Chromium's --no-sandbox).
# Last line: `browser: N passed, M failed`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO_ROOT"

CHROMIUM=/usr/bin/chromium
CHROMIUM_TIMEOUT="${CHROMIUM_TIMEOUT:-120}"   # seconds, per Chromium run
OUT="$CACHE_DIR/browser"
REPORT="$OUT/report.html"
DOM="$OUT/report.dom.html"
SCREENSHOT="$OUT/report.png"
# The screenshot is the window: tall enough for the demo's whole page (about 2,730 px at this
# width), so the blocked node-db flow, near the end, is in the picture.
WINDOW_SIZE="${BROWSER_WINDOW_SIZE:-1400,2800}"
REMEDIATOR="$CARGO_TARGET_DIR/debug/remediator"
mkdir -p "$OUT"

ensure_chromium() {
  if [ -x "$CHROMIUM" ]; then
    return 0
  fi
  export DEBIAN_FRONTEND=noninteractive
  log "installing Debian's chromium (apt-get install chromium; output in $OUT/apt.log)"
  if ! apt-get install -y --no-install-recommends chromium >"$OUT/apt.log" 2>&1; then
    log "apt-get install failed: updating the package lists (apt-get update) and trying again"
    apt-get update >>"$OUT/apt.log" 2>&1 || true
    if ! apt-get install -y --no-install-recommends chromium >>"$OUT/apt.log" 2>&1; then
      tail -n 20 "$OUT/apt.log" >&2
      echo "could not install chromium (apt-get as root); see $OUT/apt.log" >&2
      exit 1
    fi
  fi
  [ -x "$CHROMIUM" ] || { echo "apt-get installed chromium, but there is no $CHROMIUM" >&2; exit 1; }
}

[ -x "$REMEDIATOR" ] || {
  echo "no $REMEDIATOR: build it first (cargo build --workspace --all-targets, as scripts/test.sh does)" >&2
  exit 1
}
started=$(date +%s)
ensure_chromium
ensure_moto
log "$("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"

PROFILES=()
cleanup() {
  stop_moto || true
  local dir
  for dir in "${PROFILES[@]}"; do rm -rf "$dir"; done
}
trap cleanup EXIT

start_moto
log "emulator listening at $AWS_ENDPOINT_URL"
log "seeding the drifted demo stack (scripts/seed_demo.py)"
"$MOTO_VENV/bin/python" scripts/seed_demo.py >/dev/null

rm -f "$REPORT" "$DOM" "$SCREENSHOT"
log "remediator plan --stack samples/stack.toml --html $REPORT"
"$REMEDIATOR" plan --stack samples/stack.toml --html "$REPORT" >"$OUT/plan.txt"
[ -s "$REPORT" ] || { echo "remediator wrote no report at $REPORT" >&2; exit 1; }
stop_moto   # the page needs nothing from it

# Headless, as root, with Chromium's own calls out switched off (the machine's network is
# closed); each run gets a new, empty profile.
chromium_run() {
  local profile
  profile="$(mktemp -d "${TMPDIR:-/tmp}/browser-check-profile.XXXXXX")"
  PROFILES+=("$profile")
  timeout --kill-after=10 "$CHROMIUM_TIMEOUT" "$CHROMIUM" \
    --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" "$@"
}

URL="file://$REPORT"
log "chromium --dump-dom $URL"
if ! chromium_run --dump-dom "$URL" >"$DOM" 2>"$OUT/chromium-dom.log" || [ ! -s "$DOM" ]; then
  tail -n 20 "$OUT/chromium-dom.log" >&2
  echo "FAIL: Chromium did not render $REPORT (see $OUT/chromium-dom.log)" >&2
  exit 1
fi
log "chromium --screenshot=$SCREENSHOT --window-size=$WINDOW_SIZE"
if ! chromium_run --hide-scrollbars --screenshot="$SCREENSHOT" --window-size="$WINDOW_SIZE" "$URL" \
  >"$OUT/chromium-screenshot.log" 2>&1 || [ ! -s "$SCREENSHOT" ]; then
  tail -n 20 "$OUT/chromium-screenshot.log" >&2
  echo "FAIL: Chromium took no screenshot of $REPORT (see $OUT/chromium-screenshot.log)" >&2
  exit 1
fi

log "rendered in $(($(date +%s) - started)) s; the page: $REPORT; the screenshot: $SCREENSHOT"
python3 scripts/browser_check.py "$DOM" samples/stack.toml "$SCREENSHOT"
