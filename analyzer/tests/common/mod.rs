//! Helpers shared by the analyzer integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use agentsight_analyzer::arrow::util::display::{ArrayFormatter, FormatOptions};
use agentsight_analyzer::session::{OpenOptions, Session};

pub async fn open(dirs: &[&Path]) -> Session {
    try_open(dirs, &OpenOptions::default()).await.unwrap()
}

pub async fn try_open(dirs: &[&Path], opts: &OpenOptions) -> anyhow::Result<Session> {
    let dirs: Vec<PathBuf> = dirs.iter().map(|d| d.to_path_buf()).collect();
    Session::open(&dirs, opts).await
}

/// Every cell of the result as display text; NULL for nulls.
pub async fn rows(session: &Session, sql: &str) -> Vec<Vec<String>> {
    try_rows(session, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:#}"))
}

pub async fn try_rows(session: &Session, sql: &str) -> anyhow::Result<Vec<Vec<String>>> {
    let batches = session.ctx.sql(sql).await?.collect().await?;
    let opts = FormatOptions::new().with_null("NULL");
    let mut out = Vec::new();
    for b in &batches {
        let fmts: Vec<_> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).unwrap())
            .collect();
        for r in 0..b.num_rows() {
            out.push(fmts.iter().map(|f| f.value(r).to_string()).collect());
        }
    }
    Ok(out)
}

pub async fn count(session: &Session, sql: &str) -> u64 {
    rows(session, sql).await[0][0].parse().unwrap()
}

/// Shorthand for building expected rows.
pub fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}
