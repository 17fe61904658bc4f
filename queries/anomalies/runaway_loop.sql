-- id: runaway_loop
-- title: Runaway agent loop
-- severity: medium
-- tags: T1496, T1499, impact
-- description: The same tool call (same tool, same arguments) asked for 5 or more times in one conversation, or more than 30 LLM calls by one process within one clock minute: an agent stuck in a loop burns tokens and may repeat a harmful action.
-- false_positives: Polling tools (waiting for CI, tailing a log) called on purpose; batch jobs that fan out many small LLM calls.
WITH repeated AS (
  SELECT capture, conversation_id, name, arguments_json,
         min(ts_ns) AS ts_ns, count(*) AS times,
         first_value(call_id ORDER BY ts_ns) AS first_call,
         first_value(tool_index ORDER BY ts_ns) AS first_index,
         last_value(call_id ORDER BY ts_ns) AS last_call
  FROM tool_calls GROUP BY capture, conversation_id, name, arguments_json
  HAVING count(*) >= 5
), bursts AS (
  SELECT capture, proc_key, ts_ns / 60000000000 AS minute, min(ts_ns) AS ts_ns, count(*) AS calls,
         min(call_id) AS first_call, max(call_id) AS last_call
  FROM llm_calls GROUP BY capture, proc_key, ts_ns / 60000000000
  HAVING count(*) > 30
)
SELECT r.capture, r.ts_ns, c.proc_key,
       'tool ' || r.name || ' asked ' || CAST(r.times AS VARCHAR) || ' times with the same arguments in conversation:'
         || CAST(r.conversation_id AS VARCHAR) AS summary,
       make_array('conversation:' || CAST(r.conversation_id AS VARCHAR),
                  'tool_call:' || CAST(r.first_call AS VARCHAR) || '.' || CAST(r.first_index AS VARCHAR),
                  'llm_call:' || CAST(r.last_call AS VARCHAR)) AS evidence,
       'repeated_tool_call' AS pattern, CAST(r.times AS BIGINT) AS count
FROM repeated r JOIN llm_calls c ON c.capture = r.capture AND c.call_id = r.first_call
UNION ALL
SELECT capture, ts_ns, proc_key,
       CAST(calls AS VARCHAR) || ' LLM calls within one minute by process:' || CAST(proc_key AS VARCHAR) AS summary,
       make_array('process:' || CAST(proc_key AS VARCHAR), 'llm_call:' || CAST(first_call AS VARCHAR),
                  'llm_call:' || CAST(last_call AS VARCHAR)) AS evidence,
       'call_burst' AS pattern, CAST(calls AS BIGINT) AS count
FROM bursts
