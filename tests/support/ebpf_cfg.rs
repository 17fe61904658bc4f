//! Build script of the top-level package: sets `cfg(no_ebpf)` when this
//! machine cannot run the recorder (not root, or no kernel BTF) and CI is
//! not set, so that the end-to-end tests show as ignored, with the reason,
//! instead of passing without running. Under `CI=true` it never sets it:
//! the tests run and fail loudly where eBPF is missing.

use std::path::Path;

const BTF: &str = "/sys/kernel/btf/vmlinux";

/// Effective uid 0, from /proc (no /proc: not Linux, not root).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

fn main() {
    println!("cargo::rustc-check-cfg=cfg(no_ebpf)");
    for var in ["CI", "USER", "SUDO_UID"] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    let btf = Path::new(BTF).exists();
    if btf {
        println!("cargo::rerun-if-changed={BTF}");
    }
    let ci = std::env::var("CI").as_deref() == Ok("true");
    if !ci && !(is_root() && btf) {
        println!("cargo::rustc-cfg=no_ebpf");
    }
}
