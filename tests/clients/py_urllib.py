#!/usr/bin/env python3
"""Plain-stdlib HTTPS client (http.client / urllib.request) for the mock LLM server.

  python3 py_urllib.py [--do keepalive,upload,blob,urllib,chunked-upload] [--keepalive N]
                       [--upload-bytes N] [--blob-bytes N] [--seed S] [--no-gzip]

  keepalive       N requests (default 4) on ONE http.client connection: Anthropic JSON,
                  chat completions SSE (include_usage), GET /echo-headers, Responses SSE, ...
                  (cycled). Checks the socket's local port never changed.
  upload          POST /upload with a deterministic body (default 5 MiB, Content-Length)
  chunked-upload  same body sent with Transfer-Encoding: chunked (http.client encode_chunked)
  blob            GET /blob (default 50 MiB) streamed and hashed; compared with /blob-sha
  urllib          one urllib.request POST /v1/messages (non-streaming)
Default --do: keepalive,upload,blob,urllib.

Env: MOCK_BASE_URL, MOCK_API_KEY, SSL_CERT_FILE (see _mockenv.py). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import http.client
import json
import os
import ssl
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _mockenv as M  # noqa: E402

CLIENT = "py_urllib"


def ctx() -> ssl.SSLContext:
    # create_default_context() honours SSL_CERT_FILE via OpenSSL's default verify paths.
    return ssl.create_default_context()


def upload_body(n: int, seed: str) -> bytes:
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.shake_256(f"py_urllib-upload:{seed}:{i}".encode()).digest(65536)
        i += 1
    return bytes(out[:n])


def read_body(resp: http.client.HTTPResponse) -> bytes:
    b = resp.read()
    if resp.getheader("Content-Encoding", "").lower() == "gzip":
        b = gzip.decompress(b)
    return b


def keepalive(n: int, gz: bool) -> dict:
    host, port = M.host_port()
    conn = http.client.HTTPSConnection(host, port, context=ctx(), timeout=30)
    key = M.api_key()
    ae = {"Accept-Encoding": "gzip"} if gz else {}
    plan = [
        (
            "POST",
            "/v1/messages",
            {"x-api-key": key, "anthropic-version": "2023-06-01", "Content-Type": "application/json", **ae},
            {"model": M.MODEL_ANTHROPIC, "max_tokens": 256, "messages": [{"role": "user", "content": M.PROMPT}], "tools": M.ANTHROPIC_TOOLS},
            lambda b, h: M.summary_anthropic_json(json.loads(b), "keepalive"),
        ),
        (
            "POST",
            "/v1/chat/completions",
            {"Authorization": f"Bearer {key}", "Content-Type": "application/json", **ae},
            {
                "model": M.MODEL_OPENAI,
                "stream": True,
                "stream_options": {"include_usage": True},
                "messages": [{"role": "user", "content": M.PROMPT}],
                "tools": M.OPENAI_CHAT_TOOLS,
            },
            lambda b, h: M.accumulate_chat_sse(b.decode(), "keepalive"),
        ),
        ("GET", "/echo-headers", {"Authorization": f"Bearer {key}"}, None, None),
        (
            "POST",
            "/v1/responses",
            {"Authorization": f"Bearer {key}", "Content-Type": "application/json", **ae},
            {"model": M.MODEL_OPENAI, "stream": True, "input": M.PROMPT, "tools": M.OPENAI_RESPONSES_TOOLS},
            lambda b, h: M.accumulate_responses_sse(b.decode(), "keepalive"),
        ),
    ]
    reqs, calls, ports = [], [], set()
    sock_ids = set()
    for i in range(n):
        method, path, headers, body, summarize = plan[i % len(plan)]
        headers = dict(headers, **{"x-mock-client": M.tag(CLIENT)})
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = read_body(resp)
        ports.add(conn.sock.getsockname()[1])
        sock_ids.add(id(conn.sock))
        reqs.append({"method": method, "path": path, "status": resp.status, "body_len": len(raw), "body_sha256": hashlib.sha256(raw).hexdigest()})
        if resp.status != 200:
            raise RuntimeError(f"{method} {path} -> {resp.status}: {raw[:200]!r}")
        if summarize:
            calls.append(summarize(raw, resp.headers))
        if resp.will_close:
            raise RuntimeError("server asked to close the keep-alive connection")
    local_port = conn.sock.getsockname()[1]
    conn.close()
    if len(ports) != 1 or len(sock_ids) != 1:
        raise RuntimeError(f"keep-alive broken: local ports {ports}")
    return {"local_port": local_port, "requests": reqs, "calls": calls, "same_connection": True}


def upload(n: int, seed: str, chunked: bool) -> dict:
    host, port = M.host_port()
    body = upload_body(n, seed)
    sha = hashlib.sha256(body).hexdigest()
    conn = http.client.HTTPSConnection(host, port, context=ctx(), timeout=60)
    hdrs = {"Content-Type": "application/octet-stream", "x-mock-client": M.tag(CLIENT), "Authorization": f"Bearer {M.api_key()}"}
    if chunked:
        # 256 KiB pieces, each becomes one HTTP chunk
        pieces = (body[i : i + 262144] for i in range(0, len(body), 262144))
        conn.request("POST", "/upload", body=pieces, headers=hdrs, encode_chunked=True)
    else:
        conn.request("POST", "/upload", body=body, headers=hdrs)
    resp = conn.getresponse()
    r = json.loads(resp.read())
    local_port = conn.sock.getsockname()[1]
    conn.close()
    ok = r.get("sha256") == sha and r.get("length") == n
    if not ok:
        raise RuntimeError(f"upload mismatch: sent {n} {sha}, server {r}")
    return {"length": n, "sha256": sha, "server": r, "match": ok, "chunked": chunked, "local_port": local_port}


def blob(n: int, seed: str) -> dict:
    host, port = M.host_port()
    conn = http.client.HTTPSConnection(host, port, context=ctx(), timeout=60)
    conn.request("GET", f"/blob-sha?size={n}&seed={seed}", headers={"x-mock-client": M.tag(CLIENT)})
    expected = json.loads(conn.getresponse().read())["sha256"]
    conn.request("GET", f"/blob?size={n}&seed={seed}", headers={"x-mock-client": M.tag(CLIENT)})
    resp = conn.getresponse()
    h = hashlib.sha256()
    got = 0
    while True:
        b = resp.read(1 << 20)
        if not b:
            break
        h.update(b)
        got += len(b)
    local_port = conn.sock.getsockname()[1]
    conn.close()
    ok = got == n and h.hexdigest() == expected
    if not ok:
        raise RuntimeError(f"blob mismatch: got {got} bytes {h.hexdigest()}, expected {n} {expected}")
    return {"size": n, "seed": seed, "sha256": h.hexdigest(), "expected_sha256": expected, "match": ok, "local_port": local_port}


def via_urllib() -> dict:
    body = json.dumps({"model": M.MODEL_ANTHROPIC, "max_tokens": 128, "messages": [{"role": "user", "content": "Say hello."}]}).encode()
    req = urllib.request.Request(
        M.base_url() + "/v1/messages",
        data=body,
        method="POST",
        headers={
            "x-api-key": M.api_key(),
            "anthropic-version": "2023-06-01",
            "Content-Type": "application/json",
            "x-mock-client": M.tag(CLIENT),
        },
    )
    with urllib.request.urlopen(req, context=ctx(), timeout=30) as r:
        raw = r.read()
        if r.headers.get("Content-Encoding", "").lower() == "gzip":
            raw = gzip.decompress(raw)
    return M.summary_anthropic_json(json.loads(raw), "urllib")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--do", default="keepalive,upload,blob,urllib")
    ap.add_argument("--keepalive", type=int, default=4, help="requests on the keep-alive connection")
    ap.add_argument("--upload-bytes", type=int, default=5 * 1024 * 1024)
    ap.add_argument("--blob-bytes", type=int, default=50 * 1024 * 1024)
    ap.add_argument("--seed", default="py_urllib")
    ap.add_argument("--no-gzip", action="store_true", help="do not send Accept-Encoding: gzip on keep-alive LLM calls")
    a = ap.parse_args()
    todo = [x.strip() for x in a.do.split(",") if x.strip()]
    out = {"client": CLIENT, "ok": True, "results": {}, "calls": []}
    try:
        for t in todo:
            if t == "keepalive":
                r = keepalive(a.keepalive, not a.no_gzip)
                out["calls"] += r.pop("calls")
            elif t == "upload":
                r = upload(a.upload_bytes, a.seed, chunked=False)
            elif t == "chunked-upload":
                r = upload(a.upload_bytes, a.seed + "-chunked", chunked=True)
            elif t == "blob":
                r = blob(a.blob_bytes, a.seed)
            elif t == "urllib":
                r = via_urllib()
                out["calls"].append(r)
            else:
                raise SystemExit(f"unknown --do item {t!r}")
            out["results"][t] = r
    except Exception as e:
        M.fail(CLIENT, e, results=out["results"])
    M.emit(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
