//! End to end: a scripted agent (the Anthropic SDK against the mock, tools
//! really run with subprocess) recorded under the real recorder; the causal
//! graph must tie every tool call to the exact processes that ran it, keep
//! the agent's background connect as unattributed, and explain a curl back
//! to the user's prompt.

mod common;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::Path;

use common::mock::*;
use common::*;
use serde_json::Value;

fn argv_text(v: &Value) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

fn u64_of(v: &Value) -> u64 {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
#[cfg_attr(
    no_ebpf,
    ignore = "needs root and kernel BTF to record (CI=true runs it and fails instead)"
)]
fn agent_loop_graph_attributes_every_tool_call() {
    let _g = serial();
    if !can_record() {
        return;
    }
    let work = tempdir();
    let script = repo().join("tests/support/scripts/agent_loop.json");
    let server = MockServer::start_with(work.path(), &["--script", &script.display().to_string()]);
    let ws = work.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::write(ws.join("notes.txt"), "remember the milk\n").unwrap();
    // The beacon's target: a "different host" on loopback; the kernel
    // completes the handshake without accept().
    let beacon = TcpListener::bind("127.0.0.2:0").expect("bind 127.0.0.2");
    let beacon_addr = beacon.local_addr().unwrap().to_string();
    let out = work.path().join("cap");
    let agent = repo().join("tests/clients/agent_loop.py");
    let cmd = format!(
        "cd '{}' && exec python3 '{}'",
        ws.display(),
        agent.display()
    );
    let o = record_with_env(
        &server,
        &out,
        &[],
        &[("AGENT_BEACON", &beacon_addr)],
        &["sh", "-c", &cmd],
    );
    assert!(
        o.status.success(),
        "agent failed: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let report: Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(
        std::fs::read_to_string(ws.join("report.txt")).unwrap(),
        "the API answered\n"
    );
    drop(server.stop());
    let ws_path = ws.canonicalize().unwrap().display().to_string();

    // Every exec: bash runs the last command of `-c` by exec'ing it, so a
    // process's first image, not its last, is the tool's shell.
    let procs = query_json(
        &out,
        "SELECT proc_key, pid, argv FROM process_events WHERE kind = 'exec'",
    );
    let key_of = |pred: &dyn Fn(&str) -> bool| -> Vec<u64> {
        let mut keys: Vec<u64> = procs
            .iter()
            .filter(|p| pred(&argv_text(&p["argv"])))
            .map(|p| u64_of(&p["proc_key"]))
            .collect();
        keys.dedup();
        keys
    };
    let agents = query_json(&out, "SELECT DISTINCT proc_key FROM llm_calls");
    assert_eq!(agents.len(), 1, "{agents:?}");
    let agent_key = u64_of(&agents[0]["proc_key"]);
    let bash_of = |cmd: &str| -> u64 {
        let k = key_of(&|a| a == format!("bash -c {cmd}"));
        assert_eq!(k.len(), 1, "bash -c {cmd}: {procs:#?}");
        k[0]
    };
    let write_cmd =
        "printf '#!/bin/sh\\ncurl -sk -o /dev/null \"$MOCK_BASE_URL/healthz\"\\n' > run.sh";
    let (write_bash, run_bash, read_bash) = (
        bash_of(write_cmd),
        bash_of("chmod +x run.sh && ./run.sh"),
        bash_of("cat notes.txt"),
    );
    let curl = key_of(&|a| a.starts_with("curl -sk -o /dev/null https://localhost:"));
    assert_eq!(curl.len(), 1, "{procs:#?}");
    let curl = curl[0];

    // Tool call -> exact process, by content, for all four tool calls.
    let effects = query_json(&out, "SELECT * FROM tool_effects ORDER BY call_id, node_id");
    let by_id: BTreeMap<String, &Value> = effects
        .iter()
        .map(|e| (e["tool_call_id"].as_str().unwrap().to_string(), e))
        .collect();
    assert_eq!(by_id.len(), 4, "{effects:#?}");
    let ran = query_json(
        &out,
        "SELECT e.dst, e.method, e.confidence, t.tool_call_id FROM graph_edges e \
         JOIN tool_effects t ON t.node_id = e.src WHERE e.kind = 'ran' ORDER BY t.tool_call_id",
    );
    let ran: Vec<(String, String, String)> = ran
        .iter()
        .map(|r| {
            (
                r["tool_call_id"].as_str().unwrap().into(),
                r["dst"].as_str().unwrap().into(),
                r["method"].as_str().unwrap().into(),
            )
        })
        .collect();
    let p = |k: u64| format!("process:{k}");
    assert_eq!(
        ran,
        vec![
            ("toolu_read_notes".into(), p(read_bash), "argv_exact".into()),
            ("toolu_run_script".into(), p(run_bash), "argv_exact".into()),
            (
                "toolu_write_script".into(),
                p(write_bash),
                "argv_exact".into()
            ),
        ],
        "{effects:#?}"
    );
    // The script and its curl belong to the tool call that ran them.
    let run_keys: Vec<u64> = by_id["toolu_run_script"]["process_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(u64_of)
        .collect();
    assert!(
        run_keys.contains(&run_bash) && run_keys.contains(&curl),
        "{run_keys:?} {procs:#?}"
    );
    let script_path = format!("{ws_path}/run.sh");
    let written = |id: &str| -> Vec<String> {
        by_id[id]["files_written"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(written("toolu_write_script"), vec![script_path.clone()]);
    assert!(
        written("toolu_run_script").contains(&script_path),
        "chmod: {:?}",
        written("toolu_run_script")
    );
    assert!(
        by_id["toolu_run_script"]["execs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == &Value::from(script_path.as_str())),
        "{:#?}",
        by_id["toolu_run_script"]
    );
    assert!(u64_of(&by_id["toolu_read_notes"]["files_read"]) >= 1);
    // The built-in write tool: the agent's own open, attributed by path.
    let report_edge = query_json(
        &out,
        &format!(
            "SELECT e.kind, e.method FROM graph_edges e JOIN tool_effects t ON t.node_id = e.src \
             WHERE t.tool_call_id = 'toolu_report' AND e.dst = 'file:{ws_path}/report.txt'"
        ),
    );
    assert_eq!(report_edge.len(), 1, "{report_edge:?}");
    assert_eq!(report_edge[0]["method"], "builtin_tool_path");
    assert_eq!(
        written("toolu_report"),
        vec![format!("{ws_path}/report.txt")]
    );

    // Process -> file and the curl's connect, as observed edges.
    let created = query_json(
        &out,
        &format!(
            "SELECT src FROM graph_edges WHERE kind = 'created' AND dst = 'file:{script_path}'"
        ),
    );
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0]["src"], Value::from(p(write_bash)));
    let connects = query_json(
        &out,
        &format!(
            "SELECT dst FROM graph_edges WHERE kind = 'connected' AND src = '{}'",
            p(curl)
        ),
    );
    assert!(
        connects.iter().any(|c| c["dst"]
            .as_str()
            .unwrap()
            .starts_with("endpoint:127.0.0.1:")),
        "{connects:?}"
    );

    // The beacon: the agent's own connect, explained by no tool call.
    let unattributed = query_json(&out, "SELECT * FROM unattributed");
    let beacon_node = format!("endpoint:{beacon_addr}");
    let found: Vec<&Value> = unattributed
        .iter()
        .filter(|u| u["node_id"] == Value::from(beacon_node.as_str()))
        .collect();
    assert_eq!(found.len(), 1, "{unattributed:#?}");
    assert_eq!(
        (
            found[0]["activity"].as_str(),
            u64_of(&found[0]["agent_key"])
        ),
        (Some("connect"), agent_key)
    );
    // Nothing that a tool ran is listed as unattributed.
    for k in [write_bash, run_bash, read_bash, curl] {
        assert!(
            !unattributed.iter().any(|u| u64_of(&u["proc_key"]) == k),
            "{k} listed: {unattributed:#?}"
        );
    }

    // explain --pid <curl>: back through the script and the tool call to the prompt.
    let curl_pid = procs
        .iter()
        .find(|p| u64_of(&p["proc_key"]) == curl)
        .unwrap()["pid"]
        .as_i64()
        .unwrap();
    let o = agentsight(&[
        "explain",
        &out.display().to_string(),
        "--pid",
        &curl_pid.to_string(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    let run_tool_node = by_id["toolu_run_script"]["node_id"].as_str().unwrap();
    let write_tool_node = by_id["toolu_write_script"]["node_id"].as_str().unwrap();
    for needle in [
        format!("spawned by {}", p(run_bash)),
        format!("ran by {run_tool_node}"),
        "argv_exact (confidence 0.95)".to_string(),
        format!("result of {write_tool_node}"),
        "= prompt (user): Write a script that pings the API, run it, and leave a report."
            .to_string(),
    ] {
        assert!(text.contains(&needle), "missing {needle:?} in:\n{text}");
    }
    let o = agentsight(&[
        "explain",
        &out.display().to_string(),
        "--host",
        "127.0.0.2",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let chains: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        chains[0]["end"].as_str().unwrap_or(""),
        "the agent process itself (it made the LLM calls); no tool call explains this"
    );

    // The forward view renders in every format.
    for format in ["tree", "dot", "mermaid", "json"] {
        let o = agentsight(&["graph", &out.display().to_string(), "--format", format]);
        assert!(
            o.status.success(),
            "graph --format {format}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            text.contains(&p(curl)) || format == "mermaid",
            "{format}: {text}"
        );
    }
    let o = agentsight(&[
        "graph",
        &out.display().to_string(),
        "--tool-call",
        "toolu_run_script",
    ]);
    let tree = String::from_utf8_lossy(&o.stdout);
    assert!(
        tree.contains(&format!("connected → endpoint:127.0.0.1:")),
        "{tree}"
    );
    drop(beacon);
}

/// Real agent CLIs as scripts/setup.sh installs them (pinned, cached under
/// /root/.cache). Claude Code 2.1.112 is the last release that is a node
/// `cli.js`; later ones are a native Bun binary (see `claude_code_native`).
const CLAUDE_CODE_CLI: &str =
    "/root/.cache/agentsight-agents/claude-2.1.112/node_modules/@anthropic-ai/claude-code/cli.js";
const GEMINI_CLI: &str =
    "/root/.cache/agentsight-agents/gemini-0.61.0/node_modules/@google/gemini-cli/bundle/gemini.js";
/// qwen-code's bin (it relaunches node with --expose-gc for the session).
const QWEN_CODE_CLI: &str =
    "/root/.cache/agentsight-agents/qwen-0.24.4/node_modules/@qwen-code/qwen-code/cli-entry.js";

/// True when the CLI and node are installed; in CI their absence fails.
fn have_cli(path: &str) -> bool {
    let ok = Path::new(path).is_file()
        && std::process::Command::new("node")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{path} or node is missing (scripts/setup.sh installs them)"
        );
        eprintln!("SKIPPED: {path} or node is missing (scripts/setup.sh)");
    }
    ok
}

/// One real agent CLI run under the recorder against the mock.
struct RealCli<'a> {
    /// Mock script key (`anthropic`, `gemini`, `openai_chat`).
    endpoint: &'a str,
    /// Tool names and ids: the shell tool, the built-in file-write tool and
    /// the name of its path argument.
    shell: (&'a str, &'a str),
    write: (&'a str, &'a str, &'a str),
    /// `sh -c` command run in the workspace, given the CLI's path.
    command: String,
    /// `$BASE_URL` in a value becomes the mock's base URL.
    env: Vec<(&'a str, String)>,
    /// Files the CLI needs in its fresh HOME (relative path, contents).
    home_files: Vec<(&'a str, &'a str)>,
}

/// Runs `cli`: its shell tool writes `out.txt`, its write tool `notes.md`;
/// both must be attributed to their tool calls, and the session must fire
/// no high anomaly.
fn real_cli_tool_calls_are_attributed(cli: RealCli) {
    let work = tempdir();
    let root = work.path().canonicalize().unwrap();
    let (ws, home) = (root.join("ws"), root.join("home"));
    std::fs::create_dir_all(&ws).unwrap();
    for (rel, text) in &cli.home_files {
        let p = home.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    std::fs::create_dir_all(&home).unwrap();
    let notes = ws.join("notes.md");
    let script = root.join("script.json");
    let (shell_name, shell_id) = cli.shell;
    let (write_name, write_id, path_key) = cli.write;
    let mut write_args = serde_json::json!({"content": "done\n"});
    write_args[path_key] = Value::from(notes.display().to_string());
    let turns = serde_json::json!([
        {"text": "Running it.", "tool_calls": [{"name": shell_name, "id": shell_id,
            "arguments": {"command": "echo hello > out.txt && cat out.txt", "description": "write a file"}}]},
        {"text": "Writing notes.", "tool_calls": [{"name": write_name, "id": write_id, "arguments": write_args}]},
        {"text": "All done."}
    ]);
    let mut script_json = serde_json::Map::new();
    script_json.insert(cli.endpoint.to_string(), turns);
    std::fs::write(&script, Value::Object(script_json).to_string()).unwrap();
    let server = MockServer::start_with(&root, &["--script", script.to_str().unwrap()]);
    let out = root.join("cap");
    let cmd = format!("cd '{}' && {}", ws.display(), cli.command);
    let base_url = server.base_url();
    let cli_env: Vec<(&str, String)> = cli
        .env
        .iter()
        .map(|(k, v)| (*k, v.replace("$BASE_URL", &base_url)))
        .collect();
    let mut env: Vec<(&str, &str)> = vec![("HOME", home.to_str().unwrap())];
    env.extend(cli_env.iter().map(|(k, v)| (*k, v.as_str())));
    let o = record_with_env(&server, &out, &[], &env, &["sh", "-c", &cmd]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "the CLI failed: {stdout}");
    assert_eq!(
        std::fs::read_to_string(ws.join("out.txt")).unwrap(),
        "hello\n"
    );
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "done\n");
    drop(server.stop());

    let effects = query_json(&out, "SELECT * FROM tool_effects ORDER BY call_id");
    let by_id: BTreeMap<String, &Value> = effects
        .iter()
        .map(|e| (e["tool_call_id"].as_str().unwrap().to_string(), e))
        .collect();
    let shell = by_id
        .get(shell_id)
        .unwrap_or_else(|| panic!("no tool call {shell_id}: {effects:#?}"));
    // Agents wrap the command (`bash -c -l "… eval '…' …"`): found in argv.
    assert!(
        matches!(
            shell["method"].as_str(),
            Some("argv_exact" | "argv_contains")
        ),
        "{shell:#}"
    );
    let out_txt = format!("{}/out.txt", ws.display());
    assert!(
        shell["files_written"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == &Value::from(out_txt.as_str())),
        "{shell:#}"
    );
    let write_edge = query_json(
        &out,
        &format!(
            "SELECT e.kind, e.method FROM graph_edges e JOIN tool_effects t ON t.node_id = e.src \
             WHERE t.tool_call_id = '{write_id}' AND e.dst = 'file:{}'",
            notes.display()
        ),
    );
    assert!(!write_edge.is_empty(), "{:#?}", by_id.get(write_id));
    assert!(
        write_edge
            .iter()
            .all(|e| e["method"] == "builtin_tool_path"),
        "{write_edge:?}"
    );

    // The key went out in a header on every call: masked at record time.
    assert_absent(API_KEY, &out);

    let o = agentsight(&[
        "anomalies",
        out.to_str().unwrap(),
        "--fail-on",
        "high",
        "--format",
        "json",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

/// Claude Code's environment for print mode against the mock.
fn claude_code_env() -> Vec<(&'static str, String)> {
    vec![
        ("ANTHROPIC_BASE_URL", "$BASE_URL".into()),
        ("ANTHROPIC_API_KEY", API_KEY.into()),
        // Claude Code refuses --dangerously-skip-permissions as root outside a sandbox.
        ("IS_SANDBOX", "1".into()),
        ("DISABLE_TELEMETRY", "1".into()),
        ("DISABLE_AUTOUPDATER", "1".into()),
        ("DISABLE_ERROR_REPORTING", "1".into()),
        ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".into()),
    ]
}

/// Claude Code (node) in print mode: its Bash tool and built-in Write tool.
#[test]
#[cfg_attr(
    no_ebpf,
    ignore = "needs root and kernel BTF to record (CI=true runs it and fails instead)"
)]
fn claude_code_tool_calls_are_attributed() {
    let _g = serial();
    if !can_record() || !have_cli(CLAUDE_CODE_CLI) {
        return;
    }
    real_cli_tool_calls_are_attributed(RealCli {
        endpoint: "anthropic",
        shell: ("Bash", "toolu_cc_bash"),
        write: ("Write", "toolu_cc_write", "file_path"),
        command: format!(
            "exec node '{CLAUDE_CODE_CLI}' -p 'write hello to out.txt, then notes' \
             --dangerously-skip-permissions --output-format json"
        ),
        env: claude_code_env(),
        home_files: vec![],
    });
}

/// Claude Code's native build (a Bun executable with BoringSSL compiled in
/// and no symbols), first seen at its exec: located, held meanwhile, and
/// its conversation, tool calls and their effects come out as for the node
/// release. Two releases, found by the same code.
fn claude_code_native(version: &str) {
    let _g = serial();
    let claude = agents::claude_native(version);
    if !can_record() || !installed(&claude) {
        return;
    }
    // An empty cache: the binary is analysed while its process is held.
    let cache = tempdir();
    let mut env = claude_code_env();
    env.push(("AGENTSIGHT_CACHE_DIR", cache.path().display().to_string()));
    real_cli_tool_calls_are_attributed(RealCli {
        endpoint: "anthropic",
        shell: ("Bash", "toolu_cc_bash"),
        write: ("Write", "toolu_cc_write", "file_path"),
        command: format!(
            "exec '{claude}' -p 'write hello to out.txt, then notes' \
             --dangerously-skip-permissions --output-format json"
        ),
        env,
        home_files: vec![],
    });
}

#[test]
#[cfg_attr(
    no_ebpf,
    ignore = "needs root and kernel BTF to record (CI=true runs it and fails instead)"
)]
fn claude_code_native_tool_calls_are_attributed() {
    claude_code_native("2.1.336");
}

#[test]
#[cfg_attr(
    no_ebpf,
    ignore = "needs root and kernel BTF to record (CI=true runs it and fails instead)"
)]
fn an_older_claude_code_native_is_captured_too() {
    claude_code_native("2.1.237");
}

/// Codex (static Rust binary, OpenSSL 3.6 vendored without symbols) with a
/// custom Responses provider, on its default TLS stack: it trusts the
/// system's roots, so the mock's CA is bind-mounted over the system bundle
/// in a mount namespace of its own (SSL_CERT_FILE would switch it to
/// rustls). Its Responses calls, its exec_command call and the shell that
/// wrote the file must come out; its rustls, which stays unhooked, is named.
#[test]
#[cfg_attr(
    no_ebpf,
    ignore = "needs root and kernel BTF to record (CI=true runs it and fails instead)"
)]
fn codex_responses_calls_and_exec_command_are_captured() {
    let _g = serial();
    if !can_record() || !installed(agents::CODEX) {
        return;
    }
    let work = tempdir();
    let root = work.path().canonicalize().unwrap();
    let (ws, home, codex_home) = (root.join("ws"), root.join("home"), root.join("codex-home"));
    for d in [&ws, &home, &codex_home] {
        std::fs::create_dir_all(d).unwrap();
    }
    let script = root.join("script.json");
    std::fs::write(
        &script,
        serde_json::json!({"openai_responses": [
            {"text": "Running it.", "tool_calls": [{"name": "exec_command", "id": "call_cx_exec",
                "arguments": {"cmd": "echo hello > out.txt && cat out.txt"}}]},
            {"text": "All done."}
        ]})
        .to_string(),
    )
    .unwrap();
    let server = MockServer::start_with(&root, &["--script", script.to_str().unwrap()]);
    std::fs::write(
        codex_home.join("config.toml"),
        format!(
            "model = \"gpt-mock-1\"\nmodel_provider = \"mock\"\n\
             [model_providers.mock]\nname = \"mock\"\nbase_url = \"{}/v1\"\n\
             wire_api = \"responses\"\nenv_key = \"MOCK_API_KEY\"\n",
            server.base_url()
        ),
    )
    .unwrap();
    let system = std::fs::read("/etc/ssl/certs/ca-certificates.crt").unwrap();
    let bundle = root.join("bundle.pem");
    std::fs::write(
        &bundle,
        [system, std::fs::read(&server.cert).unwrap()].concat(),
    )
    .unwrap();
    let cmd = format!(
        "mount --bind '{}' /etc/ssl/certs/ca-certificates.crt && cd '{}' && \
         exec env -u SSL_CERT_FILE -u NODE_EXTRA_CA_CERTS '{}' exec --skip-git-repo-check \
         --dangerously-bypass-approvals-and-sandbox 'write hello to out.txt'",
        bundle.display(),
        ws.display(),
        agents::CODEX
    );
    let out = root.join("cap");
    let env = [
        ("HOME", home.to_str().unwrap()),
        ("CODEX_HOME", codex_home.to_str().unwrap()),
    ];
    let o = record_with_env(
        &server,
        &out,
        &[],
        &env,
        &["unshare", "-m", "sh", "-c", &cmd],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read_to_string(ws.join("out.txt")).unwrap(),
        "hello\n"
    );
    drop(server.stop());

    let m = agentsight_capture::Manifest::load(&out).unwrap();
    assert!(
        m.tls_attachments
            .iter()
            .any(|a| a.starts_with(agents::CODEX)
                && a.contains("via ssl_write_internal")
                && a.contains("located without symbols: OpenSSL 3")),
        "{:?}",
        m.tls_attachments
    );
    let calls = query_json(
        &out,
        "SELECT provider, streaming, response_text FROM llm_calls ORDER BY ts_ns",
    );
    let texts: Vec<&str> = calls
        .iter()
        .map(|c| c["response_text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["Running it.", "All done."], "{calls:?}");
    assert!(calls
        .iter()
        .all(|c| c["provider"] == "openai_responses" && c["streaming"] == true));
    let effects = query_json(
        &out,
        "SELECT * FROM tool_effects WHERE tool_call_id = 'call_cx_exec'",
    );
    assert_eq!(effects.len(), 1, "{effects:?}");
    let out_txt = Value::from(format!("{}/out.txt", ws.display()));
    assert!(
        effects[0]["files_written"]
            .as_array()
            .unwrap()
            .contains(&out_txt),
        "{:#}",
        effects[0]
    );
    // Its bearer token (MOCK_API_KEY) was masked at record time.
    assert_absent(API_KEY, &out);
    // The rustls it also carries is not hooked, and the capture says so.
    let not_hooked: Vec<String> = query_json(
        &out,
        "SELECT value FROM tls_events WHERE event = 'not_hooked'",
    )
    .iter()
    .map(|r| r["value"].as_str().unwrap().to_string())
    .collect();
    assert!(
        not_hooked
            .iter()
            .any(|v| v.starts_with(agents::CODEX) && v.contains("rustls")),
        "{not_hooked:?}"
    );
}

/// gemini-cli (node) non-interactive with --yolo: run_shell_command and
/// the built-in write_file. Its model-routing side call is a plain
/// generateContent the mock answers from its own turn list.
#[test]
#[cfg_attr(
    no_ebpf,
    ignore = "needs root and kernel BTF to record (CI=true runs it and fails instead)"
)]
fn gemini_cli_tool_calls_are_attributed() {
    let _g = serial();
    if !can_record() || !have_cli(GEMINI_CLI) {
        return;
    }
    real_cli_tool_calls_are_attributed(RealCli {
        endpoint: "gemini",
        shell: ("run_shell_command", "gemini_shell"),
        write: ("write_file", "gemini_write", "file_path"),
        command: format!(
            "exec node '{GEMINI_CLI}' -p 'write hello to out.txt, then notes' --yolo --output-format json"
        ),
        env: vec![
            ("GOOGLE_GEMINI_BASE_URL", "$BASE_URL".into()),
            ("GEMINI_API_KEY", API_KEY.into()),
        ],
        home_files: vec![(
            ".gemini/settings.json",
            r#"{"security": {"auth": {"selectedType": "gemini-api-key"}, "folderTrust": {"enabled": false}},
                "privacy": {"usageStatisticsEnabled": false}, "telemetry": {"enabled": false},
                "general": {"disableAutoUpdate": true, "disableUpdateNag": true}}"#,
        )],
    });
}

/// qwen-code (node, a gemini-cli fork) non-interactive with --yolo against
/// the OpenAI Chat Completions mock: run_shell_command and the built-in
/// write_file, as gemini-cli names them.
#[test]
#[cfg_attr(
    no_ebpf,
    ignore = "needs root and kernel BTF to record (CI=true runs it and fails instead)"
)]
fn qwen_code_tool_calls_are_attributed() {
    let _g = serial();
    if !can_record() || !have_cli(QWEN_CODE_CLI) {
        return;
    }
    real_cli_tool_calls_are_attributed(RealCli {
        endpoint: "openai_chat",
        shell: ("run_shell_command", "call_qwen_shell"),
        write: ("write_file", "call_qwen_write", "file_path"),
        command: format!(
            "exec node '{QWEN_CODE_CLI}' -p 'write hello to out.txt, then notes' --yolo --output-format json"
        ),
        env: vec![
            ("OPENAI_BASE_URL", "$BASE_URL/v1".into()),
            ("OPENAI_API_KEY", API_KEY.into()),
            ("OPENAI_MODEL", "gpt-mock-1".into()),
            ("QWEN_CODE_SUPPRESS_YOLO_WARNING", "1".into()),
        ],
        home_files: vec![(
            ".qwen/settings.json",
            r#"{"security": {"auth": {"selectedType": "openai"}, "folderTrust": {"enabled": false}},
                "privacy": {"usageStatisticsEnabled": false}, "telemetry": {"enabled": false},
                "general": {"enableAutoUpdate": false}}"#,
        )],
    });
}
