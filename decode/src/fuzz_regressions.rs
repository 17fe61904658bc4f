//! Regression inputs for the split invariants checked by the fuzz targets in
//! `fuzz/` (one push of a stream equals any split of it into pushes).

#[cfg(test)]
mod tests {
    use crate::http1::{Direction, Http1Parser, Message};
    use crate::sse::{parse_all, SseParser};

    /// Limits private to the decoders (`http1::MAX_LINE`, `http1::MAX_HEAD`,
    /// `sse::MAX_LINE`).
    const HTTP_MAX_LINE: usize = 8 * 1024;
    const HTTP_MAX_HEAD: usize = 1 << 20;
    const SSE_MAX_LINE: usize = 64 << 20;

    fn feed(dir: Direction, chunks: &mut dyn Iterator<Item = &[u8]>) -> (Vec<Message>, u64) {
        let mut p = Http1Parser::new(dir);
        for c in chunks {
            p.push(c);
        }
        p.finish();
        (p.take_messages(), p.skipped_bytes)
    }

    fn assert_split_invariant(dir: Direction, s: &[u8], piece: usize) {
        let whole = feed(dir, &mut std::iter::once(s));
        let split = feed(dir, &mut s.chunks(piece));
        assert_eq!(whole, split, "one push vs pieces of {piece}");
    }

    /// A chunk-size line (here through a long extension) over the line limit
    /// was accepted when its end arrived in the same push and rejected when it
    /// arrived later. Fails the `http1` fuzz target's one-push-vs-byte-by-byte
    /// assertion (`fuzz/seeds/http1/long-chunk-size-line`; longer than
    /// libFuzzer's default `-max_len`, hence found reading the code for it).
    #[test]
    fn long_chunk_size_line_is_rejected_however_split() {
        let mut s = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;".to_vec();
        s.extend(std::iter::repeat_n(b'x', HTTP_MAX_LINE + 800));
        s.extend_from_slice(b"\r\na\r\n0\r\n\r\n");
        assert_split_invariant(Direction::Response, &s, 1);
        let (m, _) = feed(Direction::Response, &mut std::iter::once(&s[..]));
        assert!(m[0].framing_error && m[0].truncated && m[0].body.is_empty());

        // At the limit it is still a chunk-size line.
        let mut s = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;".to_vec();
        s.extend(std::iter::repeat_n(b'x', HTTP_MAX_LINE - 2));
        s.extend_from_slice(b"\na\r\n0\r\n\r\n");
        assert_split_invariant(Direction::Response, &s, 1);
        let (m, _) = feed(Direction::Response, &mut std::iter::once(&s[..]));
        assert_eq!(m[0].body, b"a");
        assert!(!m[0].framing_error && !m[0].truncated);
    }

    /// Same limit problem for heads over `MAX_HEAD` and trailer lines.
    #[test]
    fn long_head_and_trailer_lines_are_rejected_however_split() {
        let mut s = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
        s.extend(std::iter::repeat_n(b'a', HTTP_MAX_HEAD));
        s.extend_from_slice(b"\r\n\r\nGET /next HTTP/1.1\r\n\r\n");
        assert_split_invariant(Direction::Request, &s, 4096);
        let (m, skipped) = feed(Direction::Request, &mut std::iter::once(&s[..]));
        assert_eq!(m.len(), 1, "only the second request is a message");
        assert_eq!(m[0].head.path.as_deref(), Some("/next"));
        assert!(skipped > HTTP_MAX_HEAD as u64);

        let mut s = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: ".to_vec();
        s.extend(std::iter::repeat_n(b't', HTTP_MAX_HEAD));
        s.extend_from_slice(b"\r\n\r\n");
        assert_split_invariant(Direction::Response, &s, 4096);
        let (m, _) = feed(Direction::Response, &mut std::iter::once(&s[..]));
        assert!(m[0].framing_error && m[0].trailers.is_empty());
    }

    /// An SSE line over the limit is cut at the limit, not kept whole when its
    /// end arrives in the same push (memory bound and split invariance).
    #[test]
    fn long_sse_line_is_capped_however_split() {
        let mut body = b"data:".to_vec();
        body.extend(std::iter::repeat_n(b'a', SSE_MAX_LINE + 8));
        body.extend_from_slice(b"\n\ndata: next\n\n");
        let whole = parse_all(&body);
        assert_eq!(whole.len(), 2);
        assert_eq!(whole[0].data.len(), SSE_MAX_LINE - "data:".len());
        assert_eq!(whole[1].data, "next");
        let mut p = SseParser::new();
        let (a, b) = body.split_at(SSE_MAX_LINE + 4);
        p.push(a);
        p.push(b);
        p.finish();
        assert_eq!(p.take_events(), whole);
    }
}
