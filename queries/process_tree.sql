-- name: process_tree
-- description: Every (ancestor, descendant) pair of processes with their distance: WHERE root_key = K gives K's subtree, WHERE proc_key = K its ancestors (see also descendants(K) and ancestors(K)).
--
-- Follows parent_key from the processes view, so pid reuse cannot attach a
-- process to the wrong parent. Every process is its own root at depth 0.
-- Depth is capped at 64 so a corrupt capture with a parent cycle still ends.
WITH RECURSIVE tree AS (
  SELECT capture, proc_key AS root_key, proc_key, 0 AS depth, comm AS path
  FROM processes
  UNION ALL
  SELECT p.capture, t.root_key, p.proc_key, t.depth + 1 AS depth, concat(t.path, ' > ', p.comm) AS path
  FROM tree t
  JOIN processes p ON p.capture = t.capture AND p.parent_key = t.proc_key
  WHERE t.depth < 64
)
SELECT
  t.capture,
  t.root_key,
  key_pid(t.root_key) AS root_pid,
  t.proc_key,
  p.pid,
  p.parent_key,
  t.depth,
  p.comm,
  p.filename,
  p.argv,
  p.start_time,
  p.exit_code,
  p.exit_signal,
  t.path
FROM tree t
JOIN processes p ON p.capture = t.capture AND p.proc_key = t.proc_key
ORDER BY t.capture, t.root_key, p.start_ns, t.proc_key
