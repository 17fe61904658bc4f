-- id: new_egress
-- title: The agent's tree contacted a new endpoint
-- severity: low
-- tags: T1071, T1041, command-and-control
-- description: The first connect of an agent tree to each endpoint that is not an LLM API (`llm_endpoints`), AF_UNIX sockets and DNS (port 53) left out (`llm_endpoints` counts Happy Eyeballs attempts at an LLM API as that API). Medium when the endpoint has no host name (a raw-IP connect: no TLS SNI, no HTTP Host); high when no tool call explains the connect either (it is in `unattributed`).
-- false_positives: Package registries, git remotes and APIs the task needs: each shows once per capture, at low severity when the capture knows its name.
WITH egress AS (
  SELECT e.capture, e.ts_ns, e.src, e.dst, e.proc_key, s.tree, n.name AS host, n.label
  FROM graph_edges e
  JOIN agent_scope s ON s.capture = e.capture AND s.proc_key = e.proc_key
  JOIN graph_nodes n ON n.capture = e.capture AND n.node_id = e.dst
  LEFT JOIN llm_endpoints l ON l.capture = e.capture AND l.node_id = e.dst
  WHERE e.kind = 'connected' AND l.node_id IS NULL
    AND e.dst NOT LIKE 'endpoint:unix:%' AND e.dst NOT LIKE '%:53'
), firsts AS (
  SELECT capture, tree, dst,
         min(ts_ns) AS ts_ns,
         first_value(src ORDER BY ts_ns) AS src,
         first_value(proc_key ORDER BY ts_ns) AS proc_key,
         max(host) AS host, max(label) AS label, count(*) AS connects
  FROM egress GROUP BY capture, tree, dst
), unexplained AS (
  SELECT DISTINCT capture, node_id FROM unattributed WHERE activity = 'connect'
)
SELECT f.capture, f.ts_ns, f.proc_key,
       'first connect to ' || f.label || ' by ' || f.src
         || CASE WHEN u.node_id IS NOT NULL THEN ' (no tool call explains it)' ELSE '' END AS summary,
       make_array(f.src, f.dst) AS evidence,
       CASE WHEN u.node_id IS NOT NULL THEN 'high' WHEN f.host IS NULL THEN 'medium' ELSE 'low' END AS severity,
       f.label AS endpoint, f.host, f.connects
FROM firsts f LEFT JOIN unexplained u ON u.capture = f.capture AND u.node_id = f.dst
