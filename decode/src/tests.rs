use std::io::Write;

use serde_json::{json, Value};

use super::http1::{parse_connection, Direction, Exchange, Http1Parser, Message, Piece};
use super::llm::{decode_call, decode_parsed, detect_provider, LlmCall, Part, Provider};
use super::sse::{parse_all, SseParser};
use super::{encoding, exchange_llm_call};

macro_rules! fx {
    ($name:literal) => {
        include_bytes!(concat!("fixtures/", $name)).as_slice()
    };
}

/// (name, requests, responses) of whole-connection fixtures.
fn connections() -> Vec<(&'static str, &'static [u8], &'static [u8])> {
    vec![
        (
            "anthropic_stream",
            fx!("mock_anthropic_stream.in"),
            fx!("mock_anthropic_stream.out"),
        ),
        (
            "anthropic_json",
            fx!("mock_anthropic_json.in"),
            fx!("mock_anthropic_json.out"),
        ),
        (
            "chat_stream",
            fx!("mock_chat_stream.in"),
            fx!("mock_chat_stream.out"),
        ),
        (
            "chat_json",
            fx!("mock_chat_json.in"),
            fx!("mock_chat_json.out"),
        ),
        (
            "responses_stream",
            fx!("mock_responses_stream.in"),
            fx!("mock_responses_stream.out"),
        ),
        (
            "responses_json",
            fx!("mock_responses_json.in"),
            fx!("mock_responses_json.out"),
        ),
        ("http_edge", fx!("http_edge.in"), fx!("http_edge.out")),
    ]
}

/// (path, request body, SSE/JSON response body) of provider fixtures.
fn bodies() -> Vec<(&'static str, &'static [u8], &'static [u8])> {
    vec![
        (
            "/v1/messages",
            fx!("anthropic_thinking_tool.req.json"),
            fx!("anthropic_thinking_tool.sse"),
        ),
        (
            "/v1/messages",
            fx!("anthropic_thinking_tool.req.json"),
            fx!("anthropic_error.sse"),
        ),
        (
            "/v1/chat/completions",
            fx!("chat_parallel_tools.req.json"),
            fx!("chat_parallel_tools.sse"),
        ),
        (
            "/v1/responses",
            fx!("responses_incomplete.req.json"),
            fx!("responses_incomplete.sse"),
        ),
        (
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            fx!("gemini.req.json"),
            fx!("gemini_stream.sse"),
        ),
        (
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
            fx!("gemini.req.json"),
            fx!("gemini_stream.json"),
        ),
    ]
}

use agentsight_testkit::Rng;

fn split_at_points<'a>(b: &'a [u8], cuts: &[usize]) -> Vec<Piece<'a>> {
    let mut c: Vec<usize> = cuts.iter().map(|&x| x.min(b.len())).collect();
    c.sort_unstable();
    let mut out = Vec::new();
    let mut prev = 0;
    for x in c.into_iter().chain(std::iter::once(b.len())) {
        out.push(Piece::Data(&b[prev..x]));
        prev = x;
    }
    out
}

fn whole(b: &[u8]) -> Vec<Piece<'_>> {
    vec![Piece::Data(b)]
}

fn exchanges(rq: &[u8], rs: &[u8]) -> Vec<Exchange> {
    parse_connection(&whole(rq), &whole(rs), true)
}

fn calls(ex: &[Exchange]) -> Vec<Option<LlmCall>> {
    ex.iter().map(exchange_llm_call).collect()
}

fn args(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or(Value::Null)
}

// ---------- HTTP/1.1 ----------

#[test]
fn http_edge_cases() {
    let ex = exchanges(fx!("http_edge.in"), fx!("http_edge.out"));
    assert_eq!(ex.len(), 5, "{ex:#?}");
    let e0 = &ex[0];
    let q = e0.request.as_ref().unwrap();
    assert_eq!(q.head.method.as_deref(), Some("POST"));
    assert_eq!(q.body, b"hello world");
    assert_eq!(
        q.trailers,
        vec![("X-Checksum".to_string(), b"abc".to_vec())]
    );
    assert_eq!(e0.interim.len(), 1);
    assert_eq!(e0.interim[0].head.status, Some(100));
    let r = e0.response.as_ref().unwrap();
    assert_eq!(r.head.status, Some(200));
    assert_eq!(r.body, b"abc0123456789");
    assert_eq!(r.trailers.len(), 2);
    assert_eq!(
        r.trailers[0],
        ("X-Digest".to_string(), b"sha-256=xyz".to_vec())
    );
    assert!(!r.truncated && !r.gap && !r.framing_error);
    // HEAD: Content-Length describes the resource, not a body.
    let r1 = ex[1].response.as_ref().unwrap();
    assert_eq!(r1.request_method.as_deref(), Some("HEAD"));
    assert!(r1.body.is_empty());
    assert_eq!(ex[2].response.as_ref().unwrap().head.status, Some(204));
    assert_eq!(
        ex[2].request.as_ref().unwrap().head.method.as_deref(),
        Some("DELETE")
    );
    let r3 = ex[3].response.as_ref().unwrap();
    assert_eq!(r3.head.status, Some(304));
    assert!(r3.body.is_empty());
    let r4 = ex[4].response.as_ref().unwrap();
    assert_eq!(r4.head.version, 0);
    assert_eq!(r4.body, b"until the connection closes\r\n");
    assert!(!r4.truncated);
    assert_eq!(r4.end_offset, fx!("http_edge.out").len() as u64);
    assert_eq!(
        ex[4].request.as_ref().unwrap().head.path.as_deref(),
        Some("/last")
    );
    // Offsets tile the stream.
    let q1 = ex[1].request.as_ref().unwrap();
    assert_eq!(q.end_offset, q1.start_offset);
    assert_eq!(q.start_offset, 0);
    for e in &ex {
        let r = e.response.as_ref().unwrap();
        assert!(r.start_offset <= r.body_offset && r.body_offset <= r.end_offset);
    }
    // Unfinished stream: the until-close response is truncated-free but incomplete.
    let open = parse_connection(
        &whole(fx!("http_edge.in")),
        &whole(fx!("http_edge.out")),
        false,
    );
    assert_eq!(open.len(), 5);
    assert!(open[4].response.is_none());
}

#[test]
fn mock_connections_frame_and_decode() {
    for (name, rq, rs) in connections() {
        let ex = exchanges(rq, rs);
        for e in &ex {
            let r = e
                .response
                .as_ref()
                .unwrap_or_else(|| panic!("{name}: missing response"));
            assert!(
                !r.truncated && !r.gap && !r.decode_error && !r.framing_error,
                "{name}: {r:#?}"
            );
            assert!(e.request.is_some(), "{name}");
        }
        if name.starts_with("http") {
            continue;
        }
        // (reset +) two LLM turns; the second answer is gzip-compressed.
        assert_eq!(
            ex.len(),
            if name.starts_with("anthropic") { 3 } else { 2 },
            "{name}"
        );
        let r2 = ex[ex.len() - 1].response.as_ref().unwrap();
        assert_eq!(
            r2.head.header("content-encoding").as_deref(),
            Some("gzip"),
            "{name}"
        );
        assert!(r2.decoded_body.is_some());
        assert_eq!(rs.len() as u64, r2.end_offset, "{name}");
    }
}

#[test]
fn mock_llm_calls_match_script() {
    let weather = json!({"city": "Paris", "unit": "celsius"});
    type Case = (
        &'static str,
        Provider,
        bool,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        u64,
        u64,
        Option<u64>,
        &'static str,
        &'static str,
        u64,
        u64,
    );
    let cases: [Case; 6] = [
        (
            "anthropic_stream",
            Provider::Anthropic,
            true,
            "claude-mock-1",
            "I'll check the weather in Paris for you.",
            "toolu_mock_weather_01",
            "tool_use",
            412,
            57,
            Some(128),
            "It is 18 °C and sunny in Paris. Enjoy your walk!",
            "end_turn",
            503,
            21,
        ),
        (
            "anthropic_json",
            Provider::Anthropic,
            false,
            "claude-mock-1",
            "I'll check the weather in Paris for you.",
            "toolu_mock_weather_01",
            "tool_use",
            412,
            57,
            Some(128),
            "It is 18 °C and sunny in Paris. Enjoy your walk!",
            "end_turn",
            503,
            21,
        ),
        (
            "chat_stream",
            Provider::OpenAiChat,
            true,
            "gpt-mock-1",
            "Let me look that up.",
            "call_mock_weather_01",
            "tool_calls",
            311,
            44,
            Some(64),
            "It is 18 °C and sunny in Paris.",
            "stop",
            380,
            12,
        ),
        (
            "chat_json",
            Provider::OpenAiChat,
            false,
            "gpt-mock-1",
            "Let me look that up.",
            "call_mock_weather_01",
            "tool_calls",
            311,
            44,
            Some(64),
            "It is 18 °C and sunny in Paris.",
            "stop",
            380,
            12,
        ),
        (
            "responses_stream",
            Provider::OpenAiResponses,
            true,
            "gpt-mock-1",
            "Checking the forecast.",
            "call_mock_weather_r1",
            "completed",
            290,
            38,
            None,
            "",
            "completed",
            0,
            0,
        ),
        (
            "responses_json",
            Provider::OpenAiResponses,
            false,
            "gpt-mock-1",
            "Checking the forecast.",
            "call_mock_weather_r1",
            "completed",
            290,
            38,
            None,
            "",
            "completed",
            0,
            0,
        ),
    ];
    let conns = connections();
    for (
        name,
        prov,
        streaming,
        model,
        text1,
        tool_id,
        stop1,
        in1,
        out1,
        cache1,
        text2,
        stop2,
        in2,
        out2,
    ) in cases
    {
        let (_, rq, rs) = conns.iter().find(|c| c.0 == name).unwrap();
        let ex = exchanges(rq, rs);
        let mut cs = calls(&ex);
        if name.starts_with("anthropic") {
            assert!(
                cs[0].is_none(),
                "{name}: control endpoint is not an LLM call"
            );
            cs.remove(0);
        }
        let c1 = cs[0].as_ref().unwrap();
        assert_eq!(c1.provider, prov, "{name}");
        assert_eq!(c1.streaming, streaming, "{name}");
        assert_eq!(c1.model.as_deref(), Some(model), "{name}");
        assert_eq!(c1.response_text, text1, "{name}");
        assert_eq!(c1.tool_calls.len(), 1, "{name}");
        assert_eq!(c1.tool_calls[0].id, tool_id, "{name}");
        assert_eq!(c1.tool_calls[0].name, "get_weather", "{name}");
        assert_eq!(args(&c1.tool_calls[0].arguments_json), weather, "{name}");
        assert_eq!(c1.stop_reason.as_deref(), Some(stop1), "{name}");
        assert_eq!(
            (c1.input_tokens, c1.output_tokens),
            (Some(in1), Some(out1)),
            "{name}"
        );
        if cache1.is_some() {
            assert_eq!(c1.cache_read_tokens, cache1, "{name}");
        }
        assert!(
            !c1.partial && c1.error.is_none() && c1.bad_events == 0,
            "{name}: {c1:#?}"
        );
        let c2 = cs[1].as_ref().unwrap();
        assert!(!c2.partial, "{name}: {c2:#?}");
        assert!(c2.tool_calls.is_empty(), "{name}");
        if !text2.is_empty() {
            assert_eq!(c2.response_text, text2, "{name}");
            assert_eq!(c2.stop_reason.as_deref(), Some(stop2), "{name}");
            // The second streamed chat request did not ask for include_usage.
            let want = if name == "chat_stream" {
                (None, None)
            } else {
                (Some(in2), Some(out2))
            };
            assert_eq!((c2.input_tokens, c2.output_tokens), want, "{name}");
        } else {
            assert!(!c2.response_text.is_empty(), "{name}");
        }
        // The second request carries the tool result for the first call's tool.
        let has_result =
            c2.request_messages.iter().flat_map(|m| &m.parts).any(
                |p| matches!(p, Part::ToolResult { tool_use_id, .. } if tool_use_id == tool_id),
            );
        assert!(has_result, "{name}: {:#?}", c2.request_messages);
    }
}

/// Every split point of both directions gives the same exchanges and calls.
#[test]
fn connections_split_at_every_byte() {
    for (name, rq, rs) in connections() {
        let full = exchanges(rq, rs);
        let full_calls = calls(&full);
        for k in 0..=rs.len() {
            let ex = parse_connection(&whole(rq), &split_at_points(rs, &[k]), true);
            assert_eq!(ex, full, "{name}: response split at {k}");
        }
        for k in 0..=rq.len() {
            let ex = parse_connection(&split_at_points(rq, &[k]), &whole(rs), true);
            assert_eq!(ex, full, "{name}: request split at {k}");
        }
        assert_eq!(calls(&full), full_calls);
    }
}

#[test]
fn connections_random_multi_splits() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for (name, rq, rs) in connections() {
        let full = exchanges(rq, rs);
        for round in 0..60 {
            let n = 1 + rng.index(40);
            let cuts_q: Vec<usize> = (0..n).map(|_| rng.index(rq.len() + 1)).collect();
            let cuts_s: Vec<usize> = (0..n).map(|_| rng.index(rs.len() + 1)).collect();
            let ex = parse_connection(
                &split_at_points(rq, &cuts_q),
                &split_at_points(rs, &cuts_s),
                true,
            );
            assert_eq!(ex, full, "{name}: round {round}");
        }
        // One byte at a time.
        let ones_q: Vec<usize> = (1..rq.len()).collect();
        let ones_s: Vec<usize> = (1..rs.len()).collect();
        let ex = parse_connection(
            &split_at_points(rq, &ones_q),
            &split_at_points(rs, &ones_s),
            true,
        );
        assert_eq!(ex, full, "{name}: byte by byte");
    }
}

#[test]
fn truncated_streams_are_flagged_partial() {
    for (name, rq, rs) in connections() {
        let full = exchanges(rq, rs);
        for k in 0..rs.len() {
            let ex = exchanges(rq, &rs[..k]);
            // The response that the cut falls into is truncated and its call partial.
            let Some(i) = full.iter().position(|e| {
                let r = e.response.as_ref().unwrap();
                (r.start_offset as usize) < k && k < r.end_offset as usize
            }) else {
                continue;
            };
            let r = ex[i]
                .response
                .as_ref()
                .unwrap_or_else(|| panic!("{name} cut at {k}"));
            if full[i].response.as_ref().unwrap().body_offset as usize >= k
                && r.head.status.is_none()
            {
                continue; // cut inside the status line
            }
            let until_close = full[i]
                .response
                .as_ref()
                .unwrap()
                .head
                .header("content-length")
                .is_none()
                && full[i]
                    .response
                    .as_ref()
                    .unwrap()
                    .head
                    .header("transfer-encoding")
                    .is_none();
            if !until_close {
                assert!(r.truncated, "{name} cut at {k}: {r:#?}");
                // Complete only when nothing the call carries was cut off.
                if let Some(c) = exchange_llm_call(&ex[i]) {
                    let whole = exchange_llm_call(&full[i]);
                    assert!(
                        c.partial || Some(&c) == whole.as_ref(),
                        "{name} cut at {k}: {c:#?}"
                    );
                }
            }
            assert!(
                ex[i + 1..].iter().all(|e| e.response.is_none()),
                "{name} cut at {k}"
            );
        }
    }
}

/// Same gap, any split of the data around it: identical results.
#[test]
fn gaps_split_invariant() {
    let mut rng = Rng(1234);
    for (name, rq, rs) in connections() {
        for _ in 0..40 {
            let g = rng.index(rs.len());
            let len = 1 + rng.index(300).min(rs.len() - g);
            let (a, b) = (&rs[..g], &rs[(g + len).min(rs.len())..]);
            let base = parse_connection(
                &whole(rq),
                &[Piece::Data(a), Piece::Gap(len as u64), Piece::Data(b)],
                true,
            );
            for _ in 0..5 {
                let ca: Vec<usize> = (0..rng.index(6)).map(|_| rng.index(a.len() + 1)).collect();
                let cb: Vec<usize> = (0..rng.index(6)).map(|_| rng.index(b.len() + 1)).collect();
                let mut pieces = split_at_points(a, &ca);
                pieces.push(Piece::Gap(len as u64));
                pieces.extend(split_at_points(b, &cb));
                let ex = parse_connection(&whole(rq), &pieces, true);
                assert_eq!(ex, base, "{name}: gap {g}+{len}");
            }
            // Lost bytes are never papered over: no clean message spans them.
            let (g0, g1) = (g as u64, (g + len) as u64);
            for r in base
                .iter()
                .flat_map(|e| e.interim.iter().chain(e.response.as_ref()))
            {
                if !r.gap && !r.truncated {
                    assert!(
                        r.end_offset <= g0 || r.start_offset >= g1,
                        "{name}: gap {g}+{len}: {r:#?}"
                    );
                }
            }
        }
    }
}

#[test]
fn huge_head_byte_by_byte_is_parsed_in_linear_work() {
    let mut s = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..300 {
        s.extend_from_slice(format!("X-H{i}: {}\r\n", "v".repeat(200)).as_bytes());
    }
    s.extend_from_slice(b"Content-Length: 2\r\n\r\nok");
    let mut p = Http1Parser::new(Direction::Response);
    for b in s.chunks(1) {
        p.push(b);
    }
    p.finish();
    let m = p.take_messages();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].head.headers.len(), 301);
    assert_eq!(m[0].body, b"ok");
    // the head is parsed at its first line and at its end (plus a few
    // false "may end" alarms), not once per byte or line: 301 lines of 200
    // bytes parsed per line would hand the parser ~150x the input
    assert!(
        p.head_bytes_parsed <= 3 * s.len(),
        "{} bytes parsed for a {}-byte head",
        p.head_bytes_parsed,
        s.len()
    );
}

#[test]
fn gaps_are_marked_and_framing_recovers() {
    let rs = fx!("http_edge.out");
    let rq = fx!("http_edge.in");
    let full = exchanges(rq, rs);
    // Lose 4 bytes inside the first chunked body's data ("0123456789").
    let at = memchr::memmem::find(rs, b"0123456789").unwrap() + 2;
    let pieces = [
        Piece::Data(&rs[..at]),
        Piece::Gap(4),
        Piece::Data(&rs[at + 4..]),
    ];
    let ex = parse_connection(&whole(rq), &pieces, true);
    assert_eq!(ex.len(), full.len());
    let r = ex[0].response.as_ref().unwrap();
    assert!(r.gap && !r.truncated);
    assert_eq!(r.body, b"abc016789");
    for i in 1..full.len() {
        assert_eq!(
            ex[i].response.as_ref().unwrap().head,
            full[i].response.as_ref().unwrap().head
        );
        assert_eq!(
            ex[i].response.as_ref().unwrap().end_offset,
            full[i].response.as_ref().unwrap().end_offset
        );
    }
    // Lose bytes inside a head: that message is lost, parsing resumes at the next one.
    let at = memchr::memmem::find(rs, b"No Content").unwrap();
    let pieces = [
        Piece::Data(&rs[..at]),
        Piece::Gap(3),
        Piece::Data(&rs[at + 3..]),
    ];
    let mut p = Http1Parser::new(Direction::Response);
    for m in ["POST", "HEAD", "DELETE", "GET", "GET"] {
        p.expect_request_method(m);
    }
    for pc in &pieces {
        pc.feed(&mut p);
    }
    p.finish();
    let msgs = p.take_messages();
    let statuses: Vec<Option<u16>> = msgs.iter().map(|m| m.head.status).collect();
    assert!(
        statuses.contains(&Some(304)) && statuses.ends_with(&[Some(200)]),
        "{msgs:#?}"
    );
    assert!(msgs.iter().any(|m| m.gap && m.truncated));
    assert!(p.skipped_bytes > 0);
    // Gap inside a Content-Length body keeps the next message aligned.
    let stream = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
    let mut p = Http1Parser::new(Direction::Response);
    p.push(&stream[..42]);
    p.gap(5);
    p.push(&stream[47..]);
    p.finish();
    let m = p.take_messages();
    assert_eq!(m.len(), 2);
    assert!(m[0].gap && !m[0].truncated);
    assert_eq!(m[0].body, b"01289");
    assert_eq!(
        (m[1].head.status, m[1].body.as_slice(), m[1].gap),
        (Some(201), &b"ok"[..], false)
    );
    assert_eq!(m[1].end_offset, stream.len() as u64);
}

#[test]
fn content_encodings() {
    let text = "data: {\"x\":\"é\"}\n\n".repeat(200);
    let plain = text.as_bytes();
    let gz = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(plain).unwrap();
        e.finish().unwrap()
    };
    let zl = {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(plain).unwrap();
        e.finish().unwrap()
    };
    let raw = {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(plain).unwrap();
        e.finish().unwrap()
    };
    let br = {
        let mut out = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
            w.write_all(plain).unwrap();
        }
        out
    };
    let zs = zstd::stream::encode_all(plain, 3).unwrap();
    let gz_br = {
        let mut out = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
            w.write_all(&gz).unwrap();
        }
        out
    };
    for (enc, body) in [
        ("gzip", &gz),
        ("deflate", &zl),
        ("deflate", &raw),
        ("br", &br),
        ("zstd", &zs),
        ("gzip, br", &gz_br),
    ] {
        assert_eq!(
            encoding::decode_all(enc, body),
            (Some(plain.to_vec()), false),
            "{enc}"
        );
        // Framed as an HTTP response with chunked transfer, split everywhere.
        let mut stream = format!(
            "HTTP/1.1 200 OK\r\nContent-Encoding: {enc}\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        .into_bytes();
        for c in body.chunks(97) {
            stream.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
            stream.extend_from_slice(c);
            stream.extend_from_slice(b"\r\n");
        }
        stream.extend_from_slice(b"0\r\n\r\n");
        let full = parse_connection(&[], &whole(&stream), true);
        assert_eq!(full[0].response.as_ref().unwrap().content(), plain, "{enc}");
        for k in (0..stream.len()).step_by(13) {
            assert_eq!(
                parse_connection(&[], &split_at_points(&stream, &[k]), true),
                full
            );
        }
        // Cut body: partial output, flagged.
        let half = &body[..body.len() / 2];
        let (out, err) = encoding::decode_all(enc, half);
        assert!(err, "{enc}");
        let out = out.unwrap();
        assert!(out.len() < plain.len() && plain.starts_with(&out), "{enc}");
    }
    let (out, err) = encoding::decode_all("zstd", b"not zstd at all");
    assert!(err && out.unwrap().is_empty());
    assert_eq!(encoding::decode_all("identity", b"abc"), (None, false));
    let (_, err) = encoding::decode_all("compress", b"abc");
    assert!(err);
}

/// Claude Code's case: an SSE stream zstd-compressed inside chunked framing.
#[test]
fn zstd_sse_exchange_end_to_end() {
    let (path, req, body) = bodies()[0];
    let want = decode_call(path, req, Some("text/event-stream"), body).unwrap();
    let z = zstd::stream::encode_all(body, 3).unwrap();
    let mut rs = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: zstd\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for c in z.chunks(50) {
        rs.extend_from_slice(format!("{:X};x=y\r\n", c.len()).as_bytes());
        rs.extend_from_slice(c);
        rs.extend_from_slice(b"\r\n");
    }
    rs.extend_from_slice(b"0\r\n\r\n");
    let mut rq = format!(
        "POST {path} HTTP/1.1\r\nHost: api.anthropic.com\r\nContent-Length: {}\r\n\r\n",
        req.len()
    )
    .into_bytes();
    rq.extend_from_slice(req);
    let ex = exchanges(&rq, &rs);
    assert_eq!(ex.len(), 1);
    assert_eq!(exchange_llm_call(&ex[0]).as_ref(), Some(&want));
    // Lose a byte of the compressed body: flagged, never a clean result.
    let at = rs.len() / 2;
    let pieces = [
        Piece::Data(&rs[..at]),
        Piece::Gap(1),
        Piece::Data(&rs[at + 1..]),
    ];
    let ex = parse_connection(&whole(&rq), &pieces, true);
    let c = exchange_llm_call(&ex[0]).unwrap();
    assert!(c.partial);
    let r = ex[0].response.as_ref().unwrap();
    assert!(r.gap);
}

#[test]
fn fuzz_entry_survives_corpus() {
    let mut rng = Rng(99);
    for (_, rq, rs) in connections() {
        super::fuzz_one(rq);
        super::fuzz_one(rs);
        for _ in 0..20 {
            super::fuzz_one(&mutate(&mut rng, rs));
        }
    }
}

// ---------- SSE ----------

#[test]
fn sse_fields_and_line_endings() {
    let body = b"\xEF\xBB\xBF: comment\r\nevent: a\r\ndata: one\r\ndata:two\r\nid: 7\r\n\r\ndata: x\rdata: y\r\rretry: 300\ndata\n\nevent: dropped\n\ndata: tail";
    let evs = parse_all(body);
    assert_eq!(evs.len(), 4, "{evs:#?}");
    assert_eq!(evs[0].event.as_deref(), Some("a"));
    assert_eq!(evs[0].data, "one\ntwo");
    assert_eq!(evs[0].id.as_deref(), Some("7"));
    assert_eq!(evs[1].data, "x\ny");
    assert_eq!(evs[1].id.as_deref(), Some("7"));
    assert_eq!(evs[2].data, "");
    assert_eq!(evs[2].retry, Some(300));
    assert_eq!(evs[3].data, "tail");
    assert!(evs[3].incomplete && !evs[2].incomplete);
    for k in 0..=body.len() {
        let mut p = SseParser::new();
        p.push(&body[..k]);
        p.push(&body[k..]);
        p.finish();
        assert_eq!(p.take_events(), evs, "split at {k}");
        assert_eq!(p.comments, 1);
    }
}

fn llm_from_pieces(path: &str, req: &[u8], body: &[u8], cuts: &[usize]) -> LlmCall {
    let mut p = SseParser::new();
    for pc in split_at_points(body, cuts) {
        if let Piece::Data(d) = pc {
            p.push(d);
        }
    }
    p.finish();
    let evs = p.take_events();
    let prov = detect_provider(path, req, body).unwrap();
    let rv: Value = serde_json::from_slice(req).unwrap();
    decode_parsed(prov, path, Some(&rv), Some(&evs), body)
}

#[test]
fn provider_bodies_split_everywhere() {
    let mut rng = Rng(42);
    for (path, req, body) in bodies() {
        let full = decode_call(path, req, None, body).unwrap();
        if body.first() == Some(&b'[') {
            continue;
        }
        for k in 0..=body.len() {
            assert_eq!(
                llm_from_pieces(path, req, body, &[k]),
                full,
                "{path} split at {k}"
            );
        }
        for _ in 0..50 {
            let cuts: Vec<usize> = (0..1 + rng.index(30))
                .map(|_| rng.index(body.len() + 1))
                .collect();
            assert_eq!(
                llm_from_pieces(path, req, body, &cuts),
                full,
                "{path} {cuts:?}"
            );
        }
    }
}

fn call(i: usize) -> LlmCall {
    let (path, req, body) = bodies()[i];
    decode_call(path, req, None, body).unwrap()
}

#[test]
fn anthropic_thinking_and_tool_use() {
    let c = call(0);
    assert_eq!(c.provider, Provider::Anthropic);
    assert!(c.streaming && !c.partial && c.error.is_none() && c.bad_events == 0);
    assert_eq!(c.model.as_deref(), Some("claude-sonnet-4-5"));
    assert_eq!(c.response_id.as_deref(), Some("msg_01ThinkTool"));
    assert_eq!(c.thinking_text, "The user wants the list of files.");
    assert_eq!(c.response_text, "Let me list them — one moment.");
    assert_eq!(c.tool_calls.len(), 1);
    assert_eq!(
        (c.tool_calls[0].id.as_str(), c.tool_calls[0].name.as_str()),
        ("toolu_01Bash", "Bash")
    );
    assert_eq!(
        args(&c.tool_calls[0].arguments_json),
        json!({"command": "ls -la /tmp"})
    );
    assert_eq!(c.stop_reason.as_deref(), Some("tool_use"));
    assert_eq!((c.input_tokens, c.output_tokens), (Some(1024), Some(89)));
    assert_eq!(
        (c.cache_read_tokens, c.cache_creation_tokens),
        (Some(800), Some(200))
    );
    let roles: Vec<&str> = c.request_messages.iter().map(|m| m.role.as_str()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    assert_eq!(c.request_messages[0].text, "You are a coding agent.");
    assert!(
        matches!(&c.request_messages[2].parts[1], Part::ToolUse { id, name, arguments_json }
        if id == "toolu_00Prev" && name == "Bash" && args(arguments_json) == json!({"command": "pwd"}))
    );
    assert_eq!(
        c.request_messages[3].parts[0],
        Part::ToolResult {
            tool_use_id: "toolu_00Prev".into(),
            text: "/home/u".into(),
            is_error: false
        }
    );
    assert_eq!(c.request_messages[3].text, "continue");
    let m = c.response_message();
    assert_eq!(m.parts.len(), 3);
}

#[test]
fn anthropic_error_event() {
    let c = call(1);
    assert_eq!(c.error.as_deref(), Some("overloaded_error: Overloaded"));
    assert_eq!(c.thinking_text, "The user wants the ");
    assert!(c.tool_calls.is_empty());
    assert_eq!(c.stop_reason, None);
}

#[test]
fn chat_parallel_tool_calls_merge_by_index() {
    let c = call(2);
    assert_eq!(c.provider, Provider::OpenAiChat);
    assert!(c.streaming && !c.partial && c.bad_events == 0, "{c:#?}");
    assert_eq!(c.model.as_deref(), Some("gpt-4o-2024-08-06"));
    assert_eq!(c.response_text, "");
    let t: Vec<(&str, &str, Value)> = c
        .tool_calls
        .iter()
        .map(|t| (t.id.as_str(), t.name.as_str(), args(&t.arguments_json)))
        .collect();
    assert_eq!(
        t,
        vec![
            ("call_A", "read_file", json!({"path": "in.txt"})),
            (
                "call_B",
                "write_file",
                json!({"path": "out.txt", "text": "héllo"})
            ),
        ]
    );
    assert_eq!(c.stop_reason.as_deref(), Some("tool_calls"));
    assert_eq!(
        (
            c.input_tokens,
            c.output_tokens,
            c.cache_read_tokens,
            c.reasoning_tokens
        ),
        (Some(150), Some(42), Some(128), Some(0))
    );
    let roles: Vec<&str> = c.request_messages.iter().map(|m| m.role.as_str()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "tool"]);
    assert_eq!(c.request_messages[1].text, "Copy in.txt to out.txt");
    assert_eq!(
        c.request_messages[1].parts[1],
        Part::Other {
            kind: "image_url".into()
        }
    );
    assert_eq!(
        c.request_messages[3].parts[0],
        Part::ToolResult {
            tool_use_id: "call_0".into(),
            text: "in.txt".into(),
            is_error: false
        }
    );
    // Without [DONE] and before the finish chunk the call is partial.
    let body = bodies()[2].2;
    let cut = memchr::memmem::find(body, b"\"finish_reason\":\"tool_calls\"").unwrap();
    let p = decode_call("/v1/chat/completions", bodies()[2].1, None, &body[..cut]).unwrap();
    assert!(p.partial);
    assert_eq!(p.tool_calls.len(), 2);
}

#[test]
fn responses_incomplete_with_reasoning() {
    let c = call(3);
    assert_eq!(c.provider, Provider::OpenAiResponses);
    assert!(c.streaming && !c.partial, "{c:#?}");
    assert_eq!(c.model.as_deref(), Some("o4-mini-2025-04-16"));
    assert_eq!(c.response_text, "The answer is");
    assert_eq!(c.thinking_text, "Thinking briefly.");
    assert_eq!(c.stop_reason.as_deref(), Some("max_output_tokens"));
    assert_eq!(
        (c.input_tokens, c.output_tokens, c.reasoning_tokens),
        (Some(75), Some(64), Some(48))
    );
    let roles: Vec<&str> = c.request_messages.iter().map(|m| m.role.as_str()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "tool"]);
    assert_eq!(c.request_messages[1].text, "What is 6*7?");
    assert_eq!(
        c.request_messages[3].parts[0],
        Part::ToolResult {
            tool_use_id: "call_x".into(),
            text: "42".into(),
            is_error: false
        }
    );
}

#[test]
fn gemini_sse_and_json_array_agree() {
    for i in [4, 5] {
        let c = call(i);
        assert_eq!(c.provider, Provider::Gemini);
        assert!(c.streaming && !c.partial && c.bad_events == 0, "{c:#?}");
        assert_eq!(c.model.as_deref(), Some("gemini-2.5-flash"));
        assert_eq!(c.thinking_text, "Thinking about weather");
        assert_eq!(c.response_text, "Let me check. ");
        assert_eq!(c.tool_calls.len(), 1);
        assert_eq!(c.tool_calls[0].name, "get_weather");
        assert_eq!(
            args(&c.tool_calls[0].arguments_json),
            json!({"city": "Paris"})
        );
        assert_eq!(c.stop_reason.as_deref(), Some("STOP"));
        assert_eq!(
            (
                c.input_tokens,
                c.output_tokens,
                c.cache_read_tokens,
                c.reasoning_tokens
            ),
            (Some(31), Some(32), Some(8), Some(20))
        );
        let roles: Vec<&str> = c.request_messages.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(roles, ["system", "user", "model", "user"]);
        assert!(
            matches!(&c.request_messages[3].parts[0], Part::ToolResult { tool_use_id, text, .. } if tool_use_id == "get_weather" && args(text) == json!({"temp": 18}))
        );
    }
    // The JSON-array form cut anywhere: earlier elements survive, flagged partial.
    let (path, req, body) = bodies()[5];
    let full = call(5);
    for k in 0..body.len() {
        let c = decode_call(path, req, None, &body[..k]);
        if let Some(c) = c {
            assert!(c.partial, "cut at {k}");
            assert!(full.response_text.starts_with(&c.response_text) || c.response_text.is_empty());
        }
    }
}

#[test]
fn non_streaming_shapes_and_errors() {
    let a = br#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[{"type":"thinking","thinking":"hm"},{"type":"text","text":"hi"},{"type":"tool_use","id":"t1","name":"f","input":{"a":1}}],"stop_reason":"tool_use","usage":{"input_tokens":5,"output_tokens":6}}"#;
    let c = decode_call("/v1/messages", b"{}", Some("application/json"), a).unwrap();
    assert_eq!(
        (
            c.thinking_text.as_str(),
            c.response_text.as_str(),
            c.tool_calls[0].arguments_json.as_str()
        ),
        ("hm", "hi", r#"{"a":1}"#)
    );
    assert!(!c.streaming && !c.partial);
    let err = br#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#;
    let c = decode_call("/v1/messages", b"{}", None, err).unwrap();
    assert_eq!(c.error.as_deref(), Some("rate_limit_error: slow down"));
    let err = br#"{"error":{"message":"bad key","type":"invalid_request_error","code":"invalid_api_key"}}"#;
    let c = decode_call("/v1/chat/completions", b"{\"model\":\"m\"}", None, err).unwrap();
    assert_eq!(c.error.as_deref(), Some("invalid_request_error: bad key"));
    assert_eq!(c.model.as_deref(), Some("m"));
    let g = br#"{"candidates":[{"content":{"parts":[{"text":"ok"}],"role":"model"},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1}}"#;
    let c = decode_call(
        "/v1beta/models/gemini-2.0-flash:generateContent",
        b"{}",
        None,
        g,
    )
    .unwrap();
    assert_eq!(
        (
            c.model.as_deref(),
            c.response_text.as_str(),
            c.output_tokens
        ),
        (Some("gemini-2.0-flash"), "ok", Some(1))
    );
    assert!(!c.streaming);
    // Body shape beats a misleading path (e.g. a gateway).
    assert_eq!(
        detect_provider(
            "/gateway/v1/messages",
            b"{}",
            br#"{"object":"chat.completion","choices":[]}"#
        ),
        Some(Provider::OpenAiChat)
    );
    assert_eq!(
        detect_provider("/proxy/llm", br#"{"contents":[]}"#, b""),
        Some(Provider::Gemini)
    );
    assert_eq!(decode_call("/healthz", b"", None, br#"{"ok":true}"#), None);
    assert_eq!(
        super::llm::detect_provider_with_host(
            Some("API.Anthropic.com:443"),
            "/v1/complete",
            b"",
            b""
        ),
        Some(Provider::Anthropic)
    );
    // Truncated JSON: partial, no panic.
    let c = decode_call("/v1/messages", b"{}", None, &a[..40]).unwrap();
    assert!(c.partial);
}

// ---------- robustness ----------

fn feed_random(rng: &mut Rng, data: &[u8], dir: Direction) -> Vec<Message> {
    let mut p = Http1Parser::new(dir);
    let mut i = 0;
    while i < data.len() {
        let n = 1 + rng.index(64);
        let end = (i + n).min(data.len());
        p.push(&data[i..end]);
        if rng.index(10) == 0 {
            p.gap(rng.index(100) as u64);
        }
        i = end;
    }
    p.finish();
    p.take_messages()
}

fn mutate(rng: &mut Rng, b: &[u8]) -> Vec<u8> {
    let mut v = b.to_vec();
    for _ in 0..1 + rng.index(8) {
        if v.is_empty() {
            break;
        }
        let i = rng.index(v.len());
        match rng.index(4) {
            0 => v[i] ^= 1 << rng.index(8),
            1 => v[i] = rng.next() as u8,
            2 => {
                v.remove(i);
            }
            _ => v.insert(i, b"\r\n:{}[]\"0"[rng.index(9)]),
        }
    }
    v
}

#[test]
fn random_and_mutated_inputs_never_panic() {
    let mut rng = Rng(7);
    let mut corpus: Vec<&[u8]> = connections().iter().flat_map(|c| [c.1, c.2]).collect();
    corpus.extend(bodies().iter().flat_map(|b| [b.1, b.2]));
    for round in 0..400 {
        let data = if round % 2 == 0 {
            let n = rng.index(2000);
            rng.bytes(n)
        } else {
            let src = corpus[rng.index(corpus.len())];
            mutate(&mut rng, src)
        };
        for dir in [Direction::Request, Direction::Response] {
            let _ = feed_random(&mut rng, &data, dir);
        }
        let _ = parse_connection(&whole(&data), &whole(&data), true);
        let _ = parse_all(&data);
        let paths = [
            "/v1/messages",
            "/v1/chat/completions",
            "/v1/responses",
            "/v1beta/models/x:streamGenerateContent",
            "/",
        ];
        let path = paths[rng.index(paths.len())];
        let _ = decode_call(path, &data, Some("text/event-stream"), &data);
        let _ = decode_call(path, &data, None, &data);
        for enc in ["gzip", "deflate", "br", "zstd"] {
            let _ = encoding::decode_all(enc, &data);
        }
    }
    // Pathological framing values.
    for s in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\nabc"[..],
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Encoding: gzip\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    ] {
        for dir in [Direction::Request, Direction::Response] {
            let mut p = Http1Parser::new(dir);
            p.push(s);
            p.gap(u64::MAX / 2);
            p.push(s);
            p.finish();
            let _ = p.take_messages();
        }
    }
}

/// Random and mutated inputs through every decoder; a longer run:
/// `DECODE_SOAK_ITERS=500000 cargo test --release -p agentsight-analyzer soak`.
#[test]
fn soak_random_inputs() {
    let iters: usize = std::env::var("DECODE_SOAK_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000);
    let mut rng = Rng(0xDEAD_BEEF);
    let mut corpus: Vec<&[u8]> = connections().iter().flat_map(|c| [c.1, c.2]).collect();
    corpus.extend(bodies().iter().flat_map(|b| [b.1, b.2]));
    for i in 0..iters {
        let data = match i % 3 {
            0 => {
                let n = rng.index(4000);
                rng.bytes(n)
            }
            1 => {
                let src = corpus[rng.index(corpus.len())];
                mutate(&mut rng, src)
            }
            _ => {
                let mut v = rng.bytes(8);
                let src = corpus[rng.index(corpus.len())];
                v.extend(mutate(&mut rng, src));
                v
            }
        };
        super::fuzz_one(&data);
    }
}

#[test]
fn responses_arguments_from_deltas_when_cut() {
    let (_, rq, rs) = connections()[4];
    let ex = exchanges(rq, rs);
    let q = ex[0].request.as_ref().unwrap();
    let body = ex[0].response.as_ref().unwrap().content();
    let cut = memchr::memmem::find(body, b"event: response.function_call_arguments.done").unwrap();
    let c = decode_call(
        q.head.path.as_deref().unwrap(),
        q.content(),
        None,
        &body[..cut],
    )
    .unwrap();
    assert!(c.partial);
    assert_eq!(c.response_text, "Checking the forecast.");
    assert_eq!(c.tool_calls.len(), 1);
    assert_eq!(c.tool_calls[0].id, "call_mock_weather_r1");
    assert_eq!(
        args(&c.tool_calls[0].arguments_json),
        json!({"city": "Paris", "unit": "celsius"})
    );
}

/// Many streamed exchanges on one keep-alive connection all decode; the
/// printed rate is a rough figure, never asserted. For BENCHMARKS-sized runs:
/// `DECODE_BENCH_EXCHANGES=20000 cargo test --release -p agentsight-analyzer many_exchanges -- --nocapture`.
#[test]
fn many_exchanges_on_one_connection_decode() {
    let (path, req, body) = bodies()[0];
    let mut one_rs =
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    for c in body
        .split_inclusive(|&b| b == b'\n')
        .collect::<Vec<_>>()
        .chunks(3)
    {
        let piece: Vec<u8> = c.concat();
        one_rs.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        one_rs.extend_from_slice(&piece);
        one_rs.extend_from_slice(b"\r\n");
    }
    one_rs.extend_from_slice(b"0\r\n\r\n");
    let mut one_rq = format!(
        "POST {path} HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n",
        req.len()
    )
    .into_bytes();
    one_rq.extend_from_slice(req);
    let n: usize = std::env::var("DECODE_BENCH_EXCHANGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let rq = one_rq.repeat(n);
    let rs = one_rs.repeat(n);
    let t = std::time::Instant::now();
    let pieces: Vec<Piece> = rs.chunks(4096).map(Piece::Data).collect();
    let ex = parse_connection(&whole(&rq), &pieces, true);
    let t_http = t.elapsed();
    let calls = ex.iter().filter_map(exchange_llm_call).count();
    let total = t.elapsed();
    assert_eq!(calls, n);
    let mb = (rq.len() + rs.len()) as f64 / 1e6;
    println!(
        "{mb:.1} MB: http1 {:.0} MB/s, http1+sse+llm {:.0} MB/s",
        mb / t_http.as_secs_f64(),
        mb / total.as_secs_f64()
    );
}
