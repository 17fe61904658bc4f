//! Conversation reconstruction throughput over a capture written by
//! examples/gen_llm_capture.rs (issue 5):
//!
//!     cargo run -p agentsight-analyzer --example bench_reconstruct -- DIR [--runs 3]
//!
//! Every run opens a fresh session and times `Session::decoded()` (scan of
//! the raw tables + reconstruction) separately from the open. It checks the
//! result against `DIR.expected.json` (no partial calls, the generated
//! number of LLM calls and conversations, the output tokens), runs one SQL
//! query over `llm_calls`, and reports MB/s on wall time and on CPU time
//! (user + sys of the whole process, from /proc/self/stat) and the peak RSS
//! (VmHWM, reset before each run). A last pass times the stages of the
//! reconstruction separately (scan, connections, decode).
//!
//! The runtime is the CLI's: a default multi-threaded tokio runtime; the
//! decode spreads connections over every core.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use futures::StreamExt;
use serde_json::{json, Value};

use agentsight_analyzer::arrow::array::{Array, AsArray};
use agentsight_analyzer::arrow::datatypes::{Int64Type, UInt64Type};
use agentsight_analyzer::reconstruct::provider::{CHUNKS_SQL, NET_SQL, TLS_EVENTS_SQL};
use agentsight_analyzer::reconstruct::{self, streams};
use agentsight_analyzer::session::{OpenOptions, Session};

const MB: f64 = 1e6;

fn expected_path(dir: &Path) -> PathBuf {
    let s = dir.to_string_lossy();
    PathBuf::from(format!("{}.expected.json", s.trim_end_matches('/')))
}

/// Process CPU time (user + sys, all threads) in seconds, from
/// /proc/self/stat (getrusage without a libc dependency; 10 ms resolution).
fn cpu_seconds() -> f64 {
    let (user, sys) = cpu_user_sys();
    user + sys
}

/// (user, sys) CPU seconds of the process.
fn cpu_user_sys() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised comm: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // `rest` starts at field 3, so field n is f[n - 3]. USER_HZ is 100 on Linux.
    (ticks(14 - 3) / 100.0, ticks(15 - 3) / 100.0)
}

fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// Resets VmHWM to the current RSS (Linux >= 4.0), so each run's peak is its own.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_string()
}

struct Run {
    open_s: f64,
    decode_s: f64,
    decode_cpu_s: f64,
    decode_sys_s: f64,
    query_s: f64,
    peak_rss_kb: u64,
    exchanges: usize,
    calls: usize,
    conversations: usize,
    partial: usize,
    output_tokens: u64,
    sql_calls: i64,
    sql_output_tokens: u64,
}

async fn one_run(dir: &Path) -> Result<Run> {
    let t = Instant::now();
    let session = Session::open(&[dir.to_path_buf()], &OpenOptions::default()).await?;
    let open_s = t.elapsed().as_secs_f64();
    let (t, (u0, s0)) = (Instant::now(), cpu_user_sys());
    let decoded = session.decoded().await?;
    let decode_s = t.elapsed().as_secs_f64();
    let (u1, s1) = cpu_user_sys();
    let decode_cpu_s = (u1 - u0) + (s1 - s0);
    let decode_sys_s = s1 - s0;
    let peak_rss_kb = status_kb("VmHWM:");
    let t = Instant::now();
    let batches = session
        .ctx
        .sql("SELECT count(*), sum(output_tokens) FROM llm_calls")
        .await?
        .collect()
        .await?;
    let query_s = t.elapsed().as_secs_f64();
    let b = batches
        .first()
        .context("llm_calls query returned nothing")?;
    let sql_calls = b.column(0).as_primitive::<Int64Type>().value(0);
    let sum = b.column(1).as_primitive::<UInt64Type>();
    let sql_output_tokens = if sum.is_null(0) { 0 } else { sum.value(0) };
    Ok(Run {
        open_s,
        decode_s,
        decode_cpu_s,
        decode_sys_s,
        query_s,
        peak_rss_kb,
        exchanges: decoded.http.len(),
        calls: decoded.calls.len(),
        conversations: decoded.conversations.len(),
        partial: decoded.calls.iter().filter(|c| c.call.partial).count(),
        output_tokens: decoded
            .calls
            .iter()
            .map(|c| c.call.output_tokens.unwrap_or(0))
            .sum(),
        sql_calls,
        sql_output_tokens,
    })
}

/// Times the three stages of `Session::decoded()` on their own.
async fn stages(dir: &Path) -> Result<Value> {
    let session = Session::open(&[dir.to_path_buf()], &OpenOptions::default()).await?;
    let (t, c) = (Instant::now(), cpu_seconds());
    let chunks = session.ctx.sql(CHUNKS_SQL).await?.collect().await?;
    let events = session.ctx.sql(TLS_EVENTS_SQL).await?.collect().await?;
    let net = session.ctx.sql(NET_SQL).await?.collect().await?;
    let scan = (t.elapsed().as_secs_f64(), cpu_seconds() - c);
    let (t, c) = (Instant::now(), cpu_seconds());
    let conns = streams::connections(chunks, &events, &net)?;
    let group = (t.elapsed().as_secs_f64(), cpu_seconds() - c);
    let (t, c) = (Instant::now(), cpu_seconds());
    let decoded = reconstruct::decode(conns);
    let decode = (t.elapsed().as_secs_f64(), cpu_seconds() - c);
    let (t, c) = (Instant::now(), cpu_seconds());
    drop(decoded);
    let free = (t.elapsed().as_secs_f64(), cpu_seconds() - c);
    let stage = |(w, c): (f64, f64)| json!({"wall_s": w, "cpu_s": c});
    Ok(json!({
        "scan_tls_chunks": stage(scan),
        "connections": stage(group),
        "decode": stage(decode),
        "drop": stage(free),
    }))
}

fn main() -> Result<()> {
    let usage = "usage: bench_reconstruct DIR [--runs 3]";
    let mut args = std::env::args().skip(1);
    let mut dir = None;
    let mut runs = 3usize;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().context(usage)?.parse()?,
            s if s.starts_with("--") => bail!("{usage}"),
            _ if dir.is_none() => dir = Some(PathBuf::from(a)),
            _ => bail!("{usage}"),
        }
    }
    let Some(dir) = dir else { bail!("{usage}") };
    let exp_path = expected_path(&dir);
    let expected: Value = serde_json::from_slice(
        &std::fs::read(&exp_path).with_context(|| format!("reading {}", exp_path.display()))?,
    )?;
    let want = |k: &str| expected.get(k).and_then(Value::as_u64).unwrap_or(0);

    // Same runtime as the CLI (analyzer/src/cli.rs runtime()).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let load_before = loadavg();

    // Payload (sum of the data lengths) and rows, streamed over the raw table.
    let (payload, rows) = rt.block_on(async {
        let s = Session::open(&[dir.clone()], &OpenOptions::default()).await?;
        let mut stream = s
            .ctx
            .sql("SELECT data FROM tls_chunks")
            .await?
            .execute_stream()
            .await?;
        let (mut payload, mut rows) = (0u64, 0u64);
        while let Some(b) = stream.next().await {
            let b = b?;
            let data = b.column(0).as_binary::<i32>();
            rows += b.num_rows() as u64;
            payload += (data.value_offsets()[data.len()] - data.value_offsets()[0]) as u64;
        }
        anyhow::Ok((payload, rows))
    })?;
    if payload != want("payload_bytes") || rows != want("tls_chunks_rows") {
        bail!(
            "capture holds {payload} payload bytes in {rows} rows, {} expected {} in {}",
            exp_path.display(),
            want("payload_bytes"),
            want("tls_chunks_rows")
        );
    }
    let payload_mb = payload as f64 / MB;
    eprintln!(
        "capture {}: {payload_mb:.1} MB of TLS payload in {rows} tls_chunks rows; {runs} run(s)",
        dir.display()
    );

    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut results = Vec::new();
    for i in 0..runs {
        let reset = reset_peak_rss();
        let r = rt.block_on(one_run(&dir))?;
        let mbps = payload_mb / r.decode_s;
        let mbps_cpu = payload_mb / r.decode_cpu_s.max(0.01);
        eprintln!(
            "run {}: open {:.3}s, decoded() {:.2}s wall / {:.2}s CPU ({:.2}s sys) = {mbps:.1} MB/s wall, {mbps_cpu:.1} MB/s per CPU-second; \
             peak RSS {:.0} MB{}; {} exchanges, {} calls, {} conversations, {} partial; SQL {:.3}s",
            i + 1,
            r.open_s,
            r.decode_s,
            r.decode_cpu_s,
            r.decode_sys_s,
            r.peak_rss_kb as f64 / 1024.0,
            if reset || i == 0 { "" } else { " (VmHWM not reset)" },
            r.exchanges,
            r.calls,
            r.conversations,
            r.partial,
            r.query_s
        );
        let mut bad = Vec::new();
        if r.partial != 0 {
            bad.push(format!("{} partial calls (expected 0)", r.partial));
        }
        if r.calls as u64 != want("llm_calls") || r.sql_calls as u64 != want("llm_calls") {
            bad.push(format!(
                "{} llm_calls ({} by SQL), expected {}",
                r.calls,
                r.sql_calls,
                want("llm_calls")
            ));
        }
        if r.exchanges as u64 != want("http_exchanges") {
            bad.push(format!(
                "{} http_exchanges, expected {}",
                r.exchanges,
                want("http_exchanges")
            ));
        }
        if r.conversations as u64 != want("conversations") {
            bad.push(format!(
                "{} conversations, expected {}",
                r.conversations,
                want("conversations")
            ));
        }
        if r.output_tokens != want("output_tokens") || r.sql_output_tokens != r.output_tokens {
            bad.push(format!(
                "{} output tokens ({} by SQL), expected {}",
                r.output_tokens,
                r.sql_output_tokens,
                want("output_tokens")
            ));
        }
        if !bad.is_empty() {
            bail!(
                "reconstruction does not match the generator: {}",
                bad.join("; ")
            );
        }
        results.push(json!({
            "open_s": r.open_s,
            "decoded_wall_s": r.decode_s,
            "decoded_cpu_s": r.decode_cpu_s,
            "decoded_sys_s": r.decode_sys_s,
            "mb_per_s_wall": mbps,
            "mb_per_cpu_s": mbps_cpu,
            "peak_rss_mb": r.peak_rss_kb as f64 / 1024.0,
            "sql_llm_calls_s": r.query_s,
            "http_exchanges": r.exchanges,
            "llm_calls": r.calls,
            "conversations": r.conversations,
            "partial_calls": r.partial,
            "output_tokens": r.output_tokens,
        }));
    }
    reset_peak_rss();
    let st = rt.block_on(stages(&dir))?;
    eprintln!("stages: {st}");
    let best = results
        .iter()
        .filter_map(|r| r["decoded_wall_s"].as_f64())
        .fold(f64::INFINITY, f64::min);
    println!(
        "{}",
        json!({
            "capture": dir.display().to_string(),
            "payload_bytes": payload,
            "payload_mb": payload_mb,
            "tls_chunks_rows": rows,
            "cpus": cpus,
            "loadavg_before": load_before,
            "loadavg_after": loadavg(),
            "best_mb_per_s_wall": payload_mb / best,
            "runs": results,
            "stages": st,
            "stages_peak_rss_mb": status_kb("VmHWM:") as f64 / 1024.0,
            "note": "MB/s per core = payload / CPU time of decoded() (all threads)",
        })
    );
    Ok(())
}
