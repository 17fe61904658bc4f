#!/usr/bin/env python3
"""Client for benches/tls_loop.sh: N x POST /v1/messages ("stream": true, ~20 KB JSON body)
on ONE http.client keep-alive connection to the mock LLM server, each streamed response
read line by line (as an SDK reads SSE).

    python3 benches/tls_client.py --base-url https://localhost:PORT --requests 500 --body-bytes 20480

Trust comes from SSL_CERT_FILE. Counts the exact plaintext handed to / returned by
SSL_write / SSL_read (an SSLSocket subclass wraps send and recv_into) and prints one JSON
line: requests, sent, received, elapsed_s and cpu_s (connect + all requests: wall time, and
this process's time on a CPU, user and kernel, uprobe traps included), per-request latency.
"""
import argparse
import http.client
import json
import ssl
import statistics
import sys
import time
import urllib.parse


class CountingSSLSocket(ssl.SSLSocket):
    sent = 0
    received = 0

    def send(self, data, flags=0):
        n = super().send(data, flags)
        CountingSSLSocket.sent += n
        return n

    def recv_into(self, buffer, nbytes=None, flags=0):
        n = super().recv_into(buffer, nbytes, flags)
        CountingSSLSocket.received += n
        return n


def body(i: int, size: int) -> bytes:
    head = {"model": "claude-mock-1", "max_tokens": 1024, "stream": True,
            "messages": [{"role": "user", "content": ""}]}
    filler_len = size - len(json.dumps(head).encode())
    words = (f"request {i}: the quick brown fox jumps over the lazy dog. " * (size // 40 + 2))
    head["messages"][0]["content"] = words[:max(0, filler_len)]
    return json.dumps(head).encode()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--body-bytes", type=int, default=20480)
    a = ap.parse_args()
    u = urllib.parse.urlsplit(a.base_url)
    ctx = ssl.create_default_context()
    ctx.sslsocket_class = CountingSSLSocket
    bodies = [body(i, a.body_bytes) for i in range(a.requests)]
    lat = []
    events = 0
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    conn = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=30)
    conn.connect()
    port = conn.sock.getsockname()[1]
    for b in bodies:
        t = time.perf_counter()
        conn.request("POST", "/v1/messages", body=b, headers={
            "content-type": "application/json", "anthropic-version": "2023-06-01",
            "x-api-key": "sk-mock-bench-key-0123456789abcdef", "x-mock-client": "bench_tls_loop"})
        r = conn.getresponse()
        if r.status != 200:
            print(json.dumps({"ok": False, "error": f"status {r.status}"}))
            return 1
        while True:
            line = r.readline()
            if not line:
                break
            if line.startswith(b"event:"):
                events += 1
        lat.append(time.perf_counter() - t)
        if conn.sock is None or conn.sock.getsockname()[1] != port:
            print(json.dumps({"ok": False, "error": "keep-alive connection was not reused"}))
            return 1
    conn.close()
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    print(json.dumps({"ok": True, "requests": a.requests, "body_bytes": len(bodies[0]),
                      "sse_events": events, "sent": CountingSSLSocket.sent,
                      "received": CountingSSLSocket.received, "elapsed_s": round(elapsed, 6), "cpu_s": round(cpu, 6),
                      "latency_ms_median": round(statistics.median(lat) * 1e3, 3),
                      "local_port": port}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
