//! Opens one or more capture directories as a DataFusion [`SessionContext`].
//!
//! Every raw table of the schema module is registered under its own name,
//! over exactly the sealed segments the manifest lists (a stray file in a
//! table folder is never read), with the column types of the schema module
//! and a `capture` column naming the capture each row came from. Segments are
//! checked before any query runs, so a damaged capture fails with a message
//! naming the file instead of a Parquet error half-way through a query.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::{provider_as_source, MemTable, ViewTable};
use datafusion::logical_expr::{col, LogicalPlan, LogicalPlanBuilder};
use datafusion::prelude::{SessionConfig, SessionContext};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};

use crate::{graph, reconstruct, tree, udf, views};
use agentsight_capture::schema::{self, Table};
use agentsight_capture::{self, Manifest};

/// Name of the column every table gets, holding the capture label.
pub const CAPTURE_COLUMN: &str = "capture";

#[derive(Clone, Debug, Default)]
pub struct OpenOptions {
    /// Query the readable segments when some are damaged or unsealed,
    /// instead of refusing.
    pub skip_bad_segments: bool,
    /// Directory of `*.sql` views that replace or add to the built-in ones.
    pub queries_dir: Option<PathBuf>,
    /// Show a progress bar while checking many segments (only on a terminal).
    pub progress: bool,
}

/// One opened capture.
#[derive(Clone, Debug)]
pub struct CaptureSource {
    /// Value of the `capture` column: the capture id, or the directory
    /// when two opened captures share an id.
    pub label: String,
    pub dir: PathBuf,
    pub manifest: Manifest,
}

/// A segment left out of the session (only with `skip_bad_segments`).
#[derive(Clone, Debug)]
pub struct BadSegment {
    pub file: PathBuf,
    pub reason: String,
}

pub struct Session {
    pub ctx: SessionContext,
    pub captures: Vec<CaptureSource>,
    pub skipped: Vec<BadSegment>,
    pub views: Vec<views::ViewDef>,
    decoded: Arc<reconstruct::provider::DecodedSource>,
    graph: Arc<graph::tables::GraphSource>,
}

/// Rejects manifest paths that would leave the capture directory.
fn inside_capture(rel: &str) -> bool {
    let p = Path::new(rel);
    !rel.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)))
}

/// Checks that a sealed segment is a complete Parquet file with the rows and
/// columns the manifest and schema promise. Only the footer is read.
/// A segment of a capture written with an older schema may lack the
/// nullable columns added since; the scan reads them as NULL.
fn check_segment(
    path: &Path,
    table: &Table,
    rows: u64,
    bytes: u64,
    schema_version: u32,
) -> std::result::Result<(), String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot be opened: {e}"))?;
    let len = file
        .metadata()
        .map(|m| m.len())
        .map_err(|e| format!("cannot be read: {e}"))?;
    if len != bytes {
        return Err(format!(
            "has {len} bytes but the manifest recorded {bytes} (truncated or altered; `agentsight verify` checks every hash)"
        ));
    }
    let meta = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new())
        .map_err(|e| format!("is not a readable Parquet file (bad footer or magic: {e})"))?;
    let n = meta.metadata().file_metadata().num_rows();
    if u64::try_from(n).ok() != Some(rows) {
        return Err(format!("holds {n} rows but the manifest recorded {rows}"));
    }
    let found = meta.schema();
    for c in table.columns {
        let want = c.ty.arrow();
        match found.field_with_name(c.name) {
            Ok(f) if *f.data_type() == want => {}
            Ok(f) => {
                return Err(format!(
                    "column {} has type {} instead of {want}",
                    c.name,
                    f.data_type()
                ))
            }
            Err(_) if c.nullable && schema_version < schema::SCHEMA_VERSION => {}
            Err(_) => return Err(format!("lacks column {}", c.name)),
        }
    }
    Ok(())
}

fn file_url(path: &Path) -> Result<ListingTableUrl> {
    let abs = std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))?;
    let url = url::Url::from_file_path(&abs)
        .map_err(|_| anyhow::anyhow!("cannot turn {} into a file URL", abs.display()))?;
    // try_new, not parse: a directory name with `[` or `*` is not a glob.
    Ok(ListingTableUrl::try_new(url, None)?)
}

/// Scan of one capture's segments of `table`, with its `capture` column.
fn capture_scan(
    ctx: &SessionContext,
    table: &Table,
    label: &str,
    files: &[PathBuf],
) -> Result<LogicalPlan> {
    let urls = files
        .iter()
        .map(|f| file_url(f))
        .collect::<Result<Vec<_>>>()?;
    let options =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .with_schema(table.arrow_schema());
    let listing = ListingTable::try_new(config)?
        .with_cache(ctx.runtime_env().cache_manager.get_file_statistic_cache());
    let provider: Arc<dyn TableProvider> = Arc::new(listing);
    with_capture_column(
        LogicalPlanBuilder::scan(table.name, provider_as_source(provider), None)?,
        table,
        label,
    )
}

fn with_capture_column(b: LogicalPlanBuilder, table: &Table, label: &str) -> Result<LogicalPlan> {
    let mut exprs: Vec<datafusion::logical_expr::Expr> =
        table.columns.iter().map(|c| col(c.name)).collect();
    // Utf8View: grouping and joining on (capture, proc_key) is much faster
    // with view strings than with plain Utf8. Not a literal: see CaptureFill.
    let fill = Arc::new(datafusion::logical_expr::ScalarUDF::from(
        udf::CaptureFill::new(label),
    ));
    exprs.push(fill.call(vec![col("ts_ns")]).alias(CAPTURE_COLUMN));
    Ok(b.project(exprs)?.build()?)
}

fn empty_scan(table: &Table) -> Result<LogicalPlan> {
    let provider: Arc<dyn TableProvider> =
        Arc::new(MemTable::try_new(table.arrow_schema(), vec![vec![]])?);
    with_capture_column(
        LogicalPlanBuilder::scan(table.name, provider_as_source(provider), None)?,
        table,
        "",
    )
}

fn progress_bar(len: u64, enabled: bool) -> indicatif::ProgressBar {
    if enabled && len >= 64 && std::io::stderr().is_terminal() {
        let pb = indicatif::ProgressBar::new(len);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("checking segments {bar:30} {pos}/{len}")
        {
            pb.set_style(style);
        }
        pb
    } else {
        indicatif::ProgressBar::hidden()
    }
}

/// Session configuration shared by the CLI and tests.
pub fn session_config() -> SessionConfig {
    let mut config = SessionConfig::new().with_information_schema(true);
    let opts = config.options_mut();
    opts.execution.parquet.pruning = true;
    // Row-level filter pushdown stays off (DataFusion's default): on these
    // captures it measured slower, for selective scans as well.
    opts.execution.collect_statistics = true;
    // Keep a view's ORDER BY when it is queried (timeline comes out in time
    // order); the physical optimizer still drops sorts nobody needs, e.g.
    // under an aggregate or a join.
    opts.sql_parser.enable_subquery_sort_elimination = false;
    // Per-process aggregates barely reduce the input (3 events per
    // process): skip the partial phase early instead of hashing twice.
    opts.execution
        .skip_partial_aggregation_probe_ratio_threshold = 0.1;
    config
}

impl Session {
    pub async fn open(dirs: &[PathBuf], opts: &OpenOptions) -> Result<Session> {
        if dirs.is_empty() {
            bail!("no capture given");
        }
        Self::open_any(dirs, opts).await
    }

    /// A session with every table and view but no capture: statements plan
    /// against the schema (how `agentsight rules` checks rules) and return
    /// no rows.
    pub async fn without_captures() -> Result<Session> {
        Self::open_any(&[], &OpenOptions::default()).await
    }

    async fn open_any(dirs: &[PathBuf], opts: &OpenOptions) -> Result<Session> {
        let mut captures = Vec::new();
        let mut skipped = Vec::new();
        for dir in dirs {
            let manifest = Manifest::load(dir)?;
            let unsealed = agentsight_capture::unsealed_files(dir);
            if let Some(first) = unsealed.first() {
                if !opts.skip_bad_segments {
                    bail!(
                        "capture {} has an unsealed segment {} (the recorder is still running or was killed); \
                         run `agentsight recover {}` to seal it, or pass --skip-bad-segments to query only the sealed segments",
                        dir.display(),
                        first.display(),
                        dir.display()
                    );
                }
                for f in unsealed {
                    skipped.push(BadSegment {
                        file: f,
                        reason: "unsealed (run `agentsight recover`)".into(),
                    });
                }
            }
            captures.push(CaptureSource {
                label: manifest.capture_id.clone(),
                dir: dir.clone(),
                manifest,
            });
        }
        // Labels must tell captures apart; fall back to the directory.
        let ids: Vec<String> = captures.iter().map(|c| c.label.clone()).collect();
        for c in captures.iter_mut() {
            if ids.iter().filter(|i| **i == c.label).count() > 1 {
                c.label = c.dir.display().to_string();
            }
        }
        let labels: BTreeSet<&String> = captures.iter().map(|c| &c.label).collect();
        if labels.len() != captures.len() {
            bail!("the same capture directory was given twice");
        }

        let ctx = SessionContext::new_with_config(session_config());
        let total: usize = captures.iter().map(|c| c.manifest.segments.len()).sum();
        let pb = progress_bar(total as u64, opts.progress);
        for table in schema::TABLES {
            let mut plans = Vec::new();
            for c in &captures {
                let mut files = Vec::new();
                for seg in agentsight_capture::table_segments(&c.manifest, table.name) {
                    pb.inc(1);
                    let path = c.dir.join(&seg.file);
                    let verdict = if inside_capture(&seg.file) {
                        check_segment(&path, table, seg.rows, seg.bytes, c.manifest.schema_version)
                    } else {
                        Err("is not inside the capture directory".to_string())
                    };
                    match verdict {
                        Ok(()) => files.push(path),
                        Err(reason) if opts.skip_bad_segments => skipped.push(BadSegment { file: path, reason }),
                        Err(reason) => bail!(
                            "segment {} of capture {} {reason}; pass --skip-bad-segments to query the other segments",
                            path.display(),
                            c.dir.display()
                        ),
                    }
                }
                if !files.is_empty() {
                    plans.push(capture_scan(&ctx, table, &c.label, &files)?);
                }
            }
            let mut plans = plans.into_iter();
            let plan = match plans.next() {
                None => empty_scan(table)?,
                Some(first) => {
                    let mut b = LogicalPlanBuilder::from(first);
                    for p in plans {
                        b = b.union(p)?;
                    }
                    b.build()?
                }
            };
            ctx.register_table(table.name, Arc::new(ViewTable::new(plan, None)))?;
        }
        pb.finish_and_clear();

        let anchors = udf::Anchors::new(
            captures
                .iter()
                .map(|c| (c.label.clone(), c.manifest.boot_anchor)),
        );
        let machine = captures
            .first()
            .map(|c| c.manifest.host.machine.clone())
            .unwrap_or_default();
        udf::register(&ctx, anchors, &machine);
        crate::anomalies::scan::register(&ctx);

        let decoded = Arc::new(reconstruct::provider::DecodedSource::default());
        reconstruct::provider::register(&ctx, &decoded)?;
        let graph = Arc::new(graph::tables::GraphSource::new(decoded.clone(), &machine));
        graph::tables::register(&ctx, &graph)?;
        crate::health::register(&ctx, &captures, &skipped)?;

        let defs = views::load(opts.queries_dir.as_deref())?;
        views::register(&ctx, &defs).await?;
        tree::register(&ctx).await?;
        Ok(Session {
            ctx,
            captures,
            skipped,
            views: defs,
            decoded,
            graph,
        })
    }

    /// One line for stderr when segments were left out, None otherwise.
    pub fn skipped_note(&self) -> Option<String> {
        if self.skipped.is_empty() {
            return None;
        }
        let first = &self.skipped[0];
        Some(format!(
            "skipped {} bad segment(s); first: {} {}",
            self.skipped.len(),
            first.file.display(),
            first.reason
        ))
    }

    /// LLM conversations, HTTP exchanges and tool calls decoded from the
    /// captured TLS plaintext (computed once per session).
    pub async fn decoded(&self) -> Result<Arc<reconstruct::Decoded>> {
        Ok(self.decoded.get(&self.ctx).await?)
    }

    /// The causal graph of every capture (built once per session).
    pub async fn graph(&self) -> Result<Arc<graph::Graph>> {
        Ok(self.graph.get(&self.ctx).await?)
    }

    /// Raw table names, then decoded tables, then view names.
    pub fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = schema::RAW_TABLES.iter().map(|s| s.to_string()).collect();
        names.extend(schema::DECODED_TABLES.iter().map(|t| t.name.to_string()));
        names.extend(schema::GRAPH_TABLES.iter().map(|t| t.name.to_string()));
        names.extend(self.views.iter().map(|v| v.name.clone()));
        names
    }

    /// Schema of a table or view by name.
    pub async fn schema_of(&self, name: &str) -> Result<SchemaRef> {
        let provider = self
            .ctx
            .table_provider(name)
            .await
            .with_context(|| format!("no table or view named {name}"))?;
        Ok(provider.schema())
    }
}
