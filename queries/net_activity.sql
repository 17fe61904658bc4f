-- name: net_activity
-- description: Socket connects and accepts with readable endpoints (ip:port or unix path) and the outcome; a non-blocking connect in progress (EINPROGRESS) counts as ok.
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
  family,
  CASE
    WHEN unix_path IS NOT NULL THEN unix_path
    WHEN remote_addr IS NULL THEN NULL
    WHEN family = 'inet6' THEN concat('[', remote_addr, ']:', CAST(remote_port AS VARCHAR))
    ELSE concat(remote_addr, ':', CAST(remote_port AS VARCHAR))
  END AS remote,
  CASE
    WHEN local_addr IS NULL THEN NULL
    WHEN family = 'inet6' THEN concat('[', local_addr, ']:', CAST(local_port AS VARCHAR))
    ELSE concat(local_addr, ':', CAST(local_port AS VARCHAR))
  END AS local,
  fd,
  ret,
  (ret >= 0 OR (op = 'connect' AND ret = -115)) AS ok,
  errno_name(ret) AS error,
  remote_addr,
  remote_port,
  local_addr,
  local_port,
  unix_path
FROM net_events
ORDER BY ts_ns, capture
