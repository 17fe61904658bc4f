-- id: new_egress
-- title: The agent's tree contacted a new endpoint
-- severity: low
-- tags: T1071, T1041, command-and-control
-- description: The first connect of an agent tree to each endpoint that is not an LLM API (`llm_endpoints`), AF_UNIX sockets and DNS (port 53) left out, and so are Happy Eyeballs attempts (RFC 8305): a connect that the same process follows within 300 ms with a connect to the same port of an LLM API at another address (a client trying `::1` before `127.0.0.1`, or one resolved address after another). Medium when the endpoint has no host name (a raw-IP connect: no TLS SNI, no HTTP Host); high when no tool call explains the connect either (it is in `unattributed`).
-- false_positives: Package registries, git remotes and APIs the task needs: each shows once per capture, at low severity when the capture knows its name.
WITH llm_connects AS (
  SELECT e.capture, e.ts_ns, e.proc_key, e.dst, regexp_replace(e.dst, '^.*:', '') AS port
  FROM graph_edges e JOIN llm_endpoints l ON l.capture = e.capture AND l.node_id = e.dst
  WHERE e.kind = 'connected'
), fallbacks AS (
  SELECT DISTINCT a.capture, a.ts_ns, a.proc_key, a.dst
  FROM graph_edges a JOIN llm_connects b ON b.capture = a.capture AND b.proc_key = a.proc_key
  WHERE a.kind = 'connected' AND a.dst <> b.dst
    AND regexp_replace(a.dst, '^.*:', '') = b.port
    AND b.ts_ns >= a.ts_ns AND b.ts_ns - a.ts_ns <= 300000000
), egress AS (
  SELECT e.capture, e.ts_ns, e.src, e.dst, e.proc_key, s.tree, n.name AS host, n.label
  FROM graph_edges e
  JOIN agent_scope s ON s.capture = e.capture AND s.proc_key = e.proc_key
  JOIN graph_nodes n ON n.capture = e.capture AND n.node_id = e.dst
  LEFT JOIN llm_endpoints l ON l.capture = e.capture AND l.node_id = e.dst
  LEFT JOIN fallbacks f ON f.capture = e.capture AND f.ts_ns = e.ts_ns
    AND f.proc_key = e.proc_key AND f.dst = e.dst
  WHERE e.kind = 'connected' AND l.node_id IS NULL AND f.dst IS NULL
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
