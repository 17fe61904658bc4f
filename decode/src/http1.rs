//! Incremental HTTP/1.1 parser over one direction of a connection.
//!
//! Feed bytes in any split with [`Http1Parser::push`], lost bytes with
//! [`Http1Parser::gap`], and the end of the stream with [`Http1Parser::finish`].
//! Offsets are positions in the direction's stream, gaps included, so the
//! caller can map them back to capture timestamps.

use std::collections::VecDeque;

use crate::encoding;

/// Larger heads are treated as garbage: bounds memory on hostile input.
const MAX_HEAD: usize = 1 << 20;
const MAX_LINE: usize = 8 * 1024;
const MAX_HEADERS: usize = 8192;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Request,
    Response,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Head {
    pub method: Option<String>,
    pub path: Option<String>,
    pub status: Option<u16>,
    pub reason: Option<String>,
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    /// Names as sent; values as raw bytes (they may not be UTF-8).
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Head {
    /// First header with this name (case-insensitive), lossily as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).trim().to_string())
    }

    /// All values of a header joined with ", " (list-valued headers).
    pub fn header_list(&self, name: &str) -> Option<String> {
        let vals: Vec<String> = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).trim().to_string())
            .collect();
        if vals.is_empty() {
            None
        } else {
            Some(vals.join(", "))
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    /// Position of this message among the messages of its direction.
    pub index: usize,
    pub head: Head,
    /// For responses: the method of the request it answers, when known.
    pub request_method: Option<String>,
    /// Body after transfer decoding (de-chunked), before content decoding.
    pub body: Vec<u8>,
    /// Body after `Content-Encoding` decoding; `None` when there is no encoding.
    pub decoded_body: Option<Vec<u8>>,
    pub trailers: Vec<(String, Vec<u8>)>,
    pub start_offset: u64,
    /// Offset of the first body byte (equals `end_offset` when bodyless).
    pub body_offset: u64,
    pub end_offset: u64,
    /// The stream ended (or was lost) before the message was complete.
    pub truncated: bool,
    /// Some bytes of this message were lost.
    pub gap: bool,
    /// Content decoding failed; `decoded_body` holds what could be decoded.
    pub decode_error: bool,
    /// Malformed chunk framing that was tolerated.
    pub framing_error: bool,
    /// 1xx other than 101: the final response is still to come.
    pub interim: bool,
    /// 101 or a successful CONNECT: the rest of the stream is not HTTP.
    pub upgrade: bool,
}

impl Message {
    /// Decoded body if there was a content encoding, raw body otherwise.
    pub fn content(&self) -> &[u8] {
        self.decoded_body.as_deref().unwrap_or(&self.body)
    }

    pub fn is_request(&self) -> bool {
        self.head.method.is_some()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    Length(u64),
    ChunkSize,
    ChunkData(u64),
    ChunkDataEnd,
    Trailers,
    UntilClose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    Body(Body),
    /// Lost framing: skip until something that looks like a message start.
    Resync,
    /// Not HTTP any more (upgrade/tunnel).
    Opaque,
}

#[derive(Debug)]
pub struct Http1Parser {
    dir: Direction,
    state: State,
    buf: Vec<u8>,
    /// Read position in `buf`.
    pos: usize,
    /// Stream offset of `buf[0]`.
    base: u64,
    cur: Option<Message>,
    methods: VecDeque<String>,
    out: Vec<Message>,
    count: usize,
    /// Head bytes already looked at. A partial head is parsed when its first
    /// line completes (garbage is rejected early) and when its blank line may
    /// have arrived, never per byte or per line: byte-by-byte input stays linear.
    head_seen: usize,
    /// Whether the buffered head's first line was already parsed.
    head_first_line_parsed: bool,
    /// Bytes handed to the head parser, to hold the linearity to a bound in tests.
    #[cfg(test)]
    pub(crate) head_bytes_parsed: usize,
    /// Resync: whether the next unread byte starts a line.
    line_start: bool,
    /// Bytes skipped as unparseable or while resynchronising.
    pub skipped_bytes: u64,
    /// Bytes after an upgrade / tunnel.
    pub opaque_bytes: u64,
}

impl Http1Parser {
    pub fn new(dir: Direction) -> Self {
        Http1Parser {
            dir,
            state: State::Head,
            buf: Vec::new(),
            pos: 0,
            base: 0,
            cur: None,
            methods: VecDeque::new(),
            out: Vec::new(),
            count: 0,
            line_start: true,
            head_seen: 0,
            head_first_line_parsed: false,
            #[cfg(test)]
            head_bytes_parsed: 0,
            skipped_bytes: 0,
            opaque_bytes: 0,
        }
    }

    /// Tell a response parser the method of the next request on the
    /// connection (in order). Needed to frame answers to HEAD and CONNECT;
    /// must be called before the matching response head is pushed.
    pub fn expect_request_method(&mut self, method: &str) {
        self.methods.push_back(method.to_string());
    }

    /// Completed messages so far.
    pub fn take_messages(&mut self) -> Vec<Message> {
        std::mem::take(&mut self.out)
    }

    fn offset(&self) -> u64 {
        self.base.saturating_add(self.pos as u64)
    }

    pub fn push(&mut self, data: &[u8]) {
        if self.state == State::Opaque {
            self.opaque_bytes = self.opaque_bytes.saturating_add(data.len() as u64);
            self.base = self.base.saturating_add(data.len() as u64);
            return;
        }
        let mut data = data;
        // Body bytes with nothing buffered go straight to the body: no copy
        // through `buf` for the bulk of the traffic.
        while self.buf.is_empty() && !data.is_empty() {
            let (n, next) = match self.state {
                State::Body(Body::Length(rem)) => {
                    let n = rem.min(data.len() as u64) as usize;
                    (n, Body::Length(rem - n as u64))
                }
                State::Body(Body::ChunkData(rem)) => {
                    let n = rem.min(data.len() as u64) as usize;
                    let rem = rem - n as u64;
                    (
                        n,
                        if rem == 0 {
                            Body::ChunkDataEnd
                        } else {
                            Body::ChunkData(rem)
                        },
                    )
                }
                State::Body(Body::UntilClose) => (data.len(), Body::UntilClose),
                _ => break,
            };
            if let Some(m) = self.cur.as_mut() {
                m.body.extend_from_slice(&data[..n]);
            }
            data = &data[n..];
            self.base = self.base.saturating_add(n as u64);
            self.state = State::Body(next);
            if next == Body::Length(0) {
                self.complete_current();
            }
        }
        self.buf.extend_from_slice(data);
        self.run();
        self.compact();
    }

    fn compact(&mut self) {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.base = self.base.saturating_add(self.pos as u64);
            self.pos = 0;
        }
    }

    /// `len` bytes of the stream were lost at the current position.
    pub fn gap(&mut self, len: u64) {
        if len == 0 {
            return;
        }
        self.run_forced();
        self.compact();
        self.head_seen = 0;
        self.head_first_line_parsed = false;
        let mut pending = self.buf.len() as u64;
        let buffered = pending;
        match self.state {
            State::Opaque => {
                self.opaque_bytes = self
                    .opaque_bytes
                    .saturating_add(pending)
                    .saturating_add(len);
                self.buf.clear();
            }
            State::Body(Body::Length(rem)) if pending == 0 && len < rem => {
                self.state = State::Body(Body::Length(rem - len));
                if let Some(m) = self.cur.as_mut() {
                    m.gap = true;
                }
            }
            State::Body(Body::ChunkData(rem)) if pending == 0 && len <= rem => {
                let rem = rem - len;
                self.state = State::Body(if rem == 0 {
                    Body::ChunkDataEnd
                } else {
                    Body::ChunkData(rem)
                });
                if let Some(m) = self.cur.as_mut() {
                    m.gap = true;
                }
            }
            State::Body(Body::Length(rem)) if pending == 0 && len == rem => {
                if let Some(m) = self.cur.as_mut() {
                    m.gap = true;
                }
                self.state = State::Body(Body::Length(0));
            }
            State::Body(Body::UntilClose) => {
                if let Some(m) = self.cur.as_mut() {
                    m.gap = true;
                }
                self.skipped_bytes += pending;
                self.buf.clear();
            }
            _ => {
                let end = self.offset().saturating_add(pending);
                if let Some(mut m) = self.cur.take() {
                    m.gap = true;
                    m.truncated = true;
                    self.emit(m, end);
                } else if self.state == State::Head && self.emit_partial_head(end) {
                    if let Some(m) = self.out.last_mut() {
                        m.gap = true;
                    }
                    pending = 0;
                }
                self.skipped_bytes += pending;
                self.buf.clear();
                self.state = State::Resync;
                self.line_start = true;
            }
        }
        if self.buf.is_empty() {
            // Dropped buffered bytes still occupy stream offsets.
            self.base = self.base.saturating_add(buffered);
        }
        self.base = self.base.saturating_add(len);
        if let State::Body(Body::Length(0)) = self.state {
            self.complete_current();
        }
    }

    /// End of stream (connection closed).
    pub fn finish(&mut self) {
        self.run_forced();
        self.head_seen = 0;
        self.head_first_line_parsed = false;
        let end = self.base.saturating_add(self.buf.len() as u64);
        if let Some(mut m) = self.cur.take() {
            if self.state != State::Body(Body::UntilClose) {
                m.truncated = true;
            }
            self.emit(m, end);
        } else if self.state == State::Head {
            self.emit_partial_head(end);
        } else if self.state == State::Resync {
            self.skipped_bytes += (self.buf.len() - self.pos) as u64;
        }
        self.base = end;
        self.buf.clear();
        self.pos = 0;
        self.state = State::Head;
    }

    /// A head cut off by a gap or the end of the stream: keep what is known,
    /// and keep request/response pairing in step.
    fn emit_partial_head(&mut self, end: u64) -> bool {
        let rest = &self.buf[self.pos.min(self.buf.len())..];
        if !rest.iter().any(|b| !b.is_ascii_whitespace()) {
            return false;
        }
        let mut m = Message {
            start_offset: self.offset(),
            body_offset: end,
            truncated: true,
            ..Default::default()
        };
        partial_head(self.dir, rest, &mut m.head);
        if self.dir == Direction::Response {
            let status = m.head.status.unwrap_or(0);
            if (100..200).contains(&status) && status != 101 {
                m.interim = true;
                m.request_method = self.methods.front().cloned();
            } else {
                m.request_method = self.methods.pop_front();
            }
        }
        self.emit(m, end);
        true
    }

    fn emit(&mut self, mut m: Message, end: u64) {
        m.end_offset = end;
        if m.body_offset > end {
            m.body_offset = end;
        }
        m.index = self.count;
        self.count += 1;
        let enc = m.head.header_list("content-encoding");
        if let Some(enc) = enc {
            if !m.body.is_empty() || m.truncated {
                let (dec, err) = encoding::decode_all(&enc, &m.body);
                m.decode_error = err;
                m.decoded_body = dec;
            }
        }
        self.out.push(m);
    }

    fn complete_current(&mut self) {
        let end = self.offset();
        if let Some(m) = self.cur.take() {
            self.emit(m, end);
        }
        if self.state != State::Opaque {
            self.state = State::Head;
        }
    }

    /// Run, also parsing a partial head that the line gate held back.
    fn run_forced(&mut self) {
        self.run();
        while self.state == State::Head && self.pos < self.buf.len() {
            let before = self.pos;
            self.step_head_inner(true);
            self.run();
            if self.pos == before && self.state == State::Head {
                break;
            }
        }
    }

    fn run(&mut self) {
        loop {
            let before = (self.pos, self.state);
            match self.state {
                State::Head => self.step_head(),
                State::Body(b) => self.step_body(b),
                State::Resync => self.step_resync(),
                State::Opaque => {
                    self.opaque_bytes += (self.buf.len() - self.pos) as u64;
                    self.pos = self.buf.len();
                }
            }
            if (self.pos, self.state) == before {
                return;
            }
        }
    }

    fn step_resync(&mut self) {
        let rest = &self.buf[self.pos..];
        for i in 0..rest.len() {
            let at_line_start = if i == 0 {
                self.line_start
            } else {
                rest[i - 1] == b'\n'
            };
            if !at_line_start {
                continue;
            }
            match looks_like_start(self.dir, &rest[i..]) {
                Some(false) => {}
                found => {
                    if i > 0 {
                        self.line_start = true;
                    }
                    self.skipped_bytes += i as u64;
                    self.pos += i;
                    if found == Some(true) {
                        self.state = State::Head;
                    }
                    return;
                }
            }
        }
        if let Some(&last) = rest.last() {
            self.line_start = last == b'\n';
        }
        self.skipped_bytes += rest.len() as u64;
        self.pos = self.buf.len();
    }

    fn step_head(&mut self) {
        self.step_head_inner(false)
    }

    fn step_head_inner(&mut self, force: bool) {
        // Tolerate blank lines between messages (RFC 9112 §2.2).
        while self.pos < self.buf.len()
            && (self.buf[self.pos] == b'\r' || self.buf[self.pos] == b'\n')
        {
            self.pos += 1;
        }
        if self.pos >= self.buf.len() {
            return;
        }
        let start = self.offset();
        let rest = &self.buf[self.pos..];
        let seen = self.head_seen.min(rest.len());
        let first_line_done =
            !self.head_first_line_parsed && memchr::memchr(b'\n', &rest[seen..]).is_some();
        // the blank line may straddle what was seen and what is new
        let tail = &rest[seen.saturating_sub(2)..];
        let may_end = memchr::memmem::find(tail, b"\n\n").is_some()
            || memchr::memmem::find(tail, b"\n\r\n").is_some();
        if !force && !first_line_done && !may_end {
            self.head_seen = rest.len();
            if rest.len() >= MAX_HEAD {
                self.skip_head_byte();
            }
            return;
        }
        self.head_seen = rest.len();
        self.head_first_line_parsed |= first_line_done;
        #[cfg(test)]
        {
            self.head_bytes_parsed += rest.len();
        }
        let mut head = Head::default();
        let parsed = parse_head(self.dir, rest, &mut head);
        match parsed {
            HeadParse::Partial => {
                if rest.len() >= MAX_HEAD {
                    self.skip_head_byte();
                }
            }
            HeadParse::Error => self.skip_head_byte(),
            // Longer than MAX_HEAD: garbage even when it arrived in one piece,
            // as it is when it arrives in smaller ones (the checks above).
            HeadParse::Done(len) if len > MAX_HEAD => self.skip_head_byte(),
            HeadParse::Done(len) => {
                self.head_seen = 0;
                self.head_first_line_parsed = false;
                self.pos += len;
                let body_offset = self.offset();
                let mut m = Message {
                    head,
                    start_offset: start,
                    body_offset,
                    ..Default::default()
                };
                let body = self.framing(&mut m);
                if let Some(Body::Length(n)) = body {
                    // Declared lengths are untrusted: reserve at most 16 MiB up front.
                    m.body.reserve(n.min(16 << 20) as usize);
                }
                self.cur = Some(m);
                match body {
                    None => self.complete_current(),
                    Some(b) => self.state = State::Body(b),
                }
            }
        }
    }

    /// Not a message head (or too long for one): skip a byte and resynchronise.
    fn skip_head_byte(&mut self) {
        self.head_seen = 0;
        self.head_first_line_parsed = false;
        self.line_start = self.buf[self.pos] == b'\n';
        self.skipped_bytes += 1;
        self.pos += 1;
        self.state = State::Resync;
    }

    /// Decide how the body is delimited (RFC 9112 §6.3).
    fn framing(&mut self, m: &mut Message) -> Option<Body> {
        let te = m.head.header_list("transfer-encoding");
        let cl = m.head.header_list("content-length");
        if self.dir == Direction::Response {
            let status = m.head.status.unwrap_or(0);
            if (100..200).contains(&status) && status != 101 {
                m.interim = true;
                m.request_method = self.methods.front().cloned();
                return None;
            }
            m.request_method = self.methods.pop_front();
            let method = m.request_method.as_deref().unwrap_or("");
            if status == 101
                || (method.eq_ignore_ascii_case("CONNECT") && (200..300).contains(&status))
            {
                m.upgrade = true;
                self.state = State::Opaque;
                return None;
            }
            if method.eq_ignore_ascii_case("HEAD") || status == 204 || status == 304 {
                return None;
            }
        }
        if let Some(te) = te {
            let last = te
                .rsplit(',')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if last == "chunked" {
                return Some(Body::ChunkSize);
            }
            if self.dir == Direction::Response {
                return Some(Body::UntilClose);
            }
            // A request without a determinable length cannot be framed.
            m.framing_error = true;
            return None;
        }
        if let Some(cl) = cl {
            let mut val: Option<u64> = None;
            let mut ok = true;
            for part in cl.split(',') {
                match part.trim().parse::<u64>() {
                    Ok(v) if val.is_none() || val == Some(v) => val = Some(v),
                    _ => ok = false,
                }
            }
            match (ok, val) {
                (true, Some(0)) => return None,
                (true, Some(v)) => return Some(Body::Length(v)),
                _ => {
                    m.framing_error = true;
                    return if self.dir == Direction::Response {
                        Some(Body::UntilClose)
                    } else {
                        None
                    };
                }
            }
        }
        if self.dir == Direction::Response {
            Some(Body::UntilClose)
        } else {
            None
        }
    }

    fn step_body(&mut self, b: Body) {
        let avail = self.buf.len() - self.pos;
        match b {
            Body::Length(rem) => {
                let n = (rem.min(avail as u64)) as usize;
                if let Some(m) = self.cur.as_mut() {
                    m.body.extend_from_slice(&self.buf[self.pos..self.pos + n]);
                }
                self.pos += n;
                let rem = rem - n as u64;
                self.state = State::Body(Body::Length(rem));
                if rem == 0 {
                    self.complete_current();
                }
            }
            Body::UntilClose => {
                if let Some(m) = self.cur.as_mut() {
                    m.body.extend_from_slice(&self.buf[self.pos..]);
                }
                self.pos = self.buf.len();
            }
            Body::ChunkData(rem) => {
                let n = (rem.min(avail as u64)) as usize;
                if let Some(m) = self.cur.as_mut() {
                    m.body.extend_from_slice(&self.buf[self.pos..self.pos + n]);
                }
                self.pos += n;
                let rem = rem - n as u64;
                self.state = State::Body(if rem == 0 {
                    Body::ChunkDataEnd
                } else {
                    Body::ChunkData(rem)
                });
            }
            Body::ChunkDataEnd => {
                let rest = &self.buf[self.pos..];
                if rest.starts_with(b"\r\n") {
                    self.pos += 2;
                } else if rest.starts_with(b"\n") {
                    self.pos += 1;
                } else if rest.is_empty() || rest == b"\r" {
                    return;
                } else if let Some(m) = self.cur.as_mut() {
                    // Missing CRLF after the data: carry on with the next size line.
                    m.framing_error = true;
                }
                self.state = State::Body(Body::ChunkSize);
            }
            Body::ChunkSize => {
                let Some((line, used)) = take_line(&self.buf[self.pos..]) else {
                    if avail > MAX_LINE {
                        self.fail_framing();
                    }
                    return;
                };
                // Same limit when the line end came in the same piece.
                if used > MAX_LINE + 1 {
                    self.fail_framing();
                    return;
                }
                match parse_chunk_size(line) {
                    Some(0) => {
                        self.pos += used;
                        self.state = State::Body(Body::Trailers);
                    }
                    Some(n) => {
                        self.pos += used;
                        self.state = State::Body(Body::ChunkData(n));
                    }
                    None => self.fail_framing(),
                }
            }
            Body::Trailers => {
                let Some((line, used)) = take_line(&self.buf[self.pos..]) else {
                    if avail > MAX_HEAD {
                        self.fail_framing();
                    }
                    return;
                };
                if used > MAX_HEAD + 1 {
                    self.fail_framing();
                    return;
                }
                if line.is_empty() {
                    self.pos += used;
                    self.complete_current();
                    return;
                }
                if let Some(m) = self.cur.as_mut() {
                    match line.iter().position(|&c| c == b':') {
                        Some(i) => {
                            let name = String::from_utf8_lossy(&line[..i]).trim().to_string();
                            let val = line[i + 1..].trim_ascii().to_vec();
                            m.trailers.push((name, val));
                        }
                        None => m.framing_error = true,
                    }
                }
                self.pos += used;
            }
        }
    }

    fn fail_framing(&mut self) {
        // Deterministic under any split: the failing line is not a message start.
        self.line_start = false;
        let off = self.offset();
        if let Some(mut m) = self.cur.take() {
            m.framing_error = true;
            m.truncated = true;
            self.emit(m, off);
        }
        self.state = State::Resync;
    }
}

/// Line ending in LF (CR optional); returns the line without its ending.
fn take_line(b: &[u8]) -> Option<(&[u8], usize)> {
    let i = memchr::memchr(b'\n', b)?;
    let line = &b[..i];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    Some((line, i + 1))
}

fn parse_chunk_size(line: &[u8]) -> Option<u64> {
    let end = line.iter().position(|&c| c == b';').unwrap_or(line.len());
    let hex = line[..end].trim_ascii();
    if hex.is_empty() || hex.len() > 16 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in hex {
        let d = (c as char).to_digit(16)? as u64;
        v = v.checked_mul(16)?.checked_add(d)?;
    }
    Some(v)
}

enum HeadParse {
    Partial,
    Error,
    Done(usize),
}

fn parse_head(dir: Direction, b: &[u8], out: &mut Head) -> HeadParse {
    // Lenient: a recorder must read what real peers sent, not police it.
    let mut cfg = httparse::ParserConfig::default();
    cfg.allow_spaces_after_header_name_in_responses(true)
        .allow_obsolete_multiline_headers_in_responses(true)
        .allow_multiple_spaces_in_request_line_delimiters(true)
        .allow_multiple_spaces_in_response_status_delimiters(true)
        .ignore_invalid_headers_in_responses(true)
        .ignore_invalid_headers_in_requests(true);
    for n in [64, 1024, MAX_HEADERS] {
        let mut hdrs = vec![httparse::EMPTY_HEADER; n];
        let res = match dir {
            Direction::Request => {
                let mut r = httparse::Request::new(&mut hdrs);
                match cfg.parse_request(&mut r, b) {
                    Ok(httparse::Status::Complete(len)) => {
                        out.method = r.method.map(str::to_string);
                        out.path = r.path.map(str::to_string);
                        out.version = r.version.unwrap_or(1);
                        copy_headers(r.headers, out);
                        Ok(HeadParse::Done(len))
                    }
                    Ok(httparse::Status::Partial) => Ok(HeadParse::Partial),
                    Err(e) => Err(e),
                }
            }
            Direction::Response => {
                let mut r = httparse::Response::new(&mut hdrs);
                match cfg.parse_response(&mut r, b) {
                    Ok(httparse::Status::Complete(len)) => {
                        out.status = r.code;
                        out.reason = r.reason.map(str::to_string);
                        out.version = r.version.unwrap_or(1);
                        copy_headers(r.headers, out);
                        Ok(HeadParse::Done(len))
                    }
                    Ok(httparse::Status::Partial) => Ok(HeadParse::Partial),
                    Err(e) => Err(e),
                }
            }
        };
        match res {
            Ok(r) => return r,
            Err(httparse::Error::TooManyHeaders) => continue,
            Err(_) => return HeadParse::Error,
        }
    }
    HeadParse::Error
}

fn copy_headers(h: &[httparse::Header<'_>], out: &mut Head) {
    out.headers = h
        .iter()
        .filter(|h| !h.name.is_empty())
        .map(|h| (h.name.to_string(), h.value.to_vec()))
        .collect();
}

/// Best effort on a head cut short: the start line and complete header lines.
fn partial_head(dir: Direction, b: &[u8], out: &mut Head) {
    let mut lines = b.split(|&c| c == b'\n');
    if let Some(first) = lines.next() {
        let first = String::from_utf8_lossy(first.strip_suffix(b"\r").unwrap_or(first)).to_string();
        let mut it = first.split(' ');
        match dir {
            Direction::Request => {
                out.method = it.next().filter(|s| !s.is_empty()).map(str::to_string);
                out.path = it.next().map(str::to_string);
            }
            Direction::Response => {
                it.next();
                out.status = it.next().and_then(|s| s.parse().ok());
            }
        }
    }
    let complete: Vec<&[u8]> = lines.collect();
    // The last piece has no LF: it may be a cut header line.
    let n = complete.len().saturating_sub(1);
    for line in &complete[..n] {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(i) = line.iter().position(|&c| c == b':') {
            out.headers.push((
                String::from_utf8_lossy(&line[..i]).trim().to_string(),
                line[i + 1..].trim_ascii().to_vec(),
            ));
        }
    }
}

/// `Some(true)` if `b` starts like a message head, `Some(false)` if not,
/// `None` if too short to tell.
fn looks_like_start(dir: Direction, b: &[u8]) -> Option<bool> {
    match dir {
        Direction::Response => {
            let p = b"HTTP/1.";
            let n = b.len().min(p.len());
            if b[..n] != p[..n] {
                Some(false)
            } else if n < p.len() {
                None
            } else {
                Some(true)
            }
        }
        Direction::Request => {
            const METHODS: [&[u8]; 9] = [
                b"GET ",
                b"POST ",
                b"PUT ",
                b"DELETE ",
                b"HEAD ",
                b"OPTIONS ",
                b"PATCH ",
                b"CONNECT ",
                b"TRACE ",
            ];
            let mut undecided = false;
            for m in METHODS {
                let n = b.len().min(m.len());
                if b[..n] == m[..n] {
                    if n == m.len() {
                        return Some(true);
                    }
                    undecided = true;
                }
            }
            if undecided {
                None
            } else {
                Some(false)
            }
        }
    }
}

/// A request paired with its response (either may be missing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exchange {
    pub request: Option<Message>,
    /// 1xx interim responses that came before the final one.
    pub interim: Vec<Message>,
    pub response: Option<Message>,
}

/// Parse both directions of one connection and pair requests with responses
/// in order (HTTP/1.1 has no pipelining reordering). Each direction is a
/// sequence of pieces; `Piece::Gap(n)` marks `n` lost bytes.
pub fn parse_connection(
    requests: &[Piece<'_>],
    responses: &[Piece<'_>],
    closed: bool,
) -> Vec<Exchange> {
    let mut rq = Http1Parser::new(Direction::Request);
    for p in requests {
        p.feed(&mut rq);
    }
    if closed {
        rq.finish();
    }
    let reqs = rq.take_messages();
    let mut rs = Http1Parser::new(Direction::Response);
    for r in &reqs {
        rs.expect_request_method(r.head.method.as_deref().unwrap_or(""));
    }
    for p in responses {
        p.feed(&mut rs);
    }
    if closed {
        rs.finish();
    }
    pair(reqs, rs.take_messages())
}

#[derive(Debug, Clone, Copy)]
pub enum Piece<'a> {
    Data(&'a [u8]),
    Gap(u64),
}

impl Piece<'_> {
    pub fn feed(&self, p: &mut Http1Parser) {
        match self {
            Piece::Data(d) => p.push(d),
            Piece::Gap(n) => p.gap(*n),
        }
    }
}

/// Pair requests and responses in order; interim responses attach to the
/// request they precede.
pub fn pair(requests: Vec<Message>, responses: Vec<Message>) -> Vec<Exchange> {
    let mut out: Vec<Exchange> = Vec::new();
    let mut reqs = requests.into_iter();
    let mut interim = Vec::new();
    for r in responses {
        if r.interim {
            interim.push(r);
            continue;
        }
        out.push(Exchange {
            request: reqs.next(),
            interim: std::mem::take(&mut interim),
            response: Some(r),
        });
    }
    for q in reqs {
        out.push(Exchange {
            request: Some(q),
            interim: std::mem::take(&mut interim),
            response: None,
        });
    }
    if !interim.is_empty() {
        out.push(Exchange {
            request: None,
            interim,
            response: None,
        });
    }
    out
}
