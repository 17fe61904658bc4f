//! Opening captures: damaged, unsealed, newer, empty and several at once.

mod common;

use std::path::Path;

use agentsight_analyzer::capture::manifest::BootAnchor;
use agentsight_analyzer::capture::{table_segments, Manifest, MANIFEST_FILE};
use agentsight_analyzer::session::OpenOptions;
use agentsight_testkit::{incident, incident_keys, incident_with_anchor, write_capture, SEC};
use common::*;

fn first_segment(dir: &Path, table: &str) -> std::path::PathBuf {
    let m = Manifest::load(dir).unwrap();
    dir.join(&table_segments(&m, table)[0].file)
}

fn skip() -> OpenOptions {
    OpenOptions {
        skip_bad_segments: true,
        ..Default::default()
    }
}

#[tokio::test]
async fn corrupt_segment_is_named_and_can_be_skipped() {
    let dir = tempfile::tempdir().unwrap();
    incident(dir.path(), "inc").unwrap();
    let seg = first_segment(dir.path(), "process_events");
    // Same size, broken trailing magic: only the footer check can notice.
    let mut bytes = std::fs::read(&seg).unwrap();
    let n = bytes.len();
    bytes[n - 4..].copy_from_slice(b"XXXX");
    std::fs::write(&seg, &bytes).unwrap();

    let err = format!(
        "{:#}",
        try_open(&[dir.path()], &OpenOptions::default())
            .await
            .err()
            .unwrap()
    );
    assert!(err.contains(&seg.display().to_string()), "{err}");
    assert!(err.contains("not a readable Parquet file"), "{err}");
    assert!(err.contains("--skip-bad-segments"), "{err}");

    let s = try_open(&[dir.path()], &skip()).await.unwrap();
    assert_eq!(s.skipped.len(), 1);
    let note = s.skipped_note().unwrap();
    assert!(
        note.starts_with("skipped 1 bad segment(s)") && note.contains("seg-"),
        "{note}"
    );
    // The first batch (8 rows) is gone; the second segment is still there.
    assert_eq!(count(&s, "SELECT count(*) FROM process_events").await, 7);
    assert_eq!(count(&s, "SELECT count(*) FROM file_events").await, 6);
    // Views still work over what is left.
    assert!(count(&s, "SELECT count(*) FROM processes").await > 0);
}

#[tokio::test]
async fn truncated_or_missing_segment_is_named() {
    let dir = tempfile::tempdir().unwrap();
    incident(dir.path(), "inc").unwrap();
    let seg = first_segment(dir.path(), "file_events");
    let bytes = std::fs::read(&seg).unwrap();
    std::fs::write(&seg, &bytes[..bytes.len() / 2]).unwrap();
    let err = format!(
        "{:#}",
        try_open(&[dir.path()], &OpenOptions::default())
            .await
            .err()
            .unwrap()
    );
    assert!(
        err.contains(&seg.display().to_string()) && err.contains("bytes"),
        "{err}"
    );

    std::fs::remove_file(&seg).unwrap();
    let err = format!(
        "{:#}",
        try_open(&[dir.path()], &OpenOptions::default())
            .await
            .err()
            .unwrap()
    );
    assert!(
        err.contains(&seg.display().to_string()) && err.contains("cannot be opened"),
        "{err}"
    );
    let s = try_open(&[dir.path()], &skip()).await.unwrap();
    assert_eq!(count(&s, "SELECT count(*) FROM file_events").await, 0);
}

#[tokio::test]
async fn unsealed_journal_asks_for_recover() {
    let dir = tempfile::tempdir().unwrap();
    incident(dir.path(), "inc").unwrap();
    let journal = dir.path().join("net_events").join("seg-000099.journal");
    std::fs::write(&journal, b"partial").unwrap();
    let err = format!(
        "{:#}",
        try_open(&[dir.path()], &OpenOptions::default())
            .await
            .err()
            .unwrap()
    );
    assert!(err.contains(&journal.display().to_string()), "{err}");
    assert!(
        err.contains(&format!("agentsight recover {}", dir.path().display())),
        "{err}"
    );

    let s = try_open(&[dir.path()], &skip()).await.unwrap();
    assert_eq!(s.skipped.len(), 1);
    assert_eq!(count(&s, "SELECT count(*) FROM net_events").await, 2);
}

#[tokio::test]
async fn newer_schema_version_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    incident(dir.path(), "inc").unwrap();
    let path = dir.path().join(MANIFEST_FILE);
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    v["schema_version"] = serde_json::json!(agentsight_analyzer::schema::SCHEMA_VERSION + 1);
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    let err = format!(
        "{:#}",
        try_open(&[dir.path()], &skip()).await.err().unwrap()
    );
    assert!(
        err.contains("newer than this agentsight understands"),
        "{err}"
    );

    let not_capture = tempfile::tempdir().unwrap();
    let err = format!(
        "{:#}",
        try_open(&[not_capture.path()], &skip())
            .await
            .err()
            .unwrap()
    );
    assert!(err.contains("is not a capture"), "{err}");
}

#[tokio::test]
async fn stray_files_are_not_read() {
    let dir = tempfile::tempdir().unwrap();
    incident(dir.path(), "inc").unwrap();
    let seg = first_segment(dir.path(), "process_events");
    std::fs::copy(
        &seg,
        dir.path().join("process_events").join("seg-999999.parquet"),
    )
    .unwrap();
    std::fs::write(dir.path().join("process_events").join("notes.txt"), b"x").unwrap();
    let s = open(&[dir.path()]).await;
    assert_eq!(count(&s, "SELECT count(*) FROM process_events").await, 15);
}

#[tokio::test]
async fn manifest_paths_cannot_leave_the_capture() {
    let dir = tempfile::tempdir().unwrap();
    incident(dir.path(), "inc").unwrap();
    let path = dir.path().join(MANIFEST_FILE);
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    m["segments"][0]["file"] = serde_json::json!("../../etc/passwd");
    std::fs::write(&path, serde_json::to_vec(&m).unwrap()).unwrap();
    let err = format!(
        "{:#}",
        try_open(&[dir.path()], &OpenOptions::default())
            .await
            .err()
            .unwrap()
    );
    assert!(err.contains("not inside the capture directory"), "{err}");
}

#[tokio::test]
async fn empty_capture_is_queryable() {
    let dir = tempfile::tempdir().unwrap();
    write_capture(dir.path(), "empty", Default::default(), |_| Ok(())).unwrap();
    let s = open(&[dir.path()]).await;
    for t in agentsight_analyzer::schema::RAW_TABLES {
        assert_eq!(
            count(&s, &format!("SELECT count(*) FROM {t}")).await,
            0,
            "{t}"
        );
    }
    for v in [
        "processes",
        "process_tree",
        "file_activity",
        "net_activity",
        "timeline",
    ] {
        assert_eq!(
            count(&s, &format!("SELECT count(*) FROM {v}")).await,
            0,
            "{v}"
        );
    }
    assert_eq!(count(&s, "SELECT count(*) FROM descendants(1)").await, 0);
}

#[tokio::test]
async fn several_captures_are_told_apart() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    incident(a.path(), "cap-a").unwrap();
    // Same processes, another boot: the wall clock is one hour later.
    let later = BootAnchor {
        boottime_ns: 100 * SEC,
        realtime_ns: (1_700_000_000 + 3600) * SEC as i64,
    };
    incident_with_anchor(b.path(), "cap-b", later).unwrap();
    let s = open(&[a.path(), b.path()]).await;
    let per = rows(
        &s,
        "SELECT capture, count(*) FROM process_events GROUP BY capture ORDER BY capture",
    )
    .await;
    assert_eq!(per, vec![strs(&["cap-a", "15"]), strs(&["cap-b", "15"])]);
    assert_eq!(count(&s, "SELECT count(*) FROM processes").await, 10);
    assert_eq!(count(&s, "SELECT count(*) FROM timeline").await, 54);
    let k = incident_keys();
    let t = rows(
        &s,
        &format!(
            "SELECT capture, start_time FROM processes WHERE proc_key = {} ORDER BY capture",
            k.python
        ),
    )
    .await;
    assert_eq!(
        t,
        vec![
            strs(&["cap-a", "2023-11-14T22:13:21Z"]),
            strs(&["cap-b", "2023-11-14T23:13:21Z"])
        ]
    );
    // The same keys in both captures must not join across them.
    assert_eq!(
        count(
            &s,
            &format!(
                "SELECT count(*) FROM process_tree WHERE root_key = {}",
                k.bash
            )
        )
        .await,
        10
    );
    assert_eq!(
        count(&s, &format!("SELECT count(*) FROM descendants({})", k.bash)).await,
        10
    );
    assert_eq!(
        count(
            &s,
            &format!("SELECT count(*) FROM descendants({}, 'cap-b')", k.bash)
        )
        .await,
        5
    );
    // One-argument to_wall cannot know which clock to use.
    let err = try_rows(&s, "SELECT to_wall(ts_ns) FROM process_events")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("ambiguous"), "{err}");
    let ok = rows(&s, "SELECT to_wall(ts_ns, capture) FROM process_events WHERE capture = 'cap-b' ORDER BY ts_ns LIMIT 1").await;
    assert_eq!(ok, vec![strs(&["2023-11-14T23:13:20Z"])]);

    // Two copies of one capture: labelled by directory.
    let c = tempfile::tempdir().unwrap();
    incident(c.path(), "cap-a").unwrap();
    let s = open(&[a.path(), c.path()]).await;
    let caps = rows(
        &s,
        "SELECT DISTINCT capture FROM file_events ORDER BY capture",
    )
    .await;
    let mut want = vec![
        a.path().display().to_string(),
        c.path().display().to_string(),
    ];
    want.sort();
    assert_eq!(
        caps.into_iter().map(|r| r[0].clone()).collect::<Vec<_>>(),
        want
    );
    let err = format!(
        "{:#}",
        try_open(&[a.path(), a.path()], &OpenOptions::default())
            .await
            .err()
            .unwrap()
    );
    assert!(err.contains("given twice"), "{err}");
}

#[tokio::test]
async fn queries_dir_overrides_and_adds_views() {
    let dir = tempfile::tempdir().unwrap();
    incident(dir.path(), "inc").unwrap();
    let q = tempfile::tempdir().unwrap();
    std::fs::write(
        q.path().join("net_activity.sql"),
        "-- description: only connects\nSELECT pid, remote_addr FROM net_events WHERE op = 'connect' AND remote_addr IS NOT NULL;\n",
    )
    .unwrap();
    std::fs::write(
        q.path().join("killed.sql"),
        "-- name: killed\n-- description: processes ended by a signal\nSELECT pid, exit_signal FROM processes WHERE exit_signal IS NOT NULL\n",
    )
    .unwrap();
    let opts = OpenOptions {
        queries_dir: Some(q.path().to_path_buf()),
        ..Default::default()
    };
    let s = try_open(&[dir.path()], &opts).await.unwrap();
    assert_eq!(
        rows(&s, "SELECT * FROM net_activity").await,
        vec![strs(&["400", "93.184.216.34"])]
    );
    assert_eq!(
        rows(&s, "SELECT * FROM killed").await,
        vec![strs(&["400", "9"])]
    );
    let v = s.views.iter().find(|v| v.name == "net_activity").unwrap();
    assert_eq!(v.description, "only connects");

    // A broken view names its file.
    std::fs::write(
        q.path().join("broken.sql"),
        "-- description: typo\nSELEC 1\n",
    )
    .unwrap();
    let err = format!("{:#}", try_open(&[dir.path()], &opts).await.err().unwrap());
    assert!(err.contains("broken.sql"), "{err}");
}

/// Rewrites the incident capture as schema version 1 wrote it: segments
/// without the columns version 2 added (`file_events.resolved_path`,
/// `process_events.wait_status`), hashes and chain recomputed, so it is a
/// sealed v1 capture that `verify` accepts.
fn downgrade_to_v1(dir: &Path) {
    use agentsight_analyzer::arrow::datatypes::Schema;
    use agentsight_analyzer::capture::{chain_next, sha256_file};
    const ADDED_IN_V2: &[(&str, &str)] = &[
        ("file_events", "resolved_path"),
        ("process_events", "wait_status"),
    ];
    let mut m = Manifest::load(dir).unwrap();
    let mut chain = m.chain_genesis();
    for seg in m.segments.iter_mut() {
        if let Some((_, column)) = ADDED_IN_V2.iter().find(|(t, _)| *t == seg.table) {
            let path = dir.join(&seg.file);
            let file = std::fs::File::open(&path).unwrap();
            let reader =
                parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(file, 1024)
                    .unwrap();
            let batches: Vec<_> = reader.map(|b| b.unwrap()).collect();
            let keep: Vec<usize> = (0..batches[0].num_columns())
                .filter(|&i| batches[0].schema().field(i).name() != column)
                .collect();
            let schema = std::sync::Arc::new(Schema::new(
                keep.iter()
                    .map(|&i| batches[0].schema().field(i).clone())
                    .collect::<Vec<_>>(),
            ));
            let mut w = parquet::arrow::ArrowWriter::try_new(
                std::fs::File::create(&path).unwrap(),
                schema,
                None,
            )
            .unwrap();
            for b in &batches {
                w.write(&b.project(&keep).unwrap()).unwrap();
            }
            w.close().unwrap();
            let (sha, bytes) = sha256_file(&path).unwrap();
            seg.sha256 = sha;
            seg.bytes = bytes;
        }
        chain = chain_next(
            &chain,
            seg.seq,
            &seg.table,
            &seg.file,
            seg.rows,
            &seg.sha256,
        );
        seg.chain = chain.clone();
    }
    m.schema_version = 1;
    m.store(dir).unwrap();
}

#[tokio::test]
async fn schema_version_1_captures_still_open() {
    let dir = tempfile::tempdir().unwrap();
    incident(dir.path(), "inc").unwrap();
    downgrade_to_v1(dir.path());
    let report = agentsight_analyzer::capture::verify::verify(dir.path(), None).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let s = open(&[dir.path()]).await;
    // The columns v1 did not have read as NULL; everything else is there.
    assert_eq!(
        rows(&s, "SELECT count(*), count(resolved_path) FROM file_events").await,
        vec![strs(&["6", "0"])]
    );
    assert_eq!(
        rows(&s, "SELECT count(*) FILTER (WHERE kind = 'exit'), count(wait_status), count(exit_code) FROM process_events").await,
        vec![strs(&["4", "0", "3"])]
    );
    let k = incident_keys();
    assert_eq!(
        rows(
            &s,
            &format!("SELECT pid FROM processes WHERE proc_key = {}", k.curl)
        )
        .await,
        vec![strs(&["400"])]
    );
    assert!(count(&s, "SELECT count(*) FROM graph_edges").await > 0);

    // A v2 capture missing a v2 column is damaged, not old.
    let dir2 = tempfile::tempdir().unwrap();
    incident(dir2.path(), "inc").unwrap();
    downgrade_to_v1(dir2.path());
    let mut m = Manifest::load(dir2.path()).unwrap();
    m.schema_version = agentsight_analyzer::schema::SCHEMA_VERSION;
    m.store(dir2.path()).unwrap();
    let err = try_open(&[dir2.path()], &OpenOptions::default())
        .await
        .err()
        .unwrap();
    assert!(format!("{err:#}").contains("lacks column"), "{err:#}");
}
