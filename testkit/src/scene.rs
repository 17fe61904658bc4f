//! Small hand-written stories for rule tests: processes, file and network
//! events and LLM turns (Anthropic Messages over HTTP/1.1, as TLS plaintext
//! rows), written as a real capture. Times are milliseconds of boot time.
//!
//! ```text
//! let mut s = Scene::new();
//! let agent = s.process(None, 1_000, &["python3", "agent.py"], "/home/u/ws");
//! s.llm(agent, 2_000, Turn::new("running it").tool("toolu_1", "bash", json!({"command": "ls"})));
//! let ls = s.process(Some(agent), 2_200, &["bash", "-c", "ls"], "/home/u/ws");
//! s.llm(agent, 3_000, Turn::new("done").result("toolu_1", "a.txt"));
//! s.write(dir)?;
//! ```

use std::path::Path;

use anyhow::Result;
use serde_json::{json, Value};

use agentsight_capture::rows::{
    FileRow, NetRow, ProcessRow, RowBuffers, Subject, TlsChunkRow, TlsEventRow,
};
use agentsight_capture::schema::proc_key;
use agentsight_capture::Manifest;

use crate::{write_capture, ANCHOR};

pub const O_WRONLY: u32 = 0o1;
pub const O_CREAT: u32 = 0o100;
pub const O_TRUNC: u32 = 0o1000;
pub const O_APPEND: u32 = 0o2000;
/// The LLM API endpoint every [`Scene::llm`] call connects to.
pub const LLM_ADDR: (&str, u16) = ("127.0.0.1", 8443);

const MS: u64 = 1_000_000;

/// One model turn: the request carries the results of the previous turn's
/// tool calls, the response asks for `tools`.
#[derive(Clone, Debug, Default)]
pub struct Turn {
    text: String,
    tools: Vec<(String, String, Value)>,
    results: Vec<(String, String)>,
    input_tokens: u64,
    /// The response stops half-way (a capture that lost its end).
    cut: bool,
}

impl Turn {
    pub fn new(text: &str) -> Turn {
        Turn {
            text: text.to_string(),
            input_tokens: 100,
            ..Turn::default()
        }
    }
    pub fn tool(mut self, id: &str, name: &str, input: Value) -> Turn {
        self.tools.push((id.into(), name.into(), input));
        self
    }
    /// The result of an earlier tool call, sent in this turn's request.
    pub fn result(mut self, id: &str, text: &str) -> Turn {
        self.results.push((id.into(), text.into()));
        self
    }
    pub fn input_tokens(mut self, n: u64) -> Turn {
        self.input_tokens = n;
        self
    }
    /// Only the first half of the response reaches the capture.
    pub fn cut(mut self) -> Turn {
        self.cut = true;
        self
    }
}

#[derive(Clone)]
struct Proc {
    key: u64,
    pid: i32,
    comm: String,
}

enum Event {
    Fork {
        ts: u64,
        p: Proc,
        parent: Option<(i32, u64)>,
    },
    Exec {
        ts: u64,
        p: Proc,
        parent: Option<(i32, u64)>,
        argv: Vec<String>,
        cwd: String,
    },
    Exit {
        ts: u64,
        p: Proc,
        code: i32,
    },
    File {
        ts: u64,
        p: Proc,
        op: &'static str,
        path: String,
        path2: Option<String>,
        flags: u32,
        mode: u32,
        ret: i64,
        /// The file the kernel opened, when not `path` (a raced buffer).
        opened: Option<String>,
    },
    Connect {
        ts: u64,
        p: Proc,
        fd: i32,
        addr: String,
        port: u16,
        local_port: u16,
    },
    Tls {
        ts: u64,
        p: Proc,
        ssl: u64,
        fd: i32,
        write: bool,
        seq: u64,
        data: Vec<u8>,
    },
    Sni {
        ts: u64,
        p: Proc,
        ssl: u64,
        fd: i32,
        host: String,
    },
}

/// Builder of a capture; see the module docs.
#[derive(Default)]
pub struct Scene {
    events: Vec<Event>,
    procs: Vec<Proc>,
    next_pid: i32,
    next_ssl: u64,
    seq: u64,
    /// Per agent: the message history its next request resends.
    histories: Vec<(u64, Vec<Value>)>,
    /// First user message of agents that start talking after [`Scene::prompt`].
    prompt: Option<String>,
    calls: u64,
}

impl Scene {
    pub fn new() -> Scene {
        Scene {
            next_pid: 1000,
            next_ssl: 0x1000,
            ..Scene::default()
        }
    }

    /// The first user message of every conversation started from now on
    /// (default "Please do the task.").
    pub fn prompt(&mut self, text: &str) {
        self.prompt = Some(text.to_string());
    }

    fn proc(&self, key: u64) -> Proc {
        self.procs
            .iter()
            .find(|p| p.key == key)
            .expect("process made by this scene")
            .clone()
    }

    /// A process forked (from `parent`, when given) and exec'd at `t_ms`;
    /// returns its key.
    pub fn process(&mut self, parent: Option<u64>, t_ms: u64, argv: &[&str], cwd: &str) -> u64 {
        let pid = self.next_pid;
        self.next_pid += 1;
        let ts = t_ms * MS;
        let key = proc_key(pid as u32, ts);
        let comm: String = argv[0]
            .rsplit('/')
            .next()
            .unwrap()
            .chars()
            .take(15)
            .collect();
        let p = Proc { key, pid, comm };
        self.procs.push(p.clone());
        let parent = parent.map(|k| (self.proc(k).pid, k));
        self.events.push(Event::Fork {
            ts,
            p: p.clone(),
            parent,
        });
        self.events.push(Event::Exec {
            ts: ts + 100_000,
            p,
            parent,
            argv: argv.iter().map(|s| s.to_string()).collect(),
            cwd: cwd.to_string(),
        });
        key
    }

    pub fn exit(&mut self, key: u64, t_ms: u64, code: i32) {
        let p = self.proc(key);
        self.events.push(Event::Exit {
            ts: t_ms * MS,
            p,
            code,
        });
    }

    /// An open(2) of an absolute `path` with `flags` (O_RDONLY = 0).
    pub fn open(&mut self, key: u64, t_ms: u64, path: &str, flags: u32) {
        self.file(key, t_ms, "open", path, None, flags, 0o644, 3);
    }

    pub fn chmod(&mut self, key: u64, t_ms: u64, path: &str, mode: u32) {
        self.file(key, t_ms, "chmod", path, None, 0, mode, 0);
    }

    pub fn rename(&mut self, key: u64, t_ms: u64, from: &str, to: &str) {
        self.file(key, t_ms, "rename", from, Some(to), 0, 0, 0);
    }

    #[allow(clippy::too_many_arguments)]
    fn file(
        &mut self,
        key: u64,
        t_ms: u64,
        op: &'static str,
        path: &str,
        path2: Option<&str>,
        flags: u32,
        mode: u32,
        ret: i64,
    ) {
        let p = self.proc(key);
        self.events.push(Event::File {
            ts: t_ms * MS,
            p,
            op,
            path: path.to_string(),
            path2: path2.map(str::to_string),
            flags,
            mode,
            ret,
            opened: None,
        });
    }

    /// An open whose path buffer said `passed` while the kernel opened
    /// `opened`: the process rewrote it during the syscall.
    pub fn open_raced(&mut self, key: u64, t_ms: u64, passed: &str, opened: &str, flags: u32) {
        self.open(key, t_ms, passed, flags);
        if let Some(Event::File { opened: o, .. }) = self.events.last_mut() {
            *o = Some(opened.to_string());
        }
    }

    /// A successful TCP connect to `addr:port`.
    pub fn connect(&mut self, key: u64, t_ms: u64, addr: &str, port: u16) {
        let p = self.proc(key);
        self.seq += 1;
        self.events.push(Event::Connect {
            ts: t_ms * MS,
            p,
            fd: 5,
            addr: addr.to_string(),
            port,
            local_port: 40_000 + self.seq as u16,
        });
    }

    /// One LLM call by `agent` at `t_ms`: a new TLS connection to
    /// [`LLM_ADDR`] carrying the request (the agent's history plus this
    /// turn's tool results) and a JSON response 100 ms later with the
    /// turn's text and tool calls. Returns the response time in ms.
    pub fn llm(&mut self, agent: u64, t_ms: u64, turn: Turn) -> u64 {
        let p = self.proc(agent);
        let history = match self.histories.iter_mut().find(|(k, _)| *k == agent) {
            Some((_, h)) => h,
            None => {
                let prompt = self.prompt.as_deref().unwrap_or("Please do the task.");
                self.histories
                    .push((agent, vec![json!({"role": "user", "content": prompt})]));
                &mut self.histories.last_mut().unwrap().1
            }
        };
        if !turn.results.is_empty() {
            let results: Vec<Value> = turn
                .results
                .iter()
                .map(
                    |(id, text)| json!({"type": "tool_result", "tool_use_id": id, "content": text}),
                )
                .collect();
            history.push(json!({"role": "user", "content": results}));
        }
        let request =
            json!({"model": "claude-test", "max_tokens": 512, "messages": history.clone()});
        let mut content = vec![json!({"type": "text", "text": turn.text})];
        for (id, name, input) in &turn.tools {
            content.push(json!({"type": "tool_use", "id": id, "name": name, "input": input}));
        }
        history.push(json!({"role": "assistant", "content": content.clone()}));
        self.calls += 1;
        let response = json!({
            "id": format!("msg_{}", self.calls), "type": "message", "role": "assistant",
            "model": "claude-test", "content": content,
            "stop_reason": if turn.tools.is_empty() { "end_turn" } else { "tool_use" },
            "usage": {"input_tokens": turn.input_tokens, "output_tokens": 20},
        });
        let body = request.to_string();
        let req = format!(
            "POST /v1/messages HTTP/1.1\r\nHost: api.anthropic.com\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let body = response.to_string();
        let mut resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if turn.cut {
            resp.truncate(resp.len() - body.len() / 2);
        }
        self.next_ssl += 0x100;
        let (ssl, fd) = (self.next_ssl, 7);
        let ts = t_ms * MS;
        self.seq += 1;
        self.events.push(Event::Connect {
            ts: ts - 2 * MS,
            p: p.clone(),
            fd,
            addr: LLM_ADDR.0.into(),
            port: LLM_ADDR.1,
            local_port: 40_000 + self.seq as u16,
        });
        self.events.push(Event::Sni {
            ts: ts - MS,
            p: p.clone(),
            ssl,
            fd,
            host: "api.anthropic.com".into(),
        });
        for (at, write, data) in [(ts, true, req), (ts + 100 * MS, false, resp)] {
            self.seq += 1;
            self.events.push(Event::Tls {
                ts: at,
                p: p.clone(),
                ssl,
                fd,
                write,
                seq: self.seq,
                data: data.into_bytes(),
            });
        }
        t_ms + 100
    }

    /// Writes the capture into `dir` (fresh or holding an earlier capture),
    /// recorded with redaction on, as `agentsight record` does by default.
    pub fn write(self, dir: &Path) -> Result<Manifest> {
        write_capture(dir, "scene", ANCHOR, |sink| {
            let mut b = RowBuffers::default();
            fn subject(ts: u64, p: &Proc) -> Subject<'_> {
                Subject {
                    ts_ns: ts,
                    pid: p.pid,
                    tid: p.pid,
                    proc_key: p.key,
                    comm: &p.comm,
                    uid: 1000,
                }
            }
            for e in &self.events {
                match e {
                    Event::Fork { ts, p, parent } => b.process.push(&ProcessRow {
                        subject: subject(*ts, p),
                        kind: "fork",
                        ppid: parent.map(|(pid, _)| pid),
                        parent_key: parent.map(|(_, k)| k),
                        ..Default::default()
                    }),
                    Event::Exec {
                        ts,
                        p,
                        parent,
                        argv,
                        cwd,
                    } => {
                        let program = if argv[0].starts_with('/') {
                            argv[0].clone()
                        } else {
                            format!("/usr/bin/{}", argv[0])
                        };
                        b.process.push(&ProcessRow {
                            subject: subject(*ts, p),
                            kind: "exec",
                            ppid: parent.map(|(pid, _)| pid),
                            parent_key: parent.map(|(_, k)| k),
                            filename: Some(&program),
                            argv: Some(argv.iter().map(String::as_str).collect()),
                            argv_truncated: Some(false),
                            cwd: Some(cwd),
                            ..Default::default()
                        })
                    }
                    Event::Exit { ts, p, code } => b.process.push(&ProcessRow {
                        subject: subject(*ts, p),
                        kind: "exit",
                        exit_code: Some(*code),
                        wait_status: Some(code << 8),
                        ..Default::default()
                    }),
                    Event::File {
                        ts,
                        p,
                        op,
                        path,
                        path2,
                        flags,
                        mode,
                        ret,
                        opened,
                    } => b.file.push(&FileRow {
                        subject: subject(*ts, p),
                        op,
                        path,
                        path2: path2.as_deref(),
                        resolved_path: (*op == "open")
                            .then(|| opened.as_deref().unwrap_or(path.as_str())),
                        dfd: -100,
                        flags: *flags,
                        mode: *mode,
                        ret: *ret,
                    }),
                    Event::Connect {
                        ts,
                        p,
                        fd,
                        addr,
                        port,
                        local_port,
                    } => b.net.push(&NetRow {
                        subject: subject(*ts, p),
                        op: "connect",
                        fd: *fd,
                        ret: 0,
                        family: "inet",
                        local_addr: Some("127.0.0.1"),
                        local_port: Some(*local_port),
                        remote_addr: Some(addr),
                        remote_port: Some(*port),
                        unix_path: None,
                    }),
                    Event::Sni {
                        ts,
                        p,
                        ssl,
                        fd,
                        host,
                    } => {
                        b.tls_events.push(&TlsEventRow {
                            subject: subject(*ts, p),
                            event: "set_fd",
                            ssl_ptr: *ssl,
                            fd: Some(*fd),
                            value: None,
                        });
                        b.tls_events.push(&TlsEventRow {
                            subject: subject(*ts, p),
                            event: "sni",
                            ssl_ptr: *ssl,
                            fd: None,
                            value: Some(host),
                        })
                    }
                    Event::Tls {
                        ts,
                        p,
                        ssl,
                        fd,
                        write,
                        seq,
                        data,
                    } => b.tls_chunks.push(&TlsChunkRow {
                        subject: subject(*ts, p),
                        direction: if *write { "write" } else { "read" },
                        func: if *write { "SSL_write" } else { "SSL_read" },
                        ssl_ptr: *ssl,
                        fd: Some(*fd),
                        call_seq: *seq,
                        chunk_index: 0,
                        chunk_offset: 0,
                        call_len: data.len() as u64,
                        lost_bytes: 0,
                        redacted: false,
                        data,
                    }),
                }
            }
            sink(&mut b)
        })?;
        let mut m = Manifest::load(dir)?;
        m.options.redact = true;
        m.store(dir)?;
        Ok(m)
    }
}
