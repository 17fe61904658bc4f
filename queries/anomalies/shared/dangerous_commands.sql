-- name: dangerous_commands
-- description: Destructive or privileged command patterns (Rust regular expressions over a tool call's command text), with a class, a severity and the MITRE ATT&CK technique.
SELECT * FROM (VALUES
  ('(^|[;&|(\s])rm\s+(-[a-zA-Z]*\s+)*-[a-zA-Z]*(r[a-zA-Z]*f|f[a-zA-Z]*r|R[a-zA-Z]*f|f[a-zA-Z]*R)[a-zA-Z]*\s+(-[a-zA-Z-]+\s+)*("|'')?(/|~/?|\$HOME/?|/\*|~/\*|\$HOME/\*|\.\./?|/home/?|/root/?|/etc/?|/usr/?)("|'')?(\s|$|;|&)', 'rm_rf_root_or_home', 'critical', 'T1485'),
  ('(^|[;&|(\s])git\s+push\b[^;&|]*(\s--force(-with-lease)?\b|\s-f\b|\s\+[A-Za-z0-9_./-]+)', 'git_push_force', 'high', 'T1565.001'),
  ('(^|[;&|(\s])git\s+(reset\s+--hard|clean\s+-[a-zA-Z]*f)', 'git_discard', 'medium', 'T1485'),
  ('(^|[;&|(\s])sudo\s', 'sudo', 'high', 'T1548.003'),
  ('(^|[;&|(\s])(su\s+-|su\s+root|doas\s)', 'switch_user', 'high', 'T1548'),
  ('(^|[;&|(\s])chmod\s+(-[a-zA-Z]+\s+)*(0?777|a\+rwx|ugo\+rwx|o\+w)\b', 'chmod_world_writable', 'high', 'T1222.002'),
  ('(^|[;&|(\s])chmod\s+(-[a-zA-Z]+\s+)*[ugoa]*\+s\b|(^|[;&|(\s])chmod\s+(-[a-zA-Z]+\s+)*[4267][0-7]{3}\b', 'setuid', 'high', 'T1548.001'),
  ('(^|[;&|(\s])(docker|podman)\s+run\b[^;&|]*(--privileged|--pid[= ]host|--net(work)?[= ]host|-v\s+/:/|--volume[= ]/:/)', 'container_privileged', 'high', 'T1611'),
  ('(^|[;&|(\s])(mkfs(\.[a-z0-9]+)?|wipefs|shred)\s', 'disk_wipe', 'critical', 'T1561'),
  ('(^|[;&|(\s])dd\s+[^;&|]*of=/dev/(sd|nvme|vd|xvd|hd|mmcblk)', 'disk_wipe', 'critical', 'T1561'),
  (':\(\)\s*\{\s*:\s*\|\s*:\s*&\s*\}\s*;\s*:', 'fork_bomb', 'critical', 'T1499'),
  ('(^|[;&|(\s])(iptables\s+-F|ufw\s+disable|setenforce\s+0|systemctl\s+(stop|disable)\s+(auditd|apparmor|firewalld))', 'defense_off', 'high', 'T1562.001'),
  ('(^|[;&|(\s])(history\s+-c|unset\s+HISTFILE|shred\s+[^;&|]*history)', 'history_wipe', 'medium', 'T1070.003'),
  ('(^|[;&|(\s])crontab\s+(-r|-[a-z]*\s+\S+)', 'crontab_change', 'medium', 'T1053.003')
) AS t(pattern, class, severity, technique)
