//! Writes a large capture of realistic LLM agent traffic, for the
//! reconstruction benchmark (examples/bench_reconstruct.rs):
//!
//!     cargo run -p agentsight-analyzer --example gen_llm_capture -- DIR [--payload-mb 1100] [--seed N]
//!
//! Agent processes run conversations one after another over keep-alive TLS
//! connections (several exchanges per connection, SSL* pointers reused after
//! SSL_free as malloc does). Every turn resends the whole conversation, so
//! request bodies grow from ~5 KB to up to ~300 KB with tool_use/tool_result
//! content. Responses mix Anthropic Messages SSE, OpenAI Chat Completions
//! SSE, OpenAI Responses SSE and non-streaming JSON, chunked (one HTTP chunk
//! per SSE event) or with Content-Length, some gzip-compressed. Every
//! SSL_write/SSL_read is split into 16 KiB chunks as the recorder does.
//!
//! The expected counts go to `DIR.expected.json` (next to the capture, not
//! inside it). Output is deterministic for a given seed.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::{json, Value};

use agentsight_analyzer::capture::rows::{NetRow, RowBuffers, Subject, TlsChunkRow, TlsEventRow};
use agentsight_analyzer::capture::{prepare_output_dir, CaptureWriter, Manifest, SealPolicy};
use agentsight_analyzer::schema::proc_key;
use agentsight_testkit::{Rng, ANCHOR, SEC};

/// Plaintext bytes per `tls_chunks` row (TLS_CHUNK_CAP in bpf/agentsight.h).
const CHUNK: usize = 16 * 1024;
/// Flush the row buffers into the writer every this many payload bytes.
const FLUSH_BYTES: usize = 32 << 20;
const PROCESSES: usize = 32;
const MS: u64 = 1_000_000;
const US: u64 = 1_000;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Api {
    Anthropic,
    Chat,
    Responses,
}

impl Api {
    fn host(self) -> &'static str {
        match self {
            Api::Anthropic => "api.anthropic.com",
            Api::Chat | Api::Responses => "api.openai.com",
        }
    }
}

const WORDS: &[&str] = &[
    "the",
    "function",
    "returns",
    "error",
    "when",
    "input",
    "is",
    "empty",
    "we",
    "should",
    "check",
    "module",
    "tests",
    "pass",
    "after",
    "this",
    "change",
    "config",
    "parser",
    "value",
    "file",
    "let",
    "me",
    "look",
    "at",
    "handler",
    "request",
    "response",
    "cache",
    "update",
    "build",
    "fails",
    "because",
    "missing",
    "import",
    "type",
    "mismatch",
    "in",
    "struct",
    "field",
    "now",
    "run",
    "suite",
    "again",
    "fix",
    "edge",
    "case",
    "for",
    "null",
    "pointer",
    "stream",
    "buffer",
    "offset",
    "length",
    "decode",
    "encode",
    "schema",
    "column",
    "query",
    "index",
    "retry",
    "timeout",
    "connection",
    "server",
    "client",
    "token",
    "usage",
    "limit",
    "and",
    "then",
    "also",
    "but",
    "so",
    "it",
    "looks",
    "like",
    "done",
    "next",
    "step",
];
const MODELS: &[(Api, &str)] = &[
    (Api::Anthropic, "claude-sonnet-4-5-20250929"),
    (Api::Anthropic, "claude-opus-4-1-20250805"),
    (Api::Chat, "gpt-4.1-2025-04-14"),
    (Api::Chat, "gpt-4o-2024-11-20"),
    (Api::Responses, "gpt-5-codex"),
    (Api::Responses, "gpt-5-2025-08-07"),
];
const TOOLS: &[(&str, &str)] = &[
    (
        "read_file",
        "Read a file from the workspace and return its contents with line numbers.",
    ),
    (
        "bash",
        "Run a shell command in the workspace and return stdout and stderr.",
    ),
    (
        "edit_file",
        "Replace an exact string in a file with a new string.",
    ),
    ("grep", "Search the workspace for a regular expression."),
    ("list_dir", "List the entries of a directory."),
];
const COMMS: &[&str] = &["claude", "node", "python3", "codex", "aider"];
const B62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn ident(rng: &mut Rng, n: usize) -> String {
    (0..n).map(|_| B62[rng.index(B62.len())] as char).collect()
}

fn sentence(rng: &mut Rng) -> String {
    let n = 6 + rng.index(14);
    let mut s = String::new();
    for i in 0..n {
        let w = WORDS[rng.index(WORDS.len())];
        if i == 0 {
            s.push_str(&w[..1].to_ascii_uppercase());
            s.push_str(&w[1..]);
        } else {
            s.push(' ');
            s.push_str(w);
        }
    }
    s.push_str(if rng.below(8) == 0 { "?" } else { "." });
    s
}

fn paragraph(rng: &mut Rng, sentences: usize) -> String {
    let mut s = String::new();
    for i in 0..sentences {
        if i > 0 {
            s.push_str(if rng.below(4) == 0 { "\n\n" } else { " " });
        }
        s.push_str(&sentence(rng));
    }
    s
}

/// Source-code-like text (quotes, tabs, backslashes, non-ASCII) of about `len` bytes.
fn code_text(rng: &mut Rng, len: usize) -> String {
    let mut s = String::with_capacity(len + 128);
    let mut line = 1;
    while s.len() < len {
        let a = WORDS[rng.index(WORDS.len())];
        let b = WORDS[rng.index(WORDS.len())];
        let n = rng.below(10_000);
        let l = match rng.below(8) {
            0 => format!("{line:>6}\tfn {a}_{b}(input: &str) -> Result<usize, Error> {{\n"),
            1 => format!("{line:>6}\t    let {a} = \"{b} {n}\\n\".to_string(); // {a} → {b}\n"),
            2 => format!(
                "{line:>6}\t    if {a}.len() > {n} {{ return Err(Error::new(\"{b}\")); }}\n"
            ),
            3 => format!("{line:>6}\t    // {}\n", sentence(rng)),
            4 => format!("{line:>6}\t}}\n"),
            5 => format!("{line:>6}\t    {a}.{b}(&mut self.{a}_{n}, {n})?;\n"),
            6 => format!("{line:>6}\t#[test]\n"),
            _ => format!("{line:>6}\t    assert_eq!({a}_{b}(\"{a}\"), Ok({n}));\n"),
        };
        s.push_str(&l);
        line += 1;
    }
    s
}

fn tools_json(api: Api) -> Value {
    let schema = |name: &str| -> Value {
        match name {
            "bash" => json!({"type": "object", "properties": {
                "command": {"type": "string", "description": "The command to run."},
                "timeout": {"type": "number", "description": "Timeout in milliseconds (max 600000)."}},
                "required": ["command"]}),
            "edit_file" => json!({"type": "object", "properties": {
                "path": {"type": "string", "description": "Absolute path of the file to edit."},
                "old_string": {"type": "string", "description": "Text to replace (must be unique in the file)."},
                "new_string": {"type": "string", "description": "Replacement text."}},
                "required": ["path", "old_string", "new_string"]}),
            "grep" => json!({"type": "object", "properties": {
                "pattern": {"type": "string", "description": "Regular expression."},
                "path": {"type": "string", "description": "Directory to search."}},
                "required": ["pattern"]}),
            _ => json!({"type": "object", "properties": {
                "path": {"type": "string", "description": "Path relative to the workspace root."}},
                "required": ["path"]}),
        }
    };
    Value::Array(
        TOOLS
            .iter()
            .map(|(n, d)| match api {
                Api::Anthropic => json!({"name": n, "description": d, "input_schema": schema(n)}),
                Api::Chat => json!({"type": "function", "function": {
                    "name": n, "description": d, "parameters": schema(n)}}),
                Api::Responses => json!({"type": "function", "name": n, "description": d,
                    "parameters": schema(n), "strict": false}),
            })
            .collect(),
    )
}

struct ToolUse {
    id: String,
    name: &'static str,
    args: String,
}

fn tool_use(rng: &mut Rng, api: Api) -> ToolUse {
    let (name, _) = TOOLS[rng.index(TOOLS.len())];
    let file = format!(
        "/home/dev/project/src/{}_{}/{}.rs",
        WORDS[rng.index(WORDS.len())],
        rng.below(50),
        WORDS[rng.index(WORDS.len())]
    );
    let edit_lens = (150 + rng.index(300), 150 + rng.index(300));
    let args = match name {
        "bash" => json!({"command": format!("cargo test -p {} -- --nocapture 2>&1 | tail -n {}",
            WORDS[rng.index(WORDS.len())], 20 + rng.below(200))}),
        "edit_file" => json!({"path": file, "old_string": code_text(rng, edit_lens.0),
            "new_string": code_text(rng, edit_lens.1)}),
        "grep" => {
            json!({"pattern": format!("fn {}_\\w+", WORDS[rng.index(WORDS.len())]), "path": "src"})
        }
        _ => json!({"path": file}),
    };
    let id = match api {
        Api::Anthropic => format!("toolu_01{}", ident(rng, 22)),
        Api::Chat | Api::Responses => format!("call_{}", ident(rng, 24)),
    };
    ToolUse {
        id,
        name,
        args: args.to_string(),
    }
}

/// Splits a string into token-like pieces of 1-24 bytes (on char boundaries).
fn pieces<'a>(rng: &mut Rng, s: &'a str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let max = if rng.below(3) == 0 { 24 } else { 6 };
        let mut j = (i + 1 + rng.index(max)).min(s.len());
        while !s.is_char_boundary(j) {
            j += 1;
        }
        out.push(&s[i..j]);
        i = j;
    }
    out
}

fn js(s: &str) -> String {
    serde_json::to_string(s).expect("string serialises")
}

/// Response body under construction: SSE events or one JSON document,
/// framed as HTTP chunks (one per event) and optionally gzip-compressed.
struct Body {
    chunked: bool,
    gzip: Option<GzEncoder<Vec<u8>>>,
    /// Wire bytes of the body so far.
    wire: Vec<u8>,
}

impl Body {
    fn new(chunked: bool, gzip: bool) -> Self {
        Body {
            chunked,
            gzip: gzip.then(|| GzEncoder::new(Vec::new(), Compression::default())),
            wire: Vec::new(),
        }
    }

    fn frame(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.chunked {
            self.wire
                .extend_from_slice(format!("{:x}\r\n", bytes.len()).as_bytes());
            self.wire.extend_from_slice(bytes);
            self.wire.extend_from_slice(b"\r\n");
        } else {
            self.wire.extend_from_slice(bytes);
        }
    }

    /// One unit the server sends at once (an SSE event).
    fn send(&mut self, bytes: &[u8]) {
        match self.gzip.as_mut() {
            Some(gz) => {
                gz.write_all(bytes).expect("gzip to memory");
                gz.flush().expect("gzip to memory");
                let out = std::mem::take(gz.get_mut());
                self.frame(&out);
            }
            None => self.frame(bytes),
        }
    }

    fn event(&mut self, name: Option<&str>, data: &str) {
        let mut e = String::with_capacity(data.len() + 32);
        if let Some(n) = name {
            e.push_str("event: ");
            e.push_str(n);
            e.push('\n');
        }
        e.push_str("data: ");
        e.push_str(data);
        e.push_str("\n\n");
        self.send(e.as_bytes());
    }

    fn finish(mut self) -> Vec<u8> {
        if let Some(gz) = self.gzip.take() {
            let rest = gz.finish().expect("gzip to memory");
            self.frame(&rest);
        }
        if self.chunked {
            self.wire.extend_from_slice(b"0\r\n\r\n");
        }
        self.wire
    }
}

struct Conv {
    id: u64,
    api: Api,
    model: &'static str,
    stream: bool,
    turns: u32,
    turn: u32,
    /// Bytes of tool output added per turn (on average).
    growth: usize,
    system: String,
    tools: Value,
    history: Vec<Value>,
}

/// One generated exchange: request bytes (head, body) and response bytes.
struct Exchange {
    head: Vec<u8>,
    body: Vec<u8>,
    response: Vec<u8>,
    streaming: bool,
    gzip: bool,
    output_tokens: u64,
}

impl Conv {
    fn new(g: &mut Gen) -> Conv {
        let id = g.conversations;
        g.conversations += 1;
        let rng = &mut g.rng;
        let (api, model) = MODELS[rng.index(MODELS.len())];
        let turns = 10 + rng.below(31) as u32;
        let final_size = 100_000 + rng.index(200_001);
        let growth = (final_size - 5_000) / turns as usize;
        let mut system = format!(
            "You are a coding agent (session {id}, {}). Work in /home/dev/project.\n",
            ident(rng, 12)
        );
        while system.len() < 2_600 {
            system.push_str(&sentence(rng));
            system.push(if rng.below(5) == 0 { '\n' } else { ' ' });
        }
        let n = 2 + rng.index(6);
        let task = format!("Task {id}: {}", paragraph(rng, n));
        let history = match api {
            Api::Anthropic => {
                vec![json!({"role": "user", "content": [{"type": "text", "text": task}]})]
            }
            Api::Chat => vec![
                json!({"role": "system", "content": system}),
                json!({"role": "user", "content": task}),
            ],
            Api::Responses => vec![json!({"type": "message", "role": "user",
                "content": [{"type": "input_text", "text": task}]})],
        };
        Conv {
            id,
            api,
            model,
            stream: rng.below(100) < 85,
            turns,
            turn: 0,
            growth,
            system,
            tools: tools_json(api),
            history,
        }
    }

    fn done(&self) -> bool {
        self.turn >= self.turns
    }

    fn request_body(&self) -> Vec<u8> {
        let v = match self.api {
            Api::Anthropic => json!({
                "model": self.model,
                "max_tokens": 32000,
                "system": [{"type": "text", "text": self.system,
                    "cache_control": {"type": "ephemeral"}}],
                "tools": self.tools,
                "messages": self.history,
                "metadata": {"user_id": format!("user_session_{}", self.id)},
                "stream": self.stream,
            }),
            Api::Chat => {
                let mut v = json!({
                    "model": self.model,
                    "messages": self.history,
                    "tools": self.tools,
                    "tool_choice": "auto",
                    "temperature": 0.2,
                    "stream": self.stream,
                });
                if self.stream {
                    v["stream_options"] = json!({"include_usage": true});
                }
                v
            }
            Api::Responses => json!({
                "model": self.model,
                "instructions": self.system,
                "input": self.history,
                "tools": self.tools,
                "tool_choice": "auto",
                "parallel_tool_calls": false,
                "reasoning": {"effort": "medium", "summary": "auto"},
                "store": false,
                "stream": self.stream,
                "include": ["reasoning.encrypted_content"],
                "prompt_cache_key": format!("conv-{}", self.id),
            }),
        };
        serde_json::to_vec(&v).expect("json")
    }

    fn request_head(&self, len: usize) -> Vec<u8> {
        let h = match self.api {
            Api::Anthropic => format!(
                "POST /v1/messages?beta=true HTTP/1.1\r\nhost: api.anthropic.com\r\n\
                 connection: keep-alive\r\nAccept: application/json\r\n\
                 X-Stainless-Lang: js\r\nX-Stainless-Package-Version: 0.60.0\r\n\
                 anthropic-version: 2023-06-01\r\nanthropic-beta: fine-grained-tool-streaming-2025-05-14\r\n\
                 x-api-key: [REDACTED]\r\ncontent-type: application/json\r\n\
                 user-agent: claude-cli/1.0.98 (external, cli)\r\naccept-encoding: gzip, deflate\r\n\
                 content-length: {len}\r\n\r\n"
            ),
            Api::Chat => format!(
                "POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\n\
                 Accept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\nAccept: application/json\r\n\
                 Content-Type: application/json\r\nUser-Agent: OpenAI/Python 1.99.1\r\n\
                 X-Stainless-Lang: python\r\nAuthorization: Bearer [REDACTED]\r\n\
                 Content-Length: {len}\r\n\r\n"
            ),
            Api::Responses => format!(
                "POST /v1/responses HTTP/1.1\r\nhost: api.openai.com\r\n\
                 authorization: Bearer [REDACTED]\r\ncontent-type: application/json\r\n\
                 accept: text/event-stream\r\nopenai-beta: responses=experimental\r\n\
                 session_id: {}\r\nuser-agent: codex_cli_rs/0.36.0\r\ncontent-length: {len}\r\n\r\n",
                self.id
            ),
        };
        h.into_bytes()
    }

    /// Generates the next call of this conversation and extends the history.
    fn exchange(&mut self, g: &mut Gen) -> Exchange {
        let last = self.turn + 1 == self.turns;
        let body = self.request_body();
        let head = self.request_head(body.len());
        let rng = &mut g.rng;
        let n = 1 + rng.index(6);
        let text = paragraph(rng, n);
        let tool = (!last && rng.below(10) != 0).then(|| tool_use(rng, self.api));
        let input_tokens = body.len() as u64 / 4;
        let output_tokens =
            1 + (text.len() + tool.as_ref().map_or(0, |t| t.args.len())) as u64 / 4 + rng.below(40);
        let gzip = if self.stream {
            rng.below(10) == 0
        } else {
            rng.below(10) < 6
        };
        let response = if self.stream {
            self.stream_response(rng, &text, tool.as_ref(), input_tokens, output_tokens, gzip)
        } else {
            self.json_response(rng, &text, tool.as_ref(), input_tokens, output_tokens, gzip)
        };
        // The next request resends everything plus the answer and the tool result.
        let result_len = self.growth / 2 + rng.index(self.growth + 1);
        match self.api {
            Api::Anthropic => {
                let mut content = vec![json!({"type": "text", "text": text})];
                if let Some(t) = &tool {
                    let input: Value = serde_json::from_str(&t.args).expect("args");
                    content.push(
                        json!({"type": "tool_use", "id": t.id, "name": t.name, "input": input}),
                    );
                }
                self.history
                    .push(json!({"role": "assistant", "content": content}));
                if !last {
                    self.history.push(match &tool {
                        Some(t) => json!({"role": "user", "content": [{"type": "tool_result",
                            "tool_use_id": t.id, "content": code_text(rng, result_len)}]}),
                        None => json!({"role": "user", "content": [{"type": "text",
                            "text": format!("{}\n\n{}", paragraph(rng, 2), code_text(rng, result_len))}]}),
                    });
                }
            }
            Api::Chat => {
                let mut m = json!({"role": "assistant", "content": text});
                if let Some(t) = &tool {
                    m["tool_calls"] = json!([{"id": t.id, "type": "function",
                        "function": {"name": t.name, "arguments": t.args}}]);
                }
                self.history.push(m);
                if !last {
                    self.history.push(match &tool {
                        Some(t) => json!({"role": "tool", "tool_call_id": t.id,
                            "content": code_text(rng, result_len)}),
                        None => json!({"role": "user",
                            "content": format!("{}\n\n{}", paragraph(rng, 2), code_text(rng, result_len))}),
                    });
                }
            }
            Api::Responses => {
                self.history
                    .push(json!({"type": "message", "role": "assistant",
                    "content": [{"type": "output_text", "text": text, "annotations": []}]}));
                if let Some(t) = &tool {
                    self.history
                        .push(json!({"type": "function_call", "call_id": t.id,
                        "name": t.name, "arguments": t.args}));
                }
                if !last {
                    self.history.push(match &tool {
                        Some(t) => json!({"type": "function_call_output", "call_id": t.id,
                            "output": code_text(rng, result_len)}),
                        None => json!({"type": "message", "role": "user", "content": [{"type": "input_text",
                            "text": format!("{}\n\n{}", paragraph(rng, 2), code_text(rng, result_len))}]}),
                    });
                }
            }
        }
        self.turn += 1;
        Exchange {
            head,
            body,
            response,
            streaming: self.stream,
            gzip,
            output_tokens,
        }
    }

    fn response_head(&self, rng: &mut Rng, stream: bool, gzip: bool, len: Option<usize>) -> String {
        let mut h = String::from("HTTP/1.1 200 OK\r\nDate: Tue, 14 Nov 2023 22:13:20 GMT\r\n");
        h.push_str(if stream {
            "Content-Type: text/event-stream; charset=utf-8\r\nCache-Control: no-cache\r\n"
        } else {
            "Content-Type: application/json\r\n"
        });
        match len {
            Some(n) => h.push_str(&format!("Content-Length: {n}\r\n")),
            None => h.push_str("Transfer-Encoding: chunked\r\n"),
        }
        h.push_str("Connection: keep-alive\r\n");
        match self.api {
            Api::Anthropic => h.push_str(&format!(
                "request-id: req_011C{}\r\nanthropic-organization-id: {}\r\nvia: 1.1 google\r\n",
                ident(rng, 20),
                ident(rng, 8)
            )),
            _ => h.push_str(&format!(
                "x-request-id: req_{}\r\nopenai-processing-ms: {}\r\nopenai-version: 2020-10-01\r\n\
                 strict-transport-security: max-age=31536000; includeSubDomains; preload\r\n\
                 cf-cache-status: DYNAMIC\r\nServer: cloudflare\r\n",
                ident(rng, 32),
                100 + rng.below(3000)
            )),
        }
        if gzip {
            h.push_str("Content-Encoding: gzip\r\n");
        }
        h.push_str("\r\n");
        h
    }

    fn stream_response(
        &self,
        rng: &mut Rng,
        text: &str,
        tool: Option<&ToolUse>,
        input_tokens: u64,
        output_tokens: u64,
        gzip: bool,
    ) -> Vec<u8> {
        let mut out = self.response_head(rng, true, gzip, None).into_bytes();
        let mut b = Body::new(true, gzip);
        let model = self.model;
        match self.api {
            Api::Anthropic => {
                let id = format!("msg_01{}", ident(rng, 22));
                let cached = input_tokens * 9 / 10;
                b.event(Some("message_start"), &format!(
                    "{{\"type\":\"message_start\",\"message\":{{\"id\":\"{id}\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"{model}\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{{\"input_tokens\":{},\"cache_creation_input_tokens\":{},\"cache_read_input_tokens\":{cached},\"output_tokens\":1,\"service_tier\":\"standard\"}}}}}}",
                    input_tokens - cached, rng.below(2000)));
                b.event(Some("content_block_start"),
                    "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}");
                b.event(Some("ping"), "{\"type\": \"ping\"}");
                for p in pieces(rng, text) {
                    b.event(Some("content_block_delta"), &format!(
                        "{{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":{}}}}}", js(p)));
                }
                b.event(
                    Some("content_block_stop"),
                    "{\"type\":\"content_block_stop\",\"index\":0}",
                );
                if let Some(t) = tool {
                    b.event(Some("content_block_start"), &format!(
                        "{{\"type\":\"content_block_start\",\"index\":1,\"content_block\":{{\"type\":\"tool_use\",\"id\":\"{}\",\"name\":\"{}\",\"input\":{{}}}}}}",
                        t.id, t.name));
                    for p in pieces(rng, &t.args) {
                        b.event(Some("content_block_delta"), &format!(
                            "{{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{{\"type\":\"input_json_delta\",\"partial_json\":{}}}}}", js(p)));
                    }
                    b.event(
                        Some("content_block_stop"),
                        "{\"type\":\"content_block_stop\",\"index\":1}",
                    );
                }
                b.event(Some("message_delta"), &format!(
                    "{{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"{}\",\"stop_sequence\":null}},\"usage\":{{\"output_tokens\":{output_tokens}}}}}",
                    if tool.is_some() { "tool_use" } else { "end_turn" }));
                b.event(Some("message_stop"), "{\"type\":\"message_stop\"}");
            }
            Api::Chat => {
                let id = format!("chatcmpl-{}", ident(rng, 29));
                let fp = format!("fp_{}", ident(rng, 10));
                let pre = format!(
                    "{{\"id\":\"{id}\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"{model}\",\"system_fingerprint\":\"{fp}\",\"choices\":["
                );
                let chunk = |b: &mut Body, delta: &str, finish: &str| {
                    b.event(None, &format!(
                        "{pre}{{\"index\":0,\"delta\":{delta},\"logprobs\":null,\"finish_reason\":{finish}}}],\"usage\":null}}"));
                };
                chunk(
                    &mut b,
                    "{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}",
                    "null",
                );
                for p in pieces(rng, text) {
                    chunk(&mut b, &format!("{{\"content\":{}}}", js(p)), "null");
                }
                if let Some(t) = tool {
                    chunk(&mut b, &format!(
                        "{{\"tool_calls\":[{{\"index\":0,\"id\":\"{}\",\"type\":\"function\",\"function\":{{\"name\":\"{}\",\"arguments\":\"\"}}}}]}}",
                        t.id, t.name), "null");
                    for p in pieces(rng, &t.args) {
                        chunk(&mut b, &format!(
                            "{{\"tool_calls\":[{{\"index\":0,\"function\":{{\"arguments\":{}}}}}]}}", js(p)), "null");
                    }
                }
                chunk(
                    &mut b,
                    "{}",
                    if tool.is_some() {
                        "\"tool_calls\""
                    } else {
                        "\"stop\""
                    },
                );
                b.event(None, &format!(
                    "{{\"id\":\"{id}\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"{model}\",\"system_fingerprint\":\"{fp}\",\"choices\":[],\"usage\":{{\"prompt_tokens\":{input_tokens},\"completion_tokens\":{output_tokens},\"total_tokens\":{},\"prompt_tokens_details\":{{\"cached_tokens\":{},\"audio_tokens\":0}},\"completion_tokens_details\":{{\"reasoning_tokens\":0,\"audio_tokens\":0,\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}}}}}",
                    input_tokens + output_tokens, input_tokens / 2));
                b.event(None, "[DONE]");
            }
            Api::Responses => {
                let id = format!("resp_{}", ident(rng, 48));
                let msg_id = format!("msg_{}", ident(rng, 48));
                let mut seq = 0u64;
                let mut ev = |b: &mut Body, kind: &str, rest: &str| {
                    b.event(
                        Some(kind),
                        &format!("{{\"type\":\"{kind}\",\"sequence_number\":{seq},{rest}}}"),
                    );
                    seq += 1;
                };
                let resp = |status: &str, output: &str, usage: &str| {
                    format!(
                    "\"response\":{{\"id\":\"{id}\",\"object\":\"response\",\"created_at\":1700000000,\"status\":\"{status}\",\"model\":\"{model}\",\"output\":[{output}],\"parallel_tool_calls\":false,\"store\":false,\"usage\":{usage}}}")
                };
                ev(&mut b, "response.created", &resp("in_progress", "", "null"));
                ev(
                    &mut b,
                    "response.in_progress",
                    &resp("in_progress", "", "null"),
                );
                ev(&mut b, "response.output_item.added", &format!(
                    "\"output_index\":0,\"item\":{{\"id\":\"{msg_id}\",\"type\":\"message\",\"status\":\"in_progress\",\"content\":[],\"role\":\"assistant\"}}"));
                ev(&mut b, "response.content_part.added", &format!(
                    "\"item_id\":\"{msg_id}\",\"output_index\":0,\"content_index\":0,\"part\":{{\"type\":\"output_text\",\"annotations\":[],\"text\":\"\"}}"));
                for p in pieces(rng, text) {
                    ev(&mut b, "response.output_text.delta", &format!(
                        "\"item_id\":\"{msg_id}\",\"output_index\":0,\"content_index\":0,\"delta\":{},\"logprobs\":[]", js(p)));
                }
                ev(&mut b, "response.output_text.done", &format!(
                    "\"item_id\":\"{msg_id}\",\"output_index\":0,\"content_index\":0,\"text\":{},\"logprobs\":[]", js(text)));
                let msg_item = format!(
                    "{{\"id\":\"{msg_id}\",\"type\":\"message\",\"status\":\"completed\",\"content\":[{{\"type\":\"output_text\",\"annotations\":[],\"text\":{}}}],\"role\":\"assistant\"}}", js(text));
                ev(&mut b, "response.content_part.done", &format!(
                    "\"item_id\":\"{msg_id}\",\"output_index\":0,\"content_index\":0,\"part\":{{\"type\":\"output_text\",\"annotations\":[],\"text\":{}}}", js(text)));
                ev(
                    &mut b,
                    "response.output_item.done",
                    &format!("\"output_index\":0,\"item\":{msg_item}"),
                );
                let mut output = msg_item;
                if let Some(t) = tool {
                    let fc_id = format!("fc_{}", ident(rng, 48));
                    ev(&mut b, "response.output_item.added", &format!(
                        "\"output_index\":1,\"item\":{{\"id\":\"{fc_id}\",\"type\":\"function_call\",\"status\":\"in_progress\",\"arguments\":\"\",\"call_id\":\"{}\",\"name\":\"{}\"}}", t.id, t.name));
                    for p in pieces(rng, &t.args) {
                        ev(
                            &mut b,
                            "response.function_call_arguments.delta",
                            &format!(
                                "\"item_id\":\"{fc_id}\",\"output_index\":1,\"delta\":{}",
                                js(p)
                            ),
                        );
                    }
                    ev(
                        &mut b,
                        "response.function_call_arguments.done",
                        &format!(
                            "\"item_id\":\"{fc_id}\",\"output_index\":1,\"arguments\":{}",
                            js(&t.args)
                        ),
                    );
                    let fc_item = format!(
                        "{{\"id\":\"{fc_id}\",\"type\":\"function_call\",\"status\":\"completed\",\"arguments\":{},\"call_id\":\"{}\",\"name\":\"{}\"}}",
                        js(&t.args), t.id, t.name);
                    ev(
                        &mut b,
                        "response.output_item.done",
                        &format!("\"output_index\":1,\"item\":{fc_item}"),
                    );
                    output.push(',');
                    output.push_str(&fc_item);
                }
                let usage = format!(
                    "{{\"input_tokens\":{input_tokens},\"input_tokens_details\":{{\"cached_tokens\":{}}},\"output_tokens\":{output_tokens},\"output_tokens_details\":{{\"reasoning_tokens\":0}},\"total_tokens\":{}}}",
                    input_tokens * 8 / 10, input_tokens + output_tokens);
                ev(
                    &mut b,
                    "response.completed",
                    &resp("completed", &output, &usage),
                );
            }
        }
        out.extend_from_slice(&b.finish());
        out
    }

    fn json_response(
        &self,
        rng: &mut Rng,
        text: &str,
        tool: Option<&ToolUse>,
        input_tokens: u64,
        output_tokens: u64,
        gzip: bool,
    ) -> Vec<u8> {
        let v = match self.api {
            Api::Anthropic => {
                let mut content = vec![json!({"type": "text", "text": text})];
                if let Some(t) = tool {
                    let input: Value = serde_json::from_str(&t.args).expect("args");
                    content.push(
                        json!({"type": "tool_use", "id": t.id, "name": t.name, "input": input}),
                    );
                }
                json!({"id": format!("msg_01{}", ident(rng, 22)), "type": "message", "role": "assistant",
                    "model": self.model, "content": content,
                    "stop_reason": if tool.is_some() { "tool_use" } else { "end_turn" },
                    "stop_sequence": null,
                    "usage": {"input_tokens": input_tokens, "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": 0, "output_tokens": output_tokens}})
            }
            Api::Chat => {
                let mut msg = json!({"role": "assistant", "content": text, "refusal": null});
                if let Some(t) = tool {
                    msg["tool_calls"] = json!([{"id": t.id, "type": "function",
                        "function": {"name": t.name, "arguments": t.args}}]);
                }
                json!({"id": format!("chatcmpl-{}", ident(rng, 29)), "object": "chat.completion",
                    "created": 1_700_000_000u64, "model": self.model,
                    "choices": [{"index": 0, "message": msg, "logprobs": null,
                        "finish_reason": if tool.is_some() { "tool_calls" } else { "stop" }}],
                    "usage": {"prompt_tokens": input_tokens, "completion_tokens": output_tokens,
                        "total_tokens": input_tokens + output_tokens}})
            }
            Api::Responses => {
                let mut output = vec![
                    json!({"id": format!("msg_{}", ident(rng, 48)), "type": "message",
                    "status": "completed", "role": "assistant",
                    "content": [{"type": "output_text", "annotations": [], "text": text}]}),
                ];
                if let Some(t) = tool {
                    output.push(json!({"id": format!("fc_{}", ident(rng, 48)), "type": "function_call",
                        "status": "completed", "arguments": t.args, "call_id": t.id, "name": t.name}));
                }
                json!({"id": format!("resp_{}", ident(rng, 48)), "object": "response",
                    "created_at": 1_700_000_000u64, "status": "completed", "model": self.model,
                    "output": output,
                    "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens,
                        "total_tokens": input_tokens + output_tokens}})
            }
        };
        let doc = serde_json::to_vec_pretty(&v).expect("json");
        let chunked = rng.below(2) == 0;
        let mut b = Body::new(chunked, false);
        let payload = if gzip {
            let mut gz = GzEncoder::new(Vec::new(), Compression::default());
            gz.write_all(&doc).expect("gzip to memory");
            gz.finish().expect("gzip to memory")
        } else {
            doc
        };
        if chunked {
            // Servers flush compressed JSON in buffer-sized pieces.
            for piece in payload.chunks(4096 + rng.index(4096)) {
                b.send(piece);
            }
        } else {
            b.send(&payload);
        }
        let body = b.finish();
        let len = (!chunked).then_some(body.len());
        let mut out = self.response_head(rng, false, gzip, len).into_bytes();
        out.extend_from_slice(&body);
        out
    }
}

enum Action {
    Io {
        ts: u64,
        ssl_ptr: u64,
        write: bool,
        data: Vec<u8>,
    },
    Tls {
        ts: u64,
        ssl_ptr: u64,
        event: &'static str,
        value: Option<&'static str>,
    },
    Connect {
        ts: u64,
        host: &'static str,
    },
}

impl Action {
    fn ts(&self) -> u64 {
        match self {
            Action::Io { ts, .. } | Action::Tls { ts, .. } | Action::Connect { ts, .. } => *ts,
        }
    }
}

struct Conn {
    ssl_ptr: u64,
    host: &'static str,
    exchanges_left: u32,
}

struct Proc {
    pid: i32,
    key: u64,
    comm: &'static str,
    fd: i32,
    clock: u64,
    queue: VecDeque<Action>,
    conn: Option<Conn>,
    conv: Option<Conv>,
    free_ptrs: Vec<u64>,
    next_ptr: u64,
    finished: bool,
}

/// Global generator state and the counts the benchmark checks.
struct Gen {
    rng: Rng,
    target: u64,
    /// Payload bytes generated so far (all processes' queued calls).
    payload: u64,
    conversations: u64,
    calls: u64,
    streaming: u64,
    gzip: u64,
    per_api: [u64; 3],
    output_tokens: u64,
    connections: u64,
    min_request: usize,
    max_request: usize,
}

impl Proc {
    fn close_conn(&mut self) {
        if let Some(c) = self.conn.take() {
            self.clock += MS;
            self.queue.push_back(Action::Tls {
                ts: self.clock,
                ssl_ptr: c.ssl_ptr,
                event: "free",
                value: None,
            });
            self.free_ptrs.push(c.ssl_ptr);
        }
    }

    fn open_conn(&mut self, g: &mut Gen, host: &'static str) {
        // malloc hands the most recently freed block back first.
        let ssl_ptr = self.free_ptrs.pop().unwrap_or_else(|| {
            self.next_ptr += 0x1c40;
            self.next_ptr
        });
        g.connections += 1;
        self.clock += MS;
        self.queue.push_back(Action::Connect {
            ts: self.clock,
            host,
        });
        self.clock += 20 * MS + g.rng.below(40) * MS;
        self.queue.push_back(Action::Tls {
            ts: self.clock,
            ssl_ptr,
            event: "set_fd",
            value: None,
        });
        self.queue.push_back(Action::Tls {
            ts: self.clock + US,
            ssl_ptr,
            event: "sni",
            value: Some(host),
        });
        self.clock += 30 * MS + g.rng.below(60) * MS;
        self.conn = Some(Conn {
            ssl_ptr,
            host,
            exchanges_left: 1 + g.rng.below(8) as u32,
        });
    }

    /// Queues the next actions; marks the process finished when the payload
    /// target is reached and its conversation is over.
    fn refill(&mut self, g: &mut Gen) {
        while self.queue.is_empty() && !self.finished {
            let mut conv = match self.conv.take() {
                Some(c) => c,
                None if g.payload >= g.target => {
                    self.close_conn();
                    self.finished = true;
                    return;
                }
                None => {
                    self.clock += 500 * MS + g.rng.below(8_000) * MS;
                    Conv::new(g)
                }
            };
            let host = conv.api.host();
            if self
                .conn
                .as_ref()
                .is_some_and(|c| c.host != host || c.exchanges_left == 0)
            {
                self.close_conn();
            }
            if self.conn.is_none() {
                self.open_conn(g, host);
            }
            let ex = conv.exchange(g);
            self.queue_exchange(g, ex, conv.api);
            if !conv.done() {
                self.conv = Some(conv);
            }
        }
    }

    fn queue_exchange(&mut self, g: &mut Gen, ex: Exchange, api: Api) {
        let rng = &mut g.rng;
        g.calls += 1;
        g.streaming += u64::from(ex.streaming);
        g.gzip += u64::from(ex.gzip);
        g.per_api[api as usize] += 1;
        g.output_tokens += ex.output_tokens;
        g.min_request = g.min_request.min(ex.body.len());
        g.max_request = g.max_request.max(ex.body.len());
        g.payload += (ex.head.len() + ex.body.len() + ex.response.len()) as u64;
        let conn = self
            .conn
            .as_mut()
            .expect("connection opened for the exchange");
        conn.exchanges_left = conn.exchanges_left.saturating_sub(1);
        let ssl_ptr = conn.ssl_ptr;
        // Request: head and body in one write, or head then body (h11/httpx).
        if rng.below(2) == 0 {
            let mut all = ex.head;
            all.extend_from_slice(&ex.body);
            self.queue.push_back(Action::Io {
                ts: self.clock,
                ssl_ptr,
                write: true,
                data: all,
            });
        } else {
            self.queue.push_back(Action::Io {
                ts: self.clock,
                ssl_ptr,
                write: true,
                data: ex.head,
            });
            self.clock += 20 * US;
            self.queue.push_back(Action::Io {
                ts: self.clock,
                ssl_ptr,
                write: true,
                data: ex.body,
            });
        }
        // Response: read as it arrives; SSL_read returns at most one TLS
        // record (16 KiB), streams mostly much less.
        self.clock += if ex.streaming {
            300 * MS + rng.below(1_700) * MS
        } else {
            1_000 * MS + rng.below(9_000) * MS
        };
        let mut rest = &ex.response[..];
        while !rest.is_empty() {
            let want = if ex.streaming {
                match rng.below(100) {
                    0..70 => 64 + rng.index(960),
                    70..95 => 1024 + rng.index(3072),
                    _ => 4096 + rng.index(CHUNK - 4096 + 1),
                }
            } else {
                CHUNK
            };
            let n = want.min(rest.len());
            self.queue.push_back(Action::Io {
                ts: self.clock,
                ssl_ptr,
                write: false,
                data: rest[..n].to_vec(),
            });
            rest = &rest[n..];
            self.clock += if ex.streaming {
                MS + rng.below(30) * MS
            } else {
                100 * US
            };
        }
        // The agent runs the tool before its next call.
        self.clock += 20 * MS + rng.below(3_000) * MS;
    }
}

struct Args {
    dir: PathBuf,
    payload_mb: u64,
    seed: u64,
}

fn parse_args() -> Result<Args> {
    let usage = "usage: gen_llm_capture DIR [--payload-mb 1100] [--seed N]";
    let mut it = std::env::args().skip(1);
    let mut dir = None;
    let mut payload_mb = 1100;
    let mut seed = 0x5eed_1234_abcd_0001;
    while let Some(a) = it.next() {
        match a.as_str() {
            "--payload-mb" => payload_mb = it.next().context(usage)?.parse()?,
            "--seed" => seed = it.next().context(usage)?.parse()?,
            s if s.starts_with("--") => bail!("{usage}"),
            _ if dir.is_none() => dir = Some(PathBuf::from(a)),
            _ => bail!("{usage}"),
        }
    }
    let Some(dir) = dir else { bail!("{usage}") };
    if seed == 0 {
        bail!("--seed must not be 0 (xorshift)");
    }
    Ok(Args {
        dir,
        payload_mb,
        seed,
    })
}

/// `DIR.expected.json` for `DIR` (trailing slashes ignored).
fn expected_path(dir: &Path) -> PathBuf {
    let s = dir.to_string_lossy();
    PathBuf::from(format!("{}.expected.json", s.trim_end_matches('/')))
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let started = std::time::Instant::now();
    prepare_output_dir(&args.dir, true)?;
    let mut manifest = Manifest::new("llm-bench".into());
    manifest.boot_anchor = ANCHOR;
    manifest.started_at_ns = ANCHOR.realtime_ns;
    manifest.host.machine = "x86_64".into();
    manifest.host.hostname = "gen-llm-capture".into();
    manifest.targets.mode = "command".into();
    let mut writer = CaptureWriter::create(&args.dir, manifest, SealPolicy::default())?;

    let mut g = Gen {
        rng: Rng(args.seed),
        target: args.payload_mb << 20,
        payload: 0,
        conversations: 0,
        calls: 0,
        streaming: 0,
        gzip: 0,
        per_api: [0; 3],
        output_tokens: 0,
        connections: 0,
        min_request: usize::MAX,
        max_request: 0,
    };
    let mut procs: Vec<Proc> = (0..PROCESSES)
        .map(|i| {
            let pid = 4000 + 37 * i as i32;
            let start = 150 * SEC + i as u64 * 7 * MS;
            Proc {
                pid,
                key: proc_key(pid as u32, start),
                comm: COMMS[i % COMMS.len()],
                fd: 20 + (i % 5) as i32,
                clock: start + 200 * MS,
                queue: VecDeque::new(),
                conn: None,
                conv: None,
                free_ptrs: Vec::new(),
                next_ptr: 0x5600_0000_0000 + ((i as u64) << 28),
                finished: false,
            }
        })
        .collect();
    let mut heap = BinaryHeap::new();
    for (i, p) in procs.iter_mut().enumerate() {
        p.refill(&mut g);
        if let Some(a) = p.queue.front() {
            heap.push(Reverse((a.ts(), i)));
        }
    }

    let mut b = RowBuffers::default();
    let (mut call_seq, mut payload, mut chunk_rows, mut event_rows) = (0u64, 0u64, 0u64, 0u64);
    let mut last_ts = 0u64;
    while let Some(Reverse((_, i))) = heap.pop() {
        let p = &mut procs[i];
        let a = p.queue.pop_front().expect("queued action");
        // Processes queue ahead; the capture is written in time order.
        let ts = a.ts().max(last_ts);
        last_ts = ts;
        let subject = Subject {
            ts_ns: ts,
            pid: p.pid,
            tid: p.pid + 3,
            proc_key: p.key,
            comm: p.comm,
            uid: 1000,
        };
        match a {
            Action::Io {
                ssl_ptr,
                write,
                data,
                ..
            } => {
                call_seq += 1;
                payload += data.len() as u64;
                for (k, c) in data.chunks(CHUNK).enumerate() {
                    chunk_rows += 1;
                    b.tls_chunks.push(&TlsChunkRow {
                        subject,
                        direction: if write { "write" } else { "read" },
                        func: if write { "SSL_write_ex" } else { "SSL_read_ex" },
                        ssl_ptr,
                        fd: Some(p.fd),
                        call_seq,
                        chunk_index: k as u32,
                        chunk_offset: (k * CHUNK) as u64,
                        call_len: data.len() as u64,
                        lost_bytes: 0,
                        redacted: false,
                        data: c,
                    });
                }
            }
            Action::Tls {
                ssl_ptr,
                event,
                value,
                ..
            } => {
                event_rows += 1;
                b.tls_events.push(&TlsEventRow {
                    subject,
                    event,
                    ssl_ptr,
                    fd: (event == "set_fd").then_some(p.fd),
                    value,
                });
            }
            Action::Connect { host, .. } => {
                b.net.push(&NetRow {
                    subject,
                    op: "connect",
                    fd: p.fd,
                    ret: -115,
                    family: "inet",
                    local_addr: Some("10.0.0.5"),
                    local_port: Some(40000 + (call_seq % 20000) as u16),
                    remote_addr: Some(if host == "api.anthropic.com" {
                        "160.79.104.10"
                    } else {
                        "162.159.140.245"
                    }),
                    remote_port: Some(443),
                    unix_path: None,
                });
            }
        }
        if p.queue.is_empty() {
            p.refill(&mut g);
        }
        if let Some(a) = p.queue.front() {
            heap.push(Reverse((a.ts(), i)));
        }
        if b.tls_chunks.buffered_bytes() >= FLUSH_BYTES {
            for (table, batch) in b.take_batches()? {
                writer.write(table, &batch)?;
            }
            writer.flush()?;
        }
    }
    for (table, batch) in b.take_batches()? {
        writer.write(table, &batch)?;
    }
    let m = writer.close(ANCHOR.realtime_ns + (last_ts - ANCHOR.boottime_ns) as i64)?;
    let segments = m.segments.len();

    let expected = json!({
        "capture": args.dir.display().to_string(),
        "seed": args.seed,
        "payload_bytes": payload,
        "tls_chunks_rows": chunk_rows,
        "tls_events_rows": event_rows,
        "connections": g.connections,
        "http_exchanges": g.calls,
        "llm_calls": g.calls,
        "conversations": g.conversations,
        "streaming_calls": g.streaming,
        "gzip_responses": g.gzip,
        "calls_anthropic": g.per_api[Api::Anthropic as usize],
        "calls_openai_chat": g.per_api[Api::Chat as usize],
        "calls_openai_responses": g.per_api[Api::Responses as usize],
        "output_tokens": g.output_tokens,
        "min_request_body": g.min_request,
        "max_request_body": g.max_request,
        "segments": segments,
    });
    let path = expected_path(&args.dir);
    std::fs::write(&path, serde_json::to_string_pretty(&expected)? + "\n")
        .with_context(|| format!("writing {}", path.display()))?;
    println!(
        "payload {payload} bytes ({:.1} MiB) in {chunk_rows} tls_chunks rows (+{event_rows} tls_events rows), {segments} segments",
        payload as f64 / (1 << 20) as f64
    );
    println!(
        "{} LLM calls ({} streaming, {} gzip; anthropic {}, openai chat {}, openai responses {}) on {} connections",
        g.calls,
        g.streaming,
        g.gzip,
        g.per_api[0],
        g.per_api[1],
        g.per_api[2],
        g.connections
    );
    println!(
        "expected {} conversations, {} output tokens; request bodies {}..{} bytes",
        g.conversations, g.output_tokens, g.min_request, g.max_request
    );
    println!(
        "wrote {} and {} in {:.1}s",
        args.dir.display(),
        path.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
