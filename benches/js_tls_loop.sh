#!/usr/bin/env bash
# Issue 17 benchmark: the TLS loop with a fetch client on node (OpenSSL, exported symbols)
# and on bun (BoringSSL without symbols, located), bare and recorded.
#   sudo benches/js_tls_loop.sh                 # RUNS=5 REQUESTS=1000 BODY_BYTES=20480
#   AGENTSIGHT_BIN=/path/to/agentsight BUN=/path/to/bun benches/js_tls_loop.sh
# Needs root, node, bun (scripts/setup.sh installs it under /root/.cache/agentsight-agents),
# python3 with pyarrow. ~2-4 min with defaults.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/prelude.sh" js_tls_loop.sh
exec timeout 1800 python3 "$here/js_tls_loop.py" "$@"
