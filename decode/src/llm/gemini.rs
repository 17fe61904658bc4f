//! Gemini `generateContent` / `streamGenerateContent`: `contents` of `parts`
//! in, `candidates` out. The model is in the path; a stream is SSE with
//! `alt=sse` and a JSON array of responses without it, and has no end marker.

use serde_json::Value;

use super::common::{
    error_member, has, json_text, parse_event, path_only, push_text, s, trim_ws, u, ToolAcc,
};
use super::{decode_json_body, ChatMessage, LlmCall, Part, Provider, ProviderDecoder};
use crate::sse::SseEvent;

pub(super) struct Gemini;

impl ProviderDecoder for Gemini {
    fn provider(&self) -> Provider {
        Provider::Gemini
    }

    fn sniff_response(&self, head: &[u8]) -> bool {
        has(head, "\"candidates\"") || has(head, "\"usageMetadata\"")
    }

    fn matches_path(&self, p: &str) -> bool {
        p.contains(":generateContent") || self.path_requests_stream(p)
    }

    fn matches_host(&self, host: &str) -> bool {
        host.ends_with("generativelanguage.googleapis.com")
            || host.ends_with("aiplatform.googleapis.com")
    }

    fn matches_request(&self, req: &Value) -> bool {
        req.get("contents").is_some()
    }

    fn path_requests_stream(&self, p: &str) -> bool {
        p.contains(":streamGenerateContent")
    }

    fn model_from_path(&self, path: &str) -> Option<String> {
        let p = path_only(path);
        let i = p.find("models/")?;
        let rest = &p[i + "models/".len()..];
        let m = rest.split([':', '/']).next()?;
        (!m.is_empty()).then(|| m.to_string())
    }

    fn request_messages(&self, r: &Value) -> Vec<ChatMessage> {
        let mut out = Vec::new();
        let sys = r
            .get("systemInstruction")
            .or_else(|| r.get("system_instruction"));
        if let Some(sys) = sys {
            let (text, parts) = content_parts(sys, None, &mut ToolAcc::default());
            out.push(ChatMessage {
                role: "system".into(),
                text,
                parts,
            });
        }
        for c in r
            .get("contents")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (text, parts) = content_parts(c, None, &mut ToolAcc::default());
            out.push(ChatMessage {
                role: s(c, "role").unwrap_or_else(|| "user".into()),
                text,
                parts,
            });
        }
        out
    }

    fn decode_body(&self, call: &mut LlmCall, body: &[u8]) {
        if body.first() == Some(&b'[') {
            array(call, body);
        } else {
            decode_json_body(self, call, body);
        }
    }

    fn decode_json(&self, call: &mut LlmCall, v: &Value) {
        // Function calls land in a scratch accumulator that is dropped and no
        // finish step runs, so a non-streaming call has empty `tool_calls`.
        chunk(call, v, &mut ToolAcc::default());
    }

    fn decode_stream(&self, call: &mut LlmCall, events: &[SseEvent]) {
        let mut tools = ToolAcc::default();
        for e in events {
            if let Some(v) = parse_event(call, e) {
                chunk(call, &v, &mut tools);
            }
        }
        finish(call, tools);
        if events.last().map(|e| e.incomplete).unwrap_or(true) {
            call.partial = true;
        }
    }
}

/// The `parts` of a request or response `content`. With `call`, response
/// text and thinking also go to it and function calls to `tools`.
fn content_parts(
    content: &Value,
    call: Option<&mut LlmCall>,
    tools: &mut ToolAcc,
) -> (String, Vec<Part>) {
    let mut text = String::new();
    let mut parts = Vec::new();
    let mut call = call;
    for p in content
        .get("parts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(t) = p.get("text").and_then(Value::as_str) {
            if p.get("thought").and_then(Value::as_bool) == Some(true) {
                if let Some(c) = call.as_deref_mut() {
                    c.thinking_text.push_str(t);
                }
                parts.push(Part::Thinking { text: t.into() });
            } else {
                if let Some(c) = call.as_deref_mut() {
                    c.response_text.push_str(t);
                }
                push_text(&mut parts, &mut text, t.into());
            }
        } else if let Some(fc) = p.get("functionCall") {
            let id = s(fc, "id").unwrap_or_default();
            let name = s(fc, "name").unwrap_or_default();
            let args = fc
                .get("args")
                .map(Value::to_string)
                .unwrap_or_else(|| "{}".into());
            if call.is_some() {
                let key = tools.order.len();
                tools.put(key, Some(id.clone()), Some(name.clone()), &args);
            }
            parts.push(Part::ToolUse {
                id,
                name,
                arguments_json: args,
            });
        } else if let Some(fr) = p.get("functionResponse") {
            parts.push(Part::ToolResult {
                tool_use_id: s(fr, "id").or_else(|| s(fr, "name")).unwrap_or_default(),
                text: fr.get("response").map(json_text).unwrap_or_default(),
                is_error: false,
            });
        } else {
            let kind = p
                .as_object()
                .and_then(|o| o.keys().next().cloned())
                .unwrap_or_default();
            parts.push(Part::Other { kind });
        }
    }
    (text, parts)
}

/// One GenerateContentResponse, whole or a stream chunk.
fn chunk(call: &mut LlmCall, v: &Value, tools: &mut ToolAcc) {
    if let Some(e) = error_member(v) {
        call.error = Some(e);
        return;
    }
    if let Some(m) = s(v, "modelVersion") {
        call.model = Some(m);
    }
    if let Some(id) = s(v, "responseId") {
        call.response_id = Some(id);
    }
    if let Some(us) = v.get("usageMetadata") {
        if let Some(x) = u(us, "promptTokenCount") {
            call.input_tokens = Some(x);
        }
        let cand = u(us, "candidatesTokenCount");
        let thoughts = u(us, "thoughtsTokenCount");
        if cand.is_some() || thoughts.is_some() {
            call.output_tokens = Some(cand.unwrap_or(0) + thoughts.unwrap_or(0));
        }
        if let Some(x) = u(us, "cachedContentTokenCount") {
            call.cache_read_tokens = Some(x);
        }
        if let Some(x) = thoughts {
            call.reasoning_tokens = Some(x);
        }
    }
    if let Some(c) = v
        .get("candidates")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
    {
        if let Some(content) = c.get("content") {
            content_parts(content, Some(call), tools);
        }
        if let Some(r) = s(c, "finishReason") {
            call.stop_reason = Some(r);
        }
    }
    if let Some(b) = v.get("promptFeedback").and_then(|p| s(p, "blockReason")) {
        call.stop_reason = Some(b);
    }
}

/// After the last chunk: without an end marker, a stream is whole only if
/// it reported why it stopped (or failed).
fn finish(call: &mut LlmCall, tools: ToolAcc) {
    call.tool_calls = tools.into_calls();
    if call.stop_reason.is_none() && call.error.is_none() {
        call.partial = true;
    }
}

/// `streamGenerateContent` without `alt=sse`: a JSON array of responses,
/// possibly cut short, so elements are split by a small scanner instead of
/// parsing the whole array.
fn array(call: &mut LlmCall, body: &[u8]) {
    let mut tools = ToolAcc::default();
    let (elems, complete) = split_json_array(body);
    for el in elems {
        match serde_json::from_slice::<Value>(el) {
            Ok(v) => chunk(call, &v, &mut tools),
            Err(_) => call.bad_events += 1,
        }
    }
    finish(call, tools);
    if !complete {
        call.partial = true;
    }
}

/// Top-level elements of a JSON array; `complete` is false if the array is
/// cut short (the cut element is dropped).
pub fn split_json_array(b: &[u8]) -> (Vec<&[u8]>, bool) {
    let mut out = Vec::new();
    let mut i = match b.iter().position(|&c| c == b'[') {
        Some(p) => p + 1,
        None => return (out, false),
    };
    let mut depth = 0usize;
    let mut in_str = false;
    let mut esc = false;
    let mut start: Option<usize> = None;
    while i < b.len() {
        let c = b[i];
        if in_str {
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_str = false;
            }
        } else {
            match c {
                b'"' => {
                    in_str = true;
                    start.get_or_insert(i);
                }
                b'{' | b'[' => {
                    depth += 1;
                    start.get_or_insert(i);
                }
                b'}' | b']' if depth > 0 => {
                    depth -= 1;
                }
                b']' => {
                    if let Some(s0) = start.take() {
                        out.push(trim_ws(&b[s0..i]));
                    }
                    return (out, true);
                }
                b',' if depth == 0 => {
                    if let Some(s0) = start.take() {
                        out.push(trim_ws(&b[s0..i]));
                    }
                }
                c if !c.is_ascii_whitespace() => {
                    start.get_or_insert(i);
                }
                _ => {}
            }
        }
        i += 1;
    }
    (out, false)
}
