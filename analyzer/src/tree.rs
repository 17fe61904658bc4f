//! Table functions `descendants(proc_key [, capture])` and
//! `ancestors(proc_key [, capture])`: the fast path for one root.
//!
//! The `process_tree` view answers the same questions in plain recursive SQL,
//! but it builds the closure for every process and re-evaluates `processes`
//! at each level. These functions read the parent edges once, walk them in
//! memory (cycle-safe), and join the hits back to `processes`, so the result
//! has every `processes` column plus `root_key` and `depth`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::Arc;

use anyhow::Context as _;
use async_trait::async_trait;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int32Array, StringArray, UInt64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt64Type};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{plan_datafusion_err, plan_err, DataFusionError, Result, ScalarValue};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::execution::SessionState;
use datafusion::logical_expr::{col, lit, Expr, JoinType, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;

/// A context over the session a table provider is scanned in, so the
/// provider can run its own queries against the same tables.
pub(crate) fn context_of(state: &dyn Session, who: &str) -> Result<SessionContext> {
    let state = state
        .as_any()
        .downcast_ref::<SessionState>()
        .ok_or_else(|| DataFusionError::Plan(format!("{who} needs a DataFusion SessionState")))?;
    Ok(SessionContext::new_with_state(state.clone()))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Descendants,
    Ancestors,
}

impl Direction {
    fn name(self) -> &'static str {
        match self {
            Direction::Descendants => "descendants",
            Direction::Ancestors => "ancestors",
        }
    }
}

/// Registers `descendants` and `ancestors` over the current `processes` view.
pub async fn register(ctx: &SessionContext) -> anyhow::Result<()> {
    let processes = ctx
        .table_provider("processes")
        .await
        .context("the processes view is missing")?;
    let cache = EdgeCache::default();
    for direction in [Direction::Descendants, Direction::Ancestors] {
        ctx.register_udtf(
            direction.name(),
            Arc::new(TreeFunction {
                direction,
                processes: processes.clone(),
                edges: cache.clone(),
            }),
        );
    }
    Ok(())
}

/// Parent edges, read once per session: a capture does not change while it
/// is open, and a shell or report asks for many subtrees.
type EdgeCache = Arc<std::sync::Mutex<Option<Arc<Edges>>>>;

struct TreeFunction {
    direction: Direction,
    processes: Arc<dyn TableProvider>,
    edges: EdgeCache,
}

impl fmt::Debug for TreeFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}()", self.direction.name())
    }
}

fn literal_key(e: &Expr) -> Option<u64> {
    match e {
        Expr::Literal(v, _) => match v {
            ScalarValue::Int8(Some(x)) => u64::try_from(*x).ok(),
            ScalarValue::Int16(Some(x)) => u64::try_from(*x).ok(),
            ScalarValue::Int32(Some(x)) => u64::try_from(*x).ok(),
            ScalarValue::Int64(Some(x)) => u64::try_from(*x).ok(),
            ScalarValue::UInt8(Some(x)) => Some(*x as u64),
            ScalarValue::UInt16(Some(x)) => Some(*x as u64),
            ScalarValue::UInt32(Some(x)) => Some(*x as u64),
            ScalarValue::UInt64(Some(x)) => Some(*x),
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)) => s.trim().parse().ok(),
            _ => None,
        },
        Expr::Cast(c) => literal_key(&c.expr),
        _ => None,
    }
}

fn literal_text(e: &Expr) -> Option<String> {
    match e {
        Expr::Literal(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)),
            _,
        ) => Some(s.clone()),
        _ => None,
    }
}

impl TableFunctionImpl for TreeFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let name = self.direction.name();
        let exprs = args.exprs();
        if exprs.is_empty() || exprs.len() > 2 {
            return plan_err!("{name}(proc_key [, capture]) takes one or two arguments");
        }
        let Some(root) = literal_key(&exprs[0]) else {
            return plan_err!(
                "{name}(proc_key [, capture]): proc_key must be a literal process key (find it in processes), got {}",
                exprs[0]
            );
        };
        let capture = match exprs.get(1) {
            None => None,
            Some(e) => Some(literal_text(e).ok_or_else(|| {
                plan_datafusion_err!("{name}: capture must be a text literal, got {e}")
            })?),
        };
        let base = self.processes.schema();
        for needed in ["capture", "proc_key", "parent_key"] {
            if base.field_with_name(needed).is_err() {
                return plan_err!("{name}() needs the processes view to have a {needed} column");
            }
        }
        // Every column nullable: the result is rebuilt from a join whose
        // nullability need not match the view's.
        let mut fields = vec![
            Field::new("root_key", DataType::UInt64, true),
            Field::new("depth", DataType::Int32, true),
        ];
        fields.extend(
            base.fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true)),
        );
        Ok(Arc::new(TreeTable {
            direction: self.direction,
            root,
            capture,
            processes: self.processes.clone(),
            schema: Arc::new(Schema::new(fields)),
            edges: self.edges.clone(),
        }))
    }
}

struct TreeTable {
    direction: Direction,
    root: u64,
    capture: Option<String>,
    processes: Arc<dyn TableProvider>,
    schema: SchemaRef,
    edges: EdgeCache,
}

impl fmt::Debug for TreeTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.direction.name(), self.root)
    }
}

/// Parent edges of one capture, keys interned per capture.
#[derive(Default)]
struct Edges {
    captures: Vec<String>,
    cap_index: HashMap<String, u32>,
    parent: HashMap<(u32, u64), Option<u64>>,
    children: HashMap<(u32, u64), Vec<u64>>,
}

impl Edges {
    fn add_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        let caps = cast(batch.column(0), &DataType::Utf8)?;
        let caps = caps.as_string::<i32>();
        let keys = cast(batch.column(1), &DataType::UInt64)?;
        let keys = keys.as_primitive::<UInt64Type>();
        let parents = cast(batch.column(2), &DataType::UInt64)?;
        let parents = parents.as_primitive::<UInt64Type>();
        for i in 0..batch.num_rows() {
            if caps.is_null(i) || keys.is_null(i) {
                continue;
            }
            let cap = caps.value(i);
            let ci = match self.cap_index.get(cap) {
                Some(ci) => *ci,
                None => {
                    let ci = self.captures.len() as u32;
                    self.captures.push(cap.to_string());
                    self.cap_index.insert(cap.to_string(), ci);
                    ci
                }
            };
            let key = keys.value(i);
            let parent = parents.is_valid(i).then(|| parents.value(i));
            self.parent.insert((ci, key), parent);
            if let Some(p) = parent {
                self.children.entry((ci, p)).or_default().push(key);
            }
        }
        Ok(())
    }

    /// (capture index, key, depth) of every process reached from `root`.
    fn walk(&self, root: u64, capture: Option<&str>, direction: Direction) -> Vec<(u32, u64, i32)> {
        let mut out = Vec::new();
        for ci in 0..self.captures.len() as u32 {
            if capture.is_some_and(|c| c != self.captures[ci as usize])
                || !self.parent.contains_key(&(ci, root))
            {
                continue;
            }
            let mut seen = HashSet::from([root]);
            let mut queue = VecDeque::from([(root, 0i32)]);
            while let Some((key, depth)) = queue.pop_front() {
                out.push((ci, key, depth));
                let next: Vec<u64> = match direction {
                    Direction::Descendants => {
                        self.children.get(&(ci, key)).cloned().unwrap_or_default()
                    }
                    // The top ancestor is often never seen itself (init):
                    // stop at keys that are not processes of the capture.
                    Direction::Ancestors => match self.parent.get(&(ci, key)) {
                        Some(Some(p)) if self.parent.contains_key(&(ci, *p)) => vec![*p],
                        _ => vec![],
                    },
                };
                for n in next {
                    if seen.insert(n) {
                        queue.push_back((n, depth.saturating_add(1)));
                    }
                }
            }
        }
        out
    }
}

#[async_trait]
impl TableProvider for TreeTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
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
        let ctx = context_of(state, self.direction.name())?;
        let procs = ctx.read_table(self.processes.clone())?;

        let cached = self.edges.lock().ok().and_then(|c| c.clone());
        let edges = match cached {
            Some(e) => e,
            None => {
                let mut edges = Edges::default();
                let edge_batches = procs
                    .clone()
                    .select(vec![col("capture"), col("proc_key"), col("parent_key")])?
                    .collect()
                    .await?;
                for b in &edge_batches {
                    edges.add_batch(b)?;
                }
                let edges = Arc::new(edges);
                if let Ok(mut c) = self.edges.lock() {
                    *c = Some(edges.clone());
                }
                edges
            }
        };
        let hits = edges.walk(self.root, self.capture.as_deref(), self.direction);

        // Same type as the view's capture column, so the join keys match.
        let cap_type = self
            .processes
            .schema()
            .field_with_name("capture")?
            .data_type()
            .clone();
        let hit_schema = Arc::new(Schema::new(vec![
            Field::new("__cap", cap_type.clone(), false),
            Field::new("__key", DataType::UInt64, false),
            Field::new("depth", DataType::Int32, false),
        ]));
        let hit_batch = RecordBatch::try_new(
            hit_schema,
            vec![
                cast(
                    &(Arc::new(StringArray::from_iter_values(
                        hits.iter().map(|h| edges.captures[h.0 as usize].as_str()),
                    )) as ArrayRef),
                    &cap_type,
                )?,
                Arc::new(UInt64Array::from_iter_values(hits.iter().map(|h| h.1))),
                Arc::new(Int32Array::from_iter_values(hits.iter().map(|h| h.2))),
            ],
        )?;
        let mut select = vec![lit(self.root).alias("root_key"), col("depth")];
        select.extend(
            self.processes
                .schema()
                .fields()
                .iter()
                .map(|f| col(datafusion::common::Column::from_name(f.name()))),
        );
        let rows = ctx
            .read_batch(hit_batch)?
            .join(
                procs,
                JoinType::Inner,
                &["__cap", "__key"],
                &["capture", "proc_key"],
                None,
            )?
            .sort(vec![
                col("__cap").sort(true, false),
                col("depth").sort(true, false),
                col("__key").sort(true, false),
            ])?
            .select(select)?
            .collect()
            .await?;
        // Re-wrap under the declared schema (same columns, relaxed nullability).
        let batches = rows
            .into_iter()
            .map(|b| RecordBatch::try_new(self.schema.clone(), b.columns().to_vec()))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(MemorySourceConfig::try_new_exec(
            &[batches],
            self.schema.clone(),
            projection.cloned(),
        )?)
    }
}
