-- name: agent_scope
-- description: The processes the rules watch, one row each: every process in an agent's tree, with the agent (`agent_key`, the nearest ancestor that made LLM calls); in a capture with no LLM call at all (an agent whose TLS was not captured), every recorded process, with agent_key NULL, since the recorder's target tree is then the only tree there is.
--
-- `tree` is what rules compare to say "the same agent's tree": the agent's
-- key, or 0 for the whole capture in the fallback.
WITH has_agent AS (
  SELECT capture, bool_or(coalesce(agent, false)) AS any_agent
  FROM graph_nodes WHERE kind = 'process' GROUP BY capture
)
SELECT n.capture, n.proc_key, n.pid, n.agent_key, coalesce(n.agent_key, 0) AS tree,
       coalesce(n.agent, false) AS is_agent, n.name AS program, n.label, n.node_id
FROM graph_nodes n JOIN has_agent h ON h.capture = n.capture
WHERE n.kind = 'process' AND (n.agent_key IS NOT NULL OR NOT h.any_agent)
