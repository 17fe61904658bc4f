#!/usr/bin/env bash
# What a running recorder costs the syscalls of processes it does not trace.
#   sudo AGENTSIGHT_BIN=<build> benches/untraced_cost.sh      # needs root and gcc; ~30 s
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/prelude.sh" untraced_cost.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gcc -O2 -o "$work/untraced_cost" "$here/untraced_cost.c"
echo "## no recorder"
for _ in 1 2 3; do "$work/untraced_cost"; done
"$AGENTSIGHT_BIN" record -q -o "$work/cap" -- sleep 30 &
recorder=$!
sleep 8 # BPF load and attach
echo "## recorder running (tracing only its own 'sleep')"
for _ in 1 2 3; do "$work/untraced_cost"; done
kill -INT $recorder
wait $recorder || true
