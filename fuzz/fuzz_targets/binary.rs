//! The recorder's analysis of the binaries traced processes run (it runs as
//! root; any program an agent executes is its input):
//! `agentsight_tls_targets::stripped` locating BoringSSL / OpenSSL 3 data
//! functions, and its `.eh_frame` parser.
//!
//! Input: `[mode] rest`. Mode 0: `rest` is an ELF file (`Image::parse`).
//! Mode 1: `[split: u16] [code va: u32]` then code bytes up to `split` and
//! data bytes after, as one code and one data segment (no ELF needed, so
//! the fuzzer reaches the decoder and the classifier directly). Mode 2:
//! `rest` is an `.eh_frame` section at address 0x1000.
//!
//! Asserts: a located entry lies inside the code, read and write differ, the
//! probe is the entry or 4 bytes past it (an `endbr64`); every FDE range is
//! non-empty.
#![no_main]

use agentsight_fuzz::tls_targets::stripped::{eh_frame_functions, locate, Image};
use agentsight_fuzz::Input;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let image = match input.byte() % 3 {
        0 => match Image::parse(input.rest) {
            Ok(image) => image,
            Err(_) => return,
        },
        1 => {
            let split = usize::from(input.u16());
            let va = u64::from(input.u16()) << 16 | u64::from(input.u16());
            let code = input.take(split);
            Image::from_code(va, code, input.rest, 0x7000_0000)
        }
        _ => {
            for (start, len) in eh_frame_functions(0x1000, input.rest) {
                assert!(len > 0 && start != 0);
            }
            return;
        }
    };
    if let Ok(found) = locate(&image) {
        assert_ne!(found.read.va, found.write.va);
        for e in [found.read, found.write] {
            assert!(e.probe == e.offset || e.probe == e.offset + 4);
        }
    }
});
