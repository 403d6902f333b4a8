#!/usr/bin/env bash
# Build and run the demo example; it writes its results into demo-output/.
set -euo pipefail

cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1 && [[ -f "$HOME/.cargo/env" ]]; then
    # shellcheck disable=SC1091
    source "$HOME/.cargo/env"
fi

scripts/install-deps.sh

LOCKED=()
if [[ -f Cargo.lock ]]; then
    LOCKED=(--locked)
fi

TARGET_DIR="${CARGO_TARGET_DIR:-$(pwd)/target}"
export GST_PLUGIN_PATH="$TARGET_DIR/release${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"

cargo build "${LOCKED[@]}" --release --examples
cargo run "${LOCKED[@]}" --release --example demo -- "$@"
