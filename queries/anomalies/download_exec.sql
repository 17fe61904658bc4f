-- id: download_exec
-- title: Download and execute
-- severity: high
-- tags: T1105, T1059.004, execution
-- description: A download piped into a shell or interpreter (`curl … | sh`: a shell reading its script from stdin, started beside a download tool by the same parent), or an exec of a file that a download tool wrote or that the agent's tree wrote under /tmp, /var/tmp or /dev/shm.
-- false_positives: Installers run the documented way (`curl https://sh.rustup.rs | sh`); test suites that stage helpers in /tmp.
--
-- A shell reads stdin when it has no script argument (`sh`, `bash -s`,
-- `python3 -`). The two must be siblings that start within 2 s of each other
-- and run at the same time (a later command of the same script does not).
WITH procs AS (
  SELECT p.capture, p.proc_key, p.parent_key, p.start_ns, p.end_ns, p.argv,
         regexp_replace(coalesce(p.filename, p.comm), '^.*/', '') AS program, s.tree
  FROM processes p JOIN agent_scope s ON s.capture = p.capture AND s.proc_key = p.proc_key
), stdin_shells AS (
  SELECT p.* FROM procs p JOIN interpreters i ON i.program = p.program
  WHERE array_length(p.argv) = 1 OR p.argv[2] IN ('-s', '-', '-i')
), fetchers AS (
  SELECT p.* FROM procs p
  LEFT JOIN download_tools d ON d.program = p.program
  LEFT JOIN interpreters i ON i.program = p.program AND i.kind = 'interpreter'
  WHERE d.program IS NOT NULL
     OR (i.program IS NOT NULL
         AND regexp_like(array_to_string(p.argv, ' '), 'urllib|requests\.get|http\.client|urlopen|fetch\(|https?://'))
), piped AS (
  SELECT sh.capture, sh.start_ns AS ts_ns, sh.proc_key,
         'download piped into ' || sh.program || ': ' || array_to_string(f.argv, ' ') || ' | ' || array_to_string(sh.argv, ' ') AS summary,
         make_array('process:' || CAST(sh.proc_key AS VARCHAR), 'process:' || CAST(f.proc_key AS VARCHAR)) AS evidence,
         'pipe' AS how, CAST(NULL AS VARCHAR) AS path
  FROM stdin_shells sh JOIN fetchers f
    ON f.capture = sh.capture AND f.parent_key = sh.parent_key AND f.proc_key <> sh.proc_key
   AND f.start_ns BETWEEN sh.start_ns - 2000000000 AND sh.start_ns + 2000000000
   -- the two ends of a pipe run at the same time
   AND f.start_ns <= coalesce(sh.end_ns, 18446744073709551615)
   AND sh.start_ns <= coalesce(f.end_ns, 18446744073709551615)
), staged AS (
  SELECT x.capture, x.ts_ns, x.proc_key, x.src, x.dst,
         max(w.ts_ns) AS written_ns,
         first_value(w.src ORDER BY w.ts_ns DESC) AS writer,
         bool_or(d.program IS NOT NULL) AS by_download_tool
  FROM graph_edges x
  JOIN agent_scope s ON s.capture = x.capture AND s.proc_key = x.proc_key
  JOIN graph_edges w ON w.capture = x.capture AND w.dst = x.dst AND w.ts_ns < x.ts_ns
   AND w.kind IN ('created', 'wrote', 'renamed')
  JOIN procs p ON p.capture = w.capture AND p.proc_key = w.proc_key AND p.tree = s.tree
  LEFT JOIN download_tools d ON d.program = p.program
  WHERE x.kind = 'executed'
  GROUP BY x.capture, x.ts_ns, x.proc_key, x.src, x.dst
)
SELECT * FROM piped
UNION ALL
SELECT capture, ts_ns, proc_key,
       'executed ' || substr(dst, 6) || CASE WHEN by_download_tool THEN ', downloaded ' ELSE ', written ' END
         || CAST(round((ts_ns - written_ns) / 1e6, 1) AS VARCHAR) || ' ms earlier by ' || writer AS summary,
       make_array(src, dst, writer) AS evidence,
       CASE WHEN by_download_tool THEN 'downloaded_file' ELSE 'temp_file' END AS how,
       substr(dst, 6) AS path
FROM staged
WHERE by_download_tool OR substr(dst, 6) LIKE '/tmp/%' OR substr(dst, 6) LIKE '/var/tmp/%'
   OR substr(dst, 6) LIKE '/dev/shm/%'
