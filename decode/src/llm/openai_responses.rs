//! OpenAI Responses API (`/responses`): `instructions` and typed `input`
//! items in, a Response object with `output` items out; streams of
//! `response.*` events ending in a final Response.

use std::collections::BTreeMap;

use serde_json::Value;

use super::common::{
    error_member, error_text, has, json_text, openai_content, openai_usage, parse_event, s,
    tool_use_part, u, ToolAcc,
};
use super::{ChatMessage, LlmCall, Part, Provider, ProviderDecoder, ToolCall};
use crate::sse::SseEvent;

pub(super) struct OpenAiResponses;

impl ProviderDecoder for OpenAiResponses {
    fn provider(&self) -> Provider {
        Provider::OpenAiResponses
    }

    fn sniff_response(&self, head: &[u8]) -> bool {
        has(head, "\"response.created\"")
            || has(head, "\"object\":\"response\"")
            || has(head, "\"response.output_")
    }

    fn matches_path(&self, p: &str) -> bool {
        p.ends_with("/responses")
    }

    fn matches_request(&self, req: &Value) -> bool {
        req.get("input").is_some() && req.get("messages").is_none()
    }

    fn request_messages(&self, r: &Value) -> Vec<ChatMessage> {
        let mut out = Vec::new();
        if let Some(i) = r.get("instructions").and_then(Value::as_str) {
            out.push(ChatMessage {
                role: "system".into(),
                text: i.into(),
                parts: vec![Part::Text { text: i.into() }],
            });
        }
        match r.get("input") {
            Some(Value::String(t)) => out.push(ChatMessage {
                role: "user".into(),
                text: t.clone(),
                parts: vec![Part::Text { text: t.clone() }],
            }),
            Some(Value::Array(items)) => {
                for it in items {
                    let kind = s(it, "type").unwrap_or_else(|| "message".into());
                    let mut text = String::new();
                    let mut parts = Vec::new();
                    let role = match kind.as_str() {
                        "message" => {
                            openai_content(it.get("content"), &mut parts, &mut text);
                            s(it, "role").unwrap_or_default()
                        }
                        "function_call" | "custom_tool_call" => {
                            parts.push(tool_use_part(tool_call(it)));
                            "assistant".into()
                        }
                        "function_call_output" | "custom_tool_call_output" => {
                            parts.push(Part::ToolResult {
                                tool_use_id: s(it, "call_id").unwrap_or_default(),
                                text: it.get("output").map(json_text).unwrap_or_default(),
                                is_error: false,
                            });
                            "tool".into()
                        }
                        "reasoning" => {
                            for sm in it
                                .get("summary")
                                .and_then(Value::as_array)
                                .into_iter()
                                .flatten()
                            {
                                parts.push(Part::Thinking {
                                    text: s(sm, "text").unwrap_or_default(),
                                });
                            }
                            "assistant".into()
                        }
                        _ => {
                            parts.push(Part::Other { kind: kind.clone() });
                            s(it, "role").unwrap_or_default()
                        }
                    };
                    out.push(ChatMessage { role, text, parts });
                }
            }
            _ => {}
        }
        out
    }

    fn decode_json(&self, call: &mut LlmCall, v: &Value) {
        if v.get("output").is_none() && v.get("error").filter(|x| !x.is_null()).is_some() {
            call.error = Some(error_text(v));
            return;
        }
        response_object(call, v, true);
    }

    fn decode_stream(&self, call: &mut LlmCall, events: &[SseEvent]) {
        let mut tools = ToolAcc::default();
        let mut text: BTreeMap<(u64, u64), String> = BTreeMap::new();
        let mut thinking = String::new();
        let mut final_obj: Option<Value> = None;
        let mut done = false;
        for e in events {
            let Some(v) = parse_event(call, e) else {
                continue;
            };
            let kind = s(&v, "type")
                .or_else(|| e.event.clone())
                .unwrap_or_default();
            let oi = u(&v, "output_index").unwrap_or(0);
            match kind.as_str() {
                "response.created" | "response.in_progress" => {
                    if let Some(r) = v.get("response") {
                        response_object(call, r, false);
                    }
                }
                "response.output_text.delta" => {
                    let ci = u(&v, "content_index").unwrap_or(0);
                    text.entry((oi, ci))
                        .or_default()
                        .push_str(&s(&v, "delta").unwrap_or_default());
                }
                "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                    thinking.push_str(&s(&v, "delta").unwrap_or_default())
                }
                "response.output_item.added" => {
                    if let Some(it) = v.get("item").filter(|it| is_tool_call(it)) {
                        tools.put(oi as usize, s(it, "call_id"), s(it, "name"), "");
                    }
                }
                "response.function_call_arguments.delta"
                | "response.custom_tool_call_input.delta" => {
                    tools.put(oi as usize, None, None, &s(&v, "delta").unwrap_or_default());
                }
                "response.output_item.done" => {
                    // The final item carries complete arguments; prefer them.
                    if let Some(it) = v.get("item").filter(|it| is_tool_call(it)) {
                        let args = tool_arguments(it);
                        tools.put(oi as usize, s(it, "call_id"), s(it, "name"), "");
                        if let (Some(a), Some(t)) = (args, tools.map.get_mut(&(oi as usize))) {
                            t.arguments_json = a;
                        }
                    }
                }
                "response.completed" | "response.incomplete" | "response.failed" => {
                    if let Some(r) = v.get("response") {
                        final_obj = Some(r.clone());
                    }
                    done = !e.incomplete;
                }
                "error" => {
                    call.error = Some(error_text(&v));
                    done = true;
                }
                _ => {}
            }
        }
        call.response_text = text.into_values().collect();
        call.thinking_text = thinking;
        call.tool_calls = tools.into_calls();
        if let Some(r) = final_obj {
            // Use the final object's output only if the deltas were lost.
            let lost = call.response_text.is_empty() && call.tool_calls.is_empty();
            response_object(call, &r, lost);
        }
        call.partial = !done;
        call.ended = done;
    }
}

fn is_tool_call(item: &Value) -> bool {
    matches!(
        s(item, "type").as_deref(),
        Some("function_call") | Some("custom_tool_call")
    )
}

/// Function tools send `arguments`, custom tools `input`.
fn tool_arguments(item: &Value) -> Option<String> {
    item.get("arguments")
        .or_else(|| item.get("input"))
        .map(json_text)
}

/// A `function_call` / `custom_tool_call` item (input history or output).
fn tool_call(item: &Value) -> ToolCall {
    ToolCall {
        id: s(item, "call_id").unwrap_or_default(),
        name: s(item, "name").unwrap_or_default(),
        arguments_json: tool_arguments(item).unwrap_or_default(),
    }
}

fn usage(call: &mut LlmCall, us: &Value) {
    openai_usage(
        call,
        us,
        ["input_tokens", "output_tokens"],
        ["input_tokens_details", "output_tokens_details"],
    );
}

/// Fill `call` from a full Response object; `with_output` takes text and
/// tool calls from `output` too (non-streaming, or a stream that lost deltas).
fn response_object(call: &mut LlmCall, r: &Value, with_output: bool) {
    call.response_id = s(r, "id").or(call.response_id.take());
    if let Some(m) = s(r, "model") {
        call.model = Some(m);
    }
    if let Some(us) = r.get("usage").filter(|x| !x.is_null()) {
        usage(call, us);
    }
    let status = s(r, "status");
    let incomplete = r.get("incomplete_details").and_then(|d| s(d, "reason"));
    call.stop_reason = incomplete.or(status).or(call.stop_reason.take());
    if let Some(e) = error_member(r) {
        call.error = Some(e);
    }
    if !with_output {
        return;
    }
    for it in r
        .get("output")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match s(it, "type").as_deref() {
            Some("message") => {
                let mut t = String::new();
                openai_content(it.get("content"), &mut Vec::new(), &mut t);
                call.response_text.push_str(&t);
            }
            Some("function_call") | Some("custom_tool_call") => call.tool_calls.push(tool_call(it)),
            Some("reasoning") => {
                for sm in it
                    .get("summary")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    call.thinking_text
                        .push_str(&s(sm, "text").unwrap_or_default());
                }
            }
            _ => {}
        }
    }
}
