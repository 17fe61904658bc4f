//! The decoded tables as DataFusion tables. Decoding runs once per session,
//! the first time a query scans one of them, over exactly the raw segments
//! the session registered; the result lives only in memory, so it can never
//! be stale with respect to the capture.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::Result;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use futures::lock::Mutex;

use super::{decode, streams, Decoded};
use agentsight_capture::schema::{self, Table};

/// Raw rows the reconstruction reads.
pub const CHUNKS_SQL: &str = "SELECT capture, ts_ns, pid, proc_key, comm, direction, ssl_ptr, fd, \
     call_seq, chunk_offset, call_len, data FROM tls_chunks";
pub const TLS_EVENTS_SQL: &str =
    "SELECT capture, ts_ns, proc_key, event, ssl_ptr, value FROM tls_events \
     WHERE event IN ('free', 'sni')";
pub const NET_SQL: &str = "SELECT capture, ts_ns, proc_key, op, fd, ret, local_addr, local_port, \
     remote_addr, remote_port FROM net_events WHERE op IN ('connect', 'accept')";

/// The once-per-session decoding shared by all decoded tables.
#[derive(Default)]
pub struct DecodedSource {
    cached: Mutex<Option<Arc<Decoded>>>,
}

impl DecodedSource {
    /// Decodes on first use; later calls get the same result.
    pub async fn get(&self, ctx: &SessionContext) -> Result<Arc<Decoded>> {
        let mut guard = self.cached.lock().await;
        if let Some(d) = guard.as_ref() {
            return Ok(d.clone());
        }
        let chunks = ctx.sql(CHUNKS_SQL).await?.collect().await?;
        let events = ctx.sql(TLS_EVENTS_SQL).await?.collect().await?;
        let net = ctx.sql(NET_SQL).await?.collect().await?;
        let decoded = Arc::new(decode_batches(chunks, &events, &net)?);
        *guard = Some(decoded.clone());
        Ok(decoded)
    }
}

/// Decodes raw rows (see the column lists above) into every decoded table.
pub fn decode_batches(
    chunks: Vec<RecordBatch>,
    tls_events: &[RecordBatch],
    net_events: &[RecordBatch],
) -> Result<Decoded> {
    let conns = streams::connections(chunks, tls_events, net_events)?;
    Ok(decode(conns))
}

pub struct DecodedTable {
    table: &'static Table,
    source: Arc<DecodedSource>,
}

impl std::fmt::Debug for DecodedSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DecodedSource")
    }
}

impl std::fmt::Debug for DecodedTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DecodedTable({})", self.table.name)
    }
}

impl DecodedTable {
    pub fn new(table: &'static Table, source: Arc<DecodedSource>) -> Self {
        DecodedTable { table, source }
    }
}

/// `new_in_conversation` or `new_in_conversation = true`: the filter the
/// scan can apply itself, so resent history is never built.
fn is_new_in_conversation(e: &Expr) -> bool {
    use datafusion::logical_expr::{BinaryExpr, Operator};
    use datafusion::scalar::ScalarValue;
    let is_column = |e: &Expr| matches!(e, Expr::Column(c) if c.name == "new_in_conversation");
    match e {
        e if is_column(e) => true,
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) => {
            let is_true =
                |e: &Expr| matches!(e, Expr::Literal(ScalarValue::Boolean(Some(true)), _));
            (is_column(left) && is_true(right)) || (is_true(left) && is_column(right))
        }
        _ => false,
    }
}

/// Registers every decoded table over one shared source.
pub fn register(ctx: &SessionContext, source: &Arc<DecodedSource>) -> Result<()> {
    for t in schema::DECODED_TABLES {
        ctx.register_table(t.name, Arc::new(DecodedTable::new(t, source.clone())))?;
    }
    Ok(())
}

#[async_trait]
impl TableProvider for DecodedTable {
    fn schema(&self) -> SchemaRef {
        self.table.arrow_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| {
                if self.table.name == schema::LLM_MESSAGES && is_new_in_conversation(f) {
                    TableProviderFilterPushDown::Exact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let ctx = crate::tree::context_of(state, self.table.name)?;
        let decoded = self.source.get(&ctx).await?;
        // Only the projected columns are built, in schema order; the plan
        // then puts them in the order asked for.
        let mut wanted: Option<Vec<usize>> = projection.cloned();
        if let Some(w) = wanted.as_mut() {
            w.sort_unstable();
            w.dedup();
        }
        let scan = super::tables::Scan {
            columns: wanted.as_deref(),
            new_messages_only: filters.iter().any(is_new_in_conversation),
        };
        let (schema, batches) = super::tables::table_batches(&decoded, self.table.name, scan)?;
        let order = match (projection, &wanted) {
            (Some(p), Some(w)) => Some(
                p.iter()
                    .map(|c| w.binary_search(c).expect("projected column"))
                    .collect(),
            ),
            _ => None,
        };
        Ok(MemorySourceConfig::try_new_exec(&[batches], schema, order)?)
    }
}
