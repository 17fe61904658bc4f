//! Locates the TLS data functions of stripped binaries and times it, cold
//! (fresh cache) and cached: the discovery benchmark (benches/tls_locate.sh).
//!
//!     cargo run --release -p agentsight-tls-targets --example locate -- [--runs N] BINARY...
//!
//! Prints, per binary, what was found and the median of N cold and N cached
//! lookups (each cold one with an empty cache directory; the file is in the
//! page cache after the first read, as it is for a binary that just started).

use std::path::Path;
use std::time::{Duration, Instant};

use agentsight_tls_targets::stripped::{lookup, Source};

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
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let (mut cold, mut cached) = (Vec::new(), Vec::new());
        let mut shown = None;
        for _ in 0..runs {
            let dir = tempfile::tempdir().expect("temp dir");
            let t = Instant::now();
            // The markers the recorder would find: BoringSSL or OpenSSL (the
            // method tells them apart by itself).
            let markers = || vec!["BoringSSL".to_string()];
            let (result, source) =
                lookup(path, Some(dir.path()), markers, || ()).expect("readable binary");
            cold.push(t.elapsed());
            assert_eq!(source, Source::Analysis);
            let t = Instant::now();
            let (again, source) =
                lookup(path, Some(dir.path()), markers, || ()).expect("readable binary");
            cached.push(t.elapsed());
            assert_eq!((source, &again), (Source::Cache, &result));
            shown = Some(result);
        }
        println!(
            "{}: {:.0} MB: cold {:.0?} (median of {runs}), cached {:.2?}: {}",
            path.display(),
            size as f64 / 1e6,
            median(cold),
            median(cached),
            match shown.expect("runs >= 1").located {
                Some(Ok(l)) => format!(
                    "{:?} read {:#x} write {:#x}",
                    l.flavor, l.read.va, l.write.va
                ),
                Some(Err(e)) => format!("not located: {e}"),
                None => "no BoringSSL or OpenSSL".into(),
            }
        );
    }
}
