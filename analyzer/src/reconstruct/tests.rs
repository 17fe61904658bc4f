//! Reconstruction over hand-built raw rows: connection identity (SSL*
//! reuse after free), gaps from lost bytes, server-side captures, HTTP/2,
//! socket tuples and SNI.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BinaryArray, Int32Array, Int64Array, RecordBatch, StringArray, UInt16Array,
    UInt64Array,
};

use super::provider::decode_batches;
use super::Decoded;

/// One TLS call: (ts, direction, ssl, call_seq, bytes, lost).
struct Call<'a> {
    ts: u64,
    dir: &'a str,
    ssl: u64,
    seq: u64,
    data: &'a [u8],
    lost: u64,
}

fn call(ts: u64, dir: &'static str, ssl: u64, seq: u64, data: &'static [u8]) -> Call<'static> {
    Call {
        ts,
        dir,
        ssl,
        seq,
        data,
        lost: 0,
    }
}

const KEY: u64 = 7 << 22 | 4242;

/// Rows as the recorder writes them: each call split into 5-byte chunks
/// (small, so parsing crosses chunk boundaries everywhere).
fn chunks(calls: &[Call<'_>]) -> RecordBatch {
    let mut cols: (
        Vec<u64>,
        Vec<&str>,
        Vec<u64>,
        Vec<u64>,
        Vec<u64>,
        Vec<u64>,
        Vec<&[u8]>,
    ) = Default::default();
    for c in calls {
        for (i, piece) in c.data.chunks(5).enumerate() {
            cols.0.push(c.ts);
            cols.1.push(c.dir);
            cols.2.push(c.ssl);
            cols.3.push(c.seq);
            cols.4.push(i as u64 * 5);
            cols.5.push(c.data.len() as u64 + c.lost);
            cols.6.push(piece);
        }
    }
    let n = cols.0.len();
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("capture", Arc::new(StringArray::from(vec!["cap"; n]))),
        ("ts_ns", Arc::new(UInt64Array::from(cols.0))),
        ("pid", Arc::new(Int32Array::from(vec![4242; n]))),
        ("proc_key", Arc::new(UInt64Array::from(vec![KEY; n]))),
        ("comm", Arc::new(StringArray::from(vec!["agent"; n]))),
        ("direction", Arc::new(StringArray::from(cols.1))),
        ("ssl_ptr", Arc::new(UInt64Array::from(cols.2))),
        ("fd", Arc::new(Int32Array::from(vec![Some(5); n]))),
        ("call_seq", Arc::new(UInt64Array::from(cols.3))),
        ("chunk_offset", Arc::new(UInt64Array::from(cols.4))),
        ("call_len", Arc::new(UInt64Array::from(cols.5))),
        ("data", Arc::new(BinaryArray::from(cols.6))),
    ];
    RecordBatch::try_from_iter(columns).unwrap()
}

fn tls_events(rows: &[(u64, &str, u64, Option<&str>)]) -> RecordBatch {
    let n = rows.len();
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("capture", Arc::new(StringArray::from(vec!["cap"; n]))),
        (
            "ts_ns",
            Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.0))),
        ),
        ("proc_key", Arc::new(UInt64Array::from(vec![KEY; n]))),
        (
            "event",
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
        ),
        (
            "ssl_ptr",
            Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.2))),
        ),
        (
            "value",
            Arc::new(rows.iter().map(|r| r.3).collect::<StringArray>()),
        ),
    ];
    RecordBatch::try_from_iter(columns).unwrap()
}

fn connect(ts: u64, fd: i32, local_port: u16) -> RecordBatch {
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("capture", Arc::new(StringArray::from(vec!["cap"]))),
        ("ts_ns", Arc::new(UInt64Array::from(vec![ts]))),
        ("proc_key", Arc::new(UInt64Array::from(vec![KEY]))),
        ("op", Arc::new(StringArray::from(vec!["connect"]))),
        ("fd", Arc::new(Int32Array::from(vec![fd]))),
        ("ret", Arc::new(Int64Array::from(vec![0]))),
        ("local_addr", Arc::new(StringArray::from(vec!["127.0.0.1"]))),
        ("local_port", Arc::new(UInt16Array::from(vec![local_port]))),
        ("remote_addr", Arc::new(StringArray::from(vec!["10.1.2.3"]))),
        ("remote_port", Arc::new(UInt16Array::from(vec![443]))),
    ];
    RecordBatch::try_from_iter(columns).unwrap()
}

const REQ_BODY: &str =
    r#"{"model":"claude-x","max_tokens":10,"messages":[{"role":"user","content":"hello there"}]}"#;
const RESP_BODY: &str = r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[{"type":"text","text":"Hi!"}],"stop_reason":"end_turn","usage":{"input_tokens":12,"output_tokens":3}}"#;
const POST: &str = "POST /v1/messages HTTP/1.1\r\nHost: api.anthropic.com";
const OK: &str = "HTTP/1.1 200 OK";

/// An HTTP message with a JSON body and the right Content-Length.
fn message(head: &str, body: &str) -> &'static [u8] {
    let m = format!(
        "{head}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    Box::leak(m.into_bytes().into_boxed_slice())
}

fn req() -> &'static [u8] {
    message(POST, REQ_BODY)
}

fn resp() -> &'static [u8] {
    message(OK, RESP_BODY)
}

fn decode(calls: &[Call<'_>], events: &[(u64, &str, u64, Option<&str>)]) -> Decoded {
    decode_batches(
        vec![chunks(calls)],
        &[tls_events(events)],
        &[connect(1, 5, 40000)],
    )
    .unwrap()
}

#[test]
fn a_reused_ssl_pointer_after_free_is_a_new_connection() {
    let d = decode(
        &[
            call(10, "write", 0xa0, 1, req()),
            call(20, "read", 0xa0, 2, resp()),
            call(40, "write", 0xa0, 3, req()),
            call(50, "read", 0xa0, 4, resp()),
        ],
        &[
            (5, "sni", 0xa0, Some("api.anthropic.com")),
            (30, "free", 0xa0, None),
        ],
    );
    assert_eq!(d.http.len(), 2);
    assert_eq!((d.http[0].conn.conn_id, d.http[1].conn.conn_id), (0, 1));
    assert!(d
        .http
        .iter()
        .all(|h| h.exchange_index == 0 && h.problems.is_empty()));
    let h = &d.http[0];
    assert_eq!(h.conn.sni.as_deref(), Some("api.anthropic.com"));
    assert_eq!(h.conn.tuple.local_port, Some(40000));
    assert_eq!(h.conn.tuple.remote_addr.as_deref(), Some("10.1.2.3"));
    assert_eq!(
        (
            h.ts_ns,
            h.request_end_ns,
            h.response_first_byte_ns,
            h.response_end_ns
        ),
        (10, Some(10), Some(20), Some(20))
    );
    assert_eq!(d.calls.len(), 2);
    let c = &d.calls[0].call;
    assert_eq!(
        (c.response_text.as_str(), c.input_tokens, c.partial),
        ("Hi!", Some(12), false)
    );
    // The same question twice is two one-call conversations.
    assert_eq!(d.conversations.len(), 2);
}

#[test]
fn lost_bytes_become_a_gap_and_a_partial_call() {
    let mut lossy = call(20, "read", 0xb0, 2, &resp()[..150]);
    lossy.lost = (resp().len() - 150) as u64;
    let d = decode(&[call(10, "write", 0xb0, 1, req()), lossy], &[]);
    assert_eq!(d.http.len(), 1);
    assert!(
        d.http[0].problems.contains(&"gap"),
        "{:?}",
        d.http[0].problems
    );
    assert_eq!(d.calls.len(), 1);
    assert!(d.calls[0].call.partial);
}

#[test]
fn a_missing_middle_chunk_is_a_gap_not_spliced_bytes() {
    let full = chunks(&[
        call(10, "write", 0xc0, 1, req()),
        call(20, "read", 0xc0, 2, resp()),
    ]);
    // Drop the read call's third chunk (bytes 10..15 of the response).
    let dir = full.column_by_name("direction").unwrap();
    let dir = dir.as_any().downcast_ref::<StringArray>().unwrap();
    let first_read = (0..full.num_rows())
        .find(|&i| dir.value(i) == "read")
        .unwrap();
    let keep: Vec<usize> = (0..full.num_rows())
        .filter(|&i| i != first_read + 2)
        .collect();
    let idx =
        datafusion::arrow::array::UInt32Array::from_iter_values(keep.iter().map(|&i| i as u32));
    let cut = datafusion::arrow::compute::take_record_batch(&full, &idx).unwrap();
    let d = decode_batches(vec![cut], &[tls_events(&[])], &[connect(1, 5, 40000)]).unwrap();
    assert_eq!(d.http.len(), 1);
    assert!(
        d.http[0].problems.contains(&"gap"),
        "{:?}",
        d.http[0].problems
    );
}

#[test]
fn a_recorded_server_reads_requests_and_writes_responses() {
    let d = decode(
        &[
            call(10, "read", 0xd0, 1, req()),
            call(20, "write", 0xd0, 2, resp()),
        ],
        &[],
    );
    assert_eq!(d.http.len(), 1);
    assert_eq!(d.http[0].method.as_deref(), Some("POST"));
    assert_eq!(d.http[0].status, Some(200));
    assert_eq!(d.calls.len(), 1);
}

fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    f.extend_from_slice(&[kind, flags]);
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

#[test]
fn http2_exchanges_carry_llm_calls() {
    let mut enc = loona_hpack::Encoder::new();
    let mut c = agentsight_decode::http2::PREFACE.to_vec();
    c.extend(h2_frame(0x4, 0, 0, &[]));
    let head: [(&[u8], &[u8]); 4] = [
        (b":method", b"POST"),
        (b":path", b"/v1/messages"),
        (b":authority", b"api.anthropic.com"),
        (b"content-type", b"application/json"),
    ];
    c.extend(h2_frame(0x1, 0x4, 1, &enc.encode(head)));
    c.extend(h2_frame(0x0, 0x1, 1, REQ_BODY.as_bytes()));
    let mut enc = loona_hpack::Encoder::new();
    let mut s = h2_frame(0x4, 0, 0, &[]);
    let head: [(&[u8], &[u8]); 2] = [(b":status", b"200"), (b"content-type", b"application/json")];
    s.extend(h2_frame(0x1, 0x4, 1, &enc.encode(head)));
    s.extend(h2_frame(0x0, 0x1, 1, RESP_BODY.as_bytes()));
    let (c, s): (&'static [u8], &'static [u8]) = (c.leak(), s.leak());
    let d = decode(
        &[call(10, "write", 0xe0, 1, c), call(20, "read", 0xe0, 2, s)],
        &[],
    );
    assert_eq!(d.http.len(), 1);
    let h = &d.http[0];
    assert_eq!(
        (
            h.http_version,
            h.host.as_deref(),
            h.status,
            h.problems.is_empty()
        ),
        ("2", Some("api.anthropic.com"), Some(200), true)
    );
    assert_eq!(d.calls.len(), 1);
    assert_eq!(d.calls[0].call.response_text, "Hi!");
}

#[test]
fn a_tool_loop_fills_every_decoded_table() {
    let ask =
        r#"{"model":"claude-x","max_tokens":10,"messages":[{"role":"user","content":"weather?"}]}"#;
    let tool = r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[{"type":"tool_use","id":"toolu_9","name":"get_weather","input":{"city":"Oslo"}}],"stop_reason":"tool_use","usage":{"input_tokens":20,"output_tokens":9}}"#;
    let answer = r#"{"model":"claude-x","max_tokens":10,"messages":[{"role":"user","content":"weather?"},{"role":"assistant","content":[{"type":"tool_use","id":"toolu_9","name":"get_weather","input":{"city":"Oslo"}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_9","content":"rain"}]}]}"#;
    let done = r#"{"id":"msg_2","type":"message","role":"assistant","model":"claude-x","content":[{"type":"text","text":"Rain in Oslo."}],"stop_reason":"end_turn","usage":{"input_tokens":40,"output_tokens":4}}"#;
    let d = decode(
        &[
            call(10, "write", 0xa0, 1, message(POST, ask)),
            call(20, "read", 0xa0, 2, message(OK, tool)),
            call(30, "write", 0xa0, 3, message(POST, answer)),
            call(40, "read", 0xa0, 4, message(OK, done)),
        ],
        &[],
    );
    assert_eq!(d.calls.len(), 2);
    assert_eq!(d.conversations.len(), 1);
    assert_eq!(d.conversations[0].input_tokens, 60);
    assert_eq!(d.tools.len(), 1);
    let t = &d.tools[0];
    assert_eq!(
        (
            t.name.as_str(),
            t.arguments_json.as_str(),
            t.result_call_id,
            t.result_text.as_deref()
        ),
        ("get_weather", r#"{"city":"Oslo"}"#, Some(1), Some("rain"))
    );
    // The second request repeats the prompt and the first answer; the tool
    // result is new, then comes its answer.
    let new: Vec<(u64, Option<usize>, bool)> = d
        .messages
        .iter()
        .map(|m| {
            (
                d.calls[m.call].call_id,
                m.request_index,
                m.new_in_conversation,
            )
        })
        .collect();
    assert_eq!(
        new,
        [
            (0, Some(0), true),
            (0, None, true),
            (1, Some(0), false),
            (1, Some(1), false),
            (1, Some(2), true),
            (1, None, true)
        ]
    );
    for t in agentsight_capture::schema::DECODED_TABLES {
        let (_, batches) = super::tables::table_batches(&d, t.name, Default::default()).unwrap();
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert!(rows > 0, "{} is empty", t.name);
    }
}
