-- id: write_then_exec
-- title: A file written by the agent's tree was later executed by it
-- severity: medium
-- tags: T1059, T1204.002, execution
-- description: An exec of a file that a process of the same agent tree created, wrote or renamed into place earlier in the capture.
--   Files under /tmp, /var/tmp and /dev/shm are the download_exec rule's; a hidden path raises this one to high.
-- false_positives: Build and test loops (a compiler writes a binary, the agent runs it); scripts the user asked the agent to write and run.
--
-- One finding per exec, citing the last write before it.
WITH writes AS (
  SELECT w.capture, w.dst, w.ts_ns, w.src, w.proc_key, s.tree
  FROM graph_edges w JOIN agent_scope s ON s.capture = w.capture AND s.proc_key = w.proc_key
  WHERE w.kind IN ('created', 'wrote', 'renamed')
), execs AS (
  SELECT x.capture, x.dst, x.ts_ns, x.src, x.proc_key, s.tree
  FROM graph_edges x JOIN agent_scope s ON s.capture = x.capture AND s.proc_key = x.proc_key
  WHERE x.kind = 'executed'
    AND substr(x.dst, 6) NOT LIKE '/tmp/%' AND substr(x.dst, 6) NOT LIKE '/var/tmp/%'
    AND substr(x.dst, 6) NOT LIKE '/dev/shm/%'
), pairs AS (
  SELECT e.capture, e.dst, e.ts_ns, e.src, e.proc_key,
         max(w.ts_ns) AS written_ns,
         first_value(w.src ORDER BY w.ts_ns DESC) AS writer
  FROM execs e JOIN writes w
    ON w.capture = e.capture AND w.dst = e.dst AND w.tree = e.tree AND w.ts_ns < e.ts_ns
  GROUP BY e.capture, e.dst, e.ts_ns, e.src, e.proc_key
)
SELECT capture, ts_ns, proc_key,
       'executed ' || substr(dst, 6) || ', written ' || CAST(round((ts_ns - written_ns) / 1e6, 1) AS VARCHAR)
         || ' ms earlier by ' || writer AS summary,
       make_array(src, dst, writer) AS evidence,
       CASE WHEN substr(dst, 6) LIKE '%/.%' THEN 'high' ELSE 'medium' END AS severity,
       substr(dst, 6) AS path, written_ns
FROM pairs
