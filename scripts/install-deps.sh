#!/usr/bin/env bash
# Install the system packages needed to build and test the rtspclient plugin
# (Debian/Ubuntu). Only installs what is missing; never downloads toolchains.
set -euo pipefail

PACKAGES=(
    pkg-config
    build-essential
    libgstreamer1.0-dev
    libgstreamer-plugins-base1.0-dev
    libgstreamer-plugins-bad1.0-dev
    libgstrtspserver-1.0-dev
    gstreamer1.0-plugins-base
    gstreamer1.0-plugins-good
    gstreamer1.0-plugins-bad
    gstreamer1.0-plugins-ugly
    gstreamer1.0-libav
    gstreamer1.0-tools
    # gst-play-1.0: tests/gst_play.rs drives it from its keyboard.
    gstreamer1.0-plugins-base-apps
    gstreamer1.0-x
    gstreamer1.0-rtsp
    # GIO's TLS backend: gst-rtsp-server's TLS in tests/tls.rs.
    glib-networking
    ffmpeg
)

log() { printf 'install-deps: %s\n' "$*" >&2; }

if ! command -v dpkg-query >/dev/null 2>&1; then
    log "dpkg-query not found: not a Debian-based system."
    log "Install the equivalents of these packages manually: ${PACKAGES[*]}"
    exit 1
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
    if [[ "$status" != "install ok installed" ]]; then
        missing+=("$pkg")
    fi
done

if ((${#missing[@]} > 0)); then
    log "missing packages: ${missing[*]}"
    SUDO=()
    if [[ "$(id -u)" -ne 0 ]]; then
        if command -v sudo >/dev/null 2>&1; then
            SUDO=(sudo)
        else
            log "not root and sudo is not available; install as root: ${missing[*]}"
            exit 1
        fi
    fi
    "${SUDO[@]}" apt-get update
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${missing[@]}"
else
    log "all system packages present"
fi

# The Rust toolchain is not installed by this script.
if ! command -v cargo >/dev/null 2>&1; then
    if [[ -x "$HOME/.cargo/bin/cargo" ]]; then
        log "cargo found in \$HOME/.cargo/bin but not on PATH: run"
        log "    source \"\$HOME/.cargo/env\""
    else
        log "cargo (Rust toolchain) not found. Install it with rustup, e.g.:"
        log "    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh"
        log "then open a new shell (or 'source \"\$HOME/.cargo/env\"'). Rust >= 1.92 is required."
    fi
    exit 1
fi
log "$(cargo --version)"
