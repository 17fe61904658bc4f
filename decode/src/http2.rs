//! HTTP/2 (RFC 9113) over captured plaintext: frames of both directions,
//! header blocks through HPACK, streams turned into the same request and
//! response [`Message`]s the HTTP/1.1 parser produces.
//!
//! HPACK state cannot survive lost bytes: at the first gap in a direction
//! its remaining frames are unreadable, and every stream still open there is
//! flagged `gap` (and `truncated`).

use std::collections::BTreeMap;

use loona_hpack::Decoder;

use super::encoding;
use super::http1::{Exchange, Head, Message, Piece};

/// What a client sends first (RFC 9113 §3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const PUSH_PROMISE: u8 = 0x5;
const CONTINUATION: u8 = 0x9;

const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;

/// Larger header tables than this are refused: a capture cannot make the
/// analyzer allocate without bound.
const MAX_TABLE: usize = 1 << 20;

/// One direction's bytes up to its first gap, and whether one came.
fn contiguous(pieces: &[Piece<'_>]) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    for p in pieces {
        match p {
            Piece::Data(d) => out.extend_from_slice(d),
            Piece::Gap(_) => return (out, true),
        }
    }
    (out, false)
}

#[derive(Default)]
struct StreamState {
    /// Header blocks seen (final head, interim 1xx heads, trailers).
    message: Option<Message>,
    interim: Vec<Message>,
    ended: bool,
}

/// One direction of a connection, frame by frame.
struct Side {
    decoder: Decoder<'static>,
    streams: BTreeMap<u32, StreamState>,
    /// A header block split over CONTINUATION frames: (stream, flags, bytes, offset).
    pending: Option<(u32, u8, Vec<u8>, u64)>,
    /// HPACK state was lost: later header blocks cannot be read.
    broken: bool,
    is_request: bool,
}

impl Side {
    fn new(is_request: bool) -> Side {
        let mut decoder = Decoder::new();
        decoder.set_max_allowed_table_size(MAX_TABLE);
        Side {
            decoder,
            streams: BTreeMap::new(),
            pending: None,
            broken: false,
            is_request,
        }
    }

    fn header_block(&mut self, stream: u32, flags: u8, block: &[u8], offset: u64, end: u64) {
        let mut fields: Vec<(String, Vec<u8>)> = Vec::new();
        if self.broken
            || self
                .decoder
                .decode_with_cb(block, |n, v| {
                    fields.push((String::from_utf8_lossy(&n).into_owned(), v.into_owned()))
                })
                .is_err()
        {
            self.broken = true;
            let st = self.streams.entry(stream).or_default();
            let m = st.message.get_or_insert_with(|| Message {
                start_offset: offset,
                body_offset: end,
                ..Default::default()
            });
            m.framing_error = true;
            return;
        }
        let st = self.streams.entry(stream).or_default();
        let mut head = Head {
            version: 2,
            ..Default::default()
        };
        let mut authority = None;
        for (name, value) in fields {
            match name.as_str() {
                ":method" => head.method = Some(String::from_utf8_lossy(&value).into_owned()),
                ":path" => head.path = Some(String::from_utf8_lossy(&value).into_owned()),
                ":status" => head.status = String::from_utf8_lossy(&value).parse().ok(),
                ":authority" => authority = Some(value),
                n if n.starts_with(':') => {}
                _ => head.headers.push((name, value)),
            }
        }
        // Decoders look for `host`; HTTP/2 carries it as :authority.
        if let Some(a) = authority {
            if head.header("host").is_none() {
                head.headers.insert(0, ("host".to_string(), a));
            }
        }
        match &mut st.message {
            // A second block on a stream with a message: trailers.
            Some(m) if !(m.head.status.is_some_and(|s| s < 200)) => {
                m.trailers.extend(head.headers);
            }
            slot => {
                let interim = head.status.is_some_and(|s| (100..200).contains(&s));
                let m = Message {
                    index: 0,
                    head,
                    start_offset: offset,
                    body_offset: end,
                    end_offset: end,
                    interim,
                    ..Default::default()
                };
                if let Some(prev) = slot.take() {
                    st.interim.push(prev);
                }
                *slot = Some(m);
            }
        }
        if flags & END_STREAM != 0 {
            st.ended = true;
        }
    }

    fn data(&mut self, stream: u32, flags: u8, payload: &[u8], offset: u64, end: u64) {
        let st = self.streams.entry(stream).or_default();
        let m = st.message.get_or_insert_with(|| Message {
            start_offset: offset,
            body_offset: offset,
            framing_error: true,
            ..Default::default()
        });
        if m.body.is_empty() {
            m.body_offset = offset;
        }
        m.body.extend_from_slice(payload);
        m.end_offset = end;
        if flags & END_STREAM != 0 {
            st.ended = true;
        }
    }

    /// Reads every whole frame of `bytes`; returns where frames stopped.
    fn frames(&mut self, bytes: &[u8], mut pos: usize) -> usize {
        while bytes.len() - pos >= 9 {
            let h = &bytes[pos..pos + 9];
            let len = (usize::from(h[0]) << 16) | (usize::from(h[1]) << 8) | usize::from(h[2]);
            let (kind, flags) = (h[3], h[4]);
            let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
            if bytes.len() - pos - 9 < len {
                break;
            }
            let offset = pos as u64;
            let end = (pos + 9 + len) as u64;
            let payload = &bytes[pos + 9..pos + 9 + len];
            pos += 9 + len;
            match kind {
                DATA => {
                    if let Some(p) = unpad(flags, payload) {
                        self.data(stream, flags, p, offset, end);
                    }
                }
                HEADERS | PUSH_PROMISE => {
                    let Some(mut block) = unpad(flags, payload) else {
                        self.broken = true;
                        continue;
                    };
                    if kind == HEADERS && flags & PRIORITY != 0 {
                        block = block.get(5..).unwrap_or(&[]);
                    }
                    if kind == PUSH_PROMISE {
                        block = block.get(4..).unwrap_or(&[]);
                    }
                    // A promised request is decoded to keep HPACK in step, then dropped.
                    let target = if kind == PUSH_PROMISE { 0 } else { stream };
                    if flags & END_HEADERS != 0 {
                        self.header_block(target, flags, block, offset, end);
                    } else {
                        self.pending = Some((target, flags, block.to_vec(), offset));
                    }
                }
                CONTINUATION => match self.pending.as_mut() {
                    Some((s, _, buf, _)) if *s == stream || (*s == 0) => {
                        buf.extend_from_slice(payload);
                        if flags & END_HEADERS != 0 {
                            if let Some((s, f, buf, start)) = self.pending.take() {
                                self.header_block(s, f, &buf, start, end);
                            }
                        }
                    }
                    _ => self.broken = true,
                },
                _ => {}
            }
        }
        self.streams.remove(&0);
        pos
    }

    /// Messages by stream, completed: bodies decoded, damage flagged.
    fn finish(mut self, lost: bool) -> BTreeMap<u32, (Option<Message>, Vec<Message>)> {
        let mut out = BTreeMap::new();
        for (id, st) in std::mem::take(&mut self.streams) {
            let mut message = st.message;
            if let Some(m) = message.as_mut() {
                if !st.ended {
                    m.truncated = true;
                    m.gap = lost;
                }
                if m.body.is_empty() {
                    m.body_offset = m.end_offset;
                }
                if let Some(enc) = m.head.header_list("content-encoding") {
                    let (decoded, err) = encoding::decode_all(&enc, &m.body);
                    m.decoded_body = decoded;
                    m.decode_error = err;
                }
                if !self.is_request {
                    m.request_method = None;
                }
            }
            out.insert(id, (message, st.interim));
        }
        out
    }
}

/// The frame payload without padding (None when the padding is impossible).
fn unpad(flags: u8, payload: &[u8]) -> Option<&[u8]> {
    if flags & PADDED == 0 {
        return Some(payload);
    }
    let (&pad, rest) = payload.split_first()?;
    rest.len().checked_sub(usize::from(pad)).map(|n| &rest[..n])
}

/// Request/response pairs of one HTTP/2 connection, in stream order.
/// `client` starts with the connection preface.
pub fn parse_connection(client: &[Piece<'_>], server: &[Piece<'_>]) -> Vec<Exchange> {
    let (c_bytes, c_lost) = contiguous(client);
    let (s_bytes, s_lost) = contiguous(server);
    let mut c = Side::new(true);
    let start = if c_bytes.starts_with(PREFACE) {
        PREFACE.len()
    } else {
        0
    };
    let c_end = c.frames(&c_bytes, start);
    let mut s = Side::new(false);
    let s_end = s.frames(&s_bytes, 0);
    // Bytes after the last whole frame were cut off, like a gap.
    let requests = c.finish(c_lost || c_end < c_bytes.len());
    let mut responses = s.finish(s_lost || s_end < s_bytes.len());
    let mut out = Vec::new();
    for (i, (id, (request, _))) in requests.into_iter().enumerate() {
        let (mut response, interim) = responses.remove(&id).unwrap_or_default();
        if response.is_none() && s_lost {
            // The answer may be in the bytes that were lost: say so.
            response = Some(Message {
                truncated: true,
                gap: true,
                start_offset: s_end as u64,
                body_offset: s_end as u64,
                end_offset: s_end as u64,
                ..Default::default()
            });
        }
        let mut request = request;
        if let Some(r) = request.as_mut() {
            r.index = i;
        }
        out.push(Exchange {
            request,
            interim,
            response,
        });
    }
    // Server streams the client never opened (pushes): responses alone.
    for (_, (response, interim)) in responses {
        out.push(Exchange {
            request: None,
            interim,
            response,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use loona_hpack::Encoder;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        f.extend_from_slice(&[kind, flags]);
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn block(enc: &mut Encoder<'_>, fields: &[(&str, &str)]) -> Vec<u8> {
        enc.encode(fields.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())))
    }

    /// Two concurrent streams, interleaved DATA, a gzip body, a header
    /// block continued in a CONTINUATION frame, padding and SETTINGS.
    fn connection() -> (Vec<u8>, Vec<u8>) {
        let (mut ce, mut se) = (Encoder::new(), Encoder::new());
        let mut c = PREFACE.to_vec();
        c.extend(frame(0x4, 0, 0, &[0, 3, 0, 0, 0, 100]));
        let req = |enc: &mut Encoder<'_>, path: &str| {
            block(
                enc,
                &[
                    (":method", "POST"),
                    (":scheme", "https"),
                    (":authority", "api.anthropic.com"),
                    (":path", path),
                    ("content-type", "application/json"),
                    ("x-api-key", "********"),
                ],
            )
        };
        let b1 = req(&mut ce, "/v1/messages");
        c.extend(frame(HEADERS, END_HEADERS, 1, &b1));
        let b3 = req(&mut ce, "/v1/messages?beta=true");
        c.extend(frame(HEADERS, 0, 3, &b3[..4]));
        c.extend(frame(CONTINUATION, END_HEADERS, 3, &b3[4..]));
        c.extend(frame(DATA, 0, 1, br#"{"model":"m","#));
        c.extend(frame(DATA, END_STREAM, 3, br#"{"a":3}"#));
        let mut padded = vec![3u8];
        padded.extend_from_slice(br#""messages":[]}"#);
        padded.extend_from_slice(&[0, 0, 0]);
        c.extend(frame(DATA, END_STREAM | PADDED, 1, &padded));

        let mut s = frame(0x4, 0, 0, &[]);
        let h3 = block(
            &mut se,
            &[(":status", "200"), ("content-type", "application/json")],
        );
        s.extend(frame(HEADERS, END_HEADERS, 3, &h3));
        s.extend(frame(DATA, END_STREAM, 3, b"{}"));
        let h1 = block(
            &mut se,
            &[
                (":status", "200"),
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
        );
        s.extend(frame(HEADERS, END_HEADERS, 1, &h1));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, b"hello over h2").unwrap();
        s.extend(frame(DATA, END_STREAM, 1, &gz.finish().unwrap()));
        (c, s)
    }

    #[test]
    fn streams_become_exchanges_in_stream_order() {
        let (c, s) = connection();
        let ex = parse_connection(&[Piece::Data(&c)], &[Piece::Data(&s)]);
        assert_eq!(ex.len(), 2);
        let (q, r) = (
            ex[0].request.as_ref().unwrap(),
            ex[0].response.as_ref().unwrap(),
        );
        assert_eq!(q.head.method.as_deref(), Some("POST"));
        assert_eq!(q.head.path.as_deref(), Some("/v1/messages"));
        assert_eq!(q.head.header("host").as_deref(), Some("api.anthropic.com"));
        assert_eq!(q.head.header("x-api-key").as_deref(), Some("********"));
        assert_eq!(q.content(), br#"{"model":"m","messages":[]}"#);
        assert_eq!(r.head.status, Some(200));
        assert_eq!(r.content(), b"hello over h2");
        assert!(!(q.truncated || r.truncated || r.decode_error || q.framing_error));
        let q3 = ex[1].request.as_ref().unwrap();
        assert_eq!(q3.head.path.as_deref(), Some("/v1/messages?beta=true"));
        assert_eq!(q3.content(), br#"{"a":3}"#);
        assert_eq!(ex[1].response.as_ref().unwrap().content(), b"{}");
    }

    #[test]
    fn cuts_and_gaps_flag_open_streams_and_never_panic() {
        let (c, s) = connection();
        for k in 0..s.len() {
            let ex = parse_connection(&[Piece::Data(&c)], &[Piece::Data(&s[..k])]);
            for e in &ex {
                if let Some(r) = &e.response {
                    let whole = r.head.status.is_some() && r.end_offset as usize <= k;
                    assert!(r.truncated || whole, "cut at {k}");
                }
            }
        }
        let at = s.len() / 2;
        let ex = parse_connection(
            &[Piece::Data(&c)],
            &[
                Piece::Data(&s[..at]),
                Piece::Gap(5),
                Piece::Data(&s[at + 5..]),
            ],
        );
        assert!(ex
            .iter()
            .any(|e| e.response.as_ref().is_some_and(|r| r.gap)));
        for k in 0..c.len() {
            let _ = parse_connection(&[Piece::Data(&c[..k])], &[Piece::Data(&s)]);
        }
    }
}
