//! Decoded rows as Arrow batches, column for column in the order the schema
//! module declares (`RecordBatch::try_new` rejects any mismatch).

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Int32Array, RecordBatch, StringArray, UInt16Array,
    UInt32Array, UInt64Array,
};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::Result;

use super::{CallRow, ConversationRow, Decoded, HttpRow, MessageRow, ToolRow};
use agentsight_capture::schema::{self, Table};

pub(crate) fn u64s<R>(rows: &[R], f: impl Fn(&R) -> u64) -> ArrayRef {
    Arc::new(UInt64Array::from_iter_values(rows.iter().map(f)))
}
pub(crate) fn opt_u64s<R>(rows: &[R], f: impl Fn(&R) -> Option<u64>) -> ArrayRef {
    Arc::new(rows.iter().map(f).collect::<UInt64Array>())
}
pub(crate) fn u32s<R>(rows: &[R], f: impl Fn(&R) -> u32) -> ArrayRef {
    Arc::new(UInt32Array::from_iter_values(rows.iter().map(f)))
}
pub(crate) fn i32s<R>(rows: &[R], f: impl Fn(&R) -> i32) -> ArrayRef {
    Arc::new(Int32Array::from_iter_values(rows.iter().map(f)))
}
pub(crate) fn opt_i32s<R>(rows: &[R], f: impl Fn(&R) -> Option<i32>) -> ArrayRef {
    Arc::new(rows.iter().map(f).collect::<Int32Array>())
}
pub(crate) fn opt_u16s<R>(rows: &[R], f: impl Fn(&R) -> Option<u16>) -> ArrayRef {
    Arc::new(rows.iter().map(f).collect::<UInt16Array>())
}
pub(crate) fn bools<R>(rows: &[R], f: impl Fn(&R) -> bool) -> ArrayRef {
    Arc::new(rows.iter().map(|r| Some(f(r))).collect::<BooleanArray>())
}
pub(crate) fn opt_bools<R>(rows: &[R], f: impl Fn(&R) -> Option<bool>) -> ArrayRef {
    Arc::new(rows.iter().map(f).collect::<BooleanArray>())
}
pub(crate) fn strs<'a, R>(rows: &'a [R], f: impl Fn(&'a R) -> &'a str) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
}
pub(crate) fn opt_strs<'a, R>(rows: &'a [R], f: impl Fn(&'a R) -> Option<&'a str>) -> ArrayRef {
    Arc::new(rows.iter().map(f).collect::<StringArray>())
}
pub(crate) fn opt_bytes<'a, R>(rows: &'a [R], f: impl Fn(&'a R) -> Option<&'a [u8]>) -> ArrayRef {
    Arc::new(rows.iter().map(f).collect::<BinaryArray>())
}

/// Rows per batch: bounded so no Binary/Utf8 column passes 2 GiB of
/// offsets even with multi-megabyte bodies.
const ROWS_PER_BATCH: usize = 256;

/// The columns a scan reads, as sorted schema indexes (`None`: all). Only
/// those are built: a query of `http_exchanges` addresses must not copy
/// every body.
#[derive(Clone, Copy)]
pub(crate) struct Want<'a>(Option<&'a [usize]>);

impl Want<'_> {
    pub(crate) fn has(&self, column: usize) -> bool {
        self.0.is_none_or(|p| p.binary_search(&column).is_ok())
    }
}

/// The wanted ones of a table's column expressions, in schema order; the
/// others are not evaluated.
macro_rules! columns {
    ($want:expr; $($column:expr),* $(,)?) => {{
        let want: Want = $want;
        let mut out: Vec<ArrayRef> = Vec::new();
        let mut index = 0usize;
        $(
            if want.has(index) {
                out.push($column);
            }
            index += 1;
        )*
        let _ = index;
        out
    }};
}

/// Batches of the wanted columns (`want` sorted), with their schema.
fn projected_batches<R>(
    table: &Table,
    rows: &[R],
    want: Option<&[usize]>,
    columns: impl Fn(&[R], Want) -> Vec<ArrayRef>,
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let full = table.arrow_schema();
    let schema = match want {
        Some(p) => Arc::new(full.project(p)?),
        None => full,
    };
    let batches = rows
        .chunks(ROWS_PER_BATCH)
        .map(|part| {
            let cols = columns(part, Want(want));
            let options = datafusion::arrow::record_batch::RecordBatchOptions::new()
                .with_row_count(Some(part.len()));
            Ok(RecordBatch::try_new_with_options(
                schema.clone(),
                cols,
                &options,
            )?)
        })
        .collect::<Result<_>>()?;
    Ok((schema, batches))
}

/// [`batches`] with a chosen batch size, for tables of small rows.
pub(crate) fn batches_of<R>(
    table: &Table,
    rows: &[R],
    rows_per_batch: usize,
    columns: impl Fn(&[R]) -> Vec<ArrayRef>,
) -> Result<Vec<RecordBatch>> {
    let schema = table.arrow_schema();
    rows.chunks(rows_per_batch)
        .map(|part| Ok(RecordBatch::try_new(schema.clone(), columns(part))?))
        .collect()
}

fn http_columns(r: &[HttpRow], want: Want) -> Vec<ArrayRef> {
    columns![want;
        u64s(r, |x| x.ts_ns),
        strs(r, |x| &x.conn.capture),
        u64s(r, |x| x.conn.conn_id),
        u32s(r, |x| x.exchange_index),
        i32s(r, |x| x.conn.pid),
        u64s(r, |x| x.conn.proc_key),
        strs(r, |x| &x.conn.comm),
        u64s(r, |x| x.conn.ssl_ptr),
        opt_i32s(r, |x| x.conn.fd),
        opt_strs(r, |x| x.conn.sni.as_deref()),
        opt_strs(r, |x| x.conn.tuple.local_addr.as_deref()),
        opt_u16s(r, |x| x.conn.tuple.local_port),
        opt_strs(r, |x| x.conn.tuple.remote_addr.as_deref()),
        opt_u16s(r, |x| x.conn.tuple.remote_port),
        strs(r, |x| x.http_version),
        opt_strs(r, |x| x.method.as_deref()),
        opt_strs(r, |x| x.host.as_deref()),
        opt_strs(r, |x| x.path.as_deref()),
        opt_u16s(r, |x| x.status),
        opt_strs(r, |x| x.request_headers.as_deref()),
        opt_strs(r, |x| x.response_headers.as_deref()),
        opt_strs(r, |x| x.request_content_type.as_deref()),
        opt_strs(r, |x| x.response_content_type.as_deref()),
        opt_strs(r, |x| x.response_content_encoding.as_deref()),
        u64s(r, |x| x.request_body_len),
        u64s(r, |x| x.response_body_len),
        opt_bytes(r, |x| x.request_body.as_deref()),
        opt_bytes(r, |x| x.response_body.as_deref()),
        opt_u64s(r, |x| x.request_end_ns),
        opt_u64s(r, |x| x.response_first_byte_ns),
        opt_u64s(r, |x| x.response_body_first_ns),
        opt_u64s(r, |x| x.response_end_ns),
        bools(r, |x| !x.problems.is_empty()),
        Arc::new(
            r.iter()
                .map(|x| (!x.problems.is_empty()).then(|| x.problems.join(",")))
                .collect::<StringArray>(),
        ),
    ]
}

fn call_columns(r: &[CallRow], want: Want) -> Vec<ArrayRef> {
    columns![want;
        u64s(r, |x| x.ts_ns),
        strs(r, |x| &x.capture),
        u64s(r, |x| x.call_id),
        u64s(r, |x| x.conversation_id),
        u32s(r, |x| x.turn),
        u64s(r, |x| x.conn_id),
        u32s(r, |x| x.exchange_index),
        i32s(r, |x| x.pid),
        u64s(r, |x| x.proc_key),
        strs(r, |x| &x.comm),
        strs(r, |x| x.call.provider.as_str()),
        opt_strs(r, |x| x.host.as_deref()),
        opt_strs(r, |x| x.path.as_deref()),
        opt_u16s(r, |x| x.status),
        opt_strs(r, |x| x.call.model.as_deref()),
        bools(r, |x| x.call.streaming),
        opt_strs(r, |x| x.call.stop_reason.as_deref()),
        opt_strs(r, |x| x.call.response_id.as_deref()),
        opt_u64s(r, |x| x.call.input_tokens),
        opt_u64s(r, |x| x.call.output_tokens),
        opt_u64s(r, |x| x.call.cache_read_tokens),
        opt_u64s(r, |x| x.call.cache_creation_tokens),
        opt_u64s(r, |x| x.call.reasoning_tokens),
        opt_u64s(r, |x| x.ttfb_ns),
        opt_u64s(r, |x| x.duration_ns),
        u32s(r, |x| x.call.request_messages.len() as u32),
        Arc::new(
            r.iter()
                .map(CallRow::request_summary)
                .collect::<StringArray>(),
        ),
        strs(r, |x| &x.call.response_text),
        strs(r, |x| &x.call.thinking_text),
        u32s(r, |x| x.call.tool_calls.len() as u32),
        opt_strs(r, |x| x.call.error.as_deref()),
        bools(r, |x| x.call.partial),
        u32s(r, |x| x.call.bad_events as u32),
    ]
}

fn message_columns(d: &Decoded, r: &[MessageRow], want: Want) -> Vec<ArrayRef> {
    let call = |m: &MessageRow| &d.calls[m.call];
    // role, text and parts (columns 6-8) need the message itself.
    let messages: Vec<_> = if (6..=8).any(|c| want.has(c)) {
        r.iter().map(|m| d.message(m)).collect()
    } else {
        Vec::new()
    };
    columns![want;
        u64s(r, |x| call(x).ts_ns),
        strs(r, |x| &call(x).capture),
        u64s(r, |x| call(x).call_id),
        u64s(r, |x| call(x).conversation_id),
        u32s(r, |x| {
            x.request_index
                .unwrap_or(call(x).call.request_messages.len()) as u32
        }),
        strs(r, |x| {
            if x.request_index.is_some() {
                "request"
            } else {
                "response"
            }
        }),
        Arc::new(StringArray::from_iter_values(
            messages.iter().map(|m| m.role.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            messages.iter().map(|m| m.text.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            messages
                .iter()
                .map(|m| serde_json::to_string(&m.parts).unwrap_or_default()),
        )),
        bools(r, |x| x.new_in_conversation),
    ]
}

fn tool_columns(r: &[ToolRow], want: Want) -> Vec<ArrayRef> {
    columns![want;
        u64s(r, |x| x.ts_ns),
        strs(r, |x| &x.capture),
        u64s(r, |x| x.call_id),
        u64s(r, |x| x.conversation_id),
        u32s(r, |x| x.tool_index),
        strs(r, |x| &x.tool_call_id),
        strs(r, |x| &x.name),
        strs(r, |x| &x.arguments_json),
        opt_u64s(r, |x| x.result_call_id),
        opt_u64s(r, |x| x.result_ns),
        opt_strs(r, |x| x.result_text.as_deref()),
        opt_bools(r, |x| x.result_is_error),
    ]
}

fn conversation_columns(r: &[ConversationRow], want: Want) -> Vec<ArrayRef> {
    columns![want;
        u64s(r, |x| x.ts_ns),
        strs(r, |x| &x.capture),
        u64s(r, |x| x.conversation_id),
        i32s(r, |x| x.pid),
        u64s(r, |x| x.proc_key),
        strs(r, |x| &x.comm),
        strs(r, |x| x.provider.as_str()),
        opt_strs(r, |x| x.model.as_deref()),
        u32s(r, |x| x.calls),
        u64s(r, |x| x.end_ns),
        u64s(r, |x| x.input_tokens),
        u64s(r, |x| x.output_tokens),
        u64s(r, |x| x.cache_read_tokens),
        u64s(r, |x| x.cache_creation_tokens),
        u32s(r, |x| x.tool_calls),
        opt_strs(r, |x| x.first_user_text.as_deref()),
        strs(r, |x| &x.final_text),
        u32s(r, |x| x.partial_calls),
    ]
}

/// What a scan of a decoded table asks for.
#[derive(Clone, Copy, Default)]
pub struct Scan<'a> {
    /// Sorted column indexes to build (`None`: all).
    pub columns: Option<&'a [usize]>,
    /// `llm_messages` only: just the rows with `new_in_conversation`.
    pub new_messages_only: bool,
}

/// The batches of one decoded table by name, with their schema.
pub fn table_batches(d: &Decoded, name: &str, scan: Scan) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let table = schema::decoded_table(name).ok_or_else(|| {
        datafusion::common::DataFusionError::Plan(format!("{name} is not a decoded table"))
    })?;
    let want = scan.columns;
    match name {
        schema::HTTP_EXCHANGES => projected_batches(table, &d.http, want, http_columns),
        schema::LLM_CALLS => projected_batches(table, &d.calls, want, call_columns),
        schema::LLM_MESSAGES if scan.new_messages_only => {
            let new: Vec<MessageRow> = d
                .messages
                .iter()
                .filter(|m| m.new_in_conversation)
                .cloned()
                .collect();
            projected_batches(table, &new, want, |r, w| message_columns(d, r, w))
        }
        schema::LLM_MESSAGES => {
            projected_batches(table, &d.messages, want, |r, w| message_columns(d, r, w))
        }
        schema::TOOL_CALLS => projected_batches(table, &d.tools, want, tool_columns),
        _ => projected_batches(table, &d.conversations, want, conversation_columns),
    }
}
