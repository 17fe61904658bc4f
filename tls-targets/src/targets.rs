//! Where TLS plaintext can be hooked in a process.
//!
//! There is no single libssl to attach to: Python and curl load the system
//! libssl.so.3, node carries its own OpenSSL and exports `SSL_write` from the
//! executable, containers bring their own copies, and an upgraded library may
//! only exist as a "(deleted)" mapping. So targets are found per process from
//! `/proc/PID/maps` and identified by the mapped file's (device, inode), which
//! is what a uprobe really attaches to: attach once per [`FileId`].
//!
//! ELF files are read lazily (headers, then only the dynamic symbol table) and
//! the result is cached per file, so rescanning a process after each exec or
//! connect is cheap. When a process has no hookable TLS, the reason is
//! reported (Go's crypto/tls, rustls or a static OpenSSL/BoringSSL without
//! exported symbols, GnuTLS, NSS) so the recorder can warn instead of silently
//! capturing nothing.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use object::{
    Architecture, Object, ObjectSection, ObjectSegment, ObjectSymbol, ReadCache, ReadRef,
    SectionKind, SegmentFlags, SymbolKind,
};

use crate::probe_sites::{probe_point, shared_impl, PublicPair, CODE_WINDOW};
use crate::stripped::{self, Flavor, Located};

/// OpenSSL-API functions the TLS BPF programs hook, in the order the
/// recorder attaches them. `SSL_set_tlsext_host_name` exists as a function in
/// BoringSSL only (a macro over `SSL_ctrl` in OpenSSL).
pub const SSL_FUNCTIONS: [&str; 11] = [
    "SSL_write",
    "SSL_read",
    "SSL_write_ex",
    "SSL_read_ex",
    "SSL_set_fd",
    "SSL_set_rfd",
    "SSL_set_wfd",
    "SSL_ctrl",
    "SSL_set_tlsext_host_name",
    "SSL_shutdown",
    "SSL_free",
];

/// The mapped file's identity from /proc/PID/maps: the device (major, minor)
/// and inode of the file the kernel really mapped (for overlayfs, the
/// underlying file), so two containers sharing an image layer share a target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId {
    pub dev_major: u32,
    pub dev_minor: u32,
    pub ino: u64,
}

/// One exported function and its file offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SslSymbol {
    pub name: &'static str,
    pub offset: u64,
    /// Where its uprobe attaches: the entry, or past a leading `endbr64`
    /// (see [`crate::probe_sites`]).
    pub probe: u64,
}

/// OpenSSL's internal function behind a public read or write pair, probed in
/// their place (see [`crate::probe_sites`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SharedImpl {
    pub write: bool,
    /// The write takes `flags` before its `size_t *` (OpenSSL 3.3+).
    pub flags: bool,
    /// File offset of its entry, and where the probe attaches.
    pub entry: u64,
    pub probe: u64,
}

impl SharedImpl {
    /// The public functions whose calls it sees.
    pub fn covers(&self) -> [&'static str; 2] {
        if self.write {
            ["SSL_write", "SSL_write_ex"]
        } else {
            ["SSL_read", "SSL_read_ex"]
        }
    }
}

/// What one ELF file offers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ElfTls {
    /// Defined, exported functions from [`SSL_FUNCTIONS`].
    pub symbols: Vec<SslSymbol>,
    /// A Go binary (has Go build info): its TLS is crypto/tls.
    pub go: bool,
    /// Internal functions probed instead of public data functions.
    pub shared: Vec<SharedImpl>,
    /// Found without symbols (see [`crate::stripped`]): how.
    pub located_by: Option<String>,
}

impl ElfTls {
    pub fn has(&self, name: &str) -> bool {
        self.symbols.iter().any(|s| s.name == name)
    }

    /// The function's calls are seen through a [`SharedImpl`] probe.
    pub fn covered_by_shared(&self, name: &str) -> bool {
        self.shared.iter().any(|s| s.covers().contains(&name))
    }

    #[cfg(test)]
    pub fn offset(&self, name: &str) -> Option<u64> {
        self.symbols
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.offset)
    }

    /// Plaintext is reachable: a read and a write function pair exists.
    pub fn hookable(&self) -> bool {
        (self.has("SSL_write") && self.has("SSL_read"))
            || (self.has("SSL_write_ex") && self.has("SSL_read_ex"))
            || (self.shared.iter().any(|s| s.write) && self.shared.iter().any(|s| !s.write))
    }

    /// The data functions of a binary without symbols, as located.
    pub fn from_located(found: &Located) -> ElfTls {
        let mut out = ElfTls {
            located_by: Some(found.method.clone()),
            ..ElfTls::default()
        };
        match found.flavor {
            Flavor::BoringSsl => {
                for (name, e) in [("SSL_write", &found.write), ("SSL_read", &found.read)] {
                    out.symbols.push(SslSymbol {
                        name,
                        offset: e.offset,
                        probe: e.probe,
                    });
                }
            }
            Flavor::OpenSsl3 => {
                for (write, e) in [(true, &found.write), (false, &found.read)] {
                    out.shared.push(SharedImpl {
                        write,
                        flags: write && found.write_has_flags,
                        entry: e.offset,
                        probe: e.probe,
                    });
                }
            }
        }
        out
    }
}

/// Reads what matters for TLS hooking from an ELF file, lazily.
pub fn inspect_elf(path: &Path) -> io::Result<ElfTls> {
    let cache = ReadCache::new(File::open(path)?);
    let elf =
        object::File::parse(&cache).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let mut out = ElfTls {
        go: [".go.buildinfo", ".gopclntab", ".note.go.buildid"]
            .iter()
            .any(|n| elf.section_by_name(n).is_some()),
        ..ElfTls::default()
    };
    // File-backed segments, to turn a symbol's address into a file offset.
    let segments: Vec<(u64, u64, u64, u64)> = elf
        .segments()
        .map(|s| {
            let (off, fsize) = s.file_range();
            (s.address(), s.size(), off, fsize)
        })
        .collect();
    for sym in elf.dynamic_symbols() {
        if sym.is_undefined()
            || sym.kind() != SymbolKind::Text
            || !(sym.is_global() || sym.is_weak())
        {
            continue;
        }
        let Ok(name) = sym.name() else { continue };
        let Some(&known) = SSL_FUNCTIONS.iter().find(|&&f| f == name) else {
            continue;
        };
        if out.has(known) {
            continue; // an older symbol version of the same function
        }
        let addr = sym.address();
        let offset = segments
            .iter()
            .find(|&&(va, size, _, fsize)| addr >= va && addr - va < size.min(fsize))
            .map(|&(va, _, off, _)| addr - va + off);
        if let Some(offset) = offset {
            out.symbols.push(SslSymbol {
                name: known,
                offset,
                probe: offset,
            });
        }
    }
    out.symbols
        .sort_by_key(|s| SSL_FUNCTIONS.iter().position(|&f| f == s.name));
    if elf.architecture() == Architecture::X86_64 {
        place_x86_probes(&mut out, &elf, &cache);
    }
    Ok(out)
}

/// Moves probes where the kernel need not single-step (see
/// [`crate::probe_sites`]).
fn place_x86_probes<'d>(
    out: &mut ElfTls,
    elf: &object::File<'d, &'d ReadCache<File>>,
    cache: &'d ReadCache<File>,
) {
    let text: Vec<std::ops::Range<u64>> = elf
        .segments()
        .filter(|s| matches!(s.flags(), SegmentFlags::Elf { p_flags } if p_flags & object::elf::PF_X != 0))
        .map(|s| {
            let (off, size) = s.file_range();
            off..off + size
        })
        .collect();
    let file_len = cache.len().unwrap_or(0);
    let code = |off: u64| {
        let len = file_len.saturating_sub(off).min(CODE_WINDOW as u64);
        cache.read_bytes_at(off, len).ok()
    };
    for sym in &mut out.symbols {
        if let Some(c) = code(sym.offset) {
            sym.probe = probe_point(c, sym.offset).0;
        }
    }
    let offset = |name| {
        out.symbols
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.offset)
    };
    let mut shared = Vec::new();
    for (write, ex, plain) in [
        (true, "SSL_write_ex", "SSL_write"),
        (false, "SSL_read_ex", "SSL_read"),
    ] {
        let Some(ex) = offset(ex) else { continue };
        let pair = PublicPair {
            ex,
            plain: offset(plain),
        };
        if let Some((entry, probe)) = shared_impl(&pair, &text, code) {
            shared.push(SharedImpl {
                write,
                flags: false,
                entry,
                probe,
            });
        }
    }
    out.shared = shared;
}

/// TLS implementations we can recognise but not hook with the OpenSSL probes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoHookReason {
    /// Go's crypto/tls: no OpenSSL functions are ever called.
    Go,
    /// A TLS library linked statically without exported `SSL_write`.
    Static(&'static str),
    /// BoringSSL or OpenSSL linked statically, whose data functions could
    /// not be located without symbols: the library and why.
    NotLocated(&'static str, String),
    /// GnuTLS (e.g. Debian's libcurl-gnutls used by git).
    GnuTls,
    /// Mozilla NSS (libssl3.so / libnss3.so).
    Nss,
}

/// A file whose TLS traffic will not be captured, for the end-of-run warning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unhookable {
    pub mapped_path: PathBuf,
    pub reason: NoHookReason,
}

impl NoHookReason {
    /// The name the cache keeps for a marker reason.
    fn marker(&self) -> String {
        match self {
            NoHookReason::Go => "Go".into(),
            NoHookReason::Static(lib) | NoHookReason::NotLocated(lib, _) => lib.to_string(),
            NoHookReason::GnuTls => "GnuTLS".into(),
            NoHookReason::Nss => "NSS".into(),
        }
    }

    fn from_marker(name: &str) -> Option<NoHookReason> {
        if name == "Go" {
            return Some(NoHookReason::Go);
        }
        MARKERS
            .iter()
            .find(|(_, lib)| *lib == name)
            .map(|(_, lib)| NoHookReason::Static(lib))
    }
}

impl fmt::Display for Unhookable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.mapped_path.display();
        match &self.reason {
            NoHookReason::Go => write!(f, "{p} is a Go program: its crypto/tls has no OpenSSL calls to hook, TLS plaintext is not captured"),
            NoHookReason::Static(lib) => write!(f, "{p} carries {lib} (linked statically, no exported SSL functions): TLS plaintext through it is not captured"),
            NoHookReason::NotLocated(lib, why) => write!(f, "{p} links {lib} statically with no symbols and its TLS functions were not located ({why}): TLS plaintext through it is not captured"),
            NoHookReason::GnuTls => write!(f, "{p} is GnuTLS: TLS through it is not captured (only OpenSSL-compatible libraries are hooked)"),
            NoHookReason::Nss => write!(f, "{p} is Mozilla NSS: TLS through it is not captured (only OpenSSL-compatible libraries are hooked)"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetKind {
    /// The process's main executable (e.g. node with its own OpenSSL).
    Executable,
    /// A shared library (libssl.so.*, or any other file exporting SSL_*).
    Library,
}

/// A file to attach the TLS uprobes to.
#[derive(Clone, Debug)]
pub struct TlsTarget {
    /// Path to give the kernel: reachable from the recorder's mount namespace
    /// (`/proc/PID/root/...` for another namespace, `/proc/PID/map_files/...`
    /// for a deleted file).
    pub path: PathBuf,
    /// The path as the process sees it, for reports.
    pub mapped_path: PathBuf,
    pub id: FileId,
    pub kind: TargetKind,
    pub tls: Arc<ElfTls>,
}

/// Result of scanning one process.
#[derive(Clone, Debug, Default)]
pub struct Discovery {
    pub targets: Vec<TlsTarget>,
    pub unhookable: Vec<Unhookable>,
}

/// One file-backed line of /proc/PID/maps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapEntry {
    pub start: u64,
    pub end: u64,
    pub exec: bool,
    pub id: FileId,
    pub path: String,
    pub deleted: bool,
}

/// Parses /proc/PID/maps text; anonymous and pseudo mappings are skipped.
pub fn parse_maps(text: &str) -> Vec<MapEntry> {
    let mut out = Vec::new();
    for line in text.lines() {
        // start-end perms offset dev inode path (the path may contain spaces)
        let mut rest = line;
        let mut field = || {
            let t = rest.trim_start();
            let end = t.find(' ').unwrap_or(t.len());
            let (f, r) = t.split_at(end);
            rest = r;
            f
        };
        let (range, perms, _off, dev, inode) = (field(), field(), field(), field(), field());
        let path = rest.trim_start();
        if !path.starts_with('/') {
            continue;
        }
        let (Some((s, e)), Some((maj, min)), Ok(ino)) = (
            range.split_once('-'),
            dev.split_once(':'),
            inode.parse::<u64>(),
        ) else {
            continue;
        };
        let (Ok(start), Ok(end), Ok(dev_major), Ok(dev_minor)) = (
            u64::from_str_radix(s, 16),
            u64::from_str_radix(e, 16),
            u32::from_str_radix(maj, 16),
            u32::from_str_radix(min, 16),
        ) else {
            continue;
        };
        if ino == 0 {
            continue;
        }
        let (path, deleted) = match path.strip_suffix(" (deleted)") {
            Some(p) => (p, true),
            None => (path, false),
        };
        out.push(MapEntry {
            start,
            end,
            exec: perms.as_bytes().get(2) == Some(&b'x'),
            id: FileId {
                dev_major,
                dev_minor,
                ino,
            },
            path: path.to_string(),
            deleted,
        });
    }
    out
}

/// What an executable without exported SSL functions offers.
#[derive(Clone, Debug, Default)]
pub struct ExecutableTls {
    /// Its located data functions, with the file they were found in, kept
    /// open: the probes attach through `/proc/self/fd/N`, to exactly the
    /// inode that was analysed, whatever its path names by then.
    pub located: Option<(Arc<ElfTls>, Arc<File>)>,
    /// The TLS stacks it carries that stay unhooked.
    pub reasons: Vec<NoHookReason>,
}

/// A path that names exactly this open file (`/proc/self/fd/N`), whatever
/// its own path names by now: reads and attaches go through it.
pub fn fd_path(file: &File) -> PathBuf {
    use std::os::fd::AsRawFd;
    PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()))
}

/// Scans processes for TLS targets, caching per-file results across scans.
#[derive(Default)]
pub struct TlsScanner {
    files: HashMap<FileId, Option<Arc<ElfTls>>>,
    /// Executables without exported SSL functions: what was located in
    /// them, and what stays unhooked.
    executables: HashMap<FileId, ExecutableTls>,
    /// Where located offsets persist between runs.
    cache_dir: Option<PathBuf>,
    /// Whether a process that runs a binary being analysed is held: not
    /// for the processes found running when recording starts (their first
    /// requests are long gone), only for those seen at their exec.
    holding: bool,
    /// The recorder's own mount namespace, read once (scans run per exec).
    self_mnt_ns: Option<Option<PathBuf>>,
}

impl TlsScanner {
    #[cfg(test)]
    pub fn new() -> TlsScanner {
        TlsScanner::default()
    }

    /// From now on, hold a process while the binary it runs is analysed.
    pub fn hold_new_executables(&mut self) {
        self.holding = true;
    }

    /// A scanner that keeps located offsets of stripped binaries in `dir`.
    pub fn with_cache_dir(dir: Option<PathBuf>) -> TlsScanner {
        TlsScanner {
            cache_dir: dir,
            ..TlsScanner::default()
        }
    }

    /// Finds hookable TLS in `pid` (whose libraries may load later: rescan
    /// after exec and when a traced process starts connecting).
    pub fn discover(&mut self, pid: u32) -> io::Result<Discovery> {
        let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))?;
        let entries = parse_maps(&maps);
        let self_ns = self
            .self_mnt_ns
            .get_or_insert_with(|| std::fs::read_link("/proc/self/ns/mnt").ok());
        let root = foreign_root(pid, self_ns.as_deref());
        let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
            .ok()
            .map(|p| {
                let s = p.to_string_lossy().into_owned();
                s.strip_suffix(" (deleted)")
                    .map(str::to_string)
                    .unwrap_or(s)
            });
        let mut d = Discovery::default();
        let mut seen: Vec<FileId> = Vec::new();
        let mut exe_entry: Option<(MapEntry, PathBuf)> = None;
        for e in &entries {
            // Code lives in executable mappings; data files are never targets.
            if !e.exec || seen.contains(&e.id) {
                continue;
            }
            seen.push(e.id);
            let path = access_path(pid, e, root.as_deref());
            let is_exe = exe.as_deref() == Some(e.path.as_str());
            if let Some(reason) = library_reason(&e.path) {
                d.unhookable.push(Unhookable {
                    mapped_path: e.path.clone().into(),
                    reason,
                });
                continue;
            }
            let tls = self
                .files
                .entry(e.id)
                .or_insert_with(|| inspect_elf(&path).ok().map(Arc::new))
                .clone();
            let Some(tls) = tls else { continue };
            if tls.hookable() {
                d.targets.push(TlsTarget {
                    path: path.clone(),
                    mapped_path: e.path.clone().into(),
                    id: e.id,
                    kind: if is_exe {
                        TargetKind::Executable
                    } else {
                        TargetKind::Library
                    },
                    tls,
                });
            } else if is_exe {
                exe_entry = Some((e.clone(), path));
            }
        }
        if let Some((e, path)) = exe_entry {
            // The mapping's own file (no path can be swapped under it), else
            // the path, if it still names the mapped file.
            let mapped = format!("/proc/{pid}/map_files/{:x}-{:x}", e.start, e.end);
            let file = File::open(&mapped)
                .or_else(|_| File::open(&path))
                .ok()
                .filter(|f| identity(f) == Some(e.id));
            let Some(file) = file else {
                tracing::warn!(
                    "{}: not the file PID {pid} maps (replaced?): not analysed",
                    e.path
                );
                return Ok(d);
            };
            let running = self.holding.then_some(pid);
            let ExecutableTls { located, reasons } = self.executable(e.id, file, running);
            let had_library = !d.targets.is_empty();
            if let Some((tls, file)) = located {
                d.targets.push(TlsTarget {
                    path: fd_path(&file),
                    mapped_path: e.path.clone().into(),
                    id: e.id,
                    kind: TargetKind::Executable,
                    tls,
                });
            }
            if !had_library {
                for reason in reasons {
                    d.unhookable.push(Unhookable {
                        mapped_path: e.path.clone().into(),
                        reason,
                    });
                }
            }
        }
        Ok(d)
    }
}

/// An executable without exported SSL functions: its statically linked
/// BoringSSL or OpenSSL 3 located, and the TLS stacks it carries that stay
/// unhooked. Large binaries (a 400 MB agent takes about a second) are
/// analysed once and cached in `cache_dir` across runs; while one is
/// analysed, the process `running` it is held.
fn analyse_executable(file: File, cache_dir: Option<&Path>, running: Option<u32>) -> ExecutableTls {
    // Every read goes through the one open file.
    let path = &fd_path(&file);
    let large = file.metadata().is_ok_and(|m| m.len() >= HOLD_MIN_BYTES);
    let markers = || exe_reasons(path).iter().map(NoHookReason::marker).collect();
    let started = std::time::Instant::now();
    let looked_up = if large {
        stripped::lookup(path, cache_dir, markers, || running.and_then(Held::stop))
    } else {
        stripped::lookup(path, None, markers, || None::<Held>)
    };
    let (analysis, source) = match looked_up {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!("{}: not analysed: {e}", path.display());
            return ExecutableTls::default();
        }
    };
    let mut reasons: Vec<NoHookReason> = analysis
        .markers
        .iter()
        .filter_map(|m| NoHookReason::from_marker(m))
        .collect();
    let locatable = |r: &NoHookReason| matches!(r, NoHookReason::Static(lib) if stripped::LOCATABLE.contains(lib));
    match analysis.located {
        None => ExecutableTls {
            located: None,
            reasons,
        },
        Some(Ok(found)) => {
            tracing::info!(
                "{}: TLS data functions located ({source:?}, {:.0?}): {}",
                path.display(),
                started.elapsed(),
                found.method
            );
            reasons.retain(|r| !locatable(r));
            ExecutableTls {
                located: Some((Arc::new(ElfTls::from_located(&found)), Arc::new(file))),
                reasons,
            }
        }
        Some(Err(why)) => {
            for r in &mut reasons {
                if let NoHookReason::Static(lib) = *r {
                    if locatable(r) {
                        *r = NoHookReason::NotLocated(lib, why.0.clone());
                    }
                }
            }
            ExecutableTls {
                located: None,
                reasons,
            }
        }
    }
}

impl TlsScanner {
    /// What an executable without exported SSL functions offers (analysed
    /// once per file): its located TLS, and the stacks that stay unhooked.
    /// `running`: the process already running it, held while it is
    /// analysed (None before the command starts).
    pub fn executable(&mut self, id: FileId, file: File, running: Option<u32>) -> ExecutableTls {
        let cache_dir = self.cache_dir.as_deref();
        self.executables
            .entry(id)
            .or_insert_with(|| analyse_executable(file, cache_dir, running))
            .clone()
    }
}

/// Binaries smaller than this are analysed in milliseconds: never held.
const HOLD_MIN_BYTES: u64 = 16 << 20;

/// A process kept stopped (SIGSTOP) while the binary it runs is analysed;
/// continued when dropped. Signals go through a pidfd, so a process that
/// died meanwhile is not confused with one that reused its number; one
/// already stopped is left alone, since continuing it would undo someone
/// else's stop.
struct Held {
    pidfd: std::os::fd::OwnedFd,
    pid: u32,
    since: std::time::Instant,
}

impl Held {
    fn stop(pid: u32) -> Option<Held> {
        use std::os::fd::FromRawFd;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The state follows the command name's closing parenthesis.
        let state = stat.rsplit_once(") ")?.1.chars().next()?;
        if matches!(state, 'T' | 't') {
            return None;
        }
        // SAFETY: pidfd_open(2) takes a pid and flags; the result is a new
        // descriptor we own, or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        let fd = i32::try_from(fd).ok().filter(|&fd| fd >= 0)?;
        // SAFETY: fd was just returned to us and is owned by nothing else.
        let pidfd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
        let held = Held {
            pidfd,
            pid,
            since: std::time::Instant::now(),
        };
        held.signal(libc::SIGSTOP).then_some(held)
    }

    fn signal(&self, sig: i32) -> bool {
        use std::os::fd::AsRawFd;
        // SAFETY: pidfd_send_signal(2) on our pidfd, no siginfo.
        unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.pidfd.as_raw_fd(),
                sig,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            ) == 0
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.signal(libc::SIGCONT);
        tracing::info!(
            "held PID {} for {:.0?} while locating the TLS functions of its binary",
            self.pid,
            self.since.elapsed()
        );
    }
}

/// The (device, inode) of an open file, as /proc/PID/maps shows it.
fn identity(file: &File) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    let md = file.metadata().ok()?;
    Some(FileId {
        dev_major: libc::major(md.dev()),
        dev_minor: libc::minor(md.dev()),
        ino: md.ino(),
    })
}

/// `/proc/PID/root` when the process sees another filesystem tree (another
/// mount namespace or a chroot); None when its paths are ours.
fn foreign_root(pid: u32, self_mnt_ns: Option<&Path>) -> Option<PathBuf> {
    let same_ns = self_mnt_ns.is_some()
        && self_mnt_ns
            == std::fs::read_link(format!("/proc/{pid}/ns/mnt"))
                .ok()
                .as_deref();
    let same_root = std::fs::read_link(format!("/proc/{pid}/root"))
        .ok()
        .as_deref()
        == Some(Path::new("/"));
    if same_ns && same_root {
        None
    } else {
        Some(PathBuf::from(format!("/proc/{pid}/root")))
    }
}

fn access_path(pid: u32, e: &MapEntry, root: Option<&Path>) -> PathBuf {
    if e.deleted {
        // The path now names another file (or none); the mapping still has the old one.
        return PathBuf::from(format!("/proc/{pid}/map_files/{:x}-{:x}", e.start, e.end));
    }
    match root {
        Some(r) => r.join(e.path.trim_start_matches('/')),
        None => PathBuf::from(&e.path),
    }
}

/// Known non-OpenSSL TLS libraries, by file name.
fn library_reason(path: &str) -> Option<NoHookReason> {
    let base = path.rsplit('/').next().unwrap_or(path);
    if base.starts_with("libgnutls.so") {
        Some(NoHookReason::GnuTls)
    } else if base.starts_with("libssl3.so") || base.starts_with("libnss3.so") {
        Some(NoHookReason::Nss)
    } else {
        None
    }
}

/// Why an executable without exported SSL functions may still do TLS.
fn exe_reasons(path: &Path) -> Vec<NoHookReason> {
    let Ok(tls) = inspect_elf(path) else {
        return Vec::new();
    };
    if tls.go {
        return vec![NoHookReason::Go];
    }
    scan_markers(path).unwrap_or_default()
}

/// Strings that identify a statically linked TLS stack, searched in the
/// read-only data of the file (panic paths, version strings).
const MARKERS: [(&[u8], &str); 4] = [
    (b"rustls", "rustls"),
    (b"BoringSSL", "BoringSSL"),
    (b"OpenSSL 3.", "OpenSSL"),
    (b"OpenSSL 1.", "OpenSSL"),
];
/// Bound the scan of huge binaries: version strings sit in .rodata early on.
const MAX_SCAN: u64 = 512 << 20;

fn scan_markers(path: &Path) -> io::Result<Vec<NoHookReason>> {
    let file = File::open(path)?;
    let ranges: Vec<(u64, u64)> = {
        let cache = ReadCache::new(File::open(path)?);
        let elf = object::File::parse(&cache)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        elf.sections()
            .filter(|s| {
                matches!(
                    s.kind(),
                    SectionKind::ReadOnlyData | SectionKind::ReadOnlyString | SectionKind::Data
                )
            })
            .filter_map(|s| s.file_range())
            .collect()
    };
    let mut found: Vec<NoHookReason> = Vec::new();
    let mut budget = MAX_SCAN;
    const BLOCK: usize = 1 << 20;
    const OVERLAP: usize = 16;
    let mut buf = vec![0u8; BLOCK + OVERLAP];
    for (start, len) in ranges {
        let mut pos = 0u64;
        let mut carry = 0usize;
        while pos < len && budget > 0 {
            let want = (BLOCK as u64).min(len - pos).min(budget) as usize;
            let n = file.read_at(&mut buf[carry..carry + want], start + pos)?;
            if n == 0 {
                break;
            }
            let hay = &buf[..carry + n];
            for (needle, name) in MARKERS {
                let r = NoHookReason::Static(name);
                if !found.contains(&r) && contains(hay, needle) {
                    found.push(r);
                }
            }
            // Keep a tail so a marker across blocks is still found.
            let keep = OVERLAP.min(hay.len());
            let tail_start = hay.len() - keep;
            buf.copy_within(tail_start..tail_start + keep, 0);
            carry = keep;
            pos += n as u64;
            budget -= n as u64;
        }
    }
    // BoringSSL builds also say "OpenSSL" in places: report the specific one.
    if found.contains(&NoHookReason::Static("BoringSSL")) {
        found.retain(|r| *r != NoHookReason::Static("OpenSSL"));
    }
    Ok(found)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(hay, needle).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIBSSL: &str = "/usr/lib/x86_64-linux-gnu/libssl.so.3";

    #[test]
    fn maps_lines_parse_including_spaces_and_deleted() {
        let text = "\
55d1c0a00000-55d1c0a02000 r--p 00000000 fe:00 247030                     /usr/bin/cat
55d1c0a02000-55d1c0a07000 r-xp 00002000 fe:00 247030                     /usr/bin/cat
7f00aa000000-7f00aa100000 r-xp 00000000 00:2a 991                        /opt/my app/libssl.so.3 (deleted)
7ffd5e1f0000-7ffd5e211000 rw-p 00000000 00:00 0                          [stack]
7f00ab000000-7f00ab001000 rw-p 00000000 00:00 0
";
        let m = parse_maps(text);
        assert_eq!(m.len(), 3);
        assert_eq!(
            m[1].id,
            FileId {
                dev_major: 0xfe,
                dev_minor: 0,
                ino: 247030
            }
        );
        assert!(m[1].exec && !m[0].exec);
        assert_eq!(m[2].path, "/opt/my app/libssl.so.3");
        assert!(m[2].deleted);
        assert_eq!((m[2].start, m[2].end), (0x7f00aa000000, 0x7f00aa100000));
        // Garbage never panics.
        for junk in ["", "x", "1-2 r-xp 0 zz:yy 5 /a", "-\n--\n- - - - - /"] {
            let _ = parse_maps(junk);
        }
    }

    #[test]
    fn system_libssl_exports_everything_we_hook() {
        if !available(LIBSSL, Path::new(LIBSSL).exists()) {
            return;
        }
        let t = inspect_elf(Path::new(LIBSSL)).unwrap();
        for f in [
            "SSL_write",
            "SSL_read",
            "SSL_write_ex",
            "SSL_read_ex",
            "SSL_set_fd",
            "SSL_ctrl",
            "SSL_shutdown",
            "SSL_free",
        ] {
            assert!(t.has(f), "{f} missing");
        }
        assert!(!t.has("SSL_set_tlsext_host_name"), "a macro in OpenSSL");
        assert!(t.hookable() && !t.go);
        let size = std::fs::metadata(LIBSSL).unwrap().len();
        for s in &t.symbols {
            assert!(s.offset > 0 && s.offset < size);
        }
        // Offsets land in an executable, file-backed segment.
        let cache = ReadCache::new(File::open(LIBSSL).unwrap());
        let elf = object::File::parse(&cache).unwrap();
        let exec: Vec<(u64, u64)> = elf
            .segments()
            .filter(
                |s| matches!(s.flags(), object::SegmentFlags::Elf { p_flags } if p_flags & 1 != 0),
            )
            .map(|s| s.file_range())
            .collect();
        for s in &t.symbols {
            assert!(
                exec.iter().any(|&(o, n)| s.offset >= o && s.offset < o + n),
                "{s:?}"
            );
        }
        // Debian's OpenSSL 3 starts both data pairs with `sub $n,%rsp`, which
        // the kernel single-steps: each pair is probed at the internal
        // function it forwards to.
        assert_eq!(t.shared.len(), 2, "{:?}", t.shared);
        for shared in &t.shared {
            assert!(t.symbols.iter().all(|s| s.offset != shared.entry));
            assert!(exec
                .iter()
                .any(|&(o, n)| shared.entry >= o && shared.entry < o + n));
            for name in shared.covers() {
                assert!(t.covered_by_shared(name));
            }
        }
        assert!(!t.covered_by_shared("SSL_ctrl"));
    }

    #[test]
    fn node_exports_its_own_openssl() {
        let node = Path::new("/usr/bin/node");
        if !available("/usr/bin/node", node.exists()) {
            return;
        }
        let t = inspect_elf(node).unwrap();
        eprintln!(
            "node SSL_write at file offset {:#x}",
            t.offset("SSL_write").unwrap()
        );
        assert!(t.hookable());
        assert!(t.has("SSL_read_ex") && t.has("SSL_set_fd"));
        // Its functions start with `push %rbp`, which the kernel emulates.
        assert!(t.shared.is_empty());
        assert!(t.symbols.iter().all(|s| s.probe == s.offset));
    }

    #[test]
    fn plain_binaries_have_nothing() {
        let t = inspect_elf(Path::new("/bin/ls")).unwrap();
        assert!(t.symbols.is_empty() && !t.hookable() && !t.go);
        assert!(exe_reasons(Path::new("/bin/ls")).is_empty());
        // Not ELF at all.
        assert!(inspect_elf(Path::new("/etc/passwd")).is_err());
        // Python's _ssl extension imports SSL_write; importing is not defining.
        let out = std::process::Command::new("python3")
            .args(["-c", "import _ssl; print(_ssl.__file__)"])
            .output();
        let ssl_module = out
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        if available(
            "python3 with a shared _ssl module",
            ssl_module.ends_with(".so"),
        ) {
            assert!(inspect_elf(Path::new(&ssl_module))
                .unwrap()
                .symbols
                .is_empty());
        }
    }

    use crate::available;

    fn binary_with_section(dir: &Path, section: &str, contents: &[u8]) -> std::path::PathBuf {
        let name = section.trim_start_matches('.');
        agentsight_testkit::binary_with_section(dir, "/bin/true", name, section, contents)
    }

    #[test]
    fn go_and_rustls_are_explained() {
        if !available("objcopy", Path::new("/usr/bin/objcopy").exists()) {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let go = binary_with_section(dir.path(), ".go.buildinfo", b"\xff Go buildinf:");
        assert!(inspect_elf(&go).unwrap().go);
        assert_eq!(exe_reasons(&go), vec![NoHookReason::Go]);
        let rustls = binary_with_section(
            dir.path(),
            ".rodata.tls",
            b"panicked in rustls-0.23.31/src/conn.rs",
        );
        let r = exe_reasons(&rustls);
        assert_eq!(r, vec![NoHookReason::Static("rustls")]);
        let msg = Unhookable {
            mapped_path: rustls.clone(),
            reason: NoHookReason::Static("rustls"),
        }
        .to_string();
        assert!(
            msg.contains("carries rustls") && msg.contains("not captured"),
            "{msg}"
        );
        // and a real one where the machine has it
        for real_go in [
            "/usr/bin/kubectl",
            "/usr/local/bin/docker",
            "/usr/local/bin/terraform",
        ] {
            if Path::new(real_go).exists() {
                assert_eq!(
                    exe_reasons(Path::new(real_go)),
                    vec![NoHookReason::Go],
                    "{real_go}"
                );
            }
        }
    }

    #[test]
    fn marker_search_handles_edges() {
        assert!(contains(b"xxrustls", b"rustls"));
        assert!(!contains(b"rustl", b"rustls"));
        assert!(contains(b"rustls", b"rustls"));
        assert!(!contains(b"", b"r"));
    }

    /// Starts a program that prints "ok\n" once its libraries are loaded and
    /// then waits on stdin; None when the program cannot be started.
    fn spawn_ready(program: &str, args: &[&str]) -> Option<std::process::Child> {
        use std::io::Read;
        let spawned = std::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn();
        if !available(program, spawned.is_ok()) {
            return None;
        }
        let mut child = spawned.ok()?;
        let mut line = [0u8; 3];
        child
            .stdout
            .as_mut()?
            .read_exact(&mut line)
            .expect("the child says it is ready");
        Some(child)
    }

    #[test]
    fn discover_finds_libssl_in_a_python_process() {
        let Some(mut child) = spawn_ready(
            "python3",
            &[
                "-c",
                "import ssl, sys; sys.stdout.write('ok\\n'); sys.stdout.flush(); sys.stdin.read()",
            ],
        ) else {
            return;
        };
        let mut scanner = TlsScanner::new();
        let d = scanner.discover(child.id()).unwrap();
        let again = scanner.discover(child.id()).unwrap();
        drop(child.stdin.take());
        let _ = child.wait();
        let libssl: Vec<_> = d
            .targets
            .iter()
            .filter(|t| t.mapped_path.to_string_lossy().contains("libssl.so"))
            .collect();
        assert_eq!(libssl.len(), 1, "{d:?}");
        assert_eq!(libssl[0].kind, TargetKind::Library);
        assert!(libssl[0].tls.has("SSL_read_ex"));
        assert_eq!(again.targets.len(), d.targets.len());
        assert!(d.unhookable.is_empty());
    }

    #[test]
    fn discover_reports_node_as_executable_target() {
        if !available("/usr/bin/node", Path::new("/usr/bin/node").exists()) {
            return;
        }
        let Some(mut child) = spawn_ready(
            "/usr/bin/node",
            &[
                "-e",
                "process.stdout.write('ok\\n'); process.stdin.resume()",
            ],
        ) else {
            return;
        };
        let d = TlsScanner::new().discover(child.id()).unwrap();
        drop(child.stdin.take());
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            d.targets
                .iter()
                .any(|t| t.kind == TargetKind::Executable && t.tls.has("SSL_write")),
            "{d:?}"
        );
    }

    #[test]
    fn discover_on_self_has_no_tls() {
        let d = TlsScanner::new().discover(std::process::id()).unwrap();
        assert!(d.targets.is_empty());
        assert!(TlsScanner::new().discover(u32::MAX).is_err());
    }
}
