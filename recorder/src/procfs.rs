//! What the recorder reads from /proc: host identity, the clock anchor, the
//! pre-existing process snapshot, and target expansion (descendants, comm).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use agentsight_capture::manifest::{BootAnchor, HostInfo};
use agentsight_capture::rows::{ProcessRow, RowBuffers, Subject};
use agentsight_capture::schema::proc_key;

use super::events::{split_argv, stored_argv, text};
use agentsight_redact::Redactor;

/// /proc/PID/stat starttime is in USER_HZ ticks, which Linux fixes at 100.
const NS_PER_TICK: u64 = 10_000_000;

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

pub fn host_info() -> HostInfo {
    HostInfo {
        hostname: read_trimmed("/proc/sys/kernel/hostname"),
        kernel: read_trimmed("/proc/sys/kernel/osrelease"),
        machine: std::env::consts::ARCH.to_string(),
        boot_id: read_trimmed("/proc/sys/kernel/random/boot_id"),
    }
}

pub fn new_capture_id() -> String {
    read_trimmed("/proc/sys/kernel/random/uuid")
}

fn clock_ns(clock: libc::clockid_t) -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we own.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

pub fn boottime_ns() -> u64 {
    clock_ns(libc::CLOCK_BOOTTIME) as u64
}

pub fn realtime_ns() -> i64 {
    clock_ns(libc::CLOCK_REALTIME)
}

/// Reads both clocks several times and keeps the tightest pair, so the
/// anchor's error is the cost of one clock read, not a scheduling hiccup.
pub fn boot_anchor() -> BootAnchor {
    let mut best = (u64::MAX, BootAnchor::default());
    for _ in 0..16 {
        let b0 = boottime_ns();
        let r = realtime_ns();
        let b1 = boottime_ns();
        if b1 - b0 < best.0 {
            best = (
                b1 - b0,
                BootAnchor {
                    boottime_ns: b0 + (b1 - b0) / 2,
                    realtime_ns: r,
                },
            );
        }
    }
    best.1
}

/// Fields of /proc/PID/stat we need. comm may contain spaces and parens,
/// so split at the last ')'.
pub struct ProcStat {
    pub comm: String,
    pub ppid: u32,
    pub start_ns: u64,
}

pub fn proc_stat(pid: u32) -> Option<ProcStat> {
    let raw = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    let open = raw.iter().position(|&b| b == b'(')?;
    let close = raw.iter().rposition(|&b| b == b')')?;
    let comm = String::from_utf8_lossy(raw.get(open + 1..close)?).into_owned();
    let rest = std::str::from_utf8(raw.get(close + 2..)?).ok()?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is state (field 3); ppid is field 4, starttime field 22.
    let ppid = fields.get(1)?.parse().ok()?;
    let start_ticks: u64 = fields.get(19)?.parse().ok()?;
    Some(ProcStat {
        comm,
        ppid,
        start_ns: start_ticks * NS_PER_TICK,
    })
}

fn status_ids(pid: u32) -> (u32, u32) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(u32::MAX)
    };
    (field("Uid:"), field("Gid:"))
}

pub fn all_pids() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    pids
}

pub fn cwd_of(pid: u32) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/cwd"))
        .ok()
        .map(|p| text(p.as_os_str().as_encoded_bytes()).into_owned())
}

/// One `snapshot` row per process alive now (except the recorder itself).
pub fn snapshot(buffers: &mut RowBuffers, self_pid: u32, redactor: Option<&Redactor>) -> usize {
    let now = boottime_ns();
    let mut n = 0;
    for pid in all_pids() {
        if pid == self_pid {
            continue;
        }
        let Some(stat) = proc_stat(pid) else { continue };
        let (uid, gid) = status_ids(pid);
        let parent = proc_stat(stat.ppid);
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let argv = stored_argv(redactor, split_argv(&cmdline));
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
        let exe_text = exe
            .as_ref()
            .map(|p| text(p.as_os_str().as_encoded_bytes()).into_owned());
        let cwd = cwd_of(pid);
        buffers.process.push(&ProcessRow {
            subject: Subject {
                ts_ns: now,
                pid: pid as i32,
                tid: pid as i32,
                proc_key: proc_key(pid, stat.start_ns),
                comm: &stat.comm,
                uid,
            },
            kind: "snapshot",
            ppid: Some(stat.ppid as i32),
            parent_key: parent.map(|p| proc_key(stat.ppid, p.start_ns)),
            gid,
            cgroup_id: 0,
            filename: exe_text.as_deref(),
            argv: Some(argv.iter().map(|a| a.as_ref()).collect()),
            argv_truncated: Some(false),
            cwd: cwd.as_deref(),
            ..Default::default()
        });
        n += 1;
    }
    n
}

/// The given pids plus every live descendant, from one pass over /proc.
pub fn with_descendants(roots: &[u32]) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for pid in all_pids() {
        if let Some(st) = proc_stat(pid) {
            children.entry(st.ppid).or_default().push(pid);
        }
    }
    let mut seen: HashSet<u32> = HashSet::new();
    let mut stack: Vec<u32> = roots.to_vec();
    while let Some(p) = stack.pop() {
        if seen.insert(p) {
            if let Some(c) = children.get(&p) {
                stack.extend(c);
            }
        }
    }
    let mut out: Vec<u32> = seen.into_iter().collect();
    out.sort_unstable();
    out
}

/// Live processes whose comm equals one of `names` (kernel comm: 15 bytes).
pub fn pids_with_comm(names: &[String], self_pid: u32) -> Vec<u32> {
    all_pids()
        .into_iter()
        .filter(|&pid| pid != self_pid)
        .filter(|&pid| {
            let comm = read_trimmed(&format!("/proc/{pid}/comm"));
            names.iter().any(|n| comm_key(n)[..] == comm_key(&comm)[..])
        })
        .collect()
}

/// A comm name as the kernel stores it: at most 15 bytes, NUL padded.
pub fn comm_key(name: &str) -> [u8; 16] {
    let mut key = [0u8; 16];
    let bytes = name.as_bytes();
    let n = bytes.len().min(15);
    key[..n].copy_from_slice(&bytes[..n]);
    key
}

/// Finds `cmd` like a shell would: a path with '/' as is, else on $PATH.
pub fn resolve_command(cmd: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        p.is_file()
            && p.metadata()
                .map(|m| m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
    };
    if cmd.contains('/') {
        let p = Path::new(cmd);
        return executable(p).then(|| p.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(cmd))
        .find(|p| executable(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_stat_parses_and_matches_key_scheme() {
        let me = std::process::id();
        let st = proc_stat(me).expect("own stat");
        assert_eq!(st.ppid, std::os::unix::process::parent_id());
        assert_eq!(st.start_ns % NS_PER_TICK, 0);
        assert!(with_descendants(&[st.ppid]).contains(&me));
    }

    #[test]
    fn comm_key_truncates_like_the_kernel() {
        assert_eq!(
            &comm_key("a-very-long-command-name")[..15],
            b"a-very-long-com"
        );
        assert_eq!(comm_key("sh")[2], 0);
    }

    #[test]
    fn resolves_commands_on_path() {
        assert!(resolve_command("sh").is_some());
        assert!(resolve_command("definitely-not-a-command-xyz").is_none());
    }
}
