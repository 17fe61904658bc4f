-- name: processes
-- description: One row per process (proc_key): pid, parent, program and argv of its last exec, start/end wall time, exit code or signal, and whether it was already running when recording started.
--
-- Parent: from the fork row when there is one, else the snapshot, else the
-- exec rows (the most recently started parent they name: after reparenting
-- the new parent is an older ancestor). ppid is the pid part of parent_key.
-- filename/argv/cwd/comm/uid come from one row of the process: its last
-- exec, else its snapshot, else its fork (no program known), else its exit.
--
-- Written for speed on large captures: only plain aggregates (ordered
-- first_value/last_value are slow on lists in DataFusion), grouping on
-- capture_no(capture) instead of the text label, and one join back to the
-- chosen row. A capture with two rows of one process at the same nanosecond
-- (which the kernel cannot produce) would list that process twice.
WITH ev AS (
  SELECT capture_no(capture) AS cn, * FROM process_events
), k AS (
  SELECT
    cn,
    proc_key,
    coalesce(
      max(parent_key) FILTER (WHERE kind = 'fork'),
      max(parent_key) FILTER (WHERE kind = 'snapshot'),
      max(parent_key) FILTER (WHERE kind = 'exec')) AS parent_key,
    coalesce(
      max(ts_ns) FILTER (WHERE kind IN ('exec', 'snapshot')),
      min(ts_ns) FILTER (WHERE kind = 'fork'),
      max(ts_ns)) AS image_ns,
    count(*) FILTER (WHERE kind = 'exec') AS exec_count,
    coalesce(bool_or(kind = 'snapshot'), false) AS snapshot,
    coalesce(min(ts_ns) FILTER (WHERE kind = 'fork'), key_start_ns(proc_key)) AS start_ns,
    max(ts_ns) FILTER (WHERE kind = 'exit') AS end_ns,
    max(exit_code) FILTER (WHERE kind = 'exit') AS exit_code,
    max(exit_signal) FILTER (WHERE kind = 'exit') AS exit_signal
  FROM ev
  GROUP BY cn, proc_key
)
SELECT
  capture_label(k.cn) AS capture,
  k.proc_key,
  key_pid(k.proc_key) AS pid,
  key_pid(k.parent_key) AS ppid,
  k.parent_key,
  img.comm,
  img.filename,
  img.argv,
  img.argv_truncated,
  img.cwd,
  img.uid,
  k.exec_count,
  k.snapshot,
  k.start_ns,
  k.end_ns,
  to_wall(k.start_ns, capture_label(k.cn)) AS start_time,
  to_wall(k.end_ns, capture_label(k.cn)) AS end_time,
  (CAST(k.end_ns AS DOUBLE) - CAST(k.start_ns AS DOUBLE)) / 1e6 AS duration_ms,
  k.exit_code,
  k.exit_signal
FROM k
LEFT JOIN ev img
  ON img.cn = k.cn AND img.proc_key = k.proc_key AND img.ts_ns = k.image_ns
ORDER BY k.cn, k.start_ns, k.proc_key
