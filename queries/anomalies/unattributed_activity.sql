-- id: unattributed_activity
-- title: The agent's tree acted with no tool call asking for it
-- severity: medium
-- tags: T1195.002, T1059, execution
-- description: Processes started and connects made in an agent's tree that no tool call explains (`unattributed`: outside every tool call's window, or only weakly attributed), and the agent's own file mutations outside its built-in file tools. This is where a malicious dependency, a post-install hook running later, or an injected background task shows up.
--   One finding per unexplained process tree (its descendants are in `unattributed` as `child_of_unattributed`); what the agent started before its first LLM call is one low finding per agent (startup: shims, version checks).
-- false_positives: Agents' own helpers (a language server, a shell kept open between tool calls, an updater or telemetry when not switched off); writes of the agent's own state (history, caches) are low.
WITH first_call AS (
  SELECT capture, proc_key AS agent_key, min(ts_ns) AS first_ns FROM llm_calls GROUP BY capture, proc_key
), rows AS (
  SELECT u.*, f.first_ns, u.ts_ns < coalesce(f.first_ns, 0) AS at_startup
  FROM unattributed u LEFT JOIN first_call f ON f.capture = u.capture AND f.agent_key = u.agent_key
  WHERE u.reason <> 'child_of_unattributed'
    AND NOT (u.activity = 'file' AND (u.node_id LIKE 'file:/dev/%' OR u.node_id LIKE 'file:/proc/%'))
), startup AS (
  SELECT capture, agent_key, min(ts_ns) AS ts_ns, count(*) AS processes,
         array_agg(node_id ORDER BY ts_ns) AS nodes,
         array_agg(DISTINCT comm) AS programs
  FROM rows WHERE at_startup AND activity = 'process'
  GROUP BY capture, agent_key
)
SELECT capture, ts_ns, proc_key,
       activity || ' ' || coalesce(detail, node_id) || ' (' || reason
         || CASE WHEN confidence IS NOT NULL THEN ', best attribution ' || CAST(round(confidence, 2) AS VARCHAR) ELSE '' END
         || ')' AS summary,
       make_array('process:' || CAST(proc_key AS VARCHAR), node_id, 'process:' || CAST(agent_key AS VARCHAR)) AS evidence,
       CASE WHEN activity = 'file' THEN 'low' ELSE 'medium' END AS severity,
       activity, reason, comm, detail
FROM rows WHERE NOT (at_startup AND activity = 'process')
UNION ALL
SELECT capture, ts_ns, agent_key AS proc_key,
       CAST(processes AS VARCHAR) || ' processes started by process:' || CAST(agent_key AS VARCHAR)
         || ' before its first LLM call (startup): ' || array_to_string(array_sort(programs), ', ') AS summary,
       array_concat(make_array('process:' || CAST(agent_key AS VARCHAR)), array_slice(nodes, 1, 8)) AS evidence,
       'low' AS severity, 'process' AS activity, 'startup' AS reason,
       CAST(NULL AS VARCHAR) AS comm, CAST(processes AS VARCHAR) || ' processes' AS detail
FROM startup
