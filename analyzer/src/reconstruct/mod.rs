//! Conversation reconstruction: raw TLS chunks -> connections -> HTTP/1.1
//! exchanges -> LLM calls -> messages, tool calls and conversations.
//!
//! Everything here is derived on demand from the raw tables of a session
//! (see [`provider`]); nothing is written back into a capture.

pub mod provider;
pub mod streams;
pub mod tables;
#[cfg(test)]
mod tests;
pub mod threads;

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use agentsight_decode::exchange_llm_call;
use agentsight_decode::http1::{parse_connection, Exchange, Head, Message};
use agentsight_decode::http2;
use agentsight_decode::llm::{ChatMessage, LlmCall, Part, Provider};
use streams::{ConnIdentity, Connection, Timeline};

/// Longest prefix kept in summary columns.
const SUMMARY_CHARS: usize = 200;

pub struct HttpRow {
    pub ts_ns: u64,
    pub conn: ConnIdentity,
    pub exchange_index: u32,
    pub http_version: &'static str,
    pub method: Option<String>,
    pub host: Option<String>,
    pub path: Option<String>,
    pub status: Option<u16>,
    pub request_headers: Option<String>,
    pub response_headers: Option<String>,
    pub request_content_type: Option<String>,
    pub response_content_type: Option<String>,
    pub response_content_encoding: Option<String>,
    pub request_body_len: u64,
    pub response_body_len: u64,
    pub request_body: Option<Vec<u8>>,
    pub response_body: Option<Vec<u8>>,
    pub request_end_ns: Option<u64>,
    pub response_first_byte_ns: Option<u64>,
    pub response_body_first_ns: Option<u64>,
    pub response_end_ns: Option<u64>,
    pub problems: Vec<&'static str>,
}

pub struct CallRow {
    pub ts_ns: u64,
    pub capture: Arc<str>,
    pub call_id: u64,
    pub conversation_id: u64,
    pub turn: u32,
    /// Leading request messages the conversation had already sent.
    pub repeated: usize,
    pub conn_id: u64,
    pub exchange_index: u32,
    pub pid: i32,
    pub proc_key: u64,
    pub comm: String,
    pub host: Option<String>,
    pub path: Option<String>,
    pub status: Option<u16>,
    pub ttfb_ns: Option<u64>,
    pub duration_ns: Option<u64>,
    /// Last response byte, or the request start when there is no response.
    pub end_ns: u64,
    pub call: LlmCall,
}

impl CallRow {
    /// Text of the request's last user message, shortened.
    pub fn request_summary(&self) -> Option<String> {
        self.call
            .request_messages
            .iter()
            .rev()
            .find(|m| m.role == "user" && !m.text.is_empty())
            .map(|m| shorten(&m.text))
    }
}

/// A message of `llm_messages`, pointing into its call (the request
/// histories repeat every turn: rows are built from the calls when the
/// table is scanned, not copied here).
#[derive(Clone)]
pub struct MessageRow {
    /// Index into [`Decoded::calls`].
    pub call: usize,
    /// Index into the call's request messages; `None` for the response.
    pub request_index: Option<usize>,
    pub new_in_conversation: bool,
}

pub struct ToolRow {
    pub ts_ns: u64,
    pub capture: Arc<str>,
    pub call_id: u64,
    pub conversation_id: u64,
    pub tool_index: u32,
    pub tool_call_id: String,
    pub name: String,
    pub arguments_json: String,
    pub result_call_id: Option<u64>,
    pub result_ns: Option<u64>,
    pub result_text: Option<String>,
    pub result_is_error: Option<bool>,
}

pub struct ConversationRow {
    pub ts_ns: u64,
    pub capture: Arc<str>,
    pub conversation_id: u64,
    pub pid: i32,
    pub proc_key: u64,
    pub comm: String,
    pub provider: Provider,
    pub model: Option<String>,
    pub calls: u32,
    pub end_ns: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_creation_tokens: u64,
    pub tool_calls: u32,
    pub first_user_text: Option<String>,
    pub final_text: String,
    pub partial_calls: u32,
}

/// Everything decoded from one session's TLS chunks.
#[derive(Default)]
pub struct Decoded {
    pub http: Vec<HttpRow>,
    pub calls: Vec<CallRow>,
    pub messages: Vec<MessageRow>,
    pub tools: Vec<ToolRow>,
    pub conversations: Vec<ConversationRow>,
}

impl Decoded {
    /// The message a [`MessageRow`] points at.
    pub fn message(&self, m: &MessageRow) -> Cow<'_, ChatMessage> {
        let call = &self.calls[m.call].call;
        match m.request_index {
            Some(i) => Cow::Borrowed(&call.request_messages[i]),
            None => Cow::Owned(call.response_message()),
        }
    }
}

fn shorten(s: &str) -> String {
    match s.char_indices().nth(SUMMARY_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

fn headers_json(h: &Head) -> String {
    let pairs: Vec<[String; 2]> = h
        .headers
        .iter()
        .map(|(n, v)| [n.clone(), String::from_utf8_lossy(v).into_owned()])
        .collect();
    serde_json::to_string(&pairs).unwrap_or_default()
}

fn message_problems(m: &Message, out: &mut Vec<&'static str>) {
    for (flag, name) in [
        (m.truncated, "truncated"),
        (m.gap, "gap"),
        (m.decode_error, "decode_error"),
        (m.framing_error, "framing_error"),
    ] {
        if flag && !out.contains(&name) {
            out.push(name);
        }
    }
}

/// Time of the last byte of `[start, end)`, or of `start` when empty.
fn last_byte_time(t: &Timeline<'_>, start: u64, end: u64) -> Option<u64> {
    t.time_at(end.max(start + 1) - 1)
}

/// Body bytes as the application saw them (decoded when encoded), moved out.
fn take_content(m: &mut Message) -> Vec<u8> {
    m.decoded_body
        .take()
        .unwrap_or_else(|| std::mem::take(&mut m.body))
}

fn http_row(
    c: &Connection,
    index: u32,
    ex: Exchange,
    req_t: &Timeline<'_>,
    resp_t: &Timeline<'_>,
) -> HttpRow {
    let Exchange {
        request: mut req_msg,
        interim,
        response: mut resp_msg,
    } = ex;
    let wire_len = |m: &Option<Message>| m.as_ref().map_or(0, |m| m.body.len() as u64);
    let (request_body_len, response_body_len) = (wire_len(&req_msg), wire_len(&resp_msg));
    let request_body = req_msg.as_mut().map(take_content);
    let response_body = resp_msg.as_mut().map(take_content);
    let req = req_msg.as_ref();
    let resp = resp_msg.as_ref();
    let mut problems = Vec::new();
    match req {
        Some(m) => message_problems(m, &mut problems),
        None => problems.push("no_request"),
    }
    match resp {
        Some(m) => message_problems(m, &mut problems),
        None => problems.push("no_response"),
    }
    let first_resp = resp.or(interim.first());
    let ts_ns = req
        .and_then(|m| req_t.time_at(m.start_offset))
        .or_else(|| first_resp.and_then(|m| resp_t.time_at(m.start_offset)))
        .unwrap_or(c.first_ts);
    let version = req.or(resp).map_or(1, |m| m.head.version);
    HttpRow {
        ts_ns,
        conn: c.id.clone(),
        exchange_index: index,
        http_version: match version {
            0 => "1.0",
            2 => "2",
            _ => "1.1",
        },
        method: req.and_then(|m| m.head.method.clone()),
        host: req.and_then(|m| m.head.header("host")),
        path: req.and_then(|m| m.head.path.clone()),
        status: resp.and_then(|m| m.head.status),
        request_headers: req.map(|m| headers_json(&m.head)),
        response_headers: resp.map(|m| headers_json(&m.head)),
        request_content_type: req.and_then(|m| m.head.header("content-type")),
        response_content_type: resp.and_then(|m| m.head.header("content-type")),
        response_content_encoding: resp.and_then(|m| m.head.header_list("content-encoding")),
        request_body_len,
        response_body_len,
        request_body,
        response_body,
        request_end_ns: req.and_then(|m| last_byte_time(req_t, m.start_offset, m.end_offset)),
        response_first_byte_ns: first_resp.and_then(|m| resp_t.time_at(m.start_offset)),
        response_body_first_ns: resp
            .filter(|m| m.body_offset < m.end_offset)
            .and_then(|m| resp_t.time_at(m.body_offset)),
        response_end_ns: resp.and_then(|m| last_byte_time(resp_t, m.start_offset, m.end_offset)),
        problems,
    }
}

const H2_PREFACE: &[u8] = http2::PREFACE;

/// HTTP rows and LLM calls of one connection.
fn decode_connection(c: &Connection, http: &mut Vec<HttpRow>, calls: &mut Vec<CallRow>) {
    let write = c.timeline(&c.write);
    let read = c.timeline(&c.read);
    // A recorded server writes responses: the requests are what it reads.
    let server_side = write.prefix(H2_PREFACE.len()).starts_with(b"HTTP/")
        || read.prefix(H2_PREFACE.len()) == H2_PREFACE;
    let (req_t, resp_t) = if server_side {
        (&read, &write)
    } else {
        (&write, &read)
    };
    let exchanges = if req_t.prefix(H2_PREFACE.len()) == H2_PREFACE {
        http2::parse_connection(&req_t.pieces(), &resp_t.pieces())
    } else {
        parse_connection(&req_t.pieces(), &resp_t.pieces(), true)
    };
    for (i, ex) in exchanges.into_iter().enumerate() {
        let call = exchange_llm_call(&ex);
        let row = http_row(c, i as u32, ex, req_t, resp_t);
        if let Some(call) = call {
            calls.push(CallRow {
                ts_ns: row.ts_ns,
                capture: c.id.capture.clone(),
                call_id: 0,
                conversation_id: 0,
                turn: 0,
                repeated: 0,
                conn_id: c.id.conn_id,
                exchange_index: i as u32,
                pid: c.id.pid,
                proc_key: c.id.proc_key,
                comm: c.id.comm.clone(),
                host: row.host.clone(),
                path: row.path.clone(),
                status: row.status,
                ttfb_ns: row
                    .response_body_first_ns
                    .zip(row.request_end_ns)
                    .map(|(a, b)| a.saturating_sub(b)),
                duration_ns: row.response_end_ns.map(|e| e.saturating_sub(row.ts_ns)),
                end_ns: row.response_end_ns.unwrap_or(row.ts_ns),
                call,
            });
        }
        http.push(row);
    }
}

/// Connections are independent: decode them on every core, each worker
/// taking the next connection and dropping it when done, so chunk data is
/// freed as the decode moves through the capture.
fn decode_all_connections(conns: Vec<Connection>) -> (Vec<HttpRow>, Vec<CallRow>) {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(conns.len())
        .max(1);
    let queue = Mutex::new(conns.into_iter());
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let (mut http, mut calls) = (Vec::new(), Vec::new());
                    loop {
                        let next = queue.lock().map(|mut q| q.next()).unwrap_or(None);
                        let Some(c) = next else { break };
                        decode_connection(&c, &mut http, &mut calls);
                    }
                    (http, calls)
                })
            })
            .collect();
        let (mut http, mut calls) = (Vec::new(), Vec::new());
        for h in handles {
            let (h_rows, c_rows) = h.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
            http.extend(h_rows);
            calls.extend(c_rows);
        }
        (http, calls)
    })
}

/// Decodes every connection: HTTP exchanges, then LLM calls grouped into
/// conversations with their messages and tool calls.
pub fn decode(conns: Vec<Connection>) -> Decoded {
    let mut out = Decoded::default();
    let (http, mut calls) = decode_all_connections(conns);
    out.http = http;
    out.http.sort_by_key(|r| {
        (
            r.conn.capture.clone(),
            r.ts_ns,
            r.conn.conn_id,
            r.exchange_index,
        )
    });
    calls.sort_by_key(|r| (r.capture.clone(), r.ts_ns, r.conn_id, r.exchange_index));
    let mut numbers: HashMap<Arc<str>, u64> = HashMap::new();
    for call in calls.iter_mut() {
        let n = numbers.entry(call.capture.clone()).or_insert(0);
        call.call_id = *n;
        *n += 1;
    }
    let shapes: Vec<threads::CallShape<'_>> = calls
        .iter()
        .map(|c| threads::CallShape {
            capture: &c.capture,
            messages: &c.call.request_messages,
            response_text: &c.call.response_text,
            response_id: c.call.response_id.as_deref(),
            previous_response_id: c.call.previous_response_id.as_deref(),
            tool_call_ids: c.call.tool_calls.iter().map(|t| t.id.as_str()).collect(),
        })
        .collect();
    let placements = threads::group(&shapes);
    drop(shapes);
    for (call, p) in calls.iter_mut().zip(&placements) {
        call.conversation_id = p.conversation;
        call.turn = p.turn;
        call.repeated = p.repeated;
    }

    // Tool calls, then their results from later requests.
    let mut tool_at: HashMap<(&str, &str), usize> = HashMap::new();
    for call in &calls {
        for m in &call.call.request_messages {
            for part in &m.parts {
                let Part::ToolResult {
                    tool_use_id,
                    text,
                    is_error,
                } = part
                else {
                    continue;
                };
                if let Some(&t) = tool_at.get(&(&*call.capture, tool_use_id.as_str())) {
                    let row: &mut ToolRow = &mut out.tools[t];
                    if row.result_call_id.is_none() {
                        row.result_call_id = Some(call.call_id);
                        row.result_ns = Some(call.ts_ns);
                        row.result_text = Some(text.clone());
                        row.result_is_error = Some(*is_error);
                    }
                }
            }
        }
        for (i, t) in call.call.tool_calls.iter().enumerate() {
            if !t.id.is_empty() {
                tool_at.insert((&call.capture, &t.id), out.tools.len());
            }
            out.tools.push(ToolRow {
                ts_ns: call.end_ns,
                capture: call.capture.clone(),
                call_id: call.call_id,
                conversation_id: call.conversation_id,
                tool_index: i as u32,
                tool_call_id: t.id.clone(),
                name: t.name.clone(),
                arguments_json: t.arguments_json.clone(),
                result_call_id: None,
                result_ns: None,
                result_text: None,
                result_is_error: None,
            });
        }
    }

    for (i, call) in calls.iter().enumerate() {
        let n = call.call.request_messages.len();
        out.messages.extend((0..=n).map(|k| MessageRow {
            call: i,
            request_index: (k < n).then_some(k),
            new_in_conversation: k >= call.repeated,
        }));
    }

    let mut conv_at: HashMap<(Arc<str>, u64), usize> = HashMap::new();
    for call in &calls {
        let key = (call.capture.clone(), call.conversation_id);
        let i = *conv_at.entry(key).or_insert_with(|| {
            out.conversations.push(ConversationRow {
                ts_ns: call.ts_ns,
                capture: call.capture.clone(),
                conversation_id: call.conversation_id,
                pid: call.pid,
                proc_key: call.proc_key,
                comm: call.comm.clone(),
                provider: call.call.provider,
                model: None,
                calls: 0,
                end_ns: call.end_ns,
                input_tokens: 0,
                output_tokens: 0,
                cache_read_tokens: 0,
                cache_creation_tokens: 0,
                tool_calls: 0,
                first_user_text: call.request_summary(),
                final_text: String::new(),
                partial_calls: 0,
            });
            out.conversations.len() - 1
        });
        let conv = &mut out.conversations[i];
        let c = &call.call;
        conv.calls += 1;
        conv.model = c.model.clone().or(conv.model.take());
        conv.end_ns = conv.end_ns.max(call.end_ns);
        conv.input_tokens += c.input_tokens.unwrap_or(0);
        conv.output_tokens += c.output_tokens.unwrap_or(0);
        conv.cache_read_tokens += c.cache_read_tokens.unwrap_or(0);
        conv.cache_creation_tokens += c.cache_creation_tokens.unwrap_or(0);
        conv.tool_calls += c.tool_calls.len() as u32;
        conv.final_text = c.response_text.clone();
        conv.partial_calls += u32::from(c.partial);
    }
    out.calls = calls;
    out
}
