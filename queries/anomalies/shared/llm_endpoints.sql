-- name: llm_endpoints
-- description: Endpoint nodes that are LLM APIs: every endpoint that carried an LLM call in this capture (whatever its name: a local proxy or mock counts), and every endpoint whose host name is in `llm_api_hosts`.
SELECT DISTINCT capture, node_id FROM (
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
)
