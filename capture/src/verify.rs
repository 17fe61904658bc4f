//! `agentsight verify`: re-hash every sealed segment, re-walk the hash chain,
//! and look for files the manifest does not account for.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Result;

use super::manifest::{chain_next, Manifest};
use super::{sha256_file, unsealed_files, SEGMENT_EXT};

#[derive(Debug, Default)]
pub struct VerifyReport {
    pub segments_checked: usize,
    pub bytes_checked: u64,
    /// First problem found, naming the segment; None when intact.
    pub first_error: Option<String>,
    /// Every problem found.
    pub problems: Vec<String>,
    /// Journals/partials of a recorder that is still running or crashed.
    pub unsealed: Vec<String>,
    pub chain_head: String,
}

impl VerifyReport {
    pub fn intact(&self) -> bool {
        self.problems.is_empty()
    }
}

pub fn verify(dir: &Path, expected_head: Option<&str>) -> Result<VerifyReport> {
    let manifest = Manifest::load(dir)?;
    let mut report = VerifyReport {
        chain_head: manifest.chain_head(),
        ..Default::default()
    };
    let mut prev = manifest.chain_genesis();
    let mut listed = BTreeSet::new();
    for seg in &manifest.segments {
        listed.insert(seg.file.clone());
        let path = dir.join(&seg.file);
        match sha256_file(&path) {
            Ok((sha, bytes)) => {
                report.bytes_checked += bytes;
                if sha != seg.sha256 {
                    report.problems.push(format!(
                        "segment {} (seq {}) is altered: sha256 {} but the manifest recorded {}",
                        seg.file, seg.seq, sha, seg.sha256
                    ));
                } else if bytes != seg.bytes {
                    report.problems.push(format!(
                        "segment {} has {} bytes, manifest says {}",
                        seg.file, bytes, seg.bytes
                    ));
                }
            }
            Err(e) => report.problems.push(format!(
                "segment {} (seq {}) is missing or unreadable: {e:#}",
                seg.file, seg.seq
            )),
        }
        let expect = chain_next(&prev, seg.seq, &seg.table, &seg.file, seg.rows, &seg.sha256);
        if expect != seg.chain {
            report.problems.push(format!(
                "hash chain broken at segment {} (seq {}): the manifest was edited or segments were removed/reordered",
                seg.file, seg.seq
            ));
        }
        prev = seg.chain.clone();
        report.segments_checked += 1;
    }
    if let Some(expected) = expected_head {
        if !expected.eq_ignore_ascii_case(&report.chain_head) {
            report.problems.push(format!(
                "chain head {} differs from the expected {} (the capture was re-sealed or truncated)",
                report.chain_head, expected
            ));
        }
    }
    for table in crate::schema::RAW_TABLES {
        let Ok(entries) = std::fs::read_dir(dir.join(table)) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.ends_with(&format!(".{SEGMENT_EXT}")) {
                let rel = format!("{table}/{name}");
                if !listed.contains(&rel) {
                    report.problems.push(format!(
                        "segment {rel} is not listed in the manifest (added after sealing?)"
                    ));
                }
            }
        }
    }
    report.unsealed = unsealed_files(dir)
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    report.first_error = report.problems.first().cloned();
    Ok(report)
}
