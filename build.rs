//! The recorder crate's build script (`recorder/Cargo.toml` points here): compiles
//! `bpf/*.bpf.c` into libbpf skeletons.
//! `vmlinux.h` is generated from the build machine's BTF (CO-RE relocations make
//! the objects portable across kernels), or taken from `AGENTSIGHT_VMLINUX_H`.

use std::path::{Path, PathBuf};
use std::process::Command;

const BPF_PROGRAMS: &[&str] = &["lifecycle", "tls"];

fn main() {
    // the repository root: this script serves the recorder crate one level down
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"))
        .join("..");
    let bpf_dir = root.join("bpf");
    println!("cargo:rerun-if-changed={}", bpf_dir.display());
    println!("cargo:rerun-if-env-changed=AGENTSIGHT_VMLINUX_H");
    println!("cargo:rerun-if-env-changed=BPF_CLANG");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let include_dir = out.join("bpf-include");
    std::fs::create_dir_all(&include_dir).expect("create include dir");
    write_vmlinux_h(&include_dir.join("vmlinux.h"));

    let clang = std::env::var("BPF_CLANG").unwrap_or_else(|_| "clang".to_string());
    let arch = match std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("x86_64") => "x86",
        Ok("aarch64") => "arm64",
        Ok(other) => panic!("unsupported target arch for BPF: {other}"),
        Err(_) => "x86",
    };
    for name in BPF_PROGRAMS {
        let src = bpf_dir.join(format!("{name}.bpf.c"));
        if !src.exists() {
            continue;
        }
        let skel = out.join(format!("{name}.skel.rs"));
        libbpf_cargo::SkeletonBuilder::new()
            .source(&src)
            .clang(&clang)
            .clang_args([
                format!("-I{}", include_dir.display()),
                format!("-I{}", bpf_dir.display()),
                format!("-D__TARGET_ARCH_{arch}"),
                "-Wno-compare-distinct-pointer-types".to_string(),
                "-O2".to_string(),
                "-g".to_string(),
            ])
            .build_and_generate(&skel)
            .unwrap_or_else(|e| panic!("building BPF program {}: {e:#}", src.display()));
    }
}

fn write_vmlinux_h(dest: &Path) {
    if let Ok(given) = std::env::var("AGENTSIGHT_VMLINUX_H") {
        std::fs::copy(&given, dest).unwrap_or_else(|e| panic!("copy {given}: {e}"));
        return;
    }
    if dest.exists() {
        return;
    }
    let output = Command::new("bpftool")
        .args([
            "btf",
            "dump",
            "file",
            "/sys/kernel/btf/vmlinux",
            "format",
            "c",
        ])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "running bpftool to generate vmlinux.h failed ({e}). Install bpftool \
                 (apt-get install bpftool), set AGENTSIGHT_VMLINUX_H to a vmlinux.h, or \
                 build the analyzer only with --no-default-features"
            )
        });
    assert!(
        output.status.success(),
        "bpftool btf dump failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::write(dest, output.stdout).expect("write vmlinux.h");
}
