//! HTTP/1.1 framing: both directions of a connection, cut into pieces with
//! gaps, through `parse_connection`; plus two split invariants.
//!
//! Input: `[flags][request length: u16 LE][request piece ctl][response piece
//! ctl][request bytes][response bytes]`; `flags & 7` and `(flags >> 3) & 7`
//! are the numbers of 3-byte piece descriptions per direction (see
//! `agentsight_fuzz::pieces`), `flags & 0x40` leaves the connection open.
#![no_main]

use agentsight_fuzz::decode::http1::{parse_connection, Direction, Http1Parser, Message};
use agentsight_fuzz::decode::{exchange_llm_call, http1::Piece};
use agentsight_fuzz::{borrow, coalesce, pieces, Input, PIECE_CTL};
use libfuzzer_sys::fuzz_target;

/// Messages completed before `finish`, those after it, and the byte counters.
type Run = (Vec<Message>, Vec<Message>, u64, u64);

fn run(dir: Direction, methods: &[String], chunks: &mut dyn Iterator<Item = &[u8]>) -> Run {
    let mut p = Http1Parser::new(dir);
    for m in methods {
        p.expect_request_method(m);
    }
    for c in chunks {
        p.push(c);
    }
    let before = p.take_messages();
    p.finish();
    (before, p.take_messages(), p.skipped_bytes, p.opaque_bytes)
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input::new(data);
    let flags = inp.byte();
    let req_len = usize::from(inp.u16());
    let ctl_q = inp.take(usize::from(flags & 7) * PIECE_CTL);
    let ctl_s = inp.take(usize::from((flags >> 3) & 7) * PIECE_CTL);
    let closed = flags & 0x40 == 0;
    let req = inp.take(req_len);
    let resp = inp.rest;

    // Pieces and gaps as given.
    let pq = pieces(ctl_q, req);
    let ps = pieces(ctl_s, resp);
    let ex = parse_connection(&pq, &ps, closed);
    for e in &ex {
        let _ = exchange_llm_call(e);
    }

    // Invariant: only the gaps matter, not how the data between them is cut.
    let (cq, cs) = (coalesce(&pq), coalesce(&ps));
    let ex2 = parse_connection(&borrow(&cq), &borrow(&cs), closed);
    assert_eq!(ex, ex2, "pieces vs coalesced pieces");

    // Invariant: one push equals one byte per push, for each direction.
    let whole_q = run(Direction::Request, &[], &mut std::iter::once(req));
    let bytes_q = run(Direction::Request, &[], &mut req.chunks(1));
    assert_eq!(whole_q, bytes_q, "request: one push vs byte by byte");

    let methods: Vec<String> = whole_q
        .0
        .iter()
        .chain(&whole_q.1)
        .map(|m| m.head.method.clone().unwrap_or_default())
        .collect();
    let whole_s = run(Direction::Response, &methods, &mut std::iter::once(resp));
    let bytes_s = run(Direction::Response, &methods, &mut resp.chunks(1));
    assert_eq!(whole_s, bytes_s, "response: one push vs byte by byte");

    // Same for the whole connection without gaps.
    let one = parse_connection(&[Piece::Data(req)], &[Piece::Data(resp)], closed);
    let ones_q: Vec<Piece<'_>> = req.chunks(1).map(Piece::Data).collect();
    let ones_s: Vec<Piece<'_>> = resp.chunks(1).map(Piece::Data).collect();
    assert_eq!(
        one,
        parse_connection(&ones_q, &ones_s, closed),
        "connection byte by byte"
    );
});
