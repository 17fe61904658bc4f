//! Discovery of the TLS data functions of stripped binaries, timed as the
//! recorder does it (marker scan, analysis, cache): cold, with an empty
//! cache directory, and cached, by a fresh scanner over the same directory.
//! The discovery benchmark (benches/tls_locate.sh).
//!
//!     cargo run --release -p agentsight-tls-targets --example locate -- [--runs N] BINARY...
//!
//! Prints per binary what was found and the median of N cold and N cached
//! discoveries (the file is in the page cache after the first read, as it
//! is for a binary that has just started).

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use agentsight_tls_targets::targets::{FileId, TlsScanner};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut runs = 5;
    if let Some(i) = args.iter().position(|a| a == "--runs") {
        runs = args
            .get(i + 1)
            .and_then(|n| n.parse().ok())
            .expect("--runs N");
        args.drain(i..i + 2);
    }
    for path in &args {
        let path = Path::new(path);
        let md = std::fs::metadata(path).expect("readable binary");
        let id = FileId {
            dev_major: 0,
            dev_minor: md.dev() as u32,
            ino: md.ino(),
        };
        let (mut cold, mut cached) = (Vec::new(), Vec::new());
        let mut shown = String::new();
        for _ in 0..runs {
            let dir = tempfile::tempdir().expect("temp dir");
            let t = Instant::now();
            let discover = || {
                let file = std::fs::File::open(path).expect("readable binary");
                TlsScanner::with_cache_dir(Some(dir.path().into())).executable(id, file, None)
            };
            let first = discover();
            cold.push(t.elapsed());
            let t = Instant::now();
            let again = discover();
            cached.push(t.elapsed());
            let tls = |e: &agentsight_tls_targets::targets::ExecutableTls| {
                e.located.as_ref().map(|(tls, _)| tls.clone())
            };
            assert_eq!(
                tls(&first),
                tls(&again),
                "the cache gives what the analysis found"
            );
            let reasons = first.reasons.clone();
            shown = match tls(&first) {
                Some(tls) => format!(
                    "hooked at {:x?}{:x?}; {}; unhooked: {:?}",
                    tls.symbols
                        .iter()
                        .map(|s| (s.name, s.probe))
                        .collect::<Vec<_>>(),
                    tls.shared
                        .iter()
                        .map(|s| (s.write, s.probe))
                        .collect::<Vec<_>>(),
                    tls.located_by.as_deref().unwrap_or(""),
                    reasons
                ),
                None => format!("not hooked: {reasons:?}"),
            };
        }
        println!(
            "{}: {:.0} MB: cold {:.2?} (median of {runs}), cached {:.2?}: {shown}",
            path.display(),
            md.len() as f64 / 1e6,
            median(cold),
            median(cached),
        );
    }
}
