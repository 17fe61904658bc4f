-- id: chmod_exec_written
-- title: A file the agent's tree wrote was made executable
-- severity: medium
-- tags: T1222.002, T1059, defense-evasion
-- description: A chmod that sets an execute bit on a file a process of the same agent tree created or wrote in the 10 minutes before: the step between dropping a payload and running it.
-- false_positives: Agents writing a build or test script and marking it executable at the user's request.
WITH chmods AS (
  SELECT c.capture, c.ts_ns, c.src, c.dst, c.proc_key, c.detail, s.tree
  FROM graph_edges c JOIN agent_scope s ON s.capture = c.capture AND s.proc_key = c.proc_key
  WHERE c.kind = 'chmod'
    AND regexp_like(c.detail, '^mode [0-7]?([1357][0-7][0-7]|[0-7][1357][0-7]|[0-7][0-7][1357])')
), pairs AS (
  SELECT c.capture, c.ts_ns, c.src, c.dst, c.proc_key, c.detail,
         max(w.ts_ns) AS written_ns,
         first_value(w.src ORDER BY w.ts_ns DESC) AS writer
  FROM chmods c
  JOIN graph_edges w ON w.capture = c.capture AND w.dst = c.dst AND w.kind IN ('created', 'wrote')
   AND w.ts_ns <= c.ts_ns AND w.ts_ns >= c.ts_ns - 600000000000
  JOIN agent_scope s ON s.capture = w.capture AND s.proc_key = w.proc_key AND s.tree = c.tree
  GROUP BY c.capture, c.ts_ns, c.src, c.dst, c.proc_key, c.detail
)
SELECT capture, ts_ns, proc_key,
       'chmod ' || substr(detail, 6, 4) || ' ' || substr(dst, 6) || ', written '
         || CAST(round((ts_ns - written_ns) / 1e6, 1) AS VARCHAR) || ' ms earlier by ' || writer AS summary,
       make_array(src, dst, writer) AS evidence,
       substr(dst, 6) AS path, substr(detail, 6, 4) AS mode
FROM pairs
