//! The analyzer commands: `query`, `shell`, `conversations`, `graph`, `explain` and `views`.

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use agentsight_analyzer::datafusion::arrow::datatypes::SchemaRef;
use agentsight_analyzer::datafusion::arrow::record_batch::RecordBatch;
use agentsight_analyzer::datafusion::prelude::DataFrame;
use agentsight_analyzer::datafusion::sql::parser::DFParser;
use anyhow::{anyhow, bail, Context, Result};
use clap::Args;

use agentsight_analyzer::output::{self, Format};
use agentsight_analyzer::schema;
use agentsight_analyzer::session::{OpenOptions, Session};
use agentsight_analyzer::views;

/// Options shared by commands that open captures.
#[derive(Args, Clone, Debug, Default)]
pub struct CaptureOptions {
    /// Capture directory (repeatable; also accepted positionally).
    #[arg(long = "capture", short = 'c', value_name = "DIR")]
    pub capture: Vec<PathBuf>,
    /// Query the readable segments of a damaged or unsealed capture and say how many were skipped.
    #[arg(long)]
    pub skip_bad_segments: bool,
    /// Directory of *.sql views replacing or adding to the built-in ones.
    #[arg(long, value_name = "DIR")]
    pub queries: Option<PathBuf>,
}

impl CaptureOptions {
    fn open_options(&self) -> OpenOptions {
        OpenOptions {
            skip_bad_segments: self.skip_bad_segments,
            queries_dir: self.queries.clone(),
            progress: true,
        }
    }
}

#[derive(Args, Clone, Debug)]
#[command(
    after_help = "Examples:\n  agentsight query CAP \"SELECT * FROM processes\"\n  agentsight query CAP -f q.sql --format csv -o out.csv\n  agentsight query --capture A --capture B \"SELECT capture, count(*) FROM timeline GROUP BY 1\""
)]
pub struct QueryArgs {
    /// Capture directories followed by the SQL (the SQL is omitted with -f).
    #[arg(value_name = "CAPTURE... SQL", required = false)]
    pub args: Vec<OsString>,
    /// Read the SQL from a file (several statements run in order; the last one's result is printed).
    #[arg(long = "file", short = 'f', value_name = "FILE")]
    pub file: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write the result to FILE (created 0600) instead of stdout.
    #[arg(long = "output", short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Cut table cells wider than this many characters (0 = never).
    #[arg(long, default_value_t = 60)]
    pub max_width: usize,
    /// Show at most this many rows in table format (0 = all).
    #[arg(long, default_value_t = 1000)]
    pub max_rows: usize,
    #[command(flatten)]
    pub captures: CaptureOptions,
}

#[derive(Args, Clone, Debug)]
pub struct ShellArgs {
    /// Capture directories.
    #[arg(value_name = "CAPTURE")]
    pub positional: Vec<PathBuf>,
    /// History file (default: ~/.agentsight_history).
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,
    /// Cut table cells wider than this many characters (0 = never).
    #[arg(long, default_value_t = 60)]
    pub max_width: usize,
    /// Show at most this many rows per result (0 = all).
    #[arg(long, default_value_t = 200)]
    pub max_rows: usize,
    #[command(flatten)]
    pub captures: CaptureOptions,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TranscriptFormat {
    Markdown,
    Json,
}

#[derive(Args, Clone, Debug)]
#[command(
    after_help = "Examples:\n  agentsight conversations CAP\n  agentsight conversations CAP --conversation 2 --format json -o conv2.json"
)]
pub struct ConversationsArgs {
    /// Capture directories.
    #[arg(value_name = "CAPTURE")]
    pub positional: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = TranscriptFormat::Markdown)]
    pub format: TranscriptFormat,
    /// Only this conversation (the `conversation_id` of `conversations`).
    #[arg(long, value_name = "N")]
    pub conversation: Option<u64>,
    /// Write to FILE (created 0600) instead of stdout.
    #[arg(long = "output", short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub captures: CaptureOptions,
}

#[derive(Args, Clone, Debug)]
pub struct ViewsArgs {
    /// Print the SQL of this view instead of the list.
    pub name: Option<String>,
    /// Directory of *.sql views replacing or adding to the built-in ones.
    #[arg(long, value_name = "DIR")]
    pub queries: Option<PathBuf>,
}

/// DataFusion errors repeat their message in their source chain; keep one.
fn tidy(e: anyhow::Error) -> anyhow::Error {
    match e.downcast_ref::<agentsight_analyzer::datafusion::error::DataFusionError>() {
        Some(d) => anyhow!("{}", d.strip_backtrace()),
        None => e,
    }
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the query runtime")
}

pub(crate) fn open_session(
    rt: &tokio::runtime::Runtime,
    dirs: &[PathBuf],
    opts: &CaptureOptions,
) -> Result<Session> {
    let session = rt
        .block_on(Session::open(dirs, &opts.open_options()))
        .map_err(tidy)?;
    if let Some(note) = session.skipped_note() {
        eprintln!("agentsight: {note}");
    }
    Ok(session)
}

/// Captures and SQL from `query`'s arguments.
pub fn split_query_args(args: &QueryArgs) -> Result<(Vec<PathBuf>, String)> {
    let mut dirs = args.captures.capture.clone();
    let mut rest: Vec<OsString> = args.args.clone();
    let sql = match &args.file {
        Some(f) => std::fs::read_to_string(f)
            .with_context(|| format!("reading SQL file {}", f.display()))?,
        None => {
            let last = rest.pop().ok_or_else(|| {
                anyhow!("no SQL given: agentsight query CAPTURE \"SELECT ...\" (or -f FILE)")
            })?;
            last.into_string()
                .map_err(|_| anyhow!("the SQL argument is not valid UTF-8"))?
        }
    };
    dirs.extend(rest.into_iter().map(PathBuf::from));
    if dirs.is_empty() {
        bail!("no capture given: agentsight query CAPTURE \"SQL\" (or --capture DIR)");
    }
    Ok((dirs, sql))
}

/// Runs every statement of `sql` in order; returns the last result.
pub async fn run_sql(session: &Session, sql: &str) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let mut last = None;
    for df in plan_statements(session, sql).await? {
        let schema: SchemaRef = df.schema().inner().clone();
        last = Some((schema, df.collect().await?));
    }
    last.ok_or_else(|| anyhow!("no SQL statement given"))
}

/// Plans (and for DDL, executes) each statement in turn.
async fn plan_statements(session: &Session, sql: &str) -> Result<Vec<DataFrame>> {
    let statements = DFParser::parse_sql(sql)?;
    let mut out = Vec::new();
    for st in statements {
        let state = session.ctx.state();
        let plan = state.statement_to_plan(st).await?;
        out.push(session.ctx.execute_logical_plan(plan).await?);
    }
    Ok(out)
}

/// A spinner on stderr for a query that runs longer than a moment, only
/// when stderr is a terminal (quick queries and pipes stay clean).
struct Spinner(Option<std::sync::Arc<std::sync::Mutex<SpinnerState>>>);

#[derive(Default)]
struct SpinnerState {
    done: bool,
    bar: Option<indicatif::ProgressBar>,
}

impl Spinner {
    fn start(what: &str) -> Self {
        if !std::io::stderr().is_terminal() {
            return Spinner(None);
        }
        let state = std::sync::Arc::new(std::sync::Mutex::new(SpinnerState::default()));
        let (shared, what) = (state.clone(), what.to_string());
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(400));
            if let Ok(mut s) = shared.lock() {
                if !s.done {
                    let pb = indicatif::ProgressBar::new_spinner();
                    pb.set_message(what);
                    pb.enable_steady_tick(Duration::from_millis(120));
                    s.bar = Some(pb);
                }
            }
        });
        Spinner(Some(state))
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(state) = self.0.take() {
            if let Ok(mut s) = state.lock() {
                s.done = true;
                if let Some(pb) = s.bar.take() {
                    pb.finish_and_clear();
                }
            }
        }
    }
}

pub(crate) fn create_output(path: &Path) -> Result<Box<dyn Write + Send>> {
    let f = agentsight_capture::create_private_file(path)?;
    Ok(Box::new(std::io::BufWriter::new(f)))
}

/// `agentsight query`.
pub fn query(args: QueryArgs) -> Result<()> {
    let (dirs, sql) = split_query_args(&args)?;
    if args.format == Format::Parquet && args.output.is_none() && std::io::stdout().is_terminal() {
        bail!("--format parquet writes binary data: give -o FILE or redirect stdout");
    }
    let rt = runtime()?;
    let session = open_session(&rt, &dirs, &args.captures)?;
    let mut out: Box<dyn Write + Send> = match &args.output {
        Some(p) => create_output(p)?,
        None => Box::new(std::io::stdout()),
    };
    rt.block_on(async {
        let spinner = Spinner::start("running query");
        let frames = plan_statements(&session, &sql).await?;
        let Some((last, earlier)) = frames.split_last() else {
            bail!("no SQL statement given")
        };
        for df in earlier {
            df.clone().collect().await?;
        }
        let schema: SchemaRef = last.schema().inner().clone();
        if args.format == Format::Table {
            let batches = last.clone().collect().await?;
            drop(spinner);
            // Fit a terminal; a file or pipe gets the full width.
            let text = match (args.output.is_none())
                .then(output::terminal_width)
                .flatten()
            {
                Some(w) => {
                    output::render_table_fit(&schema, &batches, args.max_width, args.max_rows, w)?
                }
                None => output::render_table(&schema, &batches, args.max_width, args.max_rows)?,
            };
            out.write_all(text.as_bytes())?;
            out.flush()?;
        } else {
            // Machine formats stream, so large results need not fit in memory.
            let mut stream = last.clone().execute_stream().await?;
            let mut w = output::ResultWriter::new(args.format, schema, out)?;
            use futures::StreamExt;
            while let Some(batch) = stream.next().await {
                w.write(&batch?)?;
            }
            drop(spinner);
            w.finish()?;
        }
        Ok(())
    })
    .map_err(tidy)
}

/// Transcripts of the LLM conversations decoded from the captured TLS.
pub fn conversations(args: ConversationsArgs) -> Result<()> {
    let mut dirs = args.captures.capture.clone();
    dirs.extend(args.positional.iter().cloned());
    if dirs.is_empty() {
        bail!("no capture given: agentsight conversations CAPTURE");
    }
    let rt = runtime()?;
    let session = open_session(&rt, &dirs, &args.captures)?;
    let decoded = rt.block_on(async {
        let _spinner = Spinner::start("decoding conversations");
        session.decoded().await
    });
    let decoded = decoded.map_err(tidy)?;
    if let Some(n) = args.conversation {
        if !decoded.conversations.iter().any(|c| c.conversation_id == n) {
            bail!(
                "no conversation {n}; the capture has {} (numbered from 0)",
                decoded.conversations.len()
            );
        }
    }
    let view = agentsight_analyzer::transcript::View::new(
        &decoded,
        session
            .captures
            .iter()
            .map(|c| (c.label.clone(), c.manifest.boot_anchor))
            .collect(),
        args.conversation,
    );
    let text = match args.format {
        TranscriptFormat::Markdown => agentsight_analyzer::transcript::markdown(&view),
        TranscriptFormat::Json => {
            let mut s =
                serde_json::to_string_pretty(&agentsight_analyzer::transcript::json(&view))?;
            s.push('\n');
            s
        }
    };
    let mut out: Box<dyn Write + Send> = match &args.output {
        Some(p) => create_output(p)?,
        None => Box::new(std::io::stdout()),
    };
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum GraphFormat {
    Tree,
    Dot,
    Mermaid,
    Json,
}

#[derive(Args, Clone, Debug)]
#[command(
    after_help = "Forward view: what a conversation, tool call or process caused.\n\nExamples:\n  agentsight graph CAP\n  agentsight graph CAP --tool-call toolu_01A --format dot | dot -Tsvg > t.svg\n  agentsight graph CAP --pid 4242 --depth 3 --format mermaid"
)]
pub struct GraphArgs {
    /// Capture directories.
    #[arg(value_name = "CAPTURE")]
    pub positional: Vec<PathBuf>,
    /// Start at this conversation (`conversation_id`).
    #[arg(long, value_name = "N", conflicts_with_all = ["tool_call", "pid"])]
    pub conversation: Option<u64>,
    /// Start at this tool call: the API's id (`toolu_…`, `call_…`) or a node id (`tool_call:3.0`).
    #[arg(long, value_name = "ID", conflicts_with = "pid")]
    pub tool_call: Option<String>,
    /// Start at every process with this pid.
    #[arg(long, value_name = "N")]
    pub pid: Option<i32>,
    /// Levels to follow below each start.
    #[arg(long, default_value_t = 12)]
    pub depth: usize,
    /// Show the files each process read (many: libraries, configs).
    #[arg(long)]
    pub reads: bool,
    #[arg(long, value_enum, default_value_t = GraphFormat::Tree)]
    pub format: GraphFormat,
    /// Write to FILE (created 0600) instead of stdout.
    #[arg(long = "output", short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub captures: CaptureOptions,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExplainFormat {
    Text,
    Json,
}

#[derive(Args, Clone, Debug)]
#[command(
    after_help = "Backward chain: why did this happen? One line per hop, each with how it was found and how sure it is, ending with the prompt or tool result that led the model there.\n\nExamples:\n  agentsight explain CAP --pid 4242\n  agentsight explain CAP --path ~/.bashrc\n  agentsight explain CAP --host evil.example"
)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["pid", "path", "host", "tool_call"])))]
pub struct ExplainArgs {
    /// Capture directories.
    #[arg(value_name = "CAPTURE")]
    pub positional: Vec<PathBuf>,
    /// Every process with this pid (several when the pid was reused).
    #[arg(long, value_name = "N")]
    pub pid: Option<i32>,
    /// A file, by absolute path (as in graph_nodes) or by the end of it.
    #[arg(long, value_name = "P")]
    pub path: Option<String>,
    /// An endpoint, by host name or address (`1.2.3.4`, `1.2.3.4:443`).
    #[arg(long, value_name = "H")]
    pub host: Option<String>,
    /// A tool call: the API's id or a node id.
    #[arg(long, value_name = "ID")]
    pub tool_call: Option<String>,
    #[arg(long, value_enum, default_value_t = ExplainFormat::Text)]
    pub format: ExplainFormat,
    #[command(flatten)]
    pub captures: CaptureOptions,
}

pub(crate) fn capture_dirs(
    opts: &CaptureOptions,
    positional: &[PathBuf],
    command: &str,
) -> Result<Vec<PathBuf>> {
    let mut dirs = opts.capture.clone();
    dirs.extend(positional.iter().cloned());
    if dirs.is_empty() {
        bail!("no capture given: agentsight {command} CAPTURE");
    }
    Ok(dirs)
}

fn open_graph(
    rt: &tokio::runtime::Runtime,
    session: &Session,
) -> Result<(
    std::sync::Arc<agentsight_analyzer::graph::Graph>,
    std::sync::Arc<agentsight_analyzer::reconstruct::Decoded>,
)> {
    rt.block_on(async {
        let _spinner = Spinner::start("building the causal graph");
        let decoded = session.decoded().await?;
        let graph = session.graph().await?;
        Ok((graph, decoded))
    })
    .map_err(tidy)
}

fn tool_call_matches(n: &agentsight_analyzer::graph::Node, id: &str) -> bool {
    n.kind == agentsight_analyzer::graph::NodeKind::ToolCall
        && (&*n.id == id || n.tool_call_id.as_deref() == Some(id))
}

/// `agentsight graph`: the forward view.
pub fn graph(args: GraphArgs) -> Result<()> {
    use agentsight_analyzer::graph::{render, NodeKind};
    let dirs = capture_dirs(&args.captures, &args.positional, "graph")?;
    let rt = runtime()?;
    let session = open_session(&rt, &dirs, &args.captures)?;
    let (graph, _) = open_graph(&rt, &session)?;
    let walk = render::Walk {
        depth: args.depth,
        reads: args.reads,
    };
    let mut text = String::new();
    let mut json_parts = Vec::new();
    let mut found = 0;
    for g in &graph.captures {
        let roots: Vec<usize> = g
            .nodes
            .iter()
            .enumerate()
            .filter(
                |(_, n)| match (&args.conversation, &args.tool_call, args.pid) {
                    (Some(c), _, _) => {
                        n.kind == NodeKind::Conversation && n.conversation_id == Some(*c)
                    }
                    (_, Some(t), _) => tool_call_matches(n, t),
                    (_, _, Some(pid)) => n.kind == NodeKind::Process && n.pid == Some(pid),
                    // Everything the agents did: their conversations, then the
                    // agent processes (for activity no conversation explains).
                    _ => n.kind == NodeKind::Conversation || n.agent == Some(true),
                },
            )
            .map(|(i, _)| i)
            .collect();
        // Without any LLM traffic, the process trees themselves.
        let roots = if roots.is_empty()
            && args.conversation.is_none()
            && args.tool_call.is_none()
            && args.pid.is_none()
        {
            g.nodes
                .iter()
                .enumerate()
                .filter(|(i, n)| {
                    n.kind == NodeKind::Process
                        && !g.in_edges(*i).iter().any(|&e| {
                            matches!(
                                g.edges[e].kind,
                                agentsight_analyzer::graph::EdgeKind::Spawned
                                    | agentsight_analyzer::graph::EdgeKind::Exec
                            )
                        })
                })
                .map(|(i, _)| i)
                .collect()
        } else {
            roots
        };
        found += roots.len();
        let f = render::forward(g, &roots, walk);
        match args.format {
            GraphFormat::Tree => {
                if graph.captures.len() > 1 {
                    text.push_str(&format!(
                        "# capture {}\n",
                        render::terminal_text(&g.capture, 200)
                    ));
                }
                text.push_str(&render::tree_text(g, &f));
            }
            GraphFormat::Dot => text.push_str(&render::dot(g, &f)),
            GraphFormat::Mermaid => text.push_str(&render::mermaid(g, &f)),
            GraphFormat::Json => json_parts.push(render::json_view(g, &f)),
        }
    }
    if found == 0 {
        bail!("nothing in the capture matches the start you asked for");
    }
    if args.format == GraphFormat::Json {
        text = serde_json::to_string_pretty(&json_parts)?;
        text.push('\n');
    }
    let mut out: Box<dyn Write + Send> = match &args.output {
        Some(p) => create_output(p)?,
        None => Box::new(std::io::stdout()),
    };
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// `agentsight explain`: the backward chain.
pub fn explain(args: ExplainArgs) -> Result<()> {
    use agentsight_analyzer::graph::{render, NodeKind};
    let dirs = capture_dirs(&args.captures, &args.positional, "explain")?;
    let rt = runtime()?;
    let session = open_session(&rt, &dirs, &args.captures)?;
    let (graph, decoded) = open_graph(&rt, &session)?;
    let anchors: Vec<(String, agentsight_analyzer::capture::manifest::BootAnchor)> = session
        .captures
        .iter()
        .map(|c| (c.label.clone(), c.manifest.boot_anchor))
        .collect();
    let mut text = String::new();
    let mut json_parts = Vec::new();
    for g in &graph.captures {
        let anchor = anchors
            .iter()
            .find(|(l, _)| **l == *g.capture)
            .map(|(_, a)| *a);
        let wall = |ts: u64| -> String {
            anchor
                .and_then(|a| agentsight_analyzer::udf::wall_ns(&a, ts))
                .map(|ns| {
                    chrono::DateTime::from_timestamp_nanos(ns)
                        .format("%Y-%m-%d %H:%M:%S%.3f UTC")
                        .to_string()
                })
                .unwrap_or_else(|| format!("{ts} ns"))
        };
        let starts: Vec<usize> = g
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| {
                if let Some(pid) = args.pid {
                    return n.kind == NodeKind::Process && n.pid == Some(pid);
                }
                if let Some(t) = &args.tool_call {
                    return tool_call_matches(n, t);
                }
                if let Some(p) = &args.path {
                    let name = n.name.as_deref().unwrap_or("");
                    return n.kind == NodeKind::File
                        && (name == p
                            || (!p.starts_with('/')
                                && name.ends_with(&format!("/{}", p.trim_start_matches("~/")))));
                }
                if let Some(h) = &args.host {
                    let id = n.id.strip_prefix("endpoint:").unwrap_or("");
                    let addr = id
                        .rsplit_once(':')
                        .map_or(id, |(a, _)| a)
                        .trim_start_matches('[')
                        .trim_end_matches(']');
                    return n.kind == NodeKind::Endpoint
                        && (n.name.as_deref() == Some(h.as_str()) || addr == h || id == h);
                }
                false
            })
            .map(|(i, _)| i)
            .collect();
        for s in starts {
            let (hops, end) = render::explain(g, &decoded, s);
            match args.format {
                ExplainFormat::Text => {
                    text.push_str(&render::explain_text(g, &hops, end.as_deref(), &wall));
                    text.push('\n');
                }
                ExplainFormat::Json => {
                    json_parts.push(render::explain_json(g, &hops, end.as_deref()))
                }
            }
        }
    }
    if text.is_empty() && json_parts.is_empty() {
        bail!(
            "nothing in the capture matches: look in graph_nodes for the process, file or endpoint"
        );
    }
    if args.format == ExplainFormat::Json {
        text = serde_json::to_string_pretty(&json_parts)?;
        text.push('\n');
    }
    print!("{text}");
    Ok(())
}

pub fn views(args: ViewsArgs) -> Result<()> {
    let defs = views::load(args.queries.as_deref())?;
    let mut out = std::io::stdout().lock();
    if let Some(name) = &args.name {
        let v = defs
            .iter()
            .find(|v| v.name == *name)
            .ok_or_else(|| anyhow!("no view named {name}; `agentsight views` lists them"))?;
        writeln!(out, "-- from {}\n{};", v.source, v.sql)?;
        return Ok(());
    }
    writeln!(out, "{}", views_listing(&defs))?;
    Ok(())
}

fn views_listing(defs: &[views::ViewDef]) -> String {
    let width = defs
        .iter()
        .map(|v| v.name.len())
        .max()
        .unwrap_or(0)
        .max("descendants(K)".len());
    let mut s = String::new();
    for v in defs {
        s.push_str(&format!("{:<width$}  {}\n", v.name, v.description));
    }
    s.push_str(&format!(
        "{:<width$}  {}\n{:<width$}  {}",
        "descendants(K)",
        "table function: process K and its subtree, with depth (fast path of process_tree)",
        "ancestors(K)",
        "table function: process K and its ancestors, with depth",
    ));
    s
}

// ------------------------------------------------------------------ shell

/// State of an interactive shell, separate from the line editor so that it
/// can be driven by tests.
pub struct Shell {
    pub session: Session,
    rt: tokio::runtime::Runtime,
    pub max_width: usize,
    pub max_rows: usize,
    /// Names offered by tab completion.
    words: Vec<String>,
}

const HELP: &str = "\
Enter SQL ending with ; (it may span lines). Commands:
  .tables          list tables and views
  .schema NAME     columns of a table or view
  .views           named views with descriptions
  .functions       agentsight SQL functions
  .maxwidth N      cut cells wider than N characters (0 = never)
  .maxrows N       show at most N rows (0 = all)
  .help            this text
  .quit            leave (also Ctrl-D)
Ctrl-C cancels a running query.";

impl Shell {
    pub fn new(
        session: Session,
        rt: tokio::runtime::Runtime,
        max_width: usize,
        max_rows: usize,
    ) -> Result<Self> {
        let mut words: Vec<String> = session.table_names();
        words.extend(["descendants".to_string(), "ancestors".to_string()]);
        for name in session.table_names() {
            if let Ok(s) = rt.block_on(session.schema_of(&name)) {
                words.extend(s.fields().iter().map(|f| f.name().clone()));
            }
        }
        words.extend(
            agentsight_analyzer::udf::FUNCTIONS
                .iter()
                .map(|(sig, _)| sig.split('(').next().unwrap_or("").to_string()),
        );
        words.sort();
        words.dedup();
        Ok(Shell {
            session,
            rt,
            max_width,
            max_rows,
            words,
        })
    }

    /// Handles one complete input (a dot command or SQL statements) and
    /// returns what to print; Ok(None) means quit.
    pub fn handle(&mut self, input: &str) -> Result<Option<String>> {
        let input = input.trim();
        if input.is_empty() {
            return Ok(Some(String::new()));
        }
        if let Some(cmd) = input.strip_prefix('.') {
            return self.command(cmd.trim_end_matches(';'));
        }
        let started = Instant::now();
        let mut text = String::new();
        let max_width = self.max_width;
        let max_rows = self.max_rows;
        let session = &self.session;
        let result: Result<()> = self.rt.block_on(async {
            let work = async {
                for df in plan_statements(session, input).await? {
                    let schema: SchemaRef = df.schema().inner().clone();
                    let batches = df.collect().await?;
                    if schema.fields().is_empty() {
                        text.push_str("ok\n");
                    } else {
                        text.push_str(&match output::terminal_width() {
                            Some(w) => {
                                output::render_table_fit(&schema, &batches, max_width, max_rows, w)?
                            }
                            None => output::render_table(&schema, &batches, max_width, max_rows)?,
                        });
                    }
                }
                Ok::<(), anyhow::Error>(())
            };
            tokio::select! {
                r = work => r,
                _ = tokio::signal::ctrl_c() => Err(anyhow!("query cancelled")),
            }
        });
        result.map_err(tidy)?;
        text.push_str(&format!("Time: {:.3} s\n", started.elapsed().as_secs_f64()));
        Ok(Some(text))
    }

    fn command(&mut self, cmd: &str) -> Result<Option<String>> {
        let mut parts = cmd.split_whitespace();
        let name = parts.next().unwrap_or("");
        let arg = parts.next();
        Ok(Some(match name {
            "quit" | "exit" | "q" => return Ok(None),
            "help" | "h" | "?" => format!("{HELP}\n"),
            "tables" => {
                let views: Vec<&str> = self.session.views.iter().map(|v| v.name.as_str()).collect();
                format!(
                    "tables: {}\nviews:  {}\nfunctions: descendants(K), ancestors(K)\n",
                    schema::RAW_TABLES.join(", "),
                    views.join(", ")
                )
            }
            "views" => format!("{}\n", views_listing(&self.session.views)),
            "functions" => {
                let mut s = String::new();
                for (sig, doc) in agentsight_analyzer::udf::FUNCTIONS {
                    s.push_str(&format!("{sig:<32} {doc}\n"));
                }
                s
            }
            "schema" => {
                let Some(table) = arg else {
                    bail!(".schema NAME (see .tables)")
                };
                self.describe(table)?
            }
            "maxwidth" | "maxrows" => {
                let n: usize = arg
                    .and_then(|a| a.parse().ok())
                    .ok_or_else(|| anyhow!(".{name} N (a number)"))?;
                if name == "maxwidth" {
                    self.max_width = n;
                } else {
                    self.max_rows = n;
                }
                String::new()
            }
            other => bail!("unknown command .{other}; .help lists them"),
        }))
    }

    fn describe(&self, name: &str) -> Result<String> {
        let s = self.rt.block_on(self.session.schema_of(name))?;
        let raw = schema::table(name);
        let mut out = String::new();
        if let Some(t) = raw {
            out.push_str(&format!("{}\n", t.doc));
        } else if let Some(v) = self.session.views.iter().find(|v| v.name == name) {
            out.push_str(&format!("view: {}\n", v.description));
        }
        for f in s.fields() {
            let doc = raw
                .and_then(|t| t.columns.iter().find(|c| c.name == f.name().as_str()))
                .map(|c| c.doc)
                .unwrap_or(
                    if f.name() == agentsight_analyzer::session::CAPTURE_COLUMN {
                        "Capture this row came from."
                    } else {
                        ""
                    },
                );
            out.push_str(&format!(
                "  {:<16} {:<24} {:<9} {}\n",
                f.name(),
                f.data_type().to_string(),
                if f.is_nullable() { "" } else { "not null" },
                output::cell_text(doc, 100)
            ));
        }
        Ok(out)
    }

    /// Completion candidates for the word ending at `pos`: (start, words).
    pub fn complete(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        let pos = pos.min(line.len());
        let before = &line[..pos];
        let start = before
            .char_indices()
            .rev()
            .find(|(_, c)| !(c.is_alphanumeric() || *c == '_' || *c == '.'))
            .map(|(i, c)| i + c.len_utf8())
            .unwrap_or(0);
        let word = &before[start..];
        if start == 0 && word.starts_with('.') {
            let cmds = [
                ".tables",
                ".schema ",
                ".views",
                ".functions",
                ".maxwidth ",
                ".maxrows ",
                ".help",
                ".quit",
            ];
            return (
                0,
                cmds.iter()
                    .filter(|c| c.starts_with(word))
                    .map(|c| c.to_string())
                    .collect(),
            );
        }
        // After `t.` complete the column part only.
        let (start, word) = match word.rfind('.') {
            Some(i) => (start + i + 1, &word[i + 1..]),
            None => (start, word),
        };
        let lower = word.to_ascii_lowercase();
        let found = self
            .words
            .iter()
            .filter(|w| w.to_ascii_lowercase().starts_with(&lower))
            .cloned()
            .collect();
        (start, found)
    }
}

/// True when `input` is ready to run: a dot command, or SQL whose last
/// non-comment character is `;`.
pub fn input_complete(input: &str) -> bool {
    let t = input.trim();
    if t.is_empty() || t.starts_with('.') {
        return true;
    }
    let last_code_line = t
        .lines()
        .rev()
        .map(|l| l.trim())
        .find(|l| !l.is_empty() && !l.starts_with("--"));
    last_code_line.is_some_and(|l| l.ends_with(';'))
}

/// Completion callback: (line, cursor) -> (start of the word, candidates).
type CompleteFn = dyn Fn(&str, usize) -> (usize, Vec<String>) + Send + Sync;

#[derive(rustyline::Helper, rustyline::Hinter, rustyline::Highlighter)]
struct ShellHelper {
    shell_words: std::sync::Arc<CompleteFn>,
}

impl rustyline::completion::Completer for ShellHelper {
    type Candidate = String;
    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        Ok((self.shell_words)(line, pos))
    }
}

impl rustyline::validate::Validator for ShellHelper {
    fn validate(
        &self,
        ctx: &mut rustyline::validate::ValidationContext,
    ) -> rustyline::Result<rustyline::validate::ValidationResult> {
        Ok(if input_complete(ctx.input()) {
            rustyline::validate::ValidationResult::Valid(None)
        } else {
            rustyline::validate::ValidationResult::Incomplete
        })
    }
}

fn history_path(args: &ShellArgs) -> Option<PathBuf> {
    args.history
        .clone()
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".agentsight_history")))
}

/// `agentsight shell`.
pub fn shell(args: ShellArgs) -> Result<()> {
    let mut dirs = args.captures.capture.clone();
    dirs.extend(args.positional.iter().cloned());
    if dirs.is_empty() {
        bail!("no capture given: agentsight shell CAPTURE");
    }
    let rt = runtime()?;
    let session = open_session(&rt, &dirs, &args.captures)?;
    let labels: Vec<String> = session.captures.iter().map(|c| c.label.clone()).collect();
    let shell = Shell::new(session, rt, args.max_width, args.max_rows)?;
    let shell = std::sync::Arc::new(std::sync::Mutex::new(shell));

    let config = rustyline::Config::builder()
        .auto_add_history(false)
        .max_history_size(5000)
        .map_err(|e| anyhow!("{e}"))?
        .completion_type(rustyline::CompletionType::List)
        .build();
    let mut editor: rustyline::Editor<ShellHelper, rustyline::history::DefaultHistory> =
        rustyline::Editor::with_config(config).context("starting the line editor")?;
    let for_completion = shell.clone();
    editor.set_helper(Some(ShellHelper {
        shell_words: std::sync::Arc::new(move |line, pos| match for_completion.try_lock() {
            Ok(s) => s.complete(line, pos),
            Err(_) => (pos, Vec::new()),
        }),
    }));
    let history = history_path(&args);
    if let Some(h) = &history {
        // History can hold literals copied from captures: keep it private.
        if !h.exists() {
            let _ = agentsight_capture::create_private_file(h);
        }
        let _ = editor.load_history(h);
    }
    println!(
        "agentsight shell over {} — .help for commands, .quit to leave",
        labels.join(", ")
    );
    loop {
        match editor.readline("agentsight> ") {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                }
                let result = match shell.lock() {
                    Ok(mut s) => s.handle(&line),
                    Err(_) => Err(anyhow!("shell state is unusable after an earlier failure")),
                };
                match result {
                    Ok(Some(text)) => print!("{text}"),
                    Ok(None) => break,
                    Err(e) => eprintln!("error: {e:#}"),
                }
            }
            Err(rustyline::error::ReadlineError::Interrupted) => continue,
            Err(rustyline::error::ReadlineError::Eof) => break,
            Err(e) => return Err(anyhow!("reading input: {e}")),
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_completeness() {
        assert!(input_complete("SELECT 1;"));
        assert!(!input_complete("SELECT 1"));
        assert!(!input_complete("SELECT 1\nFROM t"));
        assert!(input_complete("SELECT 1\nFROM t;\n-- trailing comment"));
        assert!(input_complete(".tables"));
        assert!(input_complete("  "));
    }

    #[test]
    fn query_args_split() {
        let mut a = QueryArgs {
            args: vec!["a".into(), "b".into(), "SELECT 1".into()],
            file: None,
            format: Format::Table,
            output: None,
            max_width: 60,
            max_rows: 0,
            captures: CaptureOptions::default(),
        };
        let (dirs, sql) = split_query_args(&a).unwrap();
        assert_eq!(dirs, [PathBuf::from("a"), PathBuf::from("b")]);
        assert_eq!(sql, "SELECT 1");
        a.args = vec!["SELECT 1".into()];
        assert!(split_query_args(&a)
            .unwrap_err()
            .to_string()
            .contains("no capture"));
        a.captures.capture = vec!["c".into()];
        assert_eq!(split_query_args(&a).unwrap().0, [PathBuf::from("c")]);
        a.args.clear();
        assert!(split_query_args(&a)
            .unwrap_err()
            .to_string()
            .contains("no SQL"));
    }
}
