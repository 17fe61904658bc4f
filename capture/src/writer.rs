//! Writing a capture: one open segment per table, sealed on size/age policy
//! and on close. Every batch goes both to the Parquet writer and to an Arrow
//! IPC journal that is handed to the OS on `flush`, so a killed recorder
//! loses at most the time since the last flush and `recover` can seal what
//! the journal holds. The slow disk work (journal fsyncs, and finishing a
//! sealed segment: footer, fsync, rename, hash, manifest) runs on a
//! background thread: on a busy disk an fsync takes seconds, and rows must
//! keep reaching the OS meanwhile.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use arrow::array::{Array, UInt64Array};
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::{IpcWriteOptions, StreamWriter};
use arrow::ipc::CompressionType;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use super::manifest::{chain_next, CaptureState, Manifest, SegmentInfo};
use super::{
    create_private_dir, create_private_file, segment_file_name, sha256_file, JOURNAL_EXT,
    PARTIAL_EXT, SEGMENT_EXT,
};
use crate::schema::{self, Table};

#[derive(Clone, Copy, Debug)]
pub struct SealPolicy {
    /// Seal when the segment's Parquet size reaches this many bytes.
    pub max_bytes: u64,
    /// Seal when the segment has been open this long.
    pub max_age: Duration,
}

impl Default for SealPolicy {
    fn default() -> Self {
        SealPolicy {
            max_bytes: 64 << 20,
            max_age: Duration::from_secs(300),
        }
    }
}

struct OpenSegment {
    seq: u64,
    parquet: ArrowWriter<File>,
    journal: StreamWriter<BufWriter<File>>,
    partial_path: PathBuf,
    journal_path: PathBuf,
    rows: u64,
    first_ts: Option<u64>,
    last_ts: Option<u64>,
    opened: Instant,
    dirty: bool,
}

pub struct CaptureWriter {
    dir: PathBuf,
    /// Shared with the background thread, which appends sealed segments.
    manifest: Arc<Mutex<Manifest>>,
    policy: SealPolicy,
    open: BTreeMap<&'static str, OpenSegment>,
    next_seq: u64,
    background: Background,
}

/// A segment whose writing is over, to be finished in the background.
struct SealJob {
    table: &'static str,
    seq: u64,
    parquet: ArrowWriter<File>,
    partial_path: PathBuf,
    journal_path: PathBuf,
    rows: u64,
    first_ts: Option<u64>,
    last_ts: Option<u64>,
}

enum Job {
    /// fsync these journals (for power loss: a killed process only needs
    /// the bytes handed to the OS, which `flush` does).
    SyncJournals(Vec<File>),
    Seal(Box<SealJob>),
}

/// One thread doing [`Job`]s in order, so segments join the hash chain in
/// the order they were sealed.
struct Background {
    tx: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    /// A journal sync is queued: a later request would sync the same files.
    sync_queued: Arc<AtomicBool>,
    error: Arc<Mutex<Option<String>>>,
}

impl Background {
    fn start(dir: PathBuf, manifest: Arc<Mutex<Manifest>>) -> Result<Background> {
        let (tx, rx) = channel::<Job>();
        let error = Arc::new(Mutex::new(None));
        let sync_queued = Arc::new(AtomicBool::new(false));
        let (seen, queued) = (error.clone(), sync_queued.clone());
        let thread = std::thread::Builder::new()
            .name("capture-disk".into())
            .spawn(move || {
                for job in rx {
                    let result = match job {
                        Job::SyncJournals(files) => {
                            queued.store(false, Ordering::Relaxed);
                            files
                                .iter()
                                .try_for_each(File::sync_data)
                                .context("syncing a journal")
                        }
                        Job::Seal(job) => finish_seal(*job, &dir, &manifest),
                    };
                    if let Err(e) = result {
                        if let Ok(mut slot) = seen.lock() {
                            slot.get_or_insert(format!("{e:#}"));
                        }
                    }
                }
            })
            .context("starting the capture disk thread")?;
        Ok(Background {
            tx: Some(tx),
            thread: Some(thread),
            sync_queued,
            error,
        })
    }

    fn sync_journals(&self, files: Vec<File>) {
        if !self.sync_queued.swap(true, Ordering::Relaxed) {
            self.send(Job::SyncJournals(files));
        }
    }

    fn send(&self, job: Job) {
        if let Some(tx) = &self.tx {
            // The thread only stops when `finish` drops the sender.
            let _ = tx.send(job);
        }
    }

    /// The first failure since the last call, if any.
    fn take_error(&self) -> Option<String> {
        self.error.lock().ok().and_then(|mut e| e.take())
    }

    /// Waits for every job sent so far.
    fn finish(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Footer, fsync, rename to the final name, then the manifest entry; the
/// journal goes last, so a crash at any point leaves it to recover from.
fn finish_seal(job: SealJob, dir: &Path, manifest: &Mutex<Manifest>) -> Result<()> {
    job.parquet
        .close()
        .with_context(|| format!("finishing segment {}", job.partial_path.display()))?;
    let final_path = dir
        .join(job.table)
        .join(segment_file_name(job.seq, SEGMENT_EXT));
    File::open(&job.partial_path)?.sync_all()?;
    std::fs::rename(&job.partial_path, &final_path)?;
    let sealed = SealedSegment {
        table: job.table,
        seq: job.seq,
        path: &final_path,
        rows: job.rows,
        first_ts: job.first_ts,
        last_ts: job.last_ts,
        recovered: false,
    };
    record_sealed(&mut lock(manifest), dir, &sealed)?;
    std::fs::remove_file(&job.journal_path)
        .with_context(|| format!("removing journal {}", job.journal_path.display()))
}

struct SealedSegment<'a> {
    table: &'a str,
    seq: u64,
    path: &'a Path,
    rows: u64,
    first_ts: Option<u64>,
    last_ts: Option<u64>,
    recovered: bool,
}

/// Appends a sealed segment to the manifest and its hash chain, and stores it.
fn record_sealed(manifest: &mut Manifest, dir: &Path, seg: &SealedSegment) -> Result<()> {
    let (sha256, bytes) = sha256_file(seg.path)?;
    let file = format!(
        "{}/{}",
        seg.table,
        seg.path.file_name().expect("file name").to_string_lossy()
    );
    let chain = chain_next(
        &manifest.chain_head(),
        seg.seq,
        seg.table,
        &file,
        seg.rows,
        &sha256,
    );
    manifest.segments.push(SegmentInfo {
        seq: seg.seq,
        table: seg.table.to_string(),
        file,
        rows: seg.rows,
        bytes,
        sha256,
        chain,
        first_ts_ns: seg.first_ts,
        last_ts_ns: seg.last_ts,
        recovered: seg.recovered,
    });
    *manifest.rows.entry(seg.table.to_string()).or_default() += seg.rows;
    manifest.store(dir)
}

fn writer_properties(table: &Table) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).expect("valid zstd level"),
        ))
        .set_dictionary_enabled(false)
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_max_row_group_row_count(Some(if table.name == schema::TLS_CHUNKS {
            8192
        } else {
            256 * 1024
        }))
        .set_created_by(format!("agentsight {}", env!("CARGO_PKG_VERSION")));
    for name in table.dictionary_columns() {
        b = b.set_column_dictionary_enabled(ColumnPath::from(name), true);
    }
    // Ordered integer columns compress far better as deltas.
    for name in ["ts_ns", "proc_key", "call_seq", "chunk_offset"] {
        if table.column_index(name).is_some() {
            b = b.set_column_encoding(
                ColumnPath::from(name),
                parquet::basic::Encoding::DELTA_BINARY_PACKED,
            );
        }
    }
    b.build()
}

fn ts_range(batch: &RecordBatch) -> (Option<u64>, Option<u64>) {
    let Some(col) = batch.column_by_name("ts_ns") else {
        return (None, None);
    };
    let Some(ts) = col.as_any().downcast_ref::<UInt64Array>() else {
        return (None, None);
    };
    (arrow::compute::min(ts), arrow::compute::max(ts))
}

impl CaptureWriter {
    /// Starts writing into `dir` (already prepared by `prepare_output_dir`)
    /// and stores the initial manifest.
    pub fn create(dir: &Path, manifest: Manifest, policy: SealPolicy) -> Result<Self> {
        for t in schema::TABLES {
            create_private_dir(&dir.join(t.name))?;
        }
        manifest.store(dir)?;
        let next_seq = manifest
            .segments
            .iter()
            .map(|s| s.seq + 1)
            .max()
            .unwrap_or(1);
        let manifest = Arc::new(Mutex::new(manifest));
        Ok(CaptureWriter {
            background: Background::start(dir.to_path_buf(), manifest.clone())?,
            dir: dir.to_path_buf(),
            manifest,
            policy,
            open: BTreeMap::new(),
            next_seq,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The manifest, locked (segments sealing in the background wait).
    pub fn manifest(&self) -> MutexGuard<'_, Manifest> {
        lock(&self.manifest)
    }

    fn open_segment(&mut self, table: &'static Table) -> Result<OpenSegment> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let tdir = self.dir.join(table.name);
        let partial_path = tdir.join(segment_file_name(seq, PARTIAL_EXT));
        let journal_path = tdir.join(segment_file_name(seq, JOURNAL_EXT));
        let schema = table.arrow_schema();
        let parquet = ArrowWriter::try_new(
            create_private_file(&partial_path)?,
            schema.clone(),
            Some(writer_properties(table)),
        )
        .with_context(|| format!("starting Parquet segment {}", partial_path.display()))?;
        // LZ4 buffers: captured payloads shrink several-fold, and copying
        // fewer bytes into the page cache is cheaper than compressing them.
        let journal_options = IpcWriteOptions::default()
            .try_with_compression(Some(CompressionType::LZ4_FRAME))
            .context("journal compression")?;
        let journal = StreamWriter::try_new_with_options(
            BufWriter::new(create_private_file(&journal_path)?),
            &schema,
            journal_options,
        )
        .with_context(|| format!("starting journal {}", journal_path.display()))?;
        Ok(OpenSegment {
            seq,
            parquet,
            journal,
            partial_path,
            journal_path,
            rows: 0,
            first_ts: None,
            last_ts: None,
            opened: Instant::now(),
            dirty: false,
        })
    }

    /// Appends rows to the table's open segment (opening one if needed).
    pub fn write(&mut self, table_name: &str, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let table =
            schema::table(table_name).with_context(|| format!("unknown table {table_name}"))?;
        if !self.open.contains_key(table.name) {
            let seg = self.open_segment(table)?;
            self.open.insert(table.name, seg);
        }
        let seg = self.open.get_mut(table.name).expect("just opened");
        seg.journal
            .write(batch)
            .with_context(|| format!("writing journal {}", seg.journal_path.display()))?;
        seg.parquet
            .write(batch)
            .with_context(|| format!("writing segment {}", seg.partial_path.display()))?;
        // Bound memory: a row group in progress is held in RAM until flushed.
        if seg.parquet.in_progress_size() > 32 << 20 {
            seg.parquet.flush()?;
        }
        seg.rows += batch.num_rows() as u64;
        let (lo, hi) = ts_range(batch);
        seg.first_ts = match (seg.first_ts, lo) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        seg.last_ts = seg.last_ts.max(hi);
        seg.dirty = true;
        Ok(())
    }

    /// Hands everything written so far to the OS (journals written, their
    /// fsync requested in the background) and seals segments that reached
    /// the size or age limit. Call about once a second.
    pub fn flush(&mut self) -> Result<()> {
        if let Some(e) = self.background.take_error() {
            anyhow::bail!("{e}");
        }
        let mut to_seal = Vec::new();
        let mut to_sync = Vec::new();
        for (name, seg) in self.open.iter_mut() {
            if seg.dirty {
                seg.journal
                    .flush()
                    .with_context(|| format!("flushing {}", seg.journal_path.display()))?;
                let file = seg.journal.get_ref().get_ref();
                to_sync.push(
                    file.try_clone()
                        .with_context(|| format!("syncing {}", seg.journal_path.display()))?,
                );
                seg.dirty = false;
            }
            let size = seg.parquet.bytes_written() as u64 + seg.parquet.in_progress_size() as u64;
            if size >= self.policy.max_bytes || seg.opened.elapsed() >= self.policy.max_age {
                to_seal.push(*name);
            }
        }
        if !to_sync.is_empty() {
            self.background.sync_journals(to_sync);
        }
        for name in to_seal {
            self.seal(name);
        }
        Ok(())
    }

    /// Hands a segment to the background thread to be finished.
    fn seal(&mut self, table: &'static str) {
        let Some(seg) = self.open.remove(table) else {
            return;
        };
        let OpenSegment {
            seq,
            parquet,
            journal,
            partial_path,
            journal_path,
            rows,
            first_ts,
            last_ts,
            ..
        } = seg;
        // Flushes the journal's buffer; it stays on disk until the seal is done.
        drop(journal);
        self.background.send(Job::Seal(Box::new(SealJob {
            table,
            seq,
            parquet,
            partial_path,
            journal_path,
            rows,
            first_ts,
            last_ts,
        })));
    }

    /// Seals every open segment and waits for the background work.
    fn seal_all(&mut self) -> Option<String> {
        let names: Vec<&'static str> = self.open.keys().copied().collect();
        for name in names {
            self.seal(name);
        }
        self.background.finish();
        self.background.take_error()
    }

    /// Seals every open segment, marks the capture closed and returns the
    /// final manifest.
    pub fn close(mut self, ended_at_ns: i64) -> Result<Manifest> {
        if let Some(e) = self.seal_all() {
            anyhow::bail!("{e}");
        }
        let mut m = lock(&self.manifest).clone();
        m.state = CaptureState::Closed;
        m.ended_at_ns = Some(ended_at_ns);
        m.store(&self.dir)?;
        Ok(m)
    }

    /// Best-effort close after a write error (e.g. disk full): seals what can
    /// be sealed, keeps journals of what cannot, and records why.
    pub fn close_after_error(mut self, ended_at_ns: i64, why: &str) -> Manifest {
        let failed = self.seal_all();
        let mut m = lock(&self.manifest).clone();
        m.notes.push(format!("recording stopped early: {why}"));
        if let Some(e) = failed {
            m.notes.push(format!("could not seal every segment: {e}"));
        }
        m.ended_at_ns = Some(ended_at_ns);
        let _ = m.store(&self.dir);
        m
    }
}

/// The manifest lock: a panic while holding it cannot leave it half-updated
/// (segments are pushed whole), so a poisoned lock is still usable.
fn lock(m: &Mutex<Manifest>) -> MutexGuard<'_, Manifest> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Debug, Default)]
pub struct RecoveryReport {
    pub segments: usize,
    pub rows: u64,
    /// Journals whose tail was cut mid-record (expected after kill -9).
    pub truncated_journals: usize,
}

/// Seals the journals a crashed recorder left behind. Reads each journal up
/// to its last complete batch, writes a Parquet segment from it, and appends
/// it to the manifest (and chain) marked `recovered`.
pub fn recover(dir: &Path) -> Result<RecoveryReport> {
    let mut manifest = Manifest::load(dir)?;
    let mut report = RecoveryReport::default();
    let mut journals: Vec<(u64, &'static Table, PathBuf)> = Vec::new();
    for table in schema::TABLES {
        let Ok(entries) = std::fs::read_dir(dir.join(table.name)) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.ends_with(&format!(".{PARTIAL_EXT}")) {
                // The Parquet side of an unsealed segment has no footer; the
                // journal is the copy we rebuild from.
                std::fs::remove_file(e.path())?;
            } else if let Some(seq) = name
                .strip_suffix(&format!(".{JOURNAL_EXT}"))
                .and_then(|s| s.strip_prefix("seg-"))
                .and_then(|s| s.parse::<u64>().ok())
            {
                journals.push((seq, table, e.path()));
            }
        }
    }
    journals.sort_by_key(|j| j.0);
    for (seq, table, journal_path) in journals {
        let already = manifest.segments.iter().any(|s| s.seq == seq);
        if already {
            // Sealed, then the process died before deleting the journal.
            std::fs::remove_file(&journal_path)?;
            continue;
        }
        let reader = match File::open(&journal_path)
            .map_err(anyhow::Error::from)
            .and_then(|f| {
                StreamReader::try_new(std::io::BufReader::new(f), None).map_err(anyhow::Error::from)
            }) {
            Ok(r) => Some(r),
            Err(_) => None, // died before the schema message reached disk: nothing to recover
        };
        let final_path = dir
            .join(table.name)
            .join(segment_file_name(seq, SEGMENT_EXT));
        let mut parquet = ArrowWriter::try_new(
            create_private_file(&final_path)?,
            table.arrow_schema(),
            Some(writer_properties(table)),
        )?;
        let (mut rows, mut first, mut last) = (0u64, None, None);
        if let Some(reader) = reader {
            for batch in reader {
                match batch {
                    Ok(b) => {
                        let (lo, hi) = ts_range(&b);
                        first = match (first, lo) {
                            (Some(a), Some(b)) => Some(std::cmp::min(a, b)),
                            (a, b) => a.or(b),
                        };
                        last = last.max(hi);
                        rows += b.num_rows() as u64;
                        parquet.write(&b)?;
                    }
                    Err(_) => {
                        report.truncated_journals += 1;
                        break;
                    }
                }
            }
        }
        parquet.close()?;
        File::open(&final_path)?.sync_all()?;
        if rows == 0 {
            std::fs::remove_file(&final_path)?;
        } else {
            let sealed = SealedSegment {
                table: table.name,
                seq,
                path: &final_path,
                rows,
                first_ts: first,
                last_ts: last,
                recovered: true,
            };
            record_sealed(&mut manifest, dir, &sealed)?;
            report.segments += 1;
            report.rows += rows;
        }
        std::fs::remove_file(&journal_path)?;
    }
    if manifest.state == CaptureState::Recording {
        manifest.state = CaptureState::Recovered;
        manifest.notes.push(format!(
            "recorder did not stop cleanly; recovered {} rows in {} segments from journals",
            report.rows, report.segments
        ));
        manifest.store(dir)?;
    }
    Ok(report)
}
