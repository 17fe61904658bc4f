#!/usr/bin/env python3
"""Hand-written HTTP/1.1 over one raw TLS socket: knows the exact bytes it sent and received
per exchange, so the server log (and a capture) can be checked byte-for-byte.

  python3 raw_http.py

Exchanges on ONE connection (ALPN http/1.1):
  1. GET /echo-headers                         (x-api-key + Authorization headers)
  2. POST /upload, Transfer-Encoding: chunked  (3 chunks, one with a chunk extension, a trailer)
  3. POST /upload, Expect: 100-continue        (waits for "100 Continue", then 100000-byte body)
  4+5. two pipelined GET /healthz in a single write
  6. POST /v1/messages "stream": true          (SSE response, chunked)
  7. GET /blob?size=300000&seed=raw_http, Connection: close
"sent"/"recv" bytes of an exchange are exactly what went over the socket for it (recv
includes interim 1xx responses). Env: MOCK_BASE_URL, MOCK_API_KEY, SSL_CERT_FILE.
Prints one JSON line: {"client":"raw_http","ok":true,"local_port":...,"exchanges":[{"name",
"method","path","status","sent_len","sent_sha256","recv_len","recv_sha256"}...],
"sent_total_len","sent_total_sha256","recv_total_len","recv_total_sha256"}.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import ssl
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _mockenv as M  # noqa: E402

CLIENT = "raw_http"


class Conn:
    def __init__(self):
        host, port = M.host_port()
        ctx = ssl.create_default_context()
        ctx.set_alpn_protocols(["http/1.1"])
        raw = socket.create_connection((host, port), timeout=30)
        self.s = ctx.wrap_socket(raw, server_hostname=host)
        self.buf = bytearray()
        self.sent_all = hashlib.sha256()
        self.recv_all = hashlib.sha256()
        self.sent_n = 0
        self.recv_n = 0

    def send(self, b: bytes):
        self.s.sendall(b)
        self.sent_all.update(b)
        self.sent_n += len(b)

    def _fill(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError("server closed")
        self.recv_all.update(d)
        self.recv_n += len(d)
        self.buf += d

    def take(self, n):
        while len(self.buf) < n:
            self._fill()
        d = bytes(self.buf[:n])
        del self.buf[:n]
        return d

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        i = self.buf.index(b"\r\n") + 2
        return self.take(i)

    def head(self):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        return self.take(self.buf.index(b"\r\n\r\n") + 4)

    def response(self):
        """Read one full response (incl. any interim 1xx). Returns (raw_bytes, status, body)."""
        raw = bytearray()
        while True:
            h = self.head()
            raw += h
            status = int(h.split(b" ", 2)[1])
            if 100 <= status < 200:
                continue
            break
        hdrs = {}
        for ln in h.decode("latin-1").split("\r\n")[1:]:
            if ln:
                k, v = ln.split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
        body = bytearray()
        if "chunked" in hdrs.get("transfer-encoding", ""):
            while True:
                ln = self.line()
                raw += ln
                n = int(ln.split(b";")[0], 16)
                if n == 0:
                    while True:
                        t = self.line()
                        raw += t
                        if t == b"\r\n":
                            break
                    break
                d = self.take(n + 2)
                raw += d
                body += d[:-2]
        elif "content-length" in hdrs:
            d = self.take(int(hdrs["content-length"]))
            raw += d
            body += d
        return bytes(raw), status, bytes(body), hdrs


def sha(b):
    return hashlib.sha256(b).hexdigest()


def main() -> int:
    key = M.api_key()
    host, port = M.host_port()
    H = f"Host: {host}:{port}\r\nUser-Agent: agentsight-raw-http/1\r\nx-mock-client: {M.tag(CLIENT)}\r\n"
    ex = []
    try:
        c = Conn()
        local_port = c.s.getsockname()[1]

        def record(name, method, path, sent, raw, status):
            ex.append(
                {"name": name, "method": method, "path": path, "status": status, "sent_len": len(sent), "sent_sha256": sha(sent), "recv_len": len(raw), "recv_sha256": sha(raw)}
            )

        # 1. simple GET with credentials
        req = (f"GET /echo-headers HTTP/1.1\r\n{H}x-api-key: {key}\r\nAuthorization: Bearer {key}\r\n\r\n").encode()
        c.send(req)
        raw, st, body, _ = c.response()
        record("echo", "GET", "/echo-headers", req, raw, st)

        # 2. chunked upload with an extension and a trailer
        parts = [b"alpha-" * 1000, b"beta-" * 3000, b"gamma"]
        chunked = b"".join(
            (b"%x;ext=1\r\n" % len(p) if i == 1 else b"%x\r\n" % len(p)) + p + b"\r\n" for i, p in enumerate(parts)
        ) + b"0\r\nx-trailer: done\r\n\r\n"
        req = (f"POST /upload HTTP/1.1\r\n{H}Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n").encode() + chunked
        c.send(req[:200])  # split the request over two writes
        c.send(req[200:])
        raw, st, body, _ = c.response()
        j = json.loads(body)
        if j["sha256"] != sha(b"".join(parts)):
            raise RuntimeError(f"chunked upload hash mismatch: {j}")
        record("chunked-upload", "POST", "/upload", req, raw, st)

        # 3. Expect: 100-continue
        payload = hashlib.shake_256(b"raw_http-expect").digest(100000)
        head = (f"POST /upload HTTP/1.1\r\n{H}Content-Type: application/octet-stream\r\nContent-Length: {len(payload)}\r\nExpect: 100-continue\r\n\r\n").encode()
        c.send(head)
        interim = c.head()
        if not interim.startswith(b"HTTP/1.1 100"):
            raise RuntimeError(f"expected 100 Continue, got {interim[:40]!r}")
        c.send(payload)
        raw, st, body, _ = c.response()
        if json.loads(body)["sha256"] != sha(payload):
            raise RuntimeError("expect-continue upload hash mismatch")
        record("expect-continue", "POST", "/upload", head + payload, interim + raw, st)

        # 4+5. pipelining: two requests in one write
        r1 = f"GET /healthz HTTP/1.1\r\n{H}\r\n".encode()
        r2 = f"GET /healthz?second=1 HTTP/1.1\r\n{H}\r\n".encode()
        c.send(r1 + r2)
        raw1, st1, _, _ = c.response()
        raw2, st2, _, _ = c.response()
        record("pipelined-1", "GET", "/healthz", r1, raw1, st1)
        record("pipelined-2", "GET", "/healthz", r2, raw2, st2)

        # 6. streamed Anthropic call
        jb = json.dumps({"model": M.MODEL_ANTHROPIC, "max_tokens": 64, "stream": True, "messages": [{"role": "user", "content": "raw hello"}]}).encode()
        req = (f"POST /v1/messages HTTP/1.1\r\n{H}x-api-key: {key}\r\nanthropic-version: 2023-06-01\r\nContent-Type: application/json\r\nContent-Length: {len(jb)}\r\n\r\n").encode() + jb
        c.send(req)
        raw, st, body, hd = c.response()
        if hd.get("content-encoding") == "gzip":
            import gzip

            body = gzip.decompress(body)
        call = M.accumulate_anthropic_sse(body.decode(), "raw")
        record("anthropic-stream", "POST", "/v1/messages", req, raw, st)

        # 7. blob, then close
        req = f"GET /blob?size=300000&seed=raw_http HTTP/1.1\r\n{H}Connection: close\r\n\r\n".encode()
        c.send(req)
        raw, st, body, _ = c.response()
        record("blob-close", "GET", "/blob", req, raw, st)
        # drain until the server closes (close_notify / EOF)
        try:
            while True:
                c._fill()
        except (EOFError, ssl.SSLError, OSError):
            pass
        if c.buf:
            raise RuntimeError(f"{len(c.buf)} unexpected trailing bytes from server")
        c.s.close()
        out = {
            "client": CLIENT,
            "ok": all(e["status"] == 200 for e in ex),
            "local_port": local_port,
            "exchanges": ex,
            "calls": [call],
            "sent_total_len": c.sent_n,
            "sent_total_sha256": c.sent_all.hexdigest(),
            "recv_total_len": c.recv_n,
            "recv_total_sha256": c.recv_all.hexdigest(),
        }
    except Exception as e:
        M.fail(CLIENT, e, exchanges=ex)
    M.emit(out)
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
