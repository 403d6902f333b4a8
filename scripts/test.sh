#!/usr/bin/env bash
# Format check, lints, build and the whole test suite. CI entry point (via
# .ci/run). Ends with cargo test's own summary lines.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$(pwd)"

# Make a rustup-installed toolchain usable in non-login shells.
if ! command -v cargo >/dev/null 2>&1 && [[ -f "$HOME/.cargo/env" ]]; then
    # shellcheck disable=SC1091
    source "$HOME/.cargo/env"
fi

scripts/install-deps.sh

LOCKED=()
if [[ -f Cargo.lock ]]; then
    LOCKED=(--locked)
fi

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
# gst-inspect-1.0 / gst-launch-1.0 / registry based tests find the freshly
# built plugin (libgstrtspclient.so) here.
export GST_PLUGIN_PATH="$TARGET_DIR/debug${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"

# 2 cores: don't run more GStreamer pipelines in parallel than that.
TEST_THREADS="${TEST_THREADS:-2}"

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy"
cargo clippy "${LOCKED[@]}" --workspace --all-targets -- -D warnings

echo "==> cargo build"
cargo build "${LOCKED[@]}" --workspace --all-targets

echo "==> cargo test"
cargo test "${LOCKED[@]}" --workspace -- --test-threads="$TEST_THREADS"
