-- id: prompt_injection
-- title: Text fed back to the model carries prompt-injection markers
-- severity: medium
-- tags: T1059, LLM01, initial-access
-- description: A tool result sent back to the model (command output, a fetched page, a file read) carries phrases that address the model ("ignore previous instructions", "do not tell the user", "new instructions:"), fake role tags (`<|im_start|>`, `</system>`, `[INST]`), Unicode tag characters, bidi controls or runs of zero-width characters. High when a tool call the model asked for in its answer to that text connected out (not to an LLM API) or changed a file outside the agent's working directory.
-- false_positives: Security research and red-team material; READMEs that document prompt injection; source files with zero-width characters in test strings.
WITH marked AS (
  SELECT t.capture, t.result_ns, t.call_id, t.tool_index, t.conversation_id, t.result_call_id, t.name,
         unnest(injection_markers(t.result_text)) AS m
  FROM tool_calls t
  WHERE t.result_text IS NOT NULL AND t.result_call_id IS NOT NULL
), injected AS (
  SELECT capture, result_ns, call_id, tool_index, conversation_id, result_call_id, name,
         'tool_call:' || CAST(call_id AS VARCHAR) || '.' || CAST(tool_index AS VARCHAR) AS node_id,
         array_agg(m['class'] || '@' || CAST(m['offset'] AS VARCHAR)) AS markers
  FROM marked
  GROUP BY capture, result_ns, call_id, tool_index, conversation_id, result_call_id, name
), next_tools AS (
  -- The tool calls of the model's answer to the request that carried the text.
  SELECT i.capture, i.node_id, e.node_id AS next_tool, e.agent_key, e.process_keys
  FROM injected i JOIN tool_effects e ON e.capture = i.capture AND e.call_id = i.result_call_id
), next_procs AS (
  SELECT capture, node_id, next_tool, agent_key, unnest(process_keys) AS key_text FROM next_tools
), actors AS (
  SELECT capture, node_id, next_tool, agent_key, 'process:' || key_text AS actor FROM next_procs
  UNION ALL
  -- built-in file tools act through edges from the tool call itself
  SELECT capture, node_id, next_tool, agent_key, next_tool AS actor FROM next_tools
), risky AS (
  SELECT a.capture, a.node_id, a.next_tool, g.kind, g.dst
  FROM actors a
  JOIN graph_edges g ON g.capture = a.capture AND g.src = a.actor
  LEFT JOIN llm_endpoints l ON l.capture = g.capture AND l.node_id = g.dst
  LEFT JOIN processes ag ON ag.capture = a.capture AND ag.proc_key = a.agent_key
  WHERE (g.kind = 'connected' AND l.node_id IS NULL AND g.dst NOT LIKE 'endpoint:unix:%')
     OR (g.kind IN ('created', 'wrote', 'renamed', 'deleted', 'chmod', 'linked')
         AND ag.cwd IS NOT NULL AND substr(g.dst, 6) LIKE '/%'
         AND NOT starts_with(substr(g.dst, 6), ag.cwd || '/')
         AND substr(g.dst, 6) NOT LIKE '/dev/%' AND substr(g.dst, 6) NOT LIKE '/proc/%'
         AND substr(g.dst, 6) NOT LIKE '/tmp/%' AND substr(g.dst, 6) NOT LIKE '/var/tmp/%')
), risk AS (
  SELECT capture, node_id, array_agg(DISTINCT next_tool) AS next_tools,
         array_sort(array_agg(DISTINCT kind || ' ' || dst)) AS actions
  FROM risky GROUP BY capture, node_id
)
SELECT i.capture, i.result_ns AS ts_ns, e.agent_key AS proc_key,
       i.name || ' result fed back in llm_call:' || CAST(i.result_call_id AS VARCHAR) || ' carries '
         || array_to_string(i.markers, ', ')
         || CASE WHEN r.node_id IS NOT NULL
                 THEN '; the next tool calls then did: ' || array_to_string(array_slice(r.actions, 1, 4), ', ')
                      || CASE WHEN cardinality(r.actions) > 4
                              THEN ' and ' || CAST(cardinality(r.actions) - 4 AS VARCHAR) || ' more' ELSE '' END
                 ELSE '' END AS summary,
       array_concat(make_array(i.node_id, 'llm_call:' || CAST(i.result_call_id AS VARCHAR)),
                    coalesce(r.next_tools, make_array())) AS evidence,
       CASE WHEN r.node_id IS NOT NULL THEN 'high' ELSE 'medium' END AS severity,
       i.markers, r.actions AS followed_by
FROM injected i
LEFT JOIN tool_effects e ON e.capture = i.capture AND e.node_id = i.node_id
LEFT JOIN risk r ON r.capture = i.capture AND r.node_id = i.node_id
