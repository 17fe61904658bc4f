#!/usr/bin/env bash
# Causal graph on a generated capture of PROCESSES processes with FILES file opens each
# (default 100k x 10 = 1M file events): wall time and peak RSS of a fresh `agentsight` process
# that builds the graph, beside one that only scans the same raw rows, and `explain` latency.
#
#   PROCESSES=100000 FILES=10 RUNS=3 benches/graph_build.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
PROCESSES="${PROCESSES:-100000}"
FILES="${FILES:-10}"
RUNS="${RUNS:-3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/root/.cache/agentsight-target}"
bin="${AGENTSIGHT_BIN:-$CARGO_TARGET_DIR/debug/agentsight}"
[ -x "$bin" ] || { echo "graph_build: no agentsight at $bin (cargo build, or set AGENTSIGHT_BIN)" >&2; exit 1; }
cap="/tmp/agentsight-bench-graph-$PROCESSES-$FILES"
if [ ! -f "$cap/manifest.json" ]; then
  # --workspace keeps the features of a normal build (no DataFusion rebuild).
  (cd "$here/.." && cargo build -q --workspace --example gen_capture)
  "$CARGO_TARGET_DIR/debug/examples/gen_capture" synthetic "$cap" "$PROCESSES" "$FILES"
fi

. "$here/measure.sh"

pid=$("$bin" query "$cap" --format csv "SELECT pid FROM processes ORDER BY start_ns DESC LIMIT 1" | tail -1)
edges=$("$bin" query "$cap" --format csv "SELECT count(*) FROM graph_edges" | tail -1)
nodes=$("$bin" query "$cap" --format csv "SELECT count(*) FROM graph_nodes" | tail -1)
echo "capture: $PROCESSES processes x $FILES file events; graph: $nodes nodes, $edges edges; median of $RUNS"
echo
echo "| command | wall | peak RSS |"
echo "|---|---:|---:|"
measure "raw scan only: count(*) of process_events, file_events, net_events" \
  "$bin" query "$cap" "SELECT (SELECT count(*) FROM process_events) + (SELECT count(*) FROM file_events) + (SELECT count(*) FROM net_events)"
measure "graph build: count(*) FROM graph_edges" "$bin" query "$cap" "SELECT count(*) FROM graph_edges"
measure "explain --pid $pid (fresh process: open, build, walk)" "$bin" explain "$cap" --pid "$pid"
# The walk alone, on a graph already built (what a long-lived session pays).
(cd "$here/.." && cargo build -q --workspace --example bench_explain)
echo
echo "explain walks on the built graph: $("$CARGO_TARGET_DIR/debug/examples/bench_explain" "$cap" 1000)"
