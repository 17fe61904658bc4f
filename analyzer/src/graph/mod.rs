//! The causal graph: from each LLM turn to the tool calls it asked for, the
//! processes that ran them and what those touched, plus everything the
//! agents' process trees did that no tool call explains.
//!
//! Observed facts (a fork, an open, a tool result naming its tool call) are
//! edges of confidence 1. Which tool call ran which process is inference,
//! made in [`attribute`] from three signals and said on every `ran` edge:
//! the window (between the request that asked for the tool and the request
//! that carried its result), ancestry (a child of the agent process) and
//! content (the tool's command in an exec's argv, its paths in file events).

mod attribute;
pub mod input;
pub mod render;
pub mod tables;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;

use crate::reconstruct::Decoded;
use agentsight_capture::schema::split_proc_key;
use input::{CaptureRows, ProcKind};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NodeKind {
    Conversation,
    LlmCall,
    ToolCall,
    Process,
    File,
    Endpoint,
}

impl NodeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Conversation => "conversation",
            NodeKind::LlmCall => "llm_call",
            NodeKind::ToolCall => "tool_call",
            NodeKind::Process => "process",
            NodeKind::File => "file",
            NodeKind::Endpoint => "endpoint",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EdgeKind {
    Turn,
    AskedFor,
    FedBack,
    Called,
    Ran,
    Spawned,
    Exec,
    Executed,
    Read,
    Wrote,
    Created,
    Renamed,
    Deleted,
    Chmod,
    Linked,
    Connected,
    Accepted,
}

impl EdgeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::Turn => "turn",
            EdgeKind::AskedFor => "asked_for",
            EdgeKind::FedBack => "fed_back",
            EdgeKind::Called => "called",
            EdgeKind::Ran => "ran",
            EdgeKind::Spawned => "spawned",
            EdgeKind::Exec => "exec",
            EdgeKind::Executed => "executed",
            EdgeKind::Read => "read",
            EdgeKind::Wrote => "wrote",
            EdgeKind::Created => "created",
            EdgeKind::Renamed => "renamed",
            EdgeKind::Deleted => "deleted",
            EdgeKind::Chmod => "chmod",
            EdgeKind::Linked => "linked",
            EdgeKind::Connected => "connected",
            EdgeKind::Accepted => "accepted",
        }
    }

    /// Changes a file's content, name, existence or mode.
    pub fn mutates_file(self) -> bool {
        matches!(
            self,
            EdgeKind::Wrote
                | EdgeKind::Created
                | EdgeKind::Renamed
                | EdgeKind::Deleted
                | EdgeKind::Chmod
                | EdgeKind::Linked
        )
    }

    pub fn touches_file(self) -> bool {
        self.mutates_file() || matches!(self, EdgeKind::Read | EdgeKind::Executed)
    }
}

#[derive(Clone, Debug)]
pub struct Node {
    pub id: Arc<str>,
    pub kind: NodeKind,
    pub ts_ns: u64,
    pub label: String,
    pub proc_key: Option<u64>,
    pub pid: Option<i32>,
    pub call_id: Option<u64>,
    pub conversation_id: Option<u64>,
    pub tool_call_id: Option<String>,
    pub name: Option<String>,
    pub agent: Option<bool>,
    /// Process nodes: the nearest agent among the process and its
    /// ancestors, i.e. whose tree the process is in.
    pub agent_key: Option<u64>,
}

impl Node {
    fn new(id: Arc<str>, kind: NodeKind, ts_ns: u64, label: String) -> Node {
        Node {
            id,
            kind,
            ts_ns,
            label,
            proc_key: None,
            pid: None,
            call_id: None,
            conversation_id: None,
            tool_call_id: None,
            name: None,
            agent: None,
            agent_key: None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Edge {
    pub ts_ns: u64,
    pub kind: EdgeKind,
    pub src: usize,
    pub dst: usize,
    pub method: &'static str,
    pub confidence: f64,
    pub proc_key: Option<u64>,
    pub detail: Option<String>,
}

/// One row of `tool_effects`.
#[derive(Clone, Debug)]
pub struct ToolEffect {
    pub ts_ns: u64,
    pub node: usize,
    pub call_id: u64,
    pub conversation_id: u64,
    pub tool_call_id: String,
    pub name: String,
    pub command: Option<String>,
    pub window_end_ns: Option<u64>,
    pub agent_key: Option<u64>,
    pub method: Option<&'static str>,
    pub confidence: Option<f64>,
    pub process_keys: Vec<u64>,
    pub execs: Vec<String>,
    pub files_written: Vec<String>,
    pub files_read: u32,
    pub endpoints: Vec<String>,
    pub exit_code: Option<i32>,
    pub failed_processes: u32,
}

/// One row of `unattributed`.
#[derive(Clone, Debug)]
pub struct Unattributed {
    pub ts_ns: u64,
    pub agent_key: u64,
    pub proc_key: u64,
    pub pid: i32,
    pub comm: String,
    pub activity: &'static str,
    pub node: usize,
    pub reason: &'static str,
    pub detail: Option<String>,
    pub confidence: Option<f64>,
}

/// The graph of one capture.
pub struct CaptureGraph {
    pub capture: Arc<str>,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    pub effects: Vec<ToolEffect>,
    pub unattributed: Vec<Unattributed>,
    index: HashMap<Arc<str>, usize>,
    out_edges: Vec<Vec<usize>>,
    in_edges: Vec<Vec<usize>>,
}

impl CaptureGraph {
    pub fn node_index(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    pub fn out_edges(&self, node: usize) -> &[usize] {
        &self.out_edges[node]
    }

    pub fn in_edges(&self, node: usize) -> &[usize] {
        &self.in_edges[node]
    }
}

/// The graphs of every capture of a session.
#[derive(Default)]
pub struct Graph {
    pub captures: Vec<CaptureGraph>,
}

/// A process assembled from its lifecycle rows.
pub(crate) struct Proc {
    pub key: u64,
    pub pid: i32,
    pub parent: Option<u64>,
    /// How the parent is known: `fork`, `snapshot` or `exec_parent`.
    pub parent_method: &'static str,
    pub start_ns: u64,
    pub comm: String,
    pub images: Vec<Image>,
    pub exit_code: Option<i32>,
    pub exit_signal: Option<i32>,
    pub exited: bool,
}

pub(crate) struct Image {
    pub ts: u64,
    /// The executed file, resolved against the exec's cwd when relative.
    pub filename: Option<String>,
    pub argv: Vec<String>,
    pub cwd: Option<String>,
}

impl Proc {
    fn label(&self) -> String {
        match self.images.last() {
            Some(img) if !img.argv.is_empty() => {
                format!("{} [{}]", img.argv.join(" "), self.pid)
            }
            Some(Image {
                filename: Some(f), ..
            }) => format!("{f} [{}]", self.pid),
            _ => format!("{} [{}]", self.comm, self.pid),
        }
    }

    fn program(&self) -> Option<&str> {
        self.images.last().and_then(|i| i.filename.as_deref())
    }
}

const AT_FDCWD: i32 = -100;

/// `path` made absolute against `cwd` and normalised lexically (`.`, `..`,
/// repeated `/`). None when it cannot be: relative to a directory fd, or no
/// absolute cwd known.
pub fn resolve_path(cwd: Option<&str>, path: &str, dfd: i32) -> Option<String> {
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        let cwd = cwd.filter(|c| c.starts_with('/'))?;
        if dfd != AT_FDCWD {
            return None;
        }
        format!("{cwd}/{path}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for p in joined.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

/// Process nodes' lifecycle, by key.
pub(crate) fn assemble_processes(rows: &CaptureRows) -> HashMap<u64, Proc> {
    let mut procs: HashMap<u64, Proc> = HashMap::new();
    // (fork parent, snapshot parent, max exec parent)
    let mut parents: HashMap<u64, [Option<u64>; 3]> = HashMap::new();
    let mut events: Vec<&input::ProcEvent> = rows.procs.iter().collect();
    events.sort_by_key(|e| (e.ts, e.key));
    for e in events {
        let p = procs.entry(e.key).or_insert_with(|| Proc {
            key: e.key,
            pid: e.pid,
            parent: None,
            parent_method: "fork",
            start_ns: split_proc_key(e.key).1,
            comm: e.comm.clone(),
            images: Vec::new(),
            exit_code: None,
            exit_signal: None,
            exited: false,
        });
        let slot = parents.entry(e.key).or_default();
        match e.kind {
            ProcKind::Fork => {
                p.start_ns = e.ts;
                slot[0] = slot[0].or(e.parent_key);
            }
            ProcKind::Snapshot | ProcKind::Exec => {
                if e.kind == ProcKind::Snapshot {
                    slot[1] = slot[1].or(e.parent_key);
                } else {
                    slot[2] = slot[2].max(e.parent_key);
                }
                let filename = e.filename.as_ref().map(|f| {
                    resolve_path(e.cwd.as_deref(), f, AT_FDCWD).unwrap_or_else(|| f.clone())
                });
                p.images.push(Image {
                    ts: e.ts,
                    filename,
                    argv: e.argv.clone(),
                    cwd: e.cwd.clone(),
                });
                p.comm = e.comm.clone();
            }
            ProcKind::Exit => {
                p.exited = true;
                p.exit_code = e.exit_code;
                p.exit_signal = e.exit_signal;
            }
        }
    }
    for (key, [fork, snap, exec]) in parents {
        if let Some(p) = procs.get_mut(&key) {
            (p.parent, p.parent_method) = match (fork, snap, exec) {
                (Some(f), _, _) => (Some(f), "fork"),
                (None, Some(s), _) => (Some(s), "snapshot"),
                (None, None, e) => (e, "exec_parent"),
            };
            // A key is its own parent only in a corrupt capture.
            if p.parent == Some(key) {
                p.parent = None;
            }
        }
    }
    procs
}

/// Working directory of `key` at `ts`: its last exec's, else its parent's
/// when it was forked (a fork inherits the directory). Best effort: a
/// `chdir` after exec is not captured.
pub(crate) fn cwd_at<'a>(procs: &'a HashMap<u64, Proc>, key: u64, ts: u64) -> Option<&'a str> {
    let (mut key, mut ts) = (key, ts);
    for _ in 0..64 {
        let p = procs.get(&key)?;
        if let Some(img) = p
            .images
            .iter()
            .rev()
            .find(|i| i.ts <= ts && i.cwd.is_some())
        {
            return img.cwd.as_deref();
        }
        ts = p.start_ns;
        key = p.parent?;
    }
    None
}

pub(crate) struct Builder {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    index: HashMap<Arc<str>, usize>,
}

impl Builder {
    fn new() -> Self {
        Builder {
            nodes: Vec::new(),
            edges: Vec::new(),
            index: HashMap::new(),
        }
    }

    /// The node with this id, created by `make` the first time; its time
    /// is the earliest seen.
    pub fn node(&mut self, id: &str, ts: u64, make: impl FnOnce(Arc<str>) -> Node) -> usize {
        if let Some(&i) = self.index.get(id) {
            let n = &mut self.nodes[i];
            n.ts_ns = n.ts_ns.min(ts);
            return i;
        }
        let id: Arc<str> = Arc::from(id);
        let i = self.nodes.len();
        self.nodes.push(make(id.clone()));
        self.index.insert(id, i);
        i
    }

    pub fn find(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    #[allow(clippy::too_many_arguments)]
    pub fn edge(
        &mut self,
        ts_ns: u64,
        kind: EdgeKind,
        src: usize,
        dst: usize,
        method: &'static str,
        confidence: f64,
        proc_key: Option<u64>,
        detail: Option<String>,
    ) -> usize {
        self.edges.push(Edge {
            ts_ns,
            kind,
            src,
            dst,
            method,
            confidence,
            proc_key,
            detail,
        });
        self.edges.len() - 1
    }

    pub fn file_node(&mut self, path: &str, ts: u64) -> usize {
        self.node(&format!("file:{path}"), ts, |id| {
            let mut n = Node::new(id, NodeKind::File, ts, path.to_string());
            n.name = Some(path.to_string());
            n
        })
    }
}

pub fn process_id(key: u64) -> String {
    format!("process:{key}")
}

pub fn endpoint_id(addr: &str, port: u16) -> String {
    if addr.contains(':') {
        format!("endpoint:[{addr}]:{port}")
    } else {
        format!("endpoint:{addr}:{port}")
    }
}

pub fn tool_call_node_id(call_id: u64, tool_index: u32) -> String {
    format!("tool_call:{call_id}.{tool_index}")
}

/// Builds the graph of every capture in the session's rows.
pub fn build(mut rows: HashMap<Arc<str>, CaptureRows>, decoded: &Decoded, machine: &str) -> Graph {
    let mut labels: Vec<Arc<str>> = rows.keys().cloned().collect();
    for c in &decoded.calls {
        if !labels.contains(&c.capture) {
            labels.push(c.capture.clone());
        }
    }
    labels.sort();
    let captures = labels
        .into_iter()
        .map(|label| {
            let r = rows.remove(&label).unwrap_or_default();
            build_capture(label, &r, decoded, machine)
        })
        .collect();
    Graph { captures }
}

fn build_capture(
    capture: Arc<str>,
    rows: &CaptureRows,
    decoded: &Decoded,
    machine: &str,
) -> CaptureGraph {
    let procs = assemble_processes(rows);
    let mut b = Builder::new();
    let mut order: Vec<&Proc> = procs.values().collect();
    order.sort_by_key(|p| (p.start_ns, p.key));
    let agents: std::collections::HashSet<u64> = decoded
        .calls
        .iter()
        .filter(|c| c.capture == capture)
        .map(|c| c.proc_key)
        .collect();

    // Processes, then their parent edges (a parent may start later in key
    // order when it was running before recording).
    for p in &order {
        b.node(&process_id(p.key), p.start_ns, |id| {
            let mut n = Node::new(id, NodeKind::Process, p.start_ns, p.label());
            n.proc_key = Some(p.key);
            n.pid = Some(p.pid);
            n.name = p
                .program()
                .map(str::to_string)
                .or_else(|| Some(p.comm.clone()));
            n.agent = Some(agents.contains(&p.key));
            n
        });
    }
    for p in &order {
        let Some(parent) = p.parent else { continue };
        let src = process_node(&mut b, &procs, parent, p.start_ns, &agents);
        let dst = b.find(&process_id(p.key)).expect("process node made above");
        let (kind, method) = match p.parent_method {
            "exec_parent" => (EdgeKind::Exec, "exec_parent"),
            m => (EdgeKind::Spawned, m),
        };
        let detail = p.images.first().map(|i| i.argv.join(" "));
        b.edge(
            p.start_ns,
            kind,
            src,
            dst,
            method,
            1.0,
            Some(parent),
            detail,
        );
    }
    for p in &order {
        let src = b.find(&process_id(p.key)).expect("process node made above");
        for img in &p.images {
            let Some(f) = &img.filename else { continue };
            let dst = b.file_node(f, img.ts);
            b.edge(
                img.ts,
                EdgeKind::Executed,
                src,
                dst,
                "execve",
                1.0,
                Some(p.key),
                Some(img.argv.join(" ")),
            );
        }
    }

    file_edges(&mut b, rows, &procs, &agents, machine);
    let names = endpoint_names(decoded, &capture);
    net_edges(&mut b, rows, &procs, &agents, &names);
    llm_nodes(&mut b, decoded, &capture, &procs, &agents);
    let attributed = attribute::attribute(&mut b, &capture, decoded, &procs);
    for n in b.nodes.iter_mut().filter(|n| n.kind == NodeKind::Process) {
        n.agent_key = n.proc_key.and_then(|k| agent_of(&procs, &agents, k));
    }

    let n = b.nodes.len();
    let mut out_edges = vec![Vec::new(); n];
    let mut in_edges = vec![Vec::new(); n];
    for (i, e) in b.edges.iter().enumerate() {
        out_edges[e.src].push(i);
        in_edges[e.dst].push(i);
    }
    CaptureGraph {
        capture,
        nodes: b.nodes,
        edges: b.edges,
        effects: attributed.effects,
        unattributed: attributed.unattributed,
        index: b.index,
        out_edges,
        in_edges,
    }
}

/// The nearest agent among `key` and its ancestors (parent links are capped
/// so a corrupt capture with a cycle still ends).
fn agent_of(
    procs: &HashMap<u64, Proc>,
    agents: &std::collections::HashSet<u64>,
    mut key: u64,
) -> Option<u64> {
    for _ in 0..=64 {
        if agents.contains(&key) {
            return Some(key);
        }
        key = procs.get(&key)?.parent?;
    }
    None
}

/// The node of a process that may have no lifecycle rows (seen only in
/// file or network events, or named as a parent).
fn process_node(
    b: &mut Builder,
    procs: &HashMap<u64, Proc>,
    key: u64,
    ts: u64,
    agents: &std::collections::HashSet<u64>,
) -> usize {
    b.node(&process_id(key), ts, |id| {
        let (pid, start) = split_proc_key(key);
        let label = match procs.get(&key) {
            Some(p) => p.label(),
            None => format!("pid {pid} (no process rows)"),
        };
        let mut n = Node::new(id, NodeKind::Process, start.min(ts), label);
        n.proc_key = Some(key);
        n.pid = Some(pid as i32);
        n.agent = Some(agents.contains(&key));
        n
    })
}

const O_ACCMODE: u32 = 3;
const O_CREAT: u32 = 0o100;

fn file_edges(
    b: &mut Builder,
    rows: &CaptureRows,
    procs: &HashMap<u64, Proc>,
    agents: &std::collections::HashSet<u64>,
    machine: &str,
) {
    for f in &rows.files {
        let src = process_node(b, procs, f.key, f.ts, agents);
        let resolve = |p: &str| {
            let cwd = if p.starts_with('/') {
                None
            } else {
                cwd_at(procs, f.key, f.ts)
            };
            resolve_path(cwd, p, f.dfd)
        };
        let raw_note = |raw: &str, resolved: &Option<String>| match resolved {
            Some(r) if r != raw => Some(format!("path as passed: {raw}")),
            _ => None,
        };
        let (kind, target, detail) = match f.op.as_str() {
            "open" => {
                let kind = if f.flags & O_CREAT != 0 {
                    EdgeKind::Created
                } else if f.flags & O_ACCMODE != 0 {
                    EdgeKind::Wrote
                } else {
                    EdgeKind::Read
                };
                let r = resolve(&f.path);
                let mut detail = crate::udf::open_flags_on(f.flags, machine);
                if let Some(note) = raw_note(&f.path, &r) {
                    detail = format!("{detail}; {note}");
                }
                // The node stays the path as passed (what execs and rules
                // name); the kernel's view, when it differs (a symlink, or
                // a buffer rewritten during the syscall), is kept beside it,
                // and stands in when the passed path does not resolve.
                let kernel = f.resolved.as_ref().filter(|k| k.starts_with('/'));
                if let (Some(passed), Some(k)) = (&r, kernel) {
                    if passed != k {
                        detail = format!("{detail}; kernel opened {k}");
                    }
                }
                let target = r
                    .or_else(|| kernel.cloned())
                    .unwrap_or_else(|| f.path.clone());
                (kind, target, Some(detail))
            }
            "rename" => {
                let Some(to) = &f.path2 else { continue };
                let r = resolve(to);
                let from = resolve(&f.path).unwrap_or_else(|| f.path.clone());
                (
                    EdgeKind::Renamed,
                    r.unwrap_or_else(|| to.clone()),
                    Some(format!("from {from}")),
                )
            }
            "unlink" => {
                let r = resolve(&f.path);
                let d = raw_note(&f.path, &r);
                (EdgeKind::Deleted, r.unwrap_or_else(|| f.path.clone()), d)
            }
            "chmod" => {
                let r = resolve(&f.path);
                let mut d = format!("mode {:04o}", f.mode & 0o7777);
                if let Some(note) = raw_note(&f.path, &r) {
                    d = format!("{d}; {note}");
                }
                (
                    EdgeKind::Chmod,
                    r.unwrap_or_else(|| f.path.clone()),
                    Some(d),
                )
            }
            "link" => {
                let Some(to) = &f.path2 else { continue };
                let from = resolve(&f.path).unwrap_or_else(|| f.path.clone());
                (
                    EdgeKind::Linked,
                    resolve(to).unwrap_or_else(|| to.clone()),
                    Some(format!("hard link to {from}")),
                )
            }
            "symlink" => {
                let target = f.path2.clone().unwrap_or_default();
                (
                    EdgeKind::Linked,
                    resolve(&f.path).unwrap_or_else(|| f.path.clone()),
                    Some(format!("symlink to {target}")),
                )
            }
            "memfd" => (
                EdgeKind::Created,
                format!("memfd:{}", f.path),
                Some("memfd_create".into()),
            ),
            _ => continue,
        };
        let dst = b.file_node(&target, f.ts);
        let method = if f.op == "open" {
            "open_flags"
        } else {
            "syscall"
        };
        b.edge(f.ts, kind, src, dst, method, 1.0, Some(f.key), detail);
    }
}

/// Host names of endpoints, from the TLS SNI or HTTP Host of exchanges
/// that went to them.
pub(crate) fn endpoint_names(
    decoded: &Decoded,
    capture: &Arc<str>,
) -> HashMap<(String, u16), String> {
    let mut names = HashMap::new();
    for h in decoded.http.iter().filter(|h| &h.conn.capture == capture) {
        let (Some(addr), Some(port)) = (&h.conn.tuple.remote_addr, h.conn.tuple.remote_port) else {
            continue;
        };
        let name = h
            .conn
            .sni
            .clone()
            .or_else(|| h.host.as_ref().map(|host| strip_port(host).to_string()));
        if let Some(name) = name.filter(|n| !n.is_empty()) {
            names.entry((addr.clone(), port)).or_insert(name);
        }
    }
    names
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

fn net_edges(
    b: &mut Builder,
    rows: &CaptureRows,
    procs: &HashMap<u64, Proc>,
    agents: &std::collections::HashSet<u64>,
    names: &HashMap<(String, u16), String>,
) {
    for n in &rows.nets {
        let src = process_node(b, procs, n.key, n.ts, agents);
        let (id, label, name) = match (&n.remote_addr, n.remote_port, &n.unix_path) {
            (Some(addr), Some(port), _) => {
                let name = names.get(&(addr.clone(), port)).cloned();
                let label = match &name {
                    Some(h) => format!("{addr}:{port} ({h})"),
                    None => format!("{addr}:{port}"),
                };
                (endpoint_id(addr, port), label, name)
            }
            (_, _, Some(path)) => (
                format!("endpoint:unix:{path}"),
                format!("unix:{path}"),
                None,
            ),
            _ => continue,
        };
        let dst = b.node(&id, n.ts, |nid| {
            let mut node = Node::new(nid, NodeKind::Endpoint, n.ts, label);
            node.name = name;
            node
        });
        let kind = if n.accept {
            EdgeKind::Accepted
        } else {
            EdgeKind::Connected
        };
        let detail = n.local_port.map(|p| format!("{} local port {p}", n.family));
        b.edge(n.ts, kind, src, dst, "syscall", 1.0, Some(n.key), detail);
    }
}

/// Conversations, LLM calls and tool calls, with the edges the decoded
/// tables state as facts.
fn llm_nodes(
    b: &mut Builder,
    decoded: &Decoded,
    capture: &Arc<str>,
    procs: &HashMap<u64, Proc>,
    agents: &std::collections::HashSet<u64>,
) {
    for conv in decoded
        .conversations
        .iter()
        .filter(|c| &c.capture == capture)
    {
        b.node(
            &format!("conversation:{}", conv.conversation_id),
            conv.ts_ns,
            |id| {
                let text = conv.first_user_text.as_deref().unwrap_or("");
                let mut n = Node::new(
                    id,
                    NodeKind::Conversation,
                    conv.ts_ns,
                    format!(
                        "conversation {} ({}): {}",
                        conv.conversation_id,
                        conv.provider.as_str(),
                        one_line(text, 80)
                    ),
                );
                n.proc_key = Some(conv.proc_key);
                n.pid = Some(conv.pid);
                n.conversation_id = Some(conv.conversation_id);
                n.name = conv.model.clone();
                n
            },
        );
    }
    for call in decoded.calls.iter().filter(|c| &c.capture == capture) {
        let node = b.node(&format!("llm_call:{}", call.call_id), call.ts_ns, |id| {
            let summary = call.request_summary().unwrap_or_default();
            let mut n = Node::new(
                id,
                NodeKind::LlmCall,
                call.ts_ns,
                format!(
                    "{} {}: {}",
                    call.call.model.as_deref().unwrap_or("?"),
                    call.call.provider.as_str(),
                    one_line(&summary, 80)
                ),
            );
            n.proc_key = Some(call.proc_key);
            n.pid = Some(call.pid);
            n.call_id = Some(call.call_id);
            n.conversation_id = Some(call.conversation_id);
            n.name = call.call.model.clone();
            n
        });
        if let Some(conv) = b.find(&format!("conversation:{}", call.conversation_id)) {
            b.edge(
                call.ts_ns,
                EdgeKind::Turn,
                conv,
                node,
                "conversation",
                1.0,
                None,
                Some(format!("turn {}", call.turn)),
            );
        }
        let agent = process_node(b, procs, call.proc_key, call.ts_ns, agents);
        let detail = call.host.clone();
        b.edge(
            call.ts_ns,
            EdgeKind::Called,
            agent,
            node,
            "tls",
            1.0,
            Some(call.proc_key),
            detail,
        );
    }
    for t in decoded.tools.iter().filter(|t| &t.capture == capture) {
        let call = b.find(&format!("llm_call:{}", t.call_id));
        let node = b.node(&tool_call_node_id(t.call_id, t.tool_index), t.ts_ns, |id| {
            let args = attribute::ToolArgs::parse(&t.arguments_json);
            let what = args
                .commands
                .first()
                .cloned()
                .unwrap_or_else(|| t.arguments_json.clone());
            let mut n = Node::new(
                id,
                NodeKind::ToolCall,
                t.ts_ns,
                format!("{}: {}", t.name, one_line(&what, 100)),
            );
            n.call_id = Some(t.call_id);
            n.conversation_id = Some(t.conversation_id);
            n.tool_call_id = Some(t.tool_call_id.clone());
            n.name = Some(t.name.clone());
            n
        });
        if let Some(call) = call {
            b.edge(
                t.ts_ns,
                EdgeKind::AskedFor,
                call,
                node,
                "response",
                1.0,
                None,
                None,
            );
        }
        if let Some(result_call) = t
            .result_call_id
            .and_then(|c| b.find(&format!("llm_call:{c}")))
        {
            let detail = t.result_text.as_deref().map(|r| one_line(r, 120));
            b.edge(
                t.result_ns.unwrap_or(t.ts_ns),
                EdgeKind::FedBack,
                node,
                result_call,
                "tool_result_id",
                1.0,
                None,
                detail,
            );
        }
    }
}

/// Text on one line: control characters as spaces, cut to `max` characters.
pub fn one_line(s: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out
}
