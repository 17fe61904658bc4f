//! Row buffers for the raw tables: typed rows in, Arrow batches out, columns
//! placed by name from the schema module. The recorder fills these from BPF
//! records; tests and benchmarks fill them to build fixture captures.

use std::sync::Arc;

use anyhow::{anyhow, Result};
use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Int32Builder, Int64Builder, ListBuilder,
    StringBuilder, UInt16Builder, UInt32Builder, UInt64Builder,
};
use arrow::record_batch::RecordBatch;

use crate::schema::{self, Table};

/// Puts named arrays in the table's column order, so a swapped pair of
/// same-typed columns cannot slip through.
fn assemble(
    table: &'static Table,
    mut named: Vec<(&'static str, ArrayRef)>,
) -> Result<RecordBatch> {
    let mut columns = Vec::with_capacity(table.columns.len());
    for c in table.columns {
        let pos = named
            .iter()
            .position(|(n, _)| *n == c.name)
            .ok_or_else(|| anyhow!("row buffer for {} lacks column {}", table.name, c.name))?;
        columns.push(named.swap_remove(pos).1);
    }
    if let Some((extra, _)) = named.first() {
        return Err(anyhow!(
            "row buffer for {} has unknown column {extra}",
            table.name
        ));
    }
    Ok(RecordBatch::try_new(table.arrow_schema(), columns)?)
}

/// Columns every event row carries.
#[derive(Clone, Copy, Debug, Default)]
pub struct Subject<'a> {
    pub ts_ns: u64,
    pub pid: i32,
    pub tid: i32,
    pub proc_key: u64,
    pub comm: &'a str,
    pub uid: u32,
}

#[derive(Default)]
struct SubjectColumns {
    ts_ns: UInt64Builder,
    pid: Int32Builder,
    tid: Int32Builder,
    proc_key: UInt64Builder,
    comm: StringBuilder,
    uid: UInt32Builder,
}

impl SubjectColumns {
    fn push(&mut self, s: &Subject) {
        self.ts_ns.append_value(s.ts_ns);
        self.pid.append_value(s.pid);
        self.tid.append_value(s.tid);
        self.proc_key.append_value(s.proc_key);
        self.comm.append_value(s.comm);
        self.uid.append_value(s.uid);
    }

    fn finish(&mut self, with_uid: bool) -> Vec<(&'static str, ArrayRef)> {
        let mut v: Vec<(&'static str, ArrayRef)> = vec![
            ("ts_ns", Arc::new(self.ts_ns.finish())),
            ("pid", Arc::new(self.pid.finish())),
            ("tid", Arc::new(self.tid.finish())),
            ("proc_key", Arc::new(self.proc_key.finish())),
            ("comm", Arc::new(self.comm.finish())),
        ];
        let uid = self.uid.finish();
        if with_uid {
            v.push(("uid", Arc::new(uid)));
        }
        v
    }
}

#[derive(Clone, Debug, Default)]
pub struct ProcessRow<'a> {
    pub subject: Subject<'a>,
    pub kind: &'a str,
    pub ppid: Option<i32>,
    pub parent_key: Option<u64>,
    pub gid: u32,
    pub cgroup_id: u64,
    pub filename: Option<&'a str>,
    pub argv: Option<Vec<&'a str>>,
    pub argv_truncated: Option<bool>,
    pub cwd: Option<&'a str>,
    pub exit_code: Option<i32>,
    pub exit_signal: Option<i32>,
    pub wait_status: Option<i32>,
}

#[derive(Default)]
pub struct ProcessBuffer {
    rows: usize,
    subject: SubjectColumns,
    kind: StringBuilder,
    ppid: Int32Builder,
    parent_key: UInt64Builder,
    gid: UInt32Builder,
    cgroup_id: UInt64Builder,
    filename: StringBuilder,
    argv: ListBuilder<StringBuilder>,
    argv_truncated: BooleanBuilder,
    cwd: StringBuilder,
    exit_code: Int32Builder,
    exit_signal: Int32Builder,
    wait_status: Int32Builder,
}

impl ProcessBuffer {
    pub fn push(&mut self, r: &ProcessRow) {
        self.rows += 1;
        self.subject.push(&r.subject);
        self.kind.append_value(r.kind);
        self.ppid.append_option(r.ppid);
        self.parent_key.append_option(r.parent_key);
        self.gid.append_value(r.gid);
        self.cgroup_id.append_value(r.cgroup_id);
        self.filename.append_option(r.filename);
        match &r.argv {
            Some(args) => {
                for a in args {
                    self.argv.values().append_value(a);
                }
                self.argv.append(true);
            }
            None => self.argv.append(false),
        }
        self.argv_truncated.append_option(r.argv_truncated);
        self.cwd.append_option(r.cwd);
        self.exit_code.append_option(r.exit_code);
        self.exit_signal.append_option(r.exit_signal);
        self.wait_status.append_option(r.wait_status);
    }
}

#[derive(Clone, Debug, Default)]
pub struct FileRow<'a> {
    pub subject: Subject<'a>,
    pub op: &'a str,
    pub path: &'a str,
    pub path2: Option<&'a str>,
    pub resolved_path: Option<&'a str>,
    pub dfd: i32,
    pub flags: u32,
    pub mode: u32,
    pub ret: i64,
}

#[derive(Default)]
pub struct FileBuffer {
    rows: usize,
    subject: SubjectColumns,
    op: StringBuilder,
    path: StringBuilder,
    path2: StringBuilder,
    resolved_path: StringBuilder,
    dfd: Int32Builder,
    flags: UInt32Builder,
    mode: UInt32Builder,
    ret: Int64Builder,
}

impl FileBuffer {
    pub fn push(&mut self, r: &FileRow) {
        self.rows += 1;
        self.subject.push(&r.subject);
        self.op.append_value(r.op);
        self.path.append_value(r.path);
        self.path2.append_option(r.path2);
        self.resolved_path.append_option(r.resolved_path);
        self.dfd.append_value(r.dfd);
        self.flags.append_value(r.flags);
        self.mode.append_value(r.mode);
        self.ret.append_value(r.ret);
    }
}

#[derive(Clone, Debug, Default)]
pub struct NetRow<'a> {
    pub subject: Subject<'a>,
    pub op: &'a str,
    pub fd: i32,
    pub ret: i64,
    pub family: &'a str,
    pub local_addr: Option<&'a str>,
    pub local_port: Option<u16>,
    pub remote_addr: Option<&'a str>,
    pub remote_port: Option<u16>,
    pub unix_path: Option<&'a str>,
}

#[derive(Default)]
pub struct NetBuffer {
    rows: usize,
    subject: SubjectColumns,
    op: StringBuilder,
    fd: Int32Builder,
    ret: Int64Builder,
    family: StringBuilder,
    local_addr: StringBuilder,
    local_port: UInt16Builder,
    remote_addr: StringBuilder,
    remote_port: UInt16Builder,
    unix_path: StringBuilder,
}

impl NetBuffer {
    pub fn push(&mut self, r: &NetRow) {
        self.rows += 1;
        self.subject.push(&r.subject);
        self.op.append_value(r.op);
        self.fd.append_value(r.fd);
        self.ret.append_value(r.ret);
        self.family.append_value(r.family);
        self.local_addr.append_option(r.local_addr);
        self.local_port.append_option(r.local_port);
        self.remote_addr.append_option(r.remote_addr);
        self.remote_port.append_option(r.remote_port);
        self.unix_path.append_option(r.unix_path);
    }
}

#[derive(Clone, Debug, Default)]
pub struct TlsChunkRow<'a> {
    pub subject: Subject<'a>,
    pub direction: &'a str,
    pub func: &'a str,
    pub ssl_ptr: u64,
    pub fd: Option<i32>,
    pub call_seq: u64,
    pub chunk_index: u32,
    pub chunk_offset: u64,
    pub call_len: u64,
    pub lost_bytes: u64,
    pub redacted: bool,
    pub data: &'a [u8],
}

#[derive(Default)]
pub struct TlsChunkBuffer {
    rows: usize,
    bytes: usize,
    subject: SubjectColumns,
    direction: StringBuilder,
    func: StringBuilder,
    ssl_ptr: UInt64Builder,
    fd: Int32Builder,
    call_seq: UInt64Builder,
    chunk_index: UInt32Builder,
    chunk_offset: UInt64Builder,
    call_len: UInt64Builder,
    lost_bytes: UInt64Builder,
    redacted: BooleanBuilder,
    data: BinaryBuilder,
}

impl TlsChunkBuffer {
    pub fn push(&mut self, r: &TlsChunkRow) {
        self.rows += 1;
        self.bytes += r.data.len();
        self.subject.push(&r.subject);
        self.direction.append_value(r.direction);
        self.func.append_value(r.func);
        self.ssl_ptr.append_value(r.ssl_ptr);
        self.fd.append_option(r.fd);
        self.call_seq.append_value(r.call_seq);
        self.chunk_index.append_value(r.chunk_index);
        self.chunk_offset.append_value(r.chunk_offset);
        self.call_len.append_value(r.call_len);
        self.lost_bytes.append_value(r.lost_bytes);
        self.redacted.append_value(r.redacted);
        self.data.append_value(r.data);
    }

    /// Payload bytes buffered: the recorder flushes early when this grows.
    pub fn buffered_bytes(&self) -> usize {
        self.bytes
    }
}

#[derive(Clone, Debug, Default)]
pub struct TlsEventRow<'a> {
    pub subject: Subject<'a>,
    pub event: &'a str,
    pub ssl_ptr: u64,
    pub fd: Option<i32>,
    pub value: Option<&'a str>,
}

#[derive(Default)]
pub struct TlsEventBuffer {
    rows: usize,
    subject: SubjectColumns,
    event: StringBuilder,
    ssl_ptr: UInt64Builder,
    fd: Int32Builder,
    value: StringBuilder,
}

impl TlsEventBuffer {
    pub fn push(&mut self, r: &TlsEventRow) {
        self.rows += 1;
        self.subject.push(&r.subject);
        self.event.append_value(r.event);
        self.ssl_ptr.append_value(r.ssl_ptr);
        self.fd.append_option(r.fd);
        self.value.append_option(r.value);
    }
}

#[derive(Clone, Debug, Default)]
pub struct StatRow<'a> {
    pub ts_ns: u64,
    pub cpu: Option<i32>,
    pub counter: &'a str,
    pub value: u64,
}

#[derive(Default)]
pub struct StatBuffer {
    rows: usize,
    ts_ns: UInt64Builder,
    cpu: Int32Builder,
    counter: StringBuilder,
    value: UInt64Builder,
}

impl StatBuffer {
    pub fn push(&mut self, r: &StatRow) {
        self.rows += 1;
        self.ts_ns.append_value(r.ts_ns);
        self.cpu.append_option(r.cpu);
        self.counter.append_value(r.counter);
        self.value.append_value(r.value);
    }
}

/// One buffer per raw table.
#[derive(Default)]
pub struct RowBuffers {
    pub process: ProcessBuffer,
    pub file: FileBuffer,
    pub net: NetBuffer,
    pub tls_chunks: TlsChunkBuffer,
    pub tls_events: TlsEventBuffer,
    pub stats: StatBuffer,
}

impl RowBuffers {
    pub fn rows(&self) -> usize {
        self.process.rows
            + self.file.rows
            + self.net.rows
            + self.tls_chunks.rows
            + self.tls_events.rows
            + self.stats.rows
    }

    /// Drains every non-empty buffer into (table, batch) pairs.
    pub fn take_batches(&mut self) -> Result<Vec<(&'static str, RecordBatch)>> {
        let mut out = Vec::new();
        if self.process.rows > 0 {
            let p = &mut self.process;
            p.rows = 0;
            let mut cols = p.subject.finish(true);
            cols.extend([
                ("kind", Arc::new(p.kind.finish()) as ArrayRef),
                ("ppid", Arc::new(p.ppid.finish())),
                ("parent_key", Arc::new(p.parent_key.finish())),
                ("gid", Arc::new(p.gid.finish())),
                ("cgroup_id", Arc::new(p.cgroup_id.finish())),
                ("filename", Arc::new(p.filename.finish())),
                ("argv", Arc::new(p.argv.finish())),
                ("argv_truncated", Arc::new(p.argv_truncated.finish())),
                ("cwd", Arc::new(p.cwd.finish())),
                ("exit_code", Arc::new(p.exit_code.finish())),
                ("exit_signal", Arc::new(p.exit_signal.finish())),
                ("wait_status", Arc::new(p.wait_status.finish())),
            ]);
            out.push((
                schema::PROCESS_EVENTS,
                assemble(schema::table(schema::PROCESS_EVENTS).unwrap(), cols)?,
            ));
        }
        if self.file.rows > 0 {
            let f = &mut self.file;
            f.rows = 0;
            let mut cols = f.subject.finish(true);
            cols.extend([
                ("op", Arc::new(f.op.finish()) as ArrayRef),
                ("path", Arc::new(f.path.finish())),
                ("path2", Arc::new(f.path2.finish())),
                ("resolved_path", Arc::new(f.resolved_path.finish())),
                ("dfd", Arc::new(f.dfd.finish())),
                ("flags", Arc::new(f.flags.finish())),
                ("mode", Arc::new(f.mode.finish())),
                ("ret", Arc::new(f.ret.finish())),
            ]);
            out.push((
                schema::FILE_EVENTS,
                assemble(schema::table(schema::FILE_EVENTS).unwrap(), cols)?,
            ));
        }
        if self.net.rows > 0 {
            let n = &mut self.net;
            n.rows = 0;
            let mut cols = n.subject.finish(true);
            cols.extend([
                ("op", Arc::new(n.op.finish()) as ArrayRef),
                ("fd", Arc::new(n.fd.finish())),
                ("ret", Arc::new(n.ret.finish())),
                ("family", Arc::new(n.family.finish())),
                ("local_addr", Arc::new(n.local_addr.finish())),
                ("local_port", Arc::new(n.local_port.finish())),
                ("remote_addr", Arc::new(n.remote_addr.finish())),
                ("remote_port", Arc::new(n.remote_port.finish())),
                ("unix_path", Arc::new(n.unix_path.finish())),
            ]);
            out.push((
                schema::NET_EVENTS,
                assemble(schema::table(schema::NET_EVENTS).unwrap(), cols)?,
            ));
        }
        if self.tls_chunks.rows > 0 {
            let t = &mut self.tls_chunks;
            t.rows = 0;
            t.bytes = 0;
            let mut cols = t.subject.finish(false);
            cols.extend([
                ("direction", Arc::new(t.direction.finish()) as ArrayRef),
                ("func", Arc::new(t.func.finish())),
                ("ssl_ptr", Arc::new(t.ssl_ptr.finish())),
                ("fd", Arc::new(t.fd.finish())),
                ("call_seq", Arc::new(t.call_seq.finish())),
                ("chunk_index", Arc::new(t.chunk_index.finish())),
                ("chunk_offset", Arc::new(t.chunk_offset.finish())),
                ("call_len", Arc::new(t.call_len.finish())),
                ("lost_bytes", Arc::new(t.lost_bytes.finish())),
                ("redacted", Arc::new(t.redacted.finish())),
                ("data", Arc::new(t.data.finish())),
            ]);
            out.push((
                schema::TLS_CHUNKS,
                assemble(schema::table(schema::TLS_CHUNKS).unwrap(), cols)?,
            ));
        }
        if self.tls_events.rows > 0 {
            let t = &mut self.tls_events;
            t.rows = 0;
            let mut cols = t.subject.finish(false);
            cols.extend([
                ("event", Arc::new(t.event.finish()) as ArrayRef),
                ("ssl_ptr", Arc::new(t.ssl_ptr.finish())),
                ("fd", Arc::new(t.fd.finish())),
                ("value", Arc::new(t.value.finish())),
            ]);
            out.push((
                schema::TLS_EVENTS,
                assemble(schema::table(schema::TLS_EVENTS).unwrap(), cols)?,
            ));
        }
        if self.stats.rows > 0 {
            let s = &mut self.stats;
            s.rows = 0;
            let cols: Vec<(&'static str, ArrayRef)> = vec![
                ("ts_ns", Arc::new(s.ts_ns.finish())),
                ("cpu", Arc::new(s.cpu.finish())),
                ("counter", Arc::new(s.counter.finish())),
                ("value", Arc::new(s.value.finish())),
            ];
            out.push((
                schema::RECORDER_STATS,
                assemble(schema::table(schema::RECORDER_STATS).unwrap(), cols)?,
            ));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_assembles_in_schema_order() {
        let mut b = RowBuffers::default();
        let s = Subject {
            ts_ns: 1,
            pid: 2,
            tid: 3,
            proc_key: 4,
            comm: "sh",
            uid: 0,
        };
        b.process.push(&ProcessRow {
            subject: s,
            kind: "exec",
            argv: Some(vec!["sh", "-c"]),
            ..Default::default()
        });
        b.file.push(&FileRow {
            subject: s,
            op: "open",
            path: "/etc/passwd",
            ..Default::default()
        });
        b.net.push(&NetRow {
            subject: s,
            op: "connect",
            family: "inet",
            ..Default::default()
        });
        b.tls_chunks.push(&TlsChunkRow {
            subject: s,
            direction: "write",
            func: "SSL_write",
            data: b"GET /",
            ..Default::default()
        });
        b.tls_events.push(&TlsEventRow {
            subject: s,
            event: "sni",
            value: Some("api.example"),
            ..Default::default()
        });
        b.stats.push(&StatRow {
            ts_ns: 1,
            cpu: None,
            counter: "events_received",
            value: 9,
        });
        let batches = b.take_batches().unwrap();
        assert_eq!(batches.len(), schema::RAW_TABLES.len());
        for (name, batch) in &batches {
            assert_eq!(batch.schema(), schema::table(name).unwrap().arrow_schema());
            assert_eq!(batch.num_rows(), 1);
        }
        assert_eq!(b.rows(), 0);
        assert!(b.take_batches().unwrap().is_empty());
    }
}
