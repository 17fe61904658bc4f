//! The capture format, at the bottom of agentsight: `schema` names every table
//! and column, `rows` builds record batches from recorder events, `manifest`
//! describes a capture, the writer seals segments, `verify` checks them.
//!
//! The capture directory: Parquet segments per table, a manifest, and
//! crash-safe journals for segments still being written.
//!
//! Layout: `<dir>/manifest.json`, `<dir>/<table>/seg-NNNNNN.parquet` (sealed),
//! and while a segment is open `<dir>/<table>/seg-NNNNNN.journal` (Arrow IPC
//! stream, synced every flush) beside `seg-NNNNNN.parquet.partial`. A sealed
//! segment's hash and row count are in the manifest. After a crash the
//! journal holds everything up to the last flush; `recover` seals it.

pub mod manifest;
pub mod rows;
pub mod schema;
pub mod verify;
mod writer;

use std::fs::{File, OpenOptions};
use std::io::Write;
#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use sha2::{Digest, Sha256};

pub use arrow;
pub use parquet;

pub use manifest::{chain_next, CaptureState, Manifest, SegmentInfo, MANIFEST_FILE};
pub use writer::{recover, CaptureWriter, RecoveryReport, SealPolicy};

pub const SEGMENT_EXT: &str = "parquet";
pub const PARTIAL_EXT: &str = "parquet.partial";
pub const JOURNAL_EXT: &str = "journal";

pub fn segment_file_name(seq: u64, ext: &str) -> String {
    format!("seg-{seq:06}.{ext}")
}

/// Creates a file readable only by its owner: captures hold prompts and code.
/// (Off Unix, the capture directory's ACL is what protects it.)
pub fn create_private_file(path: &Path) -> Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))
}

pub(crate) fn write_private_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = create_private_file(path)?;
    f.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    f.sync_all()
        .with_context(|| format!("syncing {}", path.display()))?;
    Ok(())
}

pub(crate) fn create_private_dir(path: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(0o700);
    builder
        .create(path)
        .with_context(|| format!("creating directory {}", path.display()))
}

pub fn sha256_file(path: &Path) -> Result<(String, u64)> {
    let mut f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut h = Sha256::new();
    let n = std::io::copy(&mut f, &mut h).with_context(|| format!("reading {}", path.display()))?;
    Ok((hex::encode(h.finalize()), n))
}

/// Prepares an output directory: refuses a non-empty one unless `force`, and
/// even then only wipes it when it holds a capture (never an arbitrary tree).
pub fn prepare_output_dir(dir: &Path, force: bool) -> Result<()> {
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir)
            .with_context(|| format!("{} exists and is not a readable directory", dir.display()))?
            .peekable();
        if entries.peek().is_some() {
            if !force {
                bail!("output directory {} exists and is not empty (use --force to replace a previous capture)", dir.display());
            }
            if !dir.join(MANIFEST_FILE).exists() {
                bail!(
                    "refusing to replace {}: it is not empty and holds no capture manifest",
                    dir.display()
                );
            }
            std::fs::remove_dir_all(dir)
                .with_context(|| format!("removing old capture {}", dir.display()))?;
        }
    }
    create_private_dir(dir)?;
    // an existing empty directory keeps its mode through create_private_dir
    #[cfg(unix)]
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    Ok(())
}

/// Sealed segment files of one table in seal order, as listed in the manifest.
pub fn table_segments<'a>(manifest: &'a Manifest, table: &str) -> Vec<&'a SegmentInfo> {
    manifest
        .segments
        .iter()
        .filter(|s| s.table == table)
        .collect()
}

/// Journals and partial files left by a recorder that did not stop cleanly.
pub fn unsealed_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for table in crate::schema::RAW_TABLES {
        let Ok(entries) = std::fs::read_dir(dir.join(table)) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.ends_with(&format!(".{JOURNAL_EXT}"))
                || name.ends_with(&format!(".{PARTIAL_EXT}"))
            {
                found.push(e.path());
            }
        }
    }
    found.sort();
    found
}

/// Reads every sealed segment of a table into memory (tests and small tools;
/// the analyzer streams through DataFusion instead).
pub fn read_table(dir: &Path, table: &str) -> Result<Vec<RecordBatch>> {
    let manifest = Manifest::load(dir)?;
    let mut batches = Vec::new();
    for seg in table_segments(&manifest, table) {
        let path = dir.join(&seg.file);
        let file =
            File::open(&path).with_context(|| format!("opening segment {}", path.display()))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .with_context(|| format!("segment {} is not readable Parquet", path.display()))?
            .build()?;
        for batch in reader {
            batches.push(batch.with_context(|| format!("reading segment {}", path.display()))?);
        }
    }
    Ok(batches)
}
