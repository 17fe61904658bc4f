//! Every decoder on one input, via `decode::fuzz_one`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    agentsight_fuzz::decode::fuzz_one(data);
});
