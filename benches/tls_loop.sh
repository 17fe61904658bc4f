#!/usr/bin/env bash
# Issue 3 benchmark: loop of 20 KB HTTPS POSTs with streamed responses, with and without
# `agentsight record`, against tests/support/mock_llm.py on loopback.
#   sudo benches/tls_loop.sh                   # RUNS=3 REQUESTS=2000 BODY_BYTES=20480
#   AGENTSIGHT_BIN=/path/to/agentsight RUNS=2 PROFILE=1 benches/tls_loop.sh
#   STREAM_DELAY_MS=2 REQUESTS=200 benches/tls_loop.sh   # events paced like a (fast) real API
# Before each bare/recorded pair it waits up to IDLE_WAIT=20 s for the CPUs to be >= 80% idle.
# Needs root (eBPF), python3 with pyarrow (and `cryptography` or the openssl CLI for the
# mock's certificate), /usr/bin/time; PROFILE=1 also needs bpftool. ~1-2 min with defaults.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/prelude.sh" tls_loop.sh
exec timeout 900 python3 "$here/tls_loop.py" "$@"
