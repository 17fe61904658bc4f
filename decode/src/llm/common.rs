//! Helpers shared by the provider modules: JSON field access, error text,
//! tool-call accumulation and the content/usage shapes both OpenAI APIs use.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{LlmCall, Part, ToolCall};
use crate::sse::SseEvent;

/// The request path without its query string or fragment.
pub(super) fn path_only(path: &str) -> &str {
    path.split(['?', '#']).next().unwrap_or(path)
}

/// Trimmed of ASCII whitespace and a leading UTF-8 byte-order mark.
pub(super) fn trim_ws(b: &[u8]) -> &[u8] {
    b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b).trim_ascii()
}

/// `needle` occurs in `head` (a response prefix being sniffed).
pub(super) fn has(head: &[u8], needle: &str) -> bool {
    memchr::memmem::find(head, needle.as_bytes()).is_some()
}

pub(super) fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

pub(super) fn u(v: &Value, k: &str) -> Option<u64> {
    v.get(k).and_then(Value::as_u64)
}

/// A string as itself, anything else as its JSON text (arguments and tool
/// outputs come either way).
pub(super) fn json_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Text of an error body or event: its `error` member if it has one.
pub(super) fn error_text(v: &Value) -> String {
    describe_error(v.get("error").unwrap_or(v))
}

/// Text of the non-null `error` member of a response object or chunk.
pub(super) fn error_member(v: &Value) -> Option<String> {
    v.get("error").filter(|e| !e.is_null()).map(describe_error)
}

fn describe_error(e: &Value) -> String {
    match e {
        Value::String(s) => s.clone(),
        Value::Object(_) => {
            let kind = s(e, "type")
                .or_else(|| s(e, "status"))
                .or_else(|| s(e, "code"));
            let msg = s(e, "message");
            match (kind, msg) {
                (Some(k), Some(m)) => format!("{k}: {m}"),
                (None, Some(m)) => m,
                (Some(k), None) => k,
                (None, None) => e.to_string(),
            }
        }
        other => other.to_string(),
    }
}

pub(super) fn push_text(parts: &mut Vec<Part>, text: &mut String, t: String) {
    text.push_str(&t);
    parts.push(Part::Text { text: t });
}

/// A tool call as it appears in a request's history.
pub(super) fn tool_use_part(t: ToolCall) -> Part {
    Part::ToolUse {
        id: t.id,
        name: t.name,
        arguments_json: t.arguments_json,
    }
}

/// One SSE event's data as JSON; a failure is counted, not fatal.
pub(super) fn parse_event(call: &mut LlmCall, e: &SseEvent) -> Option<Value> {
    match serde_json::from_str::<Value>(&e.data) {
        Ok(v) => Some(v),
        Err(_) => {
            call.bad_events += 1;
            None
        }
    }
}

/// Tool calls keyed by stream index, kept in first-seen order.
#[derive(Default)]
pub(super) struct ToolAcc {
    pub(super) order: Vec<usize>,
    pub(super) map: BTreeMap<usize, ToolCall>,
}

impl ToolAcc {
    pub(super) fn put(&mut self, key: usize, id: Option<String>, name: Option<String>, args: &str) {
        let e = self.map.entry(key).or_insert_with(|| {
            self.order.push(key);
            ToolCall::default()
        });
        if let Some(id) = id.filter(|s| !s.is_empty()) {
            e.id = id;
        }
        if let Some(n) = name.filter(|s| !s.is_empty()) {
            e.name = n;
        }
        e.arguments_json.push_str(args);
    }

    pub(super) fn into_calls(mut self) -> Vec<ToolCall> {
        self.order
            .iter()
            .filter_map(|k| self.map.remove(k))
            .collect()
    }
}

/// OpenAI content: a string or an array of typed parts.
pub(super) fn openai_content(content: Option<&Value>, parts: &mut Vec<Part>, text: &mut String) {
    match content {
        Some(Value::String(t)) => push_text(parts, text, t.clone()),
        Some(Value::Array(items)) => {
            for it in items {
                let kind = s(it, "type").unwrap_or_default();
                match kind.as_str() {
                    "text" | "input_text" | "output_text" => {
                        push_text(parts, text, s(it, "text").unwrap_or_default())
                    }
                    "refusal" => push_text(parts, text, s(it, "refusal").unwrap_or_default()),
                    _ => parts.push(Part::Other { kind }),
                }
            }
        }
        _ => {}
    }
}

/// OpenAI usage objects: the two APIs name the same counts differently.
pub(super) fn openai_usage(
    call: &mut LlmCall,
    us: &Value,
    [input, output]: [&str; 2],
    [in_details, out_details]: [&str; 2],
) {
    if let Some(v) = u(us, input) {
        call.input_tokens = Some(v);
    }
    if let Some(v) = u(us, output) {
        call.output_tokens = Some(v);
    }
    if let Some(v) = us.get(in_details).and_then(|d| u(d, "cached_tokens")) {
        call.cache_read_tokens = Some(v);
    }
    if let Some(v) = us.get(out_details).and_then(|d| u(d, "reasoning_tokens")) {
        call.reasoning_tokens = Some(v);
    }
}
