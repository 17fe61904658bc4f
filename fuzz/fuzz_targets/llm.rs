//! LLM call decoding from arbitrary request/response bodies over several
//! request paths, content types and hosts.
//!
//! Input: `[selector][request length: u16 LE][request body][response body]`.
#![no_main]

use agentsight_fuzz::decode::llm::{decode_call, decode_call_with_host};
use agentsight_fuzz::Input;
use libfuzzer_sys::fuzz_target;

const PATHS: [&str; 8] = [
    "/v1/messages",
    "/v1/chat/completions",
    "/v1/responses",
    "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
    "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
    "/v1/models/m:generateContent",
    "/proxy/v1/messages?beta=true",
    "/",
];
const CTYPES: [Option<&str>; 4] = [
    None,
    Some("text/event-stream; charset=utf-8"),
    Some("application/json"),
    Some("TEXT/EVENT-STREAM"),
];
const HOSTS: [Option<&str>; 4] = [
    None,
    Some("api.anthropic.com"),
    Some("generativelanguage.googleapis.com:443"),
    Some("api.openai.com"),
];

fuzz_target!(|data: &[u8]| {
    let mut inp = Input::new(data);
    let sel = usize::from(inp.byte());
    let req_len = usize::from(inp.u16());
    let req = inp.take(req_len);
    let resp = inp.rest;
    let path = PATHS[sel % 8];
    let ctype = CTYPES[(sel >> 3) % 4];
    let host = HOSTS[(sel >> 5) % 4];

    if let Some(c) = decode_call_with_host(host, path, req, ctype, resp) {
        let _ = c.response_message();
        serde_json::to_string(&c).expect("LlmCall serializes");
    }
    for p in PATHS {
        let _ = decode_call(p, req, ctype, resp);
    }
});
