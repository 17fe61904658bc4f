//! Which tool call ran which process, and what the agents did that no tool
//! call explains.
//!
//! For each agent (a process that made LLM calls) and each tool call it was
//! asked for, the tool's window runs from the request start of the asking
//! call (a streamed response lets an agent start the tool before the
//! response ends) to the request start of the call that carried the result.
//! A process of the agent's tree is a *root* when its parent is the agent,
//! or a helper of the agent that started outside every window (a
//! persistent shell); other processes belong to their root. Each root that
//! starts inside windows is scored against their tool calls:
//!
//! | method | confidence | signal |
//! |---|---|---|
//! | `argv_exact` | 0.95 | an argv element of the root's tree equals the tool's command (`bash -c CMD`), or the whole argv does |
//! | `argv_contains` | 0.9 | an argv element contains the command (a wrapper such as `bash -c -l "… eval 'CMD' …"`) |
//! | `path_match` | 0.7 | a file the tree wrote or executed is a path in the tool's arguments |
//! | `window_ancestry` | 0.6 | only the window and a parent that is the agent; 0.5 when the tool has a command that no argv shows |
//! | `window_ambiguous` | 0.6 / n | as above, with n tool calls whose windows hold the start |
//! | `window_indirect` | 0.4 | the window, under a helper rather than the agent itself |
//! | `window_only` | 0.3 | the tool's command matched another root: this one is probably not the tool's |
//!
//! Roots below 0.5 are also listed in `unattributed` (`weak_attribution`).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use serde_json::Value;

use super::{process_id, tool_call_node_id, Builder, EdgeKind, Proc, ToolEffect, Unattributed};
use crate::reconstruct::Decoded;

/// Strings of a tool call's arguments that the signals compare.
#[derive(Debug, Default, PartialEq)]
pub struct ToolArgs {
    /// Shell commands or scripts (`command`, `cmd`, `script`, …).
    pub commands: Vec<String>,
    /// Values that look like paths, or sit under a key naming a path/file.
    pub paths: Vec<String>,
    /// URLs, hosts and `host:port` values.
    pub hosts: Vec<String>,
}

const COMMAND_KEYS: &[&str] = &[
    "command",
    "cmd",
    "script",
    "code",
    "shell_command",
    "commandline",
    "bash",
];

impl ToolArgs {
    pub fn parse(arguments_json: &str) -> ToolArgs {
        let mut out = ToolArgs::default();
        if let Ok(v) = serde_json::from_str::<Value>(arguments_json) {
            out.walk(None, &v, 0);
        }
        out
    }

    fn walk(&mut self, key: Option<&str>, v: &Value, depth: usize) {
        if depth > 16 {
            return;
        }
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    self.walk(Some(k), v, depth + 1);
                }
            }
            Value::Array(a) => {
                // `["bash", "-c", "ls"]`: an argv given as a list.
                if key.is_some_and(is_command_key)
                    && a.iter().all(Value::is_string)
                    && !a.is_empty()
                {
                    let joined: Vec<&str> = a.iter().filter_map(Value::as_str).collect();
                    self.commands.push(joined.join(" "));
                    if let Some(last) = joined.last() {
                        self.commands.push(last.to_string());
                    }
                    return;
                }
                for v in a {
                    self.walk(key, v, depth + 1);
                }
            }
            Value::String(s) => self.string(key, s),
            _ => {}
        }
    }

    fn string(&mut self, key: Option<&str>, s: &str) {
        let s = s.trim();
        if s.is_empty() {
            return;
        }
        let key = key.map(str::to_ascii_lowercase);
        let key = key.as_deref().unwrap_or("");
        if is_command_key(key) {
            self.commands.push(s.to_string());
        }
        if let Some(host) = url_host(s) {
            self.hosts.push(host);
        } else if key.contains("host") || key == "domain" {
            self.hosts.push(s.to_string());
        }
        let pathish =
            key.contains("path") || key.contains("file") || key == "dir" || key == "directory";
        if !s.contains('\n')
            && (pathish || s.starts_with('/') || s.starts_with("./") || s.starts_with("~/"))
        {
            self.paths.push(s.to_string());
        }
    }
}

fn is_command_key(k: &str) -> bool {
    COMMAND_KEYS.contains(&k.to_ascii_lowercase().as_str())
}

/// Host of an `http(s)://` URL.
fn url_host(s: &str) -> Option<String> {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?;
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => host.split(':').next()?,
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

struct Window {
    tool: usize,
    tool_row: usize,
    start: u64,
    end: u64,
    args: ToolArgs,
    /// The tool's paths resolved against the agent's working directory.
    abs_paths: Vec<String>,
}

pub(crate) struct Attributed {
    pub effects: Vec<ToolEffect>,
    pub unattributed: Vec<Unattributed>,
}

#[derive(Clone, Copy)]
struct Claim {
    window: usize,
    method: &'static str,
    confidence: f64,
}

pub(crate) fn attribute(
    b: &mut Builder,
    capture: &Arc<str>,
    decoded: &Decoded,
    procs: &HashMap<u64, Proc>,
) -> Attributed {
    let mut children: HashMap<u64, Vec<u64>> = HashMap::new();
    let mut by_start: Vec<&Proc> = procs.values().collect();
    by_start.sort_by_key(|p| (p.start_ns, p.key));
    for p in &by_start {
        if let Some(parent) = p.parent {
            children.entry(parent).or_default().push(p.key);
        }
    }
    let calls: Vec<_> = decoded
        .calls
        .iter()
        .filter(|c| &c.capture == capture)
        .collect();
    let call_by_id: HashMap<u64, usize> = calls
        .iter()
        .enumerate()
        .map(|(i, c)| (c.call_id, i))
        .collect();
    let mut agents: Vec<u64> = calls.iter().map(|c| c.proc_key).collect();
    agents.sort();
    agents.dedup();

    let mut effects = Vec::new();
    let mut unattributed = Vec::new();
    // Every tool call gets an effects row, even when its agent is unknown.
    let mut effect_of_tool: HashMap<usize, usize> = HashMap::new();
    for (row, t) in decoded
        .tools
        .iter()
        .enumerate()
        .filter(|(_, t)| &t.capture == capture)
    {
        let Some(node) = b.find(&tool_call_node_id(t.call_id, t.tool_index)) else {
            continue;
        };
        let call = call_by_id.get(&t.call_id).map(|&i| calls[i]);
        let window_end = t.result_ns.or_else(|| {
            call.and_then(|c| {
                calls
                    .iter()
                    .filter(|n| {
                        n.proc_key == c.proc_key
                            && n.conversation_id == c.conversation_id
                            && n.ts_ns > c.ts_ns
                    })
                    .map(|n| n.ts_ns)
                    .min()
            })
        });
        let args = ToolArgs::parse(&t.arguments_json);
        effect_of_tool.insert(row, effects.len());
        effects.push(ToolEffect {
            ts_ns: call.map_or(t.ts_ns, |c| c.ts_ns),
            node,
            call_id: t.call_id,
            conversation_id: t.conversation_id,
            tool_call_id: t.tool_call_id.clone(),
            name: t.name.clone(),
            command: args.commands.first().cloned(),
            window_end_ns: window_end,
            agent_key: call.map(|c| c.proc_key),
            method: None,
            confidence: None,
            process_keys: Vec::new(),
            execs: Vec::new(),
            files_written: Vec::new(),
            files_read: 0,
            endpoints: Vec::new(),
            exit_code: None,
            failed_processes: 0,
        });
    }

    for &agent in &agents {
        let agent_cwd = procs
            .get(&agent)
            .and_then(|p| p.images.last())
            .and_then(|i| i.cwd.clone());
        let mut windows: Vec<Window> = Vec::new();
        for (row, t) in decoded
            .tools
            .iter()
            .enumerate()
            .filter(|(_, t)| &t.capture == capture)
        {
            let Some(&ei) = effect_of_tool.get(&row) else {
                continue;
            };
            let e = &effects[ei];
            if e.agent_key != Some(agent) {
                continue;
            }
            let args = ToolArgs::parse(&t.arguments_json);
            let abs_paths = args
                .paths
                .iter()
                .filter_map(|p| {
                    let p = p.strip_prefix("~/").map_or(p.clone(), |rest| {
                        home_of(procs, agent).map_or(p.clone(), |h| format!("{h}/{rest}"))
                    });
                    super::resolve_path(agent_cwd.as_deref(), &p, -100)
                })
                .collect();
            windows.push(Window {
                tool: e.node,
                tool_row: ei,
                start: e.ts_ns,
                end: e.window_end_ns.unwrap_or(u64::MAX),
                args,
                abs_paths,
            });
        }
        let in_window = |ts: u64| -> Vec<usize> {
            windows
                .iter()
                .enumerate()
                .filter(|(_, w)| w.start <= ts && ts <= w.end)
                .map(|(i, _)| i)
                .collect()
        };

        // The agent's tree in start order.
        let mut tree: Vec<u64> = Vec::new();
        let mut queue: VecDeque<u64> = children.get(&agent).cloned().unwrap_or_default().into();
        let mut seen: HashSet<u64> = HashSet::from([agent]);
        while let Some(k) = queue.pop_front() {
            if !seen.insert(k) {
                continue;
            }
            tree.push(k);
            if let Some(c) = children.get(&k) {
                queue.extend(c.iter().copied());
            }
        }
        tree.sort_by_key(|k| procs.get(k).map_or(0, |p| p.start_ns));
        // Roots and their claims. Parents start before their children, so
        // one pass in start order knows each parent's owner.
        #[derive(Clone, Copy, PartialEq)]
        enum Owner {
            Root(u64),
            Outside,
        }
        let mut owner: HashMap<u64, Owner> = HashMap::new();
        let mut roots: Vec<(u64, Vec<usize>)> = Vec::new();
        let mut outside: Vec<(u64, &'static str)> = Vec::new();
        for &k in &tree {
            let Some(p) = procs.get(&k) else { continue };
            let parent_owner = p
                .parent
                .filter(|&pk| pk != agent)
                .and_then(|pk| owner.get(&pk).copied());
            let ws = in_window(p.start_ns);
            match parent_owner {
                Some(Owner::Root(r)) => {
                    owner.insert(k, Owner::Root(r));
                }
                Some(Owner::Outside) if ws.is_empty() => {
                    owner.insert(k, Owner::Outside);
                    outside.push((k, "child_of_unattributed"));
                }
                _ if ws.is_empty() => {
                    owner.insert(k, Owner::Outside);
                    outside.push((k, "outside_tool_windows"));
                }
                _ => {
                    owner.insert(k, Owner::Root(k));
                    roots.push((k, ws));
                }
            }
        }
        let mut members: HashMap<u64, Vec<u64>> = HashMap::new();
        for &k in &tree {
            if let Some(Owner::Root(r)) = owner.get(&k) {
                members.entry(*r).or_default().push(k);
            }
        }
        let subtree = |root: u64| -> Vec<u64> { members.get(&root).cloned().unwrap_or_default() };
        let written_by = file_targets(b);
        let mut content: HashMap<u64, Vec<Claim>> = HashMap::new();
        let mut matched_windows: HashSet<usize> = HashSet::new();
        for (root, ws) in &roots {
            let tree_keys = subtree(*root);
            let mut best: Vec<Claim> = Vec::new();
            for &w in ws {
                if let Some((method, confidence)) =
                    content_score(&windows[w], &tree_keys, procs, &written_by)
                {
                    best.push(Claim {
                        window: w,
                        method,
                        confidence,
                    });
                }
            }
            let top = best.iter().map(|c| c.confidence).fold(0.0, f64::max);
            best.retain(|c| c.confidence == top);
            if !best.is_empty() {
                matched_windows.extend(best.iter().map(|c| c.window));
                content.insert(*root, best);
            }
        }
        let mut claims: Vec<(u64, Vec<Claim>)> = Vec::new();
        for (root, ws) in &roots {
            if let Some(c) = content.remove(root) {
                claims.push((*root, c));
                continue;
            }
            let direct = procs.get(root).and_then(|p| p.parent).unwrap_or(agent) == agent;
            let c = if !direct {
                ws.iter()
                    .map(|&w| Claim {
                        window: w,
                        method: "window_indirect",
                        confidence: 0.4 / ws.len() as f64,
                    })
                    .collect()
            } else if ws.len() == 1 {
                let w = &windows[ws[0]];
                let (method, confidence) = if matched_windows.contains(&ws[0]) {
                    ("window_only", 0.3)
                } else if w.args.commands.is_empty() {
                    ("window_ancestry", 0.6)
                } else {
                    ("window_ancestry", 0.5)
                };
                vec![Claim {
                    window: ws[0],
                    method,
                    confidence,
                }]
            } else {
                ws.iter()
                    .map(|&w| {
                        let base = if matched_windows.contains(&w) {
                            0.3
                        } else {
                            0.6
                        };
                        Claim {
                            window: w,
                            method: "window_ambiguous",
                            confidence: base / ws.len() as f64,
                        }
                    })
                    .collect()
            };
            claims.push((*root, c));
        }

        // Edges and effects.
        for (root, cs) in &claims {
            let Some(dst) = b.find(&process_id(*root)) else {
                continue;
            };
            let start = procs.get(root).map_or(0, |p| p.start_ns);
            let argv = procs
                .get(root)
                .and_then(|p| p.images.first())
                .map(|i| i.argv.join(" "));
            for c in cs {
                b.edge(
                    start,
                    EdgeKind::Ran,
                    windows[c.window].tool,
                    dst,
                    c.method,
                    c.confidence,
                    Some(*root),
                    argv.clone(),
                );
                let e = &mut effects[windows[c.window].tool_row];
                if e.confidence.is_none_or(|best| c.confidence > best) {
                    e.method = Some(c.method);
                    e.confidence = Some(c.confidence);
                }
                if e.exit_code.is_none() {
                    e.exit_code = procs.get(root).and_then(|p| p.exit_code);
                }
                for k in subtree(*root) {
                    if !e.process_keys.contains(&k) {
                        e.process_keys.push(k);
                    }
                }
            }
            let best = cs.iter().map(|c| c.confidence).fold(0.0, f64::max);
            if best < 0.5 {
                for (i, k) in subtree(*root).into_iter().enumerate() {
                    let reason = if i == 0 {
                        "weak_attribution"
                    } else {
                        "child_of_unattributed"
                    };
                    push_process(
                        &mut unattributed,
                        b,
                        procs,
                        agent,
                        k,
                        reason,
                        (i == 0).then_some(best),
                    );
                }
            }
        }
        for (k, reason) in outside {
            push_process(&mut unattributed, b, procs, agent, k, reason, None);
        }

        agent_own_activity(
            b,
            agent,
            &windows,
            &calls,
            decoded,
            capture,
            &mut unattributed,
            procs,
        );
    }

    let mut by_actor: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut by_tool: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, e) in b.edges.iter().enumerate() {
        match b.nodes[e.src].kind {
            super::NodeKind::Process => {
                by_actor.entry(e.proc_key.unwrap_or(0)).or_default().push(i)
            }
            super::NodeKind::ToolCall => by_tool.entry(e.src).or_default().push(i),
            _ => {}
        }
    }
    for e in effects.iter_mut() {
        fill_effect(b, e, procs, &by_actor, &by_tool);
    }
    unattributed.sort_by_key(|u| (u.ts_ns, u.proc_key));
    Attributed {
        effects,
        unattributed,
    }
}

/// `$HOME` is not captured; the agent's home is inferred from a cwd under
/// /home/NAME or /root.
fn home_of(procs: &HashMap<u64, Proc>, key: u64) -> Option<String> {
    let cwd = procs.get(&key)?.images.last()?.cwd.as_deref()?;
    if cwd == "/root" || cwd.starts_with("/root/") {
        return Some("/root".into());
    }
    let rest = cwd.strip_prefix("/home/")?;
    let user = rest.split('/').next()?;
    Some(format!("/home/{user}"))
}

/// Paths each process wrote or executed.
fn file_targets(b: &Builder) -> HashMap<u64, Vec<&str>> {
    let mut out: HashMap<u64, Vec<&str>> = HashMap::new();
    for e in &b.edges {
        if (e.kind.mutates_file() || e.kind == EdgeKind::Executed)
            && b.nodes[e.src].kind == super::NodeKind::Process
        {
            if let (Some(k), Some(path)) = (e.proc_key, b.nodes[e.dst].name.as_deref()) {
                out.entry(k).or_default().push(path);
            }
        }
    }
    out
}

fn content_score(
    w: &Window,
    tree: &[u64],
    procs: &HashMap<u64, Proc>,
    written_by: &HashMap<u64, Vec<&str>>,
) -> Option<(&'static str, f64)> {
    let mut best: Option<(&'static str, f64)> = None;
    let offer = |best: &mut Option<(&'static str, f64)>, m: &'static str, c: f64| {
        if best.is_none_or(|(_, b)| c > b) {
            *best = Some((m, c));
        }
    };
    for k in tree {
        let Some(p) = procs.get(k) else { continue };
        for img in &p.images {
            let joined = img.argv.join(" ");
            for cmd in w
                .args
                .commands
                .iter()
                .map(|c| c.trim())
                .filter(|c| c.len() >= 2)
            {
                if img.argv.iter().any(|a| a.trim() == cmd) || joined == cmd {
                    offer(&mut best, "argv_exact", 0.95);
                } else if cmd.len() >= 3 && img.argv.iter().any(|a| a.contains(cmd)) {
                    offer(&mut best, "argv_contains", 0.9);
                }
            }
        }
    }
    if best.is_none() {
        let mut touched = tree.iter().filter_map(|k| written_by.get(k)).flatten();
        if touched.any(|p| w.abs_paths.iter().any(|a| a == p)) {
            offer(&mut best, "path_match", 0.7);
        }
    }
    best
}

fn push_process(
    out: &mut Vec<Unattributed>,
    b: &Builder,
    procs: &HashMap<u64, Proc>,
    agent: u64,
    key: u64,
    reason: &'static str,
    confidence: Option<f64>,
) {
    let Some(p) = procs.get(&key) else { return };
    let Some(node) = b.find(&process_id(key)) else {
        return;
    };
    out.push(Unattributed {
        ts_ns: p.start_ns,
        agent_key: agent,
        proc_key: key,
        pid: p.pid,
        comm: p.program().map_or_else(
            || p.comm.clone(),
            |f| f.rsplit('/').next().unwrap_or(f).to_string(),
        ),
        activity: "process",
        node,
        reason,
        detail: p
            .images
            .last()
            .map(|i| i.argv.join(" "))
            .or_else(|| Some(p.comm.clone())),
        confidence,
    });
}

/// The agent process's own connects and file mutations: explained by its
/// LLM connections and by built-in tools naming the path or host, or kept
/// as unattributed.
#[allow(clippy::too_many_arguments)]
fn agent_own_activity(
    b: &mut Builder,
    agent: u64,
    windows: &[Window],
    calls: &[&crate::reconstruct::CallRow],
    decoded: &Decoded,
    capture: &Arc<str>,
    unattributed: &mut Vec<Unattributed>,
    procs: &HashMap<u64, Proc>,
) {
    // Sockets that carried the agent's LLM calls.
    let llm_conns: HashSet<u64> = calls
        .iter()
        .filter(|c| c.proc_key == agent)
        .map(|c| c.conn_id)
        .collect();
    let mut llm_ports: HashSet<u16> = HashSet::new();
    let mut llm_remotes: HashSet<(String, u16)> = HashSet::new();
    for h in decoded
        .http
        .iter()
        .filter(|h| &h.conn.capture == capture && llm_conns.contains(&h.conn.conn_id))
    {
        if let Some(p) = h.conn.tuple.local_port {
            llm_ports.insert(p);
        }
        if let (Some(a), Some(p)) = (&h.conn.tuple.remote_addr, h.conn.tuple.remote_port) {
            llm_remotes.insert((a.clone(), p));
        }
    }
    let Some(agent_node) = b.find(&process_id(agent)) else {
        return;
    };
    let (pid, comm) = procs
        .get(&agent)
        .map_or((0, String::new()), |p| (p.pid, p.comm.clone()));
    let own: Vec<usize> = (0..b.edges.len())
        .filter(|&i| b.edges[i].src == agent_node && b.edges[i].proc_key == Some(agent))
        .collect();
    for i in own {
        let e = b.edges[i].clone();
        let dst = b.nodes[e.dst].clone();
        let covering: Vec<&Window> = windows
            .iter()
            .filter(|w| w.start <= e.ts_ns && e.ts_ns <= w.end)
            .collect();
        match e.kind {
            EdgeKind::Connected => {
                let local = e
                    .detail
                    .as_deref()
                    .and_then(|d| d.rsplit(' ').next())
                    .and_then(|p| p.parse::<u16>().ok());
                let remote = endpoint_parts(&dst.id);
                let is_llm = match local {
                    Some(p) => llm_ports.contains(&p),
                    None => remote.as_ref().is_some_and(|r| llm_remotes.contains(r)),
                };
                if is_llm {
                    continue;
                }
                let host = dst.name.clone();
                let addr = remote.as_ref().map(|r| r.0.clone());
                let by_tool = covering.iter().find(|w| {
                    w.args
                        .hosts
                        .iter()
                        .any(|h| Some(h) == host.as_ref() || Some(h) == addr.as_ref())
                });
                if let Some(w) = by_tool {
                    b.edge(
                        e.ts_ns,
                        EdgeKind::Connected,
                        w.tool,
                        e.dst,
                        "url_in_args",
                        0.7,
                        Some(agent),
                        e.detail.clone(),
                    );
                    continue;
                }
                unattributed.push(Unattributed {
                    ts_ns: e.ts_ns,
                    agent_key: agent,
                    proc_key: agent,
                    pid,
                    comm: comm.clone(),
                    activity: "connect",
                    node: e.dst,
                    reason: "no_tool_call",
                    detail: Some(dst.label.clone()),
                    confidence: None,
                });
            }
            k if k.mutates_file() || k == EdgeKind::Read => {
                let path = dst.name.clone().unwrap_or_default();
                let by_tool = covering
                    .iter()
                    .find(|w| w.abs_paths.iter().any(|p| *p == path));
                if let Some(w) = by_tool {
                    b.edge(
                        e.ts_ns,
                        k,
                        w.tool,
                        e.dst,
                        "builtin_tool_path",
                        0.9,
                        Some(agent),
                        e.detail.clone(),
                    );
                    continue;
                }
                if k == EdgeKind::Read {
                    continue; // an agent reads its own code and data all the time
                }
                unattributed.push(Unattributed {
                    ts_ns: e.ts_ns,
                    agent_key: agent,
                    proc_key: agent,
                    pid,
                    comm: comm.clone(),
                    activity: "file",
                    node: e.dst,
                    reason: "no_tool_call",
                    detail: Some(format!("{} {path}", k.as_str())),
                    confidence: None,
                });
            }
            _ => {}
        }
    }
}

/// (addr, port) of an `endpoint:` node id.
fn endpoint_parts(id: &str) -> Option<(String, u16)> {
    let rest = id.strip_prefix("endpoint:")?;
    let (addr, port) = rest.rsplit_once(':')?;
    let addr = addr.trim_start_matches('[').trim_end_matches(']');
    Some((addr.to_string(), port.parse().ok()?))
}

/// Files, execs and endpoints of the processes a tool call ran, and of the
/// tool call's own (built-in tool) edges.
fn fill_effect(
    b: &Builder,
    e: &mut ToolEffect,
    procs: &HashMap<u64, Proc>,
    by_actor: &HashMap<u64, Vec<usize>>,
    by_tool: &HashMap<usize, Vec<usize>>,
) {
    e.process_keys
        .sort_by_key(|k| procs.get(k).map_or(0, |p| p.start_ns));
    let mut written: Vec<String> = Vec::new();
    let mut read: HashSet<usize> = HashSet::new();
    let mut endpoints: Vec<String> = Vec::new();
    let own = by_tool.get(&e.node).into_iter().flatten();
    let of_tree = e
        .process_keys
        .iter()
        .filter_map(|k| by_actor.get(k))
        .flatten();
    for &i in own.chain(of_tree) {
        let edge = &b.edges[i];
        let dst = &b.nodes[edge.dst];
        match edge.kind {
            k if k.mutates_file() => {
                if !written.contains(&dst.label) {
                    written.push(dst.label.clone());
                }
            }
            EdgeKind::Read => {
                read.insert(edge.dst);
            }
            EdgeKind::Connected => {
                if !endpoints.contains(&dst.label) {
                    endpoints.push(dst.label.clone());
                }
            }
            _ => {}
        }
    }
    for k in &e.process_keys {
        let Some(p) = procs.get(k) else { continue };
        for img in &p.images {
            if let Some(f) = &img.filename {
                if !e.execs.contains(f) {
                    e.execs.push(f.clone());
                }
            }
        }
        if p.exit_code.is_some_and(|c| c != 0) || p.exit_signal.is_some() {
            e.failed_processes += 1;
        }
    }
    e.files_written = written;
    e.files_read = read.len() as u32;
    e.endpoints = endpoints;
}
