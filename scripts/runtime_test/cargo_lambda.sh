# shellcheck shell=bash
# cargo-lambda, pinned, from PyPI into its own virtualenv (the wheel is a prebuilt binary and
# brings zig for cross-linking, so it installs in seconds and works offline; `cargo install
# cargo-lambda` compiles for many minutes). Used by scripts/runtime_test.sh (`cargo lambda
# watch`, `cargo lambda invoke`) and scripts/release_metrics.sh (`cargo lambda build`).
# Source it after env.sh; it defines functions and variables only.

CARGO_LAMBDA_VERSION="1.9.2"
ZIGLANG_VERSION="0.17.1"
CARGO_LAMBDA_VENV="$CACHE_DIR/cargo-lambda-$CARGO_LAMBDA_VERSION"

# Installs cargo-lambda if needed and puts it (and its zig) first on PATH.
ensure_cargo_lambda() {
  if ! "$CARGO_LAMBDA_VENV/bin/cargo-lambda" lambda --version >/dev/null 2>&1; then
    log "installing cargo-lambda==$CARGO_LAMBDA_VERSION into $CARGO_LAMBDA_VENV"
    rm -rf "$CARGO_LAMBDA_VENV"
    python3 -m venv "$CARGO_LAMBDA_VENV"
    "$CARGO_LAMBDA_VENV/bin/pip" install --quiet --disable-pip-version-check \
      "cargo-lambda==$CARGO_LAMBDA_VERSION" "ziglang==$ZIGLANG_VERSION"
  fi
  case ":$PATH:" in
    *":$CARGO_LAMBDA_VENV/bin:"*) ;;
    *) export PATH="$CARGO_LAMBDA_VENV/bin:$PATH" ;;
  esac
  cargo lambda --version >/dev/null
}
