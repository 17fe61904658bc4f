//! Pure decoders for captured TLS plaintext (issue 5): HTTP/1.1 and HTTP/2 framing and
//! content decoding, Server-Sent Events, and LLM API calls. No I/O; every
//! function accepts arbitrary bytes without panicking.

pub mod encoding;
pub mod http1;
pub mod http2;
pub mod llm;
pub mod markers;
pub mod sse;

#[cfg(test)]
mod fuzz_regressions;
#[cfg(test)]
mod tests;

use http1::Exchange;
use llm::LlmCall;

/// The LLM call carried by one HTTP exchange, if its shape is recognised.
/// Lost bytes or a damaged request mark the call `partial`; so does a
/// response cut short, unless the API's explicit end-of-stream marker was
/// read before the cut: clients stop reading once they have it (the OpenAI
/// SDKs close after `[DONE]`, leaving the chunked terminator and the gzip
/// trailer unread).
pub fn exchange_llm_call(ex: &Exchange) -> Option<LlmCall> {
    let req = ex.request.as_ref()?;
    let path = req.head.path.as_deref().unwrap_or("");
    let (ctype, body, lost, cut) = match &ex.response {
        Some(r) => (
            r.head.header("content-type"),
            r.content(),
            r.gap,
            r.truncated || r.decode_error,
        ),
        None => (None, &[][..], true, false),
    };
    let host = req.head.header("host");
    let mut call =
        llm::decode_call_with_host(host.as_deref(), path, req.content(), ctype.as_deref(), body)?;
    // A JSON body that parsed is whole; a stream needs its end marker.
    let cut_stream = cut && call.streaming && !call.ended;
    if lost || cut_stream || req.truncated || req.gap || req.decode_error {
        call.partial = true;
    }
    Some(call)
}

/// One fuzz iteration over every decoder (the `all` target in fuzz/):
/// the first bytes choose split points and gap sizes, the rest is the input.
#[doc(hidden)]
pub fn fuzz_one(data: &[u8]) {
    let (ctl, input) = data.split_at(data.len().min(8));
    let mut pieces = Vec::new();
    let mut rest = input;
    for &c in ctl {
        let n = (c as usize & 0x7f).min(rest.len());
        pieces.push(http1::Piece::Data(&rest[..n]));
        if c & 0x80 != 0 {
            pieces.push(http1::Piece::Gap(u64::from(c & 0x0f)));
        }
        rest = &rest[n..];
    }
    pieces.push(http1::Piece::Data(rest));
    for ex in http1::parse_connection(&pieces, &pieces, true) {
        let _ = exchange_llm_call(&ex);
    }
    for ex in http2::parse_connection(&pieces, &pieces) {
        let _ = exchange_llm_call(&ex);
    }
    let mut sp = sse::SseParser::new();
    for p in &pieces {
        if let http1::Piece::Data(d) = p {
            sp.push(d);
        }
    }
    sp.finish();
    let _ = sp.take_events();
    for path in [
        "/v1/messages",
        "/v1/chat/completions",
        "/v1/responses",
        "/v1beta/models/m:streamGenerateContent",
    ] {
        let _ = llm::decode_call(path, input, None, input);
    }
    for enc in ["gzip", "deflate", "br", "zstd"] {
        let _ = encoding::decode_all(enc, input);
    }
}
