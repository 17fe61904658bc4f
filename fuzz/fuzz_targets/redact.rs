//! Record-time redaction: `agentsight-redact`'s `StreamRedactor` on one
//! direction of a connection, whole, cut at chosen points, one byte per
//! chunk, and cut with gaps.
//!
//! Input: `[flags][cut count][cuts: 2 bytes LE each][gap mask] data`;
//! `flags & 1` adds the gap run (bit k of the mask: `gap()` before piece k),
//! `flags & 2` configures an extra header name, `x-secret`. The cut count is
//! taken modulo 16 (see `agentsight_fuzz::cuts`).
//!
//! Asserts: lengths never change; a byte only changes to `*`, except inside
//! an HTTP/2 header block fragment (a Huffman literal rewritten to another of
//! the same length), and in an HTTP/2 stream nothing outside header blocks
//! changes at all; a chunk that changed was reported as redacted; a run whose
//! `split_dependent` stayed 0 gives exactly the one-chunk output; redacting
//! the output again changes nothing (unless a Huffman length was inexact).
#![no_main]

use agentsight_fuzz::redact::{RedactStats, Redactor};
use agentsight_fuzz::{cuts, split_at_cuts, Input};
use libfuzzer_sys::fuzz_target;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Where the redactor will see HTTP/2 frames: after the client preface, or
/// from byte 0 when a binary first byte starts a SETTINGS frame header.
fn h2_start(d: &[u8]) -> Option<usize> {
    if d.starts_with(PREFACE) {
        return Some(PREFACE.len());
    }
    let first = *d.first()?;
    if first.is_ascii_graphic() || first == b'\r' || first == b'\n' || d.len() < 9 {
        return None;
    }
    let len = u32::from_be_bytes([0, d[0], d[1], d[2]]);
    let sid = u32::from_be_bytes([d[5], d[6], d[7], d[8]]) & 0x7fff_ffff;
    (d[3] == 4 && d[4] == 0 && sid == 0 && len % 6 == 0 && len <= 384).then_some(0)
}

/// Header block fragment bytes of HEADERS, PUSH_PROMISE and CONTINUATION
/// frames (RFC 9113 6.2, 6.6, 6.10), padding and priority fields excluded.
fn fragments(d: &[u8], start: usize) -> Vec<bool> {
    let mut mark = vec![false; d.len()];
    let mut p = start;
    while p + 9 <= d.len() {
        let len = (usize::from(d[p]) << 16) | (usize::from(d[p + 1]) << 8) | usize::from(d[p + 2]);
        let (typ, flags) = (d[p + 3], d[p + 4]);
        let body = p + 9;
        let end = body + len;
        let fixed = match typ {
            1 if flags & 0x20 != 0 => Some(5),
            1 => Some(0),
            5 => Some(4),
            9 => Some(0),
            _ => None,
        };
        if let Some(fixed) = fixed {
            let padded = typ != 9 && flags & 0x08 != 0;
            let region = if !padded {
                Some((body, end))
            } else if len == 0 {
                None
            } else {
                let pad = usize::from(*d.get(body).unwrap_or(&0));
                // Padding longer than the payload: no fragment in this frame.
                (pad < len).then(|| (body + 1, end - pad))
            };
            if let Some((a, b)) = region {
                // Fields the payload is too short for leave an empty fragment.
                let a = (a + fixed).min(b);
                for m in mark.iter_mut().take(b.min(d.len())).skip(a) {
                    *m = true;
                }
            }
        }
        p = end;
    }
    mark
}

/// Feeds `pieces` (each optionally preceded by a gap) and returns the output.
fn run(r: &Redactor, data: &[u8], pieces: &[(usize, usize, bool)]) -> (Vec<u8>, RedactStats) {
    let mut s = r.stream();
    let mut out = data.to_vec();
    for &(a, b, gap) in pieces {
        if gap {
            s.gap();
        }
        let reported = s.redact(&mut out[a..b]);
        assert!(
            reported || out[a..b] == data[a..b],
            "chunk {a}..{b} changed without being reported"
        );
    }
    assert_eq!(out.len(), data.len());
    (out, s.stats())
}

fn check_changes(data: &[u8], out: &[u8], frag: &[bool], h2: bool, what: &str) {
    for (k, (&a, &b)) in data.iter().zip(out).enumerate() {
        if a == b {
            continue;
        }
        if h2 {
            assert!(
                frag[k],
                "{what}: byte {k} outside an HTTP/2 header block changed"
            );
        } else {
            assert!(
                b == b'*' || frag[k],
                "{what}: byte {k} became {b:#04x}, not '*'"
            );
        }
    }
}

fuzz_target!(|raw: &[u8]| {
    let mut inp = Input::new(raw);
    let flags = inp.byte();
    let ncuts = usize::from(inp.byte() % 16);
    let ctl = inp.take(ncuts * 2);
    let gaps = if flags & 1 != 0 { inp.byte() } else { 0 };
    let data = inp.rest;

    let r = if flags & 2 != 0 {
        Redactor::with_headers(["x-secret"])
    } else {
        Redactor::new()
    };
    let start = h2_start(data);
    let frag = start.map_or_else(|| vec![false; data.len()], |s| fragments(data, s));
    let h2 = start.is_some();

    let (whole, ws) = run(&r, data, &[(0, data.len(), false)]);
    check_changes(data, &whole, &frag, h2, "one chunk");
    // The HTTP/1 heuristics act at chunk starts; in HTTP/2 a Huffman value
    // cut by the end of the data counts, as the redactor cannot know no
    // chunk follows.
    if !h2 {
        assert_eq!(ws.split_dependent, 0, "one chunk cannot depend on a split");
    }

    // The output decodes the same: a second pass finds nothing new to change.
    if ws.h2_inexact == 0 {
        let (again, _) = run(&r, &whole, &[(0, whole.len(), false)]);
        assert!(again == whole, "redacting the output again changed it");
    }

    let points = cuts(ctl, data.len());
    let bounds: Vec<(usize, usize)> = {
        let parts = split_at_cuts(data, &points);
        let mut at = 0;
        parts
            .iter()
            .map(|p| {
                let b = (at, at + p.len());
                at += p.len();
                b
            })
            .collect()
    };
    let cut: Vec<_> = bounds.iter().map(|&(a, b)| (a, b, false)).collect();
    let (out, st) = run(&r, data, &cut);
    check_changes(data, &out, &frag, h2, "cut");
    if st.split_dependent == 0 {
        assert!(
            out == whole,
            "cut at {points:?}: output differs from one chunk"
        );
    }

    if data.len() <= 4096 {
        let bytes: Vec<_> = (0..data.len()).map(|k| (k, k + 1, false)).collect();
        let (out, st) = run(&r, data, &bytes);
        check_changes(data, &out, &frag, h2, "byte by byte");
        if st.split_dependent == 0 {
            assert!(out == whole, "byte by byte: output differs from one chunk");
        }
    }

    if flags & 1 != 0 {
        let gapped: Vec<_> = bounds
            .iter()
            .enumerate()
            .map(|(k, &(a, b))| (a, b, k < 8 && gaps >> k & 1 != 0))
            .collect();
        let (out, _) = run(&r, data, &gapped);
        // After a gap HTTP/2 is no longer followed: only '*' or header blocks.
        check_changes(data, &out, &frag, false, "with gaps");
    }
});
