//! `agentsight report` and `agentsight verify --bundle` on a capture whose
//! every captured string is hostile: prompts, tool arguments, tool results,
//! file names and argv carry HTML, script, `javascript:` links and Markdown
//! tricks. The report is opened in real headless Chromium (nothing runs,
//! nothing is fetched, findings/timeline/chain work); its Markdown goes
//! through an independent CommonMark+GFM renderer; the bundle is verified,
//! then every file of it and a cited capture segment are altered by one byte.

mod common;

use std::path::{Path, PathBuf};

use agentsight_testkit::scene::{Scene, Turn, O_CREAT, O_TRUNC, O_WRONLY};
use common::*;
use serde_json::{json, Value};

const WS: &str = "/home/u/ws";
/// Each sets `window.__pwned` or fetches from a loopback port if it runs.
const SCRIPT: &str = "<script>window.__pwned='script'</script>";
const IMG: &str = "<img src=x onerror=\"window.__pwned='img'\">";
const BREAKOUT: &str = "</pre></textarea></code><svg onload=\"window.__pwned='svg'\"></svg>";
const LINK: &str =
    "[click me](javascript:window.__pwned='md') <a href=\"javascript:window.__pwned='a'\">a</a>";
const FETCH: &str = "<img src=\"http://127.0.0.1:9/beacon.png\"><link rel=stylesheet href=\"http://127.0.0.1:9/x.css\">";
const MD: &str = "`code` | pipe | **bold** ``` fence";
/// Lone carriage returns (progress bars) end a line for CommonMark.
const CR: &str =
    "10%\r[cr](javascript:window.__pwned='cr')\r<img src=x onerror=\"window.__pwned='cr'\">\r";

/// An agent told (by a tool result) to write and run a hidden script whose
/// name, content and command line carry every payload.
fn hostile_capture(dir: &Path) -> String {
    let mut s = Scene::new();
    let shell = s.process(None, 500, &["bash"], "/home/u");
    let agent = s.process(Some(shell), 1_000, &["python3", "agent.py"], WS);
    s.prompt(&format!("Summarize {SCRIPT} and {BREAKOUT}"));
    let script = format!("{WS}/.x{IMG} | cell | {MD}.sh");
    let cmd = format!("printf '{SCRIPT}' > '{script}' && '{script}' '{BREAKOUT}'");
    s.llm(
        agent,
        2_000,
        Turn::new(&format!("Sure. {LINK} {MD}")).tool("t1", "bash", json!({ "command": cmd })),
    );
    let bash = s.process(Some(agent), 2_200, &["bash", "-c", &cmd], WS);
    s.open(bash, 2_300, &script, O_WRONLY | O_CREAT | O_TRUNC);
    s.chmod(bash, 2_350, &script, 0o755);
    let run = s.process(Some(bash), 2_400, &[&script, BREAKOUT], WS);
    s.connect(run, 2_500, "127.0.0.2", 9);
    s.exit(run, 2_600, 0);
    s.exit(bash, 2_650, 0);
    s.llm(
        agent,
        3_000,
        Turn::new("done").result("t1", &format!("{FETCH} {SCRIPT} {MD} {CR}")),
    );
    // A last turn whose response the capture lost half of: a blind spot.
    s.llm(agent, 4_000, Turn::new("never fully seen").cut());
    s.write(dir).unwrap();
    script
}

fn report(cap: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["report", cap.to_str().unwrap(), "-o", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    agentsight(&args)
}

/// Rewrites SHA256SUMS over the bundle's files as they are now: what a
/// forger without the signing key can always do.
fn reseal(bundle: &Path) {
    use sha2::Digest;
    let mut files: Vec<String> = walk(bundle)
        .iter()
        .map(|p| {
            p.strip_prefix(bundle)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|f| f != "SHA256SUMS" && f != "bundle.dsse.json")
        .collect();
    files.sort();
    let sums: String = files
        .iter()
        .map(|f| {
            let sha = hex::encode(sha2::Sha256::digest(std::fs::read(bundle.join(f)).unwrap()));
            format!("{sha}  {f}\n")
        })
        .collect();
    std::fs::write(bundle.join("SHA256SUMS"), sums).unwrap();
}

fn verify_bundle(bundle: &Path, capture: Option<&Path>) -> (bool, String) {
    let mut args = vec![
        "verify".to_string(),
        "--bundle".into(),
        bundle.display().to_string(),
    ];
    if let Some(c) = capture {
        args.push("--capture".into());
        args.push(c.display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = agentsight(&args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), text)
}

/// Every HTML tag name in `html` (lowercase).
fn tags(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = html.as_bytes();
    for (i, _) in html.match_indices('<') {
        let name: String = html[i + 1..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '/' || *c == '!')
            .collect();
        if !name.is_empty() && b.get(i + 1) != Some(&b' ') {
            out.push(name.trim_start_matches('/').to_ascii_lowercase());
        }
    }
    out
}

#[test]
fn hostile_capture_report_renders_as_text_and_runs_nothing() {
    let tmp = tempdir();
    let cap = tmp.path().join("cap");
    let script_path = hostile_capture(&cap);
    let out = tmp.path().join("report");
    let o = report(&cap, &out, &["--title", "Ticket <b>42</b>"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    // Only the page's own markup: one script, no tag a payload carries.
    assert_eq!(html.matches("<script").count(), 1, "one inline script");
    for t in tags(&html) {
        assert!(
            !matches!(
                t.as_str(),
                "img" | "iframe" | "object" | "embed" | "link" | "textarea" | "form" | "base"
            ),
            "report.html has a <{t}> tag"
        );
    }
    assert!(!html.contains("href=\"javascript"), "no javascript: link");
    for href in html
        .match_indices("href=\"")
        .map(|(i, _)| &html[i + 6..i + 7])
    {
        assert_eq!(href, "#", "links point only inside the page");
    }
    assert!(html.contains("Content-Security-Policy"));
    assert!(html.contains("default-src 'none'"));
    assert!(!html.contains("unsafe-inline"));
    for raw in [
        SCRIPT,
        IMG,
        BREAKOUT,
        FETCH,
        "onerror=\"",
        "onload=\"",
        "<img src=x onerror=\"window",
    ] {
        assert!(!html.contains(raw), "{raw} is in report.html unescaped");
    }
    // The payloads are there, escaped.
    assert!(html.contains("&lt;script&gt;window.__pwned=&#39;script&#39;&lt;/script&gt;"));
    assert!(html.contains("Ticket &lt;b&gt;42&lt;/b&gt;"));

    // Markdown through an independent renderer: payloads stay text.
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    let mut opts = pulldown_cmark::Options::empty();
    opts.insert(pulldown_cmark::Options::ENABLE_TABLES);
    opts.insert(pulldown_cmark::Options::ENABLE_STRIKETHROUGH);
    let mut rendered = String::new();
    pulldown_cmark::html::push_html(&mut rendered, pulldown_cmark::Parser::new_ext(&md, opts));
    for t in tags(&rendered) {
        assert!(
            !matches!(
                t.as_str(),
                "script" | "img" | "svg" | "iframe" | "link" | "textarea" | "a" | "b"
            ),
            "report.md renders a <{t}> tag:\n{rendered}"
        );
    }
    assert!(
        rendered.contains("&lt;script&gt;window.__pwned"),
        "payload shown as text"
    );
    assert!(
        !rendered.contains("<strong>bold</strong>"),
        "captured Markdown emphasis rendered"
    );
    assert!(md.contains("```mermaid"), "graph as Mermaid");
    // And through markdown-it, which follows CommonMark where pulldown-cmark
    // is lenient (a lone CR ends a line: an indented block must not end early).
    let strict = python(
        "import sys; from markdown_it import MarkdownIt\n\
         print(MarkdownIt('commonmark').enable('table').render(open(sys.argv[1]).read()))",
        &out.join("report.md"),
    );
    if let Some(strict) = strict {
        for t in tags(&strict) {
            assert!(
                !matches!(
                    t.as_str(),
                    "script" | "img" | "svg" | "iframe" | "link" | "textarea" | "a" | "b"
                ),
                "report.md renders a <{t}> tag in markdown-it"
            );
        }
        // Every place the CR payload shows, it is inside code.
        let mut shown = 0;
        for (at, _) in strict.match_indices("[cr](javascript:") {
            let before = &strict[..at];
            assert!(
                before.rfind("<code>") > before.rfind("</code>"),
                "a lone CR ended a code block: {}",
                &strict[at.saturating_sub(300)..at + 80]
            );
            shown += 1;
        }
        assert!(shown > 0, "the CR payload is shown");
    }
    // The file name's pipes stay inside its table cell.
    let mut in_tables = 0;
    for (at, _) in rendered.match_indices("| cell |") {
        let before = &rendered[..at];
        if before.rfind("<table>") > before.rfind("</table>") {
            in_tables += 1;
            assert!(
                before.rfind("<td>") > before.rfind("</td>"),
                "a pipe in a captured path split its table cell: {}",
                &before[before.len().saturating_sub(600)..]
            );
        }
    }
    assert!(in_tables > 0, "the cited path is in no table");

    // The finding cites the script's write and exec from the capture.
    let bundle: Value =
        serde_json::from_slice(&std::fs::read(out.join("evidence/bundle.json")).unwrap()).unwrap();
    let findings = bundle["findings"].as_array().unwrap();
    let wte = findings
        .iter()
        .find(|f| f["rule_id"] == "write_then_exec")
        .unwrap_or_else(|| panic!("write_then_exec missing: {findings:?}"));
    let id = wte["id"].as_str().unwrap();
    let rows: Vec<&Value> = bundle["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["cited_by"].as_array().unwrap().iter().any(|b| b == id))
        .collect();
    assert!(rows.iter().any(|r| r["table"] == "file_events"), "{rows:?}");
    assert!(
        rows.iter().any(|r| r["table"] == "process_events"),
        "{rows:?}"
    );
    let csv = std::fs::read_to_string(out.join("evidence/rows/c0_file_events.csv")).unwrap();
    assert!(csv.contains(&script_path.replace('"', "\"\"")), "{csv}");

    // Chromium: loads, runs no payload, fetches nothing, shows the text.
    let Some(b) = browser(&out.join("report.html"), &tmp.path().join("report.png")) else {
        return;
    };
    assert_page_clean(&b);
    let text = b["text"].as_str().unwrap();
    for p in [SCRIPT, IMG, LINK, "[click me](javascript:"] {
        assert!(text.contains(p), "{p} not shown as text");
    }
    assert_eq!(b["title"], "Ticket <b>42</b>");
    assert_eq!(b["findings"].as_u64().unwrap() as usize, findings.len());
    assert_eq!(b["chain_visible_before"], false);
    assert_eq!(b["chain_visible_after"], true);
    assert!(b["chain_steps"].as_u64().unwrap() >= 3, "{b}");
    // Timeline: 3 LLM calls, 1 tool call, 4 execs (shell, agent, bash,
    // script), 2 writes (open, chmod), 4 connects (the agent's three API
    // connections, the script's).
    assert_eq!(b["timeline_events"], 14, "{b}");
    assert_eq!(b["mark_events"], 14);
    assert_eq!(b["marks_by_kind"]["k-llm"], 3, "{b}");
    assert_eq!(b["marks_by_kind"]["k-tool"], 1, "{b}");
    assert_eq!(b["marks_by_kind"]["k-exec"], 4, "{b}");
    assert_eq!(b["marks_by_kind"]["k-write"], 2, "{b}");
    assert_eq!(b["marks_by_kind"]["k-connect"], 4, "{b}");
    // The half-captured last turn is a blind spot, not silently short.
    assert!(
        text.contains("partial_stream") && text.contains("1 LLM call(s) only partly captured"),
        "{text}"
    );
    assert_eq!(b["zoom_changed"], true);
    assert_eq!(b["exec_hidden"], true);
    assert!(tmp.path().join("report.png").metadata().unwrap().len() > 10_000);
}

#[test]
fn bundle_verifies_and_names_any_altered_byte() {
    let tmp = tempdir();
    let cap = tmp.path().join("cap");
    hostile_capture(&cap);
    let out = tmp.path().join("report");
    let o = report(&cap, &out, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bundle = out.join("evidence");
    let (ok, text) = verify_bundle(&bundle, None);
    assert!(ok, "{text}");
    let (ok, text) = verify_bundle(&bundle, Some(&cap));
    assert!(ok, "{text}");
    assert!(text.contains("re-derived from the capture"), "{text}");

    // One byte of any bundle file.
    let files: Vec<PathBuf> = walk(&bundle);
    assert!(files.len() >= 6, "{files:?}");
    for f in &files {
        let orig = std::fs::read(f).unwrap();
        let mut bad = orig.clone();
        let at = bad.len() / 2;
        bad[at] ^= 0x01;
        std::fs::write(f, &bad).unwrap();
        let (ok, text) = verify_bundle(&bundle, None);
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!ok, "altering {name} went unnoticed");
        assert!(text.contains(&name), "{name} not named: {text}");
        std::fs::write(f, &orig).unwrap();
    }
    // A file added to the bundle.
    std::fs::write(bundle.join("rows/extra.csv"), "x\n").unwrap();
    let (ok, text) = verify_bundle(&bundle, None);
    assert!(!ok && text.contains("extra.csv"), "{text}");
    // … even with SHA256SUMS rewritten to list it: bundle.json names no such file.
    reseal(&bundle);
    let (ok, text) = verify_bundle(&bundle, None);
    assert!(!ok && text.contains("extra.csv"), "{text}");
    std::fs::remove_file(bundle.join("rows/extra.csv")).unwrap();
    reseal(&bundle);
    assert!(verify_bundle(&bundle, None).0);

    // Forgeries that keep SHA256SUMS consistent: a CSV that no longer copies
    // its Parquet; a made-up row cited in place of a real one (its RowRef
    // pointing at the real row's index, hash and location).
    let csv = bundle.join("rows/c0_file_events.csv");
    let real_csv = std::fs::read_to_string(&csv).unwrap();
    std::fs::write(&csv, real_csv.replace("/home/u/ws", "/home/u/wz")).unwrap();
    reseal(&bundle);
    let (ok, text) = verify_bundle(&bundle, Some(&cap));
    assert!(
        !ok && text.contains("c0_file_events.csv"),
        "forged CSV passed: {text}"
    );
    std::fs::write(&csv, &real_csv).unwrap();
    let index_path = bundle.join("bundle.json");
    let real_index = std::fs::read(&index_path).unwrap();
    let mut index: Value = serde_json::from_slice(&real_index).unwrap();
    let rows = index["rows"].as_array_mut().unwrap();
    let first = rows
        .iter()
        .position(|r| r["file"] == "rows/c0_file_events.parquet")
        .unwrap();
    let second = rows
        .iter()
        .rposition(|r| r["file"] == "rows/c0_file_events.parquet")
        .unwrap();
    assert_ne!(first, second, "two cited file rows");
    let copy = rows[first].clone();
    for k in ["index", "row", "row_sha256", "segment"] {
        rows[second][k] = copy[k].clone();
    }
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    reseal(&bundle);
    let (ok, text) = verify_bundle(&bundle, Some(&cap));
    assert!(
        !ok && text.contains("cited twice"),
        "duplicate index passed: {text}"
    );
    std::fs::write(&index_path, &real_index).unwrap();
    reseal(&bundle);
    assert!(verify_bundle(&bundle, Some(&cap)).0);

    // One byte of a cited capture segment: the bundle alone is still
    // intact, checked against the capture it is not.
    let index: Value =
        serde_json::from_slice(&std::fs::read(bundle.join("bundle.json")).unwrap()).unwrap();
    let seg = index["rows"][0]["segment"].as_str().unwrap().to_string();
    let path = cap.join(&seg);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    assert!(verify_bundle(&bundle, None).0);
    let (ok, text) = verify_bundle(&bundle, Some(&cap));
    assert!(!ok, "altered segment went unnoticed");
    assert!(text.contains(&seg), "{seg} not named: {text}");

    // A report is not written over other files without --force.
    let o = report(&cap, &out, &[]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
}

#[test]
fn report_scopes_and_bad_options_are_clear() {
    let tmp = tempdir();
    let cap = tmp.path().join("cap");
    hostile_capture(&cap);
    // One finding by rule id: only it, with its rows.
    let out = tmp.path().join("one");
    let o = report(&cap, &out, &["--finding", "write_then_exec"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let index: Value =
        serde_json::from_slice(&std::fs::read(out.join("evidence/bundle.json")).unwrap()).unwrap();
    let rules: Vec<&str> = index["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule_id"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["write_then_exec"]);
    // A finding keeps its id in a scoped report.
    let full = tmp.path().join("full");
    assert!(report(&cap, &full, &[]).status.success());
    let all: Value =
        serde_json::from_slice(&std::fs::read(full.join("evidence/bundle.json")).unwrap()).unwrap();
    let f2 = &all["findings"][1];
    let one = tmp.path().join("f2");
    assert!(report(&cap, &one, &["--finding", "F2"]).status.success());
    let scoped: Value =
        serde_json::from_slice(&std::fs::read(one.join("evidence/bundle.json")).unwrap()).unwrap();
    assert_eq!(scoped["findings"].as_array().unwrap().len(), 1);
    assert_eq!(scoped["findings"][0]["id"], "F2");
    assert_eq!(scoped["findings"][0]["summary"], f2["summary"]);
    // A time window after everything: no finding, an empty timeline.
    let out = tmp.path().join("late");
    let o = report(&cap, &out, &["--since", "2099-01-01T00:00:00Z"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("Findings (0)"), "time scope ignored");
    for (args, want) in [
        (vec!["--since", "yesterday"], "RFC 3339"),
        (vec!["--finding", "F99"], "no such finding"),
        (vec!["--disable", "nope"], "no such rule"),
    ] {
        let out = tmp.path().join(format!("bad{}", want.len()));
        let o = report(&cap, &out, &args);
        assert!(!o.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

#[test]
fn verify_bundle_refuses_what_is_not_a_bundle() {
    let tmp = tempdir();
    let (ok, text) = verify_bundle(tmp.path(), None);
    assert!(!ok);
    assert!(text.contains("SHA256SUMS"), "{text}");
}

fn openssl(args: &[&str]) {
    let o = std::process::Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn signed_bundle_verifies_with_its_key_only() {
    use sha2::Digest;
    let tmp = tempdir();
    let cap = tmp.path().join("cap");
    hostile_capture(&cap);
    let key = tmp.path().join("key.pem");
    let public = tmp.path().join("pub.pem");
    let other = tmp.path().join("other.pem");
    let other_public = tmp.path().join("other-pub.pem");
    for (k, p) in [(&key, &public), (&other, &other_public)] {
        openssl(&[
            "genpkey",
            "-algorithm",
            "ed25519",
            "-out",
            k.to_str().unwrap(),
        ]);
        openssl(&[
            "pkey",
            "-in",
            k.to_str().unwrap(),
            "-pubout",
            "-out",
            p.to_str().unwrap(),
        ]);
    }
    let out = tmp.path().join("report");
    let o = report(&cap, &out, &["--sign-key", key.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bundle = out.join("evidence");
    let envelope: Value =
        serde_json::from_slice(&std::fs::read(bundle.join("bundle.dsse.json")).unwrap()).unwrap();
    assert_eq!(envelope["payloadType"], "application/vnd.in-toto+json");

    let check = |key: Option<&Path>| {
        let mut args = vec!["verify", "--bundle", bundle.to_str().unwrap()];
        if let Some(k) = key {
            args.extend(["--public-key", k.to_str().unwrap()]);
        }
        let o = agentsight(&args);
        (
            o.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )
    };
    let (ok, text) = check(Some(&public));
    assert!(ok && text.contains("verified"), "{text}");
    let (ok, text) = check(None);
    assert!(ok && text.contains("pass --public-key"), "{text}");
    let (ok, text) = check(Some(&other_public));
    assert!(!ok && text.contains("no valid signature"), "{text}");

    // A forger who edits a row file and rewrites SHA256SUMS to match fools
    // the sums, not the signature.
    let csv = bundle.join("rows/c0_file_events.csv");
    let forged = std::fs::read_to_string(&csv)
        .unwrap()
        .replace("/home/u/ws", "/home/u/wz");
    std::fs::write(&csv, &forged).unwrap();
    let sums = std::fs::read_to_string(bundle.join("SHA256SUMS")).unwrap();
    let sums: String = sums
        .lines()
        .map(|l| {
            if l.ends_with("rows/c0_file_events.csv") {
                format!(
                    "{}  rows/c0_file_events.csv\n",
                    hex::encode(sha2::Sha256::digest(forged.as_bytes()))
                )
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(bundle.join("SHA256SUMS"), sums).unwrap();
    // Without the key the CSV no longer copying its Parquet gives it away;
    // with the key the signature does too.
    let (ok, text) = check(None);
    assert!(!ok && text.contains("c0_file_events.csv"), "{text}");
    let (ok, text) = check(Some(&public));
    assert!(
        !ok && (text.contains("not covered") || text.contains("differs from what the signed")),
        "{text}"
    );
    // A forger who also rewrites the Parquet and bundle.json to match still
    // has no signature over them: restore the CSV, swap the index's title.
    std::fs::write(
        &csv,
        std::fs::read_to_string(&csv)
            .unwrap()
            .replace("/home/u/wz", "/home/u/ws"),
    )
    .unwrap();
    let index_path = bundle.join("bundle.json");
    let index = std::fs::read_to_string(&index_path).unwrap();
    std::fs::write(
        &index_path,
        index.replacen("\"title\"", "\"title\": \"forged\", \"old_title\"", 1),
    )
    .unwrap();
    reseal(&bundle);
    assert!(check(None).0, "consistent without the key");
    let (ok, text) = check(Some(&public));
    assert!(!ok && text.contains("bundle.json"), "{text}");
}
