//! Provider-neutral view of one LLM API call, from the request body and the
//! (decoded) response body, streaming or not.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::sse::{self, SseEvent};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Anthropic,
    OpenAiChat,
    OpenAiResponses,
    Gemini,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Anthropic => "anthropic",
            Provider::OpenAiChat => "openai_chat",
            Provider::OpenAiResponses => "openai_responses",
            Provider::Gemini => "gemini",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// Arguments as JSON text, exactly as streamed/sent (may be invalid if cut).
    pub arguments_json: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part {
    Text {
        text: String,
    },
    Thinking {
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        arguments_json: String,
    },
    ToolResult {
        tool_use_id: String,
        text: String,
        is_error: bool,
    },
    /// Images, documents and anything else: kept as its type name only.
    Other {
        kind: String,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChatMessage {
    pub role: String,
    /// Concatenated text parts.
    pub text: String,
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LlmCall {
    pub provider: Provider,
    pub model: Option<String>,
    pub streaming: bool,
    pub stop_reason: Option<String>,
    pub response_id: Option<String>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cache_read_tokens: Option<u64>,
    pub cache_creation_tokens: Option<u64>,
    pub reasoning_tokens: Option<u64>,
    pub response_text: String,
    pub thinking_text: String,
    pub tool_calls: Vec<ToolCall>,
    pub request_messages: Vec<ChatMessage>,
    /// Responses API: the earlier response this request continues.
    pub previous_response_id: Option<String>,
    /// Error reported by the API (error event or error body).
    pub error: Option<String>,
    /// The response did not reach its terminal event / did not parse fully.
    pub partial: bool,
    /// A stream's explicit end (`message_stop`, `[DONE]`, a final
    /// `response.*` status or an error event) was received; Gemini streams
    /// have none.
    pub ended: bool,
    /// Response events that could not be parsed as JSON.
    pub bad_events: usize,
}

impl LlmCall {
    /// A call with nothing decoded yet; the decoders fill it in, tests build one by hand.
    pub fn new(provider: Provider, streaming: bool) -> Self {
        LlmCall {
            provider,
            model: None,
            streaming,
            stop_reason: None,
            response_id: None,
            input_tokens: None,
            output_tokens: None,
            cache_read_tokens: None,
            cache_creation_tokens: None,
            reasoning_tokens: None,
            response_text: String::new(),
            thinking_text: String::new(),
            tool_calls: Vec::new(),
            request_messages: Vec::new(),
            previous_response_id: None,
            error: None,
            partial: false,
            ended: false,
            bad_events: 0,
        }
    }

    /// The model's answer as one assistant message.
    pub fn response_message(&self) -> ChatMessage {
        let mut parts = Vec::new();
        if !self.thinking_text.is_empty() {
            parts.push(Part::Thinking {
                text: self.thinking_text.clone(),
            });
        }
        if !self.response_text.is_empty() {
            parts.push(Part::Text {
                text: self.response_text.clone(),
            });
        }
        for t in &self.tool_calls {
            parts.push(Part::ToolUse {
                id: t.id.clone(),
                name: t.name.clone(),
                arguments_json: t.arguments_json.clone(),
            });
        }
        ChatMessage {
            role: "assistant".into(),
            text: self.response_text.clone(),
            parts,
        }
    }
}

fn path_only(path: &str) -> &str {
    path.split(['?', '#']).next().unwrap_or(path)
}

/// Guess the provider from the request path, the request JSON and the
/// response body's shape. Body shape wins over the path (proxies and
/// gateways rename paths); the path breaks ties.
pub fn detect_provider(path: &str, request_body: &[u8], response_body: &[u8]) -> Option<Provider> {
    detect_provider_with_host(None, path, request_body, response_body)
}

/// [`detect_provider`] with the request's `Host` as a weaker hint than the
/// path (hosts are shared by several APIs and by gateways).
pub fn detect_provider_with_host(
    host: Option<&str>,
    path: &str,
    request_body: &[u8],
    response_body: &[u8],
) -> Option<Provider> {
    if let Some(p) = detect_from_response(response_body) {
        return Some(p);
    }
    let p = path_only(path);
    if p.ends_with("/messages") || p.contains("/v1/messages") {
        return Some(Provider::Anthropic);
    }
    if p.ends_with("/chat/completions") {
        return Some(Provider::OpenAiChat);
    }
    if p.ends_with("/responses") {
        return Some(Provider::OpenAiResponses);
    }
    if p.contains(":generateContent") || p.contains(":streamGenerateContent") {
        return Some(Provider::Gemini);
    }
    let host = host.unwrap_or("").to_ascii_lowercase();
    let host = host.split(':').next().unwrap_or("");
    if host.ends_with("anthropic.com") {
        return Some(Provider::Anthropic);
    }
    if host.ends_with("generativelanguage.googleapis.com")
        || host.ends_with("aiplatform.googleapis.com")
    {
        return Some(Provider::Gemini);
    }
    let req: Value = serde_json::from_slice(request_body).ok()?;
    if req.get("contents").is_some() {
        return Some(Provider::Gemini);
    }
    if req.get("anthropic_version").is_some()
        || req.get("max_tokens").is_some() && req.get("system").is_some()
    {
        return Some(Provider::Anthropic);
    }
    if req.get("input").is_some() && req.get("messages").is_none() {
        return Some(Provider::OpenAiResponses);
    }
    if req.get("messages").is_some() {
        return Some(Provider::OpenAiChat);
    }
    None
}

fn detect_from_response(body: &[u8]) -> Option<Provider> {
    let head = &body[..body.len().min(4096)];
    let has = |s: &str| memchr::memmem::find(head, s.as_bytes()).is_some();
    if has("\"message_start\"")
        || has("\"content_block_")
        || (has("\"type\":\"message\"") && has("\"stop_reason\""))
    {
        return Some(Provider::Anthropic);
    }
    if has("\"chat.completion") {
        return Some(Provider::OpenAiChat);
    }
    if has("\"response.created\"") || has("\"object\":\"response\"") || has("\"response.output_") {
        return Some(Provider::OpenAiResponses);
    }
    if has("\"candidates\"") || has("\"usageMetadata\"") {
        return Some(Provider::Gemini);
    }
    None
}

fn looks_like_sse(body: &[u8]) -> bool {
    let b = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let b = &b[start..];
    b.starts_with(b"data:")
        || b.starts_with(b"event:")
        || b.starts_with(b":")
        || b.starts_with(b"id:")
}

/// Decode one call. `path` is the request target (for Gemini it carries the
/// model); `response_content_type` helps tell SSE from JSON. Returns `None`
/// when no provider is recognised (the exchange stays a plain HTTP one).
pub fn decode_call(
    path: &str,
    request_body: &[u8],
    response_content_type: Option<&str>,
    response_body: &[u8],
) -> Option<LlmCall> {
    decode_call_with_host(
        None,
        path,
        request_body,
        response_content_type,
        response_body,
    )
}

/// [`decode_call`] with the request's `Host` header as an extra hint.
pub fn decode_call_with_host(
    host: Option<&str>,
    path: &str,
    request_body: &[u8],
    response_content_type: Option<&str>,
    response_body: &[u8],
) -> Option<LlmCall> {
    let provider = detect_provider_with_host(host, path, request_body, response_body)?;
    let is_sse = response_content_type
        .map(|c| c.to_ascii_lowercase().contains("text/event-stream"))
        .unwrap_or(false)
        || looks_like_sse(response_body);
    let req: Option<Value> = serde_json::from_slice(request_body).ok();
    let events = if is_sse {
        Some(sse::parse_all(response_body))
    } else {
        None
    };
    let mut call = decode_parsed(
        provider,
        path,
        req.as_ref(),
        events.as_deref(),
        response_body,
    );
    if events.is_none() {
        call.streaming = req
            .as_ref()
            .and_then(|r| r.get("stream"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
            || path_only(path).contains(":streamGenerateContent");
    }
    Some(call)
}

/// Like [`decode_call`] with the provider and SSE events already known.
pub fn decode_parsed(
    provider: Provider,
    path: &str,
    request: Option<&Value>,
    events: Option<&[SseEvent]>,
    response_body: &[u8],
) -> LlmCall {
    let mut call = LlmCall::new(provider, events.is_some());
    if let Some(r) = request {
        call.request_messages = request_messages(provider, r);
        call.model = r.get("model").and_then(Value::as_str).map(str::to_string);
        call.previous_response_id = s(r, "previous_response_id");
    }
    if provider == Provider::Gemini {
        if let Some(m) = gemini_model_from_path(path) {
            call.model = Some(m);
        }
    }
    match events {
        Some(evs) => match provider {
            Provider::Anthropic => anthropic_stream(&mut call, evs),
            Provider::OpenAiChat => chat_stream(&mut call, evs),
            Provider::OpenAiResponses => responses_stream(&mut call, evs),
            Provider::Gemini => gemini_stream(&mut call, evs),
        },
        None => {
            let trimmed = trim_ws(response_body);
            if provider == Provider::Gemini && trimmed.first() == Some(&b'[') {
                gemini_array(&mut call, trimmed);
            } else {
                match serde_json::from_slice::<Value>(trimmed) {
                    Ok(v) => match provider {
                        Provider::Anthropic => anthropic_json(&mut call, &v),
                        Provider::OpenAiChat => chat_json(&mut call, &v),
                        Provider::OpenAiResponses => responses_json(&mut call, &v),
                        Provider::Gemini => gemini_chunk(&mut call, &v, &mut ToolAcc::default()),
                    },
                    Err(_) => {
                        call.partial = true;
                        if !trimmed.is_empty() {
                            call.bad_events += 1;
                        }
                    }
                }
            }
        }
    }
    call
}

/// Trimmed of ASCII whitespace and a leading UTF-8 byte-order mark.
fn trim_ws(b: &[u8]) -> &[u8] {
    b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b).trim_ascii()
}

fn gemini_model_from_path(path: &str) -> Option<String> {
    let p = path_only(path);
    let i = p.find("models/")?;
    let rest = &p[i + "models/".len()..];
    let m = rest.split([':', '/']).next()?;
    (!m.is_empty()).then(|| m.to_string())
}

// ---------- small JSON helpers ----------

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

fn u(v: &Value, k: &str) -> Option<u64> {
    v.get(k).and_then(Value::as_u64)
}

fn json_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn error_text(v: &Value) -> String {
    let e = v.get("error").unwrap_or(v);
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

fn push_text(parts: &mut Vec<Part>, text: &mut String, t: String) {
    text.push_str(&t);
    parts.push(Part::Text { text: t });
}

// ---------- request messages ----------

fn request_messages(p: Provider, r: &Value) -> Vec<ChatMessage> {
    match p {
        Provider::Anthropic => anthropic_request(r),
        Provider::OpenAiChat => chat_request(r),
        Provider::OpenAiResponses => responses_request(r),
        Provider::Gemini => gemini_request(r),
    }
}

fn anthropic_blocks(content: &Value) -> (String, Vec<Part>) {
    let mut text = String::new();
    let mut parts = Vec::new();
    match content {
        Value::String(t) => push_text(&mut parts, &mut text, t.clone()),
        Value::Array(blocks) => {
            for b in blocks {
                let kind = s(b, "type").unwrap_or_default();
                match kind.as_str() {
                    "text" => push_text(&mut parts, &mut text, s(b, "text").unwrap_or_default()),
                    "thinking" => parts.push(Part::Thinking {
                        text: s(b, "thinking").unwrap_or_default(),
                    }),
                    "tool_use" | "server_tool_use" => parts.push(Part::ToolUse {
                        id: s(b, "id").unwrap_or_default(),
                        name: s(b, "name").unwrap_or_default(),
                        arguments_json: b.get("input").map(Value::to_string).unwrap_or_default(),
                    }),
                    "tool_result" => {
                        let (t, _) = anthropic_blocks(b.get("content").unwrap_or(&Value::Null));
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

fn anthropic_request(r: &Value) -> Vec<ChatMessage> {
    let mut out = Vec::new();
    if let Some(sys) = r.get("system") {
        let (text, parts) = anthropic_blocks(sys);
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
        let (text, parts) = anthropic_blocks(m.get("content").unwrap_or(&Value::Null));
        out.push(ChatMessage {
            role: s(m, "role").unwrap_or_default(),
            text,
            parts,
        });
    }
    out
}

/// OpenAI content: a string or an array of typed parts.
fn openai_content(content: Option<&Value>, parts: &mut Vec<Part>, text: &mut String) {
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

fn chat_request(r: &Value) -> Vec<ChatMessage> {
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
            let f = tc.get("function").unwrap_or(&Value::Null);
            parts.push(Part::ToolUse {
                id: s(tc, "id").unwrap_or_default(),
                name: s(f, "name").unwrap_or_default(),
                arguments_json: f.get("arguments").map(json_text).unwrap_or_default(),
            });
        }
        out.push(ChatMessage { role, text, parts });
    }
    out
}

fn responses_request(r: &Value) -> Vec<ChatMessage> {
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
                        parts.push(Part::ToolUse {
                            id: s(it, "call_id").unwrap_or_default(),
                            name: s(it, "name").unwrap_or_default(),
                            arguments_json: it
                                .get("arguments")
                                .or_else(|| it.get("input"))
                                .map(json_text)
                                .unwrap_or_default(),
                        });
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

fn gemini_parts(
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

fn gemini_request(r: &Value) -> Vec<ChatMessage> {
    let mut out = Vec::new();
    let sys = r
        .get("systemInstruction")
        .or_else(|| r.get("system_instruction"));
    if let Some(sys) = sys {
        let (text, parts) = gemini_parts(sys, None, &mut ToolAcc::default());
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
        let (text, parts) = gemini_parts(c, None, &mut ToolAcc::default());
        out.push(ChatMessage {
            role: s(c, "role").unwrap_or_else(|| "user".into()),
            text,
            parts,
        });
    }
    out
}

// ---------- tool call accumulation ----------

/// Tool calls keyed by stream index, kept in first-seen order.
#[derive(Default)]
struct ToolAcc {
    order: Vec<usize>,
    map: BTreeMap<usize, ToolCall>,
}

impl ToolAcc {
    fn put(&mut self, key: usize, id: Option<String>, name: Option<String>, args: &str) {
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

    fn into_calls(mut self) -> Vec<ToolCall> {
        self.order
            .iter()
            .filter_map(|k| self.map.remove(k))
            .collect()
    }
}

fn parse_event(call: &mut LlmCall, e: &SseEvent) -> Option<Value> {
    match serde_json::from_str::<Value>(&e.data) {
        Ok(v) => Some(v),
        Err(_) => {
            call.bad_events += 1;
            None
        }
    }
}

// ---------- Anthropic ----------

fn anthropic_usage(call: &mut LlmCall, u_: &Value) {
    if let Some(v) = u(u_, "input_tokens") {
        call.input_tokens = Some(v);
    }
    if let Some(v) = u(u_, "output_tokens") {
        call.output_tokens = Some(v);
    }
    if let Some(v) = u(u_, "cache_read_input_tokens") {
        call.cache_read_tokens = Some(v);
    }
    if let Some(v) = u(u_, "cache_creation_input_tokens") {
        call.cache_creation_tokens = Some(v);
    }
}

fn anthropic_json(call: &mut LlmCall, v: &Value) {
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
        anthropic_usage(call, us);
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
            Some("tool_use") | Some("server_tool_use") => call.tool_calls.push(ToolCall {
                id: s(b, "id").unwrap_or_default(),
                name: s(b, "name").unwrap_or_default(),
                arguments_json: b.get("input").map(Value::to_string).unwrap_or_default(),
            }),
            _ => {}
        }
    }
}

#[derive(Default)]
struct Block {
    kind: String,
    text: String,
    thinking: String,
    tool: Option<ToolCall>,
    /// `input` from content_block_start, used if no deltas arrive.
    start_input: Option<String>,
}

fn anthropic_stream(call: &mut LlmCall, events: &[SseEvent]) {
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
                        anthropic_usage(call, us);
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
                    anthropic_usage(call, us);
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

// ---------- OpenAI Chat Completions ----------

fn chat_usage(call: &mut LlmCall, us: &Value) {
    openai_usage(
        call,
        us,
        ["prompt_tokens", "completion_tokens"],
        ["prompt_tokens_details", "completion_tokens_details"],
    );
}

fn chat_json(call: &mut LlmCall, v: &Value) {
    if let Some(e) = v.get("error").filter(|e| !e.is_null()) {
        call.error = Some(error_text(&serde_json::json!({ "error": e })));
        return;
    }
    call.response_id = s(v, "id");
    if let Some(m) = s(v, "model") {
        call.model = Some(m);
    }
    if let Some(us) = v.get("usage").filter(|x| !x.is_null()) {
        chat_usage(call, us);
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
            let f = tc.get("function").unwrap_or(&Value::Null);
            call.tool_calls.push(ToolCall {
                id: s(tc, "id").unwrap_or_default(),
                name: s(f, "name").unwrap_or_default(),
                arguments_json: f.get("arguments").map(json_text).unwrap_or_default(),
            });
        }
    } else {
        call.partial = true;
    }
}

fn chat_stream(call: &mut LlmCall, events: &[SseEvent]) {
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
        if let Some(err) = v.get("error").filter(|x| !x.is_null()) {
            call.error = Some(error_text(&serde_json::json!({ "error": err })));
            continue;
        }
        if call.response_id.is_none() {
            call.response_id = s(&v, "id");
        }
        if let Some(m) = s(&v, "model") {
            call.model = Some(m);
        }
        if let Some(us) = v.get("usage").filter(|x| !x.is_null()) {
            chat_usage(call, us);
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

// ---------- OpenAI Responses ----------

fn responses_usage(call: &mut LlmCall, us: &Value) {
    openai_usage(
        call,
        us,
        ["input_tokens", "output_tokens"],
        ["input_tokens_details", "output_tokens_details"],
    );
}

/// OpenAI usage objects: the two APIs name the same counts differently.
fn openai_usage(
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

/// Fill `call` from a full Response object; `with_output` takes text and
/// tool calls from `output` too (non-streaming, or a stream that lost deltas).
fn responses_object(call: &mut LlmCall, r: &Value, with_output: bool) {
    call.response_id = s(r, "id").or(call.response_id.take());
    if let Some(m) = s(r, "model") {
        call.model = Some(m);
    }
    if let Some(us) = r.get("usage").filter(|x| !x.is_null()) {
        responses_usage(call, us);
    }
    let status = s(r, "status");
    let incomplete = r.get("incomplete_details").and_then(|d| s(d, "reason"));
    call.stop_reason = incomplete.or(status).or(call.stop_reason.take());
    if let Some(e) = r.get("error").filter(|x| !x.is_null()) {
        call.error = Some(error_text(&serde_json::json!({ "error": e })));
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
            Some("function_call") | Some("custom_tool_call") => call.tool_calls.push(ToolCall {
                id: s(it, "call_id").unwrap_or_default(),
                name: s(it, "name").unwrap_or_default(),
                arguments_json: it
                    .get("arguments")
                    .or_else(|| it.get("input"))
                    .map(json_text)
                    .unwrap_or_default(),
            }),
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

fn responses_json(call: &mut LlmCall, v: &Value) {
    if v.get("output").is_none() && v.get("error").filter(|x| !x.is_null()).is_some() {
        call.error = Some(error_text(v));
        return;
    }
    responses_object(call, v, true);
}

fn responses_stream(call: &mut LlmCall, events: &[SseEvent]) {
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
                    responses_object(call, r, false);
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
                if let Some(it) = v.get("item") {
                    if matches!(
                        s(it, "type").as_deref(),
                        Some("function_call") | Some("custom_tool_call")
                    ) {
                        tools.put(oi as usize, s(it, "call_id"), s(it, "name"), "");
                    }
                }
            }
            "response.function_call_arguments.delta" | "response.custom_tool_call_input.delta" => {
                tools.put(oi as usize, None, None, &s(&v, "delta").unwrap_or_default());
            }
            "response.output_item.done" => {
                // The final item carries complete arguments; prefer them.
                if let Some(it) = v.get("item") {
                    if matches!(
                        s(it, "type").as_deref(),
                        Some("function_call") | Some("custom_tool_call")
                    ) {
                        let args = it
                            .get("arguments")
                            .or_else(|| it.get("input"))
                            .map(json_text);
                        tools.put(oi as usize, s(it, "call_id"), s(it, "name"), "");
                        if let (Some(a), Some(t)) = (args, tools.map.get_mut(&(oi as usize))) {
                            t.arguments_json = a;
                        }
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
        if lost {
            responses_object(call, &r, true);
        } else {
            responses_object(call, &r, false);
        }
    }
    call.partial = !done;
    call.ended = done;
}

// ---------- Gemini ----------

fn gemini_chunk(call: &mut LlmCall, v: &Value, tools: &mut ToolAcc) {
    if let Some(e) = v.get("error").filter(|x| !x.is_null()) {
        call.error = Some(error_text(&serde_json::json!({ "error": e })));
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
            gemini_parts(content, Some(call), tools);
        }
        if let Some(r) = s(c, "finishReason") {
            call.stop_reason = Some(r);
        }
    }
    if let Some(b) = v.get("promptFeedback").and_then(|p| s(p, "blockReason")) {
        call.stop_reason = Some(b);
    }
}

fn gemini_finish(call: &mut LlmCall, tools: ToolAcc) {
    call.tool_calls = tools.into_calls();
    if call.stop_reason.is_none() && call.error.is_none() {
        call.partial = true;
    }
}

fn gemini_stream(call: &mut LlmCall, events: &[SseEvent]) {
    let mut tools = ToolAcc::default();
    for e in events {
        if let Some(v) = parse_event(call, e) {
            gemini_chunk(call, &v, &mut tools);
        }
    }
    gemini_finish(call, tools);
    if events.last().map(|e| e.incomplete).unwrap_or(true) {
        call.partial = true;
    }
}

/// `streamGenerateContent` without `alt=sse`: a JSON array of responses,
/// possibly cut short, so elements are split by a small scanner instead of
/// parsing the whole array.
fn gemini_array(call: &mut LlmCall, body: &[u8]) {
    let mut tools = ToolAcc::default();
    let (elems, complete) = split_json_array(body);
    for el in elems {
        match serde_json::from_slice::<Value>(el) {
            Ok(v) => gemini_chunk(call, &v, &mut tools),
            Err(_) => call.bad_events += 1,
        }
    }
    gemini_finish(call, tools);
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
