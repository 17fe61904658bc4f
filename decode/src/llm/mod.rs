//! Provider-neutral view of one LLM API call, from the request body and the
//! (decoded) response body, streaming or not.
//!
//! This module holds the shared types, provider detection and the decode
//! driver (SSE or JSON, request messages, model); each API's wire format
//! lives in its own module behind [`ProviderDecoder`].

mod anthropic;
mod common;
mod gemini;
mod openai_chat;
mod openai_responses;

use serde::Serialize;
use serde_json::Value;

use crate::sse::{self, SseEvent};
use common::{path_only, s, trim_ws};

pub use gemini::split_json_array;

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

    fn decoder(self) -> &'static dyn ProviderDecoder {
        match self {
            Provider::Anthropic => &anthropic::Anthropic,
            Provider::OpenAiChat => &openai_chat::OpenAiChat,
            Provider::OpenAiResponses => &openai_responses::OpenAiResponses,
            Provider::Gemini => &gemini::Gemini,
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

/// What one API does differently. The driver below owns everything the APIs
/// share: the order evidence is weighed in, SSE vs JSON, the request's
/// `model` and `previous_response_id`, and how an unparsable body counts.
trait ProviderDecoder: Sync {
    fn provider(&self) -> Provider;

    /// This API's marker in the first 4 KiB of a response body.
    fn sniff_response(&self, head: &[u8]) -> bool;

    /// `path` (query and fragment stripped) is one of this API's endpoints.
    fn matches_path(&self, path: &str) -> bool;

    /// `host` (lower case, port stripped) serves only this API.
    fn matches_host(&self, _host: &str) -> bool {
        false
    }

    /// The request JSON has this API's shape.
    fn matches_request(&self, req: &Value) -> bool;

    /// `path` asks for a stream even when the response is not SSE.
    fn path_requests_stream(&self, _path: &str) -> bool {
        false
    }

    /// The model named by the path; it wins over the request's `model`.
    fn model_from_path(&self, _path: &str) -> Option<String> {
        None
    }

    /// The conversation sent in the request.
    fn request_messages(&self, req: &Value) -> Vec<ChatMessage>;

    /// A non-streaming response body (already trimmed); one JSON object
    /// unless the API says otherwise.
    fn decode_body(&self, call: &mut LlmCall, body: &[u8]) {
        decode_json_body(self, call, body)
    }

    /// A non-streaming response that parsed as JSON.
    fn decode_json(&self, call: &mut LlmCall, v: &Value);

    /// A whole SSE response. Each API keeps its own per-stream state and
    /// decides from its own end marker whether the stream is `partial`/`ended`.
    fn decode_stream(&self, call: &mut LlmCall, events: &[SseEvent]);
}

/// The default [`ProviderDecoder::decode_body`], also the fallback of
/// APIs that override it.
fn decode_json_body<D: ProviderDecoder + ?Sized>(dec: &D, call: &mut LlmCall, body: &[u8]) {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => dec.decode_json(call, &v),
        Err(_) => {
            call.partial = true;
            if !body.is_empty() {
                call.bad_events += 1;
            }
        }
    }
}

/// The order response, path and host evidence is tried in; the first match
/// wins where two overlap (say a gateway path that contains `/v1/messages`
/// and ends in `/responses`).
const DECODERS: [&dyn ProviderDecoder; 4] = [
    &anthropic::Anthropic,
    &openai_chat::OpenAiChat,
    &openai_responses::OpenAiResponses,
    &gemini::Gemini,
];

/// Request shapes do overlap (Anthropic and Chat both send `messages`), so
/// the body is tried most distinctive first and plain `messages` last.
const BY_REQUEST: [&dyn ProviderDecoder; 4] = [
    &gemini::Gemini,
    &anthropic::Anthropic,
    &openai_responses::OpenAiResponses,
    &openai_chat::OpenAiChat,
];

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
    let head = &response_body[..response_body.len().min(4096)];
    if let Some(d) = DECODERS.iter().find(|d| d.sniff_response(head)) {
        return Some(d.provider());
    }
    let p = path_only(path);
    if let Some(d) = DECODERS.iter().find(|d| d.matches_path(p)) {
        return Some(d.provider());
    }
    let host = host.unwrap_or("").to_ascii_lowercase();
    let host = host.split(':').next().unwrap_or("");
    if let Some(d) = DECODERS.iter().find(|d| d.matches_host(host)) {
        return Some(d.provider());
    }
    let req: Value = serde_json::from_slice(request_body).ok()?;
    BY_REQUEST
        .iter()
        .find(|d| d.matches_request(&req))
        .map(|d| d.provider())
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
        // Any API's stream path counts, not only the detected one's: a
        // gateway may answer a Gemini stream path in another API's shape.
        let p = path_only(path);
        call.streaming = req
            .as_ref()
            .and_then(|r| r.get("stream"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
            || DECODERS.iter().any(|d| d.path_requests_stream(p));
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
    let dec = provider.decoder();
    let mut call = LlmCall::new(provider, events.is_some());
    if let Some(r) = request {
        call.request_messages = dec.request_messages(r);
        call.model = r.get("model").and_then(Value::as_str).map(str::to_string);
        call.previous_response_id = s(r, "previous_response_id");
    }
    if let Some(m) = dec.model_from_path(path) {
        call.model = Some(m);
    }
    match events {
        Some(evs) => dec.decode_stream(&mut call, evs),
        None => dec.decode_body(&mut call, trim_ws(response_body)),
    }
    call
}
