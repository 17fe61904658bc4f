//! Server-Sent Events parser (WHATWG HTML §9.2.6) over a decoded body
//! delivered in pieces.

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// `event:` field; `None` means the default type "message".
    pub event: Option<String>,
    /// `data:` lines joined with "\n".
    pub data: String,
    /// Last event id in effect when this event was dispatched.
    pub id: Option<String>,
    pub retry: Option<u64>,
    /// Dispatched by [`SseParser::finish`] without its terminating blank line.
    pub incomplete: bool,
}

#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    /// A CR ended the previous piece: a following LF belongs to it.
    after_cr: bool,
    started: bool,
    data: Vec<u8>,
    has_data: bool,
    event: Option<String>,
    id: Option<String>,
    retry: Option<u64>,
    /// Fields seen since the last dispatch (for partial events at EOF).
    pending_fields: bool,
    events: Vec<SseEvent>,
    pub comments: usize,
}

const MAX_LINE: usize = 64 << 20;

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, mut data: &[u8]) {
        if !self.started && !data.is_empty() {
            // Strip one UTF-8 BOM at stream start, even if split.
            let bom = b"\xEF\xBB\xBF";
            let have = self.line.len();
            let n = (bom.len() - have).min(data.len());
            if self.line[..] == bom[..have] && data[..n] == bom[have..have + n] {
                if have + n == bom.len() {
                    self.line.clear();
                    self.started = true;
                } else {
                    self.line.extend_from_slice(&data[..n]);
                }
                data = &data[n..];
                if !self.started {
                    return;
                }
            } else {
                self.started = true;
            }
        }
        while !data.is_empty() {
            if self.after_cr {
                self.after_cr = false;
                if data[0] == b'\n' {
                    data = &data[1..];
                    continue;
                }
            }
            match memchr::memchr2(b'\n', b'\r', data) {
                Some(i) => {
                    // Capped like the `None` arm, so a long line is cut at the
                    // same length however the body is split.
                    let room = MAX_LINE.saturating_sub(self.line.len()).min(i);
                    self.line.extend_from_slice(&data[..room]);
                    self.after_cr = data[i] == b'\r';
                    let line = std::mem::take(&mut self.line);
                    self.process_line(&line);
                    self.line = line;
                    self.line.clear();
                    data = &data[i + 1..];
                }
                None => {
                    let room = MAX_LINE.saturating_sub(self.line.len()).min(data.len());
                    self.line.extend_from_slice(&data[..room]);
                    data = &[];
                }
            }
        }
    }

    /// End of body: a final event without its blank line is still returned,
    /// flagged `incomplete`.
    pub fn finish(&mut self) {
        if !self.started && !self.line.is_empty() {
            // Only a partial BOM was seen.
            self.line.clear();
        }
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.process_line(&line);
        }
        if self.pending_fields && self.has_data {
            self.dispatch(true);
        }
        self.reset_event();
    }

    pub fn take_events(&mut self) -> Vec<SseEvent> {
        std::mem::take(&mut self.events)
    }

    fn reset_event(&mut self) {
        self.data.clear();
        self.has_data = false;
        self.event = None;
        self.retry = None;
        self.pending_fields = false;
    }

    fn dispatch(&mut self, incomplete: bool) {
        if self.has_data {
            self.events.push(SseEvent {
                event: self.event.take().filter(|e| !e.is_empty()),
                data: String::from_utf8_lossy(&self.data).into_owned(),
                id: self.id.clone(),
                retry: self.retry,
                incomplete,
            });
        }
        self.reset_event();
    }

    fn process_line(&mut self, line: &[u8]) {
        if line.is_empty() {
            self.dispatch(false);
            return;
        }
        if line[0] == b':' {
            self.comments += 1;
            return;
        }
        let (name, value) = match line.iter().position(|&c| c == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        self.pending_fields = true;
        match name {
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            // Ids with NUL are ignored (spec).
            b"id" if !value.contains(&0) => {
                self.id = Some(String::from_utf8_lossy(value).into_owned())
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                self.retry = std::str::from_utf8(value).ok().and_then(|s| s.parse().ok());
            }
            _ => {}
        }
    }
}

/// Parse a whole body at once.
pub fn parse_all(body: &[u8]) -> Vec<SseEvent> {
    let mut p = SseParser::new();
    p.push(body);
    p.finish();
    p.take_events()
}
