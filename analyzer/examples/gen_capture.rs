//! Writes a fixture capture, for trying the CLI and for benchmarks:
//!
//!     cargo run --release -p agentsight-analyzer --example gen_capture -- incident DIR
//!     cargo run --release -p agentsight-analyzer --example gen_capture -- synthetic DIR PROCESSES FILES_PER_PROCESS
//!
//! A synthetic capture holds PROCESSES * (3 + FILES_PER_PROCESS) events
//! (fork, exec, exit and the file opens of each process).

use std::io::IsTerminal;
use std::path::PathBuf;

use agentsight_testkit::{incident, synthetic, synthetic_root, SyntheticSpec};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage =
        "usage: gen_capture incident DIR | gen_capture synthetic DIR PROCESSES FILES_PER_PROCESS";
    match args.first().map(String::as_str) {
        Some("incident") if args.len() == 2 => {
            incident(&PathBuf::from(&args[1]), "incident")?;
        }
        Some("synthetic") if args.len() == 4 => {
            let spec = SyntheticSpec {
                processes: args[2].parse()?,
                files_per_process: args[3].parse()?,
                ..Default::default()
            };
            let total = spec.processes as u64 * (3 + spec.files_per_process as u64);
            let pb = if std::io::stderr().is_terminal() {
                indicatif::ProgressBar::new(total)
            } else {
                indicatif::ProgressBar::hidden()
            };
            let m = synthetic(&PathBuf::from(&args[1]), spec, |n| pb.inc(n))?;
            pb.finish_and_clear();
            let rows: u64 = m.rows.values().sum();
            eprintln!(
                "{rows} rows in {} segments; root process key {}",
                m.segments.len(),
                synthetic_root()
            );
        }
        _ => anyhow::bail!("{usage}"),
    }
    Ok(())
}
