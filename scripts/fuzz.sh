#!/usr/bin/env bash
# Fuzzes the engine's untrusted inputs with cargo-fuzz (libFuzzer): raw events (event_parse,
# event_envelope) and stack files (stack_parse). Not part of CI: it needs the nightly toolchain
# and minutes per target. New interesting inputs are added to fuzz/corpus/<target>; crashes land
# in fuzz/artifacts/<target> (reproduce one with `cargo +nightly fuzz run TARGET FILE`).
#
#   scripts/fuzz.sh                 every target for 60 s
#   scripts/fuzz.sh 300             every target for 300 s
#   scripts/fuzz.sh --smoke         every target for 10 s
#   scripts/fuzz.sh 120 stack_parse one target
#   scripts/fuzz.sh --minimize      afterwards, shrink each corpus to the inputs that add coverage
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO_ROOT/fuzz"
# The fuzz crate is its own workspace, built with coverage instrumentation: never share the
# main target.
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$REPO_ROOT/fuzz/target}"
# The engine forbids unsafe code, so AddressSanitizer would only watch its dependencies (the
# targets build the pure crates only, no AWS SDK); FUZZ_SANITIZER=address turns it back on.
sanitizer="${FUZZ_SANITIZER:-none}"

seconds=60
minimize=false
targets=()
for arg in "$@"; do
  case "$arg" in
    --smoke) seconds=10 ;;
    --minimize) minimize=true ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    ''|*[!0-9]*) targets+=("$arg") ;;
    *) seconds="$arg" ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(event_parse event_envelope stack_parse)

rustup toolchain list | grep -q '^nightly' || {
  echo "cargo-fuzz needs the nightly toolchain: rustup toolchain install nightly" >&2
  exit 1
}
if ! cargo fuzz --version >/dev/null 2>&1; then
  log "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

log "building the fuzz targets (nightly, sanitizer: $sanitizer)"
cargo +nightly fuzz build --sanitizer "$sanitizer"

logs="$CARGO_TARGET_DIR/fuzz-logs"
mkdir -p "$logs"
for target in "${targets[@]}"; do
  log "fuzzing $target for ${seconds}s"
  mkdir -p "corpus/$target"
  # libFuzzer's own seeds plus ours; -max_len fits the largest sample event with room to grow.
  set +e
  cargo +nightly fuzz run --sanitizer "$sanitizer" "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -max_len=16384 -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
    2>&1 | tee "$logs/$target.log" | grep -E 'DONE|ERROR|panicked|SUMMARY|Test unit written'
  status=${PIPESTATUS[0]}
  set -e
  if [ "$status" -ne 0 ]; then
    echo "$target failed (exit $status): see $logs/$target.log and fuzz/artifacts/$target" >&2
    exit "$status"
  fi
  if $minimize; then
    log "minimizing corpus/$target"
    cargo +nightly fuzz cmin --sanitizer "$sanitizer" "$target" "corpus/$target" >"$logs/$target-cmin.log" 2>&1
  fi
done
log "done: ${targets[*]}, ${seconds}s each"
