//! Shared helpers for the end-to-end tests that run the real recorder.
#![allow(dead_code)]

pub mod mock;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};

use agentsight_capture as capture;
use agentsight_capture::arrow::array::{Array, ListArray};
use agentsight_capture::arrow::util::display::{ArrayFormatter, FormatOptions};

pub const BIN: &str = env!("CARGO_BIN_EXE_agentsight");

/// Recorders run one at a time: they share the kernel and the hygiene checks
/// look at every loaded program.
static SERIAL: Mutex<()> = Mutex::new(());

pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// True when this machine can run the recorder. Outside CI a machine without
/// root or BTF never gets here: the build sets `cfg(no_ebpf)` and the tests
/// show as ignored (tests/support/ebpf_cfg.rs); this still guards a build
/// made as root and run without. In CI (CI=true) it is a failure, because
/// these tests are the proof that recording works.
pub fn can_record() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let btf = Path::new("/sys/kernel/btf/vmlinux").exists();
    if root && btf {
        return true;
    }
    let why = format!("eBPF recording unavailable (root: {root}, BTF: {btf})");
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{why}: CI must run the end-to-end recorder tests");
    }
    eprintln!("SKIPPED: {why}");
    false
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("agentsight-test-")
        .tempdir()
        .expect("tempdir")
}

pub fn agentsight(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run agentsight")
}

/// Rows of a query as JSON objects (`agentsight query --format json`).
pub fn query_json(cap: &Path, sql: &str) -> Vec<serde_json::Value> {
    let o = agentsight(&["query", &cap.display().to_string(), "--format", "json", sql]);
    assert!(
        o.status.success(),
        "query failed: {sql}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8_lossy(&o.stdout);
    if text.trim().is_empty() {
        return Vec::new();
    }
    serde_json::from_str(&text).expect("query JSON")
}

pub fn record(out: &Path, extra: &[&str], command: &[&str]) -> Output {
    let mut args: Vec<String> = vec!["record".into(), "-o".into(), out.display().to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    if !command.is_empty() {
        args.push("--".into());
        args.extend(command.iter().map(|s| s.to_string()));
    }
    let output = Command::new(BIN)
        .args(&args)
        .output()
        .expect("run recorder");
    eprintln!(
        "recorder stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Rows of a table as column -> display text; lists become `a\x1fb`.
pub fn rows(dir: &Path, table: &str) -> Vec<BTreeMap<String, String>> {
    let batches = capture::read_table(dir, table).expect("read table");
    let mut out = Vec::new();
    let opts = FormatOptions::default().with_null("NULL");
    for batch in batches {
        let schema = batch.schema();
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).unwrap())
            .collect();
        for row in 0..batch.num_rows() {
            let mut m = BTreeMap::new();
            for (i, field) in schema.fields().iter().enumerate() {
                let col = batch.column(i);
                let value = if let Some(list) = col.as_any().downcast_ref::<ListArray>() {
                    if list.is_null(row) {
                        "NULL".to_string()
                    } else {
                        let vals = list.value(row);
                        let f = ArrayFormatter::try_new(vals.as_ref(), &opts).unwrap();
                        (0..vals.len())
                            .map(|j| f.value(j).to_string())
                            .collect::<Vec<_>>()
                            .join("\u{1f}")
                    }
                } else {
                    formatters[i].value(row).to_string()
                };
                m.insert(field.name().clone(), value);
            }
            out.push(m);
        }
    }
    out
}

pub fn argv(row: &BTreeMap<String, String>) -> Vec<String> {
    row["argv"].split('\u{1f}').map(String::from).collect()
}

/// Runs a python snippet with the capture dir as argv[1]; returns stdout.
/// pyarrow is installed by .ci/run; a missing module outside CI skips.
pub fn python(script: &str, dir: &Path) -> Option<String> {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(dir)
        .output()
        .expect("python3");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        if stderr.contains("ModuleNotFoundError") && std::env::var("CI").as_deref() != Ok("true") {
            eprintln!("SKIPPED python cross-check: {stderr}");
            return None;
        }
        panic!("python failed: {stderr}");
    }
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn bin_path() -> PathBuf {
    PathBuf::from(BIN)
}

/// Every byte of every capture file, raw and decompressed through pyarrow,
/// must be free of `secret`.
pub fn assert_absent(secret: &str, dir: &Path) {
    for entry in walk(dir) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} in raw file {}",
            entry.display()
        );
    }
    let py = format!(
        r#"
import sys, glob, pyarrow.parquet as pq
key = {secret:?}.encode()
hits = 0
for f in glob.glob(sys.argv[1] + "/*/*.parquet"):
    t = pq.read_table(f)
    for col in t.columns:
        for v in col.to_pylist():
            if isinstance(v, str): v = v.encode()
            if isinstance(v, bytes) and key in v: hits += 1
print(hits)
"#
    );
    if let Some(out) = python(&py, dir) {
        assert_eq!(out.trim(), "0", "{secret} found in decompressed capture");
    }
}

pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

/// Opens the report in headless Chromium; None (skipped) only outside CI
/// when Chromium or selenium is missing.
pub fn browser(report: &Path, shot: &Path) -> Option<serde_json::Value> {
    let missing = [
        Path::new("/usr/bin/chromium"),
        Path::new("/usr/bin/chromedriver"),
    ]
    .iter()
    .any(|p| !p.exists());
    if missing {
        let why = "chromium/chromium-driver not installed (scripts/setup.sh installs them)";
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{why}: CI must run the browser test");
        }
        eprintln!("SKIPPED browser check: {why}");
        return None;
    }
    let o = Command::new("python3")
        .arg(mock::repo().join("tests/support/report_browser.py"))
        .arg(report)
        .arg(shot)
        .output()
        .expect("python3");
    let stderr = String::from_utf8_lossy(&o.stderr);
    if !o.status.success() {
        if stderr.contains("No module named 'selenium'")
            && std::env::var("CI").as_deref() != Ok("true")
        {
            eprintln!("SKIPPED browser check: {stderr}");
            return None;
        }
        panic!("browser check failed: {stderr}");
    }
    Some(serde_json::from_slice(&o.stdout).expect("browser check JSON"))
}

/// What every report page must be in the browser: no payload ran, nothing
/// was fetched but the page itself, no console error.
pub fn assert_page_clean(b: &serde_json::Value) {
    assert_eq!(b["pwned"], serde_json::Value::Null, "a payload ran");
    assert_eq!(
        b["pwned_after"],
        serde_json::Value::Null,
        "a payload ran after clicks"
    );
    let requests = b["requests"].as_array().unwrap();
    assert!(
        requests.iter().all(|u| *u == b["url"]),
        "the page fetched more than itself: {requests:?}"
    );
    let severe: Vec<_> = b["console"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["level"] == "SEVERE")
        .collect();
    assert!(severe.is_empty(), "console errors: {severe:?}");
}

/// Agent binaries scripts/setup.sh installs (pinned, cached under
/// /root/.cache): ones that carry their TLS library without symbols.
pub mod agents {
    const ROOT: &str = "/root/.cache/agentsight-agents";
    pub fn claude_native(version: &str) -> String {
        format!("{ROOT}/claude-native-{version}/node_modules/@anthropic-ai/claude-code-linux-x64/claude")
    }
    pub fn bun(version: &str) -> String {
        format!("{ROOT}/bun-{version}/node_modules/@oven/bun-linux-x64/bin/bun")
    }
    pub const CODEX: &str = "/root/.cache/agentsight-agents/codex-0.171.0/node_modules/@openai/codex/vendor/x86_64-unknown-linux-musl/bin/codex";
}

/// True when `path` is installed; in CI its absence fails.
pub fn installed(path: &str) -> bool {
    let ok = Path::new(path).is_file();
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{path} is missing (scripts/setup.sh installs it)"
        );
        eprintln!("SKIPPED: {path} is missing (scripts/setup.sh)");
    }
    ok
}
