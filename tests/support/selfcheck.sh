#!/usr/bin/env bash
# Self-check of the end-to-end test infrastructure (no recorder involved):
# starts tests/support/mock_llm.py, runs every client in tests/clients against it plus curl,
# and checks each client's output against the server's JSONL log (logcheck.py), then the
# whole log against the per-connection plaintext dumps. Exits non-zero on any failure.
#
#   tests/support/selfcheck.sh            # work dir is a fresh temp dir, removed on success
#   SELFCHECK_DIR=/tmp/sc tests/support/selfcheck.sh   # keep artefacts in /tmp/sc
#
# Needs: python3 with tests/requirements-test.txt installed, node + `npm ci` in tests/clients,
# curl, openssl or the cryptography package.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CLIENTS="$ROOT/tests/clients"
PY="${PYTHON:-python3}"
NODE="${NODE:-node}"
KEEP=0
if [[ -n "${SELFCHECK_DIR:-}" ]]; then WORK="$SELFCHECK_DIR"; KEEP=1; mkdir -p "$WORK"; else WORK="$(mktemp -d /tmp/mock-llm-selfcheck.XXXXXX)"; fi
LOG="$WORK/server.jsonl"
DUMP="$WORK/dump"
OUT="$WORK/out"
rm -rf "$DUMP" "$OUT" "$LOG" "$WORK/ready.json"
mkdir -p "$OUT"
export MOCK_API_KEY="${MOCK_API_KEY:-sk-mock-selfcheck-SECRET-7f3a9c}"
FAILS=0
SERVER_PID=""

say() { printf '%s\n' "$*" >&2; }
fail() { say "FAIL: $*"; FAILS=$((FAILS + 1)); }

cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
  fi
}
trap cleanup EXIT

# ---- prerequisites ------------------------------------------------------------------------
"$PY" -c 'import openai, anthropic' 2>/dev/null || { say "python openai/anthropic missing: pip install -r tests/requirements-test.txt"; exit 2; }
[[ -d "$CLIENTS/node_modules/openai" && -d "$CLIENTS/node_modules/@anthropic-ai/sdk" ]] || { say "node modules missing: (cd tests/clients && npm ci)"; exit 2; }
command -v curl >/dev/null || { say "curl missing"; exit 2; }

# ---- server ---------------------------------------------------------------------------------
"$PY" "$HERE/mock_llm.py" --cert-dir "$WORK/certs" --log "$LOG" --dump-dir "$DUMP" \
  --ready-file "$WORK/ready.json" --quiet-ready --max-seconds 600 2>"$WORK/server.stderr" &
SERVER_PID=$!
for _ in $(seq 1 200); do [[ -s "$WORK/ready.json" ]] && break; sleep 0.05; done
[[ -s "$WORK/ready.json" ]] || { say "server did not become ready"; cat "$WORK/server.stderr" >&2; exit 1; }
PORT="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$WORK/ready.json")"
CERT="$WORK/certs/cert.pem"
export MOCK_BASE_URL="https://localhost:$PORT"
export SSL_CERT_FILE="$CERT" NODE_EXTRA_CA_CERTS="$CERT" REQUESTS_CA_BUNDLE="$CERT"
say "server pid $SERVER_PID on $MOCK_BASE_URL (work dir $WORK)"

CURL=(curl -sS --fail --max-time 60 --cacert "$CERT")
reset_script() { "${CURL[@]}" -X POST "$MOCK_BASE_URL/_control/reset" -o /dev/null || fail "reset"; }
settle() { "$PY" "$HERE/logcheck.py" settle --log "$LOG" --timeout 10 || fail "connections did not close"; }

# run_client NAME [logcheck flags...] -- command...
run_client() {
  local name="$1"; shift
  local flags=()
  while [[ "$1" != "--" ]]; do flags+=("$1"); shift; done
  shift
  reset_script
  settle
  local from
  from="$("$PY" "$HERE/logcheck.py" count --log "$LOG")"
  local t0=$SECONDS
  if ! timeout 180 "$@" >"$OUT/$name.json" 2>"$OUT/$name.stderr"; then
    fail "$name exited non-zero: $(head -c 600 "$OUT/$name.json") $(tail -5 "$OUT/$name.stderr")"
  fi
  settle
  if "$PY" "$HERE/logcheck.py" client --log "$LOG" --from "$from" --out "$OUT/$name.json" "${flags[@]}"; then
    say "  [$name: $((SECONDS - t0))s]"
  else
    fail "$name log check"
  fi
}

run_client py_urllib --min-calls 4 -- "$PY" "$CLIENTS/py_urllib.py" --do keepalive,upload,chunked-upload,blob,urllib
run_client py_anthropic --expect-loop --min-calls 6 -- "$PY" "$CLIENTS/py_anthropic.py" --mode all
run_client py_anthropic_more --expect-loop --min-calls 3 -- "$PY" "$CLIENTS/py_anthropic.py" --mode loop-stream,raw-stream
run_client py_openai --expect-loop --min-calls 8 -- "$PY" "$CLIENTS/py_openai.py" --mode all
run_client py_openai_more --expect-loop --min-calls 3 -- "$PY" "$CLIENTS/py_openai.py" --mode responses-loop,responses-raw-stream
run_client node_fetch --min-calls 3 -- "$NODE" "$CLIENTS/node_fetch.mjs" --do keepalive,upload,chunked-upload,blob
run_client node_anthropic --expect-loop --min-calls 6 -- "$NODE" "$CLIENTS/node_anthropic.mjs" --mode all
run_client node_anthropic_more --expect-loop --min-calls 3 -- "$NODE" "$CLIENTS/node_anthropic.mjs" --mode loop-stream,raw-stream
run_client node_openai --expect-loop --min-calls 8 -- "$NODE" "$CLIENTS/node_openai.mjs" --mode all
run_client node_openai_more --expect-loop --min-calls 3 -- "$NODE" "$CLIENTS/node_openai.mjs" --mode responses-loop,responses-raw-stream
run_client two_connections -- "$PY" "$CLIENTS/two_connections.py"
run_client late_tls --min-calls 1 -- "$PY" "$CLIENTS/late_tls.py" --delay 2
run_client raw_http --min-calls 1 -- "$PY" "$CLIENTS/raw_http.py"

# ---- curl: h2 (ALPN) and http/1.1 downloads/uploads, checked against /blob-sha and the log ----
curl_blob() { # proto size seed
  local proto="$1" size="$2" seed="$3" got want
  got="$("${CURL[@]}" "$proto" "$MOCK_BASE_URL/blob?size=$size&seed=$seed" | sha256sum | cut -d' ' -f1)"
  want="$("${CURL[@]}" "$MOCK_BASE_URL/blob-sha?size=$size&seed=$seed" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["sha256"])')"
  if [[ -n "$got" && "$got" == "$want" ]]; then say "ok: curl $proto blob $size bytes sha256 $got"; else fail "curl $proto blob $size: $got != $want"; fi
  settle
  "$PY" - "$LOG" "$size" "$seed" "$got" "${proto#--}" <<'EOF' || fail "curl $proto blob $size not in log"
import json, sys
log, size, seed, sha, proto = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
want_proto = "h2" if proto in ("http2", "") else "http/1.1"
m = [r for r in map(json.loads, open(log)) if r.get("type") == "exchange" and r.get("path") == "/blob"
     and r.get("blob_seed") == seed and r.get("blob_size") == size]
ok = len(m) == 1 and m[0]["resp_body_sha256"] == sha and m[0]["proto"] == want_proto
sys.exit(0 if ok else 1)
EOF
}
curl_blob --http2 1000000 curl-1m
curl_blob --http1.1 1000000 curl-1m-h1
curl_blob --http2 52428800 curl-50m
curl_blob --http1.1 52428800 curl-50m-h1

"$PY" -c 'import hashlib,sys; sys.stdout.buffer.write(hashlib.shake_256(b"selfcheck-curl-upload").digest(5242880))' >"$WORK/upload.bin"
UP_SHA="$(sha256sum "$WORK/upload.bin" | cut -d' ' -f1)"
for proto in --http2 --http1.1; do
  got="$("${CURL[@]}" "$proto" -H "Authorization: Bearer $MOCK_API_KEY" --data-binary @"$WORK/upload.bin" -H 'Content-Type: application/octet-stream' "$MOCK_BASE_URL/upload" | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d["sha256"], d["length"])')"
  if [[ "$got" == "$UP_SHA 5242880" ]]; then say "ok: curl $proto 5 MiB upload"; else fail "curl $proto upload: $got"; fi
done
for proto in --http2 --http1.1; do
  body="$("${CURL[@]}" "$proto" --compressed -H "x-api-key: $MOCK_API_KEY" -H 'content-type: application/json' \
    -d '{"model":"claude-mock-1","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}' "$MOCK_BASE_URL/v1/messages")"
  if grep -q '^event: message_stop' <<<"$body"; then say "ok: curl $proto Anthropic SSE"; else fail "curl $proto SSE: $(head -c 300 <<<"$body")"; fi
done
code="$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CERT" "$MOCK_BASE_URL/no-such-path")"
[[ "$code" == 404 ]] && say "ok: 404 for unknown path" || fail "unknown path gave $code"

# ---- shutdown and whole-log checks -------------------------------------------------------------
settle
kill -TERM "$SERVER_PID"
for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$SERVER_PID" 2>/dev/null; then fail "server did not exit within 5 s of SIGTERM"; fi
wait "$SERVER_PID" 2>/dev/null
rc=$?
[[ $rc == 0 ]] || fail "server exit status $rc"
SERVER_PID=""
"$PY" "$HERE/logcheck.py" final --log "$LOG" --dump-dir "$DUMP" --api-key "$MOCK_API_KEY" || fail "final log check"
if [[ -s "$WORK/server.stderr" ]]; then say "server stderr:"; cat "$WORK/server.stderr" >&2; fail "server wrote to stderr"; fi

if [[ $FAILS -gt 0 ]]; then
  say "SELFCHECK FAILED ($FAILS failures); artefacts in $WORK"
  exit 1
fi
say "SELFCHECK PASSED"
[[ $KEEP == 1 ]] || rm -rf "$WORK"
exit 0
