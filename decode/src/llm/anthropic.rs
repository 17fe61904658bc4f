//! Anthropic Messages API (`/v1/messages`): content blocks in requests and
//! responses; streams of `message_start`, `content_block_*`, `message_delta`
//! and `message_stop` events.

use std::collections::BTreeMap;

use serde_json::Value;

use super::common::{error_text, has, parse_event, push_text, s, tool_use_part, u};
use super::{ChatMessage, LlmCall, Part, Provider, ProviderDecoder, ToolCall};
use crate::sse::SseEvent;

pub(super) struct Anthropic;

impl ProviderDecoder for Anthropic {
    fn provider(&self) -> Provider {
        Provider::Anthropic
    }

    fn sniff_response(&self, head: &[u8]) -> bool {
        has(head, "\"message_start\"")
            || has(head, "\"content_block_")
            || (has(head, "\"type\":\"message\"") && has(head, "\"stop_reason\""))
    }

    fn matches_path(&self, p: &str) -> bool {
        p.ends_with("/messages") || p.contains("/v1/messages")
    }

    fn matches_host(&self, host: &str) -> bool {
        host.ends_with("anthropic.com")
    }

    fn matches_request(&self, req: &Value) -> bool {
        req.get("anthropic_version").is_some()
            || req.get("max_tokens").is_some() && req.get("system").is_some()
    }

    fn request_messages(&self, r: &Value) -> Vec<ChatMessage> {
        let mut out = Vec::new();
        if let Some(sys) = r.get("system") {
            let (text, parts) = content_parts(sys);
            out.push(ChatMessage {
                role: "system".into(),
                text,
                parts,
            });
        }
        for m in r
            .get("messages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (text, parts) = content_parts(m.get("content").unwrap_or(&Value::Null));
            out.push(ChatMessage {
                role: s(m, "role").unwrap_or_default(),
                text,
                parts,
            });
        }
        out
    }

    fn decode_json(&self, call: &mut LlmCall, v: &Value) {
        if s(v, "type").as_deref() == Some("error") || v.get("error").is_some() {
            call.error = Some(error_text(v));
            return;
        }
        call.response_id = s(v, "id");
        if let Some(m) = s(v, "model") {
            call.model = Some(m);
        }
        call.stop_reason = s(v, "stop_reason");
        if let Some(us) = v.get("usage") {
            usage(call, us);
        }
        for b in v
            .get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            match s(b, "type").as_deref() {
                Some("text") => call
                    .response_text
                    .push_str(&s(b, "text").unwrap_or_default()),
                Some("thinking") => call
                    .thinking_text
                    .push_str(&s(b, "thinking").unwrap_or_default()),
                Some("tool_use") | Some("server_tool_use") => call.tool_calls.push(tool_call(b)),
                _ => {}
            }
        }
    }

    fn decode_stream(&self, call: &mut LlmCall, events: &[SseEvent]) {
        let mut blocks: BTreeMap<u64, Block> = BTreeMap::new();
        let mut done = false;
        for e in events {
            let Some(v) = parse_event(call, e) else {
                continue;
            };
            let kind = s(&v, "type")
                .or_else(|| e.event.clone())
                .unwrap_or_default();
            match kind.as_str() {
                "message_start" => {
                    if let Some(m) = v.get("message") {
                        call.response_id = s(m, "id");
                        if let Some(model) = s(m, "model") {
                            call.model = Some(model);
                        }
                        if let Some(us) = m.get("usage") {
                            usage(call, us);
                        }
                    }
                }
                "content_block_start" => {
                    let idx = u(&v, "index").unwrap_or(blocks.len() as u64);
                    let cb = v.get("content_block").unwrap_or(&Value::Null);
                    let bk = s(cb, "type").unwrap_or_default();
                    let mut b = Block {
                        kind: bk.clone(),
                        ..Default::default()
                    };
                    match bk.as_str() {
                        "text" => b.text = s(cb, "text").unwrap_or_default(),
                        "thinking" => b.thinking = s(cb, "thinking").unwrap_or_default(),
                        "tool_use" | "server_tool_use" => {
                            b.tool = Some(ToolCall {
                                id: s(cb, "id").unwrap_or_default(),
                                name: s(cb, "name").unwrap_or_default(),
                                arguments_json: String::new(),
                            });
                            b.start_input = cb
                                .get("input")
                                .filter(|i| i.as_object().map(|o| !o.is_empty()).unwrap_or(true))
                                .map(Value::to_string);
                        }
                        _ => {}
                    }
                    blocks.insert(idx, b);
                }
                "content_block_delta" => {
                    let idx = u(&v, "index").unwrap_or(0);
                    let d = v.get("delta").unwrap_or(&Value::Null);
                    let b = blocks.entry(idx).or_default();
                    match s(d, "type").as_deref() {
                        Some("text_delta") => b.text.push_str(&s(d, "text").unwrap_or_default()),
                        Some("thinking_delta") => {
                            b.thinking.push_str(&s(d, "thinking").unwrap_or_default())
                        }
                        Some("input_json_delta") => {
                            let t = b.tool.get_or_insert_with(ToolCall::default);
                            t.arguments_json
                                .push_str(&s(d, "partial_json").unwrap_or_default());
                        }
                        _ => {}
                    }
                }
                "message_delta" => {
                    if let Some(d) = v.get("delta") {
                        if let Some(r) = s(d, "stop_reason") {
                            call.stop_reason = Some(r);
                        }
                    }
                    if let Some(us) = v.get("usage") {
                        usage(call, us);
                    }
                }
                "message_stop" => done = true,
                "error" => {
                    call.error = Some(error_text(&v));
                    done = true;
                }
                _ => {}
            }
        }
        for (_, b) in blocks {
            call.response_text.push_str(&b.text);
            call.thinking_text.push_str(&b.thinking);
            if let Some(mut t) = b.tool {
                if t.arguments_json.is_empty() {
                    t.arguments_json = b.start_input.unwrap_or_else(|| {
                        if b.kind.is_empty() {
                            String::new()
                        } else {
                            "{}".into()
                        }
                    });
                }
                call.tool_calls.push(t);
            }
        }
        call.partial = !done || events.last().map(|e| e.incomplete).unwrap_or(true);
        call.ended = !call.partial;
    }
}

/// A `tool_use` (or `server_tool_use`) content block.
fn tool_call(b: &Value) -> ToolCall {
    ToolCall {
        id: s(b, "id").unwrap_or_default(),
        name: s(b, "name").unwrap_or_default(),
        arguments_json: b.get("input").map(Value::to_string).unwrap_or_default(),
    }
}

/// A `system` or message `content`: a string or an array of blocks.
fn content_parts(content: &Value) -> (String, Vec<Part>) {
    let mut text = String::new();
    let mut parts = Vec::new();
    match content {
        Value::String(t) => push_text(&mut parts, &mut text, t.clone()),
        Value::Array(items) => {
            for b in items {
                let kind = s(b, "type").unwrap_or_default();
                match kind.as_str() {
                    "text" => push_text(&mut parts, &mut text, s(b, "text").unwrap_or_default()),
                    "thinking" => parts.push(Part::Thinking {
                        text: s(b, "thinking").unwrap_or_default(),
                    }),
                    "tool_use" | "server_tool_use" => parts.push(tool_use_part(tool_call(b))),
                    "tool_result" => {
                        let (t, _) = content_parts(b.get("content").unwrap_or(&Value::Null));
                        parts.push(Part::ToolResult {
                            tool_use_id: s(b, "tool_use_id").unwrap_or_default(),
                            text: t,
                            is_error: b.get("is_error").and_then(Value::as_bool).unwrap_or(false),
                        })
                    }
                    _ => parts.push(Part::Other { kind }),
                }
            }
        }
        _ => {}
    }
    (text, parts)
}

fn usage(call: &mut LlmCall, us: &Value) {
    if let Some(v) = u(us, "input_tokens") {
        call.input_tokens = Some(v);
    }
    if let Some(v) = u(us, "output_tokens") {
        call.output_tokens = Some(v);
    }
    if let Some(v) = u(us, "cache_read_input_tokens") {
        call.cache_read_tokens = Some(v);
    }
    if let Some(v) = u(us, "cache_creation_input_tokens") {
        call.cache_creation_tokens = Some(v);
    }
}

/// One content block of a stream, assembled from its start and deltas.
#[derive(Default)]
struct Block {
    kind: String,
    text: String,
    thinking: String,
    tool: Option<ToolCall>,
    /// `input` from content_block_start, used if no deltas arrive.
    start_input: Option<String>,
}
