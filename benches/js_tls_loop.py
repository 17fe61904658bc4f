#!/usr/bin/env python3
"""The TLS loop (benches/tls_loop.sh) with a JavaScript fetch client, on node (its own OpenSSL,
hooked at exported symbols) and on bun (BoringSSL without symbols, hooked where the recorder
located it): client wall time and CPU recorded / bare per runtime, bare/recorded pairs back to
back, and per recorded run the captured plaintext against what the server logged (every byte
in both directions, no drops). The server (tests/support/mock_llm.py, HTTP/1.1) loads a copy of
libssl (another inode), so the uprobes fire only in the traced client. Run via
benches/js_tls_loop.sh.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as L  # noqa: E402
from tls_loop import start_server, tls_bytes  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
AGENTS = "/root/.cache/agentsight-agents"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=int(os.environ.get("RUNS", 5)))
    ap.add_argument("--requests", type=int, default=int(os.environ.get("REQUESTS", 1000)))
    ap.add_argument("--body-bytes", type=int, default=int(os.environ.get("BODY_BYTES", 20480)))
    ap.add_argument("--bun", default=os.environ.get("BUN", f"{AGENTS}/bun-1.4.5/node_modules/@oven/bun-linux-x64/bin/bun"))
    ap.add_argument("--node", default=os.environ.get("NODE", "/usr/bin/node"))
    a = ap.parse_args()

    work = tempfile.mkdtemp(prefix="agentsight-jstls-")
    os.chmod(work, 0o755)
    priv = L.private_libssl(work)
    srv, info, log, libs = start_server(work, "private-libssl", {"LD_LIBRARY_PATH": priv}, 0)
    os.environ["NODE_EXTRA_CA_CERTS"] = info["cert"]
    os.environ.pop("SSL_CERT_FILE", None)
    print(f"# js_tls_loop: {L.machine()}; recorder {L.agentsight_bin()}; server libssl {libs}", flush=True)
    script = os.path.join(HERE, "js_tls_client.mjs")
    summary = {}
    try:
        for name, runtime in (("node", a.node), ("bun", a.bun)):
            cmd = [runtime, script, "--base-url", info["base_url"], "--requests", str(a.requests),
                   "--body-bytes", str(a.body_bytes)]
            rows = []
            # One unmeasured run: JIT, page cache and the server's first connection.
            subprocess.run(cmd, check=True, capture_output=True, timeout=600)
            for r in range(a.runs):
                L.wait_idle()
                bare = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600).stdout)
                before = sum(1 for _ in open(log))
                cap = os.path.join(work, f"cap-{name}-{r}")
                rec = L.record(cap, cmd)
                inner = json.loads(rec["stdout"].strip().splitlines()[-1])
                conns = [json.loads(x) for x in list(open(log))[before:]]
                conns = [c for c in conns if c.get("type") == "connection"]
                tb = tls_bytes(cap)
                m = L.manifest(cap)
                # Pools may open more than one connection: compare the sums.
                exact = (bool(conns) and tb["write"] == sum(c["in_len"] for c in conns)
                         and tb["read"] == sum(c["out_len"] for c in conns) and tb["lost"] == 0 and not m["drops"])
                row = {"ratio": inner["elapsed_s"] / bare["elapsed_s"], "cpu_ratio": inner["cpu_s"] / bare["cpu_s"],
                       "lat_ratio": inner["latency_ms_median"] / bare["latency_ms_median"],
                       "bare_s": bare["elapsed_s"], "rec_s": inner["elapsed_s"], "exact": exact,
                       "bare_lat_ms": bare["latency_ms_median"]}
                rows.append(row)
                print(f"{name} run {r + 1}: {inner['runtime']}: bare {row['bare_s']:.3f} s ({row['bare_lat_ms']:.3f} ms/req) "
                      f"recorded {row['rec_s']:.3f} s -> x{row['ratio']:.3f}, CPU x{row['cpu_ratio']:.3f}; "
                      f"captured {tb['write']:,} B out, {tb['read']:,} B in, byte-exact: {exact}", flush=True)
                shutil.rmtree(cap, ignore_errors=True)
            summary[name] = rows
    finally:
        srv.terminate()
        srv.wait()
        L.remove_work_dir(work)
    print()
    print("| client | wall recorded/bare (median) | CPU recorded/bare | latency recorded/bare | bare ms/req | byte-exact |")
    print("|---|---|---|---|---|---|")
    for name, rows in summary.items():
        print(f"| {name} | x{L.median([r['ratio'] for r in rows]):.3f} | x{L.median([r['cpu_ratio'] for r in rows]):.3f} "
              f"| x{L.median([r['lat_ratio'] for r in rows]):.3f} | {L.median([r['bare_lat_ms'] for r in rows]):.3f} "
              f"| {sum(r['exact'] for r in rows)} of {len(rows)} |")


if __name__ == "__main__":
    main()
