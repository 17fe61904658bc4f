#!/usr/bin/env python3
"""A process that starts TLS only after a delay (i.e. after a recorder was started around it).

  python3 late_tls.py [--delay SECONDS] [--import-early] [--ready-file PATH]

By default `ssl`/`http.client` are imported only AFTER the sleep, so libssl is dlopen'ed late
(tests the "TLS library appears after recording began" path); with --import-early they are
imported before sleeping (libssl already mapped, first SSL_write happens late).
--ready-file: written (JSON {"pid":..., "libssl_mapped": bool}) just before the sleep starts.
Then: one POST /v1/messages (non-streaming, x-api-key) and one GET /blob?size=65536&seed=late_tls.
Env: MOCK_BASE_URL, MOCK_API_KEY, SSL_CERT_FILE. Prints one JSON line:
  {"client":"late_tls","ok":true,"delay":...,"libssl_mapped_before_sleep":bool,
   "libssl_mapped_after":bool,"t_sleep_start":...,"t_first_request":...,"calls":[...],"blob":{...}}
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _mockenv as M  # noqa: E402  (stdlib only, does not import ssl)

CLIENT = "late_tls"


def libssl_mapped() -> bool:
    try:
        with open("/proc/self/maps") as f:
            return any("libssl" in line for line in f)
    except OSError:
        return False


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--delay", type=float, default=3.0)
    ap.add_argument("--import-early", action="store_true")
    ap.add_argument("--ready-file")
    a = ap.parse_args()
    base = M.base_url()
    if a.import_early:
        import http.client  # noqa: F401
        import ssl  # noqa: F401
    before = libssl_mapped()
    if a.ready_file:
        tmp = a.ready_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(json.dumps({"pid": os.getpid(), "libssl_mapped": before}) + "\n")
        os.replace(tmp, a.ready_file)
    sys.stderr.write(f"late_tls: pid {os.getpid()} sleeping {a.delay}s before first TLS (libssl mapped: {before})\n")
    sys.stderr.flush()
    t_sleep = time.time()
    time.sleep(a.delay)
    out = {"client": CLIENT, "ok": True, "delay": a.delay, "import_early": a.import_early, "libssl_mapped_before_sleep": before, "t_sleep_start": t_sleep}
    try:
        import gzip
        import http.client
        import ssl

        host, port = M.host_port()
        out["t_first_request"] = time.time()
        conn = http.client.HTTPSConnection(host, port, context=ssl.create_default_context(), timeout=30)
        body = json.dumps(
            {"model": M.MODEL_ANTHROPIC, "max_tokens": 64, "messages": [{"role": "user", "content": "late TLS hello"}]}
        ).encode()
        conn.request(
            "POST",
            "/v1/messages",
            body=body,
            headers={"x-api-key": M.api_key(), "anthropic-version": "2023-06-01", "Content-Type": "application/json", "x-mock-client": M.tag(CLIENT)},
        )
        r = conn.getresponse()
        raw = r.read()
        if r.getheader("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        out["calls"] = [M.summary_anthropic_json(json.loads(raw), "late")]
        conn.request("GET", "/blob?size=65536&seed=late_tls", headers={"x-mock-client": M.tag(CLIENT)})
        b = conn.getresponse().read()
        out["blob"] = {"size": len(b), "sha256": hashlib.sha256(b).hexdigest()}
        out["local_port"] = conn.sock.getsockname()[1]
        conn.close()
        out["libssl_mapped_after"] = libssl_mapped()
    except Exception as e:
        M.fail(CLIENT, e)
    M.emit(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
