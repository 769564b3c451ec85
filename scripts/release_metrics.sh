#!/usr/bin/env bash
# Release size and cold start of the Lambda functions. Not part of the test suite: two
# release builds (fat LTO, one codegen unit) of the AWS SDK take 20–40 minutes on two cores.
#
# 1. `cargo lambda build --release --arm64 --output-format zip`: what would be deployed on
#    Graviton, zipped as Lambda takes it; prints each zip's size. Needs the aarch64 standard
#    library (`rustup target add aarch64-unknown-linux-gnu`, a download outside the package
#    registries): without it the arm64 column is skipped, not faked.
# 2. The same for x86_64 (`--x86-64`), which this machine can run: its cold start is measured,
#    from process start to the function's first request for an event, against a local Runtime
#    API (scripts/runtime_test/coldstart.py), median of $COLD_START_RUNS runs (default 7).
#    With qemu-user-static and Debian's arm64 cross libc (libc6-arm64-cross,
#    libgcc-s1-arm64-cross) installed, the arm64 binaries are also timed under emulation (a
#    relative figure only: qemu translates every instruction).
#
# The builds go to their own target dir under the cache, so they do not evict the tests' one.
# Usage: bash scripts/release_metrics.sh   (long: run it in the background, output to a log)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
source "$REPO_ROOT/scripts/runtime_test/cargo_lambda.sh"
cd "$REPO_ROOT"

FUNCTIONS=(security-group-guard parameter-guard instance-guard)
# Built and sized too; its cold start reads the approval key from AWS, so it is not timed here.
DEPLOYED=("${FUNCTIONS[@]}" approval-handler)
RUNS="${COLD_START_RUNS:-7}"
RELEASE_DIR="$CACHE_DIR/target-release"
LAMBDA_DIR="$RELEASE_DIR/lambda"

ensure_rust_tools
ensure_cargo_lambda

# By binary name against the workspace manifest, as SAM's rust-cargolambda build and
# cargo-lambda-cdk's RustFunction do: the artifacts measured are the ones deployed.
bins=()
for f in "${DEPLOYED[@]}"; do bins+=(--bin "$f"); done

# Builds one architecture; prints how long it took.
build() {
  local arch=$1 flag=$2 started
  started=$(date +%s)
  log "release build for $arch: cargo lambda build --release $flag --output-format zip ${bins[*]}"
  CARGO_TARGET_DIR="$RELEASE_DIR" cargo lambda build --release "$flag" --output-format zip \
    --lambda-dir "$LAMBDA_DIR/$arch" "${bins[@]}" || return 1
  BUILD_SECONDS[$arch]=$(($(date +%s) - started))
}

declare -A BUILD_SECONDS=()
arm64=0
if rustup target list --installed | grep -x aarch64-unknown-linux-gnu >/dev/null \
  || rustup target add aarch64-unknown-linux-gnu; then
  if build arm64 --arm64; then arm64=1; else log "the arm64 build failed: arm64 columns skipped"; fi
else
  log "no aarch64 standard library and rustup could not fetch it: arm64 columns skipped"
fi
build x86_64 --x86-64

size() { if [ -f "$1" ]; then stat -c %s "$1"; else echo 0; fi; }
mib() { awk -v b="$1" 'BEGIN { if (b > 0) printf "%.2f MiB", b / 1048576; else printf "n/a" }'; }
binary() { echo "$RELEASE_DIR/$1/release/$2"; }

# Cold start: the function's real environment, with an endpoint nothing listens on (initialising
# makes no AWS call when the stack file is bundled: STACK_FILE_PARAMETER unset).
export STACK_FILE="$REPO_ROOT/samples/stack.toml" REMEDIATOR_MODE=enforce METRICS_NAMESPACE=ChainlinkRemediator
AWS_ENDPOINT_URL="http://127.0.0.1:$(free_port)"
export AWS_ENDPOINT_URL
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN STACK_FILE_PARAMETER REPORT_TOPIC_ARN
declare -A COLD_X86=() COLD_ARM=()
specs=()
for f in "${FUNCTIONS[@]}"; do specs+=("$f=$(binary x86_64-unknown-linux-gnu "$f")"); done
log "cold start (x86_64 release, median of $RUNS): python3 scripts/runtime_test/coldstart.py --runs $RUNS"
while read -r name median low high; do
  COLD_X86[$name]="$median ms ($low–$high)"
done < <(python3 scripts/runtime_test/coldstart.py --runs "$RUNS" "${specs[@]}")

QEMU_LIBS=/usr/aarch64-linux-gnu
if [ "$arm64" = 1 ] && command -v qemu-aarch64-static >/dev/null && [ -e "$QEMU_LIBS/lib/ld-linux-aarch64.so.1" ]; then
  specs=()
  for f in "${FUNCTIONS[@]}"; do specs+=("$f=$(binary aarch64-unknown-linux-gnu "$f")"); done
  log "cold start (arm64 release under qemu-aarch64-static, median of $RUNS)"
  while read -r name median low high; do
    COLD_ARM[$name]="$median ms ($low–$high)"
  done < <(python3 scripts/runtime_test/coldstart.py --runs "$RUNS" \
    --wrapper "qemu-aarch64-static -L $QEMU_LIBS" "${specs[@]}")
elif [ "$arm64" = 1 ]; then
  log "no qemu-aarch64-static + arm64 cross libc: arm64 cold start not measured" \
    "(apt-get install qemu-user-static libc6-arm64-cross libgcc-s1-arm64-cross)"
fi

echo
echo "release profile: fat LTO, 1 codegen unit, strip, panic=unwind; cargo lambda adds -C target-cpu"
echo "build time: arm64 ${BUILD_SECONDS[arm64]:-n/a} s, x86_64 ${BUILD_SECONDS[x86_64]:-n/a} s (2 cores, shared)"
echo "cold start = process start → first GET /2018-06-01/runtime/invocation/next, local Runtime API"
printf '%-22s | %-11s | %-13s | %-11s | %-13s | %-26s | %s\n' function "zip arm64" "binary arm64" \
  "zip x86_64" "binary x86_64" "cold start x86_64 (min–max)" "cold start arm64 (qemu)"
for f in "${DEPLOYED[@]}"; do
  printf '%-22s | %-11s | %-13s | %-11s | %-13s | %-26s | %s\n' "$f" \
    "$(mib "$(size "$LAMBDA_DIR/arm64/$f/bootstrap.zip")")" \
    "$(mib "$(size "$(binary aarch64-unknown-linux-gnu "$f")")")" \
    "$(mib "$(size "$LAMBDA_DIR/x86_64/$f/bootstrap.zip")")" \
    "$(mib "$(size "$(binary x86_64-unknown-linux-gnu "$f")")")" \
    "${COLD_X86[$f]:-n/a}" "${COLD_ARM[$f]:-n/a}"
done
