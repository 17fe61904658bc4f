//! End to end: the real recorder, as root, against real programs.

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const O_WRONLY: u32 = 0o1;
const O_CREAT: u32 = 0o100;
const O_TRUNC: u32 = 0o1000;

#[test]
#[cfg_attr(
    no_ebpf,
    ignore = "needs root and kernel BTF to record (CI=true runs it and fails instead)"
)]
fn records_a_shell_session_with_files_network_and_exit_code() {
    let _g = serial();
    if !can_record() {
        return;
    }
    let work = tempdir();
    let out = work.path().join("cap");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, peer) = listener.accept().unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        peer
    });
    let dir = work.path().display().to_string();
    let script = format!(
        "cd {dir} && printf '#!/bin/sh\\necho hello from script\\n' > run.sh && chmod 755 run.sh && ./run.sh first-arg \
         && cat /etc/hostname > /dev/null; cat {dir}/missing-file 2>/dev/null; \
         exec 3<>/dev/tcp/127.0.0.1/{port}; echo ping >&3; exec 3>&-; exit 3"
    );
    let output = record(&out, &[], &["bash", "-c", &script]);
    let peer = server.join().unwrap();
    assert_eq!(
        output.status.code(),
        Some(3),
        "the command's exit code is the recorder's"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("hello from script"),
        "the command's output passes through: {stdout}"
    );

    let procs = rows(&out, "process_events");
    let bash_exec = procs
        .iter()
        .find(|r| r["kind"] == "exec" && argv(r).first().map(String::as_str) == Some("bash"))
        .expect("exec of bash");
    assert_eq!(
        argv(bash_exec),
        vec!["bash".to_string(), "-c".into(), script.clone()]
    );
    let bash_key = bash_exec["proc_key"].clone();

    let script_exec = procs
        .iter()
        .find(|r| r["kind"] == "exec" && r["filename"] == "./run.sh")
        .expect("exec of ./run.sh");
    assert_eq!(
        argv(script_exec),
        vec!["/bin/sh".to_string(), "./run.sh".into(), "first-arg".into()]
    );
    assert_eq!(
        script_exec["parent_key"], bash_key,
        "run.sh's parent is the bash that forked it"
    );
    assert!(
        procs.iter().any(|r| r["kind"] == "fork"
            && r["proc_key"] == script_exec["proc_key"]
            && r["parent_key"] == bash_key),
        "fork row links the child to bash"
    );
    let cat_exec = procs
        .iter()
        .find(|r| r["kind"] == "exec" && argv(r) == vec!["cat", "/etc/hostname"])
        .expect("exec of cat");
    assert_eq!(cat_exec["parent_key"], bash_key);
    assert_eq!(cat_exec["cwd"], dir, "cwd of the exec, from the kernel");

    let bash_exit = procs
        .iter()
        .find(|r| r["kind"] == "exit" && r["proc_key"] == bash_key)
        .expect("exit of bash");
    assert_eq!(bash_exit["exit_code"], "3");
    assert_eq!(bash_exit["exit_signal"], "NULL");
    assert_eq!(
        bash_exit["wait_status"],
        (3 << 8).to_string(),
        "the raw wait status"
    );

    let files = rows(&out, "file_events");
    let script_path = format!("{dir}/run.sh");
    let created = files
        .iter()
        .find(|r| r["op"] == "open" && r["path"] == "run.sh" && r["proc_key"] == bash_key)
        .expect("bash opened run.sh for writing");
    let flags: u32 = created["flags"].parse().unwrap();
    assert_eq!(
        flags & (O_WRONLY | O_CREAT | O_TRUNC),
        O_WRONLY | O_CREAT | O_TRUNC,
        "flags {flags:o}"
    );
    assert!(created["ret"].parse::<i64>().unwrap() >= 0);
    let chmod = files
        .iter()
        .find(|r| r["op"] == "chmod" && r["path"] == "run.sh")
        .expect("chmod of run.sh");
    assert_eq!(chmod["mode"].parse::<u32>().unwrap(), 0o755);
    assert_eq!(chmod["ret"], "0");
    let secret = files
        .iter()
        .find(|r| r["op"] == "open" && r["path"] == "/etc/hostname")
        .expect("open of /etc/hostname");
    assert!(secret["ret"].parse::<i64>().unwrap() >= 0);
    let missing = files
        .iter()
        .find(|r| r["op"] == "open" && r["path"] == format!("{dir}/missing-file"))
        .expect("failed open");
    assert_eq!(missing["ret"], "-2", "ENOENT");
    assert!(!files
        .iter()
        .any(|r| r["path"] == script_path && r["ret"].starts_with('-')));

    let net = rows(&out, "net_events");
    let conn = net
        .iter()
        .find(|r| r["op"] == "connect" && r["remote_port"] == port.to_string())
        .expect("connect row");
    assert_eq!(conn["remote_addr"], "127.0.0.1");
    assert_eq!(conn["family"], "inet");
    assert_eq!(conn["ret"], "0");
    assert_eq!(conn["local_addr"], peer.ip().to_string());
    assert_eq!(
        conn["local_port"],
        peer.port().to_string(),
        "local port is the one the server saw"
    );
    assert_eq!(conn["proc_key"], bash_key);

    // The same facts, read independently with pyarrow.
    let py = r#"
import sys, json, glob, pyarrow.parquet as pq
d = sys.argv[1]
def table(name):
    files = sorted(glob.glob(f"{d}/{name}/seg-*.parquet"))
    return [r for f in files for r in pq.read_table(f).to_pylist()]
procs = table("process_events"); files = table("file_events"); net = table("net_events")
run = [p for p in procs if p["kind"] == "exec" and p["filename"] == "./run.sh"][0]
bash_exit = [p for p in procs if p["kind"] == "exit" and p["proc_key"] == run["parent_key"]][0]
conn = [n for n in net if n["op"] == "connect" and n["remote_addr"] == "127.0.0.1"][0]
chmod = [f for f in files if f["op"] == "chmod"][0]
print(json.dumps({"argv": run["argv"], "exit": bash_exit["exit_code"], "rport": conn["remote_port"],
                  "lport": conn["local_port"], "chmod": chmod["mode"]}))
"#;
    if let Some(text) = python(py, &out) {
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(
            v["argv"],
            serde_json::json!(["/bin/sh", "./run.sh", "first-arg"])
        );
        assert_eq!(v["exit"], 3);
        assert_eq!(v["rport"], port);
        assert_eq!(v["lport"], peer.port());
        assert_eq!(v["chmod"], 0o755);
    }

    let verify = agentsight(&["verify", &out.display().to_string()]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let info = agentsight(&["info", &out.display().to_string()]);
    let info_text = String::from_utf8_lossy(&info.stdout);
    assert!(
        info.status.success() && info_text.contains("integrity    intact"),
        "{info_text}"
    );
    assert!(info_text.contains("exit code    3"), "{info_text}");
}

#[test]
#[cfg_attr(
    no_ebpf,
    ignore = "needs root and kernel BTF to record (CI=true runs it and fails instead)"
)]
fn snapshot_lists_processes_that_existed_before_recording() {
    let _g = serial();
    if !can_record() {
        return;
    }
    let work = tempdir();
    let out = work.path().join("cap");
    let output = record(&out, &[], &["true"]);
    assert!(output.status.success());
    let procs = rows(&out, "process_events");
    let me = std::process::id().to_string();
    let mine = procs
        .iter()
        .find(|r| r["kind"] == "snapshot" && r["pid"] == me)
        .expect("snapshot row for the test process");
    let own_args: Vec<String> = std::env::args().collect();
    assert_eq!(argv(mine), own_args);
    assert!(
        procs
            .iter()
            .any(|r| r["kind"] == "snapshot" && r["pid"] == "1"),
        "init is in the snapshot"
    );
    // only the command ran under the recorder: its own helpers are not recorded
    let execs: Vec<Vec<String>> = procs
        .iter()
        .filter(|r| r["kind"] == "exec")
        .map(argv)
        .collect();
    assert_eq!(execs, vec![vec!["true".to_string()]]);
    // the snapshot's proc_key agrees with the key scheme: pid in the low bits
    let key: u64 = mine["proc_key"].parse().unwrap();
    assert_eq!(
        agentsight_capture::schema::split_proc_key(key).0,
        std::process::id()
    );
}

fn count_created(files: &[std::collections::BTreeMap<String, String>], dir: &str) -> usize {
    files
        .iter()
        .filter(|r| {
            r["op"] == "open"
                && r["path"].starts_with(dir)
                && r["ret"].parse::<i64>().unwrap_or(-1) >= 0
        })
        .count()
}

fn files_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

/// Blocks until the recorder writing `out` is draining: its first hand-over
/// to the writer (the /proc snapshot rows) comes after every program is
/// attached and every target followed. A fixed sleep raced the start on a
/// busy machine.
fn wait_until_recording(out: &Path) {
    let t0 = Instant::now();
    let journal_started = || {
        std::fs::read_dir(out.join("process_events"))
            .map(|d| {
                d.flatten()
                    .any(|e| e.path().extension().is_some_and(|x| x == "journal"))
            })
            .unwrap_or(false)
    };
    while !journal_started() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the recorder never started draining"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// ids of loaded BPF programs named like ours, with the commands holding them.
fn agentsight_programs() -> Vec<(u64, Vec<String>)> {
    let out = Command::new("bpftool")
        .args(["-j", "prog", "show"])
        .output();
    let o = out.expect("bpftool (installed by scripts/setup.sh) lists loaded programs");
    let progs: serde_json::Value = serde_json::from_slice(&o.stdout).expect("bpftool json");
    progs
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == "handle_exec" || p["name"] == "handle_fork")
        .map(|p| {
            let holders = p["pids"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x["comm"].as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            (p["id"].as_u64().unwrap(), holders)
        })
        .collect()
}

/// Records a bash loop that creates numbered files in `<work>/burst`, with
/// `pause` between files (empty for as fast as it can).
fn spawn_burst_recording(
    work: &Path,
    pause: &str,
    segment_secs: &str,
    stderr: Stdio,
) -> (std::process::Child, std::path::PathBuf, std::path::PathBuf) {
    let out = work.join("cap");
    let burst = work.join("burst");
    std::fs::create_dir(&burst).unwrap();
    let script = format!(
        "i=0; while :; do i=$((i+1)); : > {}/f$i; {pause} done",
        burst.display()
    );
    let rec = Command::new(BIN)
        .args([
            "record",
            "-o",
            &out.display().to_string(),
            "--segment-secs",
            segment_secs,
            "--",
            "bash",
            "-c",
            &script,
        ])
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    (rec, out, burst)
}

#[test]
#[cfg_attr(
    no_ebpf,
    ignore = "needs root and kernel BTF to record (CI=true runs it and fails instead)"
)]
fn sigint_during_a_burst_seals_everything_and_loses_nothing() {
    let _g = serial();
    if !can_record() {
        return;
    }
    let work = tempdir();
    // builtins only: one process creating files as fast as it can
    let before: Vec<u64> = agentsight_programs().into_iter().map(|p| p.0).collect();
    let (mut rec, out, burst) = spawn_burst_recording(work.path(), "", "1", Stdio::piped());
    let bdir = burst.display().to_string();
    let t0 = Instant::now();
    while files_in(&burst) < 20_000 && t0.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(rec.id() as i32, libc::SIGINT) };
    let status = rec.wait().unwrap();
    let mut err = String::new();
    rec.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    eprintln!("{err}");
    assert!(
        status.code().is_some(),
        "recorder exited by itself after SIGINT"
    );

    let on_disk = files_in(&burst);
    assert!(on_disk >= 20_000, "burst produced {on_disk} files");
    let m = agentsight_capture::Manifest::load(&out).unwrap();
    assert_eq!(m.state, agentsight_capture::CaptureState::Closed);
    assert!(m.drops.is_empty(), "drops: {:?}", m.drops);
    assert!(agentsight_capture::unsealed_files(&out).is_empty());
    let verify = agentsight(&["verify", &out.display().to_string()]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let files = rows(&out, "file_events");
    assert_eq!(
        count_created(&files, &bdir),
        on_disk,
        "every created file has exactly one captured open"
    );
    // the launched command was stopped with the recorder, and no probe stayed loaded
    let procs = rows(&out, "process_events");
    assert!(
        procs
            .iter()
            .any(|r| r["kind"] == "exit" && r["comm"] == "bash"),
        "bash exit recorded"
    );
    // a program that appeared during this recording and is still held by
    // anything but another live recorder (e.g. an inherited fd) is leaked
    // (the kernel frees a detached program after an RCU grace period: allow a moment)
    let leaked = || -> Vec<_> {
        agentsight_programs()
            .into_iter()
            .filter(|(id, holders)| {
                !before.contains(id)
                    && (holders.is_empty() || holders.iter().any(|c| c != "agentsight"))
            })
            .collect()
    };
    let t0 = Instant::now();
    while !leaked().is_empty() && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(leaked().is_empty(), "BPF programs detached: {:?}", leaked());
}

#[test]
#[cfg_attr(
    no_ebpf,
    ignore = "needs root and kernel BTF to record (CI=true runs it and fails instead)"
)]
fn kill_9_leaves_sealed_segments_and_a_recoverable_journal() {
    let _g = serial();
    if !can_record() {
        return;
    }
    let work = tempdir();
    // Write back what earlier builds and tests left dirty first: the journal's
    // once-a-second fsync must not queue behind gigabytes of link output.
    let _ = Command::new("sync").status();
    // a steady 200 files/s so "at most ~1 s lost" is measurable
    // Seals every 3 s: the kill lands between two seals. A seal fsyncs on
    // the writer thread, and a slow disk would make this measure its latency.
    let (mut rec, out, burst) =
        spawn_burst_recording(work.path(), "sleep 0.005;", "3", Stdio::null());
    let bdir = burst.display().to_string();
    // wait for the first sealed segment (startup time varies with load), then
    // let the journal fill for a while before the kill
    let t0 = Instant::now();
    while agentsight_capture::Manifest::load(&out)
        .map(|m| m.segments.is_empty())
        .unwrap_or(true)
    {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no segment sealed within 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1500));
    rec.kill().unwrap(); // SIGKILL
    rec.wait().unwrap();
    std::thread::sleep(Duration::from_millis(300)); // the command dies with the recorder (PDEATHSIG)
    let on_disk = files_in(&burst);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        files_in(&burst),
        on_disk,
        "the launched command did not outlive the recorder"
    );

    // sealed segments verify even before recovery
    let verify = agentsight(&["verify", &out.display().to_string()]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let sealed_before = agentsight_capture::Manifest::load(&out)
        .unwrap()
        .segments
        .len();
    assert!(sealed_before >= 1, "segments were sealed during recording");
    assert!(
        !agentsight_capture::unsealed_files(&out).is_empty(),
        "journal present after kill -9"
    );

    let rec_out = agentsight(&["recover", &out.display().to_string()]);
    assert!(
        rec_out.status.success(),
        "{}",
        String::from_utf8_lossy(&rec_out.stderr)
    );
    let verify = agentsight(&["verify", &out.display().to_string()]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let files = rows(&out, "file_events");
    let captured = count_created(&files, &bdir);
    let missing = on_disk - captured;
    eprintln!("files on disk {on_disk}, captured {captured}, missing {missing}");
    assert!(captured <= on_disk);
    // ~200/s: allow 1 s of loss plus the flush jitter
    assert!(missing <= 300, "lost {missing} events (more than ~1 s)");
}

#[test]
#[cfg_attr(
    no_ebpf,
    ignore = "needs root and kernel BTF to record (CI=true runs it and fails instead)"
)]
fn tampered_segment_fails_verification_naming_it() {
    let _g = serial();
    if !can_record() {
        return;
    }
    let work = tempdir();
    let out = work.path().join("cap");
    assert!(record(&out, &[], &["sh", "-c", "ls / > /dev/null"])
        .status
        .success());
    let m = agentsight_capture::Manifest::load(&out).unwrap();
    let victim = m
        .segments
        .iter()
        .find(|s| s.table == "process_events")
        .unwrap();
    let path = out.join(&victim.file);
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();
    let verify = agentsight(&["verify", &out.display().to_string()]);
    assert_eq!(verify.status.code(), Some(1));
    let text = String::from_utf8_lossy(&verify.stdout);
    assert!(text.contains(&victim.file), "names the segment: {text}");
}

#[test]
#[cfg_attr(
    no_ebpf,
    ignore = "needs root and kernel BTF to record (CI=true runs it and fails instead)"
)]
fn capture_files_are_private() {
    let _g = serial();
    if !can_record() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let work = tempdir();
    let out = work.path().join("cap");
    assert!(record(&out, &[], &["true"]).status.success());
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let m = agentsight_capture::Manifest::load(&out).unwrap();
    for seg in &m.segments {
        assert_eq!(
            std::fs::metadata(out.join(&seg.file))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600,
            "{}",
            seg.file
        );
    }
    assert_eq!(
        std::fs::metadata(out.join("manifest.json"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
}

#[test]
#[cfg_attr(
    no_ebpf,
    ignore = "needs root and kernel BTF to record (CI=true runs it and fails instead)"
)]
fn bad_invocations_fail_with_one_clear_sentence() {
    let _g = serial();
    if !can_record() {
        return;
    }
    let work = tempdir();
    let out = work.path().join("cap");
    let o = record(&out, &[], &["no-such-command-xyz"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("command not found: no-such-command-xyz"));

    let nonempty = work.path().join("busy");
    std::fs::create_dir(&nonempty).unwrap();
    std::fs::write(nonempty.join("keep.txt"), "x").unwrap();
    let o = record(&nonempty, &["--force"], &["true"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stderr).contains("holds no capture manifest"));
    assert!(
        nonempty.join("keep.txt").exists(),
        "never deletes a non-capture directory"
    );
    let o = record(&nonempty, &[], &["true"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("exists and is not empty"));

    // a previous capture may be replaced with --force
    assert!(record(&out, &[], &["true"]).status.success());
    assert!(!record(&out, &[], &["true"]).status.success());
    assert!(record(&out, &["--force"], &["true"]).status.success());

    // not root: one sentence, non-zero
    let o = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            BIN,
            "record",
            "-o",
            "/tmp/agentsight-nobody",
            "--",
            "true",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("needs root"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
#[cfg_attr(
    no_ebpf,
    ignore = "needs root and kernel BTF to record (CI=true runs it and fails instead)"
)]
fn follows_an_existing_pid_and_its_new_children() {
    let _g = serial();
    if !can_record() {
        return;
    }
    let work = tempdir();
    let out = work.path().join("cap");
    let marker = work.path().join("go");
    let mdir = marker.display().to_string();
    // waits for the marker, then forks a child that opens a file
    let mut target = Command::new("bash")
        .args(["-c", &format!("while [ ! -e {mdir} ]; do sleep 0.05; done; cat /etc/os-release > /dev/null; sleep 0.3")])
        .spawn()
        .unwrap();
    let pid = target.id().to_string();
    let mut rec = Command::new(BIN)
        .args([
            "record",
            "-o",
            &out.display().to_string(),
            "-p",
            &pid,
            "--duration",
            "3",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until_recording(&out);
    std::fs::write(&marker, "").unwrap();
    target.wait().unwrap();
    assert!(rec.wait().unwrap().success());
    let procs = rows(&out, "process_events");
    let cat = procs
        .iter()
        .find(|r| r["kind"] == "exec" && argv(r) == vec!["cat", "/etc/os-release"])
        .expect("child exec followed");
    assert_eq!(cat["ppid"], pid);
    let files = rows(&out, "file_events");
    assert!(files
        .iter()
        .any(|r| r["path"] == "/etc/os-release" && r["proc_key"] == cat["proc_key"]));
    // an unrelated process is not recorded
    assert!(!procs
        .iter()
        .any(|r| r["kind"] == "exec" && r["comm"] == "cargo"));
}

#[test]
#[cfg_attr(
    no_ebpf,
    ignore = "needs root and kernel BTF to record (CI=true runs it and fails instead)"
)]
fn disk_full_stops_recording_says_so_and_keeps_what_it_can() {
    let _g = serial();
    if !can_record() {
        return;
    }
    let work = tempdir();
    let small = work.path().join("small");
    std::fs::create_dir(&small).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=600k", "tmpfs"])
        .arg(&small)
        .status()
        .unwrap();
    assert!(mounted.success(), "mount a tiny tmpfs");
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&small);
    let out = small.join("cap");
    let burst = work.path().join("burst");
    std::fs::create_dir(&burst).unwrap();
    let script = format!(
        "i=0; while :; do i=$((i+1)); : > {}/f$i; done",
        burst.display()
    );
    let t0 = Instant::now();
    let o = record(&out, &["--segment-secs", "1"], &["bash", "-c", &script]);
    assert!(t0.elapsed() < Duration::from_secs(60), "stopped by itself");
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("No space left on device") && err.contains("agentsight recover"),
        "{err}"
    );
    assert!(
        !out.join(".manifest.json.tmp").exists(),
        "no half-written manifest left"
    );
    // the manifest is still valid and what was sealed verifies
    let verify = agentsight(&["verify", &out.display().to_string()]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

#[test]
#[cfg_attr(
    no_ebpf,
    ignore = "needs root and kernel BTF to record (CI=true runs it and fails instead)"
)]
fn system_wide_and_comm_modes_follow_the_right_processes() {
    let _g = serial();
    if !can_record() {
        return;
    }
    let work = tempdir();
    let marker = work.path().join("marker-system-wide");
    let mdir = marker.display().to_string();

    // system-wide: an unrelated process is recorded, the recorder itself is not
    let out = work.path().join("all");
    let mut rec = Command::new(BIN)
        .args([
            "record",
            "-q",
            "-o",
            &out.display().to_string(),
            "--duration",
            "2.5",
        ])
        .spawn()
        .unwrap();
    wait_until_recording(&out);
    assert!(Command::new("sh")
        .args(["-c", &format!("echo x > {mdir}")])
        .status()
        .unwrap()
        .success());
    assert!(rec.wait().unwrap().success());
    let files = rows(&out, "file_events");
    assert!(
        files.iter().any(|r| r["path"] == mdir && r["comm"] == "sh"),
        "unrelated process recorded system-wide"
    );
    let recorder_pid = rec.id().to_string();
    assert!(
        !files.iter().any(|r| r["pid"] == recorder_pid),
        "the recorder's own file activity is excluded"
    );

    // --comm: only processes with that name (and their children) are followed
    let comm_out = work.path().join("comm");
    let mut rec = Command::new(BIN)
        .args([
            "record",
            "-q",
            "-o",
            &comm_out.display().to_string(),
            "--comm",
            "agentsight-tgt",
            "--duration",
            "3",
        ])
        .spawn()
        .unwrap();
    wait_until_recording(&comm_out);
    let tgt = work.path().join("agentsight-tgt");
    std::fs::copy("/bin/sh", &tgt).unwrap();
    let followed = work.path().join("followed");
    let ignored = work.path().join("ignored");
    assert!(Command::new(&tgt)
        .args(["-c", &format!("cat /etc/hostname > {}", followed.display())])
        .status()
        .unwrap()
        .success());
    assert!(Command::new("sh")
        .args(["-c", &format!("echo y > {}", ignored.display())])
        .status()
        .unwrap()
        .success());
    assert!(rec.wait().unwrap().success());
    let files = rows(&comm_out, "file_events");
    assert!(
        files
            .iter()
            .any(|r| r["path"] == followed.display().to_string()),
        "the named process is followed"
    );
    assert!(
        files
            .iter()
            .any(|r| r["path"] == "/etc/hostname" && r["comm"] == "cat"),
        "and its child"
    );
    assert!(
        !files
            .iter()
            .any(|r| r["path"] == ignored.display().to_string()),
        "others are not"
    );
}

#[test]
#[cfg_attr(
    no_ebpf,
    ignore = "needs root and kernel BTF to record (CI=true runs it and fails instead)"
)]
fn long_argv_is_cut_and_flagged_not_silently_truncated() {
    let _g = serial();
    if !can_record() {
        return;
    }
    let work = tempdir();
    let out = work.path().join("cap");
    let long = "a".repeat(20_000);
    assert!(record(&out, &[], &["/bin/echo", "short", &long])
        .status
        .success());
    let procs = rows(&out, "process_events");
    let exec = procs.iter().find(|r| r["kind"] == "exec").unwrap();
    assert_eq!(exec["argv_truncated"], "true");
    let args = argv(exec);
    assert_eq!(&args[..2], &["/bin/echo".to_string(), "short".to_string()]);
    assert!(
        args[2].len() > 10_000 && args[2].len() < 20_000,
        "kept the first 16 KiB: {}",
        args[2].len()
    );
}

#[test]
#[cfg_attr(
    no_ebpf,
    ignore = "needs root and kernel BTF to record (CI=true runs it and fails instead)"
)]
fn recorded_pipeline_is_queryable_with_argv_and_exit_codes() {
    let _g = serial();
    if !can_record() {
        return;
    }
    let work = tempdir();
    let out = work.path().join("cap");
    let o = record(
        &out,
        &[],
        &[
            "bash",
            "-c",
            "printf 'b\\na\\n' | sort | grep -q zzz; exit 0",
        ],
    );
    assert!(o.status.success());
    let q = agentsight(&[
        "query",
        &out.display().to_string(),
        "--format",
        "json",
        "SELECT argv, exit_code FROM processes WHERE NOT snapshot AND argv IS NOT NULL ORDER BY start_ns",
    ]);
    assert!(q.status.success(), "{}", String::from_utf8_lossy(&q.stderr));
    let text = String::from_utf8_lossy(&q.stdout);
    let rows: Vec<serde_json::Value> = match serde_json::from_str::<serde_json::Value>(text.trim())
    {
        Ok(serde_json::Value::Array(a)) => a,
        _ => text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
    };
    let find = |cmd: &str| {
        rows.iter()
            .find(|r| r["argv"][0] == cmd)
            .unwrap_or_else(|| panic!("{cmd} in {text}"))
    };
    assert_eq!(find("sort")["exit_code"], 0);
    assert_eq!(
        find("grep")["argv"],
        serde_json::json!(["grep", "-q", "zzz"])
    );
    assert_eq!(find("grep")["exit_code"], 1, "grep found nothing");
    assert_eq!(find("bash")["exit_code"], 0);
}

/// cgroup_id is the cgroup v2 id of the task, which is the inode number of
/// its cgroup directory: move the command into a fresh cgroup (a cgroup2
/// mount of our own works beside v1 controllers) and find that inode.
#[test]
#[cfg_attr(
    no_ebpf,
    ignore = "needs root and kernel BTF to record (CI=true runs it and fails instead)"
)]
fn events_carry_the_cgroup_v2_id_of_their_task() {
    let _g = serial();
    if !can_record() {
        return;
    }
    let work = tempdir();
    let mount_point = work.path().join("cgroup2");
    std::fs::create_dir(&mount_point).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "cgroup2", "none"])
        .arg(&mount_point)
        .status()
        .unwrap();
    assert!(mounted.success(), "mount cgroup2");
    let group = mount_point.join(format!("agentsight-test-{}", std::process::id()));
    std::fs::create_dir(&group).unwrap();
    let group_id = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&group).unwrap());

    let out = work.path().join("cap");
    let script = format!(
        "echo $$ > {}/cgroup.procs && exec cat /etc/hostname",
        group.display()
    );
    let o = record(&out, &[], &["sh", "-c", &script]);
    // leave the cgroup and the mount before asserting, so a failure cleans up
    let removed = std::fs::remove_dir(&group);
    let unmounted = Command::new("umount").arg(&mount_point).status().unwrap();
    assert!(o.status.success());
    removed.unwrap();
    assert!(unmounted.success());

    let procs = rows(&out, "process_events");
    let exec_cat = procs
        .iter()
        .find(|r| r["kind"] == "exec" && argv(r).first().map(String::as_str) == Some("cat"))
        .expect("exec of cat");
    assert_eq!(exec_cat["cgroup_id"], group_id.to_string());
    let exec_sh = procs
        .iter()
        .find(|r| r["kind"] == "exec" && argv(r).first().map(String::as_str) == Some("sh"))
        .expect("exec of sh");
    assert_ne!(
        exec_sh["cgroup_id"],
        group_id.to_string(),
        "sh ran before the move"
    );
}

#[test]
#[cfg_attr(
    no_ebpf,
    ignore = "needs root and kernel BTF to record (CI=true runs it and fails instead)"
)]
fn secrets_on_command_lines_reach_no_capture_file() {
    let _g = serial();
    if !can_record() {
        return;
    }
    let work = tempdir();
    let out = work.path().join("cap");
    let key = "sk-ant-api03-TESTKEYqz81Lm4Np0Vx7Rc2";
    let token = "ghp_TESTTOKEN0123456789abcdefABCDEF";
    let assignment = format!("SOME_API_KEY={key}");
    let script = format!("echo hidden --token {token} >/dev/null; /bin/true --token {token}");
    let o = record(&out, &[], &["env", &assignment, "sh", "-c", &script]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    for secret in [key, token] {
        assert_absent(secret, &out);
        // nor any long piece of it (a mask that kept a prefix would leak)
        assert_absent(&secret[..18], &out);
    }
    // the masks are there, one fingerprint per secret, so uses still correlate
    let procs = rows(&out, "process_events");
    let execs: Vec<Vec<String>> = procs
        .iter()
        .filter(|r| r["kind"] == "exec")
        .map(argv)
        .collect();
    let env_exec = execs.iter().find(|a| a[0] == "env").expect("env exec");
    assert_eq!(
        env_exec[1],
        format!("SOME_API_KEY={}", agentsight_redact::masked(key))
    );
    let true_exec = execs
        .iter()
        .find(|a| a[0] == "/bin/true")
        .expect("/bin/true exec");
    assert_eq!(
        true_exec[1..],
        ["--token".to_string(), agentsight_redact::masked(token)]
    );
    let manifest = agentsight_capture::Manifest::load(&out).unwrap();
    assert!(manifest
        .command_line
        .contains(&format!("SOME_API_KEY={}", agentsight_redact::masked(key))));

    // --no-redact keeps the command line as typed
    let raw = work.path().join("raw");
    let o = record(&raw, &["--no-redact"], &["env", &assignment, "/bin/true"]);
    assert!(o.status.success());
    let raw_execs = rows(&raw, "process_events");
    assert!(raw_execs
        .iter()
        .any(|r| r["kind"] == "exec" && argv(r).contains(&assignment)));
}

/// A thread opens a FIFO through a path buffer, and while the open blocks
/// (the kernel has already resolved the path) another thread rewrites the
/// buffer to a decoy. The syscall-exit read of the buffer sees the decoy;
/// `resolved_path` shows the file that was really opened.
#[test]
#[cfg_attr(
    no_ebpf,
    ignore = "needs root and kernel BTF to record (CI=true runs it and fails instead)"
)]
fn a_path_rewritten_during_the_syscall_does_not_hide_the_opened_file() {
    let _g = serial();
    if !can_record() {
        return;
    }
    let work = tempdir();
    let out = work.path().join("cap");
    let fifo = work.path().join("fifo");
    let script = env!("CARGO_MANIFEST_DIR").to_string() + "/tests/clients/path_race.py";
    let o = record(&out, &[], &["python3", &script, fifo.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let fifo = fifo.canonicalize().unwrap();
    let files = rows(&out, "file_events");
    let raced: Vec<_> = files
        .iter()
        .filter(|r| r["op"] == "open" && r["path"] == "/etc/hostname-decoy")
        .collect();
    assert_eq!(
        raced.len(),
        1,
        "the racing open, seen through the rewritten buffer"
    );
    assert_eq!(raced[0]["resolved_path"], fifo.display().to_string());
    assert!(raced[0]["ret"].parse::<i64>().unwrap() >= 0);
    // an ordinary open resolves to itself
    let writer = files
        .iter()
        .find(|r| r["op"] == "open" && r["path"] == fifo.display().to_string())
        .expect("the writer's open of the fifo");
    assert_eq!(writer["resolved_path"], fifo.display().to_string());
}
