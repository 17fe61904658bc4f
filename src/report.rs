//! `agentsight report` and `agentsight verify --bundle`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;

use agentsight_analyzer::report::{self, bundle, ReportOptions};

use crate::anomalies::RuleOptions;
use crate::cli::{capture_dirs, open_session, runtime, CaptureOptions};

#[derive(Args, Clone, Debug)]
#[command(
    after_help = "Writes DIR/report.html (one self-contained file: no external fetch, a strict Content-Security-Policy), DIR/report.md (GitHub Markdown with a Mermaid graph) and DIR/evidence/ (the cited rows as Parquet and CSV, the manifest, bundle.json, SHA256SUMS).\n\nExamples:\n  agentsight report CAP -o incident-42\n  agentsight report CAP -o out --conversation 2 --title \"Ticket 42: unexpected curl\"\n  agentsight report CAP -o out --since 2026-12-04T10:00:00Z --until 2026-12-04T10:30:00Z\n  agentsight verify --bundle out/evidence --capture CAP"
)]
pub struct ReportArgs {
    /// Capture directories.
    #[arg(value_name = "CAPTURE")]
    pub positional: Vec<PathBuf>,
    /// Directory to write (created; must be empty unless --force).
    #[arg(long = "output", short = 'o', value_name = "DIR")]
    pub output: PathBuf,
    /// Replace an existing report in DIR.
    #[arg(long)]
    pub force: bool,
    /// Title of the report (default: the capture ids).
    #[arg(long)]
    pub title: Option<String>,
    /// Only events at or after this UTC time (RFC 3339, e.g. 2026-12-04T10:00:00Z).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only events at or before this UTC time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Only this conversation (its `conversation_id`) and what it caused.
    #[arg(long, value_name = "N")]
    pub conversation: Option<u64>,
    /// Only this process and what it caused.
    #[arg(long, value_name = "PID")]
    pub pid: Option<i32>,
    /// Only this finding: its report id (F3) or a rule id.
    #[arg(long, value_name = "ID")]
    pub finding: Option<String>,
    #[command(flatten)]
    pub rules: RuleOptions,
    /// Sign the bundle with this ed25519 private key (PKCS#8 PEM): an in-toto statement over every bundle file in a DSSE envelope, evidence/bundle.dsse.json.
    #[arg(long, value_name = "KEY.pem")]
    pub sign_key: Option<PathBuf>,
    #[command(flatten)]
    pub captures: CaptureOptions,
}

fn parse_time(flag: &str, s: &str) -> Result<i64> {
    let t = chrono::DateTime::parse_from_rfc3339(s.trim()).with_context(|| {
        format!("--{flag} {s:?}: expected an RFC 3339 time such as 2026-12-04T10:00:00Z")
    })?;
    t.timestamp_nanos_opt()
        .with_context(|| format!("--{flag} {s:?}: out of range"))
}

/// Refuses to mix a new report with other files unless told to.
fn prepare(dir: &Path, force: bool) -> Result<()> {
    if let Ok(mut entries) = std::fs::read_dir(dir) {
        if entries.next().is_some() {
            if !force {
                bail!(
                    "{} is not empty: choose a new directory or pass --force to replace the report in it",
                    dir.display()
                );
            }
            let evidence = dir.join("evidence");
            if evidence.exists() {
                std::fs::remove_dir_all(&evidence)
                    .with_context(|| format!("removing the old {}", evidence.display()))?;
            }
        }
    }
    Ok(())
}

pub fn report(args: ReportArgs) -> Result<i32> {
    let dirs = capture_dirs(&args.captures, &args.positional, "report")?;
    let (set, run) = args.rules.load()?;
    let opts = ReportOptions {
        title: args.title.clone(),
        since_ns: args
            .since
            .as_deref()
            .map(|s| parse_time("since", s))
            .transpose()?,
        until_ns: args
            .until
            .as_deref()
            .map(|s| parse_time("until", s))
            .transpose()?,
        conversation: args.conversation,
        pid: args.pid,
        finding: args.finding.clone(),
        run,
    };
    let key = args
        .sign_key
        .as_deref()
        .map(report::sign::load_signing_key)
        .transpose()?;
    prepare(&args.output, args.force)?;
    let rt = runtime()?;
    let session = open_session(&rt, &dirs, &args.captures)?;
    let built = rt.block_on(report::build(&session, &set, &opts))?;
    for e in &built.rule_errors {
        eprintln!("agentsight: rule error: {e}");
    }
    if let Some(f) = &opts.finding {
        if built.findings.is_empty() {
            bail!("--finding {f}: no such finding in scope (`agentsight anomalies` lists them; report ids are F1, F2… in time order)");
        }
    }
    let index = report::write(&built, &session, &args.output, key.as_ref())?;
    println!(
        "wrote {} ({} findings, {} timeline events, {} conversations) and {} ({} cited rows)",
        args.output.join("report.html").display(),
        built.findings.len(),
        built.timeline.events,
        built.transcripts["conversations"]
            .as_array()
            .map_or(0, Vec::len),
        args.output.join("evidence").display(),
        index.rows.len()
    );
    Ok(if built.rule_errors.is_empty() { 0 } else { 2 })
}

/// `verify --bundle`: 0 when the bundle (and the capture, if given) check out.
pub fn verify_bundle(dir: &Path, capture: Option<&Path>, public_key: Option<&Path>) -> Result<i32> {
    let key = public_key.map(report::sign::load_public_key).transpose()?;
    let r = bundle::verify_bundle(dir, capture, key.as_ref())?;
    // Problems quote bundle contents: never raw onto a terminal.
    let safe = |s: &str| agentsight_analyzer::graph::render::terminal_text(s, 400);
    for p in &r.problems {
        eprintln!("verify: {}", safe(p));
    }
    if r.intact() {
        print!(
            "bundle intact: {} files and {} cited rows verified",
            r.files_checked, r.rows_checked
        );
        if capture.is_some() {
            print!("; {} rows re-derived from the capture", r.rows_rederived);
            if r.rows_of_other_captures > 0 {
                print!(
                    " ({} rows cite the bundle's other captures: verify against each)",
                    r.rows_of_other_captures
                );
            }
        }
        match &r.verified_by {
            Some(id) => print!("; signature by key {} verified", safe(id)),
            None if !r.signed_by.is_empty() => print!(
                "; signed (key ids claimed: {}), signature not checked: pass --public-key",
                safe(&r.signed_by.join(", "))
            ),
            None => {}
        }
        println!();
        Ok(0)
    } else {
        println!("bundle NOT intact: {}", safe(&r.problems[0]));
        Ok(1)
    }
}
