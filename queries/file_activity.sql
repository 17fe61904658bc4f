-- name: file_activity
-- description: File operations with their flags, mode and error spelled out, and whether each one changes the filesystem (write-open, create, truncate, rename, unlink, chmod, link, memfd).
SELECT
  capture,
  ts_ns,
  to_wall(ts_ns, capture) AS time,
  proc_key,
  pid,
  tid,
  comm,
  uid,
  op,
  path,
  path2,
  CASE WHEN op = 'open' THEN open_flags(flags) END AS flags_text,
  CASE WHEN op = 'chmod' OR (op = 'open' AND (flags & 64) <> 0) THEN file_mode(mode) END AS mode_text,
  ret,
  ret >= 0 AS ok,
  errno_name(ret) AS error,
  -- 1603 = O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND
  (op <> 'open' OR (flags & 1603) <> 0) AS mutating,
  dfd,
  flags,
  mode
FROM file_events
ORDER BY ts_ns, capture
