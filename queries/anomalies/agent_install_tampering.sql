-- id: agent_install_tampering
-- title: The agent's tree modified the agent's own code
-- severity: high
-- tags: T1554, T1562.001, T1195.002, defense-evasion
-- description: A write into a directory the agent process loaded its own code from (it read `.py`, `.js`, `.mjs`, `.cjs`, `.so` or `.node` files there: its site-packages or node_modules, SDK callback and telemetry modules), or into a program the agent executed: the patched-callbacks attack, where a dependency silences the agent's telemetry or guardrails for the next run.
-- false_positives: The agent updating itself (auto-update, `pip install -U` of its own SDK); compiled-bytecode caches are left out (`*.pyc`).
WITH code_dirs AS (
  SELECT DISTINCT r.capture, s.tree, regexp_replace(substr(r.dst, 6), '/[^/]*$', '') AS dir
  FROM graph_edges r JOIN agent_scope s ON s.capture = r.capture AND s.proc_key = r.proc_key
  WHERE s.is_agent AND r.kind IN ('read', 'executed')
    AND regexp_like(r.dst, '\.(py|js|mjs|cjs|so|node)$')
), agent_programs AS (
  SELECT DISTINCT x.capture, s.tree, x.dst
  FROM graph_edges x JOIN agent_scope s ON s.capture = x.capture AND s.proc_key = x.proc_key
  WHERE s.is_agent AND x.kind = 'executed'
), writes AS (
  SELECT w.capture, w.ts_ns, w.src, w.dst, w.proc_key, w.kind, s.tree,
         regexp_replace(substr(w.dst, 6), '/[^/]*$', '') AS dir
  FROM graph_edges w JOIN agent_scope s ON s.capture = w.capture AND s.proc_key = w.proc_key
  WHERE w.kind IN ('created', 'wrote', 'renamed', 'deleted', 'chmod', 'linked')
    AND w.dst NOT LIKE '%.pyc'
), hits AS (
  SELECT w.capture, w.ts_ns, w.src, w.dst, w.proc_key, w.kind, w.tree,
         bool_or(p.dst IS NOT NULL) AS program
  FROM writes w
  LEFT JOIN agent_programs p ON p.capture = w.capture AND p.tree = w.tree AND p.dst = w.dst
  LEFT JOIN code_dirs d ON d.capture = w.capture AND d.tree = w.tree AND d.dir = w.dir
  WHERE p.dst IS NOT NULL OR d.dir IS NOT NULL
  GROUP BY w.capture, w.ts_ns, w.src, w.dst, w.proc_key, w.kind, w.tree
)
SELECT capture, ts_ns, proc_key,
       src || ' ' || kind || ' ' || substr(dst, 6) || ' in the agent''s own '
         || CASE WHEN program THEN 'program' ELSE 'code' END AS summary,
       make_array(src, dst, 'process:' || CAST(tree AS VARCHAR)) AS evidence,
       substr(dst, 6) AS path, kind AS operation
FROM hits
