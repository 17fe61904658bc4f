//! Server-Sent Events: any split of a body yields the events (and comment
//! count) of one push.
//!
//! Input: `[n][n cut points: u16 LE each][body]`, `n = first byte % 32`.
#![no_main]

use agentsight_fuzz::decode::sse::{SseEvent, SseParser};
use agentsight_fuzz::{cuts, split_at_cuts, Input};
use libfuzzer_sys::fuzz_target;

fn parse<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> (Vec<SseEvent>, usize) {
    let mut p = SseParser::new();
    for c in chunks {
        p.push(c);
    }
    p.finish();
    (p.take_events(), p.comments)
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input::new(data);
    let n = usize::from(inp.byte() % 32);
    let ctl = inp.take(2 * n);
    let body = inp.rest;

    let whole = parse([body]);
    let cut = cuts(ctl, body.len());
    assert_eq!(whole, parse(split_at_cuts(body, &cut)), "cuts {cut:?}");
    assert_eq!(whole, parse(body.chunks(1)), "byte by byte");
    // Empty pushes are no-ops.
    let with_empty = split_at_cuts(body, &cut)
        .into_iter()
        .flat_map(|c| [&b""[..], c]);
    assert_eq!(whole, parse(with_empty), "with empty pushes");
});
