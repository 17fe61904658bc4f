#!/usr/bin/env bash
# The analyzer-only binary must build off Linux (an analyst opens a capture on
# a laptop): type-check it for Windows, the target furthest from Linux.
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-pc-windows-gnu
rustup target list --installed | grep -qx "$target" || rustup target add "$target"
# zstd-sys and friends compile C for the target even under `cargo check`
if ! command -v x86_64-w64-mingw32-gcc >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-mingw-w64-x86-64 >/dev/null
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/root/.cache/agentsight-target}"
cargo check --quiet -p agentsight --no-default-features --target "$target"
echo "check-portable: the analyzer-only binary type-checks for $target"
