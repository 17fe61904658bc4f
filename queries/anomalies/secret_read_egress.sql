-- id: secret_read_egress
-- title: A credential file was read, then the same agent tree connected out
-- severity: high
-- tags: T1552.001, T1041, credential-access, exfiltration
-- description: A read of a credential file (`credential_paths`: SSH keys, cloud credentials, .env, netrc, docker and kube configs, /etc/shadow, browser stores) by a process of an agent's tree, followed within 10 minutes by a connect from the same tree to an endpoint that is not an LLM API (`llm_endpoints`).
--   The file is matched by the path as passed and by the one the kernel opened (`kernel opened P` in the edge's detail), so rewriting the path buffer during the open does not hide the read.
-- false_positives: Deploy and cloud CLIs (aws, gcloud, kubectl, docker push) read their own credentials and then call their APIs; ssh/git over ssh read keys and connect.
--
-- One finding per (read, first such connect after it).
WITH opened AS (
  SELECT capture, ts_ns, src, dst, proc_key, substr(dst, 6) AS path
  FROM graph_edges WHERE kind = 'read'
  UNION ALL
  SELECT capture, ts_ns, src, dst, proc_key, split_part(detail, 'kernel opened ', 2) AS path
  FROM graph_edges WHERE kind = 'read' AND detail LIKE '%kernel opened %'
), reads AS (
  SELECT r.capture, r.ts_ns, r.src, r.dst, r.proc_key, s.tree, min(c.class) AS class,
         max(r.path) AS path
  FROM opened r
  JOIN agent_scope s ON s.capture = r.capture AND s.proc_key = r.proc_key
  JOIN credential_paths c ON r.path LIKE c.pattern
  GROUP BY r.capture, r.ts_ns, r.src, r.dst, r.proc_key, s.tree
), egress AS (
  SELECT e.capture, e.ts_ns, e.src, e.dst, e.proc_key, s.tree, n.label
  FROM graph_edges e
  JOIN agent_scope s ON s.capture = e.capture AND s.proc_key = e.proc_key
  JOIN graph_nodes n ON n.capture = e.capture AND n.node_id = e.dst
  LEFT JOIN llm_endpoints l ON l.capture = e.capture AND l.node_id = e.dst
  WHERE e.kind = 'connected' AND l.node_id IS NULL AND e.dst NOT LIKE 'endpoint:unix:%'
), pairs AS (
  SELECT r.capture, r.ts_ns AS read_ns, r.src AS reader, r.dst AS secret, r.path, r.proc_key AS reader_key, r.class,
         min(e.ts_ns) AS ts_ns,
         first_value(e.src ORDER BY e.ts_ns) AS connector,
         first_value(e.dst ORDER BY e.ts_ns) AS endpoint,
         first_value(e.label ORDER BY e.ts_ns) AS endpoint_label,
         first_value(e.proc_key ORDER BY e.ts_ns) AS proc_key
  FROM reads r JOIN egress e
    ON e.capture = r.capture AND e.tree = r.tree AND e.ts_ns > r.ts_ns AND e.ts_ns <= r.ts_ns + 600000000000
  GROUP BY r.capture, r.ts_ns, r.src, r.dst, r.path, r.proc_key, r.class
)
SELECT capture, ts_ns, proc_key,
       class || ' ' || path || ' read by ' || reader || ', then ' || connector || ' connected to '
         || endpoint_label || ' ' || CAST(round((ts_ns - read_ns) / 1e6, 1) AS VARCHAR) || ' ms later' AS summary,
       make_array(reader, secret, connector, endpoint) AS evidence,
       class, path, endpoint_label AS endpoint, read_ns
FROM pairs
