//! TLS plaintext capture: loads tls.bpf.c, attaches its uprobes once per TLS
//! library file, and stores the chunks it reports (after masking credential
//! headers). The bytes are not otherwise interpreted.

use std::collections::{HashMap, HashSet};
use std::mem::MaybeUninit;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use agentsight_capture::rows::{RowBuffers, TlsChunkRow, TlsEventRow};
use anyhow::{anyhow, Result};
use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{Link, OpenObject, UprobeMultiOpts, UprobeOpts};

use super::bpf::lifecycle::LifecycleSkel;
use super::bpf::{disable_missing_tracepoints, explain_load_error, LoadConfig};
use super::events::{event_header, split_record, EV_TLS_DATA, EV_TLS_META};
use crate::layouts::{tls_data_body, tls_meta_body, TM_FREE, TM_SET_FD, TM_SHUTDOWN, TM_SNI};
use agentsight_redact::{Redactor, StreamRedactor};
use agentsight_tls_targets::targets::{
    fd_path, inspect_elf, ElfTls, FileId, TargetKind, TlsScanner, TlsTarget,
};

#[allow(
    clippy::all,
    dead_code,
    unused_imports,
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals
)]
pub mod skel {
    include!(concat!(env!("OUT_DIR"), "/tls.skel.rs"));
}

pub use skel::TlsSkel;

/// Size of the TLS ring buffer: room for the largest call we capture
/// (`--tls-max-bytes`, 8 MiB by default) twice over, at least 16 MiB. Its
/// data pages are mapped twice in the recorder, so this is 2x in RSS.
pub fn tls_ring_bytes(tls_max_bytes: u64) -> u32 {
    let want = tls_max_bytes
        .saturating_mul(2)
        .clamp(16 << 20, 1 << 30)
        .next_power_of_two();
    want.min(1 << 30) as u32
}

/// Loads the TLS programs, with the uprobe session program where the kernel
/// has sessions. Should the kernel still refuse it (a vendor kernel whose BTF
/// lists the attach type but whose verifier rejects the program), loads again
/// without it into `fallback`: entry and return pairs then carry the capture.
pub fn load<'obj>(
    storage: &'obj mut MaybeUninit<OpenObject>,
    fallback: &'obj mut MaybeUninit<OpenObject>,
    lifecycle: &LifecycleSkel,
    cfg: &LoadConfig,
    tls_max_bytes: u64,
) -> Result<TlsSkel<'obj>> {
    let sessions = kernel_has_uprobe_session();
    match load_once(storage, lifecycle, cfg, tls_max_bytes, sessions) {
        Err(e) if sessions => {
            tracing::warn!("loading TLS programs with uprobe sessions: {e:#}; retrying without");
            load_once(fallback, lifecycle, cfg, tls_max_bytes, false)
        }
        loaded => loaded,
    }
}

fn load_once<'obj>(
    storage: &'obj mut MaybeUninit<OpenObject>,
    lifecycle: &LifecycleSkel,
    cfg: &LoadConfig,
    tls_max_bytes: u64,
    sessions: bool,
) -> Result<TlsSkel<'obj>> {
    let mut open = skel::TlsSkelBuilder::default()
        .open(storage)
        .map_err(|e| anyhow!(explain_load_error(&e)))?;
    // One pid set and one set of loss counters for both programs.
    open.maps.traced.reuse_fd(lifecycle.maps.traced.as_fd())?;
    open.maps.stats.reuse_fd(lifecycle.maps.stats.as_fd())?;
    open.maps.scratch.reuse_fd(lifecycle.maps.scratch.as_fd())?;
    let rodata = open
        .maps
        .rodata_data
        .as_deref_mut()
        .ok_or_else(|| anyhow!("TLS BPF object has no rodata"))?;
    rodata.self_tgid = cfg.self_tgid;
    rodata.trace_all = cfg.trace_all as u8;
    rodata.tls_max_bytes = tls_max_bytes;
    let ring_bytes = tls_ring_bytes(tls_max_bytes);
    rodata.ring_bytes = ring_bytes.into();
    open.maps
        .tls_ring
        .set_max_entries(ring_bytes)
        .map_err(|e| anyhow!("sizing the TLS ring buffer: {e}"))?;
    disable_missing_tracepoints(open.open_object_mut());
    if !sessions {
        open.progs.ssl_data_session.set_autoload(false);
    }
    open.load().map_err(|e| anyhow!(explain_load_error(&e)))
}

/// `enum tls_func` (bpf/agentsight.h): the data functions, as the attach
/// cookie of their probes and in TLS data records, with their direction.
const TLS_FUNCS: [(u32, &str, u8); 7] = {
    use crate::layouts::*;
    [
        (TF_SSL_WRITE, "SSL_write", DIR_WRITE),
        (TF_SSL_READ, "SSL_read", DIR_READ),
        (TF_SSL_WRITE_EX, "SSL_write_ex", DIR_WRITE),
        (TF_SSL_READ_EX, "SSL_read_ex", DIR_READ),
        (TF_SSL_WRITE_INTERNAL, "ssl_write_internal", DIR_WRITE),
        (TF_SSL_READ_INTERNAL, "ssl_read_internal", DIR_READ),
        (TF_SSL_WRITE_INTERNAL_FLAGS, "ssl_write_internal", DIR_WRITE),
    ]
};

fn func_id(name: &str) -> Option<u64> {
    TLS_FUNCS
        .iter()
        .find(|f| f.1 == name)
        .map(|f| u64::from(f.0))
}

fn func_name(id: u32) -> (&'static str, u8) {
    TLS_FUNCS
        .iter()
        .find(|f| f.0 == id)
        .map_or(("unknown", DIR_READ), |f| (f.1, f.2))
}

/// The entry program of each other hooked function.
fn identity_program<'a>(skel: &'a TlsSkel, func: &str) -> Option<&'a libbpf_rs::ProgramMut<'a>> {
    let p = &skel.progs;
    Some(match func {
        "SSL_set_fd" => &p.uprobe_SSL_set_fd,
        "SSL_set_rfd" => &p.uprobe_SSL_set_rfd,
        "SSL_set_wfd" => &p.uprobe_SSL_set_wfd,
        "SSL_ctrl" => &p.uprobe_SSL_ctrl,
        "SSL_set_tlsext_host_name" => &p.uprobe_SSL_set_tlsext_host_name,
        "SSL_shutdown" => &p.uprobe_SSL_shutdown,
        "SSL_free" => &p.uprobe_SSL_free,
        _ => return None,
    })
}

/// Whether the kernel has uprobe sessions (Linux 6.13, or a backport):
/// asked of the kernel's own BTF, which lists every attach type it knows,
/// before loading, since one program the kernel rejects fails the whole
/// object. `AGENTSIGHT_NO_UPROBE_SESSION` forces the older path (for its tests).
fn kernel_has_uprobe_session() -> bool {
    if std::env::var_os("AGENTSIGHT_NO_UPROBE_SESSION").is_some() {
        return false;
    }
    let Ok(btf) = libbpf_rs::btf::Btf::from_vmlinux() else {
        return false;
    };
    btf.type_by_name::<libbpf_rs::btf::types::Enum>("bpf_attach_type")
        .is_some_and(|attach_types| {
            attach_types
                .iter()
                .any(|t| t.name == Some(std::ffi::OsStr::new("BPF_TRACE_UPROBE_SESSION")))
        })
}

/// One data probe: where, which function (for reports), and its cookie.
struct DataProbe {
    name: String,
    offset: u64,
    func: u64,
}

/// The data functions to probe in one file: the public ones, except those
/// seen through a shared implementation, which is probed instead.
fn data_probes(tls: &ElfTls) -> Vec<DataProbe> {
    let mut data: Vec<DataProbe> = tls
        .symbols
        .iter()
        .filter(|sym| !tls.covered_by_shared(sym.name))
        .filter_map(|sym| {
            Some(DataProbe {
                // Located without symbols: the manifest keeps where.
                name: match tls.located_by {
                    Some(_) => format!("{}@{:#x}", sym.name, sym.offset),
                    None => sym.name.to_string(),
                },
                offset: sym.probe,
                func: func_id(sym.name)?,
            })
        })
        .collect();
    for shared in &tls.shared {
        let internal = if shared.write {
            "ssl_write_internal"
        } else {
            "ssl_read_internal"
        };
        let [plain, ex] = shared.covers();
        let func = if shared.flags {
            u64::from(crate::layouts::TF_SSL_WRITE_INTERNAL_FLAGS)
        } else {
            func_id(internal).expect("in TLS_FUNCS")
        };
        data.push(DataProbe {
            name: format!("{plain}+{ex} via {internal}@{:#x}", shared.entry),
            offset: shared.probe,
            func,
        });
    }
    data
}

fn attach_uprobe(
    prog: &libbpf_rs::ProgramMut,
    path: &Path,
    offset: u64,
    retprobe: bool,
    cookie: u64,
) -> libbpf_rs::Result<Link> {
    prog.attach_uprobe_with_opts(
        -1,
        path,
        offset as usize,
        UprobeOpts {
            retprobe,
            cookie,
            ..Default::default()
        },
    )
}

/// Attaches the data probes: one session link for all of them where the
/// kernel has uprobe sessions, else an entry and a return probe each.
/// Returns which of the two it used.
fn attach_data(
    skel: &TlsSkel,
    target: &TlsTarget,
    data: &[DataProbe],
    links: &mut Vec<Link>,
    funcs: &mut Vec<String>,
    errors: &mut Vec<String>,
) -> &'static str {
    let session = &skel.progs.ssl_data_session;
    if !data.is_empty() && session.autoload() {
        let opts = UprobeMultiOpts {
            offsets: data.iter().map(|d| d.offset as usize).collect(),
            cookies: data.iter().map(|d| d.func).collect(),
            session: true,
            ..Default::default()
        };
        match session.attach_uprobe_multi_with_opts(-1, &target.path, "", opts) {
            Ok(link) => {
                links.push(link);
                funcs.extend(data.iter().map(|d| d.name.clone()));
                return "uprobe session";
            }
            Err(e) => tracing::debug!(
                "session uprobes on {}: {e}; using uprobe pairs",
                target.path.display()
            ),
        }
    }
    for d in data {
        let (entry, ret) = (&skel.progs.uprobe_ssl_data, &skel.progs.uretprobe_ssl_data);
        let result = attach_uprobe(entry, &target.path, d.offset, false, d.func).and_then(|l| {
            links.push(l);
            attach_uprobe(ret, &target.path, d.offset, true, d.func)
        });
        match result {
            Ok(l) => {
                links.push(l);
                funcs.push(d.name.clone());
            }
            Err(e) => errors.push(format!("{}: {e}", d.name)),
        }
    }
    "uprobe pairs"
}

/// Keeps the uprobe links, one set per library file (dev, inode): a uprobe
/// on a file covers every process that maps it, now and later.
pub struct TlsHooks {
    scanner: TlsScanner,
    links: HashMap<FileId, Vec<Link>>,
    /// Human-readable list for the manifest and the summary.
    pub attached: Vec<String>,
    /// Targets with TLS we cannot hook (Go, rustls...), reported once each.
    pub warnings: Vec<String>,
    warned: HashSet<String>,
    /// New attachments and unhookable targets since the last drain, to
    /// log as `attach` / `not_hooked` rows: (pid, event, value).
    pending_rows: Vec<(u32, &'static str, String)>,
}

fn file_id(path: &Path) -> Option<FileId> {
    let md = std::fs::metadata(path).ok()?;
    let dev = md.dev();
    Some(FileId {
        dev_major: libc::major(dev),
        dev_minor: libc::minor(dev),
        ino: md.ino(),
    })
}

/// libssl files the dynamic linker knows about: hooking them before any
/// target starts means a process that loads libssl late (python's
/// `import ssl`) is covered from its first call.
/// Runs `ldconfig`: call it before the BPF programs follow the recorder's
/// children, or the lookup itself would be recorded.
pub fn system_libssl() -> Vec<PathBuf> {
    let mut found = Vec::new();
    if let Ok(out) = std::process::Command::new("ldconfig").arg("-p").output() {
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let line = line.trim();
            if line.starts_with("libssl.so") {
                if let Some((_, path)) = line.rsplit_once(" => ") {
                    found.push(PathBuf::from(path));
                }
            }
        }
    }
    for dir in [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib64",
        "/usr/lib",
        "/lib64",
        "/usr/local/lib",
        "/usr/local/lib64",
    ] {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with("libssl.so") {
                    found.push(e.path());
                }
            }
        }
    }
    found
}

impl TlsHooks {
    /// Hooks that keep what they locate in stripped binaries in `cache_dir`.
    pub fn new(cache_dir: Option<PathBuf>) -> TlsHooks {
        TlsHooks {
            scanner: TlsScanner::with_cache_dir(cache_dir),
            links: HashMap::new(),
            attached: Vec::new(),
            warnings: Vec::new(),
            warned: HashSet::new(),
            pending_rows: Vec::new(),
        }
    }

    fn attach_target(&mut self, skel: &TlsSkel, target: &TlsTarget, pid: u32) {
        if self.links.contains_key(&target.id) {
            return;
        }
        let mut links = Vec::new();
        let mut funcs = Vec::new();
        let mut errors = Vec::new();
        for sym in &target.tls.symbols {
            let Some(prog) = identity_program(skel, sym.name) else {
                continue;
            };
            match attach_uprobe(prog, &target.path, sym.probe, false, 0) {
                Ok(l) => {
                    links.push(l);
                    funcs.push(sym.name.to_string());
                }
                Err(e) => errors.push(format!("{}: {e}", sym.name)),
            }
        }
        let data = data_probes(&target.tls);
        let data_mode = attach_data(skel, target, &data, &mut links, &mut funcs, &mut errors);
        let kind = if target.kind == TargetKind::Executable {
            "executable"
        } else {
            "library"
        };
        let mut line = format!(
            "{} ({kind}, {}:{}:{}) [{}] data probes: {data_mode}",
            target.mapped_path.display(),
            target.id.dev_major,
            target.id.dev_minor,
            target.id.ino,
            funcs.join(", ")
        );
        if let Some(method) = &target.tls.located_by {
            line.push_str(&format!(" located without symbols: {method}"));
        }
        if !errors.is_empty() {
            line.push_str(&format!(" errors: {}", errors.join("; ")));
        }
        self.pending_rows
            .push((pid, "attach", target.mapped_path.display().to_string()));
        self.attached.push(line);
        self.links.insert(target.id, links);
    }

    /// Hooks a file by path (system libraries, the command about to run).
    pub fn attach_path(&mut self, skel: &TlsSkel, path: &Path) {
        let Some(id) = file_id(path) else { return };
        if self.links.contains_key(&id) {
            return;
        }
        let Ok(tls) = inspect_elf(path) else { return };
        let (tls, kind, attach) = if tls.hookable() {
            (Arc::new(tls), TargetKind::Library, path.to_path_buf())
        } else {
            // A binary that carries its TLS library without symbols (Bun,
            // Claude Code, Codex): located now, before it runs, in the file
            // opened once (and attached through it).
            let Ok(file) = std::fs::File::open(path) else {
                return;
            };
            match self.scanner.executable(id, file, None).located {
                Some((located, file)) => (located, TargetKind::Executable, fd_path(&file)),
                None => return,
            }
        };
        let target = TlsTarget {
            path: attach,
            mapped_path: path.to_path_buf(),
            id,
            kind,
            tls,
        };
        self.attach_target(skel, &target, 0);
    }

    /// Processes seen from now on (at their exec) are held while a binary
    /// they run is analysed; those found running at the start are not.
    pub fn hold_new_executables(&mut self) {
        self.scanner.hold_new_executables();
    }

    /// Finds and hooks the TLS a process has mapped now; remembers why a
    /// process has none we can hook.
    pub fn scan_pid(&mut self, skel: &TlsSkel, pid: u32) {
        let Ok(found) = self.scanner.discover(pid) else {
            return;
        };
        for target in &found.targets {
            self.attach_target(skel, target, pid);
        }
        for u in &found.unhookable {
            let text = u.to_string();
            if self.warned.insert(text.clone()) {
                self.pending_rows.push((pid, "not_hooked", text.clone()));
                self.warnings.push(text);
            }
        }
    }

    /// The uprobe links, for the recorder to detach with everything else.
    pub fn take_links(&mut self) -> Vec<Link> {
        self.links.drain().flat_map(|(_, l)| l).collect()
    }

    /// `attach` and `not_hooked` rows for tls_events, so the capture says when
    /// hooks began and what stayed unhooked.
    pub fn take_attach_rows(&mut self, buffers: &mut RowBuffers, ts_ns: u64) {
        for (pid, event, value) in self.pending_rows.drain(..) {
            buffers.tls_events.push(&TlsEventRow {
                subject: agentsight_capture::rows::Subject {
                    ts_ns,
                    pid: pid as i32,
                    tid: pid as i32,
                    proc_key: 0,
                    comm: "",
                    uid: 0,
                },
                event,
                ssl_ptr: 0,
                fd: None,
                value: Some(&value),
            });
        }
    }
}

const DIR_WRITE: u8 = 0;
const DIR_READ: u8 = 1;

struct StreamState {
    redactor: Option<StreamRedactor>,
    call_seq: u64,
    next_offset: u64,
    expected_end: u64,
}

/// Turns TLS ring records into rows, masking credentials per stream
/// (pid, SSL*, direction) so a header split across calls is still found.
pub struct TlsRecords {
    redactor: Option<Redactor>,
    streams: HashMap<(u32, u64, u8), StreamState>,
    tls_max_bytes: u64,
    scratch: Vec<u8>,
}

impl TlsRecords {
    pub fn new(redactor: Option<Redactor>, tls_max_bytes: u64) -> Self {
        TlsRecords {
            redactor,
            streams: HashMap::new(),
            tls_max_bytes,
            scratch: Vec::new(),
        }
    }

    /// Stores one record; None when it is malformed.
    pub fn store(&mut self, rec: &[u8], buffers: &mut RowBuffers) -> Option<()> {
        match event_header::parse(rec)?.kind {
            EV_TLS_DATA => {
                let (h, b, mut payload) = split_record::<tls_data_body>(rec)?;
                let data = payload.take(b.data_len)?;
                let data_len = data.len();
                let tls_data_body {
                    ssl_ptr,
                    call_seq,
                    chunk_offset,
                    call_len,
                    lost_bytes,
                    chunk_index,
                    fd,
                    ..
                } = b;
                let (func, dir) = func_name(b.func);

                let redactor = &self.redactor;
                let st = self
                    .streams
                    .entry((h.pid, ssl_ptr, dir))
                    .or_insert_with(|| StreamState {
                        redactor: redactor.as_ref().map(|r| r.stream()),
                        call_seq: u64::MAX,
                        next_offset: 0,
                        expected_end: 0,
                    });
                // A missing chunk (ring full) or an uncaptured tail breaks the
                // byte stream: the redactor must not assume continuity.
                let new_call = st.call_seq != call_seq;
                let gap = (new_call && st.call_seq != u64::MAX && st.next_offset < st.expected_end)
                    || (!new_call && chunk_offset != st.next_offset)
                    || (new_call && chunk_offset != 0);
                if new_call {
                    st.call_seq = call_seq;
                    st.expected_end = call_len.min(self.tls_max_bytes);
                }
                st.next_offset = chunk_offset + data_len as u64;
                self.scratch.clear();
                self.scratch.extend_from_slice(data);
                let mut redacted = false;
                if let Some(r) = st.redactor.as_mut() {
                    if gap {
                        r.gap();
                    }
                    redacted = r.redact(&mut self.scratch);
                    if lost_bytes > 0 {
                        r.gap();
                    }
                }
                buffers.tls_chunks.push(&TlsChunkRow {
                    subject: h.subject(),
                    direction: if dir == DIR_WRITE { "write" } else { "read" },
                    func,
                    ssl_ptr,
                    fd: (fd >= 0).then_some(fd),
                    call_seq,
                    chunk_index,
                    chunk_offset,
                    call_len,
                    lost_bytes,
                    redacted,
                    data: &self.scratch,
                });
                Some(())
            }
            EV_TLS_META => {
                let (h, b, mut payload) = split_record::<tls_meta_body>(rec)?;
                let value = payload.take(b.value_len)?;
                let (ssl_ptr, event, fd) = (b.ssl_ptr, b.event, b.fd);
                let name = match event {
                    TM_SET_FD => "set_fd",
                    TM_SNI => "sni",
                    TM_SHUTDOWN => "shutdown",
                    TM_FREE => "free",
                    _ => return None,
                };
                if event == TM_FREE {
                    // The pointer may be reused for a new connection.
                    self.streams
                        .retain(|k, _| !(k.0 == h.pid && k.1 == ssl_ptr));
                }
                let text = (event == TM_SNI).then(|| super::events::text(value).into_owned());
                buffers.tls_events.push(&TlsEventRow {
                    subject: h.subject(),
                    event: name,
                    ssl_ptr,
                    fd: (event == TM_SET_FD && fd >= 0).then_some(fd),
                    value: text.as_deref(),
                });
                Some(())
            }
            _ => None,
        }
    }

    /// Forgets the streams of an exited process.
    pub fn process_exited(&mut self, pid: u32) {
        self.streams.retain(|k, _| k.0 != pid);
    }
}

#[cfg(test)]
mod tests {
    use super::{
        data_probes, func_name, kernel_has_uprobe_session, tls_ring_bytes, DIR_READ, DIR_WRITE,
    };
    use agentsight_tls_targets::targets::{ElfTls, SharedImpl, SslSymbol};

    #[test]
    fn a_shared_implementation_replaces_the_public_data_probes() {
        let sym = |name, offset| SslSymbol {
            name,
            offset,
            probe: offset + 4,
        };
        let tls = ElfTls {
            symbols: vec![
                sym("SSL_write", 0x100),
                sym("SSL_read", 0x200),
                sym("SSL_write_ex", 0x300),
                sym("SSL_read_ex", 0x400),
                sym("SSL_free", 0x500),
            ],
            go: false,
            shared: vec![SharedImpl {
                write: false,
                flags: false,
                entry: 0x50,
                probe: 0x54,
            }],
            located_by: None,
        };
        let probes: Vec<(String, u64, u64)> = data_probes(&tls)
            .into_iter()
            .map(|d| (d.name, d.offset, d.func))
            .collect();
        let expected = [
            ("SSL_write", 0x104, 1),
            ("SSL_write_ex", 0x304, 3),
            ("SSL_read+SSL_read_ex via ssl_read_internal@0x50", 0x54, 6),
        ]
        .map(|(n, o, f)| (n.to_string(), o, f));
        assert_eq!(probes, expected);
        // Records name the probed function and its direction.
        assert_eq!(func_name(6), ("ssl_read_internal", DIR_READ));
        assert_eq!(func_name(5), ("ssl_write_internal", DIR_WRITE));
        assert_eq!(func_name(99).0, "unknown");
        // OpenSSL 3.3+ located without symbols: the write's byte count comes
        // through its fifth argument, a probe of its own kind.
        let located = ElfTls {
            shared: vec![
                SharedImpl {
                    write: true,
                    flags: true,
                    entry: 0x70,
                    probe: 0x74,
                },
                SharedImpl {
                    write: false,
                    flags: false,
                    entry: 0x50,
                    probe: 0x54,
                },
            ],
            located_by: Some("test".into()),
            ..ElfTls::default()
        };
        assert!(located.hookable());
        let funcs: Vec<(u64, u64)> = data_probes(&located)
            .into_iter()
            .map(|d| (d.offset, d.func))
            .collect();
        assert_eq!(funcs, [(0x74, 7), (0x54, 6)]);
        assert_eq!(func_name(7), ("ssl_write_internal", DIR_WRITE));
    }

    #[test]
    fn tls_ring_holds_two_maximal_calls_and_is_a_power_of_two() {
        assert_eq!(tls_ring_bytes(8 << 20), 16 << 20);
        assert_eq!(tls_ring_bytes(4 << 10), 16 << 20);
        assert_eq!(tls_ring_bytes(20 << 20), 64 << 20);
        assert_eq!(tls_ring_bytes(u64::MAX), 1 << 30);
    }

    /// The BTF answer must match the mainline version that added uprobe
    /// sessions (6.13) on the kernels CI runs on.
    #[test]
    fn uprobe_session_support_is_read_from_the_kernel_btf() {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        let mut parts = release.trim().split(['.', '-']);
        let mut next = || parts.next().and_then(|p| p.parse::<u32>().ok()).unwrap();
        let version = (next(), next());
        assert_eq!(
            kernel_has_uprobe_session(),
            version >= (6, 13),
            "kernel {release}"
        );
    }
}
