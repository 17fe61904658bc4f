//! `agentsight conversations`: decoded conversations as a readable Markdown
//! transcript or as JSON.
//!
//! Captured text goes into Markdown only inside indented code blocks, which
//! renderers show literally: a prompt containing HTML or Markdown cannot
//! inject markup into a report. Credentials in it are masked and invisible
//! characters named ([`shown`]); the JSON form keeps the text as captured.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::reconstruct::{CallRow, ConversationRow, Decoded, ToolRow};
use agentsight_capture::manifest::BootAnchor;
use agentsight_decode::llm::{ChatMessage, Part};

/// Which conversations to show and how to place them in time.
pub struct View<'a> {
    decoded: &'a Decoded,
    /// Wall-clock anchor per capture label.
    anchors: HashMap<String, BootAnchor>,
    /// Only this conversation (per capture numbering).
    only: Option<u64>,
    /// Calls per (capture, conversation), in request order.
    calls_by_conversation: HashMap<(&'a str, u64), Vec<&'a CallRow>>,
    /// Tool calls per (capture, call).
    tools_by_call: HashMap<(&'a str, u64), Vec<&'a ToolRow>>,
}

impl<'a> View<'a> {
    pub fn new(
        decoded: &'a Decoded,
        anchors: HashMap<String, BootAnchor>,
        only: Option<u64>,
    ) -> View<'a> {
        let mut calls_by_conversation: HashMap<_, Vec<_>> = HashMap::new();
        for k in &decoded.calls {
            calls_by_conversation
                .entry((&*k.capture, k.conversation_id))
                .or_default()
                .push(k);
        }
        let mut tools_by_call: HashMap<_, Vec<_>> = HashMap::new();
        for t in &decoded.tools {
            tools_by_call
                .entry((&*t.capture, t.call_id))
                .or_default()
                .push(t);
        }
        View {
            decoded,
            anchors,
            only,
            calls_by_conversation,
            tools_by_call,
        }
    }

    fn conversations(&self) -> impl Iterator<Item = &'a ConversationRow> + '_ {
        self.decoded
            .conversations
            .iter()
            .filter(|c| self.only.is_none_or(|n| c.conversation_id == n))
    }

    fn calls_of(&self, c: &'a ConversationRow) -> &[&'a CallRow] {
        self.calls_by_conversation
            .get(&(&*c.capture, c.conversation_id))
            .map_or(&[], Vec::as_slice)
    }

    fn tools_of(&self, call: &'a CallRow) -> &[&'a ToolRow] {
        self.tools_by_call
            .get(&(&*call.capture, call.call_id))
            .map_or(&[], Vec::as_slice)
    }

    /// Request messages of `call` that its conversation had not sent before.
    fn new_messages<'b>(&self, call: &'b CallRow) -> impl Iterator<Item = &'b ChatMessage> {
        call.call.request_messages.iter().skip(call.repeated)
    }

    fn wall(&self, capture: &str, ts: u64) -> String {
        self.anchors
            .get(capture)
            .and_then(|a| chrono::DateTime::from_timestamp_nanos(a.wall_ns(ts)).into())
            .map(|t: chrono::DateTime<chrono::Utc>| {
                t.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string()
            })
            .unwrap_or_else(|| format!("boot+{:.3}s", ts as f64 / 1e9))
    }
}

fn ms(ns: Option<u64>) -> Option<f64> {
    ns.map(|n| (n as f64 / 1e4).round() / 100.0)
}

/// Arguments as JSON when they parse, else the raw text (cut streams).
fn arguments(raw: &str) -> Value {
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()))
}

fn part_json(p: &Part) -> Value {
    match p {
        Part::ToolUse {
            id,
            name,
            arguments_json,
        } => {
            json!({"type": "tool_use", "id": id, "name": name, "arguments": arguments(arguments_json)})
        }
        other => serde_json::to_value(other).unwrap_or(Value::Null),
    }
}

pub fn json(v: &View<'_>) -> Value {
    let convs: Vec<Value> = v
        .conversations()
        .map(|c| {
            let turns: Vec<Value> = v
                .calls_of(c)
                .iter()
                .map(|k| {
                    let call = &k.call;
                    let tools: Vec<Value> = v
                        .tools_of(k)
                        .iter()
                        .map(|t| {
                            json!({
                                "id": t.tool_call_id, "name": t.name,
                                "arguments": arguments(&t.arguments_json),
                                "result_call_id": t.result_call_id,
                                "result_text": t.result_text,
                                "result_is_error": t.result_is_error,
                            })
                        })
                        .collect();
                    let new: Vec<Value> = v
                        .new_messages(k)
                        .map(|m| {
                            json!({"role": m.role, "text": m.text,
                                   "parts": m.parts.iter().map(part_json).collect::<Vec<_>>()})
                        })
                        .collect();
                    json!({
                        "call_id": k.call_id, "turn": k.turn,
                        "started": v.wall(&k.capture, k.ts_ns), "ts_ns": k.ts_ns,
                        "provider": call.provider.as_str(), "model": call.model,
                        "host": k.host, "path": k.path, "status": k.status,
                        "streaming": call.streaming, "stop_reason": call.stop_reason,
                        "ttfb_ms": ms(k.ttfb_ns), "duration_ms": ms(k.duration_ns),
                        "tokens": {"input": call.input_tokens, "output": call.output_tokens,
                                   "cache_read": call.cache_read_tokens,
                                   "cache_creation": call.cache_creation_tokens,
                                   "reasoning": call.reasoning_tokens},
                        "new_messages": new,
                        "response": {"text": call.response_text, "thinking": call.thinking_text,
                                     "tool_calls": tools},
                        "error": call.error, "partial": call.partial,
                    })
                })
                .collect();
            json!({
                "capture": &*c.capture, "conversation_id": c.conversation_id,
                "process": {"pid": c.pid, "proc_key": c.proc_key, "comm": c.comm},
                "provider": c.provider.as_str(), "model": c.model,
                "started": v.wall(&c.capture, c.ts_ns),
                "duration_ms": ms(Some(c.end_ns.saturating_sub(c.ts_ns))),
                "calls": c.calls,
                "tokens": {"input": c.input_tokens, "output": c.output_tokens,
                           "cache_read": c.cache_read_tokens, "cache_creation": c.cache_creation_tokens},
                "tool_calls": c.tool_calls, "partial_calls": c.partial_calls,
                "turns": turns,
            })
        })
        .collect();
    json!({ "conversations": convs })
}

/// Captured text made safe to show: credentials masked, invisible and
/// control characters (other than tab and line breaks) named as `⟨U+XXXX⟩`
/// so nothing hides or reorders text, line breaks as `\n` only (CommonMark
/// also ends a line at a lone CR, which would end the code block).
pub fn shown(text: &str) -> String {
    let masked = agentsight_redact::mask_secrets(text);
    let mut out = String::with_capacity(masked.len());
    let mut chars = masked.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push('\n');
                }
            }
            '\n' | '\t' => out.push(c),
            c if c.is_control() || crate::graph::render::invisible(c) => {
                let _ = write!(out, "⟨U+{:04X}⟩", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Captured text as an indented code block (shown literally).
fn literal(out: &mut String, text: &str) {
    if text.is_empty() {
        out.push_str("    (empty)\n");
    }
    for line in shown(text).split('\n') {
        let _ = writeln!(out, "    {line}");
    }
    out.push('\n');
}

/// A short captured value (name, id, model) as a code span: shown
/// literally, on one line; backticks cannot close it early.
fn inline(text: &str) -> String {
    let clean: String = shown(text)
        .chars()
        .map(|c| match c {
            '`' => '\'',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    format!("`{clean}`")
}

/// "N in / M out", plus the cache counts the API reported (non-zero only).
fn tokens(input: Option<u64>, output: Option<u64>, cr: Option<u64>, cw: Option<u64>) -> String {
    let n = |x: Option<u64>| x.map_or("?".to_string(), |v| v.to_string());
    let mut s = format!("{} in / {} out", n(input), n(output));
    let cache: Vec<String> = [("cache read", cr), ("cache write", cw)]
        .into_iter()
        .filter_map(|(what, v)| v.filter(|v| *v > 0).map(|v| format!("{what} {v}")))
        .collect();
    if !cache.is_empty() {
        let _ = write!(s, " ({})", cache.join(", "));
    }
    s
}

fn message_md(out: &mut String, m: &ChatMessage) {
    for p in &m.parts {
        match p {
            Part::Text { text } => {
                let _ = writeln!(out, "**{}:**\n", inline(&m.role));
                literal(out, text);
            }
            Part::Thinking { text } => {
                let _ = writeln!(out, "**{} (thinking):**\n", inline(&m.role));
                literal(out, text);
            }
            Part::ToolUse {
                id,
                name,
                arguments_json,
            } => {
                let _ = writeln!(
                    out,
                    "**{} → tool {}** ({})\n",
                    inline(&m.role),
                    inline(name),
                    inline(id)
                );
                literal(out, arguments_json);
            }
            Part::ToolResult {
                tool_use_id,
                text,
                is_error,
            } => {
                let err = if *is_error { ", error" } else { "" };
                let _ = writeln!(out, "**tool result** for {}{err}:\n", inline(tool_use_id));
                literal(out, text);
            }
            Part::Other { kind } => {
                let _ = writeln!(
                    out,
                    "**{}:** ({} part not shown)\n",
                    inline(&m.role),
                    inline(kind)
                );
            }
        }
    }
}

pub fn markdown(v: &View<'_>) -> String {
    let mut out = String::new();
    let mut any = false;
    for c in v.conversations() {
        any = true;
        let _ = writeln!(
            out,
            "# Conversation {} ({})\n\n\
             - process: {} (pid {}, proc_key {})\n\
             - provider: {}, model: {}\n\
             - started: {}, lasted {:.3} s, {} call(s), {} tool call(s)\n\
             - tokens: {}\n",
            c.conversation_id,
            inline(&c.capture),
            inline(&c.comm),
            c.pid,
            c.proc_key,
            c.provider.as_str(),
            inline(c.model.as_deref().unwrap_or("?")),
            v.wall(&c.capture, c.ts_ns),
            c.end_ns.saturating_sub(c.ts_ns) as f64 / 1e9,
            c.calls,
            c.tool_calls,
            tokens(
                Some(c.input_tokens),
                Some(c.output_tokens),
                Some(c.cache_read_tokens),
                Some(c.cache_creation_tokens)
            ),
        );
        if c.partial_calls > 0 {
            let _ = writeln!(
                out,
                "**{} call(s) incomplete in the capture (see `llm_calls.partial`).**\n",
                c.partial_calls
            );
        }
        for k in v.calls_of(c) {
            let call = &k.call;
            let timing = match (ms(k.duration_ns), ms(k.ttfb_ns)) {
                (Some(d), Some(t)) => format!("{d} ms, first token after {t} ms"),
                (Some(d), None) => format!("{d} ms"),
                _ => "no response".to_string(),
            };
            let _ = writeln!(
                out,
                "## Turn {} (call {}) · {} · {}\n\n\
                 - {} {} {}, stop: {}, tokens: {}\n",
                k.turn + 1,
                k.call_id,
                v.wall(&k.capture, k.ts_ns),
                timing,
                inline(call.model.as_deref().unwrap_or("?")),
                if call.streaming {
                    "streaming"
                } else {
                    "non-streaming"
                },
                k.status.map_or("-".to_string(), |s| s.to_string()),
                inline(call.stop_reason.as_deref().unwrap_or("-")),
                tokens(
                    call.input_tokens,
                    call.output_tokens,
                    call.cache_read_tokens,
                    call.cache_creation_tokens
                ),
            );
            if call.partial {
                out.push_str("**Incomplete: part of this call is missing from the capture.**\n\n");
            }
            for m in v.new_messages(k) {
                message_md(&mut out, m);
            }
            message_md(&mut out, &call.response_message());
            for t in v.tools_of(k) {
                match t.result_call_id {
                    Some(n) => {
                        let _ = writeln!(
                            out,
                            "*result of {} sent back in call {n}*\n",
                            inline(&t.name)
                        );
                    }
                    None => {
                        let _ = writeln!(
                            out,
                            "*no result for {} ({}) in the capture*\n",
                            inline(&t.name),
                            inline(&t.tool_call_id)
                        );
                    }
                }
            }
            if let Some(e) = &call.error {
                let _ = writeln!(out, "**API error:**\n");
                literal(&mut out, e);
            }
        }
    }
    if !any {
        out.push_str("No LLM conversations in this capture.\n");
    }
    out
}
