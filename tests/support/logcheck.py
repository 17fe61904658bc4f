#!/usr/bin/env python3
"""Checks used by selfcheck.sh (and reusable by end-to-end tests) over the mock server's
JSONL log, its --dump-dir, and a client's one-line JSON output.

  logcheck.py client  --log LOG --from N --out CLIENT.json [--api-key KEY] [--expect-loop]
                      [--min-calls N]
      The client succeeded; its LLM calls equal, in order, the turns the server logged after
      line N (text, tool calls with ids/arguments, usage, model, stop reason, stream flag);
      every LLM request carried the API key (x-api-key or Authorization: Bearer); loops sent
      their tool results back; client-specific checks (keep-alive, uploads, blobs, raw bytes,
      two connections, late TLS) against the log.
  logcheck.py final   --log LOG [--dump-dir DIR] [--api-key KEY]
      Whole-log consistency: every connection's in/out sha256 equals its dump files; every
      HTTP/1.1 exchange's raw request/response bytes (offset, length, sha256) are the exact
      slices of the dumps and tile the connection streams with no gap or overlap; no TLS or
      protocol errors; the API key never appears in the log; server_start/server_stop present.
  logcheck.py count   --log LOG        print the number of lines (for --from)
  logcheck.py settle  --log LOG [--timeout S]
      wait until every connection_open has its closing connection record (clients exited)
Exit status 0 = all checks passed; failures are listed on stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys

LLM = {"anthropic", "openai_chat", "openai_responses"}
errors: list[str] = []


def check(cond, msg):
    if not cond:
        errors.append(msg)
    return cond


def load_log(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def cred_ok(rec, key):
    want = {hashlib.sha256(key.encode()).hexdigest(), hashlib.sha256(f"Bearer {key}".encode()).hexdigest()}
    return any(v.get("sha256") in want for v in (rec.get("credentials") or {}).values())


def compare_call(i, call, ex):
    t = ex.get("turn") or {}
    p = f"call {i} ({call.get('mode')}, {call.get('api')}) vs exchange conn {ex['conn_id']} seq {ex['seq']}"
    check(ex.get("status") == 200, f"{p}: status {ex.get('status')}")
    check(call.get("api") == ex.get("endpoint"), f"{p}: api {call.get('api')} != endpoint {ex.get('endpoint')}")
    check(bool(call.get("stream")) == bool(ex.get("stream")), f"{p}: stream {call.get('stream')} != {ex.get('stream')}")
    check(call.get("text") == t.get("text"), f"{p}: text {call.get('text')!r} != {t.get('text')!r}")
    got = [(c["id"], c["name"], c["arguments"]) for c in call.get("tool_calls") or []]
    want = [(c["id"], c["name"], c["arguments"]) for c in t.get("tool_calls") or []]
    check(got == want, f"{p}: tool calls {got} != {want}")
    u, tu = call.get("usage") or {}, t.get("usage") or {}
    check(u.get("input_tokens") == tu.get("input_tokens"), f"{p}: input_tokens {u.get('input_tokens')} != {tu.get('input_tokens')}")
    check(u.get("output_tokens") == tu.get("output_tokens"), f"{p}: output_tokens {u.get('output_tokens')} != {tu.get('output_tokens')}")
    if u.get("cache_read_input_tokens") is not None:
        check(
            u["cache_read_input_tokens"] == tu.get("cache_read_input_tokens"),
            f"{p}: cache_read {u['cache_read_input_tokens']} != {tu.get('cache_read_input_tokens')}",
        )
    check(call.get("model") == t.get("model"), f"{p}: model {call.get('model')} != {t.get('model')}")
    want_stop = t.get("status") if ex.get("endpoint") == "openai_responses" else t.get("stop_reason")
    check(call.get("stop_reason") == want_stop, f"{p}: stop_reason {call.get('stop_reason')} != {want_stop}")


def by_port(exs, port):
    return [e for e in exs if e.get("peer", "").endswith(f":{port}")]


def cmd_client(a):
    log = load_log(a.log)[a.start :]
    with open(a.out, encoding="utf-8") as f:
        lines = [ln for ln in f.read().splitlines() if ln.strip()]
    if not check(len(lines) == 1, f"client printed {len(lines)} lines on stdout, expected exactly 1"):
        return
    out = json.loads(lines[0])
    name = out.get("client")
    if not check(out.get("ok") is True, f"{name}: ok is not true: {out.get('error')}"):
        return
    exs = [r for r in log if r.get("type") == "exchange"]
    llm = [r for r in exs if r.get("endpoint") in LLM]
    calls = out.get("calls") or []
    check(len(calls) >= a.min_calls, f"{name}: only {len(calls)} LLM calls, expected >= {a.min_calls}")
    if name == "two_connections":
        # two threads interleave: compare per connection
        for c in out["connections"]:
            mine = [e for e in by_port(llm, c["local_port"])]
            texts = [r.get("text") for r in c["requests"] if r["path"] == "/v1/messages"]
            check(len(mine) == len(texts), f"two_connections {c['name']}: {len(mine)} LLM exchanges, {len(texts)} calls")
            for e, txt in zip(mine, texts):
                check(e["turn"]["text"] == txt, f"two_connections {c['name']}: text mismatch")
    else:
        check(len(calls) == len(llm), f"{name}: {len(calls)} calls printed but {len(llm)} LLM exchanges logged")
        for i, (c, e) in enumerate(zip(calls, llm)):
            compare_call(i, c, e)
    for e in llm:
        check(cred_ok(e, a.api_key), f"{name}: LLM exchange conn {e['conn_id']} seq {e['seq']} lacks the API key header")
    # loops must have sent their tool results back
    for lp in out.get("loops") or []:
        ids = [r.get("tool_use_id") or r.get("tool_call_id") or r.get("call_id") for r in lp["tool_results"]]
        sent = {x for e in llm for x in (e.get("request_summary") or {}).get("tool_results", [])}
        for i in ids:
            check(i in sent, f"{name}: loop {lp['mode']}: tool result {i} never sent back to the server")
        if a.expect_loop:
            check(len(ids) >= 1 and lp["requests"] >= 2, f"{name}: loop {lp['mode']} did no tool round trip ({lp})")
            check(bool(lp.get("final_text")), f"{name}: loop {lp['mode']} has no final text")
    res = out.get("results") or {}
    # ---- client specific -----------------------------------------------------------------
    if name == "py_urllib" and "keepalive" in res:
        k = res["keepalive"]
        mine = by_port(exs, k["local_port"])
        check(len(mine) == len(k["requests"]), f"py_urllib keepalive: {len(mine)} exchanges on port {k['local_port']}, expected {len(k['requests'])}")
        check(len({e["conn_id"] for e in mine}) == 1, "py_urllib keepalive: more than one server connection")
    if name == "node_fetch" and "keepalive" in res:
        cid = res["keepalive"]["conn_id"]
        n = len([e for e in exs if e["conn_id"] == cid])
        check(n >= len(res["keepalive"]["requests"]), f"node_fetch keepalive: conn {cid} has {n} exchanges")
    for key in ("upload", "chunked-upload"):
        if key in res:
            u = res[key]
            m = [e for e in exs if e["path"] == "/upload" and e["req_body_sha256"] == u["sha256"] and e["req_body_len"] == u["length"]]
            check(len(m) == 1, f"{name} {key}: server log has {len(m)} uploads with sha {u['sha256'][:12]}")
            if m and key == "chunked-upload" and m[0]["proto"] == "http/1.1":
                check(m[0]["req_chunked"], f"{name} chunked-upload: server did not see chunked encoding")
    if "blob" in res:
        b = res["blob"]
        m = [e for e in exs if e["path"] == "/blob" and e.get("resp_body_sha256") == b["sha256"] and e.get("resp_body_len") == b["size"]]
        check(len(m) == 1, f"{name} blob: server log has {len(m)} /blob exchanges with the client's sha")
    if name == "raw_http":
        mine = by_port(exs, out["local_port"])
        check(len(mine) == len(out["exchanges"]), f"raw_http: {len(mine)} logged vs {len(out['exchanges'])} sent")
        for c, e in zip(out["exchanges"], mine):
            check(c["sent_sha256"] == e["req_sha256"] and c["sent_len"] == e["req_len"], f"raw_http {c['name']}: request bytes differ from server's record")
            check(c["recv_sha256"] == e["resp_sha256"] and c["recv_len"] == e["resp_len"], f"raw_http {c['name']}: response bytes differ from server's record")
        conn = [r for r in log if r.get("type") == "connection" and r["peer"].endswith(f":{out['local_port']}")]
        if check(len(conn) == 1, "raw_http: connection record missing"):
            cr = conn[0]
            check(cr["in_sha256"] == out["sent_total_sha256"] and cr["in_len"] == out["sent_total_len"], "raw_http: connection inbound stream differs")
            check(cr["out_sha256"] == out["recv_total_sha256"] and cr["out_len"] == out["recv_total_len"], "raw_http: connection outbound stream differs")
        check(any(e["req_chunked"] for e in mine), "raw_http: no chunked request seen by server")
        check(any(e.get("headers", {}).get("expect") for e in mine), "raw_http: no Expect request seen by server")
    if name == "two_connections":
        conns = out["connections"]
        cids = set()
        for c in conns:
            mine = by_port(exs, c["local_port"])
            cids |= {e["conn_id"] for e in mine}
            check(len(mine) == len(c["requests"]), f"two_connections {c['name']}: {len(mine)} exchanges logged vs {len(c['requests'])}")
            for r, e in zip(c["requests"], mine):
                check(r["path"] == e["path"], f"two_connections {c['name']}: path order differs")
                if "req_body_sha256" in r:
                    check(r["req_body_sha256"] == e["req_body_sha256"], f"two_connections {c['name']}: request body landed on the wrong connection")
                if "resp_body_sha256" in r:
                    check(r["resp_body_sha256"] == e["resp_body_sha256"], f"two_connections {c['name']}: response body differs")
        check(len(cids) == 2, f"two_connections: server saw conn ids {cids}, expected 2")
        opens = {r["conn_id"]: r for r in log if r.get("type") == "connection_open" and r["conn_id"] in cids}
        closes = {r["conn_id"]: r for r in log if r.get("type") == "connection" and r["conn_id"] in cids}
        if len(opens) == 2 and len(closes) == 2:
            first_close = min(r["t_close_mono_ns"] for r in closes.values())
            last_open = max(r["t_mono_ns"] for r in opens.values())
            check(last_open < first_close, "two_connections: connections were not concurrent")
    if name == "late_tls":
        mine = by_port(exs, out["local_port"])
        check(len(mine) == 2, f"late_tls: {len(mine)} exchanges logged")
        if mine:
            check(mine[0]["t_start"] >= out["t_sleep_start"] + out["delay"] - 0.05, "late_tls: request came before the delay elapsed")
        if not out.get("import_early"):
            check(out["libssl_mapped_before_sleep"] is False, "late_tls: libssl was already mapped before the sleep")
        check(out.get("libssl_mapped_after") is True, "late_tls: libssl not mapped after TLS")
    print(f"ok: {name}: {len(calls)} LLM calls, {len(exs)} exchanges checked" if not errors else f"FAILED: {name}")


def sha_file_slice(f, off, n):
    f.seek(off)
    h = hashlib.sha256()
    left = n
    while left:
        b = f.read(min(left, 1 << 20))
        if not b:
            break
        h.update(b)
        left -= len(b)
    return h.hexdigest(), n - left


def cmd_final(a):
    log = load_log(a.log)
    types = [r.get("type") for r in log]
    check(types and types[0] == "server_start", "log does not start with server_start")
    check("server_stop" in types, "no server_stop record (server did not shut down cleanly)")
    for r in log:
        if r.get("type") in ("tls_error", "protocol_error"):
            errors.append(f"{r['type']}: {r}")
        if r.get("type") == "connection" and r.get("error"):
            errors.append(f"connection {r['conn_id']} error: {r['error']}")
    if a.api_key:
        with open(a.log, "rb") as f:
            check(a.api_key.encode() not in f.read(), "the API key appears in the server log")
    conns = {r["conn_id"]: r for r in log if r.get("type") == "connection"}
    opens = {r["conn_id"] for r in log if r.get("type") == "connection_open"}
    check(set(conns) == opens, f"connections opened but never closed/logged: {sorted(opens - set(conns))}")
    exs = [r for r in log if r.get("type") == "exchange"]
    n_h1 = n_h2 = 0
    for cid, c in conns.items():
        mine = [e for e in exs if e["conn_id"] == cid]
        check(len(mine) == c["exchanges"], f"conn {cid}: {len(mine)} exchange records vs {c['exchanges']}")
        if c["proto"] == "http/1.1":
            n_h1 += 1
            # exchanges tile the streams exactly
            off_in = off_out = 0
            for e in mine:
                check(e["req_offset"] == off_in, f"conn {cid} seq {e['seq']}: req_offset {e['req_offset']} != {off_in}")
                check(e["resp_offset"] == off_out, f"conn {cid} seq {e['seq']}: resp_offset {e['resp_offset']} != {off_out}")
                off_in += e["req_len"]
                off_out += e["resp_len"]
            check(off_in + c["unparsed_in_len"] == c["in_len"], f"conn {cid}: requests cover {off_in} of {c['in_len']} inbound bytes")
            check(off_out == c["out_len"], f"conn {cid}: responses cover {off_out} of {c['out_len']} outbound bytes")
        else:
            n_h2 += 1
        if a.dump_dir:
            pin = os.path.join(a.dump_dir, f"conn-{cid}.in")
            pout = os.path.join(a.dump_dir, f"conn-{cid}.out")
            if not check(os.path.exists(pin) and os.path.exists(pout), f"conn {cid}: dump files missing"):
                continue
            with open(pin, "rb") as fi, open(pout, "rb") as fo:
                check(sha_file_slice(fi, 0, c["in_len"]) == (c["in_sha256"], c["in_len"]) and os.path.getsize(pin) == c["in_len"], f"conn {cid}: inbound dump != logged sha/len")
                check(sha_file_slice(fo, 0, c["out_len"]) == (c["out_sha256"], c["out_len"]) and os.path.getsize(pout) == c["out_len"], f"conn {cid}: outbound dump != logged sha/len")
                if c["proto"] == "http/1.1":
                    for e in mine:
                        check(sha_file_slice(fi, e["req_offset"], e["req_len"]) == (e["req_sha256"], e["req_len"]), f"conn {cid} seq {e['seq']}: request slice hash mismatch")
                        check(sha_file_slice(fo, e["resp_offset"], e["resp_len"]) == (e["resp_sha256"], e["resp_len"]), f"conn {cid} seq {e['seq']}: response slice hash mismatch")
    gz = [e for e in exs if e.get("gzip")]
    check(any(e.get("stream") for e in gz) and any(e.get("endpoint") in LLM and not e.get("stream") for e in gz), "expected gzip on both streamed and non-streamed LLM responses")
    print(f"ok: final: {len(conns)} connections ({n_h1} http/1.1, {n_h2} h2), {len(exs)} exchanges, {len(gz)} gzip responses" if not errors else "FAILED: final")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("client")
    c.add_argument("--log", required=True)
    c.add_argument("--from", dest="start", type=int, default=0)
    c.add_argument("--out", required=True)
    c.add_argument("--api-key", default=os.environ.get("MOCK_API_KEY", "sk-mock-test-key-0123456789abcdef"))
    c.add_argument("--expect-loop", action="store_true")
    c.add_argument("--min-calls", type=int, default=0)
    f = sub.add_parser("final")
    f.add_argument("--log", required=True)
    f.add_argument("--dump-dir")
    f.add_argument("--api-key", default=os.environ.get("MOCK_API_KEY"))
    n = sub.add_parser("count")
    n.add_argument("--log", required=True)
    st = sub.add_parser("settle")
    st.add_argument("--log", required=True)
    st.add_argument("--timeout", type=float, default=10.0)
    a = ap.parse_args()
    if a.cmd == "count":
        print(len(load_log(a.log)))
        return 0
    if a.cmd == "settle":
        import time

        deadline = time.monotonic() + a.timeout
        while True:
            log = load_log(a.log)
            open_ids = {r["conn_id"] for r in log if r.get("type") == "connection_open"}
            closed = {r["conn_id"] for r in log if r.get("type") == "connection"}
            if open_ids <= closed:
                return 0
            if time.monotonic() > deadline:
                print(f"settle: connections still open after {a.timeout}s: {sorted(open_ids - closed)}", file=sys.stderr)
                return 1
            time.sleep(0.05)
    try:
        (cmd_client if a.cmd == "client" else cmd_final)(a)
    except Exception as e:  # a malformed log/output is a failure, not a crash
        import traceback

        traceback.print_exc()
        errors.append(f"checker crashed: {type(e).__name__}: {e}")
    for e in errors:
        print("  FAIL: " + e, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
