#!/usr/bin/env python3
"""agentsight's SQL over a generated capture, timed against DuckDB running the
equivalent SQL on the same Parquet segment files in the same run.

    python3 benches/views_vs_duckdb.py [--processes 1000000] [--files 7] [--runs 3] [--dir /tmp/agentsight-bench]

Builds (debug profile: dependencies at opt-level 2, see Cargo.toml) and runs
the analyzer examples `gen_capture` and `bench_queries`; needs `pip install duckdb`.
Events = processes * (3 + files): fork, exec and exit of each process plus
its file opens. Prints a Markdown table for BENCHMARKS.md.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import duckdb

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))

# Mirrors queries/processes.sql; key_pid/key_start_ns/to_wall spelled out.
DUCK_PROCESSES = """
SELECT capture, proc_key, pid, ppid, parent_key, comm, filename, argv, argv_truncated, cwd, uid,
  exec_count, snapshot, start_ns, end_ns,
  make_timestamp_ns(({real} + start_ns::HUGEINT - {boot})::BIGINT) AS start_time,
  make_timestamp_ns(({real} + end_ns::HUGEINT - {boot})::BIGINT) AS end_time,
  (end_ns::DOUBLE - start_ns::DOUBLE) / 1e6 AS duration_ms, exit_code, exit_signal
FROM (
  SELECT capture, proc_key, (proc_key & 4194303)::INTEGER AS pid,
    first(ppid ORDER BY CASE kind WHEN 'fork' THEN 0 WHEN 'snapshot' THEN 1 ELSE 2 END, ts_ns) FILTER (WHERE ppid IS NOT NULL) AS ppid,
    first(parent_key ORDER BY CASE kind WHEN 'fork' THEN 0 WHEN 'snapshot' THEN 1 ELSE 2 END, ts_ns) FILTER (WHERE parent_key IS NOT NULL) AS parent_key,
    last(comm ORDER BY ts_ns) AS comm,
    last(filename ORDER BY ts_ns) FILTER (WHERE kind IN ('exec', 'snapshot')) AS filename,
    last(argv ORDER BY ts_ns) FILTER (WHERE kind IN ('exec', 'snapshot')) AS argv,
    last(argv_truncated ORDER BY ts_ns) FILTER (WHERE kind IN ('exec', 'snapshot')) AS argv_truncated,
    last(cwd ORDER BY ts_ns) FILTER (WHERE cwd IS NOT NULL) AS cwd,
    last(uid ORDER BY ts_ns) AS uid,
    count(*) FILTER (WHERE kind = 'exec') AS exec_count,
    bool_or(kind = 'snapshot') AS snapshot,
    coalesce(min(ts_ns) FILTER (WHERE kind = 'fork'), (proc_key >> 22) * 10000000) AS start_ns,
    max(ts_ns) FILTER (WHERE kind = 'exit') AS end_ns,
    max(exit_code) FILTER (WHERE kind = 'exit') AS exit_code,
    max(exit_signal) FILTER (WHERE kind = 'exit') AS exit_signal
  FROM process_events
  GROUP BY capture, proc_key
)
ORDER BY capture, start_ns, proc_key
"""

# queries/processes.sql as DuckDB SQL (one join instead of ordered aggregates).
DUCK_PROCESSES_JOIN = """
WITH k AS (
  SELECT capture, proc_key,
    coalesce(max(parent_key) FILTER (WHERE kind = 'fork'), max(parent_key) FILTER (WHERE kind = 'snapshot'),
             max(parent_key) FILTER (WHERE kind = 'exec')) AS parent_key,
    coalesce(max(ts_ns) FILTER (WHERE kind IN ('exec', 'snapshot')), min(ts_ns) FILTER (WHERE kind = 'fork'), max(ts_ns)) AS image_ns,
    count(*) FILTER (WHERE kind = 'exec') AS exec_count,
    coalesce(bool_or(kind = 'snapshot'), false) AS snapshot,
    coalesce(min(ts_ns) FILTER (WHERE kind = 'fork'), (proc_key >> 22) * 10000000) AS start_ns,
    max(ts_ns) FILTER (WHERE kind = 'exit') AS end_ns,
    max(exit_code) FILTER (WHERE kind = 'exit') AS exit_code,
    max(exit_signal) FILTER (WHERE kind = 'exit') AS exit_signal
  FROM process_events GROUP BY capture, proc_key
)
SELECT k.capture, k.proc_key, (k.proc_key & 4194303)::INTEGER AS pid, (k.parent_key & 4194303)::INTEGER AS ppid, k.parent_key,
  img.comm, img.filename, img.argv, img.argv_truncated, img.cwd, img.uid, k.exec_count, k.snapshot, k.start_ns, k.end_ns,
  make_timestamp_ns(({real} + k.start_ns::HUGEINT - {boot})::BIGINT) AS start_time,
  make_timestamp_ns(({real} + k.end_ns::HUGEINT - {boot})::BIGINT) AS end_time,
  (k.end_ns::DOUBLE - k.start_ns::DOUBLE) / 1e6 AS duration_ms, k.exit_code, k.exit_signal
FROM k LEFT JOIN process_events img ON img.capture = k.capture AND img.proc_key = k.proc_key AND img.ts_ns = k.image_ns
ORDER BY k.capture, k.start_ns, k.proc_key
"""

# One root's subtree in plain recursive SQL; `processes` is the view (ours)
# or the CTE above (DuckDB).
TREE_SQL = """
WITH RECURSIVE tree AS (
  SELECT capture, proc_key, 0 AS depth FROM processes WHERE proc_key = {root}
  UNION ALL
  SELECT p.capture, p.proc_key, t.depth + 1 FROM tree t
  JOIN processes p ON p.capture = t.capture AND p.parent_key = t.proc_key
  WHERE t.depth < 64
)
SELECT t.depth, p.* FROM tree t JOIN processes p ON p.capture = t.capture AND p.proc_key = t.proc_key
ORDER BY t.depth, p.proc_key
"""

SCAN_SQL = "SELECT ts_ns, pid, path, ret FROM file_events WHERE path = '/home/u/.ssh/id_rsa' AND ret < 0"


def cargo_build():
    subprocess.run(
        ["cargo", "build", "-q", "-p", "agentsight-analyzer", "--example", "gen_capture", "--example", "bench_queries"],
        cwd=ROOT,
        check=True,
    )
    return os.path.join(TARGET, "debug", "examples")


def pick_root(con):
    """The process whose subtree size is closest to 1000 (an agent session of the synthetic capture)."""
    edges = con.execute("SELECT proc_key, parent_key FROM processes").fetchall()
    children = {}
    for k, p in edges:
        children.setdefault(p, []).append(k)
    size = {}
    # Keys grow with start time and children start after parents: sum bottom-up.
    for k, _ in sorted(edges, key=lambda e: e[0], reverse=True):
        size[k] = 1 + sum(size.get(c, 0) for c in children.get(k, []))
    target = min(1000, max(10, len(edges) // 10))
    return min(size, key=lambda k: (abs(size[k] - target), k)), size


def timed(con, sql, runs):
    times, rows = [], 0
    for _ in range(runs):
        t = time.perf_counter()
        res = con.sql(sql)
        # duckdb >= 1.4 renamed fetch_arrow_table to to_arrow_table.
        fetch = getattr(res, "to_arrow_table", None) or res.arrow
        rows = fetch().num_rows
        times.append(time.perf_counter() - t)
    return times, rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--processes", type=int, default=1_000_000)
    ap.add_argument("--files", type=int, default=7)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", default="/tmp/agentsight-bench")
    a = ap.parse_args()

    bin_dir = cargo_build()
    cap = os.path.join(a.dir, f"p{a.processes}-f{a.files}")
    if not os.path.exists(os.path.join(cap, "manifest.json")):
        t = time.perf_counter()
        subprocess.run([os.path.join(bin_dir, "gen_capture"), "synthetic", cap, str(a.processes), str(a.files)], check=True)
        print(f"generated {cap} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    manifest = json.load(open(os.path.join(cap, "manifest.json")))
    events = manifest["rows"].get("process_events", 0) + manifest["rows"].get("file_events", 0)
    files = {}
    for s in manifest["segments"]:
        files.setdefault(s["table"], []).append(os.path.join(cap, s["file"]))

    con = duckdb.connect()
    t = time.perf_counter()
    for table in ("process_events", "file_events"):
        con.execute(
            f"CREATE VIEW {table} AS SELECT *, '{manifest['capture_id']}' AS capture FROM read_parquet({files[table]!r})"
        )
    anchor = manifest["boot_anchor"]
    con.execute("CREATE VIEW processes AS " + DUCK_PROCESSES.format(real=anchor["realtime_ns"], boot=anchor["boottime_ns"]))
    duck_open = time.perf_counter() - t
    root, size = pick_root(con)
    print(f"root {root}: subtree of {size[root]} processes", file=sys.stderr)

    con.execute("CREATE VIEW processes_join AS " + DUCK_PROCESSES_JOIN.format(real=anchor["realtime_ns"], boot=anchor["boottime_ns"]))
    # (name, our SQL, DuckDB SQL variants: the fastest one counts)
    cases = [
        ("processes: SELECT * FROM processes", "SELECT * FROM processes",
         ["SELECT * FROM processes", "SELECT * FROM processes_join"]),
        (f"process_tree, one root ({size[root]} procs): descendants(K)", f"SELECT * FROM descendants({root})",
         [TREE_SQL.format(root=root), TREE_SQL.format(root=root).replace("processes", "processes_join")]),
        (f"process_tree, one root ({size[root]} procs): same recursive SQL", TREE_SQL.format(root=root),
         [TREE_SQL.format(root=root), TREE_SQL.format(root=root).replace("processes", "processes_join")]),
        ("filtered scan of file_events (path = id_rsa AND ret < 0)", SCAN_SQL, [SCAN_SQL]),
    ]
    # Runs alternate between the engines (each of ours in a fresh process, so
    # nothing is cached across runs) to share any background load fairly.
    ours = {i: [] for i in range(len(cases))}
    duck = {i: [] for i in range(len(cases))}
    rows = {}
    opens = []
    for _ in range(a.runs):
        for i, (_, our_sql, duck_sqls) in enumerate(cases):
            out = subprocess.run([os.path.join(bin_dir, "bench_queries"), cap, "1", "q", our_sql],
                                 check=True, capture_output=True, text=True).stdout
            r = json.loads(out)
            opens.append(r["open_s"])
            ours[i].append(r["queries"]["q"]["times"][0])
            rows[i] = r["queries"]["q"]["rows"]
            best = None
            for sql in duck_sqls:
                t, n = timed(con, sql, 1)
                if n != rows[i]:
                    print(f"row counts differ for {cases[i][0]}: ours {rows[i]}, DuckDB {n}", file=sys.stderr)
                    sys.exit(1)
                best = t[0] if best is None else min(best, t[0])
            duck[i].append(best)

    print(f"\nCapture: {events:,} process/file events ({a.processes:,} processes x (3 + {a.files})), "
          f"{sum(len(v) for v in files.values())} segments, {sum(s['bytes'] for s in manifest['segments']) / 1e6:.1f} MB; "
          f"{platform.machine()}, {os.cpu_count()} CPUs, duckdb {duckdb.__version__}; median of {a.runs} alternating runs.\n")
    print(f"Session open (manifest, footer checks, views): agentsight {statistics.median(opens) * 1000:.0f} ms, "
          f"DuckDB views {duck_open * 1000:.0f} ms\n")
    print("| query | agentsight (DataFusion) | DuckDB | ratio | rows |")
    print("|---|---:|---:|---:|---:|")
    for i, (name, _, _) in enumerate(cases):
        o, d = statistics.median(ours[i]), statistics.median(duck[i])
        print(f"| {name} | {o:.3f} s | {d:.3f} s | {o / d:.2f}x | {rows[i]:,} |")


if __name__ == "__main__":
    main()
