//! The query/shell/views commands, driven without a terminal.

mod common;

use std::path::PathBuf;

use agentsight::cli::{self, CaptureOptions, QueryArgs, Shell};
use agentsight_analyzer::output::Format;
use agentsight_analyzer::session::{OpenOptions, Session};
use agentsight_testkit::incident;

fn query_args(dir: &std::path::Path, sql: &str, format: Format, out: PathBuf) -> QueryArgs {
    QueryArgs {
        args: vec![dir.as_os_str().to_owned(), sql.into()],
        file: None,
        format,
        output: Some(out),
        max_width: 20,
        max_rows: 1000,
        captures: CaptureOptions::default(),
    }
}

#[test]
fn query_writes_every_format() {
    let dir = tempfile::tempdir().unwrap();
    incident(dir.path(), "inc").unwrap();
    let out = tempfile::tempdir().unwrap();
    let sql = "SELECT p.pid, argv, data FROM tls_chunks t JOIN processes p USING (capture, proc_key) ORDER BY call_seq, chunk_index";

    let f = out.path().join("r.json");
    cli::query(query_args(dir.path(), sql, Format::Json, f.clone())).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 3);
    assert_eq!(v[0]["argv"][0], "curl");
    assert_eq!(v[2]["data"], "echo pwned \\xff\n");
    // Results can hold secrets: owner-only.
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let f = out.path().join("r.csv");
    cli::query(query_args(dir.path(), sql, Format::Csv, f.clone())).unwrap();
    let text = std::fs::read_to_string(&f).unwrap();
    assert!(text.starts_with("pid,argv,data\n400,"), "{text}");
    assert_eq!(text.lines().filter(|l| l.starts_with("400,")).count(), 3);

    let f = out.path().join("r.parquet");
    cli::query(query_args(dir.path(), sql, Format::Parquet, f.clone())).unwrap();
    let file = std::fs::File::open(&f).unwrap();
    let reader =
        agentsight_capture::parquet::file::reader::SerializedFileReader::new(file).unwrap();
    use agentsight_capture::parquet::file::reader::FileReader;
    assert_eq!(reader.metadata().file_metadata().num_rows(), 3);

    let f = out.path().join("r.txt");
    cli::query(query_args(
        dir.path(),
        "SELECT summary FROM timeline WHERE source = 'tls'",
        Format::Table,
        f.clone(),
    ))
    .unwrap();
    let text = std::fs::read_to_string(&f).unwrap();
    // Wide cells are cut with a marker, never wrapped: one line per row.
    assert!(text.contains("…"), "{text}");
    assert!(text.contains("(4 rows)"), "{text}");
    let widths: std::collections::BTreeSet<usize> = text
        .lines()
        .filter(|l| l.starts_with('│') || l.starts_with('┌'))
        .map(|l| l.chars().count())
        .collect();
    assert_eq!(widths.len(), 1, "{text}");

    // -f with several statements: the last result is printed.
    let sqlf = out.path().join("q.sql");
    std::fs::write(&sqlf, "CREATE VIEW curl AS SELECT * FROM processes WHERE comm = 'curl';\nSELECT count(*) AS n FROM curl;\n").unwrap();
    let f = out.path().join("r2.json");
    let mut a = query_args(dir.path(), "", Format::Json, f.clone());
    a.args = vec![dir.path().as_os_str().to_owned()];
    a.file = Some(sqlf);
    cli::query(a).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
    assert_eq!(v, serde_json::json!([{"n": 1}]));

    // SQL errors come back as errors.
    assert!(cli::query(query_args(
        dir.path(),
        "SELECT nope FROM processes",
        Format::Json,
        out.path().join("e")
    ))
    .is_err());
}

#[test]
fn shell_commands_and_completion() {
    let dir = tempfile::tempdir().unwrap();
    incident(dir.path(), "inc").unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let session = rt
        .block_on(Session::open(
            &[dir.path().to_path_buf()],
            &OpenOptions::default(),
        ))
        .unwrap();
    let mut sh = Shell::new(session, rt, 40, 100).unwrap();

    let out = sh
        .handle("SELECT pid, comm FROM processes ORDER BY pid;")
        .unwrap()
        .unwrap();
    assert!(
        out.contains("python3") && out.contains("(5 rows)") && out.contains("Time: "),
        "{out}"
    );
    // Several statements in one input each print a result.
    let out = sh.handle("SELECT 1 AS a; SELECT 2 AS b;").unwrap().unwrap();
    assert!(out.contains("│ a │") && out.contains("│ b │"), "{out}");
    let out = sh.handle(".tables").unwrap().unwrap();
    assert!(
        out.contains("process_events") && out.contains("timeline"),
        "{out}"
    );
    let out = sh.handle(".schema file_events").unwrap().unwrap();
    assert!(
        out.contains("flags") && out.contains("open_flags") && out.contains("capture"),
        "{out}"
    );
    let out = sh.handle(".schema processes").unwrap().unwrap();
    assert!(out.contains("start_time") && out.contains("view:"), "{out}");
    let out = sh.handle(".views").unwrap().unwrap();
    assert!(
        out.contains("process_tree") && out.contains("descendants(K)"),
        "{out}"
    );
    assert!(sh
        .handle(".help")
        .unwrap()
        .unwrap()
        .contains(".schema NAME"));
    assert!(sh.handle(".schema nope").is_err());
    assert!(sh.handle(".bogus").is_err());
    assert!(sh.handle("SELEC 1;").is_err());
    sh.handle(".maxrows 2").unwrap();
    assert!(sh
        .handle("SELECT * FROM timeline;")
        .unwrap()
        .unwrap()
        .contains("first 2 shown"));
    assert!(sh.handle(".quit").unwrap().is_none());

    let (start, words) = sh.complete("SELECT * FROM proc", 18);
    assert_eq!(start, 14);
    for w in ["process_events", "process_tree", "processes"] {
        assert!(words.contains(&w.to_string()), "{words:?}");
    }
    let (start, words) = sh.complete("SELECT p.exit_s", 15);
    assert_eq!(start, 9);
    assert!(words.contains(&"exit_signal".to_string()), "{words:?}");
    let (_, words) = sh.complete(".sch", 4);
    assert_eq!(words, [".schema "]);
    let (_, words) = sh.complete("select TO_W", 11);
    assert_eq!(words, ["to_wall"]);
}

#[test]
fn views_command_prints_sql() {
    cli::views(cli::ViewsArgs {
        name: Some("processes".into()),
        queries: None,
    })
    .unwrap();
    assert!(cli::views(cli::ViewsArgs {
        name: Some("nope".into()),
        queries: None
    })
    .is_err());
    cli::views(cli::ViewsArgs {
        name: None,
        queries: None,
    })
    .unwrap();
}

#[test]
fn decoded_tables_and_conversations_over_the_incident_fixture() {
    let dir = tempfile::tempdir().unwrap();
    incident(dir.path(), "inc").unwrap();
    let out = tempfile::tempdir().unwrap();
    let f = out.path().join("h.json");
    let sql = "SELECT method, host, path, status, sni, local_port, remote_addr, \
               bytes_text(response_body) AS body, partial, problems FROM http_exchanges";
    cli::query(query_args(dir.path(), sql, Format::Json, f.clone())).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
    assert_eq!(
        v,
        serde_json::json!([{
            "method": "GET", "host": "evil.example", "path": "/", "status": 200,
            "sni": "evil.example", "local_port": 40000, "remote_addr": "93.184.216.34",
            "body": "echo pwned \\xff\n", "partial": false
        }])
    );
    // Not an LLM API: an exchange, but no call and no conversation.
    let f = out.path().join("c.json");
    let sql = "SELECT (SELECT count(*) FROM llm_calls) AS calls, (SELECT count(*) FROM conversations) AS convs";
    cli::query(query_args(dir.path(), sql, Format::Json, f.clone())).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
    assert_eq!(v, serde_json::json!([{"calls": 0, "convs": 0}]));
    let f = out.path().join("t.md");
    cli::conversations(cli::ConversationsArgs {
        positional: vec![dir.path().to_path_buf()],
        format: cli::TranscriptFormat::Markdown,
        conversation: None,
        output: Some(f.clone()),
        captures: CaptureOptions::default(),
    })
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(&f).unwrap(),
        "No LLM conversations in this capture.\n"
    );
    let err = cli::conversations(cli::ConversationsArgs {
        positional: vec![dir.path().to_path_buf()],
        format: cli::TranscriptFormat::Json,
        conversation: Some(3),
        output: None,
        captures: CaptureOptions::default(),
    })
    .unwrap_err();
    assert!(err.to_string().contains("no conversation 3"), "{err}");
}

/// `anomalies` and `rules` as a user runs them: exit statuses, stderr naming
/// a broken rule's file and line, the other rules still running, and every
/// format over the incident fixture (its `cat /etc/shadow` and curl run with
/// no LLM call, so the whole recorded tree is in scope).
#[test]
fn anomalies_and_rules_commands() {
    let dir = common::tempdir();
    let cap = dir.path().join("cap");
    incident(&cap, "inc").unwrap();
    let cap_s = cap.to_str().unwrap();

    let o = common::agentsight(&["anomalies", cap_s, "--format", "json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let findings: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let rules: Vec<&str> = findings
        .iter()
        .map(|f| f["rule_id"].as_str().unwrap())
        .collect();
    // curl reaches a host by name and runs an exec'd script; the fixture's
    // x.sh was written, chmod'ed 0755, then run by bash (the same process).
    assert!(rules.contains(&"new_egress"), "{rules:?}");
    assert!(rules.contains(&"chmod_exec_written"), "{rules:?}");
    for f in &findings {
        assert!(
            f["time"].as_str().unwrap().starts_with("2023-11-14T22:1"),
            "{f}"
        );
    }
    let o = common::agentsight(&["anomalies", cap_s, "--fail-on", "low", "--format", "csv"]);
    assert_eq!(o.status.code(), Some(1));
    let csv = String::from_utf8_lossy(&o.stdout);
    assert!(
        csv.starts_with("ts_ns,capture,time,rule_id,severity,"),
        "{csv}"
    );
    let o = common::agentsight(&["anomalies", cap_s]);
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        table.contains(&format!("{} findings from", findings.len())),
        "{table}"
    );

    // A broken user rule: exit 2, file and line on stderr, built-ins still run.
    let rules_dir = dir.path().join("rules");
    std::fs::create_dir_all(rules_dir.join("shared")).unwrap();
    std::fs::write(
        rules_dir.join("oops.sql"),
        "-- id: oops\n-- title: t\n-- severity: high\n-- description: d\nSELECT capture, start_ns AS ts_ns, proc_key,\n  'x' AS summary\nFROM processes\n",
    )
    .unwrap();
    std::fs::write(
        rules_dir.join("shared/download_tools.sql"),
        "-- description: only curl here\nSELECT * FROM (VALUES ('curl')) AS t(program)",
    )
    .unwrap();
    let o = common::agentsight(&[
        "anomalies",
        cap_s,
        "--rules",
        rules_dir.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("oops.sql:5: the SELECT must return capture, ts_ns, proc_key, summary, evidence; missing evidence"), "{stderr}");
    let again: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(again.len(), findings.len());

    let o = common::agentsight(&["rules", "--rules", rules_dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let listing = String::from_utf8_lossy(&o.stdout);
    assert!(
        listing.contains("persistence") && listing.contains("oops"),
        "{listing}"
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("oops.sql:5"));
    let o = common::agentsight(&["rules"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = common::agentsight(&["rules", "secrets_to_model"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("secret_scan("));
    let o = common::agentsight(&["anomalies", cap_s, "--disable", "no_such_rule"]);
    assert_eq!(o.status.code(), Some(2));
}
