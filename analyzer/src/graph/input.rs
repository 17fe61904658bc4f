//! The raw rows the causal graph is built from, read once per session and
//! grouped by capture.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, ListArray, RecordBatch, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int32Type, UInt16Type, UInt32Type, UInt64Type};
use datafusion::common::{DataFusionError, Result};
use datafusion::prelude::SessionContext;

use crate::reconstruct::streams::Labels;

const PROCESS_SQL: &str = "SELECT capture, ts_ns, kind, pid, proc_key, parent_key, comm, \
     filename, argv, cwd, exit_code, exit_signal FROM process_events";
const FILE_SQL: &str = "SELECT capture, ts_ns, proc_key, op, path, path2, dfd, flags, mode, \
     resolved_path FROM file_events WHERE ret >= 0";
// EINPROGRESS (-115) is a non-blocking connect under way: the usual case.
const NET_SQL: &str = "SELECT capture, ts_ns, proc_key, op, family, local_port, remote_addr, \
     remote_port, unix_path FROM net_events \
     WHERE (op = 'connect' AND (ret = 0 OR ret = -115)) OR (op = 'accept' AND ret >= 0)";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcKind {
    Exec,
    Fork,
    Exit,
    Snapshot,
}

pub struct ProcEvent {
    pub ts: u64,
    pub kind: ProcKind,
    pub pid: i32,
    pub key: u64,
    pub parent_key: Option<u64>,
    pub comm: String,
    pub filename: Option<String>,
    pub argv: Vec<String>,
    pub cwd: Option<String>,
    pub exit_code: Option<i32>,
    pub exit_signal: Option<i32>,
}

pub struct FileEvent {
    pub ts: u64,
    pub key: u64,
    pub op: String,
    pub path: String,
    pub path2: Option<String>,
    pub dfd: i32,
    pub flags: u32,
    pub mode: u32,
    /// Successful opens: the file the kernel opened (absolute, symlinks followed).
    pub resolved: Option<String>,
}

pub struct NetEvent {
    pub ts: u64,
    pub key: u64,
    pub accept: bool,
    pub family: String,
    pub local_port: Option<u16>,
    pub remote_addr: Option<String>,
    pub remote_port: Option<u16>,
    pub unix_path: Option<String>,
}

#[derive(Default)]
pub struct CaptureRows {
    pub procs: Vec<ProcEvent>,
    pub files: Vec<FileEvent>,
    pub nets: Vec<NetEvent>,
}

/// Raw rows by capture label.
pub async fn read(ctx: &SessionContext) -> Result<HashMap<Arc<str>, CaptureRows>> {
    let mut out: HashMap<Arc<str>, CaptureRows> = HashMap::new();
    let mut labels = Labels::default();
    for b in ctx.sql(PROCESS_SQL).await?.collect().await? {
        let c = Columns::new(&b)?;
        let (cap, ts, kind, pid, key, parent) = (
            c.text(0)?,
            c.u64(1)?,
            c.text(2)?,
            c.i32(3)?,
            c.u64(4)?,
            c.u64(5)?,
        );
        let (comm, filename, argv, cwd, code, sig) = (
            c.text(6)?,
            c.text(7)?,
            c.list(8)?,
            c.text(9)?,
            c.i32(10)?,
            c.i32(11)?,
        );
        for i in 0..b.num_rows() {
            let kind = match kind.value(i) {
                "exec" => ProcKind::Exec,
                "fork" => ProcKind::Fork,
                "exit" => ProcKind::Exit,
                "snapshot" => ProcKind::Snapshot,
                _ => continue,
            };
            let argv = if argv.is_null(i) {
                Vec::new()
            } else {
                let v = argv.value(i);
                let v = cast(&v, &DataType::Utf8)?;
                let v = v.as_string::<i32>();
                (0..v.len())
                    .map(|j| {
                        v.is_valid(j)
                            .then(|| v.value(j).to_string())
                            .unwrap_or_default()
                    })
                    .collect()
            };
            out.entry(labels.get(cap.value(i)))
                .or_default()
                .procs
                .push(ProcEvent {
                    ts: ts.value(i),
                    kind,
                    pid: pid.value(i),
                    key: key.value(i),
                    parent_key: parent.is_valid(i).then(|| parent.value(i)),
                    comm: comm.value(i).to_string(),
                    filename: opt_text(&filename, i),
                    argv,
                    cwd: opt_text(&cwd, i),
                    exit_code: code.is_valid(i).then(|| code.value(i)),
                    exit_signal: sig.is_valid(i).then(|| sig.value(i)),
                });
        }
    }
    for b in ctx.sql(FILE_SQL).await?.collect().await? {
        let c = Columns::new(&b)?;
        let (cap, ts, key, op, path, path2) = (
            c.text(0)?,
            c.u64(1)?,
            c.u64(2)?,
            c.text(3)?,
            c.text(4)?,
            c.text(5)?,
        );
        let (dfd, flags, mode, resolved) = (c.i32(6)?, c.u32(7)?, c.u32(8)?, c.text(9)?);
        for i in 0..b.num_rows() {
            out.entry(labels.get(cap.value(i)))
                .or_default()
                .files
                .push(FileEvent {
                    ts: ts.value(i),
                    key: key.value(i),
                    op: op.value(i).to_string(),
                    path: path.value(i).to_string(),
                    path2: opt_text(&path2, i),
                    dfd: dfd.value(i),
                    flags: flags.value(i),
                    mode: mode.value(i),
                    resolved: opt_text(&resolved, i),
                });
        }
    }
    for b in ctx.sql(NET_SQL).await?.collect().await? {
        let c = Columns::new(&b)?;
        let (cap, ts, key, op, family) = (c.text(0)?, c.u64(1)?, c.u64(2)?, c.text(3)?, c.text(4)?);
        let (lport, raddr, rport, unix) = (c.u16(5)?, c.text(6)?, c.u16(7)?, c.text(8)?);
        for i in 0..b.num_rows() {
            out.entry(labels.get(cap.value(i)))
                .or_default()
                .nets
                .push(NetEvent {
                    ts: ts.value(i),
                    key: key.value(i),
                    accept: op.value(i) == "accept",
                    family: family.value(i).to_string(),
                    local_port: lport.is_valid(i).then(|| lport.value(i)),
                    remote_addr: opt_text(&raddr, i),
                    remote_port: rport.is_valid(i).then(|| rport.value(i)),
                    unix_path: opt_text(&unix, i),
                });
        }
    }
    Ok(out)
}

fn opt_text(a: &StringArray, i: usize) -> Option<String> {
    a.is_valid(i).then(|| a.value(i).to_string())
}

/// Typed access to the columns of one batch, cast to the type the graph
/// reads (capture labels arrive as view strings, tags as dictionaries).
struct Columns<'a>(&'a RecordBatch);

impl<'a> Columns<'a> {
    fn new(b: &'a RecordBatch) -> Result<Self> {
        Ok(Columns(b))
    }

    fn cast(&self, i: usize, to: &DataType) -> Result<Arc<dyn Array>> {
        let col =
            self.0.columns().get(i).ok_or_else(|| {
                DataFusionError::Internal(format!("graph input lacks column {i}"))
            })?;
        Ok(cast(col, to)?)
    }

    fn text(&self, i: usize) -> Result<StringArray> {
        Ok(self.cast(i, &DataType::Utf8)?.as_string::<i32>().clone())
    }

    fn u64(&self, i: usize) -> Result<datafusion::arrow::array::UInt64Array> {
        Ok(self
            .cast(i, &DataType::UInt64)?
            .as_primitive::<UInt64Type>()
            .clone())
    }

    fn i32(&self, i: usize) -> Result<datafusion::arrow::array::Int32Array> {
        Ok(self
            .cast(i, &DataType::Int32)?
            .as_primitive::<Int32Type>()
            .clone())
    }

    fn u32(&self, i: usize) -> Result<datafusion::arrow::array::UInt32Array> {
        Ok(self
            .cast(i, &DataType::UInt32)?
            .as_primitive::<UInt32Type>()
            .clone())
    }

    fn u16(&self, i: usize) -> Result<datafusion::arrow::array::UInt16Array> {
        Ok(self
            .cast(i, &DataType::UInt16)?
            .as_primitive::<UInt16Type>()
            .clone())
    }

    fn list(&self, i: usize) -> Result<ListArray> {
        let col =
            self.0.columns().get(i).ok_or_else(|| {
                DataFusionError::Internal(format!("graph input lacks column {i}"))
            })?;
        col.as_list_opt::<i32>()
            .cloned()
            .ok_or_else(|| DataFusionError::Internal("argv is not a list".into()))
    }
}
