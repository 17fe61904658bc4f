//! Writes a generated one-hour agent session for the report benchmark
//! (benches/report.sh):
//!
//!     cargo run --workspace --example gen_session -- DIR [--agents 40] [--turns 50] [--files 520]
//!
//! AGENTS agent processes each hold one conversation of TURNS LLM calls
//! (Anthropic Messages, each resending the history) spread over an hour;
//! every call but the last asks for one bash tool, which runs as
//! `bash -c CMD` and opens FILES files (nine reads to one write), and every
//! tenth tool connects to a package index. Defaults: 2000 LLM calls and
//! just over 1M file events. Deterministic.

use std::path::PathBuf;

use anyhow::{bail, Result};
use serde_json::json;

use agentsight_testkit::scene::{Scene, Turn, O_CREAT, O_TRUNC, O_WRONLY};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let mut dir: Option<PathBuf> = None;
    let (mut agents, mut turns, mut files) = (40u64, 50u64, 520u64);
    while let Some(a) = args.next() {
        let mut num = |name: &str| -> Result<u64> {
            let v = args.next().unwrap_or_default();
            v.parse()
                .map_err(|_| anyhow::anyhow!("{name} needs a number, got {v:?}"))
        };
        match a.as_str() {
            "--agents" => agents = num("--agents")?,
            "--turns" => turns = num("--turns")?,
            "--files" => files = num("--files")?,
            _ if dir.is_none() => dir = Some(PathBuf::from(a)),
            other => bail!("unexpected argument {other}"),
        }
    }
    let Some(dir) = dir else {
        bail!("usage: gen_session DIR [--agents N] [--turns N] [--files N]")
    };
    const HOUR_MS: u64 = 3_600_000;
    let mut s = Scene::new();
    let shell = s.process(None, 100, &["bash"], "/home/u");
    let step = HOUR_MS / turns.max(1);
    let mut events = 0u64;
    for a in 0..agents {
        let ws = format!("/home/u/ws{a}");
        // Agents start staggered so their turns interleave.
        let start = 1_000 + a * (step / agents.max(1));
        let agent = s.process(Some(shell), start, &["node", "agent.js"], &ws);
        let mut prior = Turn::new("Starting on the task.").input_tokens(2_000);
        for t in 0..turns {
            let at = start + t * step;
            let id = format!("toolu_{a}_{t}");
            if t + 1 == turns {
                s.llm(agent, at, prior);
                break;
            }
            let cmd = format!("cd {ws} && make test-{t} 2>&1 | tail -n 20");
            s.llm(
                agent,
                at,
                prior.tool(&id, "bash", json!({ "command": cmd })),
            );
            let tool = s.process(Some(agent), at + 200, &["bash", "-c", &cmd], &ws);
            let per_ms = (step - 400).max(files) / files.max(1);
            for f in 0..files {
                let ts = at + 300 + f * per_ms / 2;
                if f % 10 == 9 {
                    s.open(
                        tool,
                        ts,
                        &format!("{ws}/build/out-{t}-{f}.o"),
                        O_WRONLY | O_CREAT | O_TRUNC,
                    );
                } else {
                    s.open(tool, ts, &format!("{ws}/src/mod{}/file{}.c", f % 40, f), 0);
                }
            }
            events += files;
            if t % 10 == 0 {
                s.connect(tool, at + 250, "127.0.0.3", 443);
                events += 1;
            }
            s.exit(tool, at + step / 2, 0);
            prior = Turn::new("Tests ran; continuing.").result(&id, "ok: 42 passed");
        }
    }
    let m = s.write(&dir)?;
    println!(
        "wrote {}: {} agents x {} LLM calls, {} file/net events, {} segments",
        dir.display(),
        agents,
        turns,
        events,
        m.segments.len()
    );
    Ok(())
}
