//! Times the causal graph and `explain` walks over a capture, for
//! benches/graph_build.sh:
//!
//!     bench_explain CAPTURE [WALKS]
//!
//! Builds the graph once, then walks back from WALKS file nodes (spread over
//! the graph) as `agentsight explain --path` does; prints one JSON object with
//! the build time and the slowest and median walk.

use std::path::PathBuf;
use std::time::Instant;

use agentsight_analyzer::graph::{render, NodeKind};
use agentsight_analyzer::session::{OpenOptions, Session};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cap) = args.first() else {
        anyhow::bail!("usage: bench_explain CAPTURE [WALKS]");
    };
    let walks: usize = args.get(1).map_or(Ok(1000), |w| w.parse())?;
    let session = Session::open(&[PathBuf::from(cap)], &OpenOptions::default()).await?;
    let t = Instant::now();
    let decoded = session.decoded().await?;
    let graph = session.graph().await?;
    let build_s = t.elapsed().as_secs_f64();
    let g = &graph.captures[0];
    let files: Vec<usize> = (0..g.nodes.len())
        .filter(|&i| g.nodes[i].kind == NodeKind::File)
        .collect();
    let step = (files.len() / walks.max(1)).max(1);
    let mut times = Vec::new();
    let mut hops = 0;
    for &f in files.iter().step_by(step).take(walks) {
        let t = Instant::now();
        let (chain, _) = render::explain(g, &decoded, f);
        times.push(t.elapsed().as_secs_f64());
        hops += chain.len();
    }
    times.sort_by(f64::total_cmp);
    let median = times.get(times.len() / 2).copied().unwrap_or(0.0);
    let max = times.last().copied().unwrap_or(0.0);
    println!(
        "{}",
        serde_json::json!({
            "nodes": g.nodes.len(), "edges": g.edges.len(), "graph_build_s": build_s,
            "walks": times.len(), "hops": hops, "walk_median_s": median, "walk_max_s": max,
        })
    );
    Ok(())
}
