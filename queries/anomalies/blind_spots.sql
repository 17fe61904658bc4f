-- id: blind_spots
-- title: The capture is incomplete here
-- severity: medium
-- tags: visibility, T1562
-- description: What the capture could not see, so that a clean result is never trusted blindly: recorder loss counters, TLS targets the recorder could not hook and its other warnings, captures not closed cleanly, redaction switched off, segments left out (`capture_health`); processes of the agents' trees that connected to port 443 and sent no captured TLS plaintext (a TLS stack the recorder does not hook: statically linked, Go, rustls); LLM calls and HTTP exchanges cut by gaps or without their end.
-- false_positives: A process that connected to 443 and sent nothing; partial streams of a recording stopped mid-call.
WITH tls_procs AS (
  SELECT DISTINCT capture, proc_key FROM tls_chunks
), silent AS (
  SELECT e.capture, min(e.ts_ns) AS ts_ns, e.proc_key, e.src,
         count(DISTINCT e.dst) AS endpoints, min(n.label) AS first_endpoint
  FROM graph_edges e
  JOIN agent_scope s ON s.capture = e.capture AND s.proc_key = e.proc_key
  JOIN graph_nodes n ON n.capture = e.capture AND n.node_id = e.dst
  LEFT JOIN tls_procs t ON t.capture = e.capture AND t.proc_key = e.proc_key
  WHERE e.kind = 'connected' AND e.dst LIKE '%:443' AND t.proc_key IS NULL
  GROUP BY e.capture, e.proc_key, e.src
), partial_calls AS (
  SELECT capture, min(ts_ns) AS ts_ns, proc_key, count(*) AS calls,
         min(call_id) AS first_call
  FROM llm_calls WHERE partial GROUP BY capture, proc_key
)
SELECT capture, ts_ns, CAST(NULL AS BIGINT UNSIGNED) AS proc_key, detail AS summary,
       make_array('capture_health:' || kind || coalesce(':' || name, '')) AS evidence,
       CASE WHEN kind = 'redaction' THEN 'low' ELSE 'medium' END AS severity, kind
FROM capture_health
UNION ALL
SELECT capture, ts_ns, proc_key,
       src || ' connected to ' || first_endpoint
         || CASE WHEN endpoints > 1 THEN ' and ' || CAST(endpoints - 1 AS VARCHAR) || ' more :443 endpoints' ELSE '' END
         || ' but no TLS plaintext of it was captured (unhooked TLS library?)' AS summary,
       make_array(src) AS evidence, 'medium' AS severity, 'uncaptured_tls' AS kind
FROM silent
UNION ALL
SELECT capture, ts_ns, proc_key,
       CAST(calls AS VARCHAR) || ' LLM calls of process:' || CAST(proc_key AS VARCHAR)
         || ' are partial (bytes lost or stream cut)' AS summary,
       make_array('llm_call:' || CAST(first_call AS VARCHAR), 'process:' || CAST(proc_key AS VARCHAR)) AS evidence,
       'low' AS severity, 'partial_llm_calls' AS kind
FROM partial_calls
