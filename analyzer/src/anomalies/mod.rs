//! Anomaly rules: plain SQL files (`queries/anomalies/*.sql`, `--rules DIR`)
//! over the raw, decoded and graph tables, each returning one row per
//! finding. See docs/anomalies.md for the format and the built-in rules.
//!
//! A rule's SELECT must return `capture`, `ts_ns`, `proc_key`, `summary` and
//! `evidence` (a list of node / row ids); a `severity` column overrides the
//! rule's for that row; every other column is kept as the finding's
//! `details`. A rule that fails (header, SQL, missing column) is reported
//! with its file and line, and the others still run.

pub mod rules;
pub mod scan;

use std::sync::Arc;

use anyhow::Result;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int32Builder, ListBuilder, RecordBatch, StringBuilder, UInt64Builder,
};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::prelude::DataFrame;
use serde_json::{json, Map, Value};

use crate::session::Session;
use agentsight_capture::schema;
pub use rules::{Rule, RuleError, RuleSet, Severity};

/// Columns every rule returns.
pub const REQUIRED_COLUMNS: &[&str] = &["capture", "ts_ns", "proc_key", "summary", "evidence"];

#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub ts_ns: u64,
    pub capture: String,
    /// UTC wall-clock nanoseconds (from the capture's anchor), when known.
    pub wall_ns: Option<i64>,
    pub rule_id: String,
    pub severity: Severity,
    pub title: String,
    pub tags: Vec<String>,
    pub proc_key: Option<u64>,
    pub summary: String,
    pub evidence: Vec<String>,
    pub details: Map<String, Value>,
    pub source: String,
}

impl Finding {
    pub fn pid(&self) -> Option<i32> {
        self.proc_key.map(|k| schema::split_proc_key(k).0 as i32)
    }

    /// RFC 3339 UTC time, or empty when the anchor does not give one.
    pub fn time(&self) -> String {
        self.wall_ns
            .map(|ns| {
                chrono::DateTime::from_timestamp_nanos(ns)
                    .format("%Y-%m-%dT%H:%M:%S%.6fZ")
                    .to_string()
            })
            .unwrap_or_default()
    }
}

#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Rule ids not to run.
    pub disable: Vec<String>,
    /// Findings below this severity are dropped.
    pub min_severity: Option<Severity>,
}

#[derive(Debug, Default)]
pub struct Outcome {
    /// Sorted by time, then rule.
    pub findings: Vec<Finding>,
    /// Rules that ran (after `--disable`).
    pub rules_run: usize,
    /// Rules and shared views that could not run.
    pub errors: Vec<RuleError>,
}

/// Registers the shared views, then runs every rule.
pub async fn run(session: &Session, set: &RuleSet, opts: &RunOptions) -> Result<Outcome> {
    let mut out = Outcome {
        errors: set.errors.clone(),
        ..Outcome::default()
    };
    out.errors.extend(register_shared(session, set).await);
    for rule in &set.rules {
        if opts.disable.iter().any(|d| d == &rule.id) {
            continue;
        }
        out.rules_run += 1;
        match run_rule(session, rule).await {
            Ok(findings) => out.findings.extend(
                findings
                    .into_iter()
                    .filter(|f| opts.min_severity.is_none_or(|m| f.severity >= m)),
            ),
            Err(e) => out.errors.push(e),
        }
    }
    out.findings.sort_by(|a, b| {
        (a.ts_ns, &a.rule_id, &a.capture, &a.summary)
            .cmp(&(b.ts_ns, &b.rule_id, &b.capture, &b.summary))
    });
    Ok(out)
}

/// Creates the shared views, retrying those that name others; one that
/// never compiles is an error for its file (the rules using it fail too).
async fn register_shared(session: &Session, set: &RuleSet) -> Vec<RuleError> {
    let mut pending: Vec<_> = set.shared.iter().collect();
    loop {
        let mut failed = Vec::new();
        for v in pending.iter().copied() {
            let create = format!("CREATE OR REPLACE VIEW {} AS\n{}", v.name, v.sql);
            if let Err(e) = session.ctx.sql(&create).await {
                failed.push((v, e));
            }
        }
        if failed.len() == pending.len() || failed.is_empty() {
            return failed
                .into_iter()
                .map(|(v, e)| RuleError {
                    source: v.source.clone(),
                    line: sql_error_line(&e.to_string()).map_or(1, |l| l.saturating_sub(1)),
                    message: format!(
                        "shared view `{}` does not compile: {}",
                        v.name,
                        first_line(&e.to_string())
                    ),
                })
                .collect();
        }
        pending = failed.into_iter().map(|(v, _)| v).collect();
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// `Line: N` from a SQL parser error.
fn sql_error_line(msg: &str) -> Option<usize> {
    let at = msg.find("Line: ")? + "Line: ".len();
    let digits: String = msg[at..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Every error of the set: files that did not parse, shared views and
/// rules that do not plan, rules without the required columns. Nothing is
/// executed, so an empty session is enough.
pub async fn validate(session: &Session, set: &RuleSet) -> Vec<RuleError> {
    let mut errors = set.errors.clone();
    errors.extend(register_shared(session, set).await);
    for rule in &set.rules {
        if let Err(e) = plan_rule(session, rule).await {
            errors.push(e);
        }
    }
    errors
}

fn rule_error(rule: &Rule, line: usize, message: String) -> RuleError {
    RuleError {
        source: rule.source.clone(),
        line,
        message,
    }
}

async fn plan_rule(session: &Session, rule: &Rule) -> Result<DataFrame, RuleError> {
    let df = session.ctx.sql(&rule.sql).await.map_err(|e| {
        let msg = e.to_string();
        rule_error(
            rule,
            sql_error_line(&msg).unwrap_or(rule.sql_line),
            format!("SQL error: {}", first_line(&msg)),
        )
    })?;
    let schema = df.schema();
    let missing: Vec<_> = REQUIRED_COLUMNS
        .iter()
        .filter(|c| schema.index_of_column_by_name(None, c).is_none())
        .copied()
        .collect();
    if !missing.is_empty() {
        return Err(rule_error(
            rule,
            rule.sql_line,
            format!(
                "the SELECT must return {}; missing {}",
                REQUIRED_COLUMNS.join(", "),
                missing.join(", ")
            ),
        ));
    }
    Ok(df)
}

async fn run_rule(session: &Session, rule: &Rule) -> Result<Vec<Finding>, RuleError> {
    let df = plan_rule(session, rule).await?;
    let batches = df.collect().await.map_err(|e| {
        rule_error(
            rule,
            rule.sql_line,
            format!("failed while running: {}", first_line(&e.to_string())),
        )
    })?;
    let mut findings = Vec::new();
    for batch in &batches {
        findings.extend(
            batch_findings(session, rule, batch)
                .map_err(|e| rule_error(rule, rule.sql_line, format!("{e:#}")))?,
        );
    }
    Ok(findings)
}

fn column(batch: &RecordBatch, name: &str, to: &DataType) -> Result<ArrayRef> {
    let a = batch.column_by_name(name).expect("checked at plan time");
    datafusion::arrow::compute::cast(a, to)
        .map_err(|e| anyhow::anyhow!("column `{name}` must convert to {to}: {e}"))
}

fn batch_findings(session: &Session, rule: &Rule, batch: &RecordBatch) -> Result<Vec<Finding>> {
    let n = batch.num_rows();
    let capture = column(batch, "capture", &DataType::Utf8)?;
    let capture = capture.as_string::<i32>();
    let ts = column(batch, "ts_ns", &DataType::UInt64)?;
    let ts = ts.as_primitive::<datafusion::arrow::datatypes::UInt64Type>();
    let key = column(batch, "proc_key", &DataType::UInt64)?;
    let key = key.as_primitive::<datafusion::arrow::datatypes::UInt64Type>();
    let summary = column(batch, "summary", &DataType::Utf8)?;
    let summary = summary.as_string::<i32>();
    let evidence = evidence_lists(batch.column_by_name("evidence").expect("checked"))?;
    let severity = match batch.column_by_name("severity") {
        Some(_) => Some(column(batch, "severity", &DataType::Utf8)?),
        None => None,
    };
    let details = details_of(batch)?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        if ts.is_null(i) {
            anyhow::bail!("row {i}: ts_ns is NULL");
        }
        let capture = capture
            .is_valid(i)
            .then(|| capture.value(i))
            .unwrap_or("")
            .to_string();
        let sev = match &severity {
            Some(s) if s.is_valid(i) => {
                let text = s.as_string::<i32>().value(i);
                Severity::parse(text).ok_or_else(|| {
                    anyhow::anyhow!("row {i}: severity `{text}` is not a severity")
                })?
            }
            _ => rule.severity,
        };
        let anchor = session
            .captures
            .iter()
            .find(|c| c.label == capture)
            .map(|c| c.manifest.boot_anchor);
        out.push(Finding {
            ts_ns: ts.value(i),
            wall_ns: anchor.and_then(|a| crate::udf::wall_ns(&a, ts.value(i))),
            capture,
            rule_id: rule.id.clone(),
            severity: sev,
            title: rule.title.clone(),
            tags: rule.tags.clone(),
            proc_key: key.is_valid(i).then(|| key.value(i)),
            summary: summary
                .is_valid(i)
                .then(|| summary.value(i))
                .unwrap_or("")
                .to_string(),
            evidence: evidence[i].clone(),
            details: details[i].clone(),
            source: rule.source.clone(),
        });
    }
    Ok(out)
}

/// `evidence` as a list of ids per row: a list column, or one id as text.
fn evidence_lists(a: &ArrayRef) -> Result<Vec<Vec<String>>> {
    let list_type = DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
    if matches!(
        a.data_type(),
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
    ) {
        let s = datafusion::arrow::compute::cast(a, &DataType::Utf8)?;
        return Ok(s
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(|v| vec![v.to_string()]).unwrap_or_default())
            .collect());
    }
    let l = datafusion::arrow::compute::cast(a, &list_type)
        .map_err(|e| anyhow::anyhow!("column `evidence` must be a list of text: {e}"))?;
    let l = l.as_list::<i32>();
    Ok((0..l.len())
        .map(|i| {
            if l.is_null(i) {
                return Vec::new();
            }
            let v = l.value(i);
            let v = v.as_string::<i32>();
            v.iter().flatten().map(str::to_string).collect()
        })
        .collect())
}

/// The columns that are not required, per row, as JSON objects.
fn details_of(batch: &RecordBatch) -> Result<Vec<Map<String, Value>>> {
    let keep: Vec<usize> = batch
        .schema()
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| !REQUIRED_COLUMNS.contains(&f.name().as_str()) && f.name() != "severity")
        .map(|(i, _)| i)
        .collect();
    if keep.is_empty() {
        return Ok(vec![Map::new(); batch.num_rows()]);
    }
    let extra = crate::output::textual(&batch.project(&keep)?, false)?;
    let mut w = datafusion::arrow::json::ArrayWriter::new(Vec::new());
    w.write(&extra)?;
    w.finish()?;
    let rows: Vec<Map<String, Value>> = serde_json::from_slice(&w.into_inner())?;
    // arrow leaves NULL columns out of a row; the rule's columns stay visible.
    Ok(rows
        .into_iter()
        .map(|mut r| {
            for &i in &keep {
                let name = batch.schema().field(i).name().clone();
                r.entry(name).or_insert(Value::Null);
            }
            r
        })
        .collect())
}

/// Findings as the `findings` table of the schema module.
pub fn findings_batch(findings: &[Finding]) -> Result<RecordBatch> {
    let table = schema::analysis_table(schema::FINDINGS).expect("in the schema");
    let schema = table.arrow_schema();
    let mut ts = UInt64Builder::new();
    let mut capture = StringBuilder::new();
    let mut time = StringBuilder::new();
    let mut rule = StringBuilder::new();
    let mut severity = StringBuilder::new();
    let mut title = StringBuilder::new();
    let mut tags = ListBuilder::new(StringBuilder::new());
    let mut key = UInt64Builder::new();
    let mut pid = Int32Builder::new();
    let mut summary = StringBuilder::new();
    let mut evidence = ListBuilder::new(StringBuilder::new());
    let mut details = StringBuilder::new();
    let mut source = StringBuilder::new();
    for f in findings {
        ts.append_value(f.ts_ns);
        capture.append_value(&f.capture);
        time.append_value(f.time());
        rule.append_value(&f.rule_id);
        severity.append_value(f.severity.as_str());
        title.append_value(&f.title);
        for t in &f.tags {
            tags.values().append_value(t);
        }
        tags.append(true);
        key.append_option(f.proc_key);
        pid.append_option(f.pid());
        summary.append_value(&f.summary);
        for e in &f.evidence {
            evidence.values().append_value(e);
        }
        evidence.append(true);
        details.append_value(Value::Object(f.details.clone()).to_string());
        source.append_value(&f.source);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(ts.finish()),
        Arc::new(capture.finish()),
        Arc::new(time.finish()),
        Arc::new(rule.finish()),
        Arc::new(severity.finish()),
        Arc::new(title.finish()),
        Arc::new(tags.finish()),
        Arc::new(key.finish()),
        Arc::new(pid.finish()),
        Arc::new(summary.finish()),
        Arc::new(evidence.finish()),
        Arc::new(details.finish()),
        Arc::new(source.finish()),
    ];
    // The list builders name their items "item" and allow nulls, as the schema does.
    Ok(RecordBatch::try_new(schema, columns)?)
}

fn ocsf_severity_id(s: Severity) -> u8 {
    match s {
        Severity::Info => 1,
        Severity::Low => 2,
        Severity::Medium => 3,
        Severity::High => 4,
        Severity::Critical => 5,
    }
}

/// A MITRE ATT&CK technique id: `T1059` or `T1059.004`.
fn is_attack_technique(tag: &str) -> bool {
    let Some(rest) = tag.strip_prefix('T') else {
        return false;
    };
    let (main, sub) = rest.split_once('.').unwrap_or((rest, "000"));
    main.len() == 4
        && main.chars().all(|c| c.is_ascii_digit())
        && sub.len() == 3
        && sub.chars().all(|c| c.is_ascii_digit())
}

/// OCSF version the findings are written in.
pub const OCSF_VERSION: &str = "1.3.0";

/// One finding as an OCSF Detection Finding (class 2004, activity Create).
pub fn ocsf(f: &Finding, session: &Session, index: usize) -> Value {
    let manifest = session
        .captures
        .iter()
        .find(|c| c.label == f.capture)
        .map(|c| &c.manifest);
    let time_ms = f.wall_ns.map(|ns| ns.div_euclid(1_000_000));
    let attacks: Vec<Value> = f
        .tags
        .iter()
        .filter(|t| is_attack_technique(t))
        .map(|t| json!({"technique": {"uid": t}, "version": "15"}))
        .collect();
    let types: Vec<&String> = f.tags.iter().filter(|t| !is_attack_technique(t)).collect();
    let mut evidences = Vec::new();
    if let Some(pid) = f.pid() {
        evidences.push(json!({"process": {"pid": pid, "uid": f.proc_key.map(|k| k.to_string())}}));
    }
    json!({
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "category_uid": 2,
        "category_name": "Findings",
        "activity_id": 1,
        "activity_name": "Create",
        "type_uid": 200401,
        "type_name": "Detection Finding: Create",
        "time": time_ms,
        "severity_id": ocsf_severity_id(f.severity),
        "severity": match f.severity {
            Severity::Info => "Informational",
            Severity::Low => "Low",
            Severity::Medium => "Medium",
            Severity::High => "High",
            Severity::Critical => "Critical",
        },
        "status_id": 1,
        "status": "New",
        "message": f.summary,
        "metadata": {
            "version": OCSF_VERSION,
            "product": {"name": "agentsight", "vendor_name": "agentsight", "version": env!("CARGO_PKG_VERSION")},
            "log_name": f.capture,
        },
        "finding_info": {
            "uid": format!("{}:{}:{}:{}", f.capture, f.rule_id, f.ts_ns, index),
            "title": f.title,
            "desc": f.summary,
            "types": types,
            "created_time": time_ms,
            "analytic": {"uid": f.rule_id, "name": f.title, "type_id": 1, "type": "Rule"},
            "attacks": attacks,
        },
        "device": manifest.map(|m| json!({"hostname": m.host.hostname, "os": {"name": "Linux", "type_id": 200, "kernel_release": m.host.kernel}})),
        "evidences": evidences,
        "unmapped": {
            "capture": f.capture,
            "ts_ns": f.ts_ns,
            "evidence": f.evidence,
            "details": f.details,
            "source": f.source,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attack_technique_ids() {
        assert!(is_attack_technique("T1059"));
        assert!(is_attack_technique("T1059.004"));
        assert!(!is_attack_technique("T10590"));
        assert!(!is_attack_technique("exec"));
    }

    #[test]
    fn sql_error_lines() {
        assert_eq!(
            sql_error_line(
                "sql parser error: Expected: end of statement, found: x at Line: 12, Column: 3"
            ),
            Some(12)
        );
        assert_eq!(sql_error_line("no position"), None);
    }
}
