//! `agentsight report`: the incident report (one self-contained HTML file
//! and a Markdown twin) and the evidence bundle behind it.
//!
//! [`build`] gathers everything into a [`Report`] of plain owned values
//! (header, summary, findings with their backward chains and cited rows,
//! timeline, causal tree, transcripts, blind spots); [`html`] and
//! [`markdown`] only render it, and [`bundle`] copies the cited rows out of
//! the capture with the hashes that prove where they came from. Every string
//! that came from a capture stays plain data here: the renderers escape it.

pub mod bundle;
pub mod html;
pub mod markdown;
pub mod sign;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use anyhow::{Context, Result};
use datafusion::arrow::array::AsArray;
use serde_json::Value;

use crate::anomalies::{self, Finding, RuleSet, RunOptions, Severity};
use crate::graph::{render, CaptureGraph, EdgeKind, NodeKind};
use crate::reconstruct::Decoded;
use crate::session::{CaptureSource, Session};
use crate::transcript;
use agentsight_capture::verify;

/// What the report covers.
#[derive(Clone, Debug, Default)]
pub struct ReportOptions {
    pub title: Option<String>,
    /// UTC wall-clock bounds, nanoseconds.
    pub since_ns: Option<i64>,
    pub until_ns: Option<i64>,
    pub conversation: Option<u64>,
    pub pid: Option<i32>,
    /// A finding id (`F3`) or a rule id: only those findings.
    pub finding: Option<String>,
    pub run: RunOptions,
}

pub struct Report {
    pub title: String,
    pub generated_at: String,
    pub generator: String,
    /// The options in words ("conversation 2", "since …").
    pub scope: Vec<String>,
    pub captures: Vec<CaptureHeader>,
    pub summary: Summary,
    pub findings: Vec<ReportFinding>,
    /// Rules that could not run, with file and line.
    pub rule_errors: Vec<String>,
    pub timeline: Timeline,
    pub tree: Vec<TreeRow>,
    /// `transcript::json` of the conversations in scope.
    pub transcripts: Value,
    /// The same as `agentsight conversations` Markdown.
    pub transcripts_md: String,
    /// Anchors of tool calls shown in the transcripts, by (capture index,
    /// call id, API tool call id): the renderers link both ways with these.
    pub tool_anchors: HashMap<(usize, u64, String), ToolLink>,
    pub blind_spots: Vec<BlindSpot>,
    pub evidence: Vec<bundle::CitedTable>,
}

pub struct CaptureHeader {
    pub label: String,
    pub dir: String,
    pub capture_id: String,
    pub host: String,
    pub kernel: String,
    pub machine: String,
    pub recorder_version: String,
    pub schema_version: u32,
    pub state: String,
    pub started: String,
    pub ended: String,
    /// First to last event, seconds.
    pub span_s: f64,
    pub targets: String,
    pub command_line: String,
    pub redaction: bool,
    pub tls_hooks: Vec<String>,
    pub intact: bool,
    pub integrity: String,
    pub chain_head: String,
}

impl CaptureHeader {
    /// The header as (field, value) rows, as both renderers show it.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("capture id", self.capture_id.clone()),
            ("directory", self.dir.clone()),
            (
                "host",
                format!("{} ({}, kernel {})", self.host, self.machine, self.kernel),
            ),
            (
                "recorder",
                format!(
                    "agentsight {} (schema v{})",
                    self.recorder_version, self.schema_version
                ),
            ),
            ("state", self.state.clone()),
            (
                "events",
                format!("{} – {} ({:.3} s)", self.started, self.ended, self.span_s),
            ),
            ("targets", self.targets.clone()),
            ("command line", self.command_line.clone()),
            (
                "redaction",
                if self.redaction {
                    "credential headers masked at record time".to_string()
                } else {
                    "OFF: credentials were stored as captured".to_string()
                },
            ),
            (
                "TLS hooks",
                if self.tls_hooks.is_empty() {
                    "none".to_string()
                } else {
                    self.tls_hooks.join("; ")
                },
            ),
            ("integrity", self.integrity.clone()),
        ]
    }
}

#[derive(Default)]
pub struct Summary {
    pub processes: usize,
    pub conversations: usize,
    pub llm_calls: usize,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub tool_calls: usize,
    pub findings_by_severity: Vec<(Severity, usize)>,
}

pub struct ReportFinding {
    /// `F1`, `F2`… in time order over every finding of the rules run (before
    /// scoping), cited by the bundle.
    pub id: String,
    pub time: String,
    /// The rule's evidence columns as text.
    pub details: Vec<(String, String)>,
    pub evidence: Vec<EvidenceNode>,
    pub chain: Vec<ChainStep>,
    /// How the chain ends: the prompt or tool result, or why it stops.
    pub chain_end: Option<String>,
    pub finding: Finding,
}

pub struct EvidenceNode {
    pub id: String,
    pub label: String,
    pub anchor: Option<String>,
}

pub struct ChainStep {
    /// "written by", "ran by"… (None for the start).
    pub verb: Option<&'static str>,
    pub edge: Option<String>,
    pub node_kind: &'static str,
    pub node_id: String,
    pub label: String,
    pub time: String,
    pub method: String,
    pub confidence: f64,
    pub text: Option<(&'static str, String)>,
    pub anchor: Option<String>,
}

pub struct Lane {
    pub label: String,
    pub depth: usize,
    pub anchor: Option<String>,
}

/// A point (start == end) or span on a lane; offsets in ns from the
/// timeline start. `count` > 1 stands for that many events in one bin.
pub struct Mark {
    pub lane: usize,
    pub kind: &'static str,
    pub start_ns: u64,
    pub end_ns: u64,
    pub label: String,
    pub count: usize,
    pub anchor: Option<String>,
}

#[derive(Default)]
pub struct Timeline {
    pub start_ns: u64,
    pub end_ns: u64,
    pub start_wall: String,
    pub lanes: Vec<Lane>,
    pub marks: Vec<Mark>,
    /// Events drawn (the sum of the marks' counts).
    pub events: usize,
    /// True when points were binned because there were too many to draw.
    pub aggregated: bool,
}

/// Mark kinds, in legend order.
pub const MARK_KINDS: &[(&str, &str)] = &[
    ("llm", "LLM call"),
    ("tool", "tool call"),
    ("exec", "exec"),
    ("write", "file write"),
    ("connect", "connect"),
];

/// Points drawn one by one up to this many; past it they are binned.
pub const MAX_MARKS: usize = 5000;
/// Most bins per lane and kind when aggregating (fewer with many lanes).
pub const BINS: u64 = 400;
/// Lanes drawn one by one; the rest share one.
pub const MAX_LANES: usize = 300;

pub struct TreeRow {
    pub depth: usize,
    pub node_kind: &'static str,
    pub label: String,
    /// Edge kind from the parent row, with method and confidence.
    pub via: Option<String>,
    pub anchor: Option<String>,
    /// Tool call rows: the transcript entry.
    pub link: Option<String>,
    pub repeat: bool,
    pub more: Option<String>,
}

#[derive(Clone)]
pub struct ToolLink {
    /// The tool call's own anchor in the transcript.
    pub transcript: String,
    /// Its row in the causal tree, when shown there.
    pub tree: Option<String>,
    /// What it caused, in words (processes, files written, endpoints).
    pub effects: Vec<String>,
}

pub struct BlindSpot {
    pub capture: String,
    pub kind: String,
    pub detail: String,
}

/// Captured text on one line of at most `max` characters, credentials
/// masked before the cut (a cut secret would no longer look like one).
pub fn masked_line(s: &str, max: usize) -> String {
    crate::graph::one_line(&agentsight_redact::mask_secrets(s), max)
}

/// Node anchor: numbers only, never captured text.
pub fn node_anchor(capture: usize, node: usize) -> String {
    format!("n{capture}-{node}")
}

pub fn tool_anchor(capture: usize, node: usize) -> String {
    format!("t{capture}-{node}")
}

fn wall_text(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns)
        .format("%Y-%m-%d %H:%M:%S%.3f UTC")
        .to_string()
}

struct Scope {
    since: Option<i64>,
    until: Option<i64>,
    /// Per capture: nodes reachable from the chosen conversation/process.
    nodes: Option<Vec<HashSet<usize>>>,
}

impl Scope {
    fn time_ok(&self, c: &CaptureSource, ts: u64) -> bool {
        let w = c.manifest.boot_anchor.wall_ns(ts);
        self.since.is_none_or(|s| w >= s) && self.until.is_none_or(|u| w <= u)
    }
    fn node_ok(&self, ci: usize, node: usize) -> bool {
        self.nodes.as_ref().is_none_or(|n| n[ci].contains(&node))
    }
}

/// Everything reachable forward from `roots` (no summarising).
fn reach(g: &CaptureGraph, roots: &[usize]) -> HashSet<usize> {
    let mut seen: HashSet<usize> = roots.iter().copied().collect();
    let mut stack = roots.to_vec();
    while let Some(n) = stack.pop() {
        for &e in g.out_edges(n) {
            let d = g.edges[e].dst;
            if seen.insert(d) {
                stack.push(d);
            }
        }
    }
    seen
}

/// Builds the report: runs the rules, walks the graph, finds the cited rows.
pub async fn build(session: &Session, rules: &RuleSet, opts: &ReportOptions) -> Result<Report> {
    let decoded = session.decoded().await?;
    let graph = session.graph().await?;
    let outcome = anomalies::run(session, rules, &opts.run).await?;
    let mut health = capture_health(session).await?;
    health.extend(partial_streams(&decoded));

    let graphs: Vec<Option<&CaptureGraph>> = session
        .captures
        .iter()
        .map(|c| graph.captures.iter().find(|g| *g.capture == c.label))
        .collect();
    let mut scope = Scope {
        since: opts.since_ns,
        until: opts.until_ns,
        nodes: None,
    };
    let mut scope_words = Vec::new();
    if opts.conversation.is_some() || opts.pid.is_some() {
        let sets = graphs
            .iter()
            .map(|g| {
                let Some(g) = g else { return HashSet::new() };
                let roots: Vec<usize> = g
                    .nodes
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| match (opts.conversation, opts.pid) {
                        (Some(c), _) => {
                            n.kind == NodeKind::Conversation && n.conversation_id == Some(c)
                        }
                        (None, Some(p)) => n.kind == NodeKind::Process && n.pid == Some(p),
                        _ => false,
                    })
                    .map(|(i, _)| i)
                    .collect();
                reach(g, &roots)
            })
            .collect();
        scope.nodes = Some(sets);
    }
    if let Some(c) = opts.conversation {
        scope_words.push(format!("conversation {c} and what it caused"));
    }
    if let Some(p) = opts.pid {
        scope_words.push(format!("process {p} and what it caused"));
    }
    if let Some(s) = opts.since_ns {
        scope_words.push(format!("since {}", wall_text(s)));
    }
    if let Some(u) = opts.until_ns {
        scope_words.push(format!("until {}", wall_text(u)));
    }
    if let Some(f) = &opts.finding {
        scope_words.push(format!("finding {f}"));
    }

    let tree = causal_tree(&graphs, &scope);
    let shown: HashSet<String> = tree.iter().filter_map(|r| r.anchor.clone()).collect();
    let tool_anchors = tool_links(&graphs, &shown);

    // Findings in scope, numbered in time order.
    let mut findings = Vec::new();
    let mut wanted: Vec<bundle::Wanted> = vec![bundle::Wanted::default(); session.captures.len()];
    for (n, f) in outcome.findings.iter().enumerate() {
        // Numbered before any scope is applied: F3 is F3 in every report of
        // the capture made with the same rules.
        let id = format!("F{}", n + 1);
        let Some(ci) = session.captures.iter().position(|c| c.label == f.capture) else {
            continue;
        };
        let cap = &session.captures[ci];
        if !scope.time_ok(cap, f.ts_ns) {
            continue;
        }
        let g = graphs[ci];
        let nodes: Vec<usize> = g
            .map(|g| {
                f.evidence
                    .iter()
                    .filter_map(|id| g.node_index(id))
                    .collect()
            })
            .unwrap_or_default();
        if scope.nodes.is_some() && !nodes.iter().any(|&x| scope.node_ok(ci, x)) {
            continue;
        }
        if let Some(want) = &opts.finding {
            if *want != id && *want != f.rule_id {
                continue;
            }
        }
        let rf = finding(ci, cap, g, &decoded, f, id, &shown, &mut wanted[ci]);
        findings.push(rf);
    }

    let mut evidence = Vec::new();
    for (ci, c) in session.captures.iter().enumerate() {
        if wanted[ci].is_empty() {
            continue;
        }
        let skip: HashSet<&Path> = session.skipped.iter().map(|s| s.file.as_path()).collect();
        evidence.extend(
            bundle::collect(ci, &c.label, &c.dir, &c.manifest, &wanted[ci], &skip)
                .with_context(|| format!("collecting the cited rows of {}", c.dir.display()))?,
        );
    }

    let timeline = timeline(session, &graphs, &decoded, &scope, &tree);
    let anchors = session
        .captures
        .iter()
        .map(|c| (c.label.clone(), c.manifest.boot_anchor))
        .collect();
    let view = transcript::View::new(&decoded, anchors, opts.conversation);
    let transcripts = transcript::json(&view);
    let transcripts_md = transcript::markdown(&view);
    let summary = summary(&graphs, &decoded, &findings);
    let captures = session
        .captures
        .iter()
        .map(header)
        .collect::<Result<Vec<_>>>()?;
    let title = opts.title.clone().unwrap_or_else(|| {
        format!(
            "agentsight incident report: {}",
            session
                .captures
                .iter()
                .map(|c| c.manifest.capture_id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    });
    Ok(Report {
        title,
        generated_at: chrono::Utc::now()
            .format("%Y-%m-%d %H:%M:%S UTC")
            .to_string(),
        generator: format!("agentsight {}", env!("CARGO_PKG_VERSION")),
        scope: scope_words,
        captures,
        summary,
        findings,
        rule_errors: outcome.errors.iter().map(|e| e.to_string()).collect(),
        timeline,
        tree,
        transcripts,
        transcripts_md,
        tool_anchors,
        blind_spots: health,
        evidence,
    })
}

async fn capture_health(session: &Session) -> Result<Vec<BlindSpot>> {
    let batches = session
        .ctx
        .sql("SELECT capture, kind, detail FROM capture_health ORDER BY capture, ts_ns")
        .await?
        .collect()
        .await?;
    let mut out = Vec::new();
    for b in batches {
        let cols: Vec<_> = (0..3)
            .map(|i| {
                datafusion::arrow::compute::cast(
                    b.column(i),
                    &datafusion::arrow::datatypes::DataType::Utf8,
                )
            })
            .collect::<std::result::Result<_, _>>()?;
        for r in 0..b.num_rows() {
            let s = |i: usize| cols[i].as_string::<i32>().value(r).to_string();
            out.push(BlindSpot {
                capture: s(0),
                kind: s(1),
                detail: s(2),
            });
        }
    }
    Ok(out)
}

/// LLM calls the capture holds only part of: a blind spot of the transcript.
fn partial_streams(decoded: &Decoded) -> Vec<BlindSpot> {
    let mut by_capture: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for c in decoded.calls.iter().filter(|c| c.call.partial) {
        by_capture.entry(&c.capture).or_default().push(c.call_id);
    }
    by_capture
        .into_iter()
        .map(|(capture, ids)| {
            let shown: Vec<String> = ids.iter().take(20).map(u64::to_string).collect();
            BlindSpot {
                capture: capture.to_string(),
                kind: "partial_stream".to_string(),
                detail: format!(
                    "{} LLM call(s) only partly captured (lost bytes, a cut stream or no end): call {}{}; their text may be incomplete (llm_calls.partial)",
                    ids.len(),
                    shown.join(", "),
                    if ids.len() > shown.len() { ", …" } else { "" }
                ),
            }
        })
        .collect()
}

fn header(c: &CaptureSource) -> Result<CaptureHeader> {
    let m = &c.manifest;
    let v = verify::verify(&c.dir, None)?;
    let first = m.segments.iter().filter_map(|s| s.first_ts_ns).min();
    let last = m.segments.iter().filter_map(|s| s.last_ts_ns).max();
    Ok(CaptureHeader {
        label: c.label.clone(),
        dir: c.dir.display().to_string(),
        capture_id: m.capture_id.clone(),
        host: m.host.hostname.clone(),
        kernel: m.host.kernel.clone(),
        machine: m.host.machine.clone(),
        recorder_version: m.recorder_version.clone(),
        schema_version: m.schema_version,
        state: format!("{:?}", m.state).to_lowercase(),
        started: first
            .map(|t| wall_text(m.boot_anchor.wall_ns(t)))
            .unwrap_or_else(|| wall_text(m.started_at_ns)),
        ended: last
            .map(|t| wall_text(m.boot_anchor.wall_ns(t)))
            .or(m.ended_at_ns.map(wall_text))
            .unwrap_or_default(),
        span_s: match (first, last) {
            (Some(a), Some(b)) => b.saturating_sub(a) as f64 / 1e9,
            _ => 0.0,
        },
        targets: m.targets.describe(),
        command_line: m.command_line.join(" "),
        redaction: m.options.redact,
        tls_hooks: m.tls_attachments.clone(),
        intact: v.intact(),
        integrity: if v.intact() {
            format!(
                "intact: {} segments, {} bytes re-hashed; chain head {}",
                v.segments_checked, v.bytes_checked, v.chain_head
            )
        } else {
            format!("NOT intact: {}", v.problems.join("; "))
        },
        chain_head: v.chain_head,
    })
}

fn summary(
    graphs: &[Option<&CaptureGraph>],
    decoded: &Decoded,
    findings: &[ReportFinding],
) -> Summary {
    let mut s = Summary {
        processes: graphs
            .iter()
            .flatten()
            .map(|g| {
                g.nodes
                    .iter()
                    .filter(|n| n.kind == NodeKind::Process)
                    .count()
            })
            .sum(),
        conversations: decoded.conversations.len(),
        llm_calls: decoded.calls.len(),
        tool_calls: decoded.tools.len(),
        ..Summary::default()
    };
    for c in &decoded.calls {
        // Captured counts: saturate rather than overflow on hostile values.
        s.input_tokens = s
            .input_tokens
            .saturating_add(c.call.input_tokens.unwrap_or(0));
        s.output_tokens = s
            .output_tokens
            .saturating_add(c.call.output_tokens.unwrap_or(0));
    }
    for sev in Severity::ALL.into_iter().rev() {
        s.findings_by_severity.push((
            sev,
            findings
                .iter()
                .filter(|f| f.finding.severity == sev)
                .count(),
        ));
    }
    s
}

/// The rows a finding cites, by the graph edges among its evidence nodes.
fn cite(g: &CaptureGraph, decoded: &Decoded, nodes: &[usize], by: &str, want: &mut bundle::Wanted) {
    let set: HashSet<usize> = nodes.iter().copied().collect();
    for &n in nodes {
        let node = &g.nodes[n];
        match node.kind {
            NodeKind::Process => {
                if let Some(k) = node.proc_key {
                    want.process(k, by);
                }
            }
            NodeKind::LlmCall => {
                let call = decoded
                    .calls
                    .iter()
                    .find(|c| c.capture == g.capture && Some(c.call_id) == node.call_id);
                if let Some(c) = call {
                    let conn = decoded
                        .http
                        .iter()
                        .find(|h| h.conn.capture == c.capture && h.conn.conn_id == c.conn_id);
                    if let Some(h) = conn {
                        want.tls.push(bundle::TlsSpan {
                            proc_key: c.proc_key,
                            ssl_ptr: h.conn.ssl_ptr,
                            from_ns: c.ts_ns,
                            to_ns: c.end_ns,
                            cited_by: by.to_string(),
                        });
                    }
                }
            }
            _ => {}
        }
        // Events between two cited nodes (a process and the file it wrote).
        for &e in g.out_edges(n) {
            let edge = &g.edges[e];
            if !set.contains(&edge.dst) {
                continue;
            }
            let raw = edge.kind.touches_file()
                || matches!(edge.kind, EdgeKind::Connected | EdgeKind::Accepted);
            if let (true, Some(k)) = (raw, edge.proc_key) {
                want.event(k, edge.ts_ns, by);
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn finding(
    ci: usize,
    cap: &CaptureSource,
    g: Option<&CaptureGraph>,
    decoded: &Decoded,
    f: &Finding,
    id: String,
    shown: &HashSet<String>,
    want: &mut bundle::Wanted,
) -> ReportFinding {
    let anchor_if_shown = |node: usize| {
        let a = node_anchor(ci, node);
        shown.contains(&a).then_some(a)
    };
    let wall = |ts: u64| wall_text(cap.manifest.boot_anchor.wall_ns(ts));
    let mut evidence = Vec::new();
    let mut chain = Vec::new();
    let mut chain_end = None;
    if let Some(g) = g {
        let nodes: Vec<usize> = f
            .evidence
            .iter()
            .filter_map(|id| g.node_index(id))
            .collect();
        for id in &f.evidence {
            let idx = g.node_index(id);
            evidence.push(EvidenceNode {
                id: id.clone(),
                label: idx.map(|i| g.nodes[i].label.clone()).unwrap_or_default(),
                anchor: idx.and_then(anchor_if_shown),
            });
        }
        cite(g, decoded, &nodes, &id, want);
        // The chain starts at the effect: the first evidence node that is
        // a file or an endpoint, else the first node.
        let start = nodes
            .iter()
            .copied()
            .find(|&n| matches!(g.nodes[n].kind, NodeKind::File | NodeKind::Endpoint))
            .or(nodes.first().copied())
            .or_else(|| {
                f.proc_key
                    .and_then(|k| g.node_index(&crate::graph::process_id(k)))
            });
        if let Some(start) = start {
            let (hops, end) = render::explain(g, decoded, start);
            let mut chain_nodes = Vec::new();
            for h in hops {
                let node = &g.nodes[h.node];
                chain_nodes.push(h.node);
                let (verb, edge, time, method, confidence) = match h.via {
                    Some(e) => {
                        let edge = &g.edges[e];
                        (
                            Some(render::verb(edge.kind)),
                            Some(edge.kind.as_str().to_string()),
                            wall(edge.ts_ns),
                            edge.method.to_string(),
                            edge.confidence,
                        )
                    }
                    None => (None, None, wall(node.ts_ns), String::new(), 1.0),
                };
                chain.push(ChainStep {
                    verb,
                    edge,
                    node_kind: node.kind.as_str(),
                    node_id: node.id.to_string(),
                    label: node.label.clone(),
                    time,
                    method,
                    confidence,
                    text: h.text,
                    anchor: if node.kind == NodeKind::ToolCall {
                        Some(tool_anchor(ci, h.node))
                    } else {
                        anchor_if_shown(h.node)
                    },
                });
            }
            // The chain is evidence too: the exec and the write it walked.
            cite(g, decoded, &chain_nodes, &id, want);
            chain_end = end;
        }
    }
    let details = f
        .details
        .iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect();
    ReportFinding {
        id,
        time: f
            .wall_ns
            .map(wall_text)
            .unwrap_or_else(|| format!("{} ns", f.ts_ns)),
        details,
        evidence,
        chain,
        chain_end,
        finding: f.clone(),
    }
}

/// Rows shown per tree before the rest of a capture's graph is left out.
const MAX_TREE_ROWS: usize = 2000;

/// The causal tree: conversations, then the agent processes (whose
/// unattributed children hang there); without LLM traffic, the process roots.
fn causal_tree(graphs: &[Option<&CaptureGraph>], scope: &Scope) -> Vec<TreeRow> {
    let mut rows = Vec::new();
    for (ci, g) in graphs.iter().enumerate() {
        let Some(g) = g else { continue };
        let mut roots: Vec<usize> = g
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, n)| {
                scope.node_ok(ci, *i)
                    && (n.kind == NodeKind::Conversation
                        || (n.kind == NodeKind::Process && n.agent == Some(true)))
            })
            .map(|(i, _)| i)
            .collect();
        if roots.is_empty() {
            roots = g
                .nodes
                .iter()
                .enumerate()
                .filter(|(i, n)| {
                    n.kind == NodeKind::Process
                        && scope.node_ok(ci, *i)
                        && !g.in_edges(*i).iter().any(|&e| {
                            matches!(
                                g.edges[e].kind,
                                EdgeKind::Spawned | EdgeKind::Exec | EdgeKind::Ran
                            )
                        })
                })
                .map(|(i, _)| i)
                .collect();
        }
        let walk = render::Walk {
            depth: 8,
            reads: false,
        };
        let fwd = render::forward(g, &roots, walk);
        for line in fwd.lines.iter().take(MAX_TREE_ROWS) {
            let node = &g.nodes[line.node];
            if let Some((count, kind)) = line.more {
                rows.push(TreeRow {
                    depth: line.depth,
                    node_kind: "more",
                    label: String::new(),
                    via: None,
                    anchor: None,
                    link: None,
                    repeat: false,
                    more: Some(format!("{count} more {}", kind.as_str())),
                });
                continue;
            }
            let via = line.via.map(|e| {
                let edge = &g.edges[e];
                if edge.confidence < 1.0 {
                    format!(
                        "{} ({}, {:.2})",
                        edge.kind.as_str(),
                        edge.method,
                        edge.confidence
                    )
                } else {
                    edge.kind.as_str().to_string()
                }
            });
            rows.push(TreeRow {
                depth: line.depth,
                node_kind: node.kind.as_str(),
                label: node.label.clone(),
                via,
                anchor: (!line.repeat).then(|| node_anchor(ci, line.node)),
                link: (node.kind == NodeKind::ToolCall).then(|| tool_anchor(ci, line.node)),
                repeat: line.repeat,
                more: None,
            });
        }
        if fwd.lines.len() > MAX_TREE_ROWS {
            rows.push(TreeRow {
                depth: 0,
                node_kind: "more",
                label: String::new(),
                via: None,
                anchor: None,
                link: None,
                repeat: false,
                more: Some(format!(
                    "{} more rows: see `agentsight graph`",
                    fwd.lines.len() - MAX_TREE_ROWS
                )),
            });
        }
    }
    rows
}

fn tool_links(
    graphs: &[Option<&CaptureGraph>],
    shown: &HashSet<String>,
) -> HashMap<(usize, u64, String), ToolLink> {
    let mut out = HashMap::new();
    for (ci, g) in graphs.iter().enumerate() {
        let Some(g) = g else { continue };
        for eff in &g.effects {
            let mut effects = Vec::new();
            if !eff.process_keys.is_empty() {
                effects.push(format!(
                    "{} process(es): {}",
                    eff.process_keys.len(),
                    eff.execs.join(", ")
                ));
            }
            if !eff.files_written.is_empty() {
                effects.push(format!("wrote {}", eff.files_written.join(", ")));
            }
            if eff.files_read > 0 {
                effects.push(format!("read {} file(s)", eff.files_read));
            }
            if !eff.endpoints.is_empty() {
                effects.push(format!("connected to {}", eff.endpoints.join(", ")));
            }
            if let Some(m) = eff.method {
                effects.push(format!(
                    "attributed by {m} (confidence {:.2})",
                    eff.confidence.unwrap_or(0.0)
                ));
            }
            let tree = node_anchor(ci, eff.node);
            out.insert(
                (ci, eff.call_id, eff.tool_call_id.clone()),
                ToolLink {
                    transcript: tool_anchor(ci, eff.node),
                    tree: shown.contains(&tree).then_some(tree),
                    effects,
                },
            );
        }
    }
    out
}

fn timeline(
    session: &Session,
    graphs: &[Option<&CaptureGraph>],
    decoded: &Decoded,
    scope: &Scope,
    tree: &[TreeRow],
) -> Timeline {
    let mut t = Timeline::default();
    let mut lane_of: HashMap<(usize, String), usize> = HashMap::new();
    // Lanes in causal-tree order: conversations, then processes.
    let order: HashMap<&str, usize> = tree
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.anchor.as_deref().map(|a| (a, i)))
        .collect();
    let mut points: Vec<(usize, String, Mark)> = Vec::new(); // (capture, lane key, mark)
                                                             // (capture, lane key) -> (rank in the tree, lane)
    let mut lane_info: BTreeMap<(usize, String), (usize, Lane)> = BTreeMap::new();
    for (ci, g) in graphs.iter().enumerate() {
        let Some(g) = g else { continue };
        let cap = &session.captures[ci];
        let mut lane = |key: String, label: String, node: usize| {
            let anchor = node_anchor(ci, node);
            let rank = order.get(anchor.as_str()).copied().unwrap_or(usize::MAX);
            let depth = tree.get(rank).map_or(0, |r| r.depth);
            lane_info.entry((ci, key.clone())).or_insert((
                rank,
                Lane {
                    label,
                    depth,
                    anchor: order.contains_key(anchor.as_str()).then_some(anchor),
                },
            ));
            key
        };
        let proc_lane = |g: &CaptureGraph, key: u64| -> Option<usize> {
            g.node_index(&crate::graph::process_id(key))
        };
        for (i, n) in g.nodes.iter().enumerate() {
            if !scope.node_ok(ci, i) || !scope.time_ok(cap, n.ts_ns) {
                continue;
            }
            match n.kind {
                NodeKind::LlmCall => {
                    let conv = n.conversation_id.unwrap_or(0);
                    let conv_node = g.node_index(&format!("conversation:{conv}")).unwrap_or(i);
                    let key = lane(
                        format!("conversation:{conv}"),
                        format!("conversation {conv}"),
                        conv_node,
                    );
                    let end = decoded
                        .calls
                        .iter()
                        .find(|c| c.capture == g.capture && Some(c.call_id) == n.call_id)
                        .map_or(n.ts_ns, |c| c.end_ns.max(n.ts_ns));
                    points.push((
                        ci,
                        key,
                        Mark {
                            lane: 0,
                            kind: "llm",
                            start_ns: n.ts_ns,
                            end_ns: end,
                            label: n.label.clone(),
                            count: 1,
                            anchor: None,
                        },
                    ));
                }
                NodeKind::ToolCall => {
                    let conv = n.conversation_id.unwrap_or(0);
                    let conv_node = g.node_index(&format!("conversation:{conv}")).unwrap_or(i);
                    let key = lane(
                        format!("conversation:{conv}"),
                        format!("conversation {conv}"),
                        conv_node,
                    );
                    points.push((
                        ci,
                        key,
                        Mark {
                            lane: 0,
                            kind: "tool",
                            start_ns: n.ts_ns,
                            end_ns: n.ts_ns,
                            label: n.label.clone(),
                            count: 1,
                            anchor: Some(tool_anchor(ci, i)),
                        },
                    ));
                }
                _ => {}
            }
        }
        for e in &g.edges {
            let kind = match e.kind {
                EdgeKind::Executed => "exec",
                k if k.mutates_file() => "write",
                EdgeKind::Connected | EdgeKind::Accepted => "connect",
                _ => continue,
            };
            let Some(pk) = e.proc_key else { continue };
            let Some(p) = proc_lane(g, pk) else { continue };
            if !scope.time_ok(cap, e.ts_ns) || !(scope.node_ok(ci, e.src) || scope.node_ok(ci, p)) {
                continue;
            }
            let pn = &g.nodes[p];
            let label = format!(
                "{} {}",
                pn.pid.unwrap_or(0),
                pn.name.as_deref().unwrap_or("")
            );
            let key = lane(pn.id.to_string(), label, p);
            points.push((
                ci,
                key,
                Mark {
                    lane: 0,
                    kind,
                    start_ns: e.ts_ns,
                    end_ns: e.ts_ns,
                    label: format!("{} {}", e.kind.as_str(), g.nodes[e.dst].label),
                    count: 1,
                    anchor: None,
                },
            ));
        }
    }
    // Lanes sorted by tree order (lanes not in the tree last, by label).
    let mut lanes: Vec<_> = lane_info.into_iter().collect();
    lanes.sort_by(|a, b| (a.1 .0, &a.1 .1.label).cmp(&(b.1 .0, &b.1 .1.label)));
    // Past MAX_LANES the rest share one last lane.
    let total_lanes = lanes.len();
    for (i, (key, (_, lane))) in lanes.into_iter().enumerate() {
        if i < MAX_LANES {
            lane_of.insert(key, i);
            t.lanes.push(lane);
        } else {
            lane_of.insert(key, MAX_LANES);
        }
    }
    if total_lanes > MAX_LANES {
        t.lanes.push(Lane {
            label: format!("{} more lanes", total_lanes - MAX_LANES),
            depth: 0,
            anchor: None,
        });
    }
    // One wall-clock axis: each capture's boot-time stamps through its anchor.
    let wall = |ci: usize, ts: u64| session.captures[ci].manifest.boot_anchor.wall_ns(ts);
    let origin = points
        .iter()
        .map(|(ci, _, m)| wall(*ci, m.start_ns))
        .min()
        .unwrap_or(0);
    t.start_wall = wall_text(origin);
    t.events = points.len();
    let offset =
        |ci: usize, ts: u64| u64::try_from(wall(ci, ts).saturating_sub(origin)).unwrap_or(0);
    let mut marks: Vec<Mark> = points
        .into_iter()
        .map(|(ci, key, mut m)| {
            m.lane = lane_of[&(ci, key)];
            m.end_ns = offset(ci, m.end_ns.max(m.start_ns));
            m.start_ns = offset(ci, m.start_ns);
            m
        })
        .collect();
    t.start_ns = 0;
    t.end_ns = marks.iter().map(|m| m.end_ns).max().unwrap_or(0).max(1);
    let span = t.end_ns;
    if marks.len() > MAX_MARKS {
        // Too many to draw: bin the points per lane and kind; spans stay.
        t.aggregated = true;
        // Fewer bins per lane when there are many lanes: the drawing stays
        // within a few times MAX_MARKS whatever the capture.
        let bins_per_lane = (MAX_MARKS as u64 * 4 / t.lanes.len().max(1) as u64).clamp(20, BINS);
        let mut bins: BTreeMap<(usize, &'static str, u64), usize> = BTreeMap::new();
        let mut kept = Vec::new();
        for m in marks {
            if m.kind == "llm" {
                kept.push(m);
            } else {
                let b = (m.start_ns as u128 * bins_per_lane as u128 / (span as u128 + 1)) as u64;
                *bins.entry((m.lane, m.kind, b)).or_default() += 1;
            }
        }
        for ((lane, kind, b), count) in bins {
            let start = (b as u128 * span as u128 / bins_per_lane as u128) as u64;
            let end = ((b + 1) as u128 * span as u128 / bins_per_lane as u128) as u64;
            kept.push(Mark {
                lane,
                kind,
                start_ns: start,
                end_ns: end,
                label: format!("{count} events"),
                count,
                anchor: None,
            });
        }
        marks = kept;
    }
    t.marks = marks;
    t
}

/// Writes `report.html`, `report.md` and `evidence/` into `dir`, the
/// bundle signed with `key` when one is given.
pub fn write(
    report: &Report,
    session: &Session,
    dir: &Path,
    key: Option<&ed25519_dalek::SigningKey>,
) -> Result<bundle::BundleIndex> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join("report.html"), html::render(report))?;
    std::fs::write(dir.join("report.md"), markdown::render(report))?;
    let sources: Vec<bundle::BundleSource<'_>> = session
        .captures
        .iter()
        .map(|c| bundle::BundleSource {
            label: &c.label,
            dir: &c.dir,
            manifest: &c.manifest,
        })
        .collect();
    let findings = report
        .findings
        .iter()
        .map(|rf| {
            let f = &rf.finding;
            bundle::BundleFinding {
                id: rf.id.clone(),
                rule_id: f.rule_id.clone(),
                severity: f.severity.as_str().to_string(),
                capture: f.capture.clone(),
                ts_ns: f.ts_ns,
                summary: f.summary.clone(),
                evidence: f.evidence.clone(),
            }
        })
        .collect();
    bundle::write(
        &dir.join("evidence"),
        &report.title,
        &sources,
        &report.evidence,
        findings,
        key,
    )
}

/// Rows of one cited table that one finding cites (indices into the batch).
pub fn rows_cited_by<'a>(
    report: &'a Report,
    finding: &'a str,
) -> impl Iterator<Item = (&'a bundle::CitedTable, usize)> + 'a {
    report.evidence.iter().flat_map(move |t| {
        t.refs
            .iter()
            .enumerate()
            .filter(move |(_, r)| r.cited_by.iter().any(|b| b == finding))
            .map(move |(i, _)| (t, i))
    })
}
