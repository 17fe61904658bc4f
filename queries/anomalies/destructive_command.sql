-- id: destructive_command
-- title: The model asked for a destructive or privileged command
-- severity: high
-- tags: T1485, T1548, T1222.002, impact
-- description: A tool call whose command matches `dangerous_commands`: `rm -rf` of /, home or system directories, `git push --force`, `git reset --hard`, `sudo`/`su`, world-writable or setuid chmod, privileged or host-mounted containers, disk wipes, fork bombs, switching off firewalls or audit, clearing shell history. The severity is the pattern's.
-- false_positives: Users who ask for exactly that; `sudo` in containers and CI images where it is routine.
WITH cmds AS (
  SELECT e.capture, e.ts_ns, e.node_id, e.agent_key, e.name, e.command, e.process_keys
  FROM tool_effects e WHERE e.command IS NOT NULL
), hits AS (
  SELECT c.capture, c.ts_ns, c.node_id, c.agent_key, c.name, c.command, c.process_keys,
         d.class, d.severity, d.technique
  FROM cmds c JOIN dangerous_commands d ON regexp_like(c.command, d.pattern)
)
SELECT capture, ts_ns, agent_key AS proc_key,
       class || ': the model asked ' || name || ' to run ' || command AS summary,
       CASE WHEN cardinality(process_keys) > 0 THEN make_array(node_id, 'process:' || process_keys[1])
            ELSE make_array(node_id) END AS evidence,
       severity, class, technique, command
FROM hits
