//! Where TLS plaintext can be hooked in a Linux process, found by reading
//! files: which mapped ELF files carry an OpenSSL-compatible library, at
//! which file offsets its data functions start, where their uprobes go, and
//! why a process's TLS cannot be hooked. The recorder attaches the probes;
//! nothing here loads BPF, so all of it runs (and is fuzzed) without root.
//!
//! - [`targets`]: per-process discovery from `/proc/PID/maps`, exported
//!   symbols, and the reasons a target stays unhooked.
//! - [`probe_sites`]: probe points the kernel need not single-step.
//! - [`stripped`]: the data functions of binaries that link BoringSSL or
//!   OpenSSL 3 statically with no symbols (Bun, Claude Code, Codex), and the
//!   cache that keeps what was found.

pub mod probe_sites;
pub mod stripped;
pub mod targets;

/// Whether a test may use something this machine might lack. In CI
/// (CI=true) it must be there: a test that silently checks nothing is no
/// proof. Elsewhere the test says it skipped.
#[cfg(test)]
pub(crate) fn available(what: &str, present: bool) -> bool {
    if !present {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{what} is missing: CI must run this test (scripts/setup.sh installs it)"
        );
        eprintln!("SKIPPED: {what} is missing");
    }
    present
}
