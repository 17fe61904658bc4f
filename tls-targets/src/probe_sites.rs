//! Where on x86-64 the TLS uprobes go, so the kernel need not single-step.
//!
//! A uprobe replaces the probed instruction with a trap. The kernel then
//! emulates that instruction (a `push` of a register, `call`/`jmp`/`jcc` with a
//! relative target) or executes a copy of it out of line with a single-step,
//! a second trap. On a VM the single-step is a hypervisor exit: 9.5 µs per call
//! on the CI machine, against 0.8 µs for an emulated `push` (see BENCHMARKS.md).
//! Two shapes are common in OpenSSL builds:
//! - CET builds start every function with `endbr64`, which the kernel does not
//!   emulate. It changes neither registers nor the stack, so the probe goes on
//!   the next instruction when that one is emulated: the arguments and the
//!   return address are where they are at entry, which is all a uprobe and a
//!   uretprobe need.
//! - Debian's OpenSSL 3 starts `SSL_read`, `SSL_read_ex` (and the write pair)
//!   with `sub $n,%rsp`. Both forward to one internal function
//!   (`ssl_read_internal(ssl, buf, num, &readbytes)`) that starts with `push`.
//!   When `SSL_read_ex` only adjusts the stack before calling it (so it passes
//!   its four arguments through untouched) and `SSL_read` calls the same
//!   function first, that function is probed instead: one probe pair sees
//!   both public functions' calls, with `_ex` argument semantics.
//!
//! Anything else keeps the probe on the function entry, which is always
//! correct, only slower.

use std::ops::Range;

use iced_x86::{Decoder, DecoderOptions, FlowControl, Mnemonic, OpKind, Register};

/// Bytes read at a function entry: enough for the forwarding prologues above.
pub const CODE_WINDOW: usize = 96;

const ENDBR64: [u8; 4] = [0xf3, 0x0f, 0x1e, 0xfa];

/// Whether x86 uprobes emulate this first instruction (Linux
/// `arch/x86/kernel/uprobes.c`: relative branches and calls since long,
/// `push reg` since 6.9) rather than single-stepping it.
fn kernel_emulates(code: &[u8]) -> bool {
    matches!(
        code,
        [0x50..=0x57, ..]
            | [0x41, 0x50..=0x57, ..]
            | [0xe8 | 0xe9 | 0xeb, ..]
            | [0x70..=0x7f, ..]
            | [0x0f, 0x80..=0x8f, ..]
    )
}

/// Where to probe a function whose code starts with `code` at file offset
/// `entry`, and whether the kernel emulates the instruction there.
pub fn probe_point(code: &[u8], entry: u64) -> (u64, bool) {
    match code.strip_prefix(&ENDBR64) {
        Some(rest) if kernel_emulates(rest) => (entry + ENDBR64.len() as u64, true),
        _ => (entry, kernel_emulates(code)),
    }
}

/// The first direct call on the fall-through path of `code` (decoded at
/// `ip`): its target, and whether every instruction before it only moved the
/// stack pointer down (so the argument registers reach the callee as the
/// caller received them). None when control leaves another way first.
fn first_call(code: &[u8], ip: u64) -> Option<(u64, bool)> {
    let mut decoder = Decoder::with_ip(64, code, ip, DecoderOptions::NONE);
    let mut only_stack = true;
    while decoder.can_decode() {
        let insn = decoder.decode();
        if insn.is_invalid() {
            return None;
        }
        match insn.flow_control() {
            FlowControl::Call if insn.op0_kind() == OpKind::NearBranch64 => {
                return Some((insn.near_branch_target(), only_stack))
            }
            FlowControl::Next | FlowControl::ConditionalBranch => {}
            _ => return None,
        }
        let moves_stack_only = (insn.mnemonic() == Mnemonic::Sub
            && insn.op0_register() == Register::RSP
            && matches!(
                insn.op1_kind(),
                OpKind::Immediate8to64 | OpKind::Immediate32to64
            ))
            || matches!(insn.mnemonic(), Mnemonic::Endbr64 | Mnemonic::Nop);
        only_stack &= moves_stack_only;
    }
    None
}

/// One read or write pair of public functions, as file offsets.
pub struct PublicPair {
    /// `SSL_read_ex` / `SSL_write_ex`.
    pub ex: u64,
    /// `SSL_read` / `SSL_write`, when exported.
    pub plain: Option<u64>,
}

/// The internal function behind `pair`, to probe instead of both public
/// functions: its entry and its probe point (file offsets). None unless the
/// forwarding shape is certain and probing it avoids a single-step.
/// `text` holds the file ranges of executable segments (a call target is
/// only trusted inside the caller's segment, where file offsets and
/// addresses differ by a constant); `code(offset)` reads up to
/// [`CODE_WINDOW`] bytes there.
pub fn shared_impl<'a>(
    pair: &PublicPair,
    text: &[Range<u64>],
    code: impl Fn(u64) -> Option<&'a [u8]>,
) -> Option<(u64, u64)> {
    let ex_code = code(pair.ex)?;
    let plain_code = match pair.plain {
        Some(p) => Some((p, code(p)?)),
        None => None,
    };
    let single_stepped =
        !probe_point(ex_code, pair.ex).1 || plain_code.is_some_and(|(p, c)| !probe_point(c, p).1);
    if !single_stepped {
        return None;
    }
    let (target, passes_args) = first_call(ex_code, pair.ex)?;
    let segment = text.iter().find(|r| r.contains(&pair.ex))?;
    if !passes_args || !segment.contains(&target) {
        return None;
    }
    if let Some((p, c)) = plain_code {
        if first_call(c, p)?.0 != target {
            return None;
        }
    }
    match probe_point(code(target)?, target) {
        (probe, true) => Some((target, probe)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Debian 12 libssl.so.3 (OpenSSL 3.0), from `objdump -d`: SSL_read at
    /// 0x35430, SSL_read_ex at 0x354c0, ssl_read_internal at 0x35290.
    const SSL_READ: [u8; 35] = [
        0x48, 0x83, 0xec, 0x18, // sub $0x18,%rsp
        0x64, 0x48, 0x8b, 0x04, 0x25, 0x28, 0, 0, 0, // mov %fs:0x28,%rax
        0x48, 0x89, 0x44, 0x24, 0x08, // mov %rax,0x8(%rsp)
        0x31, 0xc0, // xor %eax,%eax
        0x85, 0xd2, // test %edx,%edx
        0x78, 0x2f, // js (error path)
        0x48, 0x89, 0xe1, // mov %rsp,%rcx
        0x48, 0x63, 0xd2, // movslq %edx,%rdx
        0xe8, 0x3d, 0xfe, 0xff, 0xff, // call 0x35290
    ];
    const SSL_READ_EX: [u8; 12] = [
        0x48, 0x83, 0xec, 0x08, // sub $0x8,%rsp
        0xe8, 0xc7, 0xfd, 0xff, 0xff, // call 0x35290
        0x31, 0xd2, // xor %edx,%edx
        0x85, // (cut)
    ];
    const READ_INTERNAL: [u8; 6] = [0x41, 0x55, 0x41, 0x54, 0x55, 0x53]; // push r13, r12, rbp, rbx

    fn lookup<'a>(parts: &'a [(u64, &'a [u8])]) -> impl Fn(u64) -> Option<&'a [u8]> + 'a {
        move |off| parts.iter().find(|p| p.0 == off).map(|p| p.1)
    }

    const TEXT: [Range<u64>; 1] = [Range {
        start: 0x1f000,
        end: 0x7bf51,
    }];

    #[test]
    fn debian_openssl3_pairs_are_probed_at_their_shared_implementation() {
        let parts: &[(u64, &[u8])] = &[
            (0x35430, &SSL_READ),
            (0x354c0, &SSL_READ_EX),
            (0x35290, &READ_INTERNAL),
        ];
        let code = lookup(parts);
        let pair = PublicPair {
            ex: 0x354c0,
            plain: Some(0x35430),
        };
        assert_eq!(shared_impl(&pair, &TEXT, &code), Some((0x35290, 0x35290)));
        let ex_only = PublicPair {
            ex: 0x354c0,
            plain: None,
        };
        assert_eq!(
            shared_impl(&ex_only, &TEXT, &code),
            Some((0x35290, 0x35290))
        );
    }

    #[test]
    fn no_redirect_when_the_shape_is_not_certain() {
        let pair = PublicPair {
            ex: 0x354c0,
            plain: Some(0x35430),
        };
        // The _ex wrapper sets an argument before calling (OpenSSL 3.2's
        // SSL_write_ex -> SSL_write_ex2(s, buf, num, 0, written)).
        let mut sets_arg = vec![0x48, 0x83, 0xec, 0x08, 0x31, 0xc9]; // sub; xor %ecx,%ecx
        sets_arg.extend_from_slice(&[0xe8, 0xc5, 0xfd, 0xff, 0xff]); // call 0x35290
        let parts: &[(u64, &[u8])] = &[
            (0x35430, &SSL_READ),
            (0x354c0, &sets_arg),
            (0x35290, &READ_INTERNAL),
        ];
        let code = lookup(parts);
        assert_eq!(shared_impl(&pair, &TEXT, &code), None);

        // SSL_read calls something else first.
        let mut other = SSL_READ;
        other[31] = 0x00;
        let parts: &[(u64, &[u8])] = &[
            (0x35430, &other),
            (0x354c0, &SSL_READ_EX),
            (0x35290, &READ_INTERNAL),
        ];
        let code = lookup(parts);
        assert_eq!(shared_impl(&pair, &TEXT, &code), None);

        // The internal function would be single-stepped too: no gain.
        let parts: &[(u64, &[u8])] = &[
            (0x35430, &SSL_READ),
            (0x354c0, &SSL_READ_EX),
            (0x35290, &[0x48, 0x83, 0xec, 0x38]),
        ];
        let code = lookup(parts);
        assert_eq!(shared_impl(&pair, &TEXT, &code), None);

        // The target lies outside the executable segment.
        let parts: &[(u64, &[u8])] = &[
            (0x35430, &SSL_READ),
            (0x354c0, &SSL_READ_EX),
            (0x35290, &READ_INTERNAL),
        ];
        let code = lookup(parts);
        let narrow = std::slice::from_ref(&(0x35400..0x36000));
        assert_eq!(shared_impl(&pair, narrow, &code), None);

        // Public functions the kernel emulates already (node's OpenSSL
        // starts them with `push %rbp`).
        let parts: &[(u64, &[u8])] = &[(0x35430, &[0x55, 0x48]), (0x354c0, &[0x55, 0x48])];
        let code = lookup(parts);
        assert_eq!(shared_impl(&pair, &TEXT, &code), None);

        // A tail jump or a return before any call.
        let parts: &[(u64, &[u8])] = &[
            (0x35430, &SSL_READ),
            (0x354c0, &[0x48, 0x83, 0xec, 0x08, 0xc3]),
            (0x35290, &READ_INTERNAL),
        ];
        let code = lookup(parts);
        assert_eq!(shared_impl(&pair, &TEXT, &code), None);
    }

    #[test]
    fn cet_functions_are_probed_after_endbr64_when_that_helps() {
        let mut cet = ENDBR64.to_vec();
        cet.extend_from_slice(&[0x41, 0x55]); // push %r13
        assert_eq!(probe_point(&cet, 0x1000), (0x1004, true));
        let mut cet_sub = ENDBR64.to_vec();
        cet_sub.extend_from_slice(&[0x48, 0x83, 0xec, 0x08]);
        assert_eq!(probe_point(&cet_sub, 0x1000), (0x1000, false));
        assert_eq!(probe_point(&[0x55], 0x2000), (0x2000, true));
        assert_eq!(
            probe_point(&[0x48, 0x83, 0xec, 0x08], 0x2000),
            (0x2000, false)
        );
        assert_eq!(probe_point(&[], 0x2000), (0x2000, false));

        // A CET build of the Debian shape: endbr64 in all three functions.
        let with_endbr = |c: &[u8]| [&ENDBR64[..], c].concat();
        let mut read = with_endbr(&SSL_READ);
        let mut ex = with_endbr(&SSL_READ_EX);
        // The calls moved 4 bytes further: their targets do too, so point
        // them back at 0x35290.
        read[31 + 4..35 + 4].copy_from_slice(&(0x35290i32 - 0x35457).to_le_bytes());
        ex[5 + 4..9 + 4].copy_from_slice(&(0x35290i32 - 0x354cd).to_le_bytes());
        let internal = with_endbr(&READ_INTERNAL);
        let parts: &[(u64, &[u8])] = &[(0x35430, &read), (0x354c0, &ex), (0x35290, &internal)];
        let code = lookup(parts);
        let pair = PublicPair {
            ex: 0x354c0,
            plain: Some(0x35430),
        };
        assert_eq!(shared_impl(&pair, &TEXT, &code), Some((0x35290, 0x35294)));
    }
}
