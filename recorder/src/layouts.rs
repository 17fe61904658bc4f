//! The records the BPF programs send, as Rust types generated from
//! `bpf/agentsight.h` by the build script (bindgen): structs, enum values and
//! size constants have one definition, in the header. bindgen's layout
//! assertions check every size and offset at compile time, and the header's
//! `_Static_assert`s check the same sizes on the C side.
#![allow(non_camel_case_types, non_upper_case_globals, dead_code, clippy::all)]

include!(concat!(env!("OUT_DIR"), "/layouts.rs"));
