//! `Content-Encoding` decoding with partial output on error and a size cap.

use std::io::Read;

/// Decoded output above this is cut (decompression bombs).
pub const MAX_DECODED: usize = 256 << 20;

/// Decode `body` through the comma-separated encodings (applied in order, so
/// undone in reverse). Returns `(None, false)` for identity, otherwise the
/// decoded bytes and whether any step failed (output then holds the prefix
/// that could be decoded).
pub fn decode_all(encodings: &str, body: &[u8]) -> (Option<Vec<u8>>, bool) {
    let list: Vec<String> = encodings
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty() && s != "identity")
        .collect();
    if list.is_empty() {
        return (None, false);
    }
    let mut cur = body.to_vec();
    let mut err = false;
    for enc in list.iter().rev() {
        let known = matches!(enc.as_str(), "gzip" | "x-gzip" | "deflate" | "br" | "zstd");
        let (next, e) = decode_one(enc, &cur);
        cur = next;
        err |= e;
        // Keep peeling outer layers off a damaged prefix; an unknown coding stops it.
        if !known {
            break;
        }
    }
    (Some(cur), err)
}

pub fn decode_one(enc: &str, body: &[u8]) -> (Vec<u8>, bool) {
    match enc {
        "gzip" | "x-gzip" => read_all(flate2::read::MultiGzDecoder::new(body)),
        "deflate" => {
            // Servers send both zlib-wrapped and raw deflate under this name.
            let (out, err) = read_all(flate2::read::ZlibDecoder::new(body));
            if err && out.is_empty() {
                read_all(flate2::read::DeflateDecoder::new(body))
            } else {
                (out, err)
            }
        }
        "br" => read_all(brotli::Decompressor::new(body, 4096)),
        "zstd" => match zstd::stream::read::Decoder::new(body) {
            Ok(d) => read_all(d),
            Err(_) => (Vec::new(), true),
        },
        _ => (body.to_vec(), true),
    }
}

/// Read until EOF, error or the cap; keeps what was produced before an error.
fn read_all<R: Read>(mut r: R) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return (out, false),
            Ok(n) => {
                if out.len() + n > MAX_DECODED {
                    let take = MAX_DECODED - out.len();
                    out.extend_from_slice(&buf[..take]);
                    return (out, true);
                }
                out.extend_from_slice(&buf[..n]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return (out, true),
        }
    }
}
