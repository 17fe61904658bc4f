//! `agentsight anomalies` and `agentsight rules`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;

use agentsight_analyzer::anomalies::{self, Outcome, RuleSet, RunOptions, Severity};
use agentsight_analyzer::output::{self, Format};
use agentsight_analyzer::session::Session;

use crate::cli::{capture_dirs, create_output, open_session, runtime, CaptureOptions};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FindingsFormat {
    /// Aligned table for reading (default).
    Table,
    /// One JSON array of findings.
    Json,
    /// One JSON finding per line.
    Ndjson,
    /// CSV with a header line.
    Csv,
    /// OCSF Detection Finding (class 2004), one JSON object per line.
    Ocsf,
}

#[derive(Args, Clone, Debug)]
#[command(
    after_help = "Runs the anomaly rules (queries/anomalies/*.sql, then --rules DIR) and prints one row per finding.\n\nExit status: 0 when no finding is at or above --fail-on, 1 when one is, 2 when a rule could not run (its file and line are printed) or the capture could not be read.\n\nExamples:\n  agentsight anomalies CAP\n  agentsight anomalies CAP --min-severity medium --format ocsf > findings.jsonl\n  agentsight anomalies CAP --rules ./my-rules --disable new_egress --fail-on high"
)]
pub struct AnomaliesArgs {
    /// Capture directories.
    #[arg(value_name = "CAPTURE")]
    pub positional: Vec<PathBuf>,
    #[command(flatten)]
    pub rules: RuleOptions,
    /// Exit with status 1 when a finding is at or above this severity.
    #[arg(long, value_enum, value_name = "S")]
    pub fail_on: Option<Severity>,
    #[arg(long, value_enum, default_value_t = FindingsFormat::Table)]
    pub format: FindingsFormat,
    /// Write to FILE (created 0600) instead of stdout.
    #[arg(long = "output", short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub captures: CaptureOptions,
}

#[derive(Args, Clone, Debug)]
#[command(
    after_help = "Lists the rules with their severity and tags, and checks each one compiles against the capture schema and returns the required columns. Exit status 2 when one does not."
)]
pub struct RulesArgs {
    /// Directory of rule files (repeatable), as for `anomalies --rules`.
    #[arg(long = "rules", value_name = "DIR")]
    pub rules: Vec<PathBuf>,
    /// Print one rule's file (header and SQL).
    #[arg(value_name = "ID")]
    pub id: Option<String>,
}

/// Which rules run: shared by `anomalies` and `report`.
#[derive(Args, Clone, Debug)]
pub struct RuleOptions {
    /// Directory of rule files replacing (same id) or adding to the built-in ones; `DIR/shared/` holds lists. Repeatable.
    #[arg(long = "rules", value_name = "DIR")]
    pub rules: Vec<PathBuf>,
    /// Do not run this rule (repeatable).
    #[arg(long, value_name = "ID")]
    pub disable: Vec<String>,
    /// Leave out findings below this severity.
    #[arg(long, value_enum, value_name = "S")]
    pub min_severity: Option<Severity>,
}

impl RuleOptions {
    /// The rule set, and how to run it; an unknown `--disable` id is an error.
    pub fn load(&self) -> Result<(RuleSet, RunOptions)> {
        let set = anomalies::rules::load(&self.rules)?;
        for id in &self.disable {
            if !set.rules.iter().any(|r| &r.id == id) {
                bail!("--disable {id}: no such rule (`agentsight rules` lists them)");
            }
        }
        let run = RunOptions {
            disable: self.disable.clone(),
            min_severity: self.min_severity,
        };
        Ok((set, run))
    }
}

fn print_errors(errors: &[anomalies::RuleError]) {
    for e in errors {
        eprintln!("agentsight: rule error: {e}");
    }
}

/// `agentsight anomalies`: the exit status (0, 1 or 2).
pub fn anomalies(args: AnomaliesArgs) -> Result<i32> {
    let dirs = capture_dirs(&args.captures, &args.positional, "anomalies")?;
    let (set, opts) = args.rules.load()?;
    let rt = runtime()?;
    let session = open_session(&rt, &dirs, &args.captures)?;
    let outcome = rt.block_on(anomalies::run(&session, &set, &opts))?;
    let w: Box<dyn Write + Send> = match &args.output {
        Some(p) => create_output(p)?,
        None => Box::new(std::io::stdout()),
    };
    write_findings(&session, &outcome, args.format, w, args.output.is_none())?;
    print_errors(&outcome.errors);
    let failed = args
        .fail_on
        .is_some_and(|s| outcome.findings.iter().any(|f| f.severity >= s));
    Ok(if failed {
        1
    } else if !outcome.errors.is_empty() {
        2
    } else {
        0
    })
}

fn write_findings(
    session: &Session,
    outcome: &Outcome,
    format: FindingsFormat,
    mut w: Box<dyn Write + Send>,
    to_stdout: bool,
) -> Result<()> {
    let batch = anomalies::findings_batch(&outcome.findings)?;
    match format {
        FindingsFormat::Table => {
            let keep: Vec<usize> = ["time", "severity", "rule_id", "pid", "summary", "evidence"]
                .iter()
                .map(|c| batch.schema().index_of(c))
                .collect::<std::result::Result<_, _>>()?;
            let shown = batch.project(&keep)?;
            let width = (to_stdout && std::io::stdout().is_terminal())
                .then(output::terminal_width)
                .flatten();
            let table = match width {
                Some(width) => output::render_table_fit(&shown.schema(), &[shown], 120, 0, width)?,
                None => output::render_table(&shown.schema(), &[shown], 0, 0)?,
            };
            writeln!(w, "{table}")?;
            let mut counts = String::new();
            for s in Severity::ALL.iter().rev() {
                let n = outcome.findings.iter().filter(|f| f.severity == *s).count();
                if n > 0 {
                    counts.push_str(&format!(", {n} {s}"));
                }
            }
            writeln!(
                w,
                "{} findings from {} rules{counts}",
                outcome.findings.len(),
                outcome.rules_run
            )?;
        }
        FindingsFormat::Json | FindingsFormat::Ndjson | FindingsFormat::Csv => {
            let f = match format {
                FindingsFormat::Json => Format::Json,
                FindingsFormat::Ndjson => Format::Ndjson,
                _ => Format::Csv,
            };
            output::write_results(f, &batch.schema(), &[batch], w)?;
            return Ok(());
        }
        FindingsFormat::Ocsf => {
            for (i, f) in outcome.findings.iter().enumerate() {
                writeln!(w, "{}", anomalies::ocsf(f, session, i))?;
            }
        }
    }
    w.flush()?;
    Ok(())
}

/// `agentsight rules`: 0 when every rule is valid, 2 otherwise.
pub fn rules(args: RulesArgs) -> Result<i32> {
    let set: RuleSet = anomalies::rules::load(&args.rules)?;
    let mut out = std::io::stdout().lock();
    if let Some(id) = &args.id {
        let Some(r) = set.rules.iter().find(|r| &r.id == id) else {
            bail!("no rule {id}; `agentsight rules` lists them");
        };
        writeln!(out, "-- from {}\n{}", r.source, r.sql)?;
        return Ok(0);
    }
    // Checked against an empty session: every table exists, no capture needed.
    let rt = runtime()?;
    let session = rt.block_on(Session::without_captures())?;
    let errors = rt.block_on(anomalies::validate(&session, &set));
    let width = set.rules.iter().map(|r| r.id.len()).max().unwrap_or(0);
    for r in &set.rules {
        writeln!(
            out,
            "{:<width$}  {:<8}  {:<24}  {}",
            r.id,
            r.severity.as_str(),
            r.tags.join(","),
            r.title
        )?;
    }
    for v in &set.shared {
        writeln!(
            out,
            "{:<width$}  {:<8}  {:<24}  {}",
            v.name, "shared", "", v.description
        )?;
    }
    drop(out);
    print_errors(&errors);
    Ok(if errors.is_empty() { 0 } else { 2 })
}
