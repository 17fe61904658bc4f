#!/usr/bin/env bash
# Sets up the machine and runs the whole test suite, including the end-to-end
# recorder tests (root + eBPF). With CI=true, missing eBPF is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/root/.cache/agentsight-target}"
scripts/check-portable.sh
cargo test --workspace --no-fail-fast -- --test-threads=2
