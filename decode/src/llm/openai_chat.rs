//! OpenAI Chat Completions (`/chat/completions`, and the many gateways that
//! copy it): `messages` in, `choices` out; streams of `chat.completion.chunk`
//! deltas ending in `[DONE]`.

use serde_json::Value;

use super::common::{
    error_member, has, json_text, openai_content, openai_usage, parse_event, s, tool_use_part, u,
    ToolAcc,
};
use super::{ChatMessage, LlmCall, Part, Provider, ProviderDecoder, ToolCall};
use crate::sse::SseEvent;

pub(super) struct OpenAiChat;

impl ProviderDecoder for OpenAiChat {
    fn provider(&self) -> Provider {
        Provider::OpenAiChat
    }

    fn sniff_response(&self, head: &[u8]) -> bool {
        has(head, "\"chat.completion")
    }

    fn matches_path(&self, p: &str) -> bool {
        p.ends_with("/chat/completions")
    }

    fn matches_request(&self, req: &Value) -> bool {
        req.get("messages").is_some()
    }

    fn request_messages(&self, r: &Value) -> Vec<ChatMessage> {
        let mut out = Vec::new();
        for m in r
            .get("messages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let role = s(m, "role").unwrap_or_default();
            let mut text = String::new();
            let mut parts = Vec::new();
            if role == "tool" {
                let mut t = String::new();
                openai_content(m.get("content"), &mut Vec::new(), &mut t);
                parts.push(Part::ToolResult {
                    tool_use_id: s(m, "tool_call_id").unwrap_or_default(),
                    text: t,
                    is_error: false,
                });
            } else {
                openai_content(m.get("content"), &mut parts, &mut text);
            }
            for tc in m
                .get("tool_calls")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                parts.push(tool_use_part(tool_call(tc)));
            }
            out.push(ChatMessage { role, text, parts });
        }
        out
    }

    fn decode_json(&self, call: &mut LlmCall, v: &Value) {
        if let Some(e) = error_member(v) {
            call.error = Some(e);
            return;
        }
        call.response_id = s(v, "id");
        if let Some(m) = s(v, "model") {
            call.model = Some(m);
        }
        if let Some(us) = v.get("usage").filter(|x| !x.is_null()) {
            usage(call, us);
        }
        let choice = v
            .get("choices")
            .and_then(Value::as_array)
            .and_then(|c| c.first());
        if let Some(c) = choice {
            call.stop_reason = s(c, "finish_reason");
            let msg = c.get("message").unwrap_or(&Value::Null);
            let mut parts = Vec::new();
            let mut text = String::new();
            openai_content(msg.get("content"), &mut parts, &mut text);
            call.response_text = text;
            if let Some(r) = msg.get("reasoning_content").and_then(Value::as_str) {
                call.thinking_text = r.into();
            }
            for tc in msg
                .get("tool_calls")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                call.tool_calls.push(tool_call(tc));
            }
        } else {
            call.partial = true;
        }
    }

    fn decode_stream(&self, call: &mut LlmCall, events: &[SseEvent]) {
        let mut tools = ToolAcc::default();
        let mut done = false;
        let mut finished = false;
        for e in events {
            if e.data.trim() == "[DONE]" {
                done = !e.incomplete;
                continue;
            }
            let Some(v) = parse_event(call, e) else {
                continue;
            };
            if let Some(err) = error_member(&v) {
                call.error = Some(err);
                continue;
            }
            if call.response_id.is_none() {
                call.response_id = s(&v, "id");
            }
            if let Some(m) = s(&v, "model") {
                call.model = Some(m);
            }
            if let Some(us) = v.get("usage").filter(|x| !x.is_null()) {
                usage(call, us);
            }
            for c in v
                .get("choices")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                // Only the first choice (n=1 is what agents use).
                if u(c, "index").unwrap_or(0) != 0 {
                    continue;
                }
                if let Some(r) = s(c, "finish_reason") {
                    call.stop_reason = Some(r);
                    finished = true;
                }
                let d = c.get("delta").unwrap_or(&Value::Null);
                if let Some(t) = d.get("content").and_then(Value::as_str) {
                    call.response_text.push_str(t);
                }
                if let Some(t) = d.get("reasoning_content").and_then(Value::as_str) {
                    call.thinking_text.push_str(t);
                }
                for (pos, tc) in d
                    .get("tool_calls")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    let idx = u(tc, "index").map(|i| i as usize).unwrap_or(pos);
                    let f = tc.get("function").unwrap_or(&Value::Null);
                    let args = f.get("arguments").and_then(Value::as_str).unwrap_or("");
                    tools.put(idx, s(tc, "id"), s(f, "name"), args);
                }
            }
        }
        call.tool_calls = tools.into_calls();
        // Some gateways omit [DONE]; a complete finish_reason/error chunk ends it too.
        let last_complete = events.last().map(|e| !e.incomplete).unwrap_or(false);
        call.partial = !(done || ((finished || call.error.is_some()) && last_complete));
        call.ended = done;
    }
}

/// One entry of a message's `tool_calls` (request history or response).
fn tool_call(tc: &Value) -> ToolCall {
    let f = tc.get("function").unwrap_or(&Value::Null);
    ToolCall {
        id: s(tc, "id").unwrap_or_default(),
        name: s(f, "name").unwrap_or_default(),
        arguments_json: f.get("arguments").map(json_text).unwrap_or_default(),
    }
}

fn usage(call: &mut LlmCall, us: &Value) {
    openai_usage(
        call,
        us,
        ["prompt_tokens", "completion_tokens"],
        ["prompt_tokens_details", "completion_tokens_details"],
    );
}
