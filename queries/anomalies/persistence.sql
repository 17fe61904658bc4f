-- id: persistence
-- title: The agent's tree changed a file that makes code run again later
-- severity: high
-- tags: T1546.004, T1098.004, T1053.003, T1543.002, persistence
-- description: A write, create, rename onto, chmod or link of a persistence location (`persistence_paths`): shell rc and profile files, authorized_keys, crontabs, systemd units, autostart entries, git hooks, ld.so.preload, sudoers, Python startup files.
-- false_positives: `git init` copies hook samples (left out: `*.sample`); setup tools that add a PATH line to ~/.bashrc at the user's request.
WITH hits AS (
  SELECT e.capture, e.ts_ns, e.src, e.dst, e.proc_key, e.kind, e.detail,
         min(p.class) AS class, min(p.technique) AS technique
  FROM graph_edges e
  JOIN agent_scope s ON s.capture = e.capture AND s.proc_key = e.proc_key
  JOIN persistence_paths p ON substr(e.dst, 6) LIKE p.pattern
  WHERE e.kind IN ('created', 'wrote', 'renamed', 'chmod', 'linked')
    AND substr(e.dst, 6) NOT LIKE '%.sample'
  GROUP BY e.capture, e.ts_ns, e.src, e.dst, e.proc_key, e.kind, e.detail
)
SELECT capture, ts_ns, proc_key,
       class || ': ' || src || ' ' || kind || ' ' || substr(dst, 6) AS summary,
       make_array(src, dst) AS evidence,
       class, technique, substr(dst, 6) AS path, kind AS operation, detail
FROM hits
