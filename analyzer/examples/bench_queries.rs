//! Times SQL over a capture with the analyzer, for benches/views_vs_duckdb.py:
//!
//!     bench_queries CAPTURE RUNS NAME SQL [NAME SQL ...]
//!
//! Prints one JSON object: the session open time and, per query, the time of
//! every run (seconds), the row count and the first row as text (to compare
//! with DuckDB).

use std::path::PathBuf;
use std::time::Instant;

use agentsight_analyzer::arrow::util::display::{ArrayFormatter, FormatOptions};
use agentsight_analyzer::session::{OpenOptions, Session};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 || !args.len().is_multiple_of(2) {
        anyhow::bail!("usage: bench_queries CAPTURE RUNS NAME SQL [NAME SQL ...]");
    }
    let runs: usize = args[1].parse()?;
    let t = Instant::now();
    let session = Session::open(&[PathBuf::from(&args[0])], &OpenOptions::default()).await?;
    let open_s = t.elapsed().as_secs_f64();
    let mut results = serde_json::Map::new();
    for pair in args[2..].chunks(2) {
        let (name, sql) = (&pair[0], &pair[1]);
        let mut times = Vec::new();
        let mut first_row = Vec::new();
        let mut rows = 0usize;
        for _ in 0..runs {
            let t = Instant::now();
            let batches = session.ctx.sql(sql).await?.collect().await?;
            times.push(t.elapsed().as_secs_f64());
            rows = batches.iter().map(|b| b.num_rows()).sum();
            if let Some(b) = batches.iter().find(|b| b.num_rows() > 0) {
                let opts = FormatOptions::new().with_null("NULL");
                first_row = b
                    .columns()
                    .iter()
                    .map(|c| {
                        ArrayFormatter::try_new(c.as_ref(), &opts).map(|f| f.value(0).to_string())
                    })
                    .collect::<Result<_, _>>()?;
            }
        }
        results.insert(
            name.clone(),
            serde_json::json!({ "times": times, "rows": rows, "first_row": first_row }),
        );
    }
    println!(
        "{}",
        serde_json::json!({ "open_s": open_s, "queries": results })
    );
    Ok(())
}
