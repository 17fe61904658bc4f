//! Raw BPF records (layouts in bpf/agentsight.h) turned into table rows.
//! This is field extraction only: payload bytes are stored as they came.

use std::borrow::Cow;

use agentsight_capture::rows::{FileRow, NetRow, ProcessRow, RowBuffers, Subject};
use agentsight_capture::schema::proc_key;
use agentsight_redact::Redactor;
use zerocopy::{FromBytes, IntoBytes};

pub use crate::layouts::{
    event_header, exec_body, exit_body, file_body, fork_body, net_body, EV_EXEC, EV_EXIT, EV_FILE,
    EV_FORK, EV_NET, EV_TLS_DATA, EV_TLS_META,
};

/// A record: its header, its body of type `T`, and the payload after them.
/// None when the record is shorter than that: a malformed record is
/// rejected, never a panic.
pub fn split_record<T: FromBytes>(rec: &[u8]) -> Option<(event_header, T, Payload<'_>)> {
    let (h, rest) = event_header::read_from_prefix(rec).ok()?;
    let (body, payload) = T::read_from_prefix(rest).ok()?;
    Some((h, body, Payload(payload)))
}

/// The variable-length bytes after a body, taken in order by their lengths.
pub struct Payload<'a>(&'a [u8]);

impl<'a> Payload<'a> {
    pub fn take(&mut self, len: impl TryInto<usize>) -> Option<&'a [u8]> {
        let len = len.try_into().ok()?;
        let (head, rest) = self.0.split_at_checked(len)?;
        self.0 = rest;
        Some(head)
    }
}

impl event_header {
    /// Reads just the header (to dispatch on `kind`).
    pub fn parse(rec: &[u8]) -> Option<event_header> {
        event_header::read_from_prefix(rec).ok().map(|(h, _)| h)
    }

    pub fn comm(&self) -> &str {
        let bytes = self.comm.as_bytes();
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        std::str::from_utf8(&bytes[..end]).unwrap_or("?")
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
    use crate::layouts::*;
    match op {
        FOP_OPEN => "open",
        FOP_RENAME => "rename",
        FOP_UNLINK => "unlink",
        FOP_CHMOD => "chmod",
        FOP_MEMFD => "memfd",
        FOP_LINK => "link",
        FOP_SYMLINK => "symlink",
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
    match event_header::parse(rec)?.kind {
        EV_EXEC => {
            let (h, b, mut payload) = split_record::<exec_body>(rec)?;
            let filename = text(payload.take(b.filename_len)?);
            let argv = stored_argv(redactor, split_argv(payload.take(b.argv_len)?));
            let cwd = match b.cwd_len {
                // the kernel walk failed: /proc now, best effort
                0 => cwd_of(h.pid),
                n => Some(text(payload.take(n)?).into_owned()),
            };
            buffers.process.push(&ProcessRow {
                subject: h.subject(),
                kind: "exec",
                ppid: Some(b.ppid as i32),
                parent_key: Some(proc_key(b.ppid, b.parent_start_ns)),
                gid: h.gid,
                cgroup_id: h.cgroup_id,
                filename: Some(&filename),
                argv: Some(argv.iter().map(|a| a.as_ref()).collect()),
                argv_truncated: Some(b.argv_truncated != 0),
                cwd: cwd.as_deref(),
                ..Default::default()
            });
            Some(Followup::Exec { pid: h.pid })
        }
        EV_FORK => {
            let (h, b, _) = split_record::<fork_body>(rec)?;
            buffers.process.push(&ProcessRow {
                subject: h.subject(),
                kind: "fork",
                ppid: Some(b.ppid as i32),
                parent_key: Some(proc_key(b.ppid, b.parent_start_ns)),
                gid: h.gid,
                cgroup_id: h.cgroup_id,
                ..Default::default()
            });
            Some(Followup::None)
        }
        EV_EXIT => {
            let (h, b, _) = split_record::<exit_body>(rec)?;
            // task->exit_code is the wait status: (code << 8) | core-dump bit | signal
            let raw = b.exit_code;
            let signal = (raw & 0x7f) as i32;
            buffers.process.push(&ProcessRow {
                subject: h.subject(),
                kind: "exit",
                gid: h.gid,
                cgroup_id: h.cgroup_id,
                exit_code: (signal == 0).then_some(((raw >> 8) & 0xff) as i32),
                exit_signal: (signal != 0).then_some(signal),
                wait_status: Some(raw as i32),
                ..Default::default()
            });
            Some(Followup::Exit { pid: h.pid })
        }
        EV_FILE => {
            let (h, b, mut payload) = split_record::<file_body>(rec)?;
            let path = text(payload.take(b.path_len)?);
            let path2 = match b.path2_len {
                0 => None,
                n => Some(text(payload.take(n)?)),
            };
            let resolved = match b.resolved_len {
                0 => None,
                n => Some(text(payload.take(n)?)),
            };
            buffers.file.push(&FileRow {
                subject: h.subject(),
                op: file_op_name(b.op),
                path: &path,
                path2: path2.as_deref(),
                resolved_path: resolved.as_deref(),
                dfd: b.dfd,
                flags: b.flags,
                mode: b.mode,
                ret: b.ret,
            });
            if b.op == crate::layouts::FOP_OPEN && b.ret >= 0 && may_be_tls_library(&path) {
                return Some(Followup::Rescan { pid: h.pid });
            }
            Some(Followup::None)
        }
        EV_NET => {
            let (h, b, mut payload) = split_record::<net_body>(rec)?;
            let upath = payload.take(b.unix_path_len)?;
            let family = b.family;
            let is_ip = family == 2 || family == 10;
            let local = if is_ip && b.local_port != 0 {
                ip_text(family, &b.local_addr)
            } else {
                None
            };
            let remote = if is_ip {
                ip_text(family, &b.remote_addr)
            } else {
                None
            };
            let unix_path = (family == 1).then(|| {
                if upath.first() == Some(&0) {
                    format!("@{}", text(&upath[1..]))
                } else {
                    text(upath).into_owned()
                }
            });
            let connect = b.op == crate::layouts::NOP_CONNECT;
            buffers.net.push(&NetRow {
                subject: h.subject(),
                op: if connect { "connect" } else { "accept" },
                fd: b.fd,
                ret: b.ret,
                family: &family_name(family),
                local_addr: local.as_deref(),
                local_port: local.as_ref().map(|_| b.local_port),
                remote_addr: remote.as_deref(),
                remote_port: remote.as_ref().map(|_| b.remote_port),
                unix_path: unix_path.as_deref(),
            });
            if connect && is_ip {
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
        let mut comm = [0 as std::ffi::c_char; 16];
        for (c, b) in comm.iter_mut().zip(b"bash") {
            *c = *b as std::ffi::c_char;
        }
        event_header {
            ts_ns: 1_000,
            start_ns: 5_000_000_000,
            kind,
            pid: 42,
            tid: 43,
            uid: 1000,
            gid: 1000,
            payload_len,
            cgroup_id: 7,
            comm,
        }
        .as_bytes()
        .to_vec()
    }

    fn record(
        kind: u32,
        body: &(impl IntoBytes + zerocopy::Immutable),
        payload: &[&[u8]],
    ) -> Vec<u8> {
        let len: usize = payload.iter().map(|p| p.len()).sum();
        let mut rec = header(kind, len as u32);
        rec.extend(body.as_bytes());
        for p in payload {
            rec.extend(*p);
        }
        rec
    }

    #[test]
    fn exec_record_with_argv_and_odd_bytes() {
        let filename = b"/bin/sh";
        let argv = b"sh\0-c\0echo \xff\0";
        let body = exec_body {
            parent_start_ns: 3_000_000_000,
            ppid: 1,
            filename_len: filename.len() as u32,
            argv_len: argv.len() as u32,
            cwd_len: 4,
            ..Default::default()
        };
        let rec = record(EV_EXEC, &body, &[filename, argv, b"/tmp"]);
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
    fn open_record_keeps_the_path_the_kernel_resolved() {
        let body = file_body {
            ret: 3,
            op: crate::layouts::FOP_OPEN,
            dfd: -100,
            path_len: 4,
            resolved_len: 13,
            ..Default::default()
        };
        let rec = record(EV_FILE, &body, &[b"link", b"/etc/hostname"]);
        let mut b = RowBuffers::default();
        store_lifecycle_record(&rec, &mut b, &|_| None, None).unwrap();
        let batch = b.take_batches().unwrap().remove(0).1;
        let text = |name: &str| {
            let c = batch.column_by_name(name).unwrap();
            let c = c.as_any().downcast_ref::<StringArray>().unwrap();
            c.is_valid(0).then(|| c.value(0).to_string())
        };
        assert_eq!(text("path").as_deref(), Some("link"));
        assert_eq!(text("path2"), None);
        assert_eq!(text("resolved_path").as_deref(), Some("/etc/hostname"));
    }

    #[test]
    fn truncated_records_are_rejected_not_panicking() {
        let body = file_body {
            path_len: 100,
            ..Default::default()
        };
        let rec = record(EV_FILE, &body, &[b"short"]);
        let mut b = RowBuffers::default();
        assert!(store_lifecycle_record(&rec, &mut b, &|_| None, None).is_none());
        for n in 0..rec.len() {
            let _ = store_lifecycle_record(&rec[..n], &mut b, &|_| None, None);
        }
    }

    #[test]
    fn exit_status_split_into_code_and_signal() {
        for (raw, code, sig) in [(3u32 << 8, Some(3), None), (9u32, None, Some(9))] {
            let rec = record(
                EV_EXIT,
                &exit_body {
                    exit_code: raw,
                    ..Default::default()
                },
                &[],
            );
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
