//! pyarrow and DuckDB read every table of a capture and agree with the
//! analyzer's row counts: the capture is plain Parquet, readable without us.
//!
//! Needs `python3 -m pip install pyarrow duckdb`. Without them the test fails
//! when CI=true and is skipped (saying why) otherwise.

mod common;

use std::process::Command;

use agentsight_analyzer::capture::{table_segments, Manifest};
use agentsight_analyzer::schema::RAW_TABLES;
use agentsight_testkit::incident;
use common::*;

const SCRIPT: &str = r#"
import json, sys
import pyarrow.parquet as pq
import duckdb
files = json.loads(sys.argv[1])
out = {}
con = duckdb.connect()
for table, paths in files.items():
    pa_rows = sum(pq.ParquetFile(p).metadata.num_rows for p in paths)
    pa_read = sum(pq.read_table(p).num_rows for p in paths)
    if paths:
        dd = con.execute("SELECT count(*) FROM read_parquet(?)", [paths]).fetchone()[0]
    else:
        dd = 0
    out[table] = [pa_rows, pa_read, dd]
# A content check too: DuckDB sees the same argv lists.
pe = files["process_events"]
argv = con.execute("SELECT list_sort(list(array_to_string(argv, ' '))) FROM read_parquet(?) WHERE kind = 'exec'", [pe]).fetchone()[0]
out["_argv"] = argv
print(json.dumps(out))
"#;

fn python_ready() -> Result<(), String> {
    match Command::new("python3")
        .args(["-c", "import pyarrow, duckdb"])
        .output()
    {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!(
            "python3 cannot import pyarrow/duckdb: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Err(format!("python3 not runnable: {e}")),
    }
}

#[tokio::test]
async fn pyarrow_and_duckdb_agree_on_row_counts() {
    if let Err(why) = python_ready() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("CI=true but {why}; CI must `pip install pyarrow duckdb`");
        }
        eprintln!("skipping interop test: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    incident(dir.path(), "inc").unwrap();
    let m = Manifest::load(dir.path()).unwrap();
    let files: serde_json::Map<String, serde_json::Value> = RAW_TABLES
        .iter()
        .map(|t| {
            let paths: Vec<String> = table_segments(&m, t)
                .iter()
                .map(|s| dir.path().join(&s.file).display().to_string())
                .collect();
            (t.to_string(), serde_json::json!(paths))
        })
        .collect();
    let out = Command::new("python3")
        .args(["-c", SCRIPT, &serde_json::Value::Object(files).to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    let s = open(&[dir.path()]).await;
    for t in RAW_TABLES {
        let ours = count(&s, &format!("SELECT count(*) FROM {t}")).await;
        let theirs = &got[*t];
        assert_eq!(
            theirs,
            &serde_json::json!([ours, ours, ours]),
            "{t}: pyarrow footer, pyarrow read, duckdb"
        );
    }
    let mut ours: Vec<String> = rows(
        &s,
        "SELECT array_to_string(argv, ' ') FROM process_events WHERE kind = 'exec'",
    )
    .await
    .into_iter()
    .map(|r| r[0].clone())
    .collect();
    ours.sort();
    assert_eq!(got["_argv"], serde_json::json!(ours));
}
