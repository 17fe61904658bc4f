//! Content-Encoding decoding with an arbitrary encodings list, plus a
//! round trip: the body encoded through a known stack decodes back exactly.
//!
//! Input: `[n][...][body]`. If `n & 0x80`, the next `n & 0x7f` bytes are the
//! header value as text; otherwise `n % 8` bytes each pick one list entry.
#![no_main]

use std::io::Write;

use agentsight_fuzz::decode::encoding::{decode_all, MAX_DECODED};
use agentsight_fuzz::Input;
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 12] = [
    "gzip", "x-gzip", "deflate", "br", "zstd", "identity", " GZIP ", "", "compress", "Br", "zstd ",
    "bogus",
];
const KNOWN: [&str; 5] = ["gzip", "x-gzip", "deflate", "br", "zstd"];

fn encode(enc: &str, b: &[u8]) -> Vec<u8> {
    match enc {
        "gzip" | "x-gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(b).unwrap();
            e.finish().unwrap()
        }
        "deflate" => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(b).unwrap();
            e.finish().unwrap()
        }
        "br" => {
            let mut out = Vec::new();
            {
                let mut e = brotli::CompressorWriter::new(&mut out, 4096, 1, 22);
                e.write_all(b).unwrap();
            }
            out
        }
        "zstd" => zstd::stream::encode_all(b, 1).unwrap(),
        _ => unreachable!(),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input::new(data);
    let n = inp.byte();
    let (list, picks): (String, Vec<usize>) = if n & 0x80 != 0 {
        let t = inp.take(usize::from(n & 0x7f));
        (String::from_utf8_lossy(t).into_owned(), Vec::new())
    } else {
        let picks: Vec<usize> = inp
            .take(usize::from(n % 8))
            .iter()
            .map(|&b| usize::from(b))
            .collect();
        let names: Vec<&str> = picks.iter().map(|&i| NAMES[i % NAMES.len()]).collect();
        (names.join(","), picks)
    };
    let body = inp.rest;

    let (out, err) = decode_all(&list, body);
    let effective = list
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .any(|s| !s.is_empty() && s != "identity");
    match &out {
        None => assert!(!effective && !err, "identity list {list:?}"),
        Some(o) => {
            assert!(effective, "{list:?}");
            assert!(o.len() <= MAX_DECODED);
        }
    }

    // Round trip through known encodings (applied in list order).
    if !picks.is_empty() {
        let stack: Vec<&str> = picks.iter().map(|&i| KNOWN[i % KNOWN.len()]).collect();
        let mut enc = body.to_vec();
        for e in &stack {
            enc = encode(e, &enc);
        }
        let (dec, err) = decode_all(&stack.join(", "), &enc);
        assert!(!err, "round trip {stack:?} failed");
        assert_eq!(dec.as_deref(), Some(body), "round trip {stack:?}");
    }
});
