//! TLS chunks regrouped into connections: per connection and direction, the
//! captured bytes in call and chunk order, with lost bytes marked as gaps and
//! the time each byte was read or written.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, BinaryArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int32Type, UInt16Type, UInt64Type};
use datafusion::common::{DataFusionError, Result};

use agentsight_decode::http1::Piece;

/// One captured chunk, pointing into the connection's copy of the data
/// array that holds its bytes.
#[derive(Clone, Copy, Debug)]
struct ChunkRef {
    ts: u64,
    call_seq: u64,
    chunk_offset: u64,
    call_len: u64,
    batch: u32,
    row: u32,
}

/// Plaintext of one direction of a connection.
#[derive(Debug, Default)]
pub struct Stream {
    chunks: Vec<ChunkRef>,
}

/// A span of a stream: data or lost bytes, and when its call happened.
#[derive(Clone, Copy, Debug)]
pub struct Span<'a> {
    pub piece: Piece<'a>,
    pub ts: u64,
}

/// A direction's spans plus the index that maps stream offsets to times.
#[derive(Debug, Default)]
pub struct Timeline<'a> {
    pub spans: Vec<Span<'a>>,
    /// Start offset of each span (same length as `spans`).
    starts: Vec<u64>,
}

impl<'a> Timeline<'a> {
    fn push(&mut self, pos: &mut u64, piece: Piece<'a>, ts: u64) {
        self.starts.push(*pos);
        self.spans.push(Span { piece, ts });
        *pos = pos.saturating_add(match piece {
            Piece::Data(d) => d.len() as u64,
            Piece::Gap(n) => n,
        });
    }

    pub fn pieces(&self) -> Vec<Piece<'_>> {
        self.spans.iter().map(|s| s.piece).collect()
    }

    /// Time of the call that carried the byte at `offset`.
    pub fn time_at(&self, offset: u64) -> Option<u64> {
        let i = self.starts.partition_point(|s| *s <= offset);
        i.checked_sub(1).map(|i| self.spans[i].ts)
    }

    /// The stream's first `n` bytes (fewer if it is shorter or starts
    /// with lost bytes).
    pub fn prefix(&self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n);
        for s in &self.spans {
            let Piece::Data(d) = s.piece else { break };
            out.extend_from_slice(&d[..d.len().min(n - out.len())]);
            if out.len() == n {
                break;
            }
        }
        out
    }
}

/// Socket addresses from the `net_events` row of the connection's fd.
#[derive(Clone, Debug, Default)]
pub struct SocketTuple {
    pub local_addr: Option<String>,
    pub local_port: Option<u16>,
    pub remote_addr: Option<String>,
    pub remote_port: Option<u16>,
}

/// Which connection: the connection's own identity, carried by every
/// exchange row decoded from it.
#[derive(Clone, Debug)]
pub struct ConnIdentity {
    pub capture: Arc<str>,
    pub conn_id: u64,
    pub pid: i32,
    pub proc_key: u64,
    pub comm: String,
    pub ssl_ptr: u64,
    pub fd: Option<i32>,
    pub sni: Option<String>,
    pub tuple: SocketTuple,
}

#[derive(Debug)]
pub struct Connection {
    pub id: ConnIdentity,
    pub first_ts: u64,
    pub write: Stream,
    pub read: Stream,
    /// The `data` arrays this connection's chunks live in: shared buffers,
    /// freed once the last connection using a batch is decoded and dropped.
    arrays: Vec<BinaryArray>,
    /// Global batch index -> index into `arrays`, while building.
    array_of_batch: HashMap<u32, u32>,
}

fn column<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a Arc<dyn Array>> {
    b.column_by_name(name)
        .ok_or_else(|| DataFusionError::Internal(format!("reconstruct: no column {name}")))
}

fn strings(b: &RecordBatch, name: &str) -> Result<Arc<dyn Array>> {
    Ok(cast(column(b, name)?, &DataType::Utf8)?)
}

/// Connect/accept rows by (capture, proc_key, fd), in time order.
type SocketIndex = HashMap<(Arc<str>, u64, i32), Vec<(u64, SocketTuple)>>;

/// Capture labels interned so every row of one capture shares one `Arc`.
#[derive(Default)]
pub(crate) struct Labels(HashMap<String, Arc<str>>);

impl Labels {
    pub(crate) fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.0.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        self.0.insert(s.to_string(), a.clone());
        a
    }
}

/// TLS lifecycle facts per (capture, proc_key, ssl_ptr).
#[derive(Default)]
struct SslFacts {
    /// Times of SSL_free: each starts a new connection on a reused pointer.
    frees: Vec<u64>,
    /// (time, SNI host name).
    sni: Vec<(u64, String)>,
}

type SslKey = (Arc<str>, u64, u64);

/// Builds connections from the rows of `tls_chunks` (columns capture, ts_ns,
/// pid, proc_key, comm, direction, ssl_ptr, fd, call_seq, chunk_offset,
/// call_len, data), `tls_events` (capture, ts_ns, proc_key, event, ssl_ptr,
/// value) and `net_events` (capture, ts_ns, proc_key, op, fd, ret,
/// local_addr, local_port, remote_addr, remote_port).
pub fn connections(
    chunks: Vec<RecordBatch>,
    tls_events: &[RecordBatch],
    net_events: &[RecordBatch],
) -> Result<Vec<Connection>> {
    let mut labels = Labels::default();
    let mut facts: HashMap<SslKey, SslFacts> = HashMap::new();
    for b in tls_events {
        let cap = strings(b, "capture")?;
        let cap = cap.as_string::<i32>();
        let ts = column(b, "ts_ns")?.as_primitive::<UInt64Type>();
        let key = column(b, "proc_key")?.as_primitive::<UInt64Type>();
        let event = strings(b, "event")?;
        let event = event.as_string::<i32>();
        let ssl = column(b, "ssl_ptr")?.as_primitive::<UInt64Type>();
        let value = strings(b, "value")?;
        let value = value.as_string::<i32>();
        for i in 0..b.num_rows() {
            let f = facts
                .entry((labels.get(cap.value(i)), key.value(i), ssl.value(i)))
                .or_default();
            match event.value(i) {
                "free" => f.frees.push(ts.value(i)),
                "sni" if value.is_valid(i) => f.sni.push((ts.value(i), value.value(i).to_string())),
                _ => {}
            }
        }
    }
    for f in facts.values_mut() {
        f.frees.sort_unstable();
        f.sni.sort();
    }

    let mut sockets: SocketIndex = HashMap::new();
    for b in net_events {
        let cap = strings(b, "capture")?;
        let cap = cap.as_string::<i32>();
        let ts = column(b, "ts_ns")?.as_primitive::<UInt64Type>();
        let key = column(b, "proc_key")?.as_primitive::<UInt64Type>();
        let op = strings(b, "op")?;
        let op = op.as_string::<i32>();
        let fd = column(b, "fd")?.as_primitive::<Int32Type>();
        let ret = cast(column(b, "ret")?, &DataType::Int64)?;
        let ret = ret.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        let laddr = strings(b, "local_addr")?;
        let laddr = laddr.as_string::<i32>();
        let raddr = strings(b, "remote_addr")?;
        let raddr = raddr.as_string::<i32>();
        let lport = column(b, "local_port")?.as_primitive::<UInt16Type>();
        let rport = column(b, "remote_port")?.as_primitive::<UInt16Type>();
        for i in 0..b.num_rows() {
            // connect: the socket is `fd`; accept: the new socket is `ret`.
            let sock = match op.value(i) {
                "connect" => fd.value(i),
                "accept" if ret.value(i) >= 0 => ret.value(i) as i32,
                _ => continue,
            };
            let opt_str = |a: &datafusion::arrow::array::StringArray| {
                a.is_valid(i).then(|| a.value(i).to_string())
            };
            let tuple = SocketTuple {
                local_addr: opt_str(laddr),
                local_port: lport.is_valid(i).then(|| lport.value(i)),
                remote_addr: opt_str(raddr),
                remote_port: rport.is_valid(i).then(|| rport.value(i)),
            };
            sockets
                .entry((labels.get(cap.value(i)), key.value(i), sock))
                .or_default()
                .push((ts.value(i), tuple));
        }
    }
    for v in sockets.values_mut() {
        v.sort_by_key(|(t, _)| *t);
    }

    let mut by_conn: HashMap<(SslKey, usize), usize> = HashMap::new();
    let mut list: Vec<Connection> = Vec::new();
    for (bi, b) in chunks.into_iter().enumerate() {
        let b = &b;
        let cap = strings(b, "capture")?;
        let cap = cap.as_string::<i32>();
        let ts = column(b, "ts_ns")?.as_primitive::<UInt64Type>();
        let pid = column(b, "pid")?.as_primitive::<Int32Type>();
        let key = column(b, "proc_key")?.as_primitive::<UInt64Type>();
        let comm = strings(b, "comm")?;
        let comm = comm.as_string::<i32>();
        let dir = strings(b, "direction")?;
        let dir = dir.as_string::<i32>();
        let ssl = column(b, "ssl_ptr")?.as_primitive::<UInt64Type>();
        let fd = column(b, "fd")?.as_primitive::<Int32Type>();
        let seq = column(b, "call_seq")?.as_primitive::<UInt64Type>();
        let off = column(b, "chunk_offset")?.as_primitive::<UInt64Type>();
        let call_len = column(b, "call_len")?.as_primitive::<UInt64Type>();
        let data = cast(column(b, "data")?, &DataType::Binary)?;
        let data = data.as_binary::<i32>();
        for i in 0..b.num_rows() {
            let ssl_key: SslKey = (labels.get(cap.value(i)), key.value(i), ssl.value(i));
            let f = facts.get(&ssl_key);
            let generation = f.map_or(0, |f| f.frees.partition_point(|t| *t < ts.value(i)));
            let idx = *by_conn
                .entry((ssl_key.clone(), generation))
                .or_insert_with(|| {
                    list.push(Connection {
                        id: ConnIdentity {
                            capture: ssl_key.0.clone(),
                            conn_id: 0,
                            pid: pid.value(i),
                            proc_key: key.value(i),
                            comm: comm.value(i).to_string(),
                            ssl_ptr: ssl.value(i),
                            fd: None,
                            sni: None,
                            tuple: SocketTuple::default(),
                        },
                        first_ts: ts.value(i),
                        write: Stream::default(),
                        read: Stream::default(),
                        arrays: Vec::new(),
                        array_of_batch: HashMap::new(),
                    });
                    list.len() - 1
                });
            let c = &mut list[idx];
            c.first_ts = c.first_ts.min(ts.value(i));
            if c.id.fd.is_none() && fd.is_valid(i) && fd.value(i) >= 0 {
                c.id.fd = Some(fd.value(i));
            }
            let local = *c.array_of_batch.entry(bi as u32).or_insert_with(|| {
                c.arrays.push(data.clone());
                (c.arrays.len() - 1) as u32
            });
            let r = ChunkRef {
                ts: ts.value(i),
                call_seq: seq.value(i),
                chunk_offset: off.value(i),
                call_len: call_len.value(i),
                batch: local,
                row: i as u32,
            };
            match dir.value(i) {
                "write" => c.write.chunks.push(r),
                _ => c.read.chunks.push(r),
            }
        }
    }

    for c in list.iter_mut() {
        c.array_of_batch = HashMap::new();
        c.write.chunks.sort_by_key(|r| (r.call_seq, r.chunk_offset));
        c.read.chunks.sort_by_key(|r| (r.call_seq, r.chunk_offset));
        let ssl_key: SslKey = (c.id.capture.clone(), c.id.proc_key, c.id.ssl_ptr);
        if let Some(f) = facts.get(&ssl_key) {
            // The host name set last before the connection's first byte.
            c.id.sni = f
                .sni
                .iter()
                .rev()
                .find(|(t, _)| *t <= c.first_ts)
                .or(f.sni.first())
                .map(|(_, s)| s.clone());
        }
        if let Some(fd) = c.id.fd {
            if let Some(v) = sockets.get(&(c.id.capture.clone(), c.id.proc_key, fd)) {
                let i = v.partition_point(|(t, _)| *t <= c.first_ts);
                if let Some((_, t)) = i.checked_sub(1).map(|i| &v[i]) {
                    c.id.tuple = t.clone();
                }
            }
        }
    }
    list.sort_by(|a, b| {
        (&a.id.capture, a.first_ts, a.id.proc_key, a.id.ssl_ptr).cmp(&(
            &b.id.capture,
            b.first_ts,
            b.id.proc_key,
            b.id.ssl_ptr,
        ))
    });
    let mut numbers: HashMap<Arc<str>, u64> = HashMap::new();
    for c in list.iter_mut() {
        let n = numbers.entry(c.id.capture.clone()).or_insert(0);
        c.id.conn_id = *n;
        *n += 1;
    }
    Ok(list)
}

impl Connection {
    /// The spans of one direction: data in call order, a gap wherever a
    /// chunk is missing or a call's bytes were not all captured.
    pub fn timeline(&self, s: &Stream) -> Timeline<'_> {
        let mut t = Timeline::default();
        let mut pos = 0u64;
        let mut i = 0;
        while i < s.chunks.len() {
            let first = s.chunks[i];
            let mut expected = 0u64;
            while i < s.chunks.len() && s.chunks[i].call_seq == first.call_seq {
                let c = s.chunks[i];
                if c.chunk_offset > expected {
                    t.push(&mut pos, Piece::Gap(c.chunk_offset - expected), c.ts);
                    expected = c.chunk_offset;
                }
                let data = self.arrays[c.batch as usize].value(c.row as usize);
                // A duplicate or overlapping chunk contributes only new bytes.
                let skip = (expected - c.chunk_offset).min(data.len() as u64) as usize;
                let fresh = &data[skip..];
                if !fresh.is_empty() {
                    t.push(&mut pos, Piece::Data(fresh), c.ts);
                    expected += fresh.len() as u64;
                }
                i += 1;
            }
            if first.call_len > expected {
                let last = s.chunks[i - 1];
                t.push(&mut pos, Piece::Gap(first.call_len - expected), last.ts);
            }
        }
        t
    }
}
