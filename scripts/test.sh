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
# Keep cargo's own output, then close with one line that adds up every
# suite (cargo's last lines are the doc-test runners, which have no tests).
LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT
status=0
cargo test "${LOCKED[@]}" --workspace -- --test-threads="$TEST_THREADS" 2>&1 | tee "$LOG" || status=$?
read -r passed failed < <(awk '/^test result:/ {
    for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i }
} END { print p + 0, f + 0 }' "$LOG")
echo
echo "tests: ${passed:-0} passed, ${failed:-0} failed"
exit "$status"
