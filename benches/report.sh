#!/usr/bin/env bash
# `agentsight report` on a generated one-hour session (analyzer/examples/gen_session.rs:
# 40 agents x 50 LLM calls = 2000 calls, ~1M file events from their tools): wall time and
# peak RSS of a fresh report (median of RUNS), the size of what it writes, and the time
# headless Chromium takes to load and lay out report.html (tests/support/report_browser.py).
#
#   RUNS=3 benches/report.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
RUNS="${RUNS:-3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/root/.cache/agentsight-target}"
bin="${AGENTSIGHT_BIN:-$CARGO_TARGET_DIR/debug/agentsight}"
[ -x "$bin" ] || { echo "report: no agentsight at $bin (cargo build, or set AGENTSIGHT_BIN)" >&2; exit 1; }
cap="/tmp/agentsight-bench-session"
if [ ! -f "$cap/manifest.json" ]; then
  # --workspace keeps the features of a normal build (no DataFusion rebuild).
  (cd "$here/.." && cargo build -q --workspace --example gen_session)
  "$CARGO_TARGET_DIR/debug/examples/gen_session" "$cap"
fi

. "$here/measure.sh"

out=/tmp/agentsight-bench-report
events=$("$bin" query "$cap" --format csv "SELECT (SELECT count(*) FROM file_events) + (SELECT count(*) FROM net_events) + (SELECT count(*) FROM process_events)" | tail -1)
calls=$("$bin" query "$cap" --format csv "SELECT count(*) FROM llm_calls" | tail -1)
echo "capture: $events process/file/net events, $calls LLM calls; median of $RUNS"
echo
echo "| command | wall | peak RSS |"
echo "|---|---:|---:|"
measure "\`anomalies\` alone (the graph and rules the report runs)" "$bin" anomalies "$cap" --format csv
measure "\`report\` (rules, graph, HTML, Markdown, bundle)" "$bin" report "$cap" -o "$out" --force
"$bin" report "$cap" -o "$out" --force
echo
echo "report.html $(du -b "$out/report.html" | cut -f1) bytes, report.md $(du -b "$out/report.md" | cut -f1) bytes, evidence/ $(du -sb "$out/evidence" | cut -f1) bytes"
python3 - "$out/report.html" <<'PY'
import sys, time
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
o = webdriver.ChromeOptions()
o.binary_location = "/usr/bin/chromium"
for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
    o.add_argument(a)
d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)
try:
    times = []
    for _ in range(3):
        t = time.perf_counter()
        d.get("file://" + sys.argv[1])  # returns after the load event
        d.execute_script("return document.body.getBoundingClientRect().height")  # forces layout
        times.append(time.perf_counter() - t)
    marks = d.execute_script("return document.querySelectorAll('#timeline .mark').length")
    print(f"Chromium load + layout: {sorted(times)[1]:.2f} s (median of 3), {marks} timeline marks drawn")
finally:
    d.quit()
PY
