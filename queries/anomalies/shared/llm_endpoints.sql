-- name: llm_endpoints
-- description: Endpoint nodes that are LLM APIs: every endpoint that carried an LLM call in this capture (whatever its name: a local proxy or mock counts), every endpoint whose host name is in `llm_api_hosts`, and the Happy Eyeballs attempts at them (RFC 8305): an endpoint a process connected to at most 300 ms before it connected to one of those at another address on the same port (a client trying `::1` before `127.0.0.1`, or one resolved address after another).
WITH apis AS (
  SELECT x.capture,
         'endpoint:' || CASE WHEN x.remote_addr LIKE '%:%' THEN '[' || x.remote_addr || ']' ELSE x.remote_addr END
           || ':' || CAST(x.remote_port AS VARCHAR) AS node_id
  FROM llm_calls c
  JOIN http_exchanges x ON x.capture = c.capture AND x.conn_id = c.conn_id AND x.exchange_index = c.exchange_index
  WHERE x.remote_addr IS NOT NULL AND x.remote_port IS NOT NULL
  UNION ALL
  SELECT n.capture, n.node_id
  FROM graph_nodes n JOIN llm_api_hosts h ON n.name LIKE h.pattern
  WHERE n.kind = 'endpoint'
), attempts AS (
  SELECT a.capture, a.dst AS node_id
  FROM graph_edges a
  JOIN graph_edges b ON b.capture = a.capture AND b.proc_key = a.proc_key AND b.kind = 'connected'
  JOIN apis api ON api.capture = b.capture AND api.node_id = b.dst
  WHERE a.kind = 'connected' AND a.dst <> b.dst
    AND regexp_replace(a.dst, '^.*:', '') = regexp_replace(b.dst, '^.*:', '')
    AND b.ts_ns >= a.ts_ns AND b.ts_ns - a.ts_ns <= 300000000
)
SELECT DISTINCT capture, node_id FROM (
  SELECT capture, node_id FROM apis
  UNION ALL
  SELECT capture, node_id FROM attempts
)
