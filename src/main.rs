//! `agentsight`: record AI agents with eBPF, analyze the capture with SQL.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use agentsight::{anomalies, cli, inspect, report};
#[cfg(feature = "record")]
use agentsight_recorder as recorder;

#[derive(Parser)]
#[command(
    name = "agentsight",
    version,
    about = "Offline record-and-replay forensics for AI agents"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Record processes, files, network and TLS plaintext into a capture directory (root).
    #[cfg(feature = "record")]
    Record(recorder::RecordArgs),
    /// Summarize a capture: time range, rows per table, processes, drops, integrity.
    Info { capture: PathBuf },
    /// Re-hash every segment and check the hash chain, or check an evidence bundle; exit 0 only when intact.
    Verify {
        /// Capture directory (with --bundle: the original capture to re-derive the cited rows from).
        capture: Option<PathBuf>,
        /// Chain head printed at the end of recording, to detect a re-sealed capture.
        #[arg(long)]
        expect_head: Option<String>,
        /// Check this evidence bundle (a report's evidence/ directory) instead.
        #[arg(long, value_name = "DIR")]
        bundle: Option<PathBuf>,
        /// With --bundle: the original capture (same as the positional CAPTURE).
        #[arg(long = "capture", value_name = "DIR", requires = "bundle")]
        capture_flag: Option<PathBuf>,
        /// With --bundle: check the bundle's signature with this ed25519 public key (PEM).
        #[arg(long, value_name = "KEY.pem", requires = "bundle")]
        public_key: Option<PathBuf>,
    },
    /// Seal the journals left by a recorder that was killed (kill -9, power loss).
    Recover { capture: PathBuf },
    /// Run SQL over one or more captures.
    Query(cli::QueryArgs),
    /// Interactive SQL shell over a capture.
    Shell(cli::ShellArgs),
    /// Readable transcripts of the LLM conversations in a capture (Markdown or JSON).
    Conversations(cli::ConversationsArgs),
    /// Forward causal graph: what a conversation, tool call or process caused (tree, DOT, Mermaid, JSON).
    Graph(cli::GraphArgs),
    /// Backward chain: why a process ran, a file changed or a host was contacted.
    Explain(cli::ExplainArgs),
    /// Run the anomaly rules (queries/anomalies/*.sql): one row per finding, with its evidence.
    Anomalies(anomalies::AnomaliesArgs),
    /// Incident report: self-contained HTML, Markdown and a verifiable evidence bundle.
    Report(report::ReportArgs),
    /// List and validate the anomaly rules.
    Rules(anomalies::RulesArgs),
    /// List the named views (queries/*.sql) with what each answers.
    Views(cli::ViewsArgs),
    /// Print the raw table schema (Markdown with --markdown).
    Schema {
        #[arg(long)]
        markdown: bool,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AGENTSIGHT_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        #[cfg(feature = "record")]
        Command::Record(args) => recorder::run(args),
        Command::Info { capture } => inspect::info(&capture).map(|_| 0),
        Command::Verify {
            capture,
            expect_head,
            bundle,
            capture_flag,
            public_key,
        } => match (bundle, capture_flag.or(capture)) {
            (Some(b), cap) => report::verify_bundle(&b, cap.as_deref(), public_key.as_deref()),
            (None, Some(cap)) => inspect::verify(&cap, expect_head.as_deref()),
            (None, None) => Err(anyhow::anyhow!(
                "agentsight verify CAPTURE, or agentsight verify --bundle DIR [--capture CAPTURE]"
            )),
        },
        Command::Recover { capture } => inspect::recover(&capture).map(|_| 0),
        Command::Query(args) => cli::query(args).map(|_| 0),
        Command::Shell(args) => cli::shell(args).map(|_| 0),
        Command::Conversations(args) => cli::conversations(args).map(|_| 0),
        Command::Graph(args) => cli::graph(args).map(|_| 0),
        Command::Explain(args) => cli::explain(args).map(|_| 0),
        Command::Anomalies(args) => anomalies::anomalies(args),
        Command::Rules(args) => anomalies::rules(args),
        Command::Report(args) => report::report(args),
        Command::Views(args) => cli::views(args).map(|_| 0),
        Command::Schema { markdown } => {
            if markdown {
                print!("{}", agentsight_capture::schema::markdown());
            } else {
                for t in agentsight_capture::schema::TABLES {
                    println!("{}", t.name);
                    for c in t.columns {
                        println!("  {:<16} {:?}", c.name, c.ty.arrow());
                    }
                }
            }
            Ok(0)
        }
    };
    match result {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("agentsight: {e:#}");
            ExitCode::from(2)
        }
    }
}
