//! Raw BPF records (layouts in bpf/agentsight.h) turned into table rows.
//! This is field extraction only: payload bytes are stored as they came.

use std::borrow::Cow;

use agentsight_capture::rows::{FileRow, NetRow, ProcessRow, RowBuffers, Subject};
use agentsight_capture::schema::proc_key;
use agentsight_redact::Redactor;

pub const EV_EXEC: u32 = 1;
pub const EV_FORK: u32 = 2;
pub const EV_EXIT: u32 = 3;
pub const EV_FILE: u32 = 4;
pub const EV_NET: u32 = 5;
pub const EV_TLS_DATA: u32 = 6;
pub const EV_TLS_META: u32 = 7;

pub const HEADER_LEN: usize = 64;

/// Little cursor over a record; every read is bounds-checked so a malformed
/// record is rejected, never a panic.
pub struct Fields<'a> {
    buf: &'a [u8],
}

impl<'a> Fields<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Fields { buf }
    }
    fn bytes<const N: usize>(&self, off: usize) -> Option<[u8; N]> {
        self.buf.get(off..off + N)?.try_into().ok()
    }
    pub fn u64(&self, off: usize) -> Option<u64> {
        self.bytes::<8>(off).map(u64::from_ne_bytes)
    }
    pub fn i64(&self, off: usize) -> Option<i64> {
        self.bytes::<8>(off).map(i64::from_ne_bytes)
    }
    pub fn u32(&self, off: usize) -> Option<u32> {
        self.bytes::<4>(off).map(u32::from_ne_bytes)
    }
    pub fn i32(&self, off: usize) -> Option<i32> {
        self.bytes::<4>(off).map(i32::from_ne_bytes)
    }
    pub fn u16(&self, off: usize) -> Option<u16> {
        self.bytes::<2>(off).map(u16::from_ne_bytes)
    }
    pub fn slice(&self, off: usize, len: usize) -> Option<&'a [u8]> {
        self.buf.get(off..off.checked_add(len)?)
    }
}

/// `struct event_header`.
#[derive(Clone, Copy, Debug)]
pub struct Header {
    pub ts_ns: u64,
    pub start_ns: u64,
    pub kind: u32,
    pub pid: u32,
    pub tid: u32,
    pub uid: u32,
    pub gid: u32,
    pub cgroup_id: u64,
    pub comm: [u8; 16],
}

impl Header {
    pub fn parse(rec: &[u8]) -> Option<Header> {
        let f = Fields::new(rec);
        Some(Header {
            ts_ns: f.u64(0)?,
            start_ns: f.u64(8)?,
            kind: f.u32(16)?,
            pid: f.u32(20)?,
            tid: f.u32(24)?,
            uid: f.u32(28)?,
            gid: f.u32(32)?,
            cgroup_id: f.u64(40)?,
            comm: f.bytes::<16>(48)?,
        })
    }

    pub fn comm(&self) -> &str {
        let end = self.comm.iter().position(|&b| b == 0).unwrap_or(16);
        std::str::from_utf8(&self.comm[..end]).unwrap_or("?")
    }

    pub fn proc_key(&self) -> u64 {
        proc_key(self.pid, self.start_ns)
    }

    pub fn subject(&self) -> Subject<'_> {
        Subject {
            ts_ns: self.ts_ns,
            pid: self.pid as i32,
            tid: self.tid as i32,
            proc_key: self.proc_key(),
            comm: self.comm(),
            uid: self.uid,
        }
    }
}

/// Text from kernel bytes, exact: invalid UTF-8 bytes become `\xNN` rather
/// than being replaced, so a path with odd bytes stays distinguishable.
pub fn text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => {
            let mut out = String::with_capacity(bytes.len() + 8);
            for chunk in bytes.utf8_chunks() {
                out.push_str(chunk.valid());
                for b in chunk.invalid() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            std::borrow::Cow::Owned(out)
        }
    }
}

/// The command line as stored: credentials masked unless redaction is off.
pub fn stored_argv<'a>(redactor: Option<&Redactor>, argv: Vec<Cow<'a, str>>) -> Vec<Cow<'a, str>> {
    match redactor {
        Some(r) => r.mask_argv(argv),
        None => argv,
    }
}

/// Splits NUL-separated argv bytes; a trailing NUL does not add an empty arg.
pub fn split_argv(raw: &[u8]) -> Vec<Cow<'_, str>> {
    let trimmed = raw.strip_suffix(&[0]).unwrap_or(raw);
    if trimmed.is_empty() {
        return Vec::new();
    }
    trimmed.split(|&b| b == 0).map(text).collect()
}

pub fn file_op_name(op: u32) -> &'static str {
    match op {
        1 => "open",
        2 => "rename",
        3 => "unlink",
        4 => "chmod",
        5 => "memfd",
        6 => "link",
        7 => "symlink",
        _ => "unknown",
    }
}

pub fn family_name(family: u16) -> std::borrow::Cow<'static, str> {
    match family {
        1 => "unix".into(),
        2 => "inet".into(),
        10 => "inet6".into(),
        n => format!("af{n}").into(),
    }
}

fn ip_text(family: u16, raw: &[u8]) -> Option<String> {
    match family {
        2 => Some(std::net::Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]).to_string()),
        10 => {
            let a: [u8; 16] = raw.get(..16)?.try_into().ok()?;
            Some(std::net::Ipv6Addr::from(a).to_string())
        }
        _ => None,
    }
}

/// What the caller may want to do after a record was stored.
pub enum Followup {
    None,
    /// A traced process exec'd: check the new image for TLS libraries.
    Exec {
        pid: u32,
    },
    /// A traced process ended.
    Exit {
        pid: u32,
    },
    /// A traced process loaded a TLS-looking library or made a connection:
    /// its maps may now hold TLS to hook.
    Rescan {
        pid: u32,
    },
}

/// Library names worth a TLS rescan when a traced process opens them.
fn may_be_tls_library(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.contains(".so")
        && (name.contains("ssl") || name.contains("crypto") || name.contains("boring"))
}

/// Decodes one lifecycle record into `buffers`. Returns None when the record
/// is malformed (the caller counts it).
pub fn store_lifecycle_record(
    rec: &[u8],
    buffers: &mut RowBuffers,
    cwd_of: &dyn Fn(u32) -> Option<String>,
    redactor: Option<&Redactor>,
) -> Option<Followup> {
    let h = Header::parse(rec)?;
    let f = Fields::new(rec);
    let body = HEADER_LEN;
    match h.kind {
        EV_EXEC => {
            let parent_start = f.u64(body)?;
            let ppid = f.u32(body + 8)?;
            let flen = f.u32(body + 12)? as usize;
            let alen = f.u32(body + 16)? as usize;
            let truncated = f.u32(body + 20)? != 0;
            let clen = f.u32(body + 24)? as usize;
            let payload = body + 32;
            let filename = text(f.slice(payload, flen)?);
            let argv_raw = f.slice(payload + flen, alen)?;
            let argv = stored_argv(redactor, split_argv(argv_raw));
            let cwd = match clen {
                0 => cwd_of(h.pid),
                _ => Some(text(f.slice(payload + flen + alen, clen)?).into_owned()),
            };
            buffers.process.push(&ProcessRow {
                subject: h.subject(),
                kind: "exec",
                ppid: Some(ppid as i32),
                parent_key: Some(proc_key(ppid, parent_start)),
                gid: h.gid,
                cgroup_id: h.cgroup_id,
                filename: Some(&filename),
                argv: Some(argv.iter().map(|a| a.as_ref()).collect()),
                argv_truncated: Some(truncated),
                cwd: cwd.as_deref(),
                ..Default::default()
            });
            Some(Followup::Exec { pid: h.pid })
        }
        EV_FORK => {
            let parent_start = f.u64(body)?;
            let ppid = f.u32(body + 8)?;
            buffers.process.push(&ProcessRow {
                subject: h.subject(),
                kind: "fork",
                ppid: Some(ppid as i32),
                parent_key: Some(proc_key(ppid, parent_start)),
                gid: h.gid,
                cgroup_id: h.cgroup_id,
                ..Default::default()
            });
            Some(Followup::None)
        }
        EV_EXIT => {
            let raw = f.u32(body)?;
            let signal = (raw & 0x7f) as i32;
            buffers.process.push(&ProcessRow {
                subject: h.subject(),
                kind: "exit",
                gid: h.gid,
                cgroup_id: h.cgroup_id,
                exit_code: (signal == 0).then_some(((raw >> 8) & 0xff) as i32),
                exit_signal: (signal != 0).then_some(signal),
                ..Default::default()
            });
            Some(Followup::Exit { pid: h.pid })
        }
        EV_FILE => {
            let ret = f.i64(body)?;
            let op = f.u32(body + 8)?;
            let dfd = f.i32(body + 12)?;
            let flags = f.u32(body + 16)?;
            let mode = f.u32(body + 20)?;
            let l1 = f.u32(body + 24)? as usize;
            let l2 = f.u32(body + 28)? as usize;
            let payload = body + 32;
            let path = text(f.slice(payload, l1)?);
            let path2 = if l2 > 0 {
                Some(text(f.slice(payload + l1, l2)?))
            } else {
                None
            };
            buffers.file.push(&FileRow {
                subject: h.subject(),
                op: file_op_name(op),
                path: &path,
                path2: path2.as_deref(),
                dfd,
                flags,
                mode,
                ret,
            });
            if op == 1 && ret >= 0 && may_be_tls_library(&path) {
                return Some(Followup::Rescan { pid: h.pid });
            }
            Some(Followup::None)
        }
        EV_NET => {
            let ret = f.i64(body)?;
            let op = f.u32(body + 8)?;
            let fd = f.i32(body + 12)?;
            let family = f.u16(body + 16)?;
            let lport = f.u16(body + 18)?;
            let rport = f.u16(body + 20)?;
            let laddr = f.slice(body + 24, 16)?;
            let raddr = f.slice(body + 40, 16)?;
            let ulen = f.u32(body + 56)? as usize;
            let upath = f.slice(body + 64, ulen)?;
            let is_ip = family == 2 || family == 10;
            let local = if is_ip && lport != 0 {
                ip_text(family, laddr)
            } else {
                None
            };
            let remote = if is_ip { ip_text(family, raddr) } else { None };
            let unix_path = (family == 1).then(|| {
                if upath.first() == Some(&0) {
                    format!("@{}", text(&upath[1..]))
                } else {
                    text(upath).into_owned()
                }
            });
            buffers.net.push(&NetRow {
                subject: h.subject(),
                op: if op == 1 { "connect" } else { "accept" },
                fd,
                ret,
                family: &family_name(family),
                local_addr: local.as_deref(),
                local_port: local.as_ref().map(|_| lport),
                remote_addr: remote.as_deref(),
                remote_port: remote.as_ref().map(|_| rport),
                unix_path: unix_path.as_deref(),
            });
            if op == 1 && is_ip {
                return Some(Followup::Rescan { pid: h.pid });
            }
            Some(Followup::None)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentsight_capture::arrow::array::{Array, Int32Array, ListArray, StringArray};

    fn header(kind: u32, payload_len: u32) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend(1_000u64.to_ne_bytes()); // ts
        v.extend(5_000_000_000u64.to_ne_bytes()); // start
        v.extend(kind.to_ne_bytes());
        v.extend(42u32.to_ne_bytes()); // pid
        v.extend(43u32.to_ne_bytes()); // tid
        v.extend(1000u32.to_ne_bytes()); // uid
        v.extend(1000u32.to_ne_bytes()); // gid
        v.extend(payload_len.to_ne_bytes());
        v.extend(7u64.to_ne_bytes()); // cgroup
        let mut comm = [0u8; 16];
        comm[..4].copy_from_slice(b"bash");
        v.extend(comm);
        assert_eq!(v.len(), HEADER_LEN);
        v
    }

    #[test]
    fn exec_record_with_argv_and_odd_bytes() {
        let filename = b"/bin/sh";
        let argv = b"sh\0-c\0echo \xff\0";
        let mut rec = header(EV_EXEC, (filename.len() + argv.len()) as u32);
        rec.extend(3_000_000_000u64.to_ne_bytes());
        rec.extend(1u32.to_ne_bytes());
        rec.extend((filename.len() as u32).to_ne_bytes());
        rec.extend((argv.len() as u32).to_ne_bytes());
        rec.extend(0u32.to_ne_bytes());
        rec.extend(4u32.to_ne_bytes()); // cwd_len
        rec.extend(0u32.to_ne_bytes());
        rec.extend(filename);
        rec.extend(argv);
        rec.extend(b"/tmp");
        let mut b = RowBuffers::default();
        assert!(matches!(
            store_lifecycle_record(&rec, &mut b, &|_| None, None),
            Some(Followup::Exec { pid: 42 })
        ));
        let batches = b.take_batches().unwrap();
        let batch = &batches[0].1;
        let argv = batch.column_by_name("argv").unwrap();
        let list = argv.as_any().downcast_ref::<ListArray>().unwrap();
        let values = list.value(0);
        let s = values.as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(
            s.iter().flatten().collect::<Vec<_>>(),
            vec!["sh", "-c", "echo \\xff"]
        );
        let cwd = batch
            .column_by_name("cwd")
            .unwrap()
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(cwd.value(0), "/tmp");
    }

    #[test]
    fn truncated_records_are_rejected_not_panicking() {
        let mut rec = header(EV_FILE, 100);
        rec.extend([0u8; 20]);
        let mut b = RowBuffers::default();
        assert!(store_lifecycle_record(&rec, &mut b, &|_| None, None).is_none());
        for n in 0..rec.len() {
            let _ = store_lifecycle_record(&rec[..n], &mut b, &|_| None, None);
        }
    }

    #[test]
    fn exit_status_split_into_code_and_signal() {
        for (raw, code, sig) in [(3u32 << 8, Some(3), None), (9u32, None, Some(9))] {
            let mut rec = header(EV_EXIT, 0);
            rec.extend(raw.to_ne_bytes());
            rec.extend(0u32.to_ne_bytes());
            let mut b = RowBuffers::default();
            store_lifecycle_record(&rec, &mut b, &|_| None, None).unwrap();
            let batch = b.take_batches().unwrap().remove(0).1;
            let c = batch
                .column_by_name("exit_code")
                .unwrap()
                .as_any()
                .downcast_ref::<Int32Array>()
                .unwrap();
            let s = batch
                .column_by_name("exit_signal")
                .unwrap()
                .as_any()
                .downcast_ref::<Int32Array>()
                .unwrap();
            assert_eq!(
                (
                    c.is_valid(0).then(|| c.value(0)),
                    s.is_valid(0).then(|| s.value(0))
                ),
                (code, sig)
            );
        }
    }
}
