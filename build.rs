//! The recorder crate's build script (`recorder/Cargo.toml` points here): compiles
//! `bpf/*.bpf.c` into libbpf skeletons, and generates the Rust types of the
//! records they send from `bpf/agentsight.h` (bindgen), so that header is the
//! one definition of every record layout and enum.
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
    write_record_layouts(&bpf_dir.join("agentsight.h"), &out.join("layouts.rs"));
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

/// Record structs get zerocopy's FromBytes so the recorder reads them from
/// ring-buffer bytes without unsafe code or hand-kept offsets.
#[derive(Debug)]
struct RecordDerives;

impl bindgen::callbacks::ParseCallbacks for RecordDerives {
    fn add_derives(&self, info: &bindgen::callbacks::DeriveInfo<'_>) -> Vec<String> {
        match info.kind {
            // IntoBytes also proves at compile time that no struct has hidden padding
            bindgen::callbacks::TypeKind::Struct => [
                "zerocopy::FromBytes",
                "zerocopy::IntoBytes",
                "zerocopy::Immutable",
                "zerocopy::KnownLayout",
            ]
            .map(String::from)
            .to_vec(),
            _ => Vec::new(),
        }
    }
}

fn write_record_layouts(header: &Path, dest: &Path) {
    // __u64 and friends come from the kernel's uapi types, as in the BPF build.
    let wrapper = format!(
        "#include <linux/types.h>\n#include \"{}\"\n",
        header.display()
    );
    bindgen::Builder::default()
        .header_contents("layouts.h", &wrapper)
        .allowlist_file(".*agentsight\\.h")
        .prepend_enum_name(false)
        .default_enum_style(bindgen::EnumVariation::Consts)
        .derive_default(true)
        .parse_callbacks(Box::new(RecordDerives))
        .generate()
        .unwrap_or_else(|e| panic!("generating record layouts from {}: {e}", header.display()))
        .write_to_file(dest)
        .unwrap_or_else(|e| panic!("writing {}: {e}", dest.display()));
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
