"""Shared helpers for benches/storm.py and benches/tls_loop.py (stdlib + pyarrow)."""
import glob
import json
import os
import shutil
import platform
import re
import statistics
import subprocess
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def agentsight_bin() -> str:
    if os.environ.get("AGENTSIGHT_BIN"):
        return os.environ["AGENTSIGHT_BIN"]
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    return os.path.join(target, "debug", "agentsight")


def machine() -> str:
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({model}), kernel {platform.release()}"


def idle_pct(secs: float = 1.0) -> float:
    """Machine-wide idle CPU % over `secs` (the machine may be shared: shows when it was not)."""
    def snap():
        f = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
        return sum(f), f[3] + f[4]
    t0, i0 = snap()
    time.sleep(secs)
    t1, i1 = snap()
    return 100.0 * (i1 - i0) / max(1, t1 - t0)


def wait_idle(max_wait: float = float(os.environ.get("IDLE_WAIT", 20)), want: float = 80.0) -> float:
    """On a shared machine: wait (bounded) until another job leaves the CPUs >= want% idle.
    Returns the idle % last seen."""
    end = time.time() + max_wait
    idle = idle_pct(1.0)
    while idle < want and time.time() < end:
        idle = idle_pct(1.0)
    return idle


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


class ProcSampler(threading.Thread):
    """Polls one pid: peak VmHWM/RssAnon/RssFile, its own CPU (all threads, not children),
    and (every ~0.5 s) the Rss of its anon_inode:bpf-map mappings (ring buffers)."""

    def __init__(self, pid: int, period: float = 0.05):
        super().__init__(daemon=True)
        self.pid, self.period = pid, period
        self.peak = {"VmHWM": 0, "RssAnon": 0, "RssFile": 0, "bpf_map_rss": 0}
        self.cpu_s = 0.0
        self._halt = threading.Event()

    def run(self):
        tick = os.sysconf("SC_CLK_TCK")
        n = 0
        while not self._halt.is_set():
            try:
                st = open(f"/proc/{self.pid}/status").read()
                for k in ("VmHWM", "RssAnon", "RssFile"):
                    m = re.search(rf"^{k}:\s+(\d+) kB", st, re.M)
                    if m:
                        self.peak[k] = max(self.peak[k], int(m.group(1)))
                f = open(f"/proc/{self.pid}/stat").read().rsplit(")", 1)[1].split()
                self.cpu_s = (int(f[11]) + int(f[12])) / tick  # utime + stime
                if n % 10 == 0:
                    rss, cur = 0, ""
                    for line in open(f"/proc/{self.pid}/smaps"):
                        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                            cur = line
                        elif line.startswith("Rss:") and "bpf-map" in cur:
                            rss += int(line.split()[1])
                    self.peak["bpf_map_rss"] = max(self.peak["bpf_map_rss"], rss)
            except (OSError, IndexError, ValueError):
                pass
            n += 1
            self._halt.wait(self.period)

    def stop(self):
        self._halt.set()
        self.join()


def child_pid(pid: int, timeout: float = 5.0) -> int:
    end = time.time() + timeout
    while time.time() < end:
        try:
            kids = open(f"/proc/{pid}/task/{pid}/children").read().split()
            if kids:
                return int(kids[0])
        except OSError:
            pass
        time.sleep(0.005)
    raise RuntimeError(f"no child of {pid}")


def record(cap: str, command: list, timeout: float = 300, extra=()) -> dict:
    """`/usr/bin/time -v agentsight record -q -o cap -- command`, sampling the recorder."""
    argv = ["/usr/bin/time", "-v", agentsight_bin(), "record", "-q", "--force", "-o", cap, *extra, "--", *command]
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    s = ProcSampler(child_pid(p.pid))
    s.start()
    out, err = p.communicate(timeout=timeout)
    wall = time.perf_counter() - t0
    s.stop()
    if p.returncode != 0:
        raise RuntimeError(f"recorder exited {p.returncode}: {err[-2000:]}")
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
    return {"wall_s": wall, "max_rss_kb": int(m.group(1)) if m else None, "sampler": s.peak,
            "recorder_cpu_s": s.cpu_s, "stdout": out, "argv": argv}


def manifest(cap: str) -> dict:
    return json.load(open(os.path.join(cap, "manifest.json")))


def table_bytes(m: dict, tables) -> int:
    return sum(s["bytes"] for s in m["segments"] if s["table"] in tables)


def table_rows(m: dict, tables) -> int:
    return sum(m["rows"].get(t, 0) for t in tables)


def read_table(cap: str, table: str, columns):
    import pyarrow as pa
    import pyarrow.parquet as pq
    files = sorted(glob.glob(os.path.join(cap, table, "*.parquet")))
    if not files:
        return None
    return pa.concat_tables([pq.read_table(f, columns=columns) for f in files])


def fmt(x, nd=2):
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:,.{nd}f}"
    return f"{x:,}"


def remove_work_dir(work: str) -> None:
    """Deletes the benchmark's scratch directory unless KEEP is set."""
    if os.environ.get("KEEP"):
        print(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


def private_libssl(work: str) -> str:
    """A directory under `work` with copies of this process's libssl and libcrypto (other
    inodes): a server run with LD_LIBRARY_PATH there does not share the files the recorder
    hooks, so the uprobes fire only in the traced client, as with a remote API server."""
    import ssl  # noqa: F401  (maps the system libssl into this process)
    priv = os.path.join(work, "privssl")
    os.makedirs(priv, exist_ok=True)
    for line in open("/proc/self/maps"):
        path = line.split()[-1]
        if os.path.basename(path).startswith(("libssl.so", "libcrypto.so")) and not os.path.exists(
                os.path.join(priv, os.path.basename(path))):
            shutil.copy(path, priv)
    return priv
