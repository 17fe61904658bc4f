#!/usr/bin/env bash
# Every built-in anomaly rule over a generated capture of ~PAYLOAD_MB MB of LLM traffic
# (analyzer/examples/gen_llm_capture.rs: 32 agents, tool-use conversations, SSE and JSON,
# gzip): wall time and peak RSS of a fresh `agentsight anomalies`, beside one that only
# decodes the same traffic (`SELECT count(*) FROM llm_calls`), median of RUNS.
#
#   PAYLOAD_MB=1000 RUNS=3 benches/anomalies.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
PAYLOAD_MB="${PAYLOAD_MB:-1000}"
RUNS="${RUNS:-3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/root/.cache/agentsight-target}"
bin="${AGENTSIGHT_BIN:-$CARGO_TARGET_DIR/debug/agentsight}"
[ -x "$bin" ] || { echo "anomalies: no agentsight at $bin (cargo build, or set AGENTSIGHT_BIN)" >&2; exit 1; }
cap="/tmp/agentsight-bench-anomalies-$PAYLOAD_MB"
if [ ! -f "$cap/manifest.json" ]; then
  # --workspace keeps the features of a normal build (no DataFusion rebuild).
  (cd "$here/.." && cargo build -q --workspace --example gen_llm_capture)
  "$CARGO_TARGET_DIR/debug/examples/gen_llm_capture" "$cap" --payload-mb "$PAYLOAD_MB"
fi

. "$here/measure.sh"

payload=$("$bin" query "$cap" --format csv "SELECT sum(call_len) FROM (SELECT DISTINCT call_seq, call_len FROM tls_chunks)" | tail -1)
calls=$("$bin" query "$cap" --format csv "SELECT count(*) FROM llm_calls" | tail -1)
rules=$("$bin" rules | grep -vc ' shared ')
findings=$("$bin" anomalies "$cap" --format csv | tail -n +2 | wc -l)
echo "capture: $payload bytes of TLS payload, $calls LLM calls; $rules rules, $findings findings; median of $RUNS"
echo
echo "| command | wall | peak RSS |"
echo "|---|---:|---:|"
measure "decode only: \`query … count(*) FROM llm_calls\`" "$bin" query "$cap" "SELECT count(*) FROM llm_calls"
measure "\`anomalies\` (all built-in rules)" "$bin" anomalies "$cap" --format csv
