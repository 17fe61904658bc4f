//! `capture_health`: what each opened capture says about its own
//! completeness (manifest loss counters, recorder notes, unsealed or
//! recovered state, redaction off) and the segments the session left out.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringBuilder, UInt64Builder};
use datafusion::common::Result;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use crate::session::{BadSegment, CaptureSource};
use agentsight_capture::manifest::CaptureState;
use agentsight_capture::schema;

struct Row {
    ts_ns: u64,
    capture: String,
    kind: &'static str,
    name: Option<String>,
    value: Option<u64>,
    detail: String,
}

/// Boot-time ns of the capture's end, or of its start when it never ended.
fn end_boot_ns(c: &CaptureSource) -> u64 {
    let m = &c.manifest;
    let wall = m.ended_at_ns.unwrap_or(m.started_at_ns);
    let boot = m.boot_anchor.boottime_ns as i128 + wall as i128 - m.boot_anchor.realtime_ns as i128;
    boot.clamp(0, u64::MAX as i128) as u64
}

fn rows(captures: &[CaptureSource], skipped: &[BadSegment]) -> Vec<Row> {
    let mut out = Vec::new();
    for c in captures {
        let m = &c.manifest;
        let ts_ns = end_boot_ns(c);
        let mut push = |kind, name: Option<String>, value, detail: String| {
            out.push(Row {
                ts_ns,
                capture: c.label.clone(),
                kind,
                name,
                value,
                detail,
            })
        };
        for (counter, &value) in m.drops.iter().filter(|(_, v)| **v > 0) {
            push(
                "drop",
                Some(counter.clone()),
                Some(value),
                format!("recorder lost data: {counter} = {value}"),
            );
        }
        // Why the recording ended is metadata, not a gap.
        for note in m
            .notes
            .iter()
            .filter(|n| !n.starts_with(agentsight_capture::manifest::STOP_NOTE_PREFIX))
        {
            push("note", None, None, note.clone());
        }
        match m.state {
            CaptureState::Closed => {}
            CaptureState::Recording => push(
                "state",
                Some("recording".into()),
                None,
                "the capture was never closed: the recorder is running or died (run `agentsight recover`)".into(),
            ),
            CaptureState::Recovered => push(
                "state",
                Some("recovered".into()),
                None,
                "the recorder died; journals were sealed by `agentsight recover` (the end may be missing)".into(),
            ),
        }
        if !m.options.redact {
            push(
                "redaction",
                None,
                None,
                "recorded with --no-redact: credential headers and argv secrets are stored as sent"
                    .into(),
            );
        }
    }
    for s in skipped {
        let capture = captures
            .iter()
            .find(|c| s.file.starts_with(&c.dir))
            .map(|c| (c.label.clone(), end_boot_ns(c)));
        let (capture, ts_ns) = capture.unwrap_or_default();
        out.push(Row {
            ts_ns,
            capture,
            kind: "skipped_segment",
            name: Some(s.file.display().to_string()),
            value: None,
            detail: format!("segment left out of the session: {}", s.reason),
        });
    }
    out
}

pub fn register(
    ctx: &SessionContext,
    captures: &[CaptureSource],
    skipped: &[BadSegment],
) -> Result<()> {
    let table = schema::analysis_table(schema::CAPTURE_HEALTH).expect("in the schema");
    let schema = table.arrow_schema();
    let rows = rows(captures, skipped);
    let mut ts = UInt64Builder::new();
    let mut capture = StringBuilder::new();
    let mut kind = StringBuilder::new();
    let mut name = StringBuilder::new();
    let mut value = UInt64Builder::new();
    let mut detail = StringBuilder::new();
    for r in &rows {
        ts.append_value(r.ts_ns);
        capture.append_value(&r.capture);
        kind.append_value(r.kind);
        name.append_option(r.name.as_deref());
        value.append_option(r.value);
        detail.append_value(&r.detail);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(ts.finish()),
        Arc::new(capture.finish()),
        Arc::new(kind.finish()),
        Arc::new(name.finish()),
        Arc::new(value.finish()),
        Arc::new(detail.finish()),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    ctx.register_table(
        table.name,
        Arc::new(MemTable::try_new(schema, vec![vec![batch]])?),
    )?;
    Ok(())
}
