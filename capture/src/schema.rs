//! The single source of truth for capture table and column names.
//!
//! The recorder writes these tables, the analyzer registers them, and
//! `docs/schema.md` is generated from [`markdown`] (a test keeps it in sync).
//! Bump [`SCHEMA_VERSION`] on any change to a raw table.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

/// Version of the raw tables and manifest layout written by this build.
pub const SCHEMA_VERSION: u32 = 2;
/// Oldest capture schema this build can still read.
pub const MIN_READABLE_SCHEMA_VERSION: u32 = 1;

pub const PROCESS_EVENTS: &str = "process_events";
pub const FILE_EVENTS: &str = "file_events";
pub const NET_EVENTS: &str = "net_events";
pub const TLS_CHUNKS: &str = "tls_chunks";
pub const TLS_EVENTS: &str = "tls_events";
pub const RECORDER_STATS: &str = "recorder_stats";

/// Raw tables in the order the recorder creates them.
pub const RAW_TABLES: &[&str] = &[
    PROCESS_EVENTS,
    FILE_EVENTS,
    NET_EVENTS,
    TLS_CHUNKS,
    TLS_EVENTS,
    RECORDER_STATS,
];

/// Column type as documented; maps to one Arrow type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColType {
    U64,
    I64,
    U32,
    I32,
    U16,
    F64,
    Bool,
    Text,
    /// Low-cardinality text, dictionary encoded in Parquet.
    Tag,
    TextList,
    Bytes,
}

impl ColType {
    pub fn arrow(self) -> DataType {
        match self {
            ColType::U64 => DataType::UInt64,
            ColType::I64 => DataType::Int64,
            ColType::U32 => DataType::UInt32,
            ColType::I32 => DataType::Int32,
            ColType::U16 => DataType::UInt16,
            ColType::F64 => DataType::Float64,
            ColType::Bool => DataType::Boolean,
            ColType::Text | ColType::Tag => DataType::Utf8,
            ColType::TextList => DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            ColType::Bytes => DataType::Binary,
        }
    }

    fn doc_name(self) -> &'static str {
        match self {
            ColType::U64 => "UInt64",
            ColType::I64 => "Int64",
            ColType::U32 => "UInt32",
            ColType::I32 => "Int32",
            ColType::U16 => "UInt16",
            ColType::F64 => "Float64",
            ColType::Bool => "Boolean",
            ColType::Text => "Utf8",
            ColType::Tag => "Utf8 (dictionary)",
            ColType::TextList => "List<Utf8>",
            ColType::Bytes => "Binary",
        }
    }
}

pub struct Column {
    pub name: &'static str,
    pub ty: ColType,
    pub nullable: bool,
    pub doc: &'static str,
}

pub struct Table {
    pub name: &'static str,
    pub doc: &'static str,
    pub columns: &'static [Column],
}

const fn col(name: &'static str, ty: ColType, doc: &'static str) -> Column {
    Column {
        name,
        ty,
        nullable: false,
        doc,
    }
}

const fn opt(name: &'static str, ty: ColType, doc: &'static str) -> Column {
    Column {
        name,
        ty,
        nullable: true,
        doc,
    }
}

use ColType::*;

const TS: Column = col("ts_ns", U64, "Event time, kernel CLOCK_BOOTTIME nanoseconds; `to_wall(ts_ns)` gives UTC using the manifest anchor.");
const PID: Column = col("pid", I32, "Process id (kernel tgid).");
const TID: Column = col("tid", I32, "Thread id.");
const PROC_KEY: Column = col("proc_key", U64, "Stable process key: `(start_ticks << 22) | pid`, start_ticks = process start in 10 ms ticks since boot (as /proc/PID/stat). Unique within a boot even when pids are reused.");
const COMM: Column = col(
    "comm",
    Tag,
    "Thread command name (16 bytes max) at the time of the event.",
);
const UID: Column = col("uid", U32, "Real user id.");

pub static TABLES: &[Table] = &[
    Table {
        name: PROCESS_EVENTS,
        doc: "Process lifecycle: one row per exec, fork (new process, not thread), exit, and one `snapshot` row per process that existed when recording started.",
        columns: &[
            TS,
            col("kind", Tag, "`exec`, `fork`, `exit` or `snapshot`."),
            PID,
            TID,
            PROC_KEY,
            opt("ppid", I32, "Parent process id (fork parent for `fork`, real parent otherwise)."),
            opt("parent_key", U64, "proc_key of the parent."),
            UID,
            col("gid", U32, "Real group id."),
            COMM,
            col("cgroup_id", U64, "cgroup v2 id of the acting task."),
            opt("filename", Text, "Executed file as passed to exec (`exec`), or /proc/PID/exe (`snapshot`)."),
            opt("argv", TextList, "Argument vector (`exec`, `snapshot`)."),
            opt("argv_truncated", Bool, "True when argv was longer than the capture cap (16 KiB) and was cut."),
            opt("cwd", Text, "Working directory at exec (kernel dentry walk; starts with `...` when deeper than 40 levels), or from /proc for `snapshot` (and, best effort, when the walk failed: then it is read when the recorder drains the record)."),
            opt("exit_code", I32, "Exit status (`exit`), when the process exited normally."),
            opt("exit_signal", I32, "Terminating signal number (`exit`), when killed by a signal."),
            opt("wait_status", I32, "The raw wait status (`exit`) as waitpid(2) would report it: `(code << 8) | signal`, plus 0x80 when a core was dumped. Schema version 2 on."),
        ],
    },
    Table {
        name: FILE_EVENTS,
        doc: "File operations that matter for forensics, one row per syscall with its result.",
        columns: &[
            TS,
            PID,
            TID,
            PROC_KEY,
            COMM,
            UID,
            col("op", Tag, "`open`, `rename`, `unlink`, `chmod`, `memfd`, `link` or `symlink`."),
            col("path", Text, "Path as passed by the process (relative paths are relative to `dfd`/cwd); for `symlink` the link path, for `memfd` the name. Invalid UTF-8 bytes appear as `\\xNN`."),
            opt("path2", Text, "Second path: rename/link destination, symlink target."),
            opt("resolved_path", Text, "Successful `open`: the absolute path of the file the kernel opened, walked from the new fd (symlinks followed; starts with `...` when deeper than 40 levels). It differs from `path` for a relative path, a symlink, or a path buffer the process rewrote while the syscall ran (`path` is read from its memory at syscall exit). Schema version 2 on."),
            col("dfd", I32, "Directory fd (-100 = AT_FDCWD), or the fd for `fchmod`."),
            col("flags", U32, "open(2) flags, rename/unlink/link flags. `open_flags(flags)` names them."),
            col("mode", U32, "Create mode for `open`, new mode for `chmod`."),
            col("ret", I64, "Result: fd or 0 on success, -errno on failure."),
        ],
    },
    Table {
        name: NET_EVENTS,
        doc: "Socket connects and accepts with the kernel's view of the 4-tuple.",
        columns: &[
            TS,
            PID,
            TID,
            PROC_KEY,
            COMM,
            UID,
            col("op", Tag, "`connect` or `accept`."),
            col("fd", I32, "connect: the socket fd; accept: the listening fd."),
            col("ret", I64, "connect: 0 or -errno (-115 EINPROGRESS for non-blocking); accept: the new connection's fd."),
            col("family", Tag, "`inet`, `inet6`, `unix` or `af<N>`."),
            opt("local_addr", Text, "Local IP address (TCP only)."),
            opt("local_port", U16, "Local port (TCP only)."),
            opt("remote_addr", Text, "Peer IP address."),
            opt("remote_port", U16, "Peer port."),
            opt("unix_path", Text, "AF_UNIX path (abstract names start with `@`)."),
        ],
    },
    Table {
        name: TLS_CHUNKS,
        doc: "Plaintext passed to or returned from TLS library calls, split into numbered chunks; never decoded by the recorder.",
        columns: &[
            TS,
            PID,
            TID,
            PROC_KEY,
            COMM,
            col("direction", Tag, "`write` (sent by the process) or `read` (received)."),
            col("func", Tag, "Hooked function: `SSL_write`, `SSL_read` (also in BoringSSL builds without symbols, located by the recorder), `SSL_write_ex`, `SSL_read_ex`, or `ssl_write_internal`/`ssl_read_internal` when OpenSSL's implementation shared by a public pair was probed instead (the public functions start with an instruction the kernel would single-step, or the binary has no symbols and the internal function is what was located)."),
            col("ssl_ptr", U64, "SSL* pointer: the connection identity within the process."),
            opt("fd", I32, "Socket fd when known (SSL_set_fd or observed syscalls)."),
            col("call_seq", U64, "Sequence number of the call (per recorder run, increasing)."),
            col("chunk_index", U32, "Index of this chunk within the call."),
            col("chunk_offset", U64, "Byte offset of this chunk within the call's buffer."),
            col("call_len", U64, "Bytes the call actually transferred."),
            col("lost_bytes", U64, "Bytes of this call not captured (cap or ring full); set on the call's last chunk."),
            col("redacted", Bool, "True when credential header values in this chunk were masked."),
            col("data", Bytes, "Captured plaintext bytes of this chunk."),
        ],
    },
    Table {
        name: TLS_EVENTS,
        doc: "TLS connection metadata: fd binding, SNI host name, stream end.",
        columns: &[
            TS,
            PID,
            TID,
            PROC_KEY,
            COMM,
            col("event", Tag, "`set_fd`, `sni`, `shutdown`, `free`, `attach` (a library was hooked) or `not_hooked` (a process maps TLS the recorder cannot hook: `value` says which file, which library it looks like and why)."),
            col("ssl_ptr", U64, "SSL* pointer (0 for `attach`)."),
            opt("fd", I32, "fd for `set_fd`."),
            opt("value", Text, "SNI host name for `sni`, library path for `attach`, the explanation for `not_hooked`."),
        ],
    },
    Table {
        name: RECORDER_STATS,
        doc: "Recorder health: cumulative counters sampled at every flush and at the end. Any non-zero loss counter means the capture is incomplete.",
        columns: &[
            TS,
            opt("cpu", I32, "CPU for per-CPU kernel counters, null for userspace counters."),
            col("counter", Tag, "Counter name, e.g. `ringbuf_reserve_fail_events`, `tls_bytes_lost`, `user_parse_errors`, `events_received`."),
            col("value", U64, "Cumulative value at ts_ns."),
        ],
    },
];

pub const HTTP_EXCHANGES: &str = "http_exchanges";
pub const LLM_CALLS: &str = "llm_calls";
pub const LLM_MESSAGES: &str = "llm_messages";
pub const TOOL_CALLS: &str = "tool_calls";
pub const CONVERSATIONS: &str = "conversations";

const CAPTURE: Column = col(
    "capture",
    Text,
    "Capture label (as the raw tables' `capture` column).",
);
const CONN_ID: Column = col(
    "conn_id",
    U64,
    "Connection number within the capture (a TLS session: process, SSL* and SSL_free generation).",
);
const CALL_ID: Column = col(
    "call_id",
    U64,
    "LLM call number within the capture, in request order.",
);
const CONVERSATION_ID: Column = col(
    "conversation_id",
    U64,
    "Conversation number within the capture (see `conversations`).",
);

/// Tables the analyzer derives from `tls_chunks` (never stored in a
/// capture; computed when a query first names one of them).
pub static DECODED_TABLES: &[Table] = &[
    Table {
        name: HTTP_EXCHANGES,
        doc: "HTTP/1.x and HTTP/2 request/response pairs reassembled from `tls_chunks`, bodies de-chunked and decompressed.",
        columns: &[
            col("ts_ns", U64, "Request start: time of the call that carried the request's first byte."),
            CAPTURE,
            CONN_ID,
            col("exchange_index", U32, "Position of the exchange on its connection (keep-alive order; HTTP/2: stream order)."),
            PID,
            PROC_KEY,
            COMM,
            col("ssl_ptr", U64, "SSL* pointer of the connection."),
            opt("fd", I32, "Socket fd, when known."),
            opt("sni", Text, "TLS server name the client set."),
            opt("local_addr", Text, "Local address of the socket (from the matching `net_events` connect)."),
            opt("local_port", U16, "Local port."),
            opt("remote_addr", Text, "Peer address."),
            opt("remote_port", U16, "Peer port."),
            col("http_version", Tag, "`1.0`, `1.1` or `2`."),
            opt("method", Tag, "Request method."),
            opt("host", Text, "`Host` header."),
            opt("path", Text, "Request target."),
            opt("status", U16, "Final response status."),
            opt("request_headers", Text, "Request headers as a JSON array of `[name, value]` (credential values as redacted at capture time)."),
            opt("response_headers", Text, "Response headers, same form."),
            opt("request_content_type", Text, "Request `Content-Type`."),
            opt("response_content_type", Text, "Response `Content-Type`."),
            opt("response_content_encoding", Text, "Response `Content-Encoding` (the body columns are decoded)."),
            col("request_body_len", U64, "Request body bytes on the wire (after de-chunking, before decoding)."),
            col("response_body_len", U64, "Response body bytes on the wire (after de-chunking, before decoding)."),
            opt("request_body", Bytes, "Request body, decoded; `bytes_text()` shows it."),
            opt("response_body", Bytes, "Response body, decoded."),
            opt("request_end_ns", U64, "Time of the call that carried the request's last byte."),
            opt("response_first_byte_ns", U64, "Time the first response byte was read."),
            opt("response_body_first_ns", U64, "Time the first response body byte was read."),
            opt("response_end_ns", U64, "Time the last response byte was read."),
            col("partial", Bool, "True when anything is missing or damaged; `problems` says what."),
            opt("problems", Text, "Comma-separated: `no_response`, `no_request`, `truncated`, `gap` (bytes lost in capture), `decode_error`, `framing_error` (HTTP/2: also lost HPACK state)."),
        ],
    },
    Table {
        name: LLM_CALLS,
        doc: "One row per LLM API call recognised in `http_exchanges` (Anthropic Messages, OpenAI Chat Completions and Responses, Gemini), streaming or not.",
        columns: &[
            col("ts_ns", U64, "Request start."),
            CAPTURE,
            CALL_ID,
            CONVERSATION_ID,
            col("turn", U32, "Position of the call in its conversation (0 = first)."),
            CONN_ID,
            col("exchange_index", U32, "Exchange on the connection (joins `http_exchanges`)."),
            PID,
            PROC_KEY,
            COMM,
            col("provider", Tag, "`anthropic`, `openai_chat`, `openai_responses` or `gemini` (from path, host and body shape)."),
            opt("host", Text, "`Host` header."),
            opt("path", Text, "Request target."),
            opt("status", U16, "HTTP status."),
            opt("model", Text, "Model: the response's when it names one, else the request's."),
            col("streaming", Bool, "Response was streamed (SSE or Gemini stream)."),
            opt("stop_reason", Text, "Stop/finish reason as the API reported it."),
            opt("response_id", Text, "The API's id for the response/message."),
            opt("input_tokens", U64, "Input (prompt) tokens reported by the API."),
            opt("output_tokens", U64, "Output (completion) tokens."),
            opt("cache_read_tokens", U64, "Prompt tokens served from cache."),
            opt("cache_creation_tokens", U64, "Prompt tokens written to cache (Anthropic)."),
            opt("reasoning_tokens", U64, "Reasoning tokens (OpenAI, Gemini thoughts)."),
            opt("ttfb_ns", U64, "Time to first token, approximated as request end to first response body byte."),
            opt("duration_ns", U64, "Request start to last response byte."),
            col("request_messages", U32, "Messages in the request (system prompt counted as one)."),
            opt("request_summary", Text, "Last user message text of the request (first 200 characters)."),
            col("response_text", Text, "The model's text answer."),
            col("thinking_text", Text, "Reasoning/thinking text, when sent."),
            col("tool_call_count", U32, "Tool calls the model asked for."),
            opt("error", Text, "Error reported by the API."),
            col("partial", Bool, "Transport damage or no terminal event: the row is incomplete."),
            col("bad_events", U32, "Stream events that did not parse."),
        ],
    },
    Table {
        name: LLM_MESSAGES,
        doc: "Each message of each request, then the response as one assistant message. A resent history repeats in every request; `new_in_conversation` marks the first time a message appears in its conversation.",
        columns: &[
            col("ts_ns", U64, "Request start of the call."),
            CAPTURE,
            CALL_ID,
            CONVERSATION_ID,
            col("message_index", U32, "Position in the request; the response comes last."),
            col("source", Tag, "`request` or `response`."),
            col("role", Tag, "`system`, `user`, `assistant`, `tool`, ... as the API names it."),
            col("text", Text, "Text parts joined."),
            col("parts", Text, "All parts as JSON: `text`, `thinking`, `tool_use` (id, name, arguments_json), `tool_result` (tool_use_id, text, is_error), `other` (kind)."),
            col("new_in_conversation", Bool, "False when the previous call of the conversation already sent this message."),
        ],
    },
    Table {
        name: TOOL_CALLS,
        doc: "Tool calls the model asked for, with the result the client sent back in a later request of the same conversation.",
        columns: &[
            col("ts_ns", U64, "Last response byte of the call that asked for the tool."),
            CAPTURE,
            CALL_ID,
            CONVERSATION_ID,
            col("tool_index", U32, "Position among the call's tool calls."),
            col("tool_call_id", Text, "The API's id for the tool call (`toolu_...`, `call_...`)."),
            col("name", Text, "Tool name."),
            col("arguments_json", Text, "Arguments as the model sent them (JSON text; may be cut if the stream was)."),
            opt("result_call_id", U64, "The call whose request carried the result."),
            opt("result_ns", U64, "Request start of that call."),
            opt("result_text", Text, "Result text sent back."),
            opt("result_is_error", Bool, "The client marked the result as an error."),
        ],
    },
    Table {
        name: CONVERSATIONS,
        doc: "LLM calls grouped into threads: a call joins the conversation of an earlier call when its message history extends that call's, when it returns results for that call's tool calls, or when it names that call's response as `previous_response_id`.",
        columns: &[
            col("ts_ns", U64, "Request start of the first call."),
            CAPTURE,
            CONVERSATION_ID,
            PID,
            PROC_KEY,
            COMM,
            col("provider", Tag, "Provider of the first call."),
            opt("model", Text, "Model of the last call."),
            col("calls", U32, "Number of calls."),
            col("end_ns", U64, "Last response byte of the last call (or its request start)."),
            col("input_tokens", U64, "Sum over calls."),
            col("output_tokens", U64, "Sum over calls."),
            col("cache_read_tokens", U64, "Sum over calls."),
            col("cache_creation_tokens", U64, "Sum over calls."),
            col("tool_calls", U32, "Tool calls asked for."),
            opt("first_user_text", Text, "Last user message of the first request (first 200 characters)."),
            col("final_text", Text, "Response text of the last call."),
            col("partial_calls", U32, "Calls flagged partial."),
        ],
    },
];

pub const GRAPH_NODES: &str = "graph_nodes";
pub const GRAPH_EDGES: &str = "graph_edges";
pub const TOOL_EFFECTS: &str = "tool_effects";
pub const UNATTRIBUTED: &str = "unattributed";

const NODE_ID: Column = col(
    "node_id",
    Text,
    "Stable node id within the capture: `conversation:N`, `llm_call:N`, `tool_call:N.I` (call, tool index), `process:KEY` (proc_key), `file:PATH`, `endpoint:ADDR:PORT` (`[v6]:PORT`, `unix:PATH`).",
);

/// The causal graph, derived by the analyzer from the raw tables and the
/// decoded LLM tables (see docs/views.md, "Causal graph").
pub static GRAPH_TABLES: &[Table] = &[
    Table {
        name: GRAPH_NODES,
        doc: "One row per node of the causal graph: conversations, LLM calls, tool calls, processes (one per proc_key; successive execs are images of one node, threads are folded into their process), files (by absolute path when it could be resolved) and endpoints (with the host name the capture knows from TLS SNI or HTTP `Host`/`:authority`).",
        columns: &[
            col("ts_ns", U64, "When the node first appears: request start, tool call asked, process start, first event on the file or endpoint."),
            CAPTURE,
            NODE_ID,
            col("kind", Tag, "`conversation`, `llm_call`, `tool_call`, `process`, `file` or `endpoint`."),
            col("label", Text, "One-line description: tool name and command, program and argv, path, address and host name."),
            opt("proc_key", U64, "Process nodes: the process; LLM call and conversation nodes: the process that made the call."),
            opt("pid", I32, "Process id of `proc_key`."),
            opt("call_id", U64, "LLM call and tool call nodes: the LLM call."),
            opt("conversation_id", U64, "Conversation, LLM call and tool call nodes."),
            opt("tool_call_id", Text, "Tool call nodes: the API's id (`toolu_…`, `call_…`)."),
            opt("name", Text, "Tool name; program (last exec) of a process; path of a file; host name of an endpoint."),
            opt("agent", Bool, "Process nodes: true when the process made LLM calls."),
            opt("agent_key", U64, "Process nodes: the agent whose tree the process is in (the nearest process among it and its ancestors that made LLM calls); null outside every agent's tree."),
        ],
    },
    Table {
        name: GRAPH_EDGES,
        doc: "One row per edge. `method` says how the edge was found and `confidence` (0–1) how sure it is: observed facts (a fork, an open, a tool result id) are 1; attribution of processes and files to tool calls is inference, scored by its signals.",
        columns: &[
            col("ts_ns", U64, "Time of the event the edge stands for."),
            CAPTURE,
            col("kind", Tag, "`turn` (conversation → llm_call), `asked_for` (llm_call → tool_call), `fed_back` (tool_call → the llm_call whose request carries its result), `called` (process → llm_call), `ran` (tool_call → process), `spawned` (parent → child process, fork), `exec` (parent → child known only from exec), `executed`, `read`, `wrote`, `created`, `renamed`, `deleted`, `chmod`, `linked` (process or built-in tool call → file), `connected`, `accepted` (process or tool call → endpoint)."),
            col("src", Text, "node_id of the source."),
            col("dst", Text, "node_id of the destination."),
            col("src_kind", Tag, "Kind of the source node."),
            col("dst_kind", Tag, "Kind of the destination node."),
            col("method", Tag, "How the edge was found: `response`, `tool_result_id`, `conversation`, `tls`, `fork`, `snapshot`, `exec_parent`, `execve`, `open_flags`, `syscall`, `argv_exact`, `argv_contains`, `path_match`, `window_ancestry`, `window_ambiguous`, `window_indirect`, `window_only`, `builtin_tool_path`, `url_in_args` (docs/views.md explains each)."),
            col("confidence", F64, "1 for observed facts; below 1 for inferred attribution."),
            opt("proc_key", U64, "The acting process, when there is one."),
            opt("detail", Text, "Event detail: open flags, chmod mode, rename source, argv, raw path when it was resolved, and `kernel opened P` when the file the kernel opened (`file_events.resolved_path`) is not the path as passed (a symlink, or a path buffer rewritten during the syscall)."),
        ],
    },
    Table {
        name: TOOL_EFFECTS,
        doc: "One row per tool call: the processes attributed to it (the roots it ran and all their descendants), what they wrote, executed and connected to, and how the attribution was made.",
        columns: &[
            col("ts_ns", U64, "Request start of the LLM call that asked for the tool (the window opens)."),
            CAPTURE,
            col("node_id", Text, "The tool call's node (`tool_call:N.I`)."),
            CALL_ID,
            CONVERSATION_ID,
            col("tool_call_id", Text, "The API's id for the tool call."),
            col("name", Text, "Tool name."),
            opt("command", Text, "Command text found in the arguments (`command`, `cmd`, `script`, …)."),
            opt("window_end_ns", U64, "Request start of the call that carried the result (the window closes); null when no result was sent."),
            opt("agent_key", U64, "proc_key of the agent process that made the LLM call."),
            opt("method", Tag, "Method of the strongest `ran` edge (null when the tool ran no process)."),
            opt("confidence", F64, "Confidence of that edge."),
            col("processes", U32, "Processes attributed (roots and descendants)."),
            col("process_keys", TextList, "Their proc_keys, in start order."),
            col("execs", TextList, "Programs they executed (resolved paths)."),
            col("files_written", TextList, "Files created, written, renamed onto, deleted or chmod'ed (by the processes, or by the agent for a built-in file tool)."),
            col("files_read", U32, "Distinct files read."),
            col("endpoints", TextList, "Endpoints connected to (`addr:port` and host name when known)."),
            opt("exit_code", I32, "Exit code of the first root process, when it exited normally."),
            col("failed_processes", U32, "Attributed processes that exited non-zero or by a signal."),
        ],
    },
    Table {
        name: UNATTRIBUTED,
        doc: "What the agents' process trees did that no tool call explains: processes started outside every tool call's window (or with only weak attribution), connects of the agent process that carry no LLM call and no tool asked for, and file mutations by the agent process outside built-in file tools. This is where a malicious dependency or an injected background task shows up.",
        columns: &[
            col("ts_ns", U64, "Time of the activity."),
            CAPTURE,
            col("agent_key", U64, "proc_key of the agent whose tree it is."),
            PROC_KEY,
            PID,
            col("comm", Text, "Command name (program of the last exec for processes)."),
            col("activity", Tag, "`process`, `connect` or `file`."),
            col("node_id", Text, "The node concerned: the process, endpoint or file."),
            col("reason", Tag, "`outside_tool_windows`, `child_of_unattributed`, `weak_attribution`, `no_tool_call` (connect/file of the agent itself)."),
            opt("detail", Text, "argv, endpoint with host name, or the file operation."),
            opt("confidence", F64, "For `weak_attribution`: the best attribution's confidence."),
        ],
    },
];

pub const CAPTURE_HEALTH: &str = "capture_health";
pub const FINDINGS: &str = "findings";

/// What the analyzer knows about the captures themselves, and what it
/// reports: tables the anomaly rules and reports read and write.
pub static ANALYSIS_TABLES: &[Table] = &[
    Table {
        name: CAPTURE_HEALTH,
        doc: "What each opened capture says about its own completeness, from its manifest and from opening it: one row per non-zero loss counter, recorder note (unhookable TLS targets, disk full, recovery), capture left unsealed or recovered, redaction switched off, and segment left out by `--skip-bad-segments`. Empty for a clean capture: the `blind_spots` rule reads it so a clean report is never trusted blindly.",
        columns: &[
            col("ts_ns", U64, "Boot-time ns of the capture's end (its start when it has no end)."),
            CAPTURE,
            col("kind", Tag, "`drop` (a loss counter), `note` (a recorder warning), `state` (not closed cleanly), `redaction` (credentials stored unmasked), `skipped_segment`."),
            opt("name", Text, "Counter name, segment file, or capture state."),
            opt("value", U64, "Counter value (events or bytes lost)."),
            col("detail", Text, "One line saying what is missing."),
        ],
    },
    Table {
        name: FINDINGS,
        doc: "Output of `agentsight anomalies` (`--format json|csv`): one row per finding of one rule (`queries/anomalies/*.sql`, docs/anomalies.md).",
        columns: &[
            col("ts_ns", U64, "Time of the finding (the rule's `ts_ns`)."),
            CAPTURE,
            col("time", Text, "`ts_ns` as UTC wall-clock time, RFC 3339."),
            col("rule_id", Tag, "The rule's `id`."),
            col("severity", Tag, "`info`, `low`, `medium`, `high` or `critical`: the rule's, or the finding's own when the rule returns a `severity` column."),
            col("title", Text, "The rule's title."),
            col("tags", TextList, "The rule's tags (MITRE ATT&CK technique ids and free words)."),
            opt("proc_key", U64, "The acting process, when there is one."),
            opt("pid", I32, "Its pid."),
            col("summary", Text, "One line saying what happened."),
            col("evidence", TextList, "Ids of the graph nodes (`process:K`, `file:P`, `tool_call:N.I`, …) and rows (`file_events:TS:KEY`, …) the finding rests on."),
            col("details", Text, "Every other column the rule returned, as one JSON object."),
            col("source", Text, "The rule file (`builtin:anomalies/ID.sql` or a path)."),
        ],
    },
];

pub fn analysis_table(name: &str) -> Option<&'static Table> {
    ANALYSIS_TABLES.iter().find(|t| t.name == name)
}

pub fn graph_table(name: &str) -> Option<&'static Table> {
    GRAPH_TABLES.iter().find(|t| t.name == name)
}

pub fn decoded_table(name: &str) -> Option<&'static Table> {
    DECODED_TABLES.iter().find(|t| t.name == name)
}

pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

impl Table {
    pub fn arrow_schema(&self) -> SchemaRef {
        let fields: Vec<Field> = self
            .columns
            .iter()
            .map(|c| Field::new(c.name, c.ty.arrow(), c.nullable))
            .collect();
        Arc::new(Schema::new(fields))
    }

    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// Columns worth dictionary encoding in Parquet.
    pub fn dictionary_columns(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.columns
            .iter()
            .filter(|c| matches!(c.ty, ColType::Tag | ColType::TextList))
            .map(|c| c.name)
    }
}

/// The raw-table part of docs/schema.md.
pub fn markdown() -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "<!-- generated by `agentsight schema --markdown` from analyzer/src/schema.rs; do not edit by hand -->\n\
         ## Raw tables (schema version {SCHEMA_VERSION})\n\n\
         Every raw table lives in `<capture>/<table>/seg-NNNNNN.parquet` (zstd, dictionary-encoded tags).\n\
         Times are kernel CLOCK_BOOTTIME nanoseconds; the manifest's `boot_anchor` maps them to wall clock.\n\n"
    ));
    for t in TABLES {
        table_markdown(&mut out, t);
    }
    out.push_str(
        "## Decoded tables\n\n\
         Derived by the analyzer from `tls_chunks`, `tls_events` and `net_events` when a query first\n\
         names one of them; never stored in a capture, so they always match the capture's segments.\n\n",
    );
    for t in DECODED_TABLES {
        table_markdown(&mut out, t);
    }
    out.push_str(
        "## Causal graph tables\n\n\
         Derived by the analyzer from the raw process, file and network tables and the decoded LLM\n\
         tables when a query first names one of them (see docs/views.md, \"Causal graph\").\n\n",
    );
    for t in GRAPH_TABLES {
        table_markdown(&mut out, t);
    }
    out.push_str(
        "## Analysis tables\n\n\
         `capture_health` is built from the manifests when a capture is opened; `findings` is what\n\
         `agentsight anomalies` writes (see docs/anomalies.md).\n\n",
    );
    for t in ANALYSIS_TABLES {
        table_markdown(&mut out, t);
    }
    out
}

fn table_markdown(out: &mut String, t: &Table) {
    out.push_str(&format!(
        "### `{}`\n\n{}\n\n| column | type | null | meaning |\n|---|---|---|---|\n",
        t.name, t.doc
    ));
    for c in t.columns {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            c.name,
            c.ty.doc_name(),
            if c.nullable { "yes" } else { "no" },
            c.doc.replace('|', "\\|")
        ));
    }
    out.push('\n');
}

/// Process key from a pid and its start time in CLOCK_BOOTTIME ns.
/// Truncating to 10 ms ticks makes keys computed from BPF (ns) and from
/// /proc/PID/stat (ticks) agree.
pub fn proc_key(pid: u32, start_boottime_ns: u64) -> u64 {
    let ticks = start_boottime_ns / 10_000_000;
    (ticks << 22) | (pid as u64 & 0x3f_ffff)
}

/// Inverse of [`proc_key`]: (pid, start ns rounded down to the tick).
pub fn split_proc_key(key: u64) -> (u32, u64) {
    ((key & 0x3f_ffff) as u32, (key >> 22) * 10_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_key_round_trips_and_matches_proc_ticks() {
        let ns = 123_456_789_012u64;
        let key = proc_key(4_194_303, ns);
        assert_eq!(split_proc_key(key), (4_194_303, 123_450_000_000));
        // /proc/PID/stat starttime in ticks of 10 ms gives the same key
        assert_eq!(
            proc_key(77, 12_345 * 10_000_000 + 9_999_999),
            proc_key(77, 12_345 * 10_000_000)
        );
        assert_ne!(proc_key(77, ns), proc_key(78, ns));
    }

    /// docs/schema.md carries the generated block verbatim; rerun with
    /// UPDATE_DOCS=1 to refresh it after changing a table.
    #[test]
    fn docs_schema_md_matches_the_schema_module() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/schema.md");
        let doc = std::fs::read_to_string(path).expect("docs/schema.md");
        let (begin, end) = ("<!-- BEGIN GENERATED -->\n", "<!-- END GENERATED -->");
        let start = doc.find(begin).expect("begin marker") + begin.len();
        let stop = doc.find(end).expect("end marker");
        let generated = markdown();
        if std::env::var_os("UPDATE_DOCS").is_some() {
            let updated = format!("{}{}{}", &doc[..start], generated, &doc[stop..]);
            std::fs::write(path, updated).unwrap();
            return;
        }
        assert_eq!(&doc[start..stop], generated, "docs/schema.md is stale: run UPDATE_DOCS=1 cargo test -p agentsight-analyzer docs_schema");
    }

    #[test]
    fn every_table_has_time_and_unique_columns() {
        for t in TABLES {
            assert_eq!(t.columns[0].name, "ts_ns", "{}", t.name);
            let mut names: Vec<_> = t.columns.iter().map(|c| c.name).collect();
            names.sort();
            names.dedup();
            assert_eq!(
                names.len(),
                t.columns.len(),
                "duplicate column in {}",
                t.name
            );
        }
        assert_eq!(RAW_TABLES.len(), TABLES.len());
        for t in DECODED_TABLES.iter().chain(GRAPH_TABLES) {
            assert_eq!(t.columns[0].name, "ts_ns", "{}", t.name);
            assert!(
                table(t.name).is_none(),
                "{} is both raw and decoded",
                t.name
            );
        }
        for name in RAW_TABLES {
            assert!(table(name).is_some());
        }
    }
}
