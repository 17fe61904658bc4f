#!/usr/bin/env bash
# Issue 2 benchmark: exec/open/connect storm with and without `agentsight record`.
#   sudo benches/storm.sh                      # RUNS=3 EXECS=2000 FILES=50000 CONNECTS=10000 OPENS=1000000
#   AGENTSIGHT_BIN=/path/to/agentsight RUNS=2 benches/storm.sh [--pace]
# Before each bare/recorded pair it waits up to IDLE_WAIT=20 s for the CPUs to be >= 80% idle
# (shared machines) and prints the idle % it saw.
# Needs root (eBPF), gcc, python3 with pyarrow, /usr/bin/time. Bounded: ~3 min with defaults.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/prelude.sh" storm.sh
bin=$(mktemp -d /tmp/agentsight-storm-bin.XXXXXX)
trap 'rm -rf "$bin"' EXIT
gcc -O2 -Wall -o "$bin/storm" "$here/storm.c"
timeout 900 python3 "$here/storm.py" --storm "$bin/storm" "$@"
