//! `info`, `verify` and `recover`: capture housekeeping that needs no SQL.

use std::collections::HashSet;
use std::fs::File;
use std::path::Path;

use agentsight_capture::arrow::array::{Array, UInt64Array};
use agentsight_capture::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use agentsight_capture::parquet::arrow::ProjectionMask;
use agentsight_capture::schema;
use agentsight_capture::{self as capture, verify, Manifest};
use anyhow::{Context, Result};

fn wall(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns)
        .format("%Y-%m-%d %H:%M:%S%.3f UTC")
        .to_string()
}

/// Distinct process keys, reading only that column.
fn count_processes(dir: &Path, m: &Manifest) -> Result<usize> {
    let mut keys = HashSet::new();
    for seg in capture::table_segments(m, schema::PROCESS_EVENTS) {
        let path = dir.join(&seg.file);
        let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(&path)?)
            .with_context(|| format!("segment {} is not readable Parquet", path.display()))?;
        let idx = builder
            .parquet_schema()
            .columns()
            .iter()
            .position(|c| c.name() == "proc_key")
            .context("process_events without proc_key")?;
        let mask = ProjectionMask::leaves(builder.parquet_schema(), [idx]);
        for batch in builder.with_projection(mask).build()? {
            let batch = batch?;
            if let Some(col) = batch.column(0).as_any().downcast_ref::<UInt64Array>() {
                keys.extend(col.iter().flatten());
            }
        }
    }
    Ok(keys.len())
}

pub fn info(dir: &Path) -> Result<()> {
    let m = Manifest::load(dir)?;
    println!("capture      {}", dir.display());
    println!("id           {}", m.capture_id);
    println!("state        {:?}", m.state);
    println!(
        "host         {} (kernel {}, {}, boot {})",
        m.host.hostname, m.host.kernel, m.host.machine, m.host.boot_id
    );
    println!(
        "recorder     agentsight {} (schema v{})",
        m.recorder_version, m.schema_version
    );
    println!("command line {}", m.command_line.join(" "));
    println!("targets      {}", m.targets.describe());
    if let Some(code) = m.targets.command_exit_code {
        println!("exit code    {code}");
    }
    let first = m.segments.iter().filter_map(|s| s.first_ts_ns).min();
    let last = m.segments.iter().filter_map(|s| s.last_ts_ns).max();
    match (first, last) {
        (Some(a), Some(b)) => println!(
            "events       {} .. {} ({:.3} s)",
            wall(m.boot_anchor.wall_ns(a)),
            wall(m.boot_anchor.wall_ns(b)),
            (b - a) as f64 / 1e9
        ),
        _ => println!("events       none"),
    }
    println!(
        "recorded     {} .. {}",
        wall(m.started_at_ns),
        m.ended_at_ns
            .map(wall)
            .unwrap_or_else(|| "(not closed)".into())
    );
    println!("rows");
    for t in schema::RAW_TABLES {
        let segs = capture::table_segments(&m, t);
        let bytes: u64 = segs.iter().map(|s| s.bytes).sum();
        println!(
            "  {:<16} {:>10} rows {:>4} segments {:>12} bytes",
            t,
            m.rows.get(*t).copied().unwrap_or(0),
            segs.len(),
            bytes
        );
    }
    println!("processes    {}", count_processes(dir, &m)?);
    if m.tls_attachments.is_empty() {
        println!("tls hooks    none");
    } else {
        for a in &m.tls_attachments {
            println!("tls hook     {a}");
        }
    }
    if m.drops.is_empty() {
        println!("drops        none");
    } else {
        for (k, v) in &m.drops {
            println!("drops        {k} = {v}  (capture is INCOMPLETE)");
        }
    }
    for n in &m.notes {
        println!("note         {n}");
    }
    let report = verify::verify(dir, None)?;
    if report.intact() {
        println!(
            "integrity    intact: {} segments verified, chain head {}",
            report.segments_checked, report.chain_head
        );
    } else {
        println!(
            "integrity    FAILED: {}",
            report.first_error.unwrap_or_default()
        );
    }
    if !report.unsealed.is_empty() {
        println!("unsealed     {} journal file(s): the recorder did not stop cleanly; run `agentsight recover {}`", report.unsealed.len(), dir.display());
    }
    Ok(())
}

/// Exit code 0 only when every segment and the chain check out.
pub fn verify(dir: &Path, expect_head: Option<&str>) -> Result<i32> {
    let report = verify::verify(dir, expect_head)?;
    for p in &report.problems {
        eprintln!("verify: {p}");
    }
    if !report.unsealed.is_empty() {
        eprintln!(
            "verify: {} unsealed journal file(s) are not covered by the manifest; run `agentsight recover {}`",
            report.unsealed.len(),
            dir.display()
        );
    }
    match &report.first_error {
        None => {
            println!(
                "intact: {} segments, {} bytes verified; chain head {}",
                report.segments_checked, report.bytes_checked, report.chain_head
            );
            Ok(0)
        }
        Some(first) => {
            println!("NOT intact: {first}");
            Ok(1)
        }
    }
}

pub fn recover(dir: &Path) -> Result<()> {
    let r = capture::recover(dir)?;
    println!(
        "recovered {} rows into {} segments ({} journal(s) ended mid-record, as expected after a crash)",
        r.rows, r.segments, r.truncated_journals
    );
    Ok(())
}
