//! The TLS data functions of binaries that carry BoringSSL or OpenSSL 3
//! statically and export no symbols: every Bun executable (Claude Code's
//! native build among them) and Codex.
//!
//! No table of offsets per release: the anchors are what the library leaves
//! in any build of itself.
//! - BoringSSL raises errors as `ERR_put_error(ERR_LIB_SSL, …, reason,
//!   __FILE__, __LINE__)`. In `ssl/ssl_lib.cc`, only `SSL_write` raises
//!   `SSL_R_UNINITIALIZED`, `SSL_R_SSL_HANDSHAKE_FAILURE` and
//!   `SSL_R_BAD_LENGTH`; `ssl_read_impl` raises the first two only, and
//!   `SSL_read` (with `SSL_peek` inlined in every build seen) refuses QUIC
//!   with `ERR_R_SHOULD_NOT_HAVE_BEEN_CALLED` and calls it, or inlines it
//!   too. The reason sits in
//!   the argument register just before the one holding the file name, which
//!   covers both the 4- and the 5-argument `ERR_put_error` of past releases.
//! - OpenSSL 3 passes `__func__` to `ERR_set_debug`, so the names
//!   `ssl_read_internal` / `ssl_write_internal` are referenced from inside
//!   the functions of those names, which every public read and write form
//!   calls. How `SSL_read` / `SSL_write` (found the same way) call them tells
//!   where the byte count goes (3.3 added a `flags` argument to the write).
//!
//! A function's entry is the nearest direct-call target below the
//! reference from which a recursive decode reaches the reference on an
//! instruction boundary: the probe lands on an instruction the compiler
//! emitted, never inside one. Anything ambiguous is refused with a reason.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::rc::Rc;

use crate::probe_sites::{probe_point, CODE_WINDOW};
use iced_x86::{
    Decoder, DecoderOptions, FlowControl, Instruction, InstructionInfoFactory, Mnemonic, OpAccess,
    OpKind, Register,
};
use object::{Object, ObjectSection, ObjectSegment, SegmentFlags};

/// Which library a binary carries, from its own strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    BoringSsl,
    OpenSsl3,
}

/// Where the data functions of a stripped binary are, as file offsets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    pub flavor: Flavor,
    pub read: Entry,
    pub write: Entry,
    /// OpenSSL: the internal write takes `flags` before the `size_t *`
    /// (OpenSSL 3.3 and later).
    pub write_has_flags: bool,
    /// How they were found, for the manifest.
    pub method: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Virtual address and file offset of the function's first instruction.
    pub va: u64,
    pub offset: u64,
    /// File offset of the probe (past an `endbr64`, see
    /// [`crate::probe_sites`]).
    pub probe: u64,
}

/// Why nothing was located.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotLocated(pub String);

impl std::fmt::Display for NotLocated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

const SSL_R_UNINITIALIZED: u64 = 226;
const SSL_R_SSL_HANDSHAKE_FAILURE: u64 = 215;
const SSL_R_BAD_LENGTH: u64 = 111;
const ERR_R_SHOULD_NOT_HAVE_BEEN_CALLED: u64 = 66;
const BORINGSSL_ERR_LIB_SSL: u64 = 16;

/// Farthest a function entry is looked for below a reference, and the most
/// a function is decoded: BoringSSL's `SSL_read` with its inlined helpers is
/// about 2 KiB.
const FUNCTION_SPAN: u64 = 64 << 10;
const MAX_INSTRUCTIONS: usize = 20_000;
/// Call targets below a reference tried as its function's entry.
const ENTRY_TRIES: usize = 8;
/// Instructions decoded over all candidate functions of one binary (the
/// largest real analysis, Codex, decodes far fewer), references to the
/// anchors, and anchor strings: past these the binary is refused.
const DECODE_BUDGET: usize = 2_000_000;
const MAX_REFERENCES: usize = 4096;
const MAX_ANCHORS: usize = 16;

struct Segment {
    va: u64,
    offset: u64,
    bytes: Vec<u8>,
    exec: bool,
}

/// The loadable bytes of an x86-64 ELF file.
pub struct Image {
    segments: Vec<Segment>,
    /// Function starts and lengths from `.eh_frame`, sorted.
    fdes: Vec<(u64, u64)>,
    /// Instructions the analysis may still decode: a hostile binary gets a
    /// bounded amount of work, then a refusal.
    budget: std::cell::Cell<usize>,
    /// Functions decoded so far, by entry (None: not an entry).
    decoded: std::cell::RefCell<HashMap<u64, Option<Rc<Function>>>>,
    /// Direct-call targets among the last candidate entries, sorted.
    call_targets: std::cell::RefCell<Vec<u64>>,
}

impl Image {
    fn new(segments: Vec<Segment>, fdes: Vec<(u64, u64)>) -> Image {
        Image {
            segments,
            fdes,
            budget: std::cell::Cell::new(DECODE_BUDGET),
            decoded: Default::default(),
            call_targets: Default::default(),
        }
    }

    fn out_of_budget(&self) -> bool {
        self.budget.get() == 0
    }

    pub fn read(path: &Path) -> io::Result<Image> {
        let file = File::open(path)?;
        let cache = object::ReadCache::new(File::open(path)?);
        let elf = object::File::parse(&cache).map_err(invalid)?;
        let file_len = file.metadata()?.len();
        Image::from_elf(&elf, |offset, size| {
            // Headers are the binary's word: never read past the file (the
            // kernel maps lazily, so a segment may claim more than is there).
            let size = size.min(file_len.saturating_sub(offset));
            let mut bytes = vec![0u8; usize::try_from(size).map_err(invalid)?];
            file.read_exact_at(&mut bytes, offset)?;
            Ok(bytes)
        })
    }

    /// An image from the bytes of an ELF file (the fuzz target's entry).
    pub fn parse(data: &[u8]) -> io::Result<Image> {
        let elf = object::File::parse(data).map_err(invalid)?;
        Image::from_elf(&elf, |offset, size| {
            usize::try_from(offset)
                .ok()
                .zip(usize::try_from(size).ok())
                .and_then(|(o, n)| data.get(o..o.checked_add(n)?))
                .map(<[u8]>::to_vec)
                .ok_or_else(|| invalid("segment past the end of the file"))
        })
    }

    fn from_elf<'d, R: object::ReadRef<'d>>(
        elf: &object::File<'d, R>,
        read: impl Fn(u64, u64) -> io::Result<Vec<u8>>,
    ) -> io::Result<Image> {
        if elf.architecture() != object::Architecture::X86_64 {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "only x86-64 code is analysed",
            ));
        }
        let fdes = elf
            .section_by_name(".eh_frame")
            .and_then(|h| Some((h.address(), h.data().ok()?)))
            .map(|(va, data)| eh_frame_functions(va, data))
            .unwrap_or_default();
        // Overlapping segments would multiply the memory and the scans.
        let ranges: Vec<(u64, u64)> = elf.segments().map(|s| s.file_range()).collect();
        let total: u64 = ranges.iter().map(|r| r.1).fold(0, u64::saturating_add);
        let span = ranges
            .iter()
            .map(|r| r.0.saturating_add(r.1))
            .max()
            .unwrap_or(0);
        if total > span.saturating_mul(2) {
            return Err(invalid("loadable segments overlap"));
        }
        let mut segments = Vec::new();
        for s in elf.segments() {
            let (offset, size) = s.file_range();
            if size == 0 {
                continue;
            }
            let exec = matches!(s.flags(), SegmentFlags::Elf { p_flags } if p_flags & object::elf::PF_X != 0);
            segments.push(Segment {
                va: s.address(),
                offset,
                bytes: read(offset, size)?,
                exec,
            });
        }
        Ok(Image::new(segments, fdes))
    }

    /// An image of one code and one data segment (tests and the fuzz
    /// target drive the analysis with it, no ELF needed).
    pub fn from_code(va: u64, code: &[u8], data: &[u8], data_va: u64) -> Image {
        let segments = vec![
            Segment {
                va,
                offset: 0x1000,
                bytes: code.to_vec(),
                exec: true,
            },
            Segment {
                va: data_va,
                offset: 0x100000,
                bytes: data.to_vec(),
                exec: false,
            },
        ];
        Image::new(segments, Vec::new())
    }

    fn code_at(&self, va: u64) -> Option<(&Segment, &[u8])> {
        self.segments
            .iter()
            .filter(|s| s.exec)
            .find(|s| va >= s.va && va - s.va < s.bytes.len() as u64)
            .map(|s| (s, &s.bytes[(va - s.va) as usize..]))
    }

    /// Whether some `call rel32` targets `va`: known for entries near a
    /// reference, as [`Image::entries_below`] found them (one scan of the
    /// code serves both).
    fn called_directly(&self, va: u64) -> bool {
        self.call_targets.borrow().binary_search(&va).is_ok()
    }

    /// The length of the function `.eh_frame` says starts at `va`.
    fn fde_at(&self, va: u64) -> Option<u64> {
        self.fdes
            .binary_search_by_key(&va, |f| f.0)
            .ok()
            .map(|i| self.fdes[i].1)
    }

    fn file_offset(&self, va: u64) -> Option<u64> {
        self.code_at(va).map(|(s, _)| va - s.va + s.offset)
    }

    /// Addresses of NUL-terminated strings equal to `needle`, or ending
    /// with it when `suffix` (a source path with the build's prefix).
    fn strings(&self, needle: &[u8], suffix: bool) -> Vec<u64> {
        let mut out = Vec::new();
        let mut wanted = needle.to_vec();
        wanted.push(0);
        for s in &self.segments {
            for at in memchr::memmem::find_iter(&s.bytes, &wanted) {
                let start = if suffix {
                    s.bytes[..at]
                        .iter()
                        .rposition(|&b| b == 0)
                        .map_or(0, |p| p + 1)
                } else if at == 0 || s.bytes[at - 1] == 0 {
                    at
                } else {
                    continue;
                };
                out.push(s.va.wrapping_add(start as u64));
            }
        }
        out
    }

    /// Instructions that put one of `targets` (sorted) in a register: `lea
    /// r64, [rip+d]` and, in non-PIE code, `mov r32, imm32`. Each candidate
    /// is decoded to confirm it; returns (instruction address, target), at
    /// most MAX_REFERENCES + 1 of them.
    fn references(&self, targets: &[u64]) -> Vec<(u64, u64)> {
        let (Some(&lo), Some(&hi)) = (targets.iter().min(), targets.iter().max()) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for s in self.segments.iter().filter(|s| s.exec) {
            let b = &s.bytes;
            for p in 3..(b.len() + 1).saturating_sub(4) {
                let v = u32::from_le_bytes([b[p], b[p + 1], b[p + 2], b[p + 3]]);
                let rip_target =
                    s.va.wrapping_add(p as u64 + 4)
                        .wrapping_add(v as i32 as i64 as u64);
                let start = if (lo..=hi).contains(&rip_target)
                    && b[p - 2] == 0x8d
                    && b[p - 1] & 0xc7 == 0x05
                    && (0x48..=0x4f).contains(&b[p - 3])
                {
                    p - 3
                } else if (lo..=hi).contains(&u64::from(v)) && (0xb8..=0xbf).contains(&b[p - 1]) {
                    if b[p - 2] == 0x41 {
                        p - 2
                    } else {
                        p - 1
                    }
                } else {
                    continue;
                };
                let va = s.va.wrapping_add(start as u64);
                if let Some(target) = loaded_address(&decode_one(&b[start..], va)) {
                    if targets.binary_search(&target).is_ok() {
                        out.push((va, target));
                        if out.len() > MAX_REFERENCES {
                            return out;
                        }
                    }
                }
            }
        }
        out
    }

    /// Candidate function entries in `[site - FUNCTION_SPAN, site]` for
    /// some site in `sites` (sorted): targets of direct calls and of `lea
    /// r64, [rip+d]` (functions whose address is taken), and the function
    /// starts `.eh_frame` lists where the binary has them. (Jump targets
    /// are left out: most are inside functions.)
    fn entries_below(&self, sites: &[u64]) -> Vec<u64> {
        let near = |target: u64| {
            let i = sites.partition_point(|&x| x < target);
            sites.get(i).is_some_and(|&x| x - target <= FUNCTION_SPAN)
        };
        let mut out: Vec<u64> = self.fdes.iter().map(|f| f.0).filter(|&t| near(t)).collect();
        let mut called = Vec::new();
        for s in self.segments.iter().filter(|s| s.exec) {
            let b = &s.bytes;
            let rel32_at = |p: usize| {
                b.get(p..p + 4)
                    .map(|r| i32::from_le_bytes([r[0], r[1], r[2], r[3]]) as i64 as u64)
            };
            for p in memchr::memchr2_iter(0xe8, 0x8d, b) {
                let target = match b[p] {
                    0xe8 => {
                        rel32_at(p + 1).map(|r| s.va.wrapping_add(p as u64 + 5).wrapping_add(r))
                    }
                    _ if p > 0
                        && (0x48..=0x4f).contains(&b[p - 1])
                        && b.get(p + 1).is_some_and(|m| m & 0xc7 == 0x05) =>
                    {
                        rel32_at(p + 2).map(|r| s.va.wrapping_add(p as u64 + 6).wrapping_add(r))
                    }
                    _ => None,
                };
                if let Some(t) = target.filter(|&t| near(t)) {
                    out.push(t);
                    if b[p] == 0xe8 {
                        called.push(t);
                    }
                }
            }
        }
        called.sort_unstable();
        called.dedup();
        *self.call_targets.borrow_mut() = called;
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Recursive decode from `entry` (memoised), within FUNCTION_SPAN above
    /// it and within its FDE when it has one. None when it meets invalid
    /// code, overlapping instructions, or falls off its end: not an entry.
    fn function(&self, entry: u64) -> Option<Rc<Function>> {
        if let Some(known) = self.decoded.borrow().get(&entry) {
            return known.clone();
        }
        let decoded = self.decode_function(entry).map(Rc::new);
        self.decoded.borrow_mut().insert(entry, decoded.clone());
        decoded
    }

    fn decode_function(&self, entry: u64) -> Option<Function> {
        let (_, code) = self.code_at(entry)?;
        // A call that never returns falls through into the next function:
        // the FDE gives the exact end, or at least where the next one starts.
        let next_start = match self.fde_at(entry) {
            Some(len) => entry.saturating_add(len),
            None => self.fdes[self.fdes.partition_point(|f| f.0 <= entry)..]
                .first()
                .map_or(u64::MAX, |f| f.0),
        };
        let end = entry
            .saturating_add((code.len() as u64).min(FUNCTION_SPAN))
            .min(next_start);
        let mut insns: BTreeMap<u64, Instruction> = BTreeMap::new();
        let mut work = vec![entry];
        while let Some(mut ip) = work.pop() {
            // A branch out of the function is a (conditional) tail call.
            if ip < entry || ip >= end {
                continue;
            }
            loop {
                if insns.contains_key(&ip) {
                    break;
                }
                if ip == next_start {
                    break;
                }
                // Falling off the end, or more code than any TLS function.
                if insns.len() >= MAX_INSTRUCTIONS || ip >= end {
                    return None;
                }
                let left = self.budget.get();
                if left == 0 {
                    return None;
                }
                self.budget.set(left - 1);
                let insn = decode_one(&code[(ip - entry) as usize..(end - entry) as usize], ip);
                if insn.is_invalid() {
                    return None;
                }
                // The previous instruction must end before this one, and this
                // one before the next already decoded.
                let overlaps_prev = insns
                    .range(..ip)
                    .next_back()
                    .is_some_and(|(_, p)| p.next_ip() > ip);
                let overlaps_next = insns
                    .range(ip..)
                    .next()
                    .is_some_and(|(&n, _)| n < insn.next_ip());
                if overlaps_prev || overlaps_next {
                    return None;
                }
                insns.insert(ip, insn);
                match insn.flow_control() {
                    FlowControl::Next | FlowControl::Call | FlowControl::IndirectCall => {
                        ip = insn.next_ip()
                    }
                    FlowControl::ConditionalBranch => {
                        work.push(insn.near_branch_target());
                        ip = insn.next_ip();
                    }
                    FlowControl::UnconditionalBranch if insn.op0_kind() == OpKind::NearBranch64 => {
                        let t = insn.near_branch_target();
                        if t >= entry && t < end {
                            ip = t;
                        } else {
                            break;
                        }
                    }
                    _ => break,
                }
            }
        }
        Some(Function { entry, insns })
    }

    /// The FDE whose range holds `va`.
    fn fde_covering(&self, va: u64) -> Option<(u64, u64)> {
        let i = self.fdes.partition_point(|f| f.0 <= va);
        i.checked_sub(1)
            .map(|i| self.fdes[i])
            .filter(|&(start, len)| va - start < len)
    }

    /// The function containing the instruction at `site`. Where `.eh_frame`
    /// covers the site, only the start of that FDE is a candidate. Else the
    /// candidates are the nearest call or `lea` targets below it that look
    /// like a compiler's entries (16-byte aligned after `int3` or `nop`
    /// padding: a stray 0xe8 byte inside some instruction can name an
    /// address in the middle of a function), and exactly one of them must
    /// decode to the site: two that do are ambiguous, refused.
    fn function_containing(&self, site: u64, entries: &[u64]) -> Option<Rc<Function>> {
        if let Some((start, _)) = self.fde_covering(site) {
            return self.function(start).filter(|f| f.insns.contains_key(&site));
        }
        let looks_like_entry = |e: u64| {
            e % 16 == 0
                && e.checked_sub(1)
                    .and_then(|before| self.code_at(before))
                    .is_some_and(|(_, c)| matches!(c[0], 0xcc | 0x90))
        };
        let below = entries.partition_point(|&e| e <= site);
        let reaching: Vec<Rc<Function>> = entries[..below]
            .iter()
            .rev()
            .take_while(|&&e| site - e <= FUNCTION_SPAN)
            .filter(|&&e| looks_like_entry(e))
            .take(ENTRY_TRIES)
            .filter_map(|&e| self.function(e))
            .filter(|f| f.insns.contains_key(&site))
            .collect();
        match <[_; 1]>::try_from(reaching) {
            Ok([f]) => Some(f),
            Err(_) => None,
        }
    }
}

/// Function ranges (start, length) from the FDEs of `.eh_frame` (LSB
/// Core, "Exception Frames"): exact bounds where the compiler wrote unwind
/// information. Records in an encoding not handled here are skipped.
pub fn eh_frame_functions(section_va: u64, data: &[u8]) -> Vec<(u64, u64)> {
    fn uleb(data: &[u8], at: &mut usize) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *data.get(*at)?;
            *at += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    // A pointer in DW_EH_PE encoding `enc` at `at` (absolute or pc-relative).
    let read_ptr = |enc: u8, at: &mut usize| -> Option<u64> {
        let bytes = |n: usize, at: &mut usize| -> Option<&[u8]> {
            let b = data.get(*at..*at + n)?;
            *at += n;
            Some(b)
        };
        let pos = section_va.wrapping_add(*at as u64);
        let value = match enc & 0x0f {
            0x00 | 0x04 | 0x0c => u64::from_le_bytes(bytes(8, at)?.try_into().ok()?),
            0x03 => u64::from(u32::from_le_bytes(bytes(4, at)?.try_into().ok()?)),
            0x0b => i32::from_le_bytes(bytes(4, at)?.try_into().ok()?) as i64 as u64,
            _ => return None,
        };
        match enc & 0x70 {
            0x00 => Some(value),
            0x10 => Some(pos.wrapping_add(value)),
            _ => None,
        }
    };
    let mut cie_encodings: std::collections::HashMap<usize, u8> = Default::default();
    let mut out = Vec::new();
    let mut at = 0usize;
    while let Some(len) = data.get(at..at + 4) {
        let len = u32::from_le_bytes(len.try_into().unwrap_or_default()) as usize;
        if len == 0 || len == 0xffff_ffff {
            break; // terminator, or 64-bit DWARF (not written for x86-64 code)
        }
        let body = at + 4;
        let end = body.saturating_add(len);
        let Some(id) = data.get(body..body + 4) else {
            break;
        };
        let id = u32::from_le_bytes(id.try_into().unwrap_or_default()) as usize;
        if end > data.len() {
            break;
        }
        let mut p = body + 4;
        if id == 0 {
            // CIE: version, augmentation, alignments, return register, then
            // the augmentation data where 'R' gives the FDE pointer encoding.
            let Some(&version) = data.get(p).filter(|_| p < end) else {
                at = end;
                continue;
            };
            p += 1;
            let aug_end = data[p..end].iter().position(|&b| b == 0).map(|n| p + n);
            if let Some(aug_end) = aug_end {
                let aug = &data[p..aug_end];
                p = aug_end + 1;
                let mut enc = Some(0u8);
                let parsed = (|| {
                    uleb(data, &mut p)?;
                    uleb(data, &mut p)?; // sleb: only skipped
                    if version == 1 {
                        p += 1;
                    } else {
                        uleb(data, &mut p)?;
                    }
                    if aug.first() == Some(&b'z') {
                        uleb(data, &mut p)?;
                        for &c in &aug[1..] {
                            match c {
                                b'R' => {
                                    // DW_EH_PE_indirect: not a function address.
                                    enc = Some(*data.get(p)?).filter(|e| e & 0x80 == 0);
                                    p += 1;
                                }
                                b'P' => {
                                    let penc = *data.get(p)?;
                                    p += 1;
                                    read_ptr(penc, &mut p)?;
                                }
                                b'L' => p += 1,
                                b'S' | b'B' => {}
                                _ => return None,
                            }
                        }
                    }
                    Some(())
                })();
                if parsed.is_some() {
                    if let Some(enc) = enc {
                        cie_encodings.insert(at, enc);
                    }
                }
            }
        } else if let Some(&enc) = body.checked_sub(id).and_then(|cie| cie_encodings.get(&cie)) {
            if let (Some(start), Some(range)) =
                (read_ptr(enc, &mut p), read_ptr(enc & 0x0f, &mut p))
            {
                if start != 0 && range != 0 {
                    out.push((start, range));
                }
            }
        }
        at = end;
    }
    out.sort_unstable();
    out
}

fn invalid(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

fn decode_one(code: &[u8], ip: u64) -> Instruction {
    let window = &code[..code.len().min(16)];
    Decoder::with_ip(64, window, ip, DecoderOptions::NONE).decode()
}

/// The address a `lea r64, [rip+d]` or `mov r32, imm32` puts in its register.
fn loaded_address(insn: &Instruction) -> Option<u64> {
    match insn.mnemonic() {
        Mnemonic::Lea if insn.is_ip_rel_memory_operand() => Some(insn.ip_rel_memory_address()),
        Mnemonic::Mov
            if insn.op0_kind() == OpKind::Register && insn.op1_kind() == OpKind::Immediate32 =>
        {
            Some(u64::from(insn.immediate32()))
        }
        _ => None,
    }
}

/// A decoded function: its instructions by address.
struct Function {
    entry: u64,
    insns: BTreeMap<u64, Instruction>,
}

const ARG_REGS: [Register; 6] = [
    Register::RDI,
    Register::RSI,
    Register::RDX,
    Register::RCX,
    Register::R8,
    Register::R9,
];

impl Function {
    /// The straight-line run of instructions around `site` up to and
    /// including the next call or branch.
    fn block(&self, site: u64) -> Vec<&Instruction> {
        let mut before: Vec<&Instruction> = self
            .insns
            .range(..site)
            .rev()
            .take_while(|(_, i)| i.flow_control() == FlowControl::Next)
            .map(|(_, i)| i)
            .collect();
        before.reverse();
        let mut after = Vec::new();
        for (_, i) in self.insns.range(site..) {
            after.push(i);
            if i.flow_control() != FlowControl::Next {
                break;
            }
        }
        before.extend(after);
        before
    }

    /// The constant the block around `site` leaves in `reg` at its call:
    /// the last instruction that writes the register must be `mov r32, imm`
    /// or `xor r, r`; any other writer means no constant.
    fn constant_in(&self, site: u64, reg: Register) -> Option<u64> {
        let block = self.block(site);
        let until = block
            .iter()
            .position(|i| i.flow_control() != FlowControl::Next)
            .unwrap_or(block.len());
        let mut info = InstructionInfoFactory::new();
        let last = block[..until].iter().rev().find(|i| {
            info.info(i).used_registers().iter().any(|u| {
                u.register().full_register() == reg
                    && matches!(
                        u.access(),
                        OpAccess::Write
                            | OpAccess::ReadWrite
                            | OpAccess::CondWrite
                            | OpAccess::ReadCondWrite
                    )
            })
        })?;
        match (last.mnemonic(), last.op1_kind()) {
            (Mnemonic::Mov, OpKind::Immediate32 | OpKind::Immediate32to64)
                if last.op0_kind() == OpKind::Register =>
            {
                Some(last.immediate(1))
            }
            (Mnemonic::Xor, OpKind::Register) if last.op1_register() == last.op0_register() => {
                Some(0)
            }
            _ => None,
        }
    }

    /// Direct calls to `target`, by address.
    fn calls_to(&self, target: u64) -> Vec<u64> {
        self.insns
            .iter()
            .filter(|(_, i)| {
                i.flow_control() == FlowControl::Call
                    && i.op0_kind() == OpKind::NearBranch64
                    && i.near_branch_target() == target
            })
            .map(|(&a, _)| a)
            .collect()
    }

    /// The argument registers holding a stack address (an out-parameter)
    /// in the block that ends with the call at `call`.
    fn stack_address_args(&self, call: u64) -> Vec<Register> {
        let Some(insn) = self.insns.get(&call) else {
            return Vec::new();
        };
        let start = self
            .insns
            .range(..call)
            .rev()
            .take_while(|(_, i)| i.flow_control() == FlowControl::Next)
            .last()
            .map_or(call, |(&a, _)| a);
        let mut out = Vec::new();
        for (_, i) in self.insns.range(start..insn.ip()) {
            if i.op0_kind() != OpKind::Register {
                continue;
            }
            let reg = i.op0_register().full_register();
            if !ARG_REGS.contains(&reg) {
                continue;
            }
            let stack_base = |r: Register| matches!(r, Register::RSP | Register::RBP);
            let is_stack_address = match i.mnemonic() {
                Mnemonic::Lea => stack_base(i.memory_base()),
                Mnemonic::Mov => i.op1_kind() == OpKind::Register && stack_base(i.op1_register()),
                _ => false,
            };
            out.retain(|&r| r != reg);
            if is_stack_address {
                out.push(reg);
            }
        }
        out
    }
}

/// Which library `image` carries, from the strings each one always has.
pub fn flavor(image: &Image) -> Option<Flavor> {
    if !image.strings(b"ssl/ssl_lib.cc", true).is_empty() {
        Some(Flavor::BoringSsl)
    } else if !image.strings(b"ssl_write_internal", false).is_empty() {
        Some(Flavor::OpenSsl3)
    } else {
        None
    }
}

pub fn locate(image: &Image) -> Result<Located, NotLocated> {
    match flavor(image) {
        Some(Flavor::BoringSsl) => locate_boringssl(image),
        Some(Flavor::OpenSsl3) => locate_openssl3(image),
        None => Err(NotLocated(
            "no BoringSSL or OpenSSL 3 source anchors in the binary".into(),
        )),
    }
}

/// Functions, each with the references to anchors inside it.
type Referencing = Vec<(Rc<Function>, Vec<(u64, u64)>)>;

/// The functions that reference any of `anchors`, each with the sites.
fn functions_referencing(image: &Image, anchors: &[u64]) -> Result<Referencing, NotLocated> {
    let mut anchors = anchors.to_vec();
    anchors.sort_unstable();
    anchors.dedup();
    if anchors.len() > MAX_ANCHORS {
        return Err(NotLocated(format!(
            "{} copies of the anchor strings: refused",
            anchors.len()
        )));
    }
    let mut refs = image.references(&anchors);
    if refs.len() > MAX_REFERENCES {
        return Err(NotLocated(format!(
            "more than {MAX_REFERENCES} references to the anchor strings: refused"
        )));
    }
    refs.sort_unstable();
    let sites: Vec<u64> = refs.iter().map(|r| r.0).collect();
    let entries = image.entries_below(&sites);
    let mut out: Referencing = Vec::new();
    for &(site, target) in &refs {
        if let Some((_, sites)) = out.iter_mut().find(|(f, _)| f.insns.contains_key(&site)) {
            sites.push((site, target));
            continue;
        }
        if let Some(f) = image.function_containing(site, &entries) {
            out.push((f, vec![(site, target)]));
        }
    }
    if image.out_of_budget() {
        return Err(NotLocated(format!(
            "analysis budget of {DECODE_BUDGET} decoded instructions exceeded: refused"
        )));
    }
    Ok(out)
}

fn locate_boringssl(image: &Image) -> Result<Located, NotLocated> {
    let files = image.strings(b"ssl/ssl_lib.cc", true);
    let functions = functions_referencing(image, &files)?;
    if functions.is_empty() {
        return Err(NotLocated(
            "BoringSSL: no code references ssl/ssl_lib.cc".into(),
        ));
    }
    // The reasons each function raises: the argument before the file name.
    let reasons = |f: &Function, sites: &[(u64, u64)]| -> Vec<u64> {
        let mut out = Vec::new();
        for &(site, _) in sites {
            let Some(file_reg) = f.insns.get(&site).map(|i| i.op0_register().full_register())
            else {
                continue;
            };
            let Some(pos) = ARG_REGS.iter().position(|&r| r == file_reg) else {
                continue;
            };
            if pos < 2 || f.constant_in(site, Register::RDI) != Some(BORINGSSL_ERR_LIB_SSL) {
                continue;
            }
            if let Some(reason) = f.constant_in(site, ARG_REGS[pos - 1]) {
                out.push(reason);
            }
        }
        out
    };
    let mut writes = Vec::new();
    let mut read_impls = Vec::new();
    let mut quic_checks = Vec::new();
    for (f, sites) in &functions {
        let r = reasons(f, sites);
        let has = |x| r.contains(&x);
        let core = has(SSL_R_UNINITIALIZED) && has(SSL_R_SSL_HANDSHAKE_FAILURE);
        if core && has(SSL_R_BAD_LENGTH) {
            writes.push(f.entry);
        } else if core {
            read_impls.push((f, has(ERR_R_SHOULD_NOT_HAVE_BEEN_CALLED)));
        } else if has(ERR_R_SHOULD_NOT_HAVE_BEEN_CALLED) {
            quic_checks.push(f);
        }
    }
    // `ssl_read_impl` is inlined into `SSL_read` (whose `SSL_peek` part
    // refuses QUIC connections), or called from it.
    let reads: Vec<u64> = match read_impls.as_slice() {
        [(f, true)] => vec![f.entry],
        [(imp, false)] => quic_checks
            .iter()
            .filter(|f| !f.calls_to(imp.entry).is_empty())
            .map(|f| f.entry)
            .collect(),
        _ => read_impls.iter().map(|(f, _)| f.entry).collect(),
    };
    let read = one(image, "SSL_read", &reads)?;
    let write = one(image, "SSL_write", &writes)?;
    // Callers reach both with a direct call (an FDE start alone could be
    // a split-off cold part).
    for (name, e) in [("SSL_read", &read), ("SSL_write", &write)] {
        if !image.called_directly(e.va) {
            return Err(NotLocated(format!(
                "{name}: {:#x} is never called directly",
                e.va
            )));
        }
    }
    Ok(Located {
        flavor: Flavor::BoringSsl,
        read,
        write,
        write_has_flags: false,
        method: format!(
            "BoringSSL located by its ssl_lib.cc error sites ({} functions raise SSL errors; \
             SSL_write raises reasons {SSL_R_UNINITIALIZED}/{SSL_R_SSL_HANDSHAKE_FAILURE}/{SSL_R_BAD_LENGTH}, \
             SSL_read {SSL_R_UNINITIALIZED}/{SSL_R_SSL_HANDSHAKE_FAILURE}/{ERR_R_SHOULD_NOT_HAVE_BEEN_CALLED})",
            functions.len()
        ),
    })
}

fn one(image: &Image, name: &str, entries: &[u64]) -> Result<Entry, NotLocated> {
    match entries {
        [va] => {
            let (offset, code) = image
                .file_offset(*va)
                .zip(image.code_at(*va))
                .ok_or_else(|| NotLocated(format!("{name}: entry outside the file")))?;
            let window = &code.1[..code.1.len().min(CODE_WINDOW)];
            Ok(Entry {
                va: *va,
                offset,
                probe: probe_point(window, offset).0,
            })
        }
        [] => Err(NotLocated(format!(
            "{name}: no function has its error signature"
        ))),
        _ => Err(NotLocated(format!(
            "{name}: {} functions have its error signature",
            entries.len()
        ))),
    }
}

fn locate_openssl3(image: &Image) -> Result<Located, NotLocated> {
    let names = [
        "ssl_read_internal",
        "ssl_write_internal",
        "SSL_read",
        "SSL_write",
    ];
    let anchors: Vec<Vec<u64>> = names
        .iter()
        .map(|n| image.strings(n.as_bytes(), false))
        .collect();
    let all: Vec<u64> = anchors.iter().flatten().copied().collect();
    let functions = functions_referencing(image, &all)?;
    // The one function that names itself `name`.
    let named = |i: usize| -> Result<&Function, NotLocated> {
        let found: Vec<&Function> = functions
            .iter()
            .filter(|(_, sites)| sites.iter().any(|(_, t)| anchors[i].contains(t)))
            .map(|(f, _)| &**f)
            .collect();
        match found.as_slice() {
            [f] => Ok(f),
            [] => Err(NotLocated(format!(
                "OpenSSL: no function raises errors as {}",
                names[i]
            ))),
            _ => Err(NotLocated(format!(
                "OpenSSL: {} functions raise errors as {} (inlined copies)",
                found.len(),
                names[i]
            ))),
        }
    };
    let (read_int, write_int, read, write) = (named(0)?, named(1)?, named(2)?, named(3)?);
    if read_int.entry == write_int.entry || read.entry == write.entry {
        return Err(NotLocated(
            "OpenSSL: the read and write functions are one".into(),
        ));
    }
    // The public form calls the internal one, passing &bytes as the last
    // argument: 4th for the read; 4th, or 5th after `flags`, for the write.
    let out_param = |public: &Function, internal: &Function, name: &str| {
        let calls = public.calls_to(internal.entry);
        let args: Vec<Vec<Register>> = calls
            .iter()
            .map(|&c| public.stack_address_args(c))
            .collect();
        match args.as_slice() {
            [a] if a.contains(&Register::R8) => Ok(5),
            [a] if a.contains(&Register::RCX) => Ok(4),
            _ => Err(NotLocated(format!(
                "OpenSSL: {name} does not call its internal function once with a byte-count \
                 out-parameter ({} calls)",
                calls.len()
            ))),
        }
    };
    if out_param(read, read_int, "SSL_read")? != 4 {
        return Err(NotLocated(
            "OpenSSL: ssl_read_internal takes an unknown argument list".into(),
        ));
    }
    let write_has_flags = out_param(write, write_int, "SSL_write")? == 5;
    let entry = |f: &Function, name: &str| one(image, name, &[f.entry]);
    Ok(Located {
        flavor: Flavor::OpenSsl3,
        read: entry(read_int, "ssl_read_internal")?,
        write: entry(write_int, "ssl_write_internal")?,
        write_has_flags,
        method: format!(
            "OpenSSL 3 located by the __func__ names its error sites pass \
             (ssl_read_internal, ssl_write_internal{}), checked against how SSL_read and SSL_write call them",
            if write_has_flags { " with flags" } else { "" }
        ),
    })
}

/// Bumped whenever the method changes, so older cached results are redone.
const LOCATOR_VERSION: u32 = 2;

/// Where located offsets are kept between runs: `$AGENTSIGHT_CACHE_DIR`;
/// else, for root (the recorder), `/var/cache/agentsight/tls-locations`,
/// never a directory under `$HOME` that `sudo -E` may have left pointing
/// at a user's files; else the XDG cache directory.
pub fn default_cache_dir() -> Option<std::path::PathBuf> {
    let env = |k| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(std::path::PathBuf::from)
    };
    if let Some(dir) = env("AGENTSIGHT_CACHE_DIR") {
        return Some(dir);
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return Some("/var/cache/agentsight/tls-locations".into());
    }
    env("XDG_CACHE_HOME")
        .map(|d| d.join("agentsight"))
        .or_else(|| env("HOME").map(|d| d.join(".cache/agentsight")))
        .map(|d| d.join("tls-locations"))
}

/// A cache entry steers where probes go in every process that runs the
/// binary, so it is only read from, and written to, a directory this user
/// owns, that no one else may write, that is not a symbolic link (created
/// 0700 when missing) and whose ancestors no one else can rearrange; an
/// entry file must be ours and not writable by others either.
fn trusted(path: &Path, dir: bool) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path).is_ok_and(|m| {
        // SAFETY: geteuid has no preconditions.
        m.uid() == unsafe { libc::geteuid() }
            && m.mode() & 0o022 == 0
            && if dir { m.is_dir() } else { m.is_file() }
    })
}

fn trusted_cache_dir(dir: &Path) -> Option<&Path> {
    use std::os::unix::fs::DirBuilderExt;
    if std::fs::symlink_metadata(dir).is_err() {
        let _ = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir);
    }
    // Nor may anyone else be able to swap a directory on the way to it:
    // each ancestor is root's or ours, and closed to others unless sticky.
    let ancestors_safe = dir.ancestors().skip(1).all(|a| {
        use std::os::unix::fs::MetadataExt;
        a.as_os_str().is_empty()
            || std::fs::metadata(a).is_ok_and(|m| {
                // SAFETY: geteuid has no preconditions.
                (m.uid() == 0 || m.uid() == unsafe { libc::geteuid() })
                    && (m.mode() & 0o022 == 0 || m.mode() & 0o1000 != 0)
            })
    });
    if ancestors_safe && trusted(dir, true) {
        Some(dir)
    } else {
        tracing::warn!(
            "TLS location cache {} is not a directory owned by this user and closed to others: not used",
            dir.display()
        );
        None
    }
}

/// The cache key of a binary: a SHA-256 over its identity (device, inode,
/// size, modification and change times) and its GNU build id, or (when it
/// has none, as Codex) 64 KiB samples at 16 places, so a 400 MB
/// file is not read whole. A hit is still compared with the code at every
/// located entry (see [`lookup`]).
fn cache_key(path: &Path) -> io::Result<String> {
    use sha2::{Digest, Sha256};
    use std::os::unix::fs::MetadataExt;
    let file = File::open(path)?;
    let md = file.metadata()?;
    let len = md.len();
    let mut h = Sha256::new();
    // The file's identity: a copy, a rewrite or a rename over it is
    // another key, and no one can make a file share another's without
    // writing to that file itself.
    for v in [
        md.dev(),
        md.ino(),
        len,
        md.mtime() as u64,
        md.mtime_nsec() as u64,
        md.ctime() as u64,
        md.ctime_nsec() as u64,
    ] {
        h.update(v.to_le_bytes());
    }
    let cache = object::ReadCache::new(File::open(path)?);
    let build_id = object::File::parse(&cache)
        .ok()
        .and_then(|elf| elf.build_id().ok().flatten().map(<[u8]>::to_vec));
    match build_id {
        Some(id) => h.update(&id),
        None => {
            let mut buf = vec![0u8; 64 << 10];
            for i in 0..16u64 {
                let at =
                    (u128::from(len.saturating_sub(buf.len() as u64)) * u128::from(i) / 15) as u64;
                let n = file.read_at(&mut buf, at)?;
                h.update(&buf[..n]);
            }
        }
    }
    Ok(format!("v{LOCATOR_VERSION}-{}", hex(&h.finalize())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes kept per cached entry to recognise the same code on a later run.
const FINGERPRINT: usize = 16;

fn code_fingerprint(file: &File, offset: u64) -> io::Result<String> {
    let mut buf = [0u8; FINGERPRINT];
    file.read_exact_at(&mut buf, offset)?;
    Ok(hex(&buf))
}

/// What is known about one executable: the TLS stacks its strings name
/// (`markers`: "BoringSSL", "OpenSSL", "rustls", "Go"), and, when it carries
/// BoringSSL or OpenSSL, where its data functions are or why they were not
/// found. This is what the cache keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Analysis {
    pub markers: Vec<String>,
    pub located: Option<Result<Located, NotLocated>>,
}

/// The libraries [`locate`] knows, by their marker.
pub const LOCATABLE: [&str; 2] = ["BoringSSL", "OpenSSL"];

const CACHE_MAGIC: &str = "agentsight-tls-location";

fn serialize(file: &File, a: &Analysis) -> io::Result<String> {
    let flat = |s: &str| s.replace(['\n', '\r'], " ");
    let mut out = format!(
        "{CACHE_MAGIC} {LOCATOR_VERSION}\nmarkers {}\n",
        a.markers
            .iter()
            .map(|m| flat(m).replace(',', " "))
            .collect::<Vec<_>>()
            .join(",")
    );
    match &a.located {
        None => {}
        Some(Ok(l)) => {
            out.push_str(&format!(
                "flavor {}\nwrite_has_flags {}\nmethod {}\n",
                match l.flavor {
                    Flavor::BoringSsl => "boringssl",
                    Flavor::OpenSsl3 => "openssl3",
                },
                u8::from(l.write_has_flags),
                flat(&l.method)
            ));
            for (name, e) in [("read", &l.read), ("write", &l.write)] {
                out.push_str(&format!(
                    "{name} {:x} {:x} {:x} {}\n",
                    e.va,
                    e.offset,
                    e.probe,
                    code_fingerprint(file, e.offset)?
                ));
            }
        }
        Some(Err(e)) => out.push_str(&format!("not-located {}\n", flat(&e.0))),
    }
    Ok(out)
}

/// A cached analysis, if the text parses and the code at each located
/// entry is the code that was located.
fn parse_cached(file: &File, text: &str) -> Option<Analysis> {
    let mut lines = text.lines();
    if lines.next()? != format!("{CACHE_MAGIC} {LOCATOR_VERSION}") {
        return None;
    }
    let mut fields: std::collections::HashMap<&str, &str> = Default::default();
    for line in lines {
        let (k, v) = line.split_once(' ').unwrap_or((line, ""));
        fields.insert(k, v);
    }
    let markers = fields
        .get("markers")?
        .split(',')
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .collect();
    let entry = |name: &str| -> Option<Entry> {
        let mut it = fields.get(name)?.split(' ');
        let mut num = || u64::from_str_radix(it.next()?, 16).ok();
        let (va, offset, probe) = (num()?, num()?, num()?);
        let fingerprint = it.next()?;
        (code_fingerprint(file, offset).ok()? == fingerprint).then_some(Entry { va, offset, probe })
    };
    let located = if let Some(why) = fields.get("not-located") {
        Some(Err(NotLocated(why.to_string())))
    } else if let Some(flavor) = fields.get("flavor") {
        Some(Ok(Located {
            flavor: match *flavor {
                "boringssl" => Flavor::BoringSsl,
                "openssl3" => Flavor::OpenSsl3,
                _ => return None,
            },
            read: entry("read")?,
            write: entry("write")?,
            write_has_flags: *fields.get("write_has_flags")? == "1",
            method: fields.get("method")?.to_string(),
        }))
    } else {
        None
    };
    Some(Analysis { markers, located })
}

/// How a result was obtained, for the manifest and benchmarks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Cache,
    Analysis,
}

/// The analysis of the executable at `path`: from `cache_dir` when it
/// holds one whose code still matches, else made now and kept there (when
/// given and writable). `markers` scans the binary for the TLS stacks it
/// names; `hold` runs first when the analysis has to be made, and what it
/// returns lives until the analysis is done (the recorder stops the process
/// running the binary meanwhile).
pub fn lookup<G>(
    path: &Path,
    cache_dir: Option<&Path>,
    markers: impl FnOnce() -> Vec<String>,
    hold: impl FnOnce() -> G,
) -> io::Result<(Analysis, Source)> {
    let file = File::open(path)?;
    let cached_at = cache_dir
        .and_then(trusted_cache_dir)
        .and_then(|dir| Some(dir.join(cache_key(path).ok()?)));
    if let Some(at) = &cached_at {
        if let Some(text) = trusted(at, false)
            .then(|| std::fs::read_to_string(at).ok())
            .flatten()
        {
            if let Some(a) = parse_cached(&file, &text) {
                return Ok((a, Source::Cache));
            }
            tracing::debug!("{}: stale TLS location cache entry, redoing", at.display());
        }
    }
    let _held = hold();
    let markers = markers();
    let located = if markers.iter().any(|m| LOCATABLE.contains(&m.as_str())) {
        Some(match Image::read(path) {
            Ok(image) => locate(&image),
            Err(e) => Err(NotLocated(format!("reading the binary: {e}"))),
        })
    } else {
        None
    };
    let analysis = Analysis { markers, located };
    if let Some((at, text)) = cached_at
        .as_ref()
        .and_then(|at| Some((at, serialize(&file, &analysis).ok()?)))
    {
        // Written whole then renamed: a concurrent reader sees all or nothing.
        let tmp = at.with_extension(format!("tmp{}", std::process::id()));
        // create_new: never through a link someone left at the name.
        use std::os::unix::fs::OpenOptionsExt;
        let stored = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
            .and_then(|()| std::fs::rename(&tmp, at));
        if let Err(e) = stored {
            tracing::debug!("TLS location cache {}: {e}", at.display());
            let _ = std::fs::remove_file(&tmp);
        }
    }
    Ok((analysis, Source::Analysis))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A made-up BoringSSL-shaped function: the error call sets its
    /// arguments around `mov ecx, FILE`.
    fn error_site(code: &mut Vec<u8>, reason: u32, file: u32) {
        code.extend([0xb9]);
        code.extend(file.to_le_bytes()); // mov ecx, file
        code.extend([0xbf, 0x10, 0, 0, 0]); // mov edi, 16
        code.extend([0x31, 0xf6]); // xor esi, esi
        code.push(0xba);
        code.extend(reason.to_le_bytes()); // mov edx, reason
        code.extend([0x41, 0xb8, 0x10, 0, 0, 0]); // mov r8d, line
    }

    #[test]
    fn a_synthetic_boringssl_is_located_and_refuses_ambiguity() {
        let data_va = 0x20_0000u64;
        let mut data = b"\0../x/ssl/ssl_lib.cc\0".to_vec();
        data.resize(64, 0);
        let file = (data_va + 1) as u32;
        let code_va = 0x40_0000u64;
        // f(reasons): push rbp; test edi,edi; je +err; pop rbp; ret; err: …; call ERR; pop rbp; ret
        let function = |reasons: &[u32], code: &mut Vec<u8>| -> u64 {
            while code.len() % 16 != 0 {
                code.push(0xcc);
            }
            let entry = code_va + code.len() as u64;
            code.push(0x55);
            for &r in reasons {
                code.extend([0x85, 0xff, 0x74, 0x02, 0x5d, 0xc3]);
                error_site(code, r, file);
                // call ERR_put_error (a `ret` at the start of the code)
                let rel = (code_va as i64 - (code_va + code.len() as u64 + 5) as i64) as i32;
                code.push(0xe8);
                code.extend(rel.to_le_bytes());
            }
            code.extend([0x5d, 0xc3]);
            entry
        };
        let mut code = vec![0xc3];
        code.resize(16, 0xcc);
        // Callers, so each function is a call target.
        let callers_at = code.len();
        code.extend([0u8; 30]);
        let read = function(&[66, 226, 215], &mut code);
        let write = function(&[66, 226, 215, 111], &mut code);
        let other = function(&[226, 0x123], &mut code);
        for (i, t) in [read, write, other].iter().enumerate() {
            let at = callers_at + i * 5;
            code[at] = 0xe8;
            let rel = (*t as i64 - (code_va + at as u64 + 5) as i64) as i32;
            code[at + 1..at + 5].copy_from_slice(&rel.to_le_bytes());
        }
        let image = Image::from_code(code_va, &code, &data, data_va);
        assert_eq!(flavor(&image), Some(Flavor::BoringSsl));
        let found = locate(&image).unwrap();
        assert_eq!((found.read.va, found.write.va), (read, write));
        assert_eq!(found.read.offset, 0x1000 + read - code_va);

        // A second function with the write signature: refused, not guessed.
        let twin = function(&[226, 215, 111], &mut code);
        let at = callers_at + 15;
        code[at] = 0xe8;
        let rel = (twin as i64 - (code_va + at as u64 + 5) as i64) as i32;
        code[at + 1..at + 5].copy_from_slice(&rel.to_le_bytes());
        let image = Image::from_code(code_va, &code, &data, data_va);
        let err = locate(&image).unwrap_err();
        assert!(err.0.contains("SSL_write: 2 functions"), "{err}");
    }

    /// Found by the `binary` fuzz target: a candidate entry at address 0.
    #[test]
    fn an_entry_at_address_zero_is_no_panic() {
        let mut code = vec![0xc3];
        code.resize(16, 0xcc);
        code.extend([0x55, 0x5d, 0xc3]); // push rbp; pop rbp; ret
        let image = Image::from_code(0, &code, b"", 0x9000);
        // Nothing precedes address 0, so it is no padded entry.
        assert!(image.function_containing(0, &[0]).is_none());
        let f = image.function_containing(17, &[0, 16]).unwrap();
        assert_eq!((f.entry, f.insns.len()), (16, 3));
    }

    #[test]
    fn no_anchor_no_guess() {
        let image = Image::from_code(0x1000, &[0xc3; 64], b"\0nothing\0", 0x9000);
        assert_eq!(flavor(&image), None);
        assert!(locate(&image).is_err());
    }

    use crate::available;

    /// A static program linking Debian's libssl.a (OpenSSL 3.0), built with
    /// symbols: the ground truth for the method, which must find the same
    /// functions in its stripped copy. None when gcc or libssl-dev is absent.
    fn static_openssl_program(dir: &Path) -> Option<(std::path::PathBuf, std::path::PathBuf)> {
        let libssl = Path::new("/usr/lib/x86_64-linux-gnu/libssl.a");
        if !available("gcc and libssl-dev (libssl.a)", libssl.exists()) {
            return None;
        }
        let src = dir.join("tls.c");
        std::fs::write(
            &src,
            "#include <openssl/ssl.h>\n\
             int main(int argc, char **argv) {\n\
               SSL *ssl = SSL_new(SSL_CTX_new(TLS_client_method()));\n\
               char buf[16]; size_t n;\n\
               if (argc > 5) { SSL_write(ssl, \"x\", 1); SSL_read(ssl, buf, 16);\n\
                 SSL_write_ex(ssl, \"x\", 1, &n); SSL_read_ex(ssl, buf, 16, &n); }\n\
               return 0;\n\
             }\n",
        )
        .unwrap();
        let with_symbols = dir.join("tls-static");
        let stripped = dir.join("tls-stripped");
        let built = std::process::Command::new("gcc")
            .args(["-O2", "-static", "-o"])
            .arg(&with_symbols)
            .arg(&src)
            .args(["-lssl", "-lcrypto", "-lpthread"])
            .output()
            .expect("gcc runs");
        assert!(
            built.status.success(),
            "{}",
            String::from_utf8_lossy(&built.stderr)
        );
        let status = std::process::Command::new("strip")
            .arg("-o")
            .arg(&stripped)
            .arg(&with_symbols)
            .status()
            .expect("strip runs");
        assert!(status.success());
        Some((with_symbols, stripped))
    }

    fn symbol_address(path: &Path, name: &str) -> u64 {
        use object::ObjectSymbol;
        let data = std::fs::read(path).unwrap();
        let elf = object::File::parse(&*data).unwrap();
        elf.symbols()
            .find(|s| s.name() == Ok(name))
            .unwrap_or_else(|| panic!("{name} in the symbol table"))
            .address()
    }

    #[test]
    fn a_static_openssl_is_located_where_its_symbols_say() {
        let dir = tempfile::tempdir().unwrap();
        let Some((with_symbols, stripped)) = static_openssl_program(dir.path()) else {
            return;
        };
        let truth = (
            symbol_address(&with_symbols, "ssl_read_internal"),
            symbol_address(&with_symbols, "ssl_write_internal"),
        );
        // `.eh_frame` knows the same function starts.
        let image = Image::read(&stripped).unwrap();
        assert!(image.fde_at(truth.0).is_some() && image.fde_at(truth.1).is_some());
        for path in [&with_symbols, &stripped] {
            let found = locate(&Image::read(path).unwrap()).unwrap();
            assert_eq!(found.flavor, Flavor::OpenSsl3);
            assert_eq!((found.read.va, found.write.va), truth, "{}", path.display());
            // OpenSSL 3.0: ssl_write_internal(s, buf, num, &written).
            assert!(!found.write_has_flags);
            // A non-PIE executable: file offset = address - 0x400000.
            assert_eq!(found.read.offset, truth.0 - 0x400000);
        }
        // The bytes the cache fingerprints are the function's own.
        let as_parsed = locate(&Image::parse(&std::fs::read(&stripped).unwrap()).unwrap()).unwrap();
        assert_eq!(as_parsed, locate(&image).unwrap());
    }

    #[test]
    fn analyses_are_cached_and_checked_against_the_code() {
        let dir = tempfile::tempdir().unwrap();
        let Some((_, stripped)) = static_openssl_program(dir.path()) else {
            return;
        };
        let cache = dir.path().join("cache");
        let openssl = || vec!["OpenSSL".to_string(), "rustls".to_string()];
        let holds = std::cell::Cell::new(0);
        let hold = || holds.set(holds.get() + 1);
        let (first, source) = lookup(&stripped, Some(&cache), openssl, hold).unwrap();
        assert_eq!((source, holds.get()), (Source::Analysis, 1));
        assert_eq!(first.markers, openssl());
        assert!(matches!(first.located, Some(Ok(_))), "{first:?}");
        // Cached: the markers are not scanned again, nothing is held.
        let rescanned = || -> Vec<String> { panic!("scanned again") };
        let (again, source) = lookup(&stripped, Some(&cache), rescanned, hold).unwrap();
        assert_eq!((source, &again, holds.get()), (Source::Cache, &first, 1));
        // A cache entry whose code fingerprint no longer matches, or that
        // is garbage, is redone, never trusted.
        let entry = std::fs::read_dir(&cache)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let text = std::fs::read_to_string(&entry).unwrap();
        let tampered: String = text
            .lines()
            .map(|l| match l.strip_prefix("read ") {
                Some(rest) => {
                    let mut f: Vec<&str> = rest.split(' ').collect();
                    let fp = f.pop().unwrap();
                    format!("read {} {}00\n", f.join(" "), &fp[..fp.len() - 2])
                }
                None => format!("{l}\n"),
            })
            .collect();
        assert_ne!(tampered, text);
        for bad in [tampered.as_str(), "garbage", ""] {
            std::fs::write(&entry, bad).unwrap();
            let (redone, source) = lookup(&stripped, Some(&cache), openssl, || ()).unwrap();
            assert_eq!((source, &redone), (Source::Analysis, &first), "{bad:?}");
        }
        // No cache directory: analysed every time.
        assert_eq!(
            lookup(&stripped, None, openssl, || ()).unwrap().1,
            Source::Analysis
        );
        // A directory or entry others may write is never trusted: an entry
        // there could move the probes of every process running the binary.
        use std::os::unix::fs::PermissionsExt;
        let set_mode =
            |p: &Path, m| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
        let source = |dir: &Path| lookup(&stripped, Some(dir), openssl, || ()).unwrap().1;
        assert_eq!(source(&cache), Source::Cache);
        set_mode(&cache, 0o777);
        assert_eq!(source(&cache), Source::Analysis);
        set_mode(&cache, 0o700);
        set_mode(&entry, 0o666);
        assert_eq!(source(&cache), Source::Analysis);
        // (redone, and the rewritten entry is ours again)
        assert_eq!(source(&cache), Source::Cache);
        let linked = dir.path().join("linked-cache");
        std::os::unix::fs::symlink(&cache, &linked).unwrap();
        assert_eq!(source(&linked), Source::Analysis);
        // No BoringSSL/OpenSSL marker: nothing to locate. A failure to
        // locate is cached too, with its reason.
        let plain = Path::new("/bin/true");
        let (none, _) = lookup(plain, Some(&cache), || vec!["rustls".into()], || ()).unwrap();
        assert_eq!(none.located, None);
        let boring = || vec!["BoringSSL".to_string()];
        let other = dir.path().join("cache2");
        let (failed, _) = lookup(plain, Some(&other), boring, || ()).unwrap();
        let (cached, source) = lookup(plain, Some(&other), boring, || ()).unwrap();
        assert_eq!((source, &cached), (Source::Cache, &failed));
        let why = cached.located.unwrap().unwrap_err().0;
        assert!(why.contains("no BoringSSL or OpenSSL 3"), "{why}");
    }

    /// The real binaries of the agents: every release is found by the same
    /// code, on instructions the kernel emulates.
    #[test]
    fn the_agents_stripped_tls_is_located() {
        for (path, flavor) in REAL_BINARIES {
            if !available(path, Path::new(path).is_file()) {
                continue;
            }
            let started = std::time::Instant::now();
            let image = Image::read(Path::new(path)).unwrap();
            let found = locate(&image).unwrap_or_else(|e| panic!("{path}: {e}"));
            eprintln!("{path}: {:.0?}: {found:x?}", started.elapsed());
            assert_eq!(found.flavor, flavor, "{path}");
            assert_ne!(found.read.va, found.write.va);
            for e in [found.read, found.write] {
                let code = image.code_at(e.va).unwrap().1;
                let (probe, emulated) = probe_point(&code[..CODE_WINDOW], e.offset);
                assert_eq!(probe, e.probe);
                assert!(
                    emulated,
                    "{path}: {:#x} starts with {:02x?}",
                    e.va,
                    &code[..8]
                );
                // Called directly, or (OpenSSL) started per `.eh_frame`.
                let called = !image.entries_below(&[e.va]).is_empty();
                assert!(called, "{path}: nothing calls {:#x}", e.va);
            }
            // Codex's OpenSSL is 3.6: the write takes flags.
            assert_eq!(found.write_has_flags, flavor == Flavor::OpenSsl3, "{path}");
        }
    }
}

/// The agent binaries scripts/setup.sh installs, for tests: (path,
/// library). CI has every one.
#[cfg(test)]
pub(crate) const REAL_BINARIES: [(&str, Flavor); 5] = [
    (
        "/root/.cache/agentsight-agents/claude-native-2.1.336/node_modules/@anthropic-ai/claude-code-linux-x64/claude",
        Flavor::BoringSsl,
    ),
    (
        "/root/.cache/agentsight-agents/claude-native-2.1.237/node_modules/@anthropic-ai/claude-code-linux-x64/claude",
        Flavor::BoringSsl,
    ),
    (
        "/root/.cache/agentsight-agents/bun-1.4.5/node_modules/@oven/bun-linux-x64/bin/bun",
        Flavor::BoringSsl,
    ),
    (
        "/root/.cache/agentsight-agents/bun-1.1.30/node_modules/@oven/bun-linux-x64/bin/bun",
        Flavor::BoringSsl,
    ),
    (
        "/root/.cache/agentsight-agents/codex-0.171.0/node_modules/@openai/codex/vendor/x86_64-unknown-linux-musl/bin/codex",
        Flavor::OpenSsl3,
    ),
];
