#!/usr/bin/env bash
# One command to see agentsight work: installs what it needs, builds, starts a
# local HTTPS mock LLM API, records an agent-like session against it (an SDK
# tool-use loop, a script written then executed, a file read, a curl), and
# shows what the capture holds: the decoded LLM conversation, the causal graph,
# the anomaly findings, and an incident report with its verified evidence bundle.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/root/.cache/agentsight-target}"
cargo build --quiet --workspace
BIN="$CARGO_TARGET_DIR/debug/agentsight"

WORK="$(mktemp -d /tmp/agentsight-demo.XXXXXX)"
python3 tests/support/mock_llm.py --cert-dir "$WORK/certs" --ready-file "$WORK/ready.json" \
  --quiet-ready --max-seconds 300 >/dev/null 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$WORK/ready.json" ] && break; sleep 0.1; done
PORT="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$WORK/ready.json")"
export MOCK_BASE_URL="https://localhost:$PORT" MOCK_API_KEY="sk-demo-secret-key-do-not-store"
export SSL_CERT_FILE="$WORK/certs/cert.pem" NODE_EXTRA_CA_CERTS="$WORK/certs/cert.pem"

echo "== recording an agent-like session into $WORK/capture"
"$BIN" record -o "$WORK/capture" -- bash -c '
  python3 tests/clients/py_anthropic.py --mode loop > /dev/null
  printf "#!/bin/sh\ncurl -s --cacert \"$SSL_CERT_FILE\" \"$MOCK_BASE_URL/echo-headers\" > /dev/null\n" > '"$WORK"'/tool.sh
  chmod +x '"$WORK"'/tool.sh && '"$WORK"'/tool.sh
  cat /etc/hostname > /dev/null'

echo; echo "== agentsight info"
"$BIN" info "$WORK/capture"
echo; echo "== processes that ran (agentsight query ... FROM processes)"
"$BIN" query "$WORK/capture" "SELECT pid, ppid, argv, exit_code FROM processes WHERE NOT snapshot AND argv IS NOT NULL AND comm NOT LIKE 'pyenv%' AND array_to_string(argv, ' ') NOT LIKE '%pyenv%' ORDER BY start_time"
echo; echo "== files written or made executable"
"$BIN" query "$WORK/capture" "SELECT comm, op, path, CASE WHEN op = 'chmod' THEN concat('mode ', ((mode >> 6) & 7) * 100 + ((mode >> 3) & 7) * 10 + (mode & 7)) ELSE open_flags(flags) END AS detail, ret FROM file_events WHERE (op <> 'open' OR flags & 1 = 1) AND path <> '/dev/null' ORDER BY ts_ns"
echo; echo "== TLS plaintext per connection (the API key is masked at record time)"
"$BIN" query "$WORK/capture" "SELECT pid, direction, count(*) AS chunks, sum(length(encode(data, 'hex')) / 2) AS bytes, bool_or(redacted) AS redacted FROM tls_chunks GROUP BY pid, ssl_ptr, direction ORDER BY pid"
echo; echo "== LLM calls decoded from the TLS plaintext (agentsight query ... FROM llm_calls)"
"$BIN" query "$WORK/capture" "SELECT call_id, conversation_id, turn, provider, model, streaming, stop_reason, input_tokens, output_tokens, tool_call_count, response_text FROM llm_calls ORDER BY call_id"
echo; echo "== the conversation as a transcript (agentsight conversations)"
"$BIN" conversations "$WORK/capture"
echo; echo "== what the tool calls caused (agentsight graph)"
"$BIN" graph "$WORK/capture"
echo; echo "== anomaly findings (agentsight anomalies)"
"$BIN" anomalies "$WORK/capture" || true
echo; echo "== the incident report (agentsight report) and its evidence bundle (agentsight verify --bundle)"
"$BIN" report "$WORK/capture" -o "$WORK/report" --title "agentsight demo"
"$BIN" verify --bundle "$WORK/report/evidence" --capture "$WORK/capture"
echo; echo "capture kept in $WORK/capture, report in $WORK/report/report.html — try: $BIN shell $WORK/capture"
