//! `manifest.json`: what a capture is, where it came from, and the integrity
//! record (per-segment SHA-256 and a hash chain over segments).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::schema::{MIN_READABLE_SCHEMA_VERSION, SCHEMA_VERSION};

pub const MANIFEST_FILE: &str = "manifest.json";
pub const FORMAT_NAME: &str = "agentsight-capture";

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CaptureState {
    /// The recorder is running, or died without closing (see journals).
    Recording,
    /// The recorder stopped cleanly and sealed every segment.
    Closed,
    /// The recorder died; `agentsight recover` sealed its journals.
    Recovered,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct HostInfo {
    pub hostname: String,
    pub kernel: String,
    pub machine: String,
    pub boot_id: String,
}

/// Maps kernel CLOCK_BOOTTIME to wall clock: both read back to back at start.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default)]
pub struct BootAnchor {
    pub boottime_ns: u64,
    pub realtime_ns: i64,
}

impl BootAnchor {
    pub fn wall_ns(&self, boottime_ns: u64) -> i64 {
        self.realtime_ns + (boottime_ns as i64 - self.boottime_ns as i64)
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Targets {
    /// `command`, `pids`, `comm`, `pids+comm` or `system`.
    pub mode: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pids: Vec<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub comms: Vec<String>,
    /// Exit status of `command` when the recorder launched it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_exit_code: Option<i32>,
}

impl Targets {
    /// One line: what was recorded.
    pub fn describe(&self) -> String {
        match self.mode.as_str() {
            "command" => format!("command: {}", self.command.join(" ")),
            "system" => "system-wide".to_string(),
            other => format!("{other}: pids {:?} comms {:?}", self.pids, self.comms),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct RecordOptions {
    pub redact: bool,
    #[serde(default)]
    pub redact_headers: Vec<String>,
    pub segment_size_bytes: u64,
    pub segment_secs: u64,
    pub tls_max_bytes: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Segment number, unique across tables (in opening order); the chain
    /// follows manifest order, which is sealing order.
    pub seq: u64,
    pub table: String,
    /// Path relative to the capture directory.
    pub file: String,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
    /// sha256 over the previous chain value and this segment's identity.
    pub chain: String,
    pub first_ts_ns: Option<u64>,
    pub last_ts_ns: Option<u64>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub recovered: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Start of the note saying why a recording ended: metadata, not a warning.
pub const STOP_NOTE_PREFIX: &str = "recording ended: ";

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Manifest {
    pub format: String,
    pub schema_version: u32,
    pub capture_id: String,
    pub recorder_version: String,
    pub state: CaptureState,
    pub host: HostInfo,
    pub clock: String,
    pub boot_anchor: BootAnchor,
    pub started_at_ns: i64,
    pub ended_at_ns: Option<i64>,
    pub command_line: Vec<String>,
    pub targets: Targets,
    pub options: RecordOptions,
    /// TLS libraries hooked, with what was found per target.
    #[serde(default)]
    pub tls_attachments: Vec<String>,
    #[serde(default)]
    pub segments: Vec<SegmentInfo>,
    /// Rows written per table (sealed segments only).
    #[serde(default)]
    pub rows: BTreeMap<String, u64>,
    /// Loss counters: any non-zero value means events are missing.
    #[serde(default)]
    pub drops: BTreeMap<String, u64>,
    /// Human-readable warnings (disk full, unhookable TLS, recovery...).
    #[serde(default)]
    pub notes: Vec<String>,
}

impl Manifest {
    pub fn new(capture_id: String) -> Self {
        Manifest {
            format: FORMAT_NAME.to_string(),
            schema_version: SCHEMA_VERSION,
            capture_id,
            recorder_version: env!("CARGO_PKG_VERSION").to_string(),
            state: CaptureState::Recording,
            host: HostInfo::default(),
            clock: "CLOCK_BOOTTIME".to_string(),
            boot_anchor: BootAnchor::default(),
            started_at_ns: 0,
            ended_at_ns: None,
            command_line: Vec::new(),
            targets: Targets::default(),
            options: RecordOptions::default(),
            tls_attachments: Vec::new(),
            segments: Vec::new(),
            rows: BTreeMap::new(),
            drops: BTreeMap::new(),
            notes: Vec::new(),
        }
    }

    /// Reads and checks a manifest: wrong format or a schema version this
    /// build does not know gives a clear error instead of wrong answers.
    pub fn load(capture_dir: &Path) -> Result<Self> {
        let path = capture_dir.join(MANIFEST_FILE);
        if !path.is_file() {
            bail!(
                "{} is not a capture: cannot read {}",
                capture_dir.display(),
                path.display()
            );
        }
        Self::load_file(&path)
    }

    /// [`Manifest::load`] of a manifest file anywhere (an evidence bundle's copy).
    pub fn load_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let probe: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid JSON", path.display()))?;
        if probe.get("format").and_then(|v| v.as_str()) != Some(FORMAT_NAME) {
            bail!(
                "{} is not an agentsight manifest (format field missing or different)",
                path.display()
            );
        }
        let version = probe
            .get("schema_version")
            .and_then(|v| v.as_u64())
            .unwrap_or(0) as u32;
        if version > SCHEMA_VERSION {
            bail!(
                "capture {} has schema version {version}, newer than this agentsight understands \
                 (up to {SCHEMA_VERSION}); upgrade agentsight to read it",
                path.parent().unwrap_or(path).display()
            );
        }
        if version < MIN_READABLE_SCHEMA_VERSION {
            bail!(
                "capture {} has schema version {version}, older than this agentsight can read \
                 (from {MIN_READABLE_SCHEMA_VERSION})",
                path.parent().unwrap_or(path).display()
            );
        }
        serde_json::from_value(probe)
            .with_context(|| format!("{} has an invalid layout", path.display()))
    }

    /// Atomic rewrite: temp file, fsync, rename, fsync directory.
    pub fn store(&self, capture_dir: &Path) -> Result<()> {
        let tmp = capture_dir.join(".manifest.json.tmp");
        let text = serde_json::to_vec_pretty(self)?;
        let written = crate::write_private_file(&tmp, &text).and_then(|_| {
            std::fs::rename(&tmp, capture_dir.join(MANIFEST_FILE))
                .with_context(|| format!("replacing manifest in {}", capture_dir.display()))
        });
        if written.is_err() {
            // The previous manifest stays valid; never leave a half-written copy.
            let _ = std::fs::remove_file(&tmp);
        }
        written?;
        if let Ok(dir) = std::fs::File::open(capture_dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    pub fn chain_genesis(&self) -> String {
        hex::encode(Sha256::digest(format!(
            "agentsight-chain-v1:{}",
            self.capture_id
        )))
    }

    pub fn chain_head(&self) -> String {
        self.segments
            .last()
            .map(|s| s.chain.clone())
            .unwrap_or_else(|| self.chain_genesis())
    }

    pub fn total_drops(&self) -> u64 {
        self.drops.values().sum()
    }
}

/// Next chain value: binds the segment's content hash, position and identity
/// to everything sealed before it, so removing or reordering segments shows.
pub fn chain_next(
    prev: &str,
    seq: u64,
    table: &str,
    file: &str,
    rows: u64,
    sha256: &str,
) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(format!("\n{seq}\n{table}\n{file}\n{rows}\n{sha256}").as_bytes());
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_schema_version_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Manifest::new("abc".into());
        m.schema_version = SCHEMA_VERSION + 1;
        std::fs::write(
            dir.path().join(MANIFEST_FILE),
            serde_json::to_vec(&m).unwrap(),
        )
        .unwrap();
        let err = Manifest::load(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("newer than this agentsight understands"),
            "{err}"
        );
    }

    #[test]
    fn chain_depends_on_order_and_content() {
        let a = chain_next("g", 1, "t", "f", 3, "aa");
        let b = chain_next("g", 1, "t", "f", 3, "ab");
        assert_ne!(a, b);
        assert_ne!(
            chain_next(&a, 2, "t", "g", 1, "x"),
            chain_next(&b, 2, "t", "g", 1, "x")
        );
    }
}
