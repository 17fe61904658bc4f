//! The evidence bundle: the raw rows a report cites, copied out of the
//! capture's segments with the segment, row index and hashes that tie each
//! one back to the sealed, hash-chained original, and `verify_bundle`, which
//! checks a bundle on its own and, given the capture, re-derives every row.
//!
//! A row's hash is SHA-256 over its JSON line (explicit nulls, columns in
//! the schema module's order, binary as hex): the same bytes whether the row
//! is read from the bundle's Parquet or from the capture's segment.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::io::Write as _;
use std::path::{Component, Path};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use datafusion::arrow::array::{
    new_null_array, Array, ArrayRef, AsArray, RecordBatch, StringArray, UInt32Array, UInt64Array,
};
use datafusion::arrow::compute::{concat_batches, take};
use datafusion::arrow::datatypes::{DataType, Field, Schema, UInt64Type};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use agentsight_capture::manifest::{chain_next, Manifest, SegmentInfo};
use agentsight_capture::schema::{self, Table};
use agentsight_capture::{sha256_file, table_segments};

pub const BUNDLE_FORMAT: &str = "agentsight-evidence-bundle";
pub const BUNDLE_VERSION: u32 = 1;
pub const BUNDLE_FILE: &str = "bundle.json";
pub const SUMS_FILE: &str = "SHA256SUMS";
/// Most rows one citation may pull in (a process that read ten thousand files).
pub const MAX_ROWS_PER_CITATION: usize = 200;

/// What a report cites in one capture, by the raw rows' own keys.
#[derive(Default, Debug, Clone)]
pub struct Wanted {
    /// Every `process_events` row of these processes.
    pub processes: BTreeMap<u64, BTreeSet<String>>,
    /// `file_events` / `net_events` rows by (proc_key, ts_ns).
    pub events: BTreeMap<(u64, u64), BTreeSet<String>>,
    /// `tls_chunks` of one connection (proc_key, ssl_ptr) within [from, to].
    pub tls: Vec<TlsSpan>,
}

#[derive(Debug, Clone)]
pub struct TlsSpan {
    pub proc_key: u64,
    pub ssl_ptr: u64,
    pub from_ns: u64,
    pub to_ns: u64,
    pub cited_by: String,
}

impl Wanted {
    pub fn process(&mut self, key: u64, by: &str) {
        self.processes
            .entry(key)
            .or_default()
            .insert(by.to_string());
    }
    pub fn event(&mut self, proc_key: u64, ts_ns: u64, by: &str) {
        self.events
            .entry((proc_key, ts_ns))
            .or_default()
            .insert(by.to_string());
    }
    pub fn is_empty(&self) -> bool {
        self.processes.is_empty() && self.events.is_empty() && self.tls.is_empty()
    }
}

/// One cited row: where it lives in the capture and what it hashes to.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RowRef {
    pub capture: String,
    pub table: String,
    /// Segment path inside the capture (as the manifest lists it).
    pub segment: String,
    pub segment_sha256: String,
    /// Row index within the segment (0-based, file order).
    pub row: u64,
    pub row_sha256: String,
    /// Bundle file holding the row, and its index there.
    pub file: String,
    pub index: u64,
    /// Report finding ids (`F1`…) or sections that cite the row.
    pub cited_by: Vec<String>,
}

/// Rows of one table of one capture, as copied into the bundle.
pub struct CitedTable {
    pub capture_index: usize,
    pub table: &'static str,
    /// The table's schema-module columns plus `_segment` and `_row`.
    pub batch: RecordBatch,
    pub refs: Vec<RowRef>,
}

/// The table's columns in schema-module order; a segment written by an
/// older schema gets its missing nullable columns as nulls.
fn project(batch: &RecordBatch, table: &Table) -> Result<RecordBatch> {
    let mut fields = Vec::with_capacity(table.columns.len());
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(table.columns.len());
    for c in table.columns {
        let ty = c.ty.arrow();
        // Cast to the schema's type: the hash and the renderers see one
        // layout whatever the segment's writer chose.
        let col = match batch.column_by_name(c.name) {
            Some(a) if *a.data_type() == ty => a.clone(),
            Some(a) => datafusion::arrow::compute::cast(a, &ty).with_context(|| {
                format!("column {} has type {}, not {ty}", c.name, a.data_type())
            })?,
            None if c.nullable => new_null_array(&ty, batch.num_rows()),
            None => bail!("lacks column {}", c.name),
        };
        fields.push(Field::new(c.name, ty, c.nullable));
        cols.push(col);
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
}

/// SHA-256 of each row's JSON line (explicit nulls, binary as hex).
pub fn row_hashes(batch: &RecordBatch) -> Result<Vec<String>> {
    let mut out = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        let one = batch.slice(i, 1);
        let mut buf = Vec::new();
        {
            let mut w = datafusion::arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, datafusion::arrow::json::writer::LineDelimited>(&mut buf);
            w.write(&one)?;
            w.finish()?;
        }
        out.push(hex::encode(Sha256::digest(&buf)));
    }
    Ok(out)
}

fn read_segment(path: &Path) -> Result<Vec<RecordBatch>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| format!("{} is not readable Parquet", path.display()))?
        .build()?;
    reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .with_context(|| format!("reading {}", path.display()))
}

fn u64_col<'a>(b: &'a RecordBatch, name: &str) -> Option<&'a UInt64Array> {
    b.column_by_name(name)
        .and_then(|c| c.as_primitive_opt::<UInt64Type>())
}

/// Finds the cited rows of one capture by scanning the tables they live in.
pub fn collect(
    capture_index: usize,
    label: &str,
    dir: &Path,
    manifest: &Manifest,
    wanted: &Wanted,
    skip: &HashSet<&Path>,
) -> Result<Vec<CitedTable>> {
    let mut out = Vec::new();
    for table in [
        schema::PROCESS_EVENTS,
        schema::FILE_EVENTS,
        schema::NET_EVENTS,
        schema::TLS_CHUNKS,
    ] {
        let def = schema::table(table).context("schema lacks a raw table")?;
        let mut batches = Vec::new();
        let mut refs = Vec::new();
        let mut per_citation: HashMap<String, usize> = HashMap::new();
        if match table {
            schema::PROCESS_EVENTS => wanted.processes.is_empty(),
            schema::TLS_CHUNKS => wanted.tls.is_empty(),
            _ => wanted.events.is_empty(),
        } {
            continue;
        }
        for seg in table_segments(manifest, table) {
            if skip.contains(dir.join(&seg.file).as_path()) {
                continue;
            }
            let mut row_base = 0u64;
            for batch in read_segment(&dir.join(&seg.file))? {
                let n = batch.num_rows();
                let (Some(keys), Some(ts)) =
                    (u64_col(&batch, "proc_key"), u64_col(&batch, "ts_ns"))
                else {
                    bail!("segment {} lacks proc_key/ts_ns", seg.file);
                };
                let ssl = u64_col(&batch, "ssl_ptr");
                let mut picked: Vec<u32> = Vec::new();
                let mut cites: Vec<Vec<String>> = Vec::new();
                for i in 0..n {
                    let (k, t) = (keys.value(i), ts.value(i));
                    let by: Vec<String> = match table {
                        schema::PROCESS_EVENTS => wanted
                            .processes
                            .get(&k)
                            .map(|s| s.iter().cloned().collect())
                            .unwrap_or_default(),
                        schema::TLS_CHUNKS => {
                            let p = ssl.map_or(0, |s| s.value(i));
                            wanted
                                .tls
                                .iter()
                                .filter(|s| {
                                    s.proc_key == k
                                        && s.ssl_ptr == p
                                        && (s.from_ns..=s.to_ns).contains(&t)
                                })
                                .map(|s| s.cited_by.clone())
                                .collect()
                        }
                        _ => wanted
                            .events
                            .get(&(k, t))
                            .map(|s| s.iter().cloned().collect())
                            .unwrap_or_default(),
                    };
                    let by: Vec<String> = by
                        .into_iter()
                        .filter(|b| {
                            let c = per_citation.entry(b.clone()).or_default();
                            *c += 1;
                            *c <= MAX_ROWS_PER_CITATION
                        })
                        .collect();
                    if !by.is_empty() {
                        picked.push(i as u32);
                        cites.push(by);
                    }
                }
                if !picked.is_empty() {
                    let idx = UInt32Array::from(picked.clone());
                    let cols = batch
                        .columns()
                        .iter()
                        .map(|c| take(c, &idx, None))
                        .collect::<std::result::Result<Vec<_>, _>>()?;
                    let taken = project(&RecordBatch::try_new(batch.schema(), cols)?, def)
                        .with_context(|| format!("segment {}", seg.file))?;
                    let hashes = row_hashes(&taken)?;
                    let file = format!("rows/c{capture_index}_{table}.parquet");
                    for ((i, h), by) in picked.iter().zip(hashes).zip(cites) {
                        refs.push(RowRef {
                            capture: label.to_string(),
                            table: table.to_string(),
                            segment: seg.file.clone(),
                            segment_sha256: seg.sha256.clone(),
                            row: row_base + *i as u64,
                            row_sha256: h,
                            file: file.clone(),
                            index: refs.len() as u64,
                            cited_by: by,
                        });
                    }
                    batches.push(taken);
                }
                row_base += n as u64;
            }
        }
        if batches.is_empty() {
            continue;
        }
        let schema = batches[0].schema();
        let rows = concat_batches(&schema, &batches)?;
        let batch = with_location(&rows, &refs)?;
        out.push(CitedTable {
            capture_index,
            table,
            batch,
            refs,
        });
    }
    Ok(out)
}

/// Adds `_segment` and `_row` so a reader of the Parquet/CSV alone sees
/// where each row came from.
fn with_location(rows: &RecordBatch, refs: &[RowRef]) -> Result<RecordBatch> {
    let mut fields: Vec<Field> = rows
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("_segment", DataType::Utf8, false));
    fields.push(Field::new("_row", DataType::UInt64, false));
    let mut cols = rows.columns().to_vec();
    cols.push(Arc::new(StringArray::from_iter_values(
        refs.iter().map(|r| r.segment.as_str()),
    )));
    cols.push(Arc::new(UInt64Array::from_iter_values(
        refs.iter().map(|r| r.row),
    )));
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
}

/// The part of `bundle.json` about one capture.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct BundleCapture {
    pub label: String,
    pub capture_id: String,
    pub chain_head: String,
    /// Copy of the capture's manifest inside the bundle.
    pub manifest: String,
    pub segments: Vec<BundleSegment>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct BundleSegment {
    pub seq: u64,
    pub table: String,
    pub file: String,
    pub rows: u64,
    pub sha256: String,
    pub chain: String,
}

impl From<&SegmentInfo> for BundleSegment {
    fn from(g: &SegmentInfo) -> Self {
        BundleSegment {
            seq: g.seq,
            table: g.table.clone(),
            file: g.file.clone(),
            rows: g.rows,
            sha256: g.sha256.clone(),
            chain: g.chain.clone(),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct BundleFinding {
    pub id: String,
    pub rule_id: String,
    pub severity: String,
    pub capture: String,
    pub ts_ns: u64,
    pub summary: String,
    pub evidence: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct BundleIndex {
    pub format: String,
    pub version: u32,
    pub created_by: String,
    pub created_at: String,
    pub title: String,
    pub captures: Vec<BundleCapture>,
    pub findings: Vec<BundleFinding>,
    pub rows: Vec<RowRef>,
}

/// Captured text in a CSV cell: quoted, and a leading `= + - @` (a
/// spreadsheet formula) defused with an apostrophe.
fn csv_cell(s: &str) -> String {
    let defused = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    format!("\"{}\"", defused.replace('"', "\"\""))
}

/// The CSV twin of a rows file, as bytes (also how `verify` checks it).
fn csv_bytes(batch: &RecordBatch) -> Result<Vec<u8>> {
    let mut f = Vec::new();
    let names: Vec<String> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| csv_cell(f.name()))
        .collect();
    writeln!(f, "{}", names.join(","))?;
    let opts = FormatOptions::default().with_null("");
    let fmts = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    for r in 0..batch.num_rows() {
        let cells: Vec<String> = fmts
            .iter()
            .map(|fmt| csv_cell(&fmt.value(r).to_string()))
            .collect();
        writeln!(f, "{}", cells.join(","))?;
    }
    Ok(f)
}

fn write_parquet(path: &Path, batch: &RecordBatch) -> Result<()> {
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .build();
    let mut w = ArrowWriter::try_new(File::create(path)?, batch.schema(), Some(props))?;
    w.write(batch)?;
    w.close()?;
    Ok(())
}

/// One capture as the bundle records it.
pub struct BundleSource<'a> {
    pub label: &'a str,
    pub dir: &'a Path,
    pub manifest: &'a Manifest,
}

/// Writes `dir` (created): rows as Parquet and CSV, the manifests,
/// `bundle.json` and `SHA256SUMS` over every other file.
pub fn write(
    dir: &Path,
    title: &str,
    sources: &[BundleSource<'_>],
    tables: &[CitedTable],
    findings: Vec<BundleFinding>,
    key: Option<&ed25519_dalek::SigningKey>,
) -> Result<BundleIndex> {
    std::fs::create_dir_all(dir.join("rows"))
        .with_context(|| format!("creating {}", dir.display()))?;
    let mut captures = Vec::new();
    for (i, s) in sources.iter().enumerate() {
        let manifest = format!("manifest-c{i}.json");
        // The manifest the report was built from (a capture still being
        // recorded may have sealed more since).
        std::fs::write(dir.join(&manifest), serde_json::to_vec_pretty(s.manifest)?)
            .with_context(|| format!("writing the manifest of {}", s.dir.display()))?;
        captures.push(BundleCapture {
            label: s.label.to_string(),
            capture_id: s.manifest.capture_id.clone(),
            chain_head: s.manifest.chain_head(),
            manifest,
            segments: s
                .manifest
                .segments
                .iter()
                .map(BundleSegment::from)
                .collect(),
        });
    }
    let mut rows = Vec::new();
    for t in tables {
        let stem = format!("rows/c{}_{}", t.capture_index, t.table);
        write_parquet(&dir.join(format!("{stem}.parquet")), &t.batch)?;
        std::fs::write(dir.join(format!("{stem}.csv")), csv_bytes(&t.batch)?)?;
        rows.extend(t.refs.iter().cloned());
    }
    let index = BundleIndex {
        format: BUNDLE_FORMAT.to_string(),
        version: BUNDLE_VERSION,
        created_by: format!("agentsight {}", env!("CARGO_PKG_VERSION")),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        title: title.to_string(),
        captures,
        findings,
        rows,
    };
    std::fs::write(dir.join(BUNDLE_FILE), serde_json::to_vec_pretty(&index)?)?;
    let mut sums = write_sums(dir)?;
    if let Some(key) = key {
        sums.insert(SUMS_FILE.to_string(), sha256_file(&dir.join(SUMS_FILE))?.0);
        let predicate = serde_json::json!({
            "title": index.title,
            "created_by": index.created_by,
            "captures": index.captures.iter().map(|c| serde_json::json!({
                "capture_id": c.capture_id, "chain_head": c.chain_head,
            })).collect::<Vec<_>>(),
        });
        super::sign::sign(dir, key, &sums, predicate)?;
    }
    Ok(index)
}

/// Every file under `dir` except `SHA256SUMS` and the signature, as sorted
/// relative paths; an entry that is not a regular file or a directory (a
/// symlink, a FIFO) is an error: verify must never follow one.
fn bundle_files(dir: &Path) -> Result<Vec<String>> {
    fn walk(root: &Path, sub: &Path, out: &mut Vec<String>) -> Result<()> {
        for e in std::fs::read_dir(root.join(sub))? {
            let e = e?;
            let rel = sub.join(e.file_name());
            let ty = e.file_type()?;
            if ty.is_dir() {
                walk(root, &rel, out)?;
            } else if ty.is_file() {
                out.push(rel.to_string_lossy().replace('\\', "/"));
            } else {
                bail!(
                    "{} is not a regular file (a link or device): not a bundle file",
                    rel.display()
                );
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, Path::new(""), &mut out)?;
    out.retain(|f| f != SUMS_FILE && f != super::sign::ENVELOPE_FILE);
    out.sort();
    Ok(out)
}

/// Writes `SHA256SUMS`; returns what it lists.
fn write_sums(dir: &Path) -> Result<BTreeMap<String, String>> {
    let mut text = String::new();
    let mut sums = BTreeMap::new();
    for f in bundle_files(dir)? {
        let (sha, _) = sha256_file(&dir.join(&f))?;
        text.push_str(&format!("{sha}  {f}\n"));
        sums.insert(f, sha);
    }
    std::fs::write(dir.join(SUMS_FILE), text)?;
    Ok(sums)
}

/// What `verify --bundle` found.
#[derive(Debug, Default)]
pub struct BundleReport {
    pub files_checked: usize,
    pub rows_checked: usize,
    /// Rows re-derived from the original capture (with `--capture`).
    pub rows_rederived: usize,
    /// Rows of other captures of the bundle, not re-derived from this one.
    pub rows_of_other_captures: usize,
    /// Key ids the envelope's signatures claim (empty when unsigned).
    pub signed_by: Vec<String>,
    /// The key id whose signature checked out against the given public key.
    pub verified_by: Option<String>,
    pub problems: Vec<String>,
}

impl BundleReport {
    pub fn intact(&self) -> bool {
        self.problems.is_empty()
    }
}

fn safe_relative(rel: &str) -> bool {
    let p = Path::new(rel);
    !rel.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)))
}

/// SHA-256 of a regular file inside the bundle (never through a link).
fn bundle_file_sha(dir: &Path, rel: &str) -> Result<String> {
    let path = dir.join(rel);
    let meta = std::fs::symlink_metadata(&path)?;
    if !meta.is_file() {
        bail!("not a regular file");
    }
    Ok(sha256_file(&path)?.0)
}

/// Checks a bundle: every file against `SHA256SUMS`, and exactly the files
/// bundle.json accounts for; each manifest copy's hash chain up to the
/// recorded head; each rows file row for row against bundle.json (its
/// location columns, its hash, every index once) and its CSV twin against
/// it; with `capture`, the capture's identity and recomputed chain, each
/// cited segment's hash, and each row re-read from its segment; with
/// `public_key`, the signature and that the files are its subjects.
pub fn verify_bundle(
    dir: &Path,
    capture: Option<&Path>,
    public_key: Option<&ed25519_dalek::VerifyingKey>,
) -> Result<BundleReport> {
    let mut r = BundleReport {
        signed_by: super::sign::signers(dir).unwrap_or_default(),
        ..BundleReport::default()
    };
    let sums = std::fs::read_to_string(dir.join(SUMS_FILE))
        .with_context(|| format!("{} has no {SUMS_FILE}: not a bundle", dir.display()))?;
    let present = bundle_files(dir)?;
    let mut listed = HashSet::new();
    for (n, line) in sums.lines().enumerate() {
        let Some((sha, file)) = line.split_once("  ") else {
            r.problems.push(format!(
                "{SUMS_FILE} line {}: not `<sha256>  <file>`",
                n + 1
            ));
            continue;
        };
        if !safe_relative(file) {
            r.problems.push(format!(
                "{SUMS_FILE} line {}: path {file:?} leaves the bundle",
                n + 1
            ));
            continue;
        }
        listed.insert(file.to_string());
        match bundle_file_sha(dir, file) {
            Ok(got) if got == sha => r.files_checked += 1,
            Ok(got) => r.problems.push(format!(
                "{file} is altered: sha256 {got} but {SUMS_FILE} recorded {sha}"
            )),
            Err(e) => r
                .problems
                .push(format!("{file} is missing or unreadable: {e:#}")),
        }
    }
    for f in &present {
        if !listed.contains(f) {
            r.problems
                .push(format!("{f} is in the bundle but not in {SUMS_FILE}"));
        }
    }
    if let Some(key) = public_key {
        check_signature(dir, key, &present, &mut r)?;
    }
    let index: BundleIndex = serde_json::from_slice(
        &std::fs::read(dir.join(BUNDLE_FILE)).context("reading bundle.json")?,
    )
    .context("bundle.json is not a bundle index")?;
    if index.format != BUNDLE_FORMAT || index.version > BUNDLE_VERSION {
        bail!(
            "bundle.json is {:?} version {}; this agentsight reads {BUNDLE_FORMAT} up to version {BUNDLE_VERSION}",
            index.format,
            index.version
        );
    }
    // Exactly the files the index accounts for.
    let mut expected: HashSet<String> = HashSet::from([BUNDLE_FILE.to_string()]);
    for c in &index.captures {
        expected.insert(c.manifest.clone());
    }
    for row in &index.rows {
        expected.insert(row.file.clone());
        if let Some(stem) = row.file.strip_suffix(".parquet") {
            expected.insert(format!("{stem}.csv"));
        }
    }
    for f in &present {
        if !expected.contains(f) {
            r.problems.push(format!(
                "{f} is not part of the bundle (bundle.json names no such file)"
            ));
        }
    }
    let segments = check_manifests(dir, &index, &mut r);
    let finding_ids: HashSet<&str> = index.findings.iter().map(|f| f.id.as_str()).collect();
    let mut by_file: BTreeMap<&str, Vec<&RowRef>> = BTreeMap::new();
    for row in &index.rows {
        by_file.entry(&row.file).or_default().push(row);
        match segments.get(&(row.capture.clone(), row.segment.clone())) {
            Some((table, sha)) if *sha == row.segment_sha256 && *table == row.table => {}
            Some((table, sha)) => r.problems.push(format!(
                "bundle.json: row {} of {} cites table {} and segment sha256 {}, but the manifest has {table} and {sha}",
                row.row, row.segment, row.table, row.segment_sha256
            )),
            None => r.problems.push(format!(
                "bundle.json: segment {} of capture {} is not in its manifest",
                row.segment, row.capture
            )),
        }
        if let Some(b) = row
            .cited_by
            .iter()
            .find(|b| !finding_ids.contains(b.as_str()))
        {
            r.problems.push(format!(
                "bundle.json: row {} of {} is cited by unknown finding {b}",
                row.row, row.segment
            ));
        }
    }
    for (file, rows) in &by_file {
        if let Err(e) = check_rows_file(dir, file, rows, &mut r) {
            r.problems.push(format!("{file}: {e:#}"));
        }
    }
    if let Some(cap) = capture {
        rederive(&index, cap, &mut r)?;
    }
    Ok(r)
}

/// The signature, and that the bundle's files are exactly its subjects.
fn check_signature(
    dir: &Path,
    key: &ed25519_dalek::VerifyingKey,
    present: &[String],
    r: &mut BundleReport,
) -> Result<()> {
    match super::sign::verify(dir, key) {
        Ok((keyid, subjects)) => {
            r.verified_by = Some(keyid);
            let mut files = present.to_vec();
            files.push(SUMS_FILE.to_string());
            for f in &files {
                match (subjects.get(f), bundle_file_sha(dir, f)) {
                    (Some(want), Ok(got)) if *want == got => {}
                    (Some(_), _) => r
                        .problems
                        .push(format!("{f} differs from what the signed statement covers")),
                    (None, _) => r
                        .problems
                        .push(format!("{f} is not covered by the signed statement")),
                }
            }
            for f in subjects.keys() {
                if !files.contains(f) {
                    r.problems
                        .push(format!("{f} is signed for but missing from the bundle"));
                }
            }
        }
        Err(e) => r.problems.push(format!("{e:#}")),
    }
    Ok(())
}

/// Each manifest copy: belongs to its capture entry, chain recomputed to the
/// recorded head, segments as bundle.json lists them. Returns (capture
/// label, segment file) -> (table, sha256).
fn check_manifests(
    dir: &Path,
    index: &BundleIndex,
    r: &mut BundleReport,
) -> HashMap<(String, String), (String, String)> {
    let mut segments = HashMap::new();
    let mut labels = HashSet::new();
    let mut ids = HashSet::new();
    for c in &index.captures {
        if !labels.insert(&c.label) || !ids.insert(&c.capture_id) {
            r.problems.push(format!(
                "bundle.json: capture {} ({}) is listed twice",
                c.label, c.capture_id
            ));
            continue;
        }
        if !safe_relative(&c.manifest) {
            r.problems.push(format!(
                "bundle.json: manifest path {:?} leaves the bundle",
                c.manifest
            ));
            continue;
        }
        let m = match Manifest::load_file(&dir.join(&c.manifest)) {
            Ok(m) => m,
            Err(e) => {
                r.problems.push(format!("{}: {e:#}", c.manifest));
                continue;
            }
        };
        if m.capture_id != c.capture_id {
            r.problems.push(format!(
                "{}: capture id {} but bundle.json says {}",
                c.manifest, m.capture_id, c.capture_id
            ));
        }
        let copied: Vec<BundleSegment> = m.segments.iter().map(BundleSegment::from).collect();
        if c.segments != copied {
            r.problems.push(format!(
                "bundle.json: the segments of capture {} differ from its manifest copy {}",
                c.label, c.manifest
            ));
        }
        let mut prev = m.chain_genesis();
        for s in &m.segments {
            if chain_next(&prev, s.seq, &s.table, &s.file, s.rows, &s.sha256) != s.chain {
                r.problems.push(format!(
                    "{}: hash chain broken at segment {}",
                    c.manifest, s.file
                ));
            }
            prev = s.chain.clone();
            segments.insert(
                (c.label.clone(), s.file.clone()),
                (s.table.clone(), s.sha256.clone()),
            );
        }
        if prev != c.chain_head {
            r.problems.push(format!(
                "{}: chain head {prev} but bundle.json recorded {}",
                c.manifest, c.chain_head
            ));
        }
    }
    segments
}

/// One rows file: read, every index cited exactly once, each row's
/// `_segment`/`_row` and hash as bundle.json says, and its CSV twin exactly
/// what this Parquet gives.
fn check_rows_file(dir: &Path, file: &str, rows: &[&RowRef], r: &mut BundleReport) -> Result<()> {
    if !safe_relative(file) || !file.ends_with(".parquet") {
        bail!("bundle.json names it as a rows file, which it cannot be");
    }
    let table = rows[0].table.as_str();
    if rows
        .iter()
        .any(|row| row.table != table || row.capture != rows[0].capture)
    {
        bail!("bundle.json cites rows of several tables or captures in it");
    }
    let def = schema::table(table).with_context(|| format!("unknown table {table}"))?;
    let batches = read_segment(&dir.join(file))?;
    let schema = batches.first().map(|b| b.schema()).context("no rows")?;
    let all = concat_batches(&schema, &batches)?;
    let hashes = row_hashes(&project(&all, def)?)?;
    let mut seen = vec![false; all.num_rows()];
    let seg_col = all
        .column_by_name("_segment")
        .and_then(|c| c.as_string_opt::<i32>())
        .context("lacks _segment")?;
    let row_col = u64_col(&all, "_row").context("lacks _row")?;
    for row in rows {
        let i = usize::try_from(row.index).unwrap_or(usize::MAX);
        let Some(h) = hashes.get(i) else {
            r.problems
                .push(format!("{file}: row {} is missing", row.index));
            continue;
        };
        if std::mem::replace(&mut seen[i], true) {
            r.problems.push(format!(
                "{file}: row {} is cited twice by bundle.json",
                row.index
            ));
            continue;
        }
        if seg_col.value(i) != row.segment || row_col.value(i) != row.row {
            r.problems.push(format!(
                "{file}: row {} says it is {} row {}, bundle.json says {} row {}",
                row.index,
                seg_col.value(i),
                row_col.value(i),
                row.segment,
                row.row
            ));
        } else if *h != row.row_sha256 {
            r.problems.push(format!(
                "{file}: row {} (segment {} row {}) does not hash to what bundle.json recorded",
                row.index, row.segment, row.row
            ));
        } else {
            r.rows_checked += 1;
        }
    }
    if let Some(extra) = seen.iter().position(|s| !s) {
        r.problems.push(format!(
            "{file}: row {extra} is not in bundle.json (rows were added)"
        ));
    }
    let csv = file.replace(".parquet", ".csv");
    match std::fs::read(dir.join(&csv)) {
        Ok(bytes) if bytes == csv_bytes(&all)? => {}
        Ok(_) => r
            .problems
            .push(format!("{csv} differs from the rows of {file} it copies")),
        Err(e) => r.problems.push(format!("{csv}: {e}")),
    }
    Ok(())
}

/// Re-reads every cited row of `cap` from its segments; rows of the bundle's
/// other captures are counted, not re-derived.
fn rederive(index: &BundleIndex, cap: &Path, r: &mut BundleReport) -> Result<()> {
    let m = Manifest::load(cap)?;
    let Some(c) = index.captures.iter().find(|c| c.capture_id == m.capture_id) else {
        bail!(
            "capture {} ({}) is not one the bundle cites",
            cap.display(),
            m.capture_id
        );
    };
    // The capture's own chain, recomputed, not its stored last link.
    let v = agentsight_capture::verify::verify(cap, None)?;
    for p in &v.problems {
        r.problems.push(format!("capture {}: {p}", cap.display()));
    }
    if v.chain_head != c.chain_head {
        r.problems.push(format!(
            "capture {}: chain head {} but the bundle recorded {} (re-sealed, truncated or another recording)",
            cap.display(),
            v.chain_head,
            c.chain_head
        ));
    }
    let mut wanted: BTreeMap<&str, Vec<&RowRef>> = BTreeMap::new();
    for row in &index.rows {
        if row.capture == c.label {
            wanted.entry(&row.segment).or_default().push(row);
        } else {
            r.rows_of_other_captures += 1;
        }
    }
    for (seg, rows) in wanted {
        if let Err(e) = rederive_segment(cap, &m, seg, &rows, r) {
            r.problems.push(format!("capture segment {seg}: {e:#}"));
        }
    }
    Ok(())
}

fn rederive_segment(
    cap: &Path,
    m: &Manifest,
    seg: &str,
    rows: &[&RowRef],
    r: &mut BundleReport,
) -> Result<()> {
    if !safe_relative(seg) {
        bail!("the path leaves the capture");
    }
    let Some(listed) = m.segments.iter().find(|s| s.file == seg) else {
        bail!("not in the capture's manifest");
    };
    if listed.sha256 != rows[0].segment_sha256 || listed.table != rows[0].table {
        bail!(
            "the capture's manifest has table {} sha256 {}, the bundle cites {} {}",
            listed.table,
            listed.sha256,
            rows[0].table,
            rows[0].segment_sha256
        );
    }
    let path = cap.join(seg);
    let (sha, _) = sha256_file(&path)?;
    if sha != rows[0].segment_sha256 {
        bail!(
            "altered: sha256 {sha} but the bundle recorded {}",
            rows[0].segment_sha256
        );
    }
    let def =
        schema::table(&listed.table).with_context(|| format!("unknown table {}", listed.table))?;
    let batches = read_segment(&path)?;
    let Some(first) = batches.first() else {
        bail!("holds no rows");
    };
    let all = concat_batches(&first.schema(), &batches)?;
    if rows.iter().any(|row| row.row >= all.num_rows() as u64) {
        bail!("a cited row is past its end");
    }
    let idx = UInt64Array::from_iter_values(rows.iter().map(|row| row.row));
    let cols = all
        .columns()
        .iter()
        .map(|col| take(col, &idx, None))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let hashes = row_hashes(&project(&RecordBatch::try_new(all.schema(), cols)?, def)?)?;
    for (row, h) in rows.iter().zip(hashes) {
        if h == row.row_sha256 {
            r.rows_rederived += 1;
        } else {
            r.problems.push(format!(
                "capture segment {seg} row {}: differs from the bundle's copy",
                row.row
            ));
        }
    }
    Ok(())
}
