-- name: processes
-- description: One row per process (proc_key): pid, parent, final argv and program, start/end wall time, exit code or signal, and whether it was already running when recording started.
--
-- The parent comes from the fork row when there is one (the exec row names the
-- parent at exec time, which may already be a reaper), else from the snapshot,
-- else from the first exec. argv/filename/cwd are those of the last exec (or
-- of the snapshot for a process that never exec'd while recorded).
SELECT
  capture,
  proc_key,
  pid,
  ppid,
  parent_key,
  comm,
  filename,
  argv,
  argv_truncated,
  cwd,
  uid,
  exec_count,
  snapshot,
  start_ns,
  end_ns,
  to_wall(start_ns, capture) AS start_time,
  to_wall(end_ns, capture) AS end_time,
  (CAST(end_ns AS DOUBLE) - CAST(start_ns AS DOUBLE)) / 1e6 AS duration_ms,
  exit_code,
  exit_signal
FROM (
  SELECT
    capture,
    proc_key,
    key_pid(proc_key) AS pid,
    first_value(ppid ORDER BY CASE kind WHEN 'fork' THEN 0 WHEN 'snapshot' THEN 1 ELSE 2 END, ts_ns)
      FILTER (WHERE ppid IS NOT NULL) AS ppid,
    first_value(parent_key ORDER BY CASE kind WHEN 'fork' THEN 0 WHEN 'snapshot' THEN 1 ELSE 2 END, ts_ns)
      FILTER (WHERE parent_key IS NOT NULL) AS parent_key,
    last_value(comm ORDER BY ts_ns) AS comm,
    last_value(filename ORDER BY ts_ns) FILTER (WHERE kind IN ('exec', 'snapshot')) AS filename,
    last_value(argv ORDER BY ts_ns) FILTER (WHERE kind IN ('exec', 'snapshot')) AS argv,
    last_value(argv_truncated ORDER BY ts_ns) FILTER (WHERE kind IN ('exec', 'snapshot')) AS argv_truncated,
    last_value(cwd ORDER BY ts_ns) FILTER (WHERE cwd IS NOT NULL) AS cwd,
    last_value(uid ORDER BY ts_ns) AS uid,
    count(*) FILTER (WHERE kind = 'exec') AS exec_count,
    bool_or(kind = 'snapshot') AS snapshot,
    coalesce(min(ts_ns) FILTER (WHERE kind = 'fork'), key_start_ns(proc_key)) AS start_ns,
    max(ts_ns) FILTER (WHERE kind = 'exit') AS end_ns,
    max(exit_code) FILTER (WHERE kind = 'exit') AS exit_code,
    max(exit_signal) FILTER (WHERE kind = 'exit') AS exit_signal
  FROM process_events
  GROUP BY capture, proc_key
)
ORDER BY capture, start_ns, proc_key
