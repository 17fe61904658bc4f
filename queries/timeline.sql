-- name: timeline
-- description: Every process, file, network and TLS event in time order with a one-line human summary (TLS calls once per call, not per chunk).
SELECT
  capture,
  ts_ns,
  to_wall(ts_ns, capture) AS time,
  proc_key,
  pid,
  tid,
  comm,
  source,
  kind,
  summary
FROM (
  SELECT capture, ts_ns, proc_key, pid, tid, comm, 'process' AS source, kind,
    CASE kind
      WHEN 'exec' THEN concat('exec ', filename, ': ', array_to_string(argv, ' '), CASE WHEN argv_truncated THEN ' …' END)
      WHEN 'snapshot' THEN concat('already running: ', array_to_string(argv, ' '))
      WHEN 'fork' THEN concat('started by pid ', CAST(ppid AS VARCHAR))
      WHEN 'exit' THEN
        CASE WHEN exit_signal IS NOT NULL THEN concat('killed by ', signal_name(exit_signal))
             ELSE concat('exit ', CAST(exit_code AS VARCHAR)) END
      ELSE kind
    END AS summary
  FROM process_events
  UNION ALL
  SELECT capture, ts_ns, proc_key, pid, tid, comm, 'file' AS source, op AS kind,
    concat(op, ' ', path,
      CASE WHEN path2 IS NOT NULL THEN concat(' -> ', path2) END,
      CASE WHEN op = 'open' THEN concat(' ', open_flags(flags)) END,
      CASE WHEN op = 'chmod' THEN concat(' ', file_mode(mode)) END,
      CASE WHEN ret < 0 THEN concat(' failed: ', errno_name(ret))
           WHEN op = 'open' THEN concat(' = fd ', CAST(ret AS VARCHAR)) END) AS summary
  FROM file_events
  UNION ALL
  SELECT capture, ts_ns, proc_key, pid, tid, comm, 'net' AS source, op AS kind,
    concat(op, ' ', family, ' ',
      coalesce(unix_path, concat(remote_addr, ':', CAST(remote_port AS VARCHAR)), '?'),
      CASE WHEN ret = -115 THEN ' (in progress)'
           WHEN ret < 0 THEN concat(' failed: ', errno_name(ret))
           WHEN op = 'accept' THEN concat(' = fd ', CAST(ret AS VARCHAR)) END) AS summary
  FROM net_events
  UNION ALL
  SELECT capture, ts_ns, proc_key, pid, tid, comm, 'tls' AS source, event AS kind,
    CASE event
      WHEN 'sni' THEN concat('TLS server name ', value)
      WHEN 'set_fd' THEN concat('TLS connection on fd ', CAST(fd AS VARCHAR))
      WHEN 'attach' THEN concat('TLS library hooked: ', value)
      ELSE concat('TLS ', event)
    END AS summary
  FROM tls_events
  UNION ALL
  -- One row per TLS call: lost bytes are counted on a call's last chunk.
  SELECT capture, min(ts_ns) AS ts_ns, proc_key, min(pid) AS pid, min(tid) AS tid, min(comm) AS comm,
    'tls' AS source, direction AS kind,
    concat(func, ' ', CAST(max(call_len) AS VARCHAR), ' bytes',
      CASE WHEN sum(lost_bytes) > 0 THEN concat(' (', CAST(sum(lost_bytes) AS VARCHAR), ' lost)') END,
      ': ', bytes_preview(first_value(data ORDER BY chunk_index), 80)) AS summary
  FROM tls_chunks
  GROUP BY capture, proc_key, call_seq, direction, func
)
ORDER BY ts_ns, capture, source, kind
