-- name: download_tools
-- description: Programs that fetch or push data over the network (by program base name), for the download-and-execute and egress rules.
SELECT * FROM (VALUES
  ('curl'), ('wget'), ('aria2c'), ('axel'), ('lftp'), ('ftp'), ('tftp'), ('scp'), ('sftp'),
  ('rsync'), ('nc'), ('ncat'), ('netcat'), ('socat'), ('busybox')
) AS t(program)
