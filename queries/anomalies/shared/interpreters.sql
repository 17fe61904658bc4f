-- name: interpreters
-- description: Shells and script interpreters (by program base name): what a download is piped into.
SELECT * FROM (VALUES
  ('sh', 'shell'), ('bash', 'shell'), ('dash', 'shell'), ('zsh', 'shell'), ('ksh', 'shell'),
  ('fish', 'shell'), ('ash', 'shell'), ('busybox', 'shell'),
  ('python', 'interpreter'), ('python3', 'interpreter'), ('perl', 'interpreter'),
  ('ruby', 'interpreter'), ('node', 'interpreter'), ('php', 'interpreter'), ('bun', 'interpreter'),
  ('deno', 'interpreter'), ('lua', 'interpreter'), ('osascript', 'interpreter')
) AS t(program, kind)
