//! Graph building and attribution on hand-made rows: every signal, the
//! unattributed cases and the renderers' escaping.

use std::collections::HashMap;
use std::sync::Arc;

use super::input::{CaptureRows, FileEvent, NetEvent, ProcEvent, ProcKind};
use super::*;
use crate::reconstruct::streams::{ConnIdentity, SocketTuple};
use crate::reconstruct::{CallRow, ConversationRow, Decoded, HttpRow, ToolRow};
use agentsight_capture::schema::proc_key;
use agentsight_decode::llm::{ChatMessage, LlmCall, Part, Provider, ToolCall};

const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;

fn key(pid: u32, start_s: u64) -> u64 {
    proc_key(pid, start_s * S)
}

struct Scene {
    rows: CaptureRows,
    decoded: Decoded,
    cap: Arc<str>,
}

impl Scene {
    fn new() -> Scene {
        Scene {
            rows: CaptureRows::default(),
            decoded: Decoded::default(),
            cap: Arc::from("cap"),
        }
    }

    fn proc_event(
        &mut self,
        kind: ProcKind,
        ts: u64,
        key: u64,
        parent: Option<u64>,
        argv: &[&str],
        cwd: &str,
    ) {
        self.rows.procs.push(ProcEvent {
            ts,
            kind,
            pid: split_proc_key(key).0 as i32,
            key,
            parent_key: parent,
            comm: argv
                .first()
                .map_or("?", |a| a.rsplit('/').next().unwrap())
                .chars()
                .take(15)
                .collect(),
            filename: (kind == ProcKind::Exec || kind == ProcKind::Snapshot)
                .then(|| argv[0].to_string()),
            argv: argv.iter().map(|s| s.to_string()).collect(),
            cwd: (!cwd.is_empty()).then(|| cwd.to_string()),
            exit_code: (kind == ProcKind::Exit).then_some(0),
            exit_signal: None,
        });
    }

    /// fork + exec of `argv` at `ts` under `parent`.
    fn spawn(&mut self, ts: u64, key: u64, parent: u64, argv: &[&str]) {
        self.proc_event(ProcKind::Fork, ts, key, Some(parent), &[], "");
        self.proc_event(ProcKind::Exec, ts + MS, key, Some(parent), argv, "/w");
    }

    fn file(&mut self, ts: u64, key: u64, op: &str, path: &str, flags: u32) {
        self.rows.files.push(FileEvent {
            ts,
            key,
            op: op.into(),
            path: path.into(),
            path2: None,
            dfd: -100,
            flags,
            mode: 0o755,
            resolved: None,
        });
    }

    fn connect(&mut self, ts: u64, key: u64, addr: &str, port: u16, local_port: u16) {
        self.rows.nets.push(NetEvent {
            ts,
            key,
            accept: false,
            family: "inet".into(),
            local_port: Some(local_port),
            remote_addr: Some(addr.into()),
            remote_port: Some(port),
            unix_path: None,
        });
    }

    /// An LLM call by `agent` on connection 1 (local port 40000); `results`
    /// are the tool results its request carries.
    fn call(
        &mut self,
        id: u64,
        ts: u64,
        agent: u64,
        prompt: &str,
        results: &[(&str, &str)],
        tools: &[(&str, &str, &str)],
    ) {
        let mut call = LlmCall::new(Provider::Anthropic, true);
        call.model = Some("claude-test".into());
        call.response_text = format!("response {id}");
        let mut messages = vec![ChatMessage {
            role: "user".into(),
            text: prompt.into(),
            parts: vec![Part::Text {
                text: prompt.into(),
            }],
        }];
        if !results.is_empty() {
            messages.push(ChatMessage {
                role: "user".into(),
                text: results.iter().map(|r| r.1).collect::<Vec<_>>().join("\n"),
                parts: results
                    .iter()
                    .map(|(tid, text)| Part::ToolResult {
                        tool_use_id: tid.to_string(),
                        text: text.to_string(),
                        is_error: false,
                    })
                    .collect(),
            });
        }
        call.request_messages = messages;
        call.tool_calls = tools
            .iter()
            .map(|(tid, name, args)| ToolCall {
                id: tid.to_string(),
                name: name.to_string(),
                arguments_json: args.to_string(),
            })
            .collect();
        let end = ts + 500 * MS;
        for (i, (tid, name, args)) in tools.iter().enumerate() {
            self.decoded.tools.push(ToolRow {
                ts_ns: end,
                capture: self.cap.clone(),
                call_id: id,
                conversation_id: 0,
                tool_index: i as u32,
                tool_call_id: tid.to_string(),
                name: name.to_string(),
                arguments_json: args.to_string(),
                result_call_id: None,
                result_ns: None,
                result_text: None,
                result_is_error: None,
            });
        }
        for (tid, text) in results {
            if let Some(t) = self
                .decoded
                .tools
                .iter_mut()
                .find(|t| t.tool_call_id == *tid)
            {
                t.result_call_id = Some(id);
                t.result_ns = Some(ts);
                t.result_text = Some(text.to_string());
            }
        }
        self.decoded.calls.push(CallRow {
            ts_ns: ts,
            capture: self.cap.clone(),
            call_id: id,
            conversation_id: 0,
            turn: id as u32,
            repeated: 0,
            conn_id: 1,
            exchange_index: id as u32,
            pid: split_proc_key(agent).0 as i32,
            proc_key: agent,
            comm: "python3".into(),
            host: Some("api.test".into()),
            path: Some("/v1/messages".into()),
            status: Some(200),
            ttfb_ns: None,
            duration_ns: Some(500 * MS),
            end_ns: end,
            call,
        });
    }

    fn finish(mut self, agent: u64) -> (CaptureGraph, Decoded) {
        self.decoded.http.push(http_row(&self.cap, agent));
        if let Some(first) = self.decoded.calls.first() {
            self.decoded.conversations.push(ConversationRow {
                ts_ns: first.ts_ns,
                capture: self.cap.clone(),
                conversation_id: 0,
                pid: first.pid,
                proc_key: agent,
                comm: "python3".into(),
                provider: Provider::Anthropic,
                model: Some("claude-test".into()),
                calls: self.decoded.calls.len() as u32,
                end_ns: 0,
                input_tokens: 0,
                output_tokens: 0,
                cache_read_tokens: 0,
                cache_creation_tokens: 0,
                tool_calls: self.decoded.tools.len() as u32,
                first_user_text: Some("prompt".into()),
                final_text: String::new(),
                partial_calls: 0,
            });
        }
        let mut rows = HashMap::new();
        rows.insert(self.cap.clone(), self.rows);
        let mut g = build(rows, &self.decoded, "x86_64");
        (g.captures.remove(0), self.decoded)
    }
}

fn http_row(cap: &Arc<str>, agent: u64) -> HttpRow {
    HttpRow {
        ts_ns: 0,
        conn: ConnIdentity {
            capture: cap.clone(),
            conn_id: 1,
            pid: split_proc_key(agent).0 as i32,
            proc_key: agent,
            comm: "python3".into(),
            ssl_ptr: 1,
            fd: Some(3),
            sni: Some("api.test".into()),
            tuple: SocketTuple {
                local_addr: Some("127.0.0.1".into()),
                local_port: Some(40000),
                remote_addr: Some("127.0.0.1".into()),
                remote_port: Some(443),
            },
        },
        exchange_index: 0,
        http_version: "1.1",
        method: Some("POST".into()),
        host: Some("api.test".into()),
        path: Some("/v1/messages".into()),
        status: Some(200),
        request_headers: None,
        response_headers: None,
        request_content_type: None,
        response_content_type: None,
        response_content_encoding: None,
        request_body_len: 0,
        response_body_len: 0,
        request_body: None,
        response_body: None,
        request_end_ns: None,
        response_first_byte_ns: None,
        response_body_first_ns: None,
        response_end_ns: None,
        problems: Vec::new(),
    }
}

fn edges<'a>(g: &'a CaptureGraph, kind: EdgeKind) -> Vec<(&'a str, &'a str, &'static str, f64)> {
    g.edges
        .iter()
        .filter(|e| e.kind == kind)
        .map(|e| {
            (
                &*g.nodes[e.src].id,
                &*g.nodes[e.dst].id,
                e.method,
                e.confidence,
            )
        })
        .collect()
}

const O_WRONLY_CREAT_TRUNC: u32 = 0o1101;

/// The agent loop of the end-to-end test, by hand: a script written, then
/// chmod'ed and run (spawning curl) beside a parallel read, a background
/// connect and a process started before the first call.
fn agent_loop() -> (CaptureGraph, Decoded, [u64; 8]) {
    let mut s = Scene::new();
    let agent = key(100, 1);
    let startup = key(101, 2);
    let (sh0, sh1, script, curl, sh2, cat) = (
        key(110, 11),
        key(120, 21),
        key(121, 21),
        key(122, 21),
        key(130, 21),
        key(131, 21),
    );
    s.proc_event(
        ProcKind::Exec,
        S,
        agent,
        Some(key(1, 0)),
        &["/usr/bin/python3", "agent.py"],
        "/w",
    );
    s.spawn(2 * S, startup, agent, &["/usr/bin/uname", "-a"]);
    s.connect(3 * S, agent, "127.0.0.1", 443, 40000);
    s.call(
        0,
        10 * S,
        agent,
        "write and run a script",
        &[],
        &[(
            "toolu_w",
            "bash",
            r#"{"command":"printf 'curl -s https://127.0.0.2:9443/x\n' > run.sh"}"#,
        )],
    );
    s.spawn(
        11 * S,
        sh0,
        agent,
        &[
            "/bin/sh",
            "-c",
            "printf 'curl -s https://127.0.0.2:9443/x\n' > run.sh",
        ],
    );
    s.file(11 * S + 5 * MS, sh0, "open", "run.sh", O_WRONLY_CREAT_TRUNC);
    s.call(
        1,
        20 * S,
        agent,
        "write and run a script",
        &[("toolu_w", "written")],
        &[
            (
                "toolu_x",
                "bash",
                r#"{"command":"chmod +x run.sh && ./run.sh"}"#,
            ),
            ("toolu_r", "bash", r#"{"command":"cat notes.txt"}"#),
        ],
    );
    s.spawn(
        21 * S,
        sh1,
        agent,
        &["/bin/sh", "-c", "chmod +x run.sh && ./run.sh"],
    );
    s.file(21 * S + 2 * MS, sh1, "chmod", "run.sh", 0);
    s.spawn(21 * S + 10 * MS, script, sh1, &["./run.sh"]);
    s.spawn(
        21 * S + 20 * MS,
        curl,
        script,
        &["curl", "-s", "https://127.0.0.2:9443/x"],
    );
    s.connect(21 * S + 30 * MS, curl, "127.0.0.2", 9443, 50000);
    s.spawn(
        21 * S + 5 * MS,
        sh2,
        agent,
        &["/bin/sh", "-c", "cat notes.txt"],
    );
    s.spawn(21 * S + 6 * MS, cat, sh2, &["cat", "notes.txt"]);
    s.file(21 * S + 7 * MS, cat, "open", "notes.txt", 0);
    // A background thread of the agent, during the tool window.
    s.connect(21 * S + 40 * MS, agent, "127.0.0.3", 8080, 50001);
    s.call(
        2,
        30 * S,
        agent,
        "write and run a script",
        &[("toolu_x", "ran"), ("toolu_r", "notes")],
        &[],
    );
    let (g, d) = s.finish(agent);
    (g, d, [agent, startup, sh0, sh1, script, curl, sh2, cat])
}

#[test]
fn tool_calls_are_attributed_to_the_processes_that_ran_them() {
    let (g, _, [_, _, sh0, sh1, _, _, sh2, _]) = agent_loop();
    let ran = edges(&g, EdgeKind::Ran);
    let p = |k: u64| process_id(k);
    assert!(
        ran.contains(&("tool_call:0.0", &*p(sh0), "argv_exact", 0.95)),
        "{ran:?}"
    );
    assert!(
        ran.contains(&("tool_call:1.0", &*p(sh1), "argv_exact", 0.95)),
        "{ran:?}"
    );
    assert!(
        ran.contains(&("tool_call:1.1", &*p(sh2), "argv_exact", 0.95)),
        "{ran:?}"
    );
    assert_eq!(ran.len(), 3, "{ran:?}");
    assert!(edges(&g, EdgeKind::AskedFor).contains(&(
        "llm_call:1",
        "tool_call:1.1",
        "response",
        1.0
    )));
    assert!(edges(&g, EdgeKind::FedBack).contains(&(
        "tool_call:0.0",
        "llm_call:1",
        "tool_result_id",
        1.0
    )));
}

#[test]
fn effects_follow_descendants_and_resolve_relative_paths() {
    let (g, _, [_, _, sh0, sh1, script, curl, _, _]) = agent_loop();
    let created = edges(&g, EdgeKind::Created);
    assert!(
        created.contains(&(&*process_id(sh0), "file:/w/run.sh", "open_flags", 1.0)),
        "{created:?}"
    );
    let run = g
        .effects
        .iter()
        .find(|e| e.tool_call_id == "toolu_x")
        .unwrap();
    assert_eq!(run.process_keys, vec![sh1, script, curl]);
    assert_eq!(run.files_written, vec!["/w/run.sh"]);
    assert_eq!(run.endpoints, vec!["127.0.0.2:9443"]);
    assert!(
        run.execs.contains(&"/w/run.sh".to_string()),
        "{:?}",
        run.execs
    );
    assert_eq!(
        (run.method, run.confidence),
        (Some("argv_exact"), Some(0.95))
    );
    let read = g
        .effects
        .iter()
        .find(|e| e.tool_call_id == "toolu_r")
        .unwrap();
    assert_eq!(read.files_read, 1);
    assert_eq!(read.window_end_ns, Some(30 * S));
}

#[test]
fn what_no_tool_call_explains_is_unattributed() {
    let (g, _, [agent, startup, ..]) = agent_loop();
    let u: Vec<_> = g
        .unattributed
        .iter()
        .map(|u| (u.activity, &*g.nodes[u.node].id, u.reason, u.proc_key))
        .collect();
    assert!(
        u.contains(&(
            "process",
            &*process_id(startup),
            "outside_tool_windows",
            startup
        )),
        "{u:?}"
    );
    assert!(
        u.contains(&("connect", "endpoint:127.0.0.3:8080", "no_tool_call", agent)),
        "{u:?}"
    );
    // The LLM connection (local port 40000) is explained by its calls.
    assert!(!u.iter().any(|x| x.1 == "endpoint:127.0.0.1:443"), "{u:?}");
    assert_eq!(u.len(), 2, "{u:?}");
}

#[test]
fn explain_walks_back_to_the_prompt() {
    let (g, d, [.., curl, _, _]) = agent_loop();
    let start = g.node_index(&process_id(curl)).unwrap();
    let (hops, end) = render::explain(&g, &d, start);
    let ids: Vec<&str> = hops.iter().map(|h| &*g.nodes[h.node].id).collect();
    assert_eq!(
        ids[1..],
        [
            &*process_id(key(121, 21)),
            &*process_id(key(120, 21)),
            "tool_call:1.0",
            "llm_call:1",
            "tool_call:0.0",
            "llm_call:0"
        ],
        "{ids:?}"
    );
    assert_eq!(
        end.as_deref(),
        Some("prompt (user): write and run a script")
    );
    let text = render::explain_text(&g, &hops, end.as_deref(), &|ts| format!("{ts}"));
    assert!(text.contains("ran by tool_call:1.0"), "{text}");
    assert!(text.contains("argv_exact (confidence 0.95)"), "{text}");
    assert!(text.contains("result: written"), "{text}");
}

#[test]
fn weak_signals_say_so() {
    let mut s = Scene::new();
    let agent = key(100, 1);
    let (a, b) = (key(110, 11), key(111, 11));
    s.proc_event(
        ProcKind::Exec,
        S,
        agent,
        None,
        &["/usr/bin/node", "agent.js"],
        "/w",
    );
    // The command never appears in argv (the agent rewrote it).
    s.call(
        0,
        10 * S,
        agent,
        "go",
        &[],
        &[("t1", "bash", r#"{"command":"do-something --fast"}"#)],
    );
    s.spawn(11 * S, a, agent, &["/bin/bash", "/tmp/wrapper-123.sh"]);
    s.call(
        1,
        20 * S,
        agent,
        "go",
        &[("t1", "ok")],
        &[
            ("t2", "get_weather", r#"{"city":"Paris"}"#),
            ("t3", "get_time", "{}"),
        ],
    );
    // Two tools without commands share the window.
    s.spawn(21 * S, b, agent, &["/usr/bin/date"]);
    s.call(
        2,
        30 * S,
        agent,
        "go",
        &[("t2", "sunny"), ("t3", "noon")],
        &[],
    );
    let (g, _) = s.finish(agent);
    let ran = edges(&g, EdgeKind::Ran);
    assert!(
        ran.contains(&("tool_call:0.0", &*process_id(a), "window_ancestry", 0.5)),
        "{ran:?}"
    );
    let amb: Vec<_> = ran.iter().filter(|r| r.2 == "window_ambiguous").collect();
    assert_eq!(amb.len(), 2, "{ran:?}");
    assert!(amb.iter().all(|r| r.3 == 0.3 && r.1 == &*process_id(b)));
    let weak = g
        .unattributed
        .iter()
        .find(|u| u.proc_key == b)
        .expect("weak root listed");
    assert_eq!(
        (weak.reason, weak.confidence),
        ("weak_attribution", Some(0.3))
    );
}

#[test]
fn builtin_file_tools_and_pid_reuse() {
    let mut s = Scene::new();
    let agent = key(100, 1);
    s.proc_event(
        ProcKind::Exec,
        S,
        agent,
        None,
        &["/usr/bin/node", "claude"],
        "/home/u/proj",
    );
    s.call(
        0,
        10 * S,
        agent,
        "go",
        &[],
        &[(
            "w1",
            "Write",
            r#"{"file_path":"/home/u/proj/out.txt","content":"x"}"#,
        )],
    );
    s.file(11 * S, agent, "open", "out.txt", O_WRONLY_CREAT_TRUNC);
    s.file(
        12 * S,
        agent,
        "open",
        "/home/u/.cache/state.json",
        O_WRONLY_CREAT_TRUNC,
    );
    s.call(1, 20 * S, agent, "go", &[("w1", "ok")], &[]);
    // pid 200 twice: two processes, two nodes, each with its own parent.
    let (first, second) = (key(200, 3), key(200, 40));
    s.spawn(3 * S, first, agent, &["/bin/true"]);
    s.proc_event(ProcKind::Exit, 4 * S, first, None, &[], "");
    s.spawn(40 * S, second, agent, &["/bin/false"]);
    let (g, _) = s.finish(agent);
    let created = edges(&g, EdgeKind::Created);
    assert!(
        created.contains(&(
            "tool_call:0.0",
            "file:/home/u/proj/out.txt",
            "builtin_tool_path",
            0.9
        )),
        "{created:?}"
    );
    let w = g.effects.iter().find(|e| e.tool_call_id == "w1").unwrap();
    assert_eq!(w.files_written, vec!["/home/u/proj/out.txt"]);
    assert!(g
        .unattributed
        .iter()
        .any(|u| u.activity == "file" && &*g.nodes[u.node].id == "file:/home/u/.cache/state.json"));
    let procs: Vec<_> = g
        .nodes
        .iter()
        .filter(|n| n.pid == Some(200))
        .map(|n| n.proc_key)
        .collect();
    assert_eq!(procs, vec![Some(first), Some(second)]);
    assert!(g.unattributed.iter().filter(|u| u.pid == 200).count() == 2);
}

#[test]
fn a_daemonized_child_stays_with_its_tool_call() {
    let mut s = Scene::new();
    let agent = key(100, 1);
    let (sh, daemon) = (key(110, 11), key(111, 11));
    s.proc_event(
        ProcKind::Exec,
        S,
        agent,
        None,
        &["/usr/bin/python3", "a.py"],
        "/w",
    );
    s.call(
        0,
        10 * S,
        agent,
        "go",
        &[],
        &[("t", "bash", r#"{"command":"setsid sleeper &"}"#)],
    );
    s.spawn(11 * S, sh, agent, &["/bin/sh", "-c", "setsid sleeper &"]);
    // The double fork: the daemon's exec row names init as its parent, the
    // fork row names the shell.
    s.proc_event(ProcKind::Fork, 11 * S + 5 * MS, daemon, Some(sh), &[], "");
    s.proc_event(ProcKind::Exit, 11 * S + 6 * MS, sh, None, &[], "");
    s.proc_event(
        ProcKind::Exec,
        11 * S + 7 * MS,
        daemon,
        Some(key(1, 0)),
        &["sleeper"],
        "/w",
    );
    s.connect(50 * S, daemon, "127.0.0.2", 22, 50002);
    s.call(1, 20 * S, agent, "go", &[("t", "started")], &[]);
    let (g, _) = s.finish(agent);
    let t = g.effects.iter().find(|e| e.tool_call_id == "t").unwrap();
    assert_eq!(t.process_keys, vec![sh, daemon]);
    assert_eq!(t.endpoints, vec!["127.0.0.2:22"]);
    assert!(g.unattributed.is_empty(), "{:?}", g.unattributed);
}

#[test]
fn no_tls_still_gives_processes_and_effects() {
    let mut s = Scene::new();
    let (sh, child) = (key(10, 1), key(11, 1));
    s.proc_event(
        ProcKind::Snapshot,
        S,
        sh,
        Some(key(1, 0)),
        &["/bin/bash"],
        "/root",
    );
    s.spawn(2 * S, child, sh, &["/usr/bin/touch", "x"]);
    s.file(2 * S + 2 * MS, child, "open", "x", O_WRONLY_CREAT_TRUNC);
    let mut rows = HashMap::new();
    rows.insert(s.cap.clone(), s.rows);
    let g = build(rows, &Decoded::default(), "x86_64")
        .captures
        .remove(0);
    assert!(edges(&g, EdgeKind::Spawned).contains(&(
        &*process_id(sh),
        &*process_id(child),
        "fork",
        1.0
    )));
    assert!(edges(&g, EdgeKind::Created)
        .iter()
        .any(|e| e.1 == "file:/w/x"));
    assert!(edges(&g, EdgeKind::Executed)
        .iter()
        .any(|e| e.1 == "file:/usr/bin/touch"));
    assert!(g.unattributed.is_empty() && g.effects.is_empty());
}

#[test]
fn the_kernels_path_is_kept_beside_the_passed_one() {
    let mut s = Scene::new();
    let p = key(10, 1);
    s.proc_event(ProcKind::Snapshot, S, p, None, &["/bin/cat"], "/w");
    // The buffer said /tmp/innocent; the kernel opened a key (a race).
    s.file(2 * S, p, "open", "/tmp/innocent", 0);
    s.rows.files.last_mut().unwrap().resolved = Some("/home/u/.ssh/id_rsa".into());
    // A path relative to a directory fd the capture cannot place.
    s.file(3 * S, p, "open", "conf", 0);
    let f = s.rows.files.last_mut().unwrap();
    f.dfd = 5;
    f.resolved = Some("/etc/app/conf".into());
    // The same path both ways: no note.
    s.file(4 * S, p, "open", "/w/a", 0);
    s.rows.files.last_mut().unwrap().resolved = Some("/w/a".into());
    let mut rows = HashMap::new();
    rows.insert(s.cap.clone(), s.rows);
    let g = build(rows, &Decoded::default(), "x86_64")
        .captures
        .remove(0);
    let read = |path: &str| {
        g.edges
            .iter()
            .find(|e| e.kind == EdgeKind::Read && &*g.nodes[e.dst].id == path)
            .unwrap_or_else(|| panic!("no read of {path}"))
            .detail
            .clone()
            .unwrap_or_default()
    };
    assert!(read("file:/tmp/innocent").contains("kernel opened /home/u/.ssh/id_rsa"));
    assert!(!read("file:/etc/app/conf").contains("kernel opened"));
    assert!(!read("file:/w/a").contains("kernel opened"));
}

#[test]
fn paths_resolve_lexically() {
    assert_eq!(
        resolve_path(Some("/a/b"), "../c/./d", -100).as_deref(),
        Some("/a/c/d")
    );
    assert_eq!(resolve_path(None, "/x//y/", -100).as_deref(), Some("/x/y"));
    assert_eq!(resolve_path(Some("/a"), "rel", 5), None);
    assert_eq!(resolve_path(Some(".../deep"), "rel", -100), None);
    assert_eq!(
        resolve_path(Some("/"), "../../etc/passwd", -100).as_deref(),
        Some("/etc/passwd")
    );
}

#[test]
fn tool_arguments_yield_commands_paths_and_hosts() {
    let a = attribute::ToolArgs::parse(
        r#"{"command":"curl https://Evil.example:8443/p","file_path":"src/x.rs","url":"http://[::1]:80/","argv":["bash","-c","ls"],"n":3}"#,
    );
    assert_eq!(a.commands, vec!["curl https://Evil.example:8443/p"]);
    assert_eq!(a.paths, vec!["src/x.rs"]);
    assert_eq!(a.hosts, vec!["::1"]);
    assert_eq!(
        attribute::ToolArgs::parse(r#"{"cmd":["bash","-c","ls"]}"#).commands,
        vec!["bash -c ls", "ls"]
    );
    assert_eq!(
        attribute::ToolArgs::parse("not json"),
        attribute::ToolArgs::default()
    );
}

#[test]
fn renderers_escape_captured_text() {
    assert_eq!(
        render::terminal_text("a\u{1b}[31mb\u{202e}c\u{200b}", 100),
        "a\\u{1b}[31mb\\u{202e}c\\u{200b}"
    );
    assert_eq!(
        render::mermaid_text("a\"]-->x<b>&`"),
        "a#34;#93;--#62;x#60;b#62;#38;#96;"
    );
    assert_eq!(
        render::dot_string("a\"b\\c\nd\u{7}"),
        "\"a\\\"b\\\\c\\nd \""
    );
    let (g, _, _) = agent_loop();
    let root = g.node_index("conversation:0").unwrap();
    let f = render::forward(
        &g,
        &[root],
        render::Walk {
            depth: 20,
            reads: false,
        },
    );
    let dot = render::dot(&g, &f);
    assert!(dot.contains(r#""tool_call:0.0" [label="tool_call\nbash: printf 'curl -s https://127.0.0.2:9443/x ' > run.sh""#), "{dot}");
    let tree = render::tree_text(&g, &f);
    // Turns hang under the conversation, not under the tool whose result fed them.
    assert!(tree.contains("\n  └ turn → llm_call:1"), "{tree}");
    assert!(tree.contains("ran (argv_exact, 0.95) → process:"), "{tree}");
    assert!(
        tree.contains("connected → endpoint:127.0.0.2:9443"),
        "{tree}"
    );
}
