#!/usr/bin/env python3
"""Two concurrent HTTPS connections in one process (one thread each), with distinct bodies,
so a capture can be checked to keep them apart by connection identity.

  python3 two_connections.py [--rounds N] [--upload-bytes N] [--blob-bytes N] [--sequential]

Each thread opens its own keep-alive http.client connection (local ports differ), then for
each round (both threads released together by a barrier so their traffic interleaves):
  POST /upload   body = b"two_connections conn=<A|B> round=<r>\\n" + SHAKE-256 bytes (default 256 KiB)
  GET  /blob?size=<blob-bytes>&seed=two_connections-<A|B>-<r>   (default 1 MiB)
  POST /v1/messages (stream) with a user message naming the connection
With --sequential, one thread runs connections C0, C1, ... one after the other, closing each and
opening a spare file before the next (so each socket gets a new fd number), until one gets the
SSL* its predecessor freed (glibc settles on reusing it after a connection or two; at most
--max-sequential connections). Each connection reports its SSL* (read from CPython's ssl object).
Env: MOCK_BASE_URL, MOCK_API_KEY, SSL_CERT_FILE. Prints one JSON line:
  {"client":"two_connections","ok":true,"connections":[{"name":"A","local_port":...,
   "requests":[{"method","path","req_body_sha256","req_body_len","resp_body_sha256","resp_body_len"}...]}, {...B...}]}
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import http.client
import json
import os
import ssl
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _mockenv as M  # noqa: E402

CLIENT = "two_connections"


def body_for(name: str, rnd: int, n: int) -> bytes:
    head = f"two_connections conn={name} round={rnd}\n".encode()
    out = bytearray(head)
    i = 0
    while len(out) < n:
        out += hashlib.shake_256(f"two_connections:{name}:{rnd}:{i}".encode()).digest(65536)
        i += 1
    return bytes(out[:n])


def ssl_pointer(sock: ssl.SSLSocket) -> int:
    """The SSL* behind a CPython 3.8+ _ssl._SSLSocket: after PyObject_HEAD and the socket weakref."""
    return ctypes.c_void_p.from_address(id(sock._sslobj) + 16 + ctypes.sizeof(ctypes.c_void_p)).value or 0


def worker(name: str, a, barrier: threading.Barrier, result: dict):
    try:
        host, port = M.host_port()
        conn = http.client.HTTPSConnection(host, port, context=ssl.create_default_context(), timeout=60)
        conn.connect()
        result["local_port"] = conn.sock.getsockname()[1]
        result["fd"] = conn.sock.fileno()
        result["ssl_ptr"] = ssl_pointer(conn.sock)
        reqs = result["requests"] = []
        hdr = {"x-mock-client": M.tag(CLIENT) + "-" + name}
        for rnd in range(a.rounds):
            barrier.wait(timeout=30)
            body = body_for(name, rnd, a.upload_bytes)
            conn.request("POST", "/upload", body=body, headers=dict(hdr, **{"Content-Type": "application/octet-stream"}))
            r = json.loads(conn.getresponse().read())
            if r["sha256"] != hashlib.sha256(body).hexdigest():
                raise RuntimeError(f"{name}: upload hash mismatch")
            reqs.append({"method": "POST", "path": "/upload", "req_body_len": len(body), "req_body_sha256": r["sha256"]})
            seed = f"two_connections-{name}-{rnd}"
            conn.request("GET", f"/blob?size={a.blob_bytes}&seed={seed}", headers=hdr)
            b = conn.getresponse().read()
            reqs.append(
                {"method": "GET", "path": "/blob", "seed": seed, "resp_body_len": len(b), "resp_body_sha256": hashlib.sha256(b).hexdigest()}
            )
            msg = json.dumps(
                {
                    "model": M.MODEL_ANTHROPIC,
                    "max_tokens": 64,
                    "stream": True,
                    "messages": [{"role": "user", "content": f"connection {name} round {rnd}: hello"}],
                }
            ).encode()
            conn.request(
                "POST",
                "/v1/messages",
                body=msg,
                headers=dict(hdr, **{"x-api-key": M.api_key(), "anthropic-version": "2023-06-01", "Content-Type": "application/json"}),
            )
            resp = conn.getresponse()
            raw = resp.read()
            if resp.getheader("Content-Encoding") == "gzip":
                import gzip

                raw = gzip.decompress(raw)
            s = M.accumulate_anthropic_sse(raw.decode(), f"conn-{name}")
            reqs.append(
                {
                    "method": "POST",
                    "path": "/v1/messages",
                    "req_body_len": len(msg),
                    "req_body_sha256": hashlib.sha256(msg).hexdigest(),
                    "text": s["text"],
                }
            )
        if conn.sock.getsockname()[1] != result["local_port"]:
            raise RuntimeError(f"{name}: connection changed")
        conn.close()
        result["ok"] = True
    except Exception as e:  # reported by main
        result["ok"] = False
        result["error"] = f"{type(e).__name__}: {e}"
        try:
            barrier.abort()
        except Exception:
            pass


def sequential(a) -> tuple[list, list, str | None]:
    alone = threading.Barrier(1)
    conns, spares = [], []
    for i in range(a.max_sequential):
        r = {"name": f"C{i}"}
        conns.append(r)
        worker(r["name"], a, alone, r)
        if not r.get("ok"):
            return conns, spares, None
        if i > 0 and r["ssl_ptr"] == conns[-2]["ssl_ptr"]:
            return conns, spares, None
        # a raw fd takes the number this socket had, without touching the C heap
        spares.append(os.open(os.devnull, os.O_RDONLY))
    return conns, spares, f"no connection reused its predecessor's SSL* in {a.max_sequential}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--upload-bytes", type=int, default=256 * 1024)
    ap.add_argument("--blob-bytes", type=int, default=1024 * 1024)
    ap.add_argument("--sequential", action="store_true")
    ap.add_argument("--max-sequential", type=int, default=8)
    a = ap.parse_args()
    if a.sequential:
        conns, spares, error = sequential(a)
        for fd in spares:
            os.close(fd)
    else:
        conns = [{"name": "A"}, {"name": "B"}]
        barrier = threading.Barrier(2)
        ths = [threading.Thread(target=worker, args=(r["name"], a, barrier, r), name=f"conn-{r['name']}") for r in conns]
        for t in ths:
            t.start()
        for t in ths:
            t.join(timeout=120)
        error = None
    ports = [r.get("local_port") for r in conns]
    ok = error is None and all(r.get("ok") for r in conns) and len(set(ports)) == len(ports)
    out = {"client": CLIENT, "ok": ok, "connections": conns}
    if not ok:
        out["error"] = "; ".join(r["error"] for r in conns if r.get("error")) or error or "connections failed"
    M.emit(out)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
