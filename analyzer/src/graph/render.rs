//! The graph for people: the forward view from chosen roots (a terminal
//! tree, Graphviz DOT, Mermaid, JSON) and the backward chain of `explain`.
//!
//! Every label is captured text and so hostile: terminal output escapes
//! control and invisible formatting characters, DOT escapes its string
//! syntax, Mermaid gets entity codes for everything but plain characters.

use std::collections::HashSet;
use std::fmt::Write as _;

use serde_json::{json, Value};

use super::{CaptureGraph, EdgeKind, NodeKind};
use crate::reconstruct::Decoded;
use agentsight_decode::llm::Part;

/// Children of one kind shown before the rest are summarised.
const MAX_CHILDREN_PER_KIND: usize = 12;
/// Longest label shown on a terminal line.
const LABEL_CHARS: usize = 160;

/// What the forward view follows from its roots.
#[derive(Clone, Copy, Debug)]
pub struct Walk {
    pub depth: usize,
    /// Include `read` edges of processes (each process reads many files).
    pub reads: bool,
}

fn followed(g: &CaptureGraph, edge: usize, walk: Walk) -> bool {
    let e = &g.edges[edge];
    match e.kind {
        EdgeKind::Read => walk.reads || g.nodes[e.src].kind == NodeKind::ToolCall,
        _ => true,
    }
}

/// The part of the graph the forward view shows: (node, edge that reached
/// it, depth) in tree order, and the edges to nodes already shown.
pub struct Forward {
    pub lines: Vec<Line>,
}

pub struct Line {
    pub node: usize,
    pub via: Option<usize>,
    pub depth: usize,
    /// Already shown above: not expanded again.
    pub repeat: bool,
    /// "+N more KIND" summary in place of a node.
    pub more: Option<(usize, EdgeKind)>,
}

pub fn forward(g: &CaptureGraph, roots: &[usize], walk: Walk) -> Forward {
    let mut claimed: HashSet<usize> = roots.iter().copied().collect();
    let mut lines = Vec::new();
    for &r in roots {
        lines.push(Line {
            node: r,
            via: None,
            depth: 0,
            repeat: false,
            more: None,
        });
        expand(g, r, 1, walk, &mut claimed, &mut lines);
    }
    Forward { lines }
}

fn expand(
    g: &CaptureGraph,
    node: usize,
    depth: usize,
    walk: Walk,
    claimed: &mut HashSet<usize>,
    lines: &mut Vec<Line>,
) {
    if depth > walk.depth {
        return;
    }
    let mut edges: Vec<usize> = g
        .out_edges(node)
        .iter()
        .copied()
        .filter(|&e| followed(g, e, walk))
        .collect();
    edges.sort_by_key(|&e| (g.edges[e].kind, g.edges[e].ts_ns, g.edges[e].dst));
    // Claim every child first, so a node is expanded under the nearest
    // parent (a conversation's turns under it, not under the tool call
    // whose result fed the next turn).
    let mut mine = Vec::new();
    for &e in &edges {
        if claimed.insert(g.edges[e].dst) {
            mine.push(g.edges[e].dst);
        }
    }
    let mut shown_per_kind: std::collections::HashMap<EdgeKind, usize> = Default::default();
    let mut hidden_per_kind: std::collections::BTreeMap<EdgeKind, usize> = Default::default();
    let mut seen_dst = HashSet::new();
    for &e in &edges {
        let edge = &g.edges[e];
        if !seen_dst.insert((edge.dst, edge.kind)) {
            continue; // the same file opened many times: one line
        }
        let n = shown_per_kind.entry(edge.kind).or_default();
        if *n >= MAX_CHILDREN_PER_KIND {
            *hidden_per_kind.entry(edge.kind).or_default() += 1;
            continue;
        }
        *n += 1;
        let own = mine.contains(&edge.dst)
            && !lines.iter().any(|l: &Line| l.node == edge.dst && !l.repeat);
        lines.push(Line {
            node: edge.dst,
            via: Some(e),
            depth,
            repeat: !own,
            more: None,
        });
        if own {
            expand(g, edge.dst, depth + 1, walk, claimed, lines);
        }
    }
    for (kind, n) in hidden_per_kind {
        lines.push(Line {
            node,
            via: None,
            depth,
            repeat: true,
            more: Some((n, kind)),
        });
    }
}

/// Captured text made safe for one terminal line: control characters,
/// bidirectional overrides, zero-width and tag characters are escaped.
pub fn terminal_text(s: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        if c.is_control() || invisible(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// Formatting characters that change how text looks without showing.
pub fn invisible(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x061C | 0x180E | 0x200B..=0x200F | 0x2028..=0x202E | 0x2060..=0x206F
        | 0xFEFF | 0xFFF9..=0xFFFB | 0xE0000..=0xE007F)
}

fn edge_note(g: &CaptureGraph, e: usize) -> String {
    let e = &g.edges[e];
    if e.confidence >= 1.0 {
        e.kind.as_str().to_string()
    } else {
        format!("{} ({}, {:.2})", e.kind.as_str(), e.method, e.confidence)
    }
}

pub fn tree_text(g: &CaptureGraph, f: &Forward) -> String {
    let mut out = String::new();
    for l in &f.lines {
        let indent = "  ".repeat(l.depth);
        if let Some((n, kind)) = l.more {
            let _ = writeln!(out, "{indent}… {n} more {}", kind.as_str());
            continue;
        }
        let node = &g.nodes[l.node];
        let label = terminal_text(&node.label, LABEL_CHARS);
        let id = terminal_text(&node.id, LABEL_CHARS);
        let tail = if l.repeat { " (shown above)" } else { "" };
        match l.via {
            None => {
                let _ = writeln!(out, "{indent}{id}  {label}{tail}");
            }
            Some(e) => {
                let _ = writeln!(out, "{indent}└ {} → {id}  {label}{tail}", edge_note(g, e));
            }
        }
    }
    out
}

pub fn dot_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() || invisible(c) => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn shown(f: &Forward) -> (Vec<usize>, Vec<usize>) {
    let mut nodes = Vec::new();
    let mut seen = HashSet::new();
    let mut edges = Vec::new();
    for l in &f.lines {
        if l.more.is_some() {
            continue;
        }
        if seen.insert(l.node) {
            nodes.push(l.node);
        }
        if let Some(e) = l.via {
            edges.push(e);
        }
    }
    (nodes, edges)
}

pub fn dot(g: &CaptureGraph, f: &Forward) -> String {
    let (nodes, edges) = shown(f);
    let mut out = String::from(
        "digraph agentsight {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n",
    );
    for n in nodes {
        let node = &g.nodes[n];
        let shape = match node.kind {
            NodeKind::Conversation | NodeKind::LlmCall => "ellipse",
            NodeKind::ToolCall => "hexagon",
            NodeKind::Process => "box",
            NodeKind::File => "note",
            NodeKind::Endpoint => "diamond",
        };
        let label = format!(
            "{}\n{}",
            node.kind.as_str(),
            super::one_line(&node.label, 80)
        );
        let _ = writeln!(
            out,
            "  {} [label={}, shape={shape}];",
            dot_string(&node.id),
            dot_string(&label)
        );
    }
    for e in edges {
        let edge = &g.edges[e];
        let style = if edge.confidence < 1.0 {
            ", style=dashed"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  {} -> {} [label={}{style}];",
            dot_string(&g.nodes[edge.src].id),
            dot_string(&g.nodes[edge.dst].id),
            dot_string(&edge_note(g, e))
        );
    }
    out.push_str("}\n");
    out
}

/// Text for a Mermaid label: plain characters kept, everything else as a
/// numeric entity code, so captured text cannot close the label or inject
/// markup.
pub fn mermaid_text(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || " _.,:/()=+-@".contains(c) {
            out.push(c);
        } else if c.is_control() || invisible(c) {
            out.push(' ');
        } else {
            let _ = write!(out, "#{};", c as u32);
        }
    }
    out
}

pub fn mermaid(g: &CaptureGraph, f: &Forward) -> String {
    let (nodes, edges) = shown(f);
    let mut out = String::from("flowchart LR\n");
    for n in nodes {
        let node = &g.nodes[n];
        let label = mermaid_text(&format!(
            "{}: {}",
            node.kind.as_str(),
            super::one_line(&node.label, 80)
        ));
        let (open, close) = match node.kind {
            NodeKind::Conversation | NodeKind::LlmCall => ("([", "])"),
            NodeKind::ToolCall => ("{{", "}}"),
            NodeKind::Process => ("[", "]"),
            NodeKind::File => ("[/", "/]"),
            NodeKind::Endpoint => ("((", "))"),
        };
        let _ = writeln!(out, "  n{n}{open}\"{label}\"{close}");
    }
    for e in edges {
        let edge = &g.edges[e];
        let arrow = if edge.confidence < 1.0 { "-.->" } else { "-->" };
        let _ = writeln!(
            out,
            "  n{} {arrow}|\"{}\"| n{}",
            edge.src,
            mermaid_text(&edge_note(g, e)),
            edge.dst
        );
    }
    out
}

pub fn node_json(g: &CaptureGraph, n: usize) -> Value {
    let node = &g.nodes[n];
    json!({
        "id": &*node.id,
        "kind": node.kind.as_str(),
        "ts_ns": node.ts_ns,
        "label": node.label,
        "proc_key": node.proc_key,
        "pid": node.pid,
        "call_id": node.call_id,
        "conversation_id": node.conversation_id,
        "tool_call_id": node.tool_call_id,
        "name": node.name,
        "agent": node.agent,
    })
}

pub fn edge_json(g: &CaptureGraph, e: usize) -> Value {
    let edge = &g.edges[e];
    json!({
        "src": &*g.nodes[edge.src].id,
        "dst": &*g.nodes[edge.dst].id,
        "kind": edge.kind.as_str(),
        "method": edge.method,
        "confidence": edge.confidence,
        "ts_ns": edge.ts_ns,
        "proc_key": edge.proc_key,
        "detail": edge.detail,
    })
}

pub fn json_view(g: &CaptureGraph, f: &Forward) -> Value {
    let (nodes, edges) = shown(f);
    json!({
        "capture": &*g.capture,
        "nodes": nodes.iter().map(|&n| node_json(g, n)).collect::<Vec<_>>(),
        "edges": edges.iter().map(|&e| edge_json(g, e)).collect::<Vec<_>>(),
    })
}

/// One hop of a backward chain: the node reached and the edge that led to
/// it from the previous hop (None for the start).
#[derive(Debug)]
pub struct Hop {
    pub node: usize,
    pub via: Option<usize>,
    /// Text the hop carries: what the model said, the tool result, the prompt.
    pub text: Option<(&'static str, String)>,
}

/// Longest captured text quoted in a chain.
const QUOTE_CHARS: usize = 300;

/// Why `start` happened: effect → process → … → tool call → model turn →
/// the tool results and prompt that led the model there.
pub fn explain(g: &CaptureGraph, decoded: &Decoded, start: usize) -> (Vec<Hop>, Option<String>) {
    let mut hops = vec![Hop {
        node: start,
        via: None,
        text: None,
    }];
    let mut visited = HashSet::from([start]);
    let mut cur = start;
    let mut end = None;
    for _ in 0..256 {
        let node = &g.nodes[cur];
        let pick = |kinds: &[EdgeKind]| -> Option<usize> {
            g.in_edges(cur)
                .iter()
                .copied()
                .filter(|&e| kinds.contains(&g.edges[e].kind) && !visited.contains(&g.edges[e].src))
                .min_by(|&a, &b| {
                    let (ea, eb) = (&g.edges[a], &g.edges[b]);
                    eb.confidence
                        .total_cmp(&ea.confidence)
                        .then(ea.ts_ns.cmp(&eb.ts_ns))
                })
        };
        let next = match node.kind {
            NodeKind::File => pick(&[
                EdgeKind::Created,
                EdgeKind::Wrote,
                EdgeKind::Renamed,
                EdgeKind::Chmod,
                EdgeKind::Deleted,
                EdgeKind::Linked,
            ])
            .or_else(|| pick(&[EdgeKind::Executed, EdgeKind::Read])),
            NodeKind::Endpoint => pick(&[EdgeKind::Connected, EdgeKind::Accepted]),
            NodeKind::Process => match pick(&[EdgeKind::Ran]) {
                Some(e) => Some(e),
                None if node.agent == Some(true) => {
                    end = Some("the agent process itself (it made the LLM calls); no tool call explains this".to_string());
                    None
                }
                None => pick(&[EdgeKind::Spawned, EdgeKind::Exec]).or_else(|| {
                    end = Some("no parent in the capture: not started by an agent".to_string());
                    None
                }),
            },
            NodeKind::ToolCall => pick(&[EdgeKind::AskedFor]),
            NodeKind::LlmCall => {
                let call = node.call_id.and_then(|id| {
                    decoded
                        .calls
                        .iter()
                        .find(|c| c.capture == g.capture && c.call_id == id)
                });
                match call.and_then(|c| c.call.request_messages.last()) {
                    Some(m) if m.parts.iter().any(|p| matches!(p, Part::ToolResult { .. })) => {
                        let fed = pick(&[EdgeKind::FedBack]);
                        if fed.is_none() {
                            end = Some(format!(
                                "tool result: {}",
                                super::one_line(&m.text, QUOTE_CHARS)
                            ));
                        }
                        fed
                    }
                    Some(m) => {
                        end = Some(format!(
                            "prompt ({}): {}",
                            m.role,
                            super::one_line(&m.text, QUOTE_CHARS)
                        ));
                        None
                    }
                    None => None,
                }
            }
            NodeKind::Conversation => None,
        };
        let Some(e) = next else { break };
        let src = g.edges[e].src;
        visited.insert(src);
        let text = hop_text(g, decoded, src, e);
        hops.push(Hop {
            node: src,
            via: Some(e),
            text,
        });
        cur = src;
    }
    (hops, end)
}

fn hop_text(
    g: &CaptureGraph,
    decoded: &Decoded,
    node: usize,
    via: usize,
) -> Option<(&'static str, String)> {
    let n = &g.nodes[node];
    match (n.kind, g.edges[via].kind) {
        (NodeKind::LlmCall, _) => {
            let call = decoded
                .calls
                .iter()
                .find(|c| c.capture == g.capture && Some(c.call_id) == n.call_id)?;
            let said = &call.call.response_text;
            (!said.is_empty()).then(|| ("model said", super::one_line(said, QUOTE_CHARS)))
        }
        (NodeKind::ToolCall, EdgeKind::FedBack) => {
            let t = decoded.tools.iter().find(|t| {
                t.capture == g.capture
                    && Some(t.call_id) == n.call_id
                    && Some(&t.tool_call_id) == n.tool_call_id.as_ref()
            })?;
            t.result_text
                .as_ref()
                .map(|r| ("result", super::one_line(r, QUOTE_CHARS)))
        }
        _ => None,
    }
}

pub fn verb(kind: EdgeKind) -> &'static str {
    match kind {
        EdgeKind::Created => "created by",
        EdgeKind::Wrote => "written by",
        EdgeKind::Renamed => "renamed into place by",
        EdgeKind::Chmod => "chmod by",
        EdgeKind::Deleted => "deleted by",
        EdgeKind::Linked => "linked by",
        EdgeKind::Executed => "executed by",
        EdgeKind::Read => "read by",
        EdgeKind::Connected => "connected to by",
        EdgeKind::Accepted => "accepted by",
        EdgeKind::Ran => "ran by",
        EdgeKind::Spawned => "spawned by",
        EdgeKind::Exec => "exec'd by",
        EdgeKind::AskedFor => "asked for by",
        EdgeKind::FedBack => "result of",
        EdgeKind::Called => "called by",
        EdgeKind::Turn => "turn of",
    }
}

pub fn explain_text(
    g: &CaptureGraph,
    hops: &[Hop],
    end: Option<&str>,
    wall: &dyn Fn(u64) -> String,
) -> String {
    let mut out = String::new();
    for h in hops {
        let node = &g.nodes[h.node];
        let what = format!(
            "{}  {}",
            terminal_text(&node.id, LABEL_CHARS),
            terminal_text(&node.label, LABEL_CHARS)
        );
        match h.via {
            None => {
                let _ = writeln!(out, "why {what}");
            }
            Some(e) => {
                let edge = &g.edges[e];
                let _ = writeln!(
                    out,
                    "  ← {} {what}\n      {} at {}, {} (confidence {:.2})",
                    verb(edge.kind),
                    edge.kind.as_str(),
                    wall(edge.ts_ns),
                    edge.method,
                    edge.confidence
                );
            }
        }
        if let Some((label, text)) = &h.text {
            let _ = writeln!(out, "      {label}: {}", terminal_text(text, QUOTE_CHARS));
        }
    }
    if let Some(end) = end {
        let _ = writeln!(out, "  = {}", terminal_text(end, QUOTE_CHARS + 40));
    }
    out
}

pub fn explain_json(g: &CaptureGraph, hops: &[Hop], end: Option<&str>) -> Value {
    json!({
        "capture": &*g.capture,
        "hops": hops.iter().map(|h| json!({
            "node": node_json(g, h.node),
            "via": h.via.map(|e| edge_json(g, e)),
            "text": h.text.as_ref().map(|(k, t)| json!({"kind": k, "text": t})),
        })).collect::<Vec<_>>(),
        "end": end,
    })
}
