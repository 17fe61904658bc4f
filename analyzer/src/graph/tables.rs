//! The graph as DataFusion tables (`graph_nodes`, `graph_edges`,
//! `tool_effects`, `unattributed`), built once per session the first time a
//! query or command needs it, like the decoded tables it reads.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, Float64Array, ListBuilder, RecordBatch, StringBuilder};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use futures::lock::Mutex;

use super::{CaptureGraph, Edge, Graph, Node, ToolEffect, Unattributed};
use crate::reconstruct::provider::DecodedSource;
use crate::reconstruct::tables::{batches_of, i32s, opt_i32s, opt_u64s, strs, u32s, u64s};

/// Graph rows are small (no bodies): batches of the usual DataFusion size.
const ROWS_PER_BATCH: usize = 8192;
use agentsight_capture::schema::{self, Table};

/// The once-per-session graph shared by the graph tables and commands.
pub struct GraphSource {
    cached: Mutex<Option<Arc<Graph>>>,
    decoded: Arc<DecodedSource>,
    machine: String,
}

impl std::fmt::Debug for GraphSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GraphSource")
    }
}

impl GraphSource {
    pub fn new(decoded: Arc<DecodedSource>, machine: &str) -> Self {
        GraphSource {
            cached: Mutex::new(None),
            decoded,
            machine: machine.to_string(),
        }
    }

    pub async fn get(&self, ctx: &SessionContext) -> Result<Arc<Graph>> {
        let mut guard = self.cached.lock().await;
        if let Some(g) = guard.as_ref() {
            return Ok(g.clone());
        }
        let decoded = self.decoded.get(ctx).await?;
        let rows = super::input::read(ctx).await?;
        let graph = Arc::new(super::build(rows, &decoded, &self.machine));
        *guard = Some(graph.clone());
        Ok(graph)
    }
}

/// Registers every graph table over one shared source.
pub fn register(ctx: &SessionContext, source: &Arc<GraphSource>) -> Result<()> {
    for t in schema::GRAPH_TABLES {
        ctx.register_table(
            t.name,
            Arc::new(GraphTable {
                table: t,
                source: source.clone(),
            }),
        )?;
    }
    Ok(())
}

struct GraphTable {
    table: &'static Table,
    source: Arc<GraphSource>,
}

impl std::fmt::Debug for GraphTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GraphTable({})", self.table.name)
    }
}

#[async_trait]
impl TableProvider for GraphTable {
    fn schema(&self) -> SchemaRef {
        self.table.arrow_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let ctx = crate::tree::context_of(state, self.table.name)?;
        let graph = self.source.get(&ctx).await?;
        let batches = table_batches(&graph, self.table.name)?;
        Ok(MemorySourceConfig::try_new_exec(
            &[batches],
            self.schema(),
            projection.cloned(),
        )?)
    }
}

fn f64s<R>(rows: &[R], f: impl Fn(&R) -> Option<f64>) -> ArrayRef {
    Arc::new(rows.iter().map(f).collect::<Float64Array>())
}

fn opt_texts<R>(rows: &[R], f: impl Fn(&R) -> Option<String>) -> ArrayRef {
    Arc::new(
        rows.iter()
            .map(f)
            .collect::<datafusion::arrow::array::StringArray>(),
    )
}

fn text_lists<R>(rows: &[R], f: impl Fn(&R) -> Vec<String>) -> ArrayRef {
    let mut b = ListBuilder::new(StringBuilder::new());
    for r in rows {
        for s in f(r) {
            b.values().append_value(s);
        }
        b.append(true);
    }
    Arc::new(b.finish())
}

fn node_columns(g: &CaptureGraph, r: &[Node]) -> Vec<ArrayRef> {
    vec![
        u64s(r, |n| n.ts_ns),
        strs(r, |_| &g.capture),
        strs(r, |n| &n.id),
        strs(r, |n| n.kind.as_str()),
        strs(r, |n| &n.label),
        opt_u64s(r, |n| n.proc_key),
        opt_i32s(r, |n| n.pid),
        opt_u64s(r, |n| n.call_id),
        opt_u64s(r, |n| n.conversation_id),
        opt_texts(r, |n| n.tool_call_id.clone()),
        opt_texts(r, |n| n.name.clone()),
        Arc::new(
            r.iter()
                .map(|n| n.agent)
                .collect::<datafusion::arrow::array::BooleanArray>(),
        ),
        opt_u64s(r, |n| n.agent_key),
    ]
}

fn edge_columns(g: &CaptureGraph, r: &[Edge]) -> Vec<ArrayRef> {
    let node = |i: usize| &g.nodes[i];
    vec![
        u64s(r, |e| e.ts_ns),
        strs(r, |_| &g.capture),
        strs(r, |e| e.kind.as_str()),
        strs(r, |e| &node(e.src).id),
        strs(r, |e| &node(e.dst).id),
        strs(r, |e| node(e.src).kind.as_str()),
        strs(r, |e| node(e.dst).kind.as_str()),
        strs(r, |e| e.method),
        f64s(r, |e| Some(e.confidence)),
        opt_u64s(r, |e| e.proc_key),
        opt_texts(r, |e| e.detail.clone()),
    ]
}

fn effect_columns(g: &CaptureGraph, r: &[ToolEffect]) -> Vec<ArrayRef> {
    vec![
        u64s(r, |e| e.ts_ns),
        strs(r, |_| &g.capture),
        strs(r, |e| &g.nodes[e.node].id),
        u64s(r, |e| e.call_id),
        u64s(r, |e| e.conversation_id),
        strs(r, |e| &e.tool_call_id),
        strs(r, |e| &e.name),
        opt_texts(r, |e| e.command.clone()),
        opt_u64s(r, |e| e.window_end_ns),
        opt_u64s(r, |e| e.agent_key),
        opt_texts(r, |e| e.method.map(str::to_string)),
        f64s(r, |e| e.confidence),
        u32s(r, |e| e.process_keys.len() as u32),
        text_lists(r, |e| e.process_keys.iter().map(u64::to_string).collect()),
        text_lists(r, |e| e.execs.clone()),
        text_lists(r, |e| e.files_written.clone()),
        u32s(r, |e| e.files_read),
        text_lists(r, |e| e.endpoints.clone()),
        opt_i32s(r, |e| e.exit_code),
        u32s(r, |e| e.failed_processes),
    ]
}

fn unattributed_columns(g: &CaptureGraph, r: &[Unattributed]) -> Vec<ArrayRef> {
    vec![
        u64s(r, |u| u.ts_ns),
        strs(r, |_| &g.capture),
        u64s(r, |u| u.agent_key),
        u64s(r, |u| u.proc_key),
        i32s(r, |u| u.pid),
        strs(r, |u| &u.comm),
        strs(r, |u| u.activity),
        strs(r, |u| &g.nodes[u.node].id),
        strs(r, |u| u.reason),
        opt_texts(r, |u| u.detail.clone()),
        f64s(r, |u| u.confidence),
    ]
}

/// The batches of one graph table by name.
pub fn table_batches(graph: &Graph, name: &str) -> Result<Vec<RecordBatch>> {
    let table = schema::graph_table(name)
        .ok_or_else(|| DataFusionError::Plan(format!("{name} is not a graph table")))?;
    let mut out = Vec::new();
    for g in &graph.captures {
        out.extend(match name {
            schema::GRAPH_NODES => {
                batches_of(table, &g.nodes, ROWS_PER_BATCH, |r| node_columns(g, r))?
            }
            schema::GRAPH_EDGES => {
                batches_of(table, &g.edges, ROWS_PER_BATCH, |r| edge_columns(g, r))?
            }
            schema::TOOL_EFFECTS => {
                batches_of(table, &g.effects, ROWS_PER_BATCH, |r| effect_columns(g, r))?
            }
            _ => batches_of(table, &g.unattributed, ROWS_PER_BATCH, |r| {
                unattributed_columns(g, r)
            })?,
        });
    }
    Ok(out)
}
