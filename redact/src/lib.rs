//! Record-time credential redaction for TLS plaintext streams.
//!
//! The recorder runs every captured TLS chunk through a [`StreamRedactor`]
//! (one per pid, SSL* and direction) before anything is written. Values of
//! credential headers are overwritten in place with `*`, byte for byte, so the
//! header name, the value's length and every stream offset stay exact: the
//! capture shows that a key was sent and how long it was, never the key.
//!
//! * HTTP/1.x: a byte-driven state machine recognises a start line
//!   (`METHOD SP target SP HTTP/1.x` or `HTTP/1.x NNN`), masks configured
//!   header values until the blank line, then skips the body by its framing
//!   (Content-Length or chunked, trailers included) so the next message on a
//!   keep-alive stream is recognised. Framing is read the way the analyzer's
//!   decoder (`agentsight-decode`, httparse) reads it; where the two could
//!   disagree (a header line httparse would drop or reject, Transfer-Encoding
//!   without a final `chunked`), the body is not trusted and the redactor
//!   treats it as lost sync. While in sync, any split of the stream into
//!   chunks gives the same output as one chunk ([`RedactStats::split_dependent`]
//!   counts the chunk boundaries that were read otherwise).
//! * Lost sync (a gap in the capture, a response to HEAD we cannot tell from
//!   its framing, a body read until close, a stream joined mid-way): the
//!   redactor falls back to resynchronising on start lines at chunk starts and
//!   line starts, and meanwhile masks any `name: value` line whose name is
//!   sensitive (or folded onto one), also when the name is cut by a chunk
//!   boundary. A message found where the decoder would not look for one (mid
//!   line, an unusual method while resynchronising, a response among requests
//!   or the reverse) has its headers masked but its framing ignored. The
//!   direction is learnt from the first message, as we are not told it.
//!   Over-masking is preferred to leaking.
//! * HTTP/2 (client preface or server SETTINGS at stream start): frames are
//!   followed and HPACK header blocks decoded (static and dynamic tables,
//!   Huffman) so literal values of sensitive names are masked wherever they
//!   appear. A raw literal becomes `*`s; a Huffman literal is rewritten with a
//!   valid Huffman string of the same octet length that decodes to the same
//!   number of characters (mostly `*`), so an HPACK decoder reading the capture
//!   keeps its dynamic table in step. If HPACK sync is lost, every later
//!   header-block byte of that stream is masked.
//!
//! No allocation per chunk, no panics on any input.

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};

mod args;
mod secrets;
pub use secrets::{find_secrets, fingerprint, mask_secrets, masked, SecretHit};

/// Header names masked by default (compared case-insensitively).
pub const DEFAULT_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "cookie",
    "set-cookie",
];

const MASK: u8 = b'*';
/// A request target longer than this is not treated as HTTP (protects the
/// classifier from binary streams).
const MAX_START_LINE: u32 = 16 * 1024;
const MAX_METHOD: u32 = 20;
/// A header block larger than this means we lost sync.
const MAX_HEADER_BLOCK: u32 = 1 << 20;
/// Content-Length / Transfer-Encoding values are read from this many bytes.
const MAX_FRAMING_VALUE: usize = 64;
/// The decoder's limits: a longer chunk size line, or more header lines,
/// and it gives up on the message.
const MAX_LINE: usize = 8 * 1024;
const MAX_HEADERS: u32 = 8192;
/// Longest HPACK name we keep (longer names cannot match a configured one,
/// only their length matters for the dynamic table).
const MAX_H2_NAME: usize = 256;
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Configuration shared by all streams.
#[derive(Clone, Debug)]
pub struct Redactor {
    names: Arc<Names>,
}

#[derive(Debug)]
struct Names {
    list: Vec<Box<[u8]>>,
    max_len: usize,
}

impl Names {
    fn matches(&self, lower: &[u8]) -> bool {
        self.list.iter().any(|n| **n == *lower)
    }
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor::new()
    }
}

impl Redactor {
    /// The default header list.
    pub fn new() -> Redactor {
        Redactor::with_headers(std::iter::empty::<&str>())
    }

    /// The default list plus `extra` names (case-insensitive; empty names and
    /// duplicates are ignored).
    pub fn with_headers<I, S>(extra: I) -> Redactor
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut list: Vec<Box<[u8]>> = Vec::new();
        let all = DEFAULT_HEADERS
            .iter()
            .map(|s| s.to_string())
            .chain(extra.into_iter().map(|s| s.as_ref().to_string()));
        for name in all {
            let lower = name.trim().to_ascii_lowercase().into_bytes();
            if !lower.is_empty() && !list.iter().any(|n| **n == *lower) {
                list.push(lower.into_boxed_slice());
            }
        }
        let max_len = list.iter().map(|n| n.len()).max().unwrap_or(0);
        Redactor {
            names: Arc::new(Names { list, max_len }),
        }
    }

    /// The names in effect, lower case (for the capture manifest).
    #[cfg(test)]
    pub fn header_names(&self) -> impl Iterator<Item = &str> {
        self.names
            .list
            .iter()
            .map(|n| std::str::from_utf8(n).unwrap_or("?"))
    }

    /// State for one direction of one connection.
    pub fn stream(&self) -> StreamRedactor {
        StreamRedactor::new(self.names.clone())
    }
}

/// Counters for the capture's summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RedactStats {
    /// Header values masked (an HTTP/1 line or an HPACK literal).
    pub masked_values: u64,
    /// Bytes overwritten.
    pub masked_bytes: u64,
    /// Times the HTTP/1 parser lost sync and fell back to scanning.
    pub resyncs: u64,
    /// HTTP/2 streams whose HPACK state was lost (later header blocks fully masked).
    pub h2_desync: u64,
    /// Huffman values whose decoded length could not be kept (split across chunks).
    pub h2_inexact: u64,
    /// Chunk boundaries that changed how the stream was read: lost framing
    /// probed at a chunk start, a response resynchronised at a new read, a
    /// start line rejected after it crossed a boundary, a sensitive Huffman
    /// value cut by one. While this stays 0, the output equals that of the
    /// same bytes fed as one chunk.
    pub split_dependent: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// At a message start: classifying the start line.
    Start,
    /// Inside a header block (or chunked trailers).
    Header,
    /// Body with this many bytes left.
    Fixed(u64),
    ChunkSize,
    ChunkData(u64),
    /// CRLF after chunk data (true: the CR was seen).
    ChunkEnd(bool),
    /// Not HTTP/1 framing we can follow: scan for sensitive lines and start lines.
    Opaque,
    /// Stream start with a non-text first byte: maybe an HTTP/2 server's SETTINGS.
    SniffFrame,
    Http2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HeaderPos {
    LineStart,
    Name,
    /// Whitespace between ':' and the value.
    Ows,
    Value,
    /// CR at a line start: the blank line, probably.
    BlankCr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Other,
    Sensitive,
    ContentLength,
    TransferEncoding,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Length {
    None,
    Some(u64),
    Invalid,
}

#[derive(Clone, Copy, Debug)]
struct Message {
    response: bool,
    status: u16,
    length: Length,
    /// A Transfer-Encoding header was seen; `chunked`: the last one ends in
    /// `chunked` (the decoder joins them and reads the final coding).
    te: bool,
    chunked: bool,
    trailers: bool,
    header_bytes: u32,
    header_lines: u32,
    /// The decoder may read this head differently (it would reject it, or
    /// drop or extend a framing header line): its body framing is not
    /// trusted.
    suspect: bool,
}

impl Message {
    fn new() -> Message {
        Message {
            response: false,
            status: 0,
            length: Length::None,
            te: false,
            chunked: false,
            trailers: false,
            header_bytes: 0,
            header_lines: 0,
            suspect: false,
        }
    }
}

/// Per-stream redaction state. Feed every chunk of the stream, in order.
pub struct StreamRedactor {
    names: Arc<Names>,
    state: State,
    fresh: bool,
    sl: StartLine,
    /// Bytes of the HTTP/2 client preface matched at stream start.
    preface: Option<u8>,
    hpos: HeaderPos,
    field: Field,
    masking: bool,
    counted: bool,
    prev_masking: bool,
    name: Vec<u8>,
    name_long: bool,
    /// Blanks between the name and ':' (httparse drops such a line in a request).
    name_ws: bool,
    value: Vec<u8>,
    /// A framing value with bytes httparse refuses, or longer than we keep.
    value_bad: bool,
    /// The previous header line was Content-Length or Transfer-Encoding.
    prev_framing: bool,
    /// The previous head byte was a CR.
    last_cr: bool,
    msg: Message,
    chunk_size: u64,
    chunk_digits: u8,
    chunk_ext: bool,
    /// Blanks after the chunk size digits: only `;` may follow.
    chunk_trail: bool,
    chunk_line: u32,
    /// Opaque scan: a sensitive value runs into the next chunk.
    opaque_masking: bool,
    /// Opaque scan: the last line was a masked value, so a following line
    /// starting with a blank (obs-fold) continues it.
    opaque_fold: bool,
    /// The byte before the current chunk was a LF (or there was none).
    after_nl: bool,
    /// The start of the current line, from earlier chunks, while it may
    /// still be a sensitive `name:` (opaque scanning, a start line being read).
    carry: Vec<u8>,
    /// The start line being read outgrew `carry`.
    carry_lost: bool,
    /// Whether this direction carries responses, from its first message. We
    /// are not told; the decoder is, and takes a message of the other kind
    /// for garbage to resynchronise past.
    responses: Option<bool>,
    h2: Option<Box<H2>>,
    stats: RedactStats,
}

impl StreamRedactor {
    fn new(names: Arc<Names>) -> StreamRedactor {
        let cap = names.max_len + 1;
        StreamRedactor {
            names,
            state: State::Start,
            fresh: true,
            sl: StartLine::new(),
            preface: Some(0),
            hpos: HeaderPos::LineStart,
            field: Field::Other,
            masking: false,
            counted: false,
            prev_masking: false,
            name: Vec::with_capacity(cap),
            name_long: false,
            name_ws: false,
            value: Vec::with_capacity(MAX_FRAMING_VALUE),
            value_bad: false,
            prev_framing: false,
            last_cr: false,
            msg: Message::new(),
            chunk_size: 0,
            chunk_digits: 0,
            chunk_ext: false,
            chunk_trail: false,
            chunk_line: 0,
            opaque_masking: false,
            opaque_fold: false,
            after_nl: true,
            carry: Vec::with_capacity(cap + 64),
            carry_lost: false,
            responses: None,
            h2: None,
            stats: RedactStats::default(),
        }
    }

    pub fn stats(&self) -> RedactStats {
        self.stats
    }

    /// Masks credential header values in `chunk` in place (same length).
    /// Returns whether anything was masked in this chunk.
    pub fn redact(&mut self, chunk: &mut [u8]) -> bool {
        let before = self.stats.masked_bytes;
        let mut i = 0;
        // Chunk starts are where a confused parser can find its feet again.
        match self.state {
            State::Opaque if !self.opaque_masking => {
                self.stats.split_dependent += 1;
                self.start_message();
                self.sl.resync_probe = true;
                self.sl.strict = true;
                // Mid-line, where the decoder never looks for a message: mask
                // what we find but do not trust its framing.
                self.sl.untrusted = !self.after_nl;
            }
            State::Fixed(_) | State::ChunkSize | State::ChunkData(_) | State::ChunkEnd(_)
                if self.msg.response && !chunk.is_empty() && complete_start_line(chunk) =>
            {
                // A response to HEAD carries Content-Length but no body; the
                // next response starting a new read is the tell. The decoder
                // may know better (it sees the methods) and read a body here.
                self.stats.resyncs += 1;
                self.stats.split_dependent += 1;
                self.start_message();
                self.sl.untrusted = true;
            }
            _ => {}
        }
        while i < chunk.len() {
            // Every state consumes a byte or hands over to one that does.
            i = self.step(chunk, i);
        }
        if let Some(&last) = chunk.last() {
            self.after_nl = last == b'\n';
        }
        self.stats.masked_bytes != before
    }

    /// Bytes of the stream were lost: the parser cannot trust its position.
    pub fn gap(&mut self) {
        if self.h2.is_some() {
            self.stats.h2_desync += 1;
            self.h2 = None;
        }
        self.fresh = false;
        self.preface = None;
        self.opaque_masking = false;
        self.opaque_fold = false;
        self.after_nl = true;
        self.carry.clear();
        self.state = State::Opaque;
    }

    fn start_message(&mut self) {
        self.state = State::Start;
        self.sl = StartLine::new();
        self.msg = Message::new();
    }

    /// The body's extent is unknown at the end of a head: a message may
    /// start right here (the decoder looks there first), else scan.
    fn lose_framing(&mut self) {
        self.stats.resyncs += 1;
        self.start_message();
        self.sl.resync_probe = true;
        self.sl.strict = true;
    }

    fn go_opaque(&mut self) {
        self.stats.resyncs += 1;
        self.opaque_masking = false;
        self.state = State::Opaque;
    }

    fn count_mask(&mut self, n: u64) {
        if !self.counted {
            self.counted = true;
            self.stats.masked_values += 1;
        }
        self.stats.masked_bytes += n;
    }

    /// Processes from `i`; returns the next index (may equal `i` only when the
    /// state changed, and never loops on one state).
    fn step(&mut self, buf: &mut [u8], i: usize) -> usize {
        match self.state {
            State::Start => self.step_start(buf, i),
            State::Header => self.step_header(buf, i),
            State::Fixed(left) => {
                let n = left.min((buf.len() - i) as u64);
                let left = left - n;
                if left == 0 {
                    self.start_message();
                } else {
                    self.state = State::Fixed(left);
                }
                i + n as usize
            }
            State::ChunkSize => self.step_chunk_size(buf, i),
            State::ChunkData(left) => {
                let n = left.min((buf.len() - i) as u64);
                let left = left - n;
                self.state = if left == 0 {
                    State::ChunkEnd(false)
                } else {
                    State::ChunkData(left)
                };
                i + n as usize
            }
            State::ChunkEnd(cr) => match buf[i] {
                b'\n' => {
                    self.begin_chunk_size();
                    i + 1
                }
                b'\r' if !cr => {
                    self.state = State::ChunkEnd(true);
                    i + 1
                }
                _ => {
                    // Missing line end: like the decoder, read the size line
                    // from here (a CR already seen is a blank it trims).
                    self.begin_chunk_size();
                    self.chunk_line = cr as u32;
                    i
                }
            },
            State::Opaque => {
                // The real previous byte, not the chunk start: the same
                // bytes must be read the same under any split.
                let line = if i == 0 {
                    self.after_nl
                } else {
                    buf[i - 1] == b'\n'
                };
                self.scan_opaque(buf, i, line, false)
            }
            State::SniffFrame => self.step_sniff(buf, i),
            State::Http2 => self.step_h2(buf, i),
        }
    }

    fn step_start(&mut self, buf: &mut [u8], mut i: usize) -> usize {
        // Where this line began, if in this chunk (for a rescan on rejection).
        let line_start = if self.sl.total == 0 { Some(i) } else { None };
        if let Some(s) = line_start {
            self.carry_lost = false;
            if s > 0 {
                // A message start; at a chunk start `carry` may hold the
                // opaque line this chunk continues.
                self.carry.clear();
            }
        }
        while i < buf.len() {
            let b = buf[i];
            let at_first = self.fresh;
            self.fresh = false;
            if let Some(p) = self.preface {
                if H2_PREFACE.get(p as usize) == Some(&b) {
                    if p as usize + 1 == H2_PREFACE.len() {
                        self.preface = None;
                        self.enter_h2(None);
                        return i + 1;
                    }
                    self.preface = Some(p + 1);
                } else {
                    self.preface = None;
                }
            }
            match self.sl.step(b) {
                Sl::More => i += 1,
                Sl::Done(response, status) => {
                    self.preface = None;
                    self.msg = Message::new();
                    self.msg.response = response;
                    self.msg.status = status;
                    self.msg.suspect =
                        self.sl.untrusted || self.responses.is_some_and(|r| r != response);
                    self.responses.get_or_insert(response);
                    self.state = State::Header;
                    self.hpos = HeaderPos::LineStart;
                    self.prev_masking = false;
                    self.prev_framing = false;
                    self.last_cr = false;
                    self.opaque_fold = false;
                    self.carry.clear();
                    return i + 1;
                }
                Sl::Reject => {
                    if self.preface.is_some() {
                        // "PRI * HTTP/2.0" is no HTTP/1 line: keep matching.
                        self.sl.dead = true;
                        i += 1;
                        continue;
                    }
                    if at_first && !b.is_ascii_graphic() && b != b'\r' && b != b'\n' {
                        // Binary first byte: an HTTP/2 server starts with SETTINGS.
                        self.h2 = Some(Box::new(H2::new()));
                        self.state = State::SniffFrame;
                        return i;
                    }
                    let quiet = self.sl.resync_probe;
                    if !quiet {
                        self.stats.resyncs += 1;
                    }
                    self.state = State::Opaque;
                    self.opaque_masking = false;
                    // Rescan this line from its start when it is in this chunk,
                    // so a sensitive header line right after a gap is masked.
                    return match line_start {
                        Some(s) => self.scan_opaque(buf, s, true, false),
                        // The line began in an earlier chunk: with its start
                        // in `carry`, judged as in one chunk.
                        None if !self.carry_lost => self.scan_opaque(buf, 0, false, false),
                        None => {
                            self.stats.split_dependent += 1;
                            self.scan_opaque(buf, i, false, false)
                        }
                    };
                }
            }
        }
        // The line goes on in the next chunk: keep its start.
        let from = line_start.unwrap_or(0);
        if self.carry.len() + (buf.len() - from) <= self.carry_cap() {
            self.carry.extend_from_slice(&buf[from..]);
        } else {
            self.carry.clear();
            self.carry_lost = true;
        }
        i
    }

    fn step_header(&mut self, buf: &mut [u8], mut i: usize) -> usize {
        while i < buf.len() {
            let b = buf[i];
            self.msg.header_bytes = self.msg.header_bytes.saturating_add(1);
            if self.msg.header_bytes > MAX_HEADER_BLOCK {
                self.go_opaque();
                return i;
            }
            // httparse fails on a NUL or a CR without LF anywhere in a head;
            // the decoder then resynchronises inside what we would call the
            // body. (Value bytes are judged as a run below: masked, a NUL is
            // none to the decoder, which reads the masked capture.)
            let in_value = matches!(self.hpos, HeaderPos::Ows | HeaderPos::Value);
            if (b == 0 && !in_value) || (self.last_cr && b != b'\n') {
                self.msg.suspect = true;
            }
            self.last_cr = b == b'\r';
            match self.hpos {
                HeaderPos::LineStart => match b {
                    b'\r' => self.hpos = HeaderPos::BlankCr,
                    b'\n' => {
                        self.end_of_headers();
                        return i + 1;
                    }
                    b' ' | b'\t' if !self.msg.trailers => {
                        // Obsolete line folding continues the previous value
                        // (httparse joins it in responses, drops it in requests).
                        if self.prev_framing {
                            self.msg.suspect = true;
                        }
                        self.field = Field::Other;
                        self.masking = self.prev_masking;
                        self.hpos = HeaderPos::Ows;
                    }
                    _ => {
                        self.begin_name();
                        self.push_name(b);
                    }
                },
                HeaderPos::BlankCr => {
                    if b == b'\n' {
                        self.end_of_headers();
                        return i + 1;
                    }
                    // A stray CR: read the line as a header line.
                    self.begin_name();
                    self.push_name(b);
                }
                HeaderPos::Name => match b {
                    b':' => {
                        self.classify_name();
                        self.hpos = HeaderPos::Ows;
                    }
                    b'\n' => {
                        // A line without a colon carries no value.
                        self.prev_masking = false;
                        self.prev_framing = false;
                        self.hpos = HeaderPos::LineStart;
                    }
                    _ => self.push_name(b),
                },
                HeaderPos::Ows => match b {
                    b' ' | b'\t' => {}
                    b'\r' => {}
                    b'\n' => self.end_field(),
                    _ => {
                        self.hpos = HeaderPos::Value;
                        continue; // this byte is the value's first
                    }
                },
                HeaderPos::Value => {
                    // Mask a run of value bytes at once.
                    let end = buf[i..]
                        .iter()
                        .position(|&c| c == b'\n' || c == b'\r')
                        .map_or(buf.len(), |p| i + p);
                    if end > i {
                        let run = end - i;
                        self.msg.header_bytes =
                            self.msg.header_bytes.saturating_add(run as u32 - 1);
                        // The decoder reads the masked capture: a NUL we
                        // overwrite is no NUL to it.
                        if !self.masking && buf[i..end].contains(&0) {
                            self.msg.suspect = true;
                        }
                        self.value_bytes(&mut buf[i..end]);
                        i = end;
                        continue;
                    }
                    if b == b'\n' {
                        self.end_field();
                    }
                    // CR: part of the line ending, left as is.
                }
            }
            i += 1;
        }
        i
    }

    fn begin_name(&mut self) {
        self.name.clear();
        self.name_long = false;
        self.field = Field::Other;
        self.masking = false;
        self.counted = false;
        self.value.clear();
        self.hpos = HeaderPos::Name;
        self.msg.header_lines = self.msg.header_lines.saturating_add(1);
        if self.msg.header_lines > MAX_HEADERS {
            self.msg.suspect = true;
        }
    }

    fn push_name(&mut self, b: u8) {
        // The decoder reads trailer lines itself and trims their names.
        if self.msg.trailers && self.name.is_empty() && matches!(b, b' ' | b'\t' | 0x0b | 0x0c) {
            return;
        }
        if self.name.len() < self.names.max_len.max(17) + 1 {
            self.name.push(b.to_ascii_lowercase());
        } else {
            self.name_long = true;
        }
    }

    fn classify_name(&mut self) {
        let len = self.name.len();
        let trailer = self.msg.trailers;
        while let Some(&c) = self.name.last() {
            if !(matches!(c, b' ' | b'\t' | b'\r') || trailer && matches!(c, 0x0b | 0x0c)) {
                break;
            }
            self.name.pop();
        }
        self.name_ws = self.name.len() != len;
        self.field = if self.name_long {
            Field::Other
        } else if self.names.matches(&self.name) {
            Field::Sensitive
        } else if self.name == b"content-length" {
            Field::ContentLength
        } else if self.name == b"transfer-encoding" {
            Field::TransferEncoding
        } else {
            Field::Other
        };
        let framing = matches!(self.field, Field::ContentLength | Field::TransferEncoding);
        if framing && self.name_ws && !self.msg.response {
            // httparse drops `Name : v` in a request: the decoder never sees
            // this Content-Length or Transfer-Encoding.
            self.msg.suspect = true;
        }
        self.masking = self.field == Field::Sensitive;
        self.counted = false;
        self.value.clear();
        self.value_bad = false;
    }

    fn value_bytes(&mut self, run: &mut [u8]) {
        if self.masking {
            run.fill(MASK);
            self.count_mask(run.len() as u64);
        }
        if matches!(self.field, Field::ContentLength | Field::TransferEncoding) {
            // httparse drops a line with a control byte in its value, so the
            // decoder would not see this framing header at all; a value
            // longer than we keep cannot be judged.
            if self.value.len() + run.len() > MAX_FRAMING_VALUE
                || run.iter().any(|&c| (c < 0x20 && c != b'\t') || c == 0x7f)
            {
                self.value_bad = true;
            }
            let room = MAX_FRAMING_VALUE.saturating_sub(self.value.len());
            self.value
                .extend(run.iter().take(room).map(|b| b.to_ascii_lowercase()));
        }
    }

    fn end_field(&mut self) {
        match self.field {
            Field::ContentLength => {
                let parsed = if self.value_bad {
                    None
                } else {
                    parse_content_length(&self.value)
                };
                self.msg.length = match (self.msg.length, parsed) {
                    (_, None) => Length::Invalid,
                    (Length::None, Some(n)) => Length::Some(n),
                    (Length::Some(a), Some(b)) if a == b => Length::Some(a),
                    _ => Length::Invalid,
                };
            }
            Field::TransferEncoding => {
                // The decoder joins all Transfer-Encoding values and frames
                // the body as chunked only when the final coding is.
                let last = self.value.rsplit(|&b| b == b',').next().unwrap_or(&[]);
                self.msg.te = true;
                self.msg.chunked = last.trim_ascii() == b"chunked";
                self.msg.suspect |= self.value_bad;
            }
            _ => {}
        }
        self.prev_masking = self.masking;
        self.prev_framing = matches!(self.field, Field::ContentLength | Field::TransferEncoding);
        self.masking = false;
        self.field = Field::Other;
        self.hpos = HeaderPos::LineStart;
    }

    fn end_of_headers(&mut self) {
        self.hpos = HeaderPos::LineStart;
        let m = self.msg;
        if m.trailers {
            self.start_message();
            return;
        }
        if m.response {
            if m.status == 101 {
                // Protocol switch (WebSocket): no longer HTTP/1 framing.
                self.state = State::Opaque;
                return;
            }
            if (100..200).contains(&m.status) || m.status == 204 || m.status == 304 {
                self.start_message();
                return;
            }
        }
        if m.suspect {
            // The decoder would read this head (and so the body's extent)
            // differently: following our framing could skip a header block
            // it shows.
            self.lose_framing();
            return;
        }
        if m.te {
            if m.chunked {
                self.begin_chunk_size();
            } else if m.response {
                // RFC 9112 6.3: read until close, whatever Content-Length says.
                self.state = State::Opaque;
            } else {
                // The decoder gives such a request no body; a server would
                // refuse it. Either way we cannot know where the next starts.
                self.lose_framing();
            }
            return;
        }
        match m.length {
            Length::Some(0) => self.start_message(),
            Length::Some(n) => self.state = State::Fixed(n),
            // The decoder reads an invalid length as no body in a request
            // and until close in a response; scanning covers both.
            Length::Invalid => self.lose_framing(),
            // A response without framing runs until close.
            Length::None if m.response => self.state = State::Opaque,
            Length::None => self.start_message(),
        }
    }

    fn begin_chunk_size(&mut self) {
        self.state = State::ChunkSize;
        self.chunk_size = 0;
        self.chunk_digits = 0;
        self.chunk_ext = false;
        self.chunk_trail = false;
        self.chunk_line = 0;
    }

    /// A chunk size line as the decoder reads it: ASCII blanks, 1 to 16 hex
    /// digits, blanks, then an optional `;` extension, at most `MAX_LINE`
    /// bytes. Anything else loses sync (the decoder resynchronises there too).
    fn step_chunk_size(&mut self, buf: &mut [u8], mut i: usize) -> usize {
        while i < buf.len() {
            let b = buf[i];
            i += 1;
            if b == b'\n' {
                if self.chunk_digits == 0 {
                    self.go_opaque();
                    return i - 1;
                }
                if self.chunk_size == 0 {
                    // Last chunk: trailers follow, parsed like headers.
                    self.msg.trailers = true;
                    self.msg.header_bytes = 0;
                    self.state = State::Header;
                    self.hpos = HeaderPos::LineStart;
                    self.prev_masking = false;
                    self.prev_framing = false;
                    self.last_cr = false;
                } else {
                    self.state = State::ChunkData(self.chunk_size);
                }
                return i;
            }
            self.chunk_line += 1;
            if self.chunk_line as usize > MAX_LINE {
                self.go_opaque();
                return i - 1;
            }
            if self.chunk_ext {
                continue;
            }
            match b {
                b';' if self.chunk_digits > 0 => self.chunk_ext = true,
                b' ' | b'\t' | b'\r' | 0x0c => self.chunk_trail = self.chunk_digits > 0,
                _ => match (b as char).to_digit(16) {
                    Some(d) if !self.chunk_trail && self.chunk_digits < 16 => {
                        self.chunk_size = (self.chunk_size << 4) | d as u64;
                        self.chunk_digits += 1;
                    }
                    _ => {
                        self.go_opaque();
                        return i - 1;
                    }
                },
            }
        }
        i
    }

    /// Lost framing: mask `name: value` lines with a sensitive name, and look
    /// for a start line at each later line start to pick up HTTP/1 again.
    /// `first_is_line`: `from` starts a line; `probe_first`: it may also be a
    /// start line (false when we just rejected one there). A line still
    /// undecided at the chunk end is kept in `carry` and judged with the
    /// next chunk, so a name cut by a chunk boundary is still found.
    fn scan_opaque(
        &mut self,
        buf: &mut [u8],
        from: usize,
        first_is_line: bool,
        probe_first: bool,
    ) -> usize {
        let len = buf.len();
        let mut i = from;
        let mut line = if first_is_line { Some(from) } else { None };
        if !first_is_line && !self.opaque_masking && self.carry.is_empty() {
            // The rest of a line that was not masked: no fold follows it.
            self.opaque_fold = false;
        }
        if self.opaque_masking {
            // A sensitive value from the previous chunk goes on to its line
            // end; blanks before it stay, as they would in one chunk.
            if !self.counted {
                while matches!(buf.get(i), Some(b' ' | b'\t')) {
                    i += 1;
                }
            }
            let end = line_end(buf, i);
            self.mask_run(buf, i, end);
            if end == len {
                return len;
            }
            self.opaque_masking = false;
            i = end;
            line = None;
        } else if !self.carry.is_empty() {
            // This chunk goes on with a line begun earlier: judge it whole.
            let kept = self.carry.len();
            let take = (len - from).min(self.carry_cap());
            let mut whole = std::mem::take(&mut self.carry);
            whole.extend_from_slice(&buf[from..from + take]);
            // The line starts after the last LF kept (a start line being
            // read may have taken the end of the line before).
            let lead = whole[..kept]
                .iter()
                .rposition(|&c| c == b'\n')
                .map_or(0, |p| p + 1);
            let rest = &whole[lead..];
            let verdict = if self.opaque_fold && matches!(rest.first(), Some(b' ' | b'\t')) {
                // A fold of the masked value before: all of it.
                let v = rest.iter().position(|&c| c != b' ' && c != b'\t');
                Sens::Yes(lead + v.unwrap_or(rest.len()))
            } else {
                match self.sensitive_prefix(rest) {
                    Sens::Yes(v) => Sens::Yes(lead + v),
                    other => other,
                }
            };
            if matches!(verdict, Sens::More)
                && take == len - from
                && whole.len() <= self.carry_cap()
            {
                // A tiny chunk: still a possible name.
                self.carry = whole;
                return len;
            }
            whole.clear();
            self.carry = whole;
            match verdict {
                Sens::Yes(v) => {
                    let vs = from + v.saturating_sub(kept);
                    let end = line_end(buf, vs);
                    self.counted = false;
                    self.mask_run(buf, vs, end);
                    self.opaque_fold = true;
                    if end == len {
                        self.opaque_masking = true;
                        return len;
                    }
                    i = end;
                    line = None;
                }
                _ => self.opaque_fold = false,
            }
        }
        let mut probe = probe_first;
        loop {
            if let Some(s) = line {
                if probe && complete_start_line(&buf[s..]) {
                    self.stats.resyncs += 1;
                    self.carry.clear();
                    self.start_message();
                    self.sl.strict = true;
                    return s;
                }
                // A line starting with a blank after a masked one is an
                // obs-fold continuation of that value (httparse joins it).
                let v = if s == 0 && !self.after_nl && buf[0] == b'\n' {
                    // The LF of a line the last chunk ended on, not a line.
                    Sens::Keep
                } else if self.opaque_fold && matches!(buf[s], b' ' | b'\t') {
                    let v = buf[s..].iter().position(|&c| c != b' ' && c != b'\t');
                    Sens::Yes(v.unwrap_or(len - s))
                } else {
                    self.sensitive_prefix(&buf[s..])
                };
                if !matches!(v, Sens::Keep) {
                    self.opaque_fold = matches!(v, Sens::Yes(_));
                }
                match v {
                    Sens::Yes(v) => {
                        let vs = s + v;
                        let end = line_end(buf, vs);
                        self.counted = false;
                        self.mask_run(buf, vs, end);
                        if end == len {
                            self.opaque_masking = true;
                            return len;
                        }
                    }
                    Sens::More if len - s <= self.carry_cap() => {
                        // Only a line that runs to the chunk end is undecided.
                        self.carry.clear();
                        self.carry.extend_from_slice(&buf[s..]);
                        return len;
                    }
                    _ => {}
                }
            }
            probe = true;
            match buf[i..].iter().position(|&c| c == b'\n') {
                Some(p) if i + p + 1 < len => {
                    i += p + 1;
                    line = Some(i);
                }
                _ => return len,
            }
        }
    }

    /// Masks a value's bytes but its CRs: a bare CR does not end a value
    /// for the decoder's reading of a head cut short, nor for the header
    /// state above.
    fn mask_run(&mut self, buf: &mut [u8], from: usize, to: usize) {
        let mut n = 0;
        for b in &mut buf[from..to] {
            if *b != b'\r' {
                *b = MASK;
                n += 1;
            }
        }
        if n > 0 {
            self.count_mask(n);
        }
    }

    /// How much of an undecided line we keep: a name, then room for blanks.
    fn carry_cap(&self) -> usize {
        self.names.max_len + 64
    }

    /// Whether `line` (from its start to the chunk end) is `<sensitive name>
    /// OWS ':' OWS`, with the offset of the value; `More` when the chunk
    /// ended before that could be told.
    fn sensitive_prefix(&self, line: &[u8]) -> Sens {
        let mut more = false;
        for n in &self.names.list {
            let k = n.len().min(line.len());
            if !line[..k].eq_ignore_ascii_case(&n[..k]) {
                continue;
            }
            let mut j = n.len();
            while matches!(line.get(j), Some(b' ' | b'\t')) {
                j += 1;
            }
            match line.get(j) {
                None => more = true,
                Some(b':') => {
                    j += 1;
                    while matches!(line.get(j), Some(b' ' | b'\t')) {
                        j += 1;
                    }
                    return Sens::Yes(j);
                }
                Some(_) => {}
            }
        }
        if more {
            Sens::More
        } else {
            Sens::No
        }
    }

    // ------------------------------------------------------------ HTTP/2

    fn enter_h2(&mut self, frame_header: Option<[u8; 9]>) {
        let mut h2 = self.h2.take().unwrap_or_else(|| Box::new(H2::new()));
        h2.phase = FramePhase::Header;
        h2.fh_len = 0;
        if let Some(fh) = frame_header {
            h2.fh = fh;
            h2.begin_frame();
        }
        self.h2 = Some(h2);
        self.state = State::Http2;
    }

    fn step_sniff(&mut self, buf: &mut [u8], mut i: usize) -> usize {
        let Some(h2) = self.h2.as_mut() else {
            self.state = State::Opaque;
            return i;
        };
        while i < buf.len() && (h2.fh_len as usize) < 9 {
            h2.fh[h2.fh_len as usize] = buf[i];
            h2.fh_len += 1;
            i += 1;
        }
        if h2.fh_len < 9 {
            return i;
        }
        let fh = h2.fh;
        let len = u32::from_be_bytes([0, fh[0], fh[1], fh[2]]);
        let sid = u32::from_be_bytes([fh[5], fh[6], fh[7], fh[8]]) & 0x7fff_ffff;
        if fh[3] == 4 && fh[4] == 0 && sid == 0 && len.is_multiple_of(6) && len <= 6 * 64 {
            self.enter_h2(Some(fh));
        } else {
            self.h2 = None;
            self.state = State::Opaque;
        }
        i
    }

    fn step_h2(&mut self, buf: &mut [u8], i: usize) -> usize {
        let names = self.names.clone();
        let Some(h2) = self.h2.as_mut() else {
            self.state = State::Opaque;
            return i;
        };
        let was_broken = h2.hp.broken;
        let next = h2.step(buf, i, &names, &mut self.stats);
        if !was_broken && h2.hp.broken {
            self.stats.h2_desync += 1;
        }
        next
    }
}

/// `Content-Length: 12` or the list form `12, 12` (several headers arrive
/// here one by one); None when not a length. Each part is parsed like the
/// decoder does, with `u64::from_str`: `+12` and leading zeros are accepted
/// (RFC 9112 says 1*DIGIT, but the decoder's reading is the one that decides
/// where the capture's next message starts), up to `u64::MAX`. Where the
/// decoder is laxer still (it also trims non-ASCII Unicode blanks), we say
/// invalid, which scans instead: over-masking, never skipping a head.
fn parse_content_length(v: &[u8]) -> Option<u64> {
    let mut out: Option<u64> = None;
    for part in v.split(|&b| b == b',') {
        let n = std::str::from_utf8(part.trim_ascii())
            .ok()?
            .parse::<u64>()
            .ok()?;
        if out.is_some_and(|x| x != n) {
            return None;
        }
        out = Some(n);
    }
    out
}

// ------------------------------------------------------------ start line

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SlPhase {
    Lead,
    Method,
    Target,
    /// Matching "HTTP/1." then a digit, for a request (`idx` into the literal).
    ReqVersion,
    ReqEnd,
    ReqCr,
    StatusVersion,
    StatusCode,
    StatusAfterCode,
    Reason,
    StatusCr,
}

#[derive(Clone, Copy, Debug)]
struct StartLine {
    phase: SlPhase,
    n: u32,
    total: u32,
    is_http: bool,
    status: u16,
    /// Probe at a chunk start in opaque data: rejection is not a new loss of sync.
    resync_probe: bool,
    /// Rejected while the HTTP/2 preface is still matching.
    dead: bool,
    /// Found by a chunk-start heuristic only: the message's framing is not
    /// trusted.
    untrusted: bool,
    /// Resynchronising: the decoder then takes only these methods for a
    /// request (`looks_like_start`), so with another the framing is not
    /// trusted.
    strict: bool,
    method: [u8; 8],
    /// The last leading byte was a CR.
    lead_cr: bool,
}

const RESYNC_METHODS: [&[u8]; 9] = [
    b"GET", b"POST", b"PUT", b"DELETE", b"HEAD", b"OPTIONS", b"PATCH", b"CONNECT", b"TRACE",
];

enum Sl {
    More,
    Reject,
    Done(bool, u16),
}

const HTTP1: &[u8; 7] = b"HTTP/1.";

impl StartLine {
    fn new() -> StartLine {
        StartLine {
            phase: SlPhase::Lead,
            n: 0,
            total: 0,
            is_http: true,
            status: 0,
            resync_probe: false,
            dead: false,
            untrusted: false,
            strict: false,
            method: [0; 8],
            lead_cr: false,
        }
    }

    fn step(&mut self, b: u8) -> Sl {
        if self.dead {
            return Sl::Reject;
        }
        self.total += 1;
        if self.total > MAX_START_LINE {
            return Sl::Reject;
        }
        match self.phase {
            SlPhase::Lead => match b {
                // Empty lines before a request line are allowed.
                b'\r' | b'\n' if self.total <= 4 => self.lead_cr = b == b'\r',
                b'A'..=b'Z' => {
                    // Resynchronising, the decoder looks at line starts only:
                    // `\rGET` is none.
                    self.untrusted |= self.strict && self.lead_cr;
                    self.phase = SlPhase::Method;
                    self.n = 1;
                    self.method[0] = b;
                    self.is_http = b == b'H';
                }
                _ => return Sl::Reject,
            },
            SlPhase::Method => match b {
                b'A'..=b'Z' | b'-' | b'_' if self.n < MAX_METHOD => {
                    self.is_http = self.is_http && HTTP1.get(self.n as usize) == Some(&b);
                    if let Some(m) = self.method.get_mut(self.n as usize) {
                        *m = b;
                    }
                    self.n += 1;
                }
                b' ' => {
                    let m = &self.method[..(self.n as usize).min(8)];
                    if self.strict && (self.n > 8 || !RESYNC_METHODS.contains(&m)) {
                        self.untrusted = true;
                    }
                    self.phase = SlPhase::Target;
                    self.n = 0;
                }
                b'/' if self.is_http && self.n == 4 => {
                    self.phase = SlPhase::StatusVersion;
                    self.n = 5;
                }
                _ => return Sl::Reject,
            },
            SlPhase::Target => match b {
                b' ' if self.n > 0 => {
                    self.phase = SlPhase::ReqVersion;
                    self.n = 0;
                }
                0x21..=0x7e | 0x80..=0xff => self.n += 1,
                _ => return Sl::Reject,
            },
            SlPhase::ReqVersion => {
                if (self.n as usize) < HTTP1.len() {
                    if b != HTTP1[self.n as usize] {
                        return Sl::Reject;
                    }
                    self.n += 1;
                } else if matches!(b, b'0' | b'1') {
                    // httparse knows no other HTTP/1 minor versions.
                    self.phase = SlPhase::ReqEnd;
                } else {
                    return Sl::Reject;
                }
            }
            SlPhase::ReqEnd => match b {
                b'\r' => self.phase = SlPhase::ReqCr,
                b'\n' => return Sl::Done(false, 0),
                _ => return Sl::Reject,
            },
            SlPhase::ReqCr => {
                return if b == b'\n' {
                    Sl::Done(false, 0)
                } else {
                    Sl::Reject
                };
            }
            SlPhase::StatusVersion => {
                if (self.n as usize) < HTTP1.len() {
                    if b != HTTP1[self.n as usize] {
                        return Sl::Reject;
                    }
                    self.n += 1;
                } else if self.n as usize == HTTP1.len() {
                    if !matches!(b, b'0' | b'1') {
                        return Sl::Reject;
                    }
                    self.n += 1;
                } else if b == b' ' {
                    self.phase = SlPhase::StatusCode;
                    self.n = 0;
                    self.status = 0;
                } else {
                    return Sl::Reject;
                }
            }
            SlPhase::StatusCode => {
                if !b.is_ascii_digit() {
                    return Sl::Reject;
                }
                self.status = self.status * 10 + (b - b'0') as u16;
                self.n += 1;
                if self.n == 3 {
                    self.phase = SlPhase::StatusAfterCode;
                }
            }
            SlPhase::StatusAfterCode => match b {
                b' ' => self.phase = SlPhase::Reason,
                b'\r' => self.phase = SlPhase::StatusCr,
                b'\n' => return Sl::Done(true, self.status),
                _ => return Sl::Reject,
            },
            // What httparse accepts in a reason phrase (else it rejects the
            // response and the decoder resynchronises past it).
            SlPhase::Reason => match b {
                b'\n' => return Sl::Done(true, self.status),
                b'\r' => self.phase = SlPhase::StatusCr,
                b'\t' | b' '..=0x7e | 0x80..=0xff => {}
                _ => return Sl::Reject,
            },
            SlPhase::StatusCr => {
                return if b == b'\n' {
                    Sl::Done(true, self.status)
                } else {
                    Sl::Reject
                };
            }
        }
        Sl::More
    }
}

/// The end of the line from `i`: the next LF, or the chunk end.
fn line_end(buf: &[u8], i: usize) -> usize {
    buf[i..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(buf.len(), |p| i + p)
}

enum Sens {
    /// A sensitive line; its value starts at this offset.
    Yes(usize),
    No,
    /// The chunk ended first.
    More,
    /// Not a line: leave the fold state as it is.
    Keep,
}

/// Whether `bytes` begins with a whole, valid HTTP/1 start line.
fn complete_start_line(bytes: &[u8]) -> bool {
    let mut sl = StartLine::new();
    for &b in bytes {
        match sl.step(b) {
            Sl::More => {}
            Sl::Reject => return false,
            Sl::Done(..) => return true,
        }
    }
    false
}

// ------------------------------------------------------------ HTTP/2 framing

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FramePhase {
    Header,
    Skip(u32),
    /// PADDED: the pad-length byte comes first; `left` bytes follow it.
    PadLength {
        left: u32,
        pre: u32,
    },
    /// Priority fields / promised stream id, then the fragment, then padding.
    Pre {
        pre: u32,
        frag: u32,
        pad: u32,
    },
    Fragment {
        left: u32,
        pad: u32,
    },
}

struct H2 {
    fh: [u8; 9],
    fh_len: u8,
    phase: FramePhase,
    hp: Hpack,
}

impl H2 {
    fn new() -> H2 {
        H2 {
            fh: [0; 9],
            fh_len: 0,
            phase: FramePhase::Header,
            hp: Hpack::new(),
        }
    }

    /// Sets the phase for the frame whose header is in `fh`.
    fn begin_frame(&mut self) {
        let fh = self.fh;
        let len = u32::from_be_bytes([0, fh[0], fh[1], fh[2]]);
        let (typ, flags) = (fh[3], fh[4]);
        let padded = flags & 0x08 != 0;
        let pre = match typ {
            // HEADERS: optional pad length, optional 5 priority bytes.
            1 if flags & 0x20 != 0 => 5,
            1 => 0,
            // PUSH_PROMISE: optional pad length, 4-byte promised stream id.
            5 => 4,
            9 => {
                self.phase = FramePhase::Fragment { left: len, pad: 0 };
                return;
            }
            _ => {
                self.phase = FramePhase::Skip(len);
                return;
            }
        };
        self.phase = if !padded {
            fields(len, pre, 0)
        } else if len == 0 {
            // No room for the pad length: the decoder gives up on HPACK.
            self.hp.fail();
            FramePhase::Header
        } else {
            FramePhase::PadLength { left: len - 1, pre }
        };
    }

    fn step(&mut self, buf: &mut [u8], i: usize, names: &Names, stats: &mut RedactStats) -> usize {
        let avail = (buf.len() - i) as u32;
        match self.phase {
            FramePhase::Header => {
                let n = (9 - self.fh_len as usize).min(buf.len() - i);
                self.fh[self.fh_len as usize..self.fh_len as usize + n]
                    .copy_from_slice(&buf[i..i + n]);
                self.fh_len += n as u8;
                if self.fh_len == 9 {
                    self.fh_len = 0;
                    self.begin_frame();
                }
                i + n
            }
            FramePhase::Skip(left) => {
                let n = left.min(avail);
                self.phase = if left == n {
                    FramePhase::Header
                } else {
                    FramePhase::Skip(left - n)
                };
                i + n as usize
            }
            FramePhase::PadLength { left, pre } => {
                let pad = buf[i] as u32;
                self.phase = if pad > left {
                    // More padding than payload: the decoder stops reading
                    // header blocks; we keep following frames and mask them.
                    self.hp.fail();
                    FramePhase::Skip(left)
                } else {
                    fields(left - pad, pre, pad)
                };
                i + 1
            }
            FramePhase::Pre { pre, frag, pad } => {
                if pre > 0 {
                    let n = pre.min(avail);
                    self.phase = FramePhase::Pre {
                        pre: pre - n,
                        frag,
                        pad,
                    };
                    return i + n as usize;
                }
                self.phase = FramePhase::Fragment { left: frag, pad };
                i
            }
            FramePhase::Fragment { left, pad } => {
                if left == 0 {
                    self.phase = FramePhase::Skip(pad);
                    return i;
                }
                let n = left.min(avail) as usize;
                // The chunk ends inside the fragment.
                let cut = (n as u32) < left;
                self.hp.feed(&mut buf[i..i + n], cut, names, stats);
                self.phase = FramePhase::Fragment {
                    left: left - n as u32,
                    pad,
                };
                i + n
            }
        }
    }
}

/// A HEADERS / PUSH_PROMISE payload without its padding, as the decoder
/// splits it: the fields come off the front of what is left, however short
/// (a frame too short for them has an empty fragment).
fn fields(content: u32, pre: u32, pad: u32) -> FramePhase {
    let pre = pre.min(content);
    FramePhase::Pre {
        pre,
        frag: content - pre,
        pad,
    }
}

// ------------------------------------------------------------ HPACK

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rep {
    Indexed,
    /// Literal with incremental indexing: enters the dynamic table.
    Incremental,
    NotIndexed,
    SizeUpdate,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hs {
    /// First byte of a representation.
    Start,
    /// Continuation bytes of the representation's prefix integer.
    Int,
    /// First byte of a string (H bit + length prefix).
    StrLen,
    StrLenInt,
    Str,
}

struct Entry {
    name: Box<[u8]>,
    size: usize,
}

/// Streaming HPACK decoder that only keeps what redaction needs: names, the
/// dynamic table's names and sizes, and decoded value lengths.
struct Hpack {
    st: Hs,
    rep: Rep,
    int: u64,
    shift: u32,
    /// Which string is being read: the name (true) or the value.
    in_name: bool,
    name: Vec<u8>,
    name_len: usize,
    sensitive: bool,
    huff_str: bool,
    str_len: u64,
    left: u64,
    huff: HuffDecoder,
    /// Replacement symbols already written for a sensitive Huffman value split
    /// across chunks.
    emitted: u64,
    counted: bool,
    table: VecDeque<Entry>,
    size: usize,
    max: usize,
    broken: bool,
}

const STATIC_NAMES: [&str; 61] = [
    ":authority",
    ":method",
    ":method",
    ":path",
    ":path",
    ":scheme",
    ":scheme",
    ":status",
    ":status",
    ":status",
    ":status",
    ":status",
    ":status",
    ":status",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "accept",
    "access-control-allow-origin",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-range",
    "content-type",
    "cookie",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "link",
    "location",
    "max-forwards",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "refresh",
    "retry-after",
    "server",
    "set-cookie",
    "strict-transport-security",
    "transfer-encoding",
    "user-agent",
    "vary",
    "via",
    "www-authenticate",
];

impl Hpack {
    fn new() -> Hpack {
        Hpack {
            st: Hs::Start,
            rep: Rep::Indexed,
            int: 0,
            shift: 0,
            in_name: false,
            name: Vec::new(),
            name_len: 0,
            sensitive: false,
            huff_str: false,
            str_len: 0,
            left: 0,
            huff: HuffDecoder::default(),
            emitted: 0,
            counted: false,
            table: VecDeque::new(),
            size: 0,
            max: 4096,
            broken: false,
        }
    }

    /// `cut`: the chunk, not the frame, ends after `frag`.
    fn feed(&mut self, frag: &mut [u8], cut: bool, names: &Names, stats: &mut RedactStats) {
        if self.broken {
            // Without HPACK state any literal may be a credential.
            frag.fill(MASK);
            stats.masked_bytes += frag.len() as u64;
            return;
        }
        let mut i = 0;
        while i < frag.len() && !self.broken {
            i = self.step(frag, i, cut, names, stats);
        }
        if self.broken && i < frag.len() {
            frag[i..].fill(MASK);
            stats.masked_bytes += (frag.len() - i) as u64;
        }
    }

    fn fail(&mut self) {
        self.broken = true;
    }

    fn step(
        &mut self,
        frag: &mut [u8],
        i: usize,
        cut: bool,
        names: &Names,
        stats: &mut RedactStats,
    ) -> usize {
        let b = frag[i];
        match self.st {
            Hs::Start => {
                let (rep, prefix) = if b & 0x80 != 0 {
                    (Rep::Indexed, 7)
                } else if b & 0xc0 == 0x40 {
                    (Rep::Incremental, 6)
                } else if b & 0xe0 == 0x20 {
                    (Rep::SizeUpdate, 5)
                } else {
                    (Rep::NotIndexed, 4)
                };
                self.rep = rep;
                let max = (1u64 << prefix) - 1;
                self.int = (b as u64) & max;
                self.shift = 0;
                if self.int == max {
                    self.st = Hs::Int;
                } else {
                    self.int_done(names);
                }
                i + 1
            }
            Hs::Int | Hs::StrLenInt => {
                if self.shift > 28 {
                    self.fail();
                    return i + 1;
                }
                self.int += ((b & 0x7f) as u64) << self.shift;
                self.shift += 7;
                if b & 0x80 == 0 {
                    if self.st == Hs::Int {
                        self.int_done(names);
                    } else {
                        self.begin_string(self.int, names);
                    }
                }
                i + 1
            }
            Hs::StrLen => {
                self.huff_str = b & 0x80 != 0;
                let v = (b & 0x7f) as u64;
                if v == 0x7f {
                    self.int = v;
                    self.shift = 0;
                    self.st = Hs::StrLenInt;
                } else {
                    self.begin_string(v, names);
                }
                i + 1
            }
            Hs::Str => self.string_bytes(frag, i, cut, names, stats),
        }
    }

    /// The representation's prefix integer is complete.
    fn int_done(&mut self, names: &Names) {
        let v = self.int;
        match self.rep {
            Rep::Indexed => {
                if v == 0 || self.lookup(v).is_none() {
                    self.fail();
                }
                self.st = Hs::Start;
            }
            Rep::SizeUpdate => {
                self.max = v.min(1 << 24) as usize;
                self.evict(0);
                self.st = Hs::Start;
            }
            Rep::Incremental | Rep::NotIndexed => {
                if v == 0 {
                    self.in_name = true;
                    self.name.clear();
                    self.name_len = 0;
                } else {
                    let Some(n) = self.lookup(v) else {
                        self.fail();
                        return;
                    };
                    let n = n.to_vec();
                    self.name_len = n.len();
                    self.name = n;
                    self.sensitive = names.matches(&self.name);
                    self.in_name = false;
                }
                self.st = Hs::StrLen;
            }
        }
    }

    fn lookup(&self, index: u64) -> Option<&[u8]> {
        let i = usize::try_from(index).ok()?;
        if (1..=61).contains(&i) {
            return Some(STATIC_NAMES[i - 1].as_bytes());
        }
        self.table.get(i.checked_sub(62)?).map(|e| &*e.name)
    }

    fn begin_string(&mut self, len: u64, names: &Names) {
        self.str_len = len;
        self.left = len;
        self.huff = HuffDecoder::default();
        self.emitted = 0;
        self.counted = false;
        self.st = Hs::Str;
        if len == 0 {
            self.end_string(names);
        }
    }

    fn string_bytes(
        &mut self,
        frag: &mut [u8],
        i: usize,
        cut: bool,
        names: &Names,
        stats: &mut RedactStats,
    ) -> usize {
        let n = self.left.min((frag.len() - i) as u64) as usize;
        let run = &mut frag[i..i + n];
        let last = n as u64 == self.left;
        if self.in_name {
            for &b in run.iter() {
                if self.huff_str {
                    self.huff.push(b, Some((&mut self.name, MAX_H2_NAME)));
                } else if self.name.len() < MAX_H2_NAME {
                    self.name.push(b);
                }
            }
            self.name_len += if self.huff_str { 0 } else { n };
        } else if self.sensitive {
            if !self.counted && self.str_len > 0 {
                self.counted = true;
                stats.masked_values += 1;
            }
            stats.masked_bytes += n as u64;
            if !self.huff_str {
                run.fill(MASK);
            } else {
                for &b in run.iter() {
                    self.huff.push(b, None);
                }
                if last {
                    // The whole rest is here: write exactly the symbols still owed.
                    let total = self.huff.count;
                    let owed = total.checked_sub(self.emitted);
                    let exact = huffman_fill(owed.unwrap_or(0), run);
                    if !exact || owed.is_none() {
                        stats.h2_inexact += 1;
                    }
                } else {
                    // Split value: fill these octets exactly (no padding inside
                    // a string) with as many symbols as the original has
                    // completed so far, so the last part can settle the count.
                    if cut {
                        stats.split_dependent += 1;
                    }
                    let m = n as u64;
                    let q = self
                        .huff
                        .count
                        .saturating_sub(self.emitted)
                        .clamp(m, m * 8 / 5);
                    huffman_fill(q, run);
                    self.emitted += q;
                }
            }
        } else if self.huff_str && self.rep == Rep::Incremental {
            // Only the decoded length matters, for the table's accounting.
            for &b in run.iter() {
                self.huff.push(b, None);
            }
        }
        self.left -= n as u64;
        if self.left == 0 {
            self.end_string(names);
        }
        i + n
    }

    fn end_string(&mut self, names: &Names) {
        if self.huff_str && !self.huff.finish() {
            self.fail();
            return;
        }
        if self.in_name {
            self.name_len = if self.huff_str {
                self.huff.count as usize
            } else {
                self.str_len as usize
            };
            for b in self.name.iter_mut() {
                b.make_ascii_lowercase();
            }
            // A name cut at MAX_H2_NAME cannot be a configured one.
            self.sensitive = self.name.len() == self.name_len && names.matches(&self.name);
            self.in_name = false;
            self.st = Hs::StrLen;
            return;
        }
        if self.rep == Rep::Incremental {
            let value_len = if self.huff_str {
                self.huff.count as usize
            } else {
                self.str_len as usize
            };
            self.insert(value_len);
        }
        self.st = Hs::Start;
    }

    /// RFC 7541 4.4: evict from the oldest end, then add if it fits at all.
    fn insert(&mut self, value_len: usize) {
        let size = self.name_len.saturating_add(value_len).saturating_add(32);
        if size > self.max {
            self.table.clear();
            self.size = 0;
            return;
        }
        self.evict(size);
        self.size += size;
        self.table.push_front(Entry {
            name: std::mem::take(&mut self.name).into_boxed_slice(),
            size,
        });
    }

    fn evict(&mut self, room: usize) {
        while self.size + room > self.max {
            match self.table.pop_back() {
                Some(e) => self.size -= e.size,
                None => {
                    self.size = 0;
                    break;
                }
            }
        }
    }
}

// ------------------------------------------------------------ Huffman

/// Code lengths of the HPACK Huffman code (RFC 7541 Appendix B), symbols
/// 0..=256 (256 is EOS). The code is canonical, so the codes themselves follow
/// from the lengths.
const HUFFMAN_LENGTHS: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, //
    28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, //
    6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, //
    5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, //
    13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, //
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, //
    15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, //
    6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, //
    20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, //
    24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, //
    22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, //
    21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, //
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, //
    19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, //
    20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, //
    26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, //
    30,
];

const EOS: u16 = 256;

struct HuffTable {
    code: [u32; 257],
    /// Per length: first canonical code, number of codes, index into `syms`.
    first: [u32; 31],
    count: [u32; 31],
    offset: [u32; 31],
    syms: [u16; 257],
}

fn huff_table() -> &'static HuffTable {
    static TABLE: OnceLock<HuffTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut syms: Vec<u16> = (0..257).collect();
        syms.sort_by_key(|&s| (HUFFMAN_LENGTHS[s as usize], s));
        let mut t = HuffTable {
            code: [0; 257],
            first: [0; 31],
            count: [0; 31],
            offset: [0; 31],
            syms: [0; 257],
        };
        let mut code: u32 = 0;
        let mut prev_len = HUFFMAN_LENGTHS[syms[0] as usize] as u32;
        for (k, &s) in syms.iter().enumerate() {
            let len = HUFFMAN_LENGTHS[s as usize] as u32;
            if k > 0 {
                code = (code + 1) << (len - prev_len);
            }
            prev_len = len;
            t.code[s as usize] = code;
            if t.count[len as usize] == 0 {
                t.first[len as usize] = code;
                t.offset[len as usize] = k as u32;
            }
            t.count[len as usize] += 1;
            t.syms[k] = s;
        }
        t
    })
}

/// Bit-at-a-time canonical Huffman decoder; counts symbols, optionally keeps them.
#[derive(Clone, Copy, Default)]
struct HuffDecoder {
    code: u32,
    len: u32,
    count: u64,
    bad: bool,
}

impl HuffDecoder {
    fn push(&mut self, byte: u8, mut out: Option<(&mut Vec<u8>, usize)>) {
        let t = huff_table();
        for k in (0..8).rev() {
            self.code = (self.code << 1) | ((byte >> k) & 1) as u32;
            self.len += 1;
            let l = self.len as usize;
            if l >= 31 {
                self.bad = true;
                self.code = 0;
                self.len = 0;
                continue;
            }
            let c = t.count[l];
            if c > 0 && self.code >= t.first[l] && self.code - t.first[l] < c {
                let sym = t.syms[(t.offset[l] + self.code - t.first[l]) as usize];
                if sym == EOS {
                    self.bad = true;
                } else {
                    self.count += 1;
                    if let Some((v, cap)) = out.as_mut() {
                        if v.len() < *cap {
                            v.push(sym as u8);
                        }
                    }
                }
                self.code = 0;
                self.len = 0;
            }
        }
    }

    /// Valid end: fewer than 8 padding bits, all ones (a prefix of EOS).
    fn finish(&self) -> bool {
        !self.bad && self.len < 8 && self.code == (1u32 << self.len) - 1
    }
}

/// Writes into `out` a Huffman string of exactly `out.len()` octets decoding
/// to `n` symbols, mostly '*'. Returns false when no such string exists (then
/// the closest count is written).
fn huffman_fill(n: u64, out: &mut [u8]) -> bool {
    let t = huff_table();
    let bits = out.len() as u64 * 8;
    if out.is_empty() {
        return n == 0;
    }
    // 5 bits is the shortest code, 30 the longest usable (EOS excluded).
    let lo = bits.saturating_sub(7).div_ceil(30);
    let hi = bits / 5;
    let exact = n >= lo.max(1) && n <= hi;
    let n = n.clamp(lo.max(1), hi.max(1));
    // Lengths: start with all 8-bit '*', then shorten or lengthen some.
    let mut total = n * 8;
    let (mut short5, mut short6, mut short7) = (0u64, 0u64, 0u64);
    let mut long: Vec<u8> = Vec::new();
    if total > bits {
        let cut = total - bits;
        short5 = cut / 3;
        match cut % 3 {
            1 => short7 = 1,
            2 => short6 = 1,
            _ => {}
        }
    } else {
        let mut stars = n;
        while total + 7 < bits && stars > 0 {
            let want = (bits - total).min(22) as u8 + 8;
            // The longest code that still fits (lengths have gaps: 16-18, 29).
            let Some(len) = (10..=want.min(30)).rev().find(|&l| t.count[l as usize] > 0) else {
                break;
            };
            long.push(len);
            total += len as u64 - 8;
            stars -= 1;
        }
    }
    let stars = n - short5 - short6 - short7 - long.len() as u64;
    let mut w = BitWriter { out, pos: 0 };
    let code_of = |s: u16| (t.code[s as usize], HUFFMAN_LENGTHS[s as usize] as u32);
    for _ in 0..stars {
        w.put(code_of(b'*' as u16));
    }
    for &len in &long {
        // The first symbol of that length (never EOS, which sorts last).
        let s = t.syms[t.offset[len as usize] as usize];
        w.put(code_of(s));
    }
    for _ in 0..short7 {
        w.put(code_of(b'x' as u16));
    }
    for _ in 0..short6 {
        w.put(code_of(b'-' as u16));
    }
    for _ in 0..short5 {
        w.put(code_of(b'0' as u16));
    }
    w.pad();
    exact
}

struct BitWriter<'a> {
    out: &'a mut [u8],
    pos: u64,
}

impl BitWriter<'_> {
    fn put(&mut self, (code, len): (u32, u32)) {
        for k in (0..len).rev() {
            self.bit((code >> k) & 1 == 1);
        }
    }
    fn bit(&mut self, one: bool) {
        let byte = (self.pos / 8) as usize;
        if let Some(b) = self.out.get_mut(byte) {
            let mask = 0x80u8 >> (self.pos % 8);
            if one {
                *b |= mask;
            } else {
                *b &= !mask;
            }
        }
        self.pos += 1;
    }
    /// EOS-prefix padding (ones) to the end.
    fn pad(&mut self) {
        while self.pos < self.out.len() as u64 * 8 {
            self.bit(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(r: &Redactor, input: &[u8], splits: &[usize]) -> (Vec<u8>, RedactStats) {
        let mut s = r.stream();
        let mut out = input.to_vec();
        let mut start = 0;
        for &cut in splits.iter().chain(std::iter::once(&input.len())) {
            let cut = cut.clamp(start, input.len());
            s.redact(&mut out[start..cut]);
            start = cut;
        }
        (out, s.stats())
    }

    fn redact_all(input: &[u8]) -> Vec<u8> {
        run(&Redactor::new(), input, &[]).0
    }

    fn stars(n: usize) -> String {
        "*".repeat(n)
    }

    #[test]
    fn request_credentials_masked_same_length() {
        let input = b"POST /v1/messages HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Bearer sk-abc123\r\nX-Api-Key:  k-9\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
        let out = redact_all(input);
        assert_eq!(out.len(), input.len());
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains(&format!(
            "Authorization: {}\r\n",
            stars("Bearer sk-abc123".len())
        )));
        assert!(text.contains(&format!("X-Api-Key:  {}\r\n", stars(3))));
        assert!(text.contains("Host: api.example.com\r\n"));
        assert!(text.ends_with("\r\n\r\n{}"));
    }

    #[test]
    fn response_set_cookie_and_status_line() {
        let input = b"HTTP/1.1 200 OK\r\nSet-Cookie: session=abcdef; HttpOnly\r\nContent-Length: 5\r\n\r\nhello";
        let out = String::from_utf8(redact_all(input)).unwrap();
        assert!(out.contains(&format!(
            "Set-Cookie: {}\r\n",
            stars("session=abcdef; HttpOnly".len())
        )));
        assert!(out.ends_with("hello"));
    }

    #[test]
    fn configured_extra_names_case_insensitive() {
        let r = Redactor::with_headers(["X-Secret-Token", " anthropic-api-key "]);
        assert!(r.header_names().any(|n| n == "x-secret-token"));
        let input = b"GET / HTTP/1.1\r\nx-SECRET-token: abc\r\nANTHROPIC-API-KEY: def\r\nx-other: ghi\r\n\r\n";
        let out = String::from_utf8(run(&r, input, &[]).0).unwrap();
        assert!(out.contains("x-SECRET-token: ***\r\n"));
        assert!(out.contains("ANTHROPIC-API-KEY: ***\r\n"));
        assert!(out.contains("x-other: ghi\r\n"));
    }

    #[test]
    fn bodies_pass_untouched_and_keep_alive_is_followed() {
        // The first body looks like headers; the second request is real.
        let body = b"Authorization: not-a-header\r\n\r\n";
        let mut input = format!(
            "POST /a HTTP/1.1\r\nContent-Length: {}\r\nCookie: c=1\r\n\r\n",
            body.len()
        )
        .into_bytes();
        input.extend_from_slice(body);
        input.extend_from_slice(b"GET /b HTTP/1.1\r\nCookie: c=2\r\n\r\n");
        let out = String::from_utf8(redact_all(&input)).unwrap();
        assert!(out.contains("Authorization: not-a-header"));
        assert_eq!(out.matches("Cookie: ***\r\n").count(), 2);
    }

    #[test]
    fn chunked_bodies_and_trailers() {
        let input = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5;ext=1\r\nCooki\r\n11\r\ne: inside-body\r\nxx\r\n0\r\nSet-Cookie: trailer\r\n\r\nHTTP/1.1 204 No Content\r\nSet-Cookie: next\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\nset-cookie: z\r\n\r\n";
        let out = String::from_utf8(redact_all(input)).unwrap();
        assert!(out.contains("e: inside-body"));
        assert!(out.contains("Set-Cookie: *******\r\n"));
        assert!(out.contains("Set-Cookie: ****\r\n"));
        assert!(out.contains("set-cookie: *\r\n"));
    }

    #[test]
    fn folded_header_continuation_masked() {
        let input =
            b"GET / HTTP/1.1\r\nAuthorization: Basic\r\n  dXNlcjpwYXNz\r\nAccept: */*\r\n\r\n";
        let out = String::from_utf8(redact_all(input)).unwrap();
        assert!(out.contains("Authorization: *****\r\n  ************\r\nAccept: */*"));
    }

    #[test]
    fn interim_responses_then_final() {
        let input = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nSet-Cookie: a=b\r\nContent-Length: 0\r\n\r\n";
        let out = String::from_utf8(redact_all(input)).unwrap();
        assert!(out.contains("Set-Cookie: ***\r\n"));
    }

    #[test]
    fn head_response_resyncs_at_next_read() {
        // Response to HEAD: Content-Length without a body. The next response
        // arrives in a new chunk and must still be recognised.
        let r = Redactor::new();
        let mut s = r.stream();
        let mut a = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n".to_vec();
        s.redact(&mut a);
        let mut b = b"HTTP/1.1 200 OK\r\nSet-Cookie: secret\r\nContent-Length: 0\r\n\r\n".to_vec();
        assert!(s.redact(&mut b));
        assert!(String::from_utf8(b)
            .unwrap()
            .contains("Set-Cookie: ******\r\n"));
    }

    #[test]
    fn gap_then_header_line_is_still_masked() {
        let r = Redactor::new();
        let mut s = r.stream();
        let mut a = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
        s.redact(&mut a);
        s.gap();
        let mut b =
            b"Authorization: Bearer zzz\r\nAccept: */*\r\n\r\nGET /2 HTTP/1.1\r\nCookie: q\r\n\r\n"
                .to_vec();
        assert!(s.redact(&mut b));
        let t = String::from_utf8(b).unwrap();
        assert!(t.contains("Authorization: **********\r\n"), "{t}");
        assert!(t.contains("Cookie: *\r\n"), "{t}");
        // A value cut by the chunk end keeps being masked in the next chunk.
        s.gap();
        let mut c = b"x-api-key: abc".to_vec();
        let mut d = b"def\r\nother: 1\r\n".to_vec();
        s.redact(&mut c);
        s.redact(&mut d);
        assert_eq!(&c, b"x-api-key: ***");
        assert_eq!(&d, b"***\r\nother: 1\r\n");
    }

    #[test]
    fn joined_mid_stream_then_next_request() {
        let r = Redactor::new();
        let mut s = r.stream();
        let mut a = b"\x00\x01binary tail of some body".to_vec();
        s.redact(&mut a);
        let mut b = b"POST /x HTTP/1.1\r\nx-goog-api-key: AIza\r\n\r\n".to_vec();
        assert!(s.redact(&mut b));
        assert!(String::from_utf8(b)
            .unwrap()
            .contains("x-goog-api-key: ****"));
    }

    #[test]
    fn not_http_is_left_alone() {
        let mut data: Vec<u8> = (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect();
        let orig = data.clone();
        let r = Redactor::new();
        let mut s = r.stream();
        assert!(!s.redact(&mut data));
        assert_eq!(data, orig);
        let mut ws =
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello".to_vec();
        let before = ws.clone();
        let mut s = r.stream();
        assert!(!s.redact(&mut ws));
        assert_eq!(ws, before);
        // After the switch the stream is opaque: frames are not parsed as headers.
        let mut frames = b"\x81\x7ehello\r\nAccept: x\r\n".to_vec();
        let copy = frames.clone();
        assert!(!s.redact(&mut frames));
        assert_eq!(frames, copy);
    }

    fn fixtures() -> Vec<Vec<u8>> {
        vec![
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nAuthorization: Bearer sk-proj-0123456789abcdef\r\nContent-Type: application/json\r\nContent-Length: 27\r\n\r\n{\"model\":\"x\",\"cookie\":\"y\"}\nGET /v1/models HTTP/1.1\r\nX-Api-Key: sk-ant-api03-zzzz\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\n\r\n".to_vec(),
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\nSet-Cookie: __cf_bm=abc.def; path=/\r\n\r\n1a\r\ndata: {\"delta\":\"Hello\"}\n\n\r\n0\r\n\r\nHTTP/1.1 401 Unauthorized\r\nset-cookie: x=1\r\nContent-Length: 3\r\n\r\nnopHTTP/1.0 200 OK\r\nCookie: a\r\n\r\nbody until close, no framing".to_vec(),
            b"\r\nGET / HTTP/1.1\r\nAuthorization:\r\nApi-Key:\tv\r\n folded\r\nX:y\r\n\r\n".to_vec(),
        ]
    }

    #[test]
    fn every_split_gives_the_same_output() {
        let r = Redactor::new();
        for f in fixtures() {
            let (whole, stats) = run(&r, &f, &[]);
            assert!(stats.masked_values > 0);
            for cut in 0..=f.len() {
                assert_eq!(run(&r, &f, &[cut]).0, whole, "split at {cut}");
            }
            for a in (0..f.len()).step_by(3) {
                for b in (a..f.len()).step_by(5) {
                    assert_eq!(run(&r, &f, &[a, b]).0, whole, "split at {a},{b}");
                }
            }
            // One byte at a time.
            let cuts: Vec<usize> = (0..f.len()).collect();
            assert_eq!(run(&r, &f, &cuts).0, whole);
        }
    }

    #[test]
    fn secrets_never_survive_any_split() {
        let secrets: [&[u8]; 6] = [
            b"sk-proj-0123456789abcdef",
            b"sk-ant-api03-zzzz",
            b"Zm9vOmJhcg",
            b"__cf_bm=abc",
            b"x=1",
            b"folded",
        ];
        let r = Redactor::new();
        for f in fixtures() {
            for cut in 0..=f.len() {
                let out = run(&r, &f, &[cut]).0;
                for s in secrets {
                    assert!(
                        !out.windows(s.len()).any(|w| w == s),
                        "{} leaked at split {cut}",
                        String::from_utf8_lossy(s)
                    );
                }
            }
        }
    }

    use agentsight_testkit::Rng;

    #[test]
    fn random_input_never_panics() {
        let r = Redactor::new();
        let mut rng = Rng(0x9e3779b97f4a7c15);
        let alphabet: &[u8] = b"HTTP/1.1 200 GET POST\r\n:authorization cookie 0123456789abcdefx-api-key\x00\x04\x01\x82\x88\xff PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
        for round in 0..3000 {
            let len = (rng.next() % 600) as usize;
            let mut data: Vec<u8> = (0..len)
                .map(|_| {
                    if round % 2 == 0 {
                        rng.next() as u8
                    } else {
                        alphabet[(rng.next() % alphabet.len() as u64) as usize]
                    }
                })
                .collect();
            if round % 5 == 0 {
                data.splice(0..0, H2_PREFACE.iter().copied());
            }
            let mut s = r.stream();
            let mut start = 0;
            while start < data.len() {
                let end = (start + 1 + (rng.next() % 64) as usize).min(data.len());
                s.redact(&mut data[start..end]);
                if rng.next().is_multiple_of(50) {
                    s.gap();
                }
                start = end;
            }
            assert_eq!(data.len(), len + if round % 5 == 0 { 24 } else { 0 });
        }
    }

    #[test]
    fn content_length_parsing() {
        assert_eq!(parse_content_length(b" 42 "), Some(42));
        assert_eq!(parse_content_length(b"7, 7"), Some(7));
        assert_eq!(parse_content_length(b"7, 8"), None);
        assert_eq!(parse_content_length(b"-1"), None);
        assert_eq!(parse_content_length(b"99999999999999999999999"), None);
        // As the decoder's `u64::from_str` reads them.
        assert_eq!(parse_content_length(b"+5"), Some(5));
        assert_eq!(parse_content_length(b"000000000000000000000005"), Some(5));
        assert_eq!(
            parse_content_length(b"18446744073709551615"),
            Some(u64::MAX)
        );
        assert_eq!(parse_content_length(b"18446744073709551616"), None);
        assert_eq!(parse_content_length(b"5,"), None);
        assert_eq!(parse_content_length(b""), None);
        assert_eq!(parse_content_length(b"++5"), None);
        assert_eq!(parse_content_length(b"5 5"), None);
        // The decoder also trims U+00A0; we call it invalid and scan.
        assert_eq!(parse_content_length("5\u{a0}".as_bytes()), None);
    }

    /// A POST whose framing headers are `framing`, then a request carrying
    /// a secret whose length is `{L}` in `framing`. True when the secret got
    /// masked, that is, when the second request was not taken as the body.
    fn second_request_masked(framing: &str) -> bool {
        let second = "GET /b HTTP/1.1\r\nAuthorization: SECRET-2\r\n\r\n";
        let head = framing.replace("{L}", &second.len().to_string());
        let input = format!("POST /a HTTP/1.1\r\nHost: x\r\n{head}\r\n\r\n{second}");
        let out = String::from_utf8(redact_all(input.as_bytes())).unwrap();
        assert_eq!(out.len(), input.len());
        !out.contains("SECRET-2")
    }

    #[test]
    fn content_length_read_as_the_decoder_does() {
        // The decoder takes the second request as a body: so do we.
        for body in [
            "Content-Length: {L}",
            "Content-Length: +{L}",
            "Content-Length:   {L}   ",
            "Content-Length: {L}, {L}",
            "Content-Length: {L}\r\ncontent-length: {L}",
            "Content-Length: 0000000000000000000000{L}",
        ] {
            assert!(!second_request_masked(body), "{body}");
        }
        // The decoder reads no body (or fails): the second request is a
        // request, or we cannot tell, and its secret is masked.
        for framing in [
            "Content-Length: {L}\r\nContent-Length: 1{L}",
            "Content-Length: {L}, 1",
            "Content-Length: 99999999999999999999",
            "Content-Length: -{L}",
            // httparse drops these lines: the decoder sees no length.
            "Content-Length : {L}",
            "Content-Length: \x0c{L}",
            "Content-Length: {L}\x7f",
            // Past the bytes we keep: not a length we can vouch for.
            "Content-Length: {L}                                                                 x",
            // Transfer-Encoding wins over Content-Length (RFC 9112 6.3), and
            // without a final `chunked` a request has no knowable length.
            "Transfer-Encoding: gzip\r\nContent-Length: {L}",
            "Transfer-Encoding: chunked, gzip\r\nContent-Length: {L}",
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\nContent-Length: {L}",
            "Transfer-Encoding: xchunked\r\nContent-Length: {L}",
            // A fold continues the value for httparse (responses) or is dropped.
            "Content-Length: {L}\r\n 7",
            // A head httparse rejects outright.
            "X-Y: a\rb\r\nContent-Length: {L}",
            "X-Y: a\x00b\r\nContent-Length: {L}",
        ] {
            assert!(second_request_masked(framing), "{framing:?}");
        }
    }

    #[test]
    fn transfer_encoding_last_coding_decides() {
        // TE chunked with a Content-Length: chunked; the fake request inside
        // the chunk stays, the real one after the body is masked.
        let input = b"POST /a HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: gzip\r\ntransfer-encoding: CHUNKED \r\n\r\n1b\r\nGET / HTTP/1.1\r\nCookie: in\r\n\r\n0\r\n\r\nGET /b HTTP/1.1\r\nCookie: out\r\n\r\n";
        let out = String::from_utf8(redact_all(input)).unwrap();
        assert!(out.contains("Cookie: in\r\n"), "{out}");
        assert!(out.contains("Cookie: ***\r\n"), "{out}");
        // A response whose last coding is not chunked runs until close.
        let input = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, br\r\nContent-Length: 2\r\n\r\nokSet-Cookie: x\r\n";
        let (out, st) = run(&Redactor::new(), input, &[]);
        assert!(String::from_utf8(out)
            .unwrap()
            .ends_with("okSet-Cookie: x\r\n"));
        assert_eq!(st.resyncs, 0);
    }

    #[test]
    fn chunk_size_lines_read_as_the_decoder_does() {
        let secret_after = |chunks: &str| {
            let input = format!(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{chunks}HTTP/1.1 200 OK\r\nSet-Cookie: SECRET\r\nContent-Length: 0\r\n\r\n"
            );
            let (out, st) = run(&Redactor::new(), input.as_bytes(), &[]);
            let out = String::from_utf8(out).unwrap();
            assert!(!out.contains("SECRET"));
            (out, st.resyncs)
        };
        // Accepted by the decoder: blanks around the digits, extensions.
        for ok in [
            "5\r\nhello\r\n0\r\n\r\n",
            " 5 \t\r\nhello\r\n0;x=\"a b\"\r\n\r\n",
        ] {
            let (out, resyncs) = secret_after(ok);
            assert_eq!(resyncs, 0, "{ok:?}");
            assert!(out.contains("hello"));
        }
        // Rejected by the decoder (it resynchronises): so do we.
        for bad in [
            "5 5\r\nhello\r\n0\r\n\r\n",
            "5\r5\nhello\r\n0\r\n\r\n",
            "\r\n5\r\nhello\r\n0\r\n\r\n",
            "5\r\nhello\r\n\r\n0\r\n\r\n",
            "00000000000000005\r\nhello\r\n0\r\n\r\n",
            ";x\r\nhello\r\n0\r\n\r\n",
        ] {
            assert!(secret_after(bad).1 > 0, "{bad:?}");
        }
        let long = format!("5;{}\r\nhello\r\n0\r\n\r\n", "e".repeat(MAX_LINE));
        assert!(secret_after(&long).1 > 0);
    }

    #[test]
    fn start_lines_httparse_rejects_are_not_followed() {
        // HTTP/1.2 and a control byte in a reason phrase fail in httparse, so
        // the decoder resynchronises inside this "body": we scan it.
        for first in [
            "GET /a HTTP/1.2\r\nContent-Length: 40\r\n\r\n",
            "HTTP/1.1 200 O\x01K\r\nContent-Length: 40\r\n\r\n",
            "HTTP/1.1 200 OK\rX\nContent-Length: 40\r\n\r\n",
        ] {
            let input = format!("{first}Cookie: SECRET\r\n");
            let out = String::from_utf8(redact_all(input.as_bytes())).unwrap();
            assert!(!out.contains("SECRET"), "{first:?}");
        }
        assert!(complete_start_line(b"HTTP/1.0 200\r\n"));
        assert!(complete_start_line(
            b"HTTP/1.1 404 Not\tFound \xe2\x9c\x93\r\n"
        ));
        assert!(!complete_start_line(b"HTTP/1.1 200\r\r\n"));
    }

    #[test]
    fn resync_on_an_unusual_method_does_not_trust_its_framing() {
        // Differential find: after a head httparse rejects, the decoder
        // resynchronises only on the usual methods; `UT` (a damaged PUT)
        // is none, so the request after it is shown, not taken as a body.
        let input = b"PContent-Length: 5\r\nUT /a HTTP/1.1\r\nContent-Length: 42\r\n\r\nGET /b HTTP/1.1\r\nX-Api-Key: SECRET\r\n\r\n";
        let out = redact_all(input);
        assert!(!find(&out, b"SECRET"), "{}", String::from_utf8_lossy(&out));
        // Nor after a bare CR, which is no line start to the decoder.
        let input = b"PContent-Length: 5\r\n\rGET /a HTTP/1.1\r\nContent-Length: 42\r\n\r\nGET /b HTTP/1.1\r\nX-Api-Key: SECRET\r\n\r\n";
        let out = redact_all(input);
        assert!(!find(&out, b"SECRET"), "{}", String::from_utf8_lossy(&out));
        // Nor a response in a stream of requests.
        let input = b"GET /a HTTP/1.1\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\nGET /b HTTP/1.1\r\nX-Api-Key: SECRET\r\n\r\n";
        let out = redact_all(input);
        assert!(!find(&out, b"SECRET"), "{}", String::from_utf8_lossy(&out));
        // In sync, any token method is fine (httparse takes it).
        let input = b"MKCOL /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nabcdeGET /b HTTP/1.1\r\nCookie: c\r\n\r\n";
        let (out, st) = run(&Redactor::new(), input, &[]);
        assert!(find(&out, b"Cookie: *\r\n"));
        assert_eq!(st.resyncs, 0);
    }

    #[test]
    fn trailer_names_are_trimmed_like_the_decoder_does() {
        // Differential find: the decoder reads ` Authorization: x` in
        // trailers as a field, not as a fold of the line before.
        let input = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\r\n Authorization: SECRET\r\n\tCookie\x0c : SECRET\r\n\r\n";
        let out = redact_all(input);
        assert!(!find(&out, b"SECRET"), "{}", String::from_utf8_lossy(&out));
        assert!(find(&out, b"X: y\r\n"));
    }

    #[test]
    fn opaque_scan_finds_names_cut_by_chunks() {
        // Differential find: after lost sync, a sensitive name split over
        // two (or more) chunks went unmasked.
        let input = b"junk\r\nX-Custom-Token:  SECRET-ONE\r\nCook";
        let rest = b"ie: SECRET-TWO\r\nset-cookie\t:SECRET-3\r\n";
        let r = Redactor::with_headers(["x-custom-token"]);
        let stream = [&input[..], rest].concat();
        for a in 1..stream.len() {
            for b in [a + 1, a + 3, a + 7] {
                let mut s = r.stream();
                s.gap();
                let mut out = stream.clone();
                let b = b.min(out.len());
                let (x, y) = out.split_at_mut(a);
                let (y, z) = y.split_at_mut(b - a);
                s.redact(x);
                s.redact(y);
                s.redact(z);
                assert!(
                    !find(&out, b"SECRET"),
                    "cuts {a} {b}: {}",
                    String::from_utf8_lossy(&out)
                );
            }
        }
    }

    fn find(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn opaque_scan_masks_folded_continuations() {
        let r = Redactor::new();
        let mut s = r.stream();
        s.gap();
        let mut a = b"junk\r\nSet-Cookie: a=1;\r\n b=SECRET\r\n\tc=SECRET\r\n".to_vec();
        s.redact(&mut a);
        // And across a chunk boundary.
        let mut b = b" d=SECRET\r\nX: y\r\n e=open\r\n".to_vec();
        s.redact(&mut b);
        let t = String::from_utf8([a, b].concat()).unwrap();
        assert!(!t.contains("SECRET"), "{t}");
        assert!(t.contains(" e=open"), "{t}");
        // A bare CR does not end a value (the decoder's reading of a head
        // cut short splits lines at LF only).
        let mut s = r.stream();
        s.gap();
        let mut out = b"junk\r\nCookie: a\rSECRET\r\n".to_vec();
        s.redact(&mut out);
        assert_eq!(&out[..], b"junk\r\nCookie: *\r******\r\n");
        // One byte per chunk, after a line that could have been a name.
        let input = b"x\r\nauthorization:Basic SECRET\r\n SECRET\r\n";
        let mut s = r.stream();
        s.gap();
        let mut out = input.to_vec();
        for k in 0..out.len() {
            s.redact(&mut out[k..k + 1]);
        }
        assert!(!find(&out, b"SECRET"), "{}", String::from_utf8_lossy(&out));
        // A chunk boundary between the CR and the LF ending the value.
        let input = b"junk\r\nCookie: SECRET\r\n SECRET\r\n";
        for cut in 0..input.len() {
            let mut s = r.stream();
            s.gap();
            let mut out = input.to_vec();
            let (a, b) = out.split_at_mut(cut);
            s.redact(a);
            s.redact(b);
            assert!(
                !find(&out, b"SECRET"),
                "cut {cut}: {}",
                String::from_utf8_lossy(&out)
            );
        }
    }

    #[test]
    fn opaque_value_cut_after_the_colon_keeps_its_blanks() {
        // Fuzz find: in opaque scanning, a chunk ending right after
        // `Set-Cookie:` had the next chunk's leading blank masked too.
        let input = b"GET / HTTP/1.1\r\n\r\n{junk\r\nSet-Cookie: \t v=1\r\nCookie:\r\n";
        let whole = redact_all(input);
        assert!(whole.ends_with(b"Set-Cookie: \t ***\r\nCookie:\r\n"));
        for cut in 0..=input.len() {
            let (out, st) = run(&Redactor::new(), input, &[cut]);
            if st.split_dependent == 0 {
                assert_eq!(out, whole, "cut {cut}");
            }
        }
        let at = input.windows(11).position(|w| w == b"Set-Cookie:").unwrap() + 11;
        let (out, st) = run(&Redactor::new(), input, &[at]);
        assert_eq!((out, st.split_dependent), (whole, 0));
    }

    #[test]
    fn nul_in_a_masked_value_does_not_distrust_the_head() {
        // Fuzz find: the decoder reads the masked capture, where this NUL is
        // a '*', so it parses the head and then the next request; the NUL
        // made us scan instead, without probing the next line for a start
        // line, and the next request's Authorization stayed.
        let input = b"GET /a HTTP/1.1\r\nProxy-Authorization: B\x00x\r\n\r\nGET /b HTTP/1.1\n\rAuthorization: SECRET\r\n\r\n";
        let out = redact_all(input);
        assert!(!out.windows(6).any(|w| w == b"SECRET"));
        assert_eq!(redact_all(&out), out);
        // Also when a chunk starts at the NUL.
        let at = input.iter().position(|&b| b == 0).unwrap();
        assert_eq!(run(&Redactor::new(), input, &[at]).0, out);
        assert_eq!(run(&Redactor::new(), input, &[at - 1]).0, out);
        // A NUL outside a masked value still distrusts the framing, and the
        // line after the head is still read as a possible start line.
        let input = b"POST /a HTTP/1.1\r\nX: \x00\r\nContent-Length: 40\r\n\r\nGET /b HTTP/1.1\r\nAuthorization: SECRET\r\n\r\n";
        let (out, st) = run(&Redactor::new(), input, &[]);
        assert!(!out.windows(6).any(|w| w == b"SECRET"));
        assert_eq!(st.resyncs, 1);
    }

    #[test]
    fn split_dependent_counts_chunk_heuristics() {
        let r = Redactor::new();
        // Whole, a HEAD-like response then another: nothing depends on cuts.
        let first = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n".to_vec();
        let second = b"HTTP/1.1 200 OK\r\nSet-Cookie: s\r\nContent-Length: 0\r\n\r\n".to_vec();
        let both = [first.clone(), second].concat();
        assert_eq!(run(&r, &both, &[]).1.split_dependent, 0);
        // Cut where the second starts: the resync at the new read is counted.
        let (out, st) = run(&r, &both, &[first.len()]);
        assert_eq!(st.split_dependent, 1);
        assert_ne!(out, run(&r, &both, &[]).0);
        // A start line rejected after crossing a boundary is judged with
        // the part before the boundary: nothing depends on the cut.
        let input = b"GET /a HTTP/1.1\r\n\r\nCOOKIE : x\r\n";
        let whole = run(&r, input, &[]).0;
        assert!(whole.ends_with(b"COOKIE : *\r\n"));
        // (Up to the 'x' that rejects it; a later chunk starts in opaque.)
        for cut in 19..=28 {
            let (out, st) = run(&r, input, &[cut]);
            assert_eq!((out, st.split_dependent), (whole.clone(), 0), "cut {cut}");
        }
        // Plain keep-alive traffic cut anywhere: never.
        let f = &fixtures()[0];
        for cut in 0..=f.len() {
            assert_eq!(run(&r, f, &[cut]).1.split_dependent, 0, "cut {cut}");
        }
    }

    // -------------------------------------------------------------- HTTP/2

    fn huff_encode(s: &[u8]) -> Vec<u8> {
        let t = huff_table();
        let mut out = vec![
            0u8;
            s.iter()
                .map(|&c| HUFFMAN_LENGTHS[c as usize] as usize)
                .sum::<usize>()
                .div_ceil(8)
        ];
        let mut w = BitWriter {
            out: &mut out,
            pos: 0,
        };
        for &c in s {
            w.put((t.code[c as usize], HUFFMAN_LENGTHS[c as usize] as u32));
        }
        w.pad();
        out
    }

    fn huff_decode(b: &[u8]) -> Option<Vec<u8>> {
        let mut d = HuffDecoder::default();
        let mut v = Vec::new();
        for &x in b {
            d.push(x, Some((&mut v, usize::MAX)));
        }
        d.finish().then_some(v)
    }

    #[test]
    fn huffman_matches_rfc7541_examples() {
        // RFC 7541 C.4.1-C.4.3
        let cases: [(&[u8], &str); 4] = [
            (b"www.example.com", "f1e3c2e5f23a6ba0ab90f4ff"),
            (b"no-cache", "a8eb10649cbf"),
            (b"custom-key", "25a849e95ba97d7f"),
            (b"custom-value", "25a849e95bb8e8b4bf"),
        ];
        for (plain, hex) in cases {
            let enc = huff_encode(plain);
            let got: String = enc.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(got, hex);
            assert_eq!(huff_decode(&enc).unwrap(), plain);
        }
    }

    #[test]
    fn huffman_fill_keeps_octets_and_symbol_count() {
        for l in 1..40usize {
            for n in 0..70u64 {
                let mut out = vec![0u8; l];
                let exact = huffman_fill(n, &mut out);
                let feasible = n >= 1 && n * 5 <= l as u64 * 8 && n * 30 + 7 >= l as u64 * 8;
                assert_eq!(exact, feasible, "l={l} n={n}");
                let dec = huff_decode(&out).expect("valid huffman");
                if exact {
                    assert_eq!(dec.len() as u64, n);
                }
            }
        }
    }

    fn hpack_int(out: &mut Vec<u8>, first: u8, prefix: u32, v: u64) {
        let max = (1u64 << prefix) - 1;
        if v < max {
            out.push(first | v as u8);
            return;
        }
        out.push(first | max as u8);
        let mut v = v - max;
        while v >= 128 {
            out.push((v % 128) as u8 | 0x80);
            v /= 128;
        }
        out.push(v as u8);
    }

    fn hpack_str(out: &mut Vec<u8>, s: &[u8], huffman: bool) {
        if huffman {
            let e = huff_encode(s);
            hpack_int(out, 0x80, 7, e.len() as u64);
            out.extend(e);
        } else {
            hpack_int(out, 0, 7, s.len() as u64);
            out.extend_from_slice(s);
        }
    }

    fn frame(typ: u8, flags: u8, sid: u32, payload: &[u8]) -> Vec<u8> {
        let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        f.push(typ);
        f.push(flags);
        f.extend(sid.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    /// A client stream: preface, SETTINGS, two requests whose header blocks
    /// use every representation, one split over CONTINUATION, one padded.
    fn h2_client() -> Vec<u8> {
        let mut out = H2_PREFACE.to_vec();
        out.extend(frame(4, 0, 0, &[0, 1, 0, 0, 0x10, 0]));
        let mut hb = Vec::new();
        hb.push(0x82); // :method GET
        hb.push(0x87); // :scheme https
        hpack_int(&mut hb, 0x40, 6, 1); // :authority, incremental
        hpack_str(&mut hb, b"api.anthropic.com", true);
        hb.push(0x40); // literal name, incremental
        hpack_str(&mut hb, b"x-api-key", true);
        hpack_str(&mut hb, b"sk-ant-SECRETHUFF-0123456789", true);
        hpack_int(&mut hb, 0x10, 4, 23); // authorization, never indexed
        hpack_str(&mut hb, b"Bearer RAWSECRET", false);
        hpack_int(&mut hb, 0x00, 4, 32); // cookie, not indexed, Huffman
        hpack_str(&mut hb, b"sid=COOKIESECRET", true);
        hb.push(0x00); // literal name, not indexed, raw name
        hpack_str(&mut hb, b"user-agent-x", false);
        hpack_str(&mut hb, b"curl/8", false);
        let (a, b) = hb.split_at(hb.len() / 2);
        out.extend(frame(
            1,
            0x01 | 0x20,
            1,
            &[&[0, 0, 0, 0, 16][..], a].concat(),
        )); // END_STREAM|PRIORITY
        out.extend(frame(0, 0, 1, b"DATA x-api-key: not header"));
        out.extend(frame(9, 0x04, 1, b)); // CONTINUATION END_HEADERS
                                          // Second request reuses the dynamic table: x-api-key by index (62 = newest).
        let mut hb2 = vec![0x82];
        hpack_int(&mut hb2, 0x40, 6, 62); // name = dynamic 62: x-api-key, the newest entry
        hpack_str(&mut hb2, b"sk-ant-SECONDSECRET", false);
        let mut padded = vec![3u8];
        padded.extend(&hb2);
        padded.extend([0, 0, 0]);
        out.extend(frame(1, 0x04 | 0x08, 3, &padded));
        out
    }

    #[test]
    fn http2_literals_masked_and_hpack_stays_decodable() {
        let r = Redactor::new();
        let input = h2_client();
        let (out, st) = run(&r, &input, &[]);
        assert_eq!(out.len(), input.len());
        for secret in [&b"RAWSECRET"[..], b"SECONDSECRET"] {
            assert!(!out.windows(secret.len()).any(|w| w == secret));
        }
        // Huffman secrets: decode every Huffman string in the output would be
        // needed to prove absence; instead the encoded secret must be gone.
        for secret in [&b"sk-ant-SECRETHUFF-0123456789"[..], b"sid=COOKIESECRET"] {
            let enc = huff_encode(secret);
            assert!(!out.windows(enc.len()).any(|w| w == &enc[..]));
        }
        assert_eq!(st.h2_desync, 0);
        assert_eq!(st.h2_inexact, 0);
        assert_eq!(st.masked_values, 4, "{st:?}");
        // The DATA frame payload is not a header block.
        assert!(out.windows(11).any(|w| w == b"x-api-key: "));
        // The masked stream parses the same way: same values found, same table.
        let mut again = r.stream();
        let mut copy = out.clone();
        again.redact(&mut copy);
        assert_eq!(again.stats().h2_desync, 0);
        assert_eq!(again.stats().masked_values, 4);
        assert_eq!(copy, out, "redaction is idempotent");
    }

    #[test]
    fn http2_every_split_masks_and_keeps_sync() {
        let r = Redactor::new();
        let input = h2_client();
        let (whole, _) = run(&r, &input, &[]);
        let mut differing = 0;
        for cut in 0..=input.len() {
            let (out, st) = run(&r, &input, &[cut]);
            assert_eq!(st.h2_desync, 0, "cut {cut}");
            assert_eq!(st.masked_values, 4, "cut {cut}");
            assert!(!out.windows(9).any(|w| w == b"RAWSECRET"));
            // Only a split inside a Huffman secret may change the filler.
            if out != whole {
                differing += 1;
                let mut again = r.stream();
                let mut copy = out.clone();
                again.redact(&mut copy);
                assert_eq!(again.stats().h2_desync, 0, "cut {cut}");
            }
        }
        assert!(differing < 60, "{differing}");
    }

    #[test]
    fn http2_server_stream_detected_by_settings() {
        let mut input = frame(4, 0, 0, &[0, 3, 0, 0, 0, 100]);
        let mut hb = vec![0x88]; // :status 200
        hpack_int(&mut hb, 0x40, 6, 55); // set-cookie, incremental, Huffman
        hpack_str(&mut hb, b"token=SERVERSECRET; Secure", true);
        input.extend(frame(1, 0x04, 1, &hb));
        let (out, st) = run(&Redactor::new(), &input, &[]);
        assert_eq!(st.masked_values, 1);
        let enc = huff_encode(b"token=SERVERSECRET; Secure");
        assert!(!out.windows(enc.len()).any(|w| w == &enc[..]));
    }

    #[test]
    fn http2_short_priority_fields_keep_frames_followed() {
        // HEADERS with PRIORITY but only 3 payload bytes: the decoder reads
        // an empty block and goes on, so must we (a later literal is masked).
        let mut input = H2_PREFACE.to_vec();
        input.extend(frame(1, 0x04 | 0x20, 1, &[0, 0, 0]));
        // PUSH_PROMISE too short for its stream id, padded.
        input.extend(frame(5, 0x04 | 0x08, 1, &[0, 0, 0]));
        let mut hb = Vec::new();
        hpack_int(&mut hb, 0x00, 4, 23); // authorization, not indexed
        hpack_str(&mut hb, b"Bearer SHORTFIELDS", false);
        input.extend(frame(1, 0x04, 3, &hb));
        let (out, st) = run(&Redactor::new(), &input, &[]);
        assert!(!out.windows(11).any(|w| w == b"SHORTFIELDS"));
        assert_eq!(st.h2_desync, 0);
        assert_eq!(st.masked_values, 1);
    }

    #[test]
    fn http2_impossible_padding_masks_later_blocks() {
        let mut input = H2_PREFACE.to_vec();
        input.extend(frame(1, 0x04 | 0x08, 1, &[9, 0x82])); // pad 9 > 1
        input.extend(frame(0, 0, 1, b"data stays"));
        let mut hb = Vec::new();
        hpack_int(&mut hb, 0x00, 4, 23);
        hpack_str(&mut hb, b"Bearer AFTERBADPAD", false);
        input.extend(frame(1, 0x04, 3, &hb));
        let (out, st) = run(&Redactor::new(), &input, &[]);
        assert_eq!(st.h2_desync, 1);
        assert!(out.windows(10).any(|w| w == b"data stays"));
        assert!(out.ends_with(&[b'*'; 20]));
    }

    #[test]
    fn http2_huffman_cut_by_a_chunk_is_split_dependent() {
        let input = h2_client();
        let whole = run(&Redactor::new(), &input, &[]);
        assert_eq!(whole.1.split_dependent, 0);
        let mut counted = 0;
        for cut in 0..=input.len() {
            let (out, st) = run(&Redactor::new(), &input, &[cut]);
            if st.split_dependent == 0 {
                assert_eq!(out, whole.0, "cut {cut}");
            } else {
                counted += 1;
            }
        }
        // Inside the two sensitive Huffman values only.
        let sizes = [
            b"sk-ant-SECRETHUFF-0123456789".len(),
            b"sid=COOKIESECRET".len(),
        ];
        assert!(
            counted > 0 && counted < sizes.iter().sum::<usize>(),
            "{counted}"
        );
    }

    #[test]
    fn http2_bad_index_masks_rest_of_block() {
        let mut input = H2_PREFACE.to_vec();
        let hb = [0xbf, 0x20, b'x', b'y']; // indexed 63: no such entry
        input.extend(frame(1, 0x04, 1, &hb));
        let (out, st) = run(&Redactor::new(), &input, &[]);
        assert_eq!(st.h2_desync, 1);
        assert!(out.ends_with(b"***"));
    }
}
