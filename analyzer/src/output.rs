//! Result output: readable tables for people, JSON/CSV/Parquet for tools.
//!
//! Binary columns (TLS plaintext) are shown as text with invalid UTF-8 as
//! `\xNN` in every text format, so a payload is readable and never written
//! raw to a terminal. Tables cut wide cells with `…` and escape line breaks,
//! so one row stays one line.

use std::io::Write;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use comfy_table::{presets, Cell, CellAlignment, ContentArrangement, Table};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::udf::bytes_text;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned table for reading (default).
    Table,
    /// One JSON array of row objects.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// CSV with a header line.
    Csv,
    /// Parquet file (needs -o, or stdout that is not a terminal).
    Parquet,
}

const TS_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";

fn format_options(null: &str) -> FormatOptions<'_> {
    FormatOptions::new()
        .with_null(null)
        .with_timestamp_tz_format(Some(TS_FORMAT))
        .with_display_error(true)
}

fn is_binary(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::FixedSizeBinary(_)
    )
}

fn is_nested(t: &DataType) -> bool {
    matches!(
        t,
        DataType::List(_)
            | DataType::LargeList(_)
            | DataType::ListView(_)
            | DataType::LargeListView(_)
            | DataType::FixedSizeList(_, _)
            | DataType::Struct(_)
            | DataType::Map(_, _)
            | DataType::Union(_, _)
    )
}

fn binary_as_text(a: &ArrayRef) -> Result<ArrayRef> {
    let b = datafusion::arrow::compute::cast(a, &DataType::Binary)?;
    let mut out = StringBuilder::new();
    for v in b.as_binary::<i32>().iter() {
        out.append_option(v.map(bytes_text));
    }
    Ok(Arc::new(out.finish()))
}

fn display_as_text(a: &ArrayRef) -> Result<ArrayRef> {
    let opts = format_options("");
    let f = ArrayFormatter::try_new(a.as_ref(), &opts)?;
    let v: StringArray = (0..a.len())
        .map(|i| a.is_valid(i).then(|| f.value(i).to_string()))
        .collect();
    Ok(Arc::new(v))
}

/// Converts binary columns to text (and, with `flatten`, nested columns to
/// their display text) so text writers can take them.
pub fn textual(batch: &RecordBatch, flatten: bool) -> Result<RecordBatch> {
    let schema = batch.schema();
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut cols = Vec::with_capacity(schema.fields().len());
    for (f, c) in schema.fields().iter().zip(batch.columns()) {
        if is_binary(f.data_type()) {
            fields.push(Field::new(f.name(), DataType::Utf8, true));
            cols.push(binary_as_text(c)?);
        } else if flatten && is_nested(f.data_type()) {
            fields.push(Field::new(f.name(), DataType::Utf8, true));
            cols.push(display_as_text(c)?);
        } else {
            fields.push(f.as_ref().clone());
            cols.push(c.clone());
        }
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
}

/// One table cell: control characters escaped, cut to `max` characters
/// (0 = no limit) with a trailing `…` when something was left out.
pub fn cell_text(s: &str, max: usize) -> String {
    let mut out = String::new();
    let mut count = 0usize;
    for c in s.chars() {
        let escaped;
        let piece: &str = match c {
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            c if c.is_control() => {
                escaped = format!("\\x{:02x}", c as u32);
                &escaped
            }
            _ => {
                escaped = c.to_string();
                &escaped
            }
        };
        for pc in piece.chars() {
            if max > 0 && count == max {
                out.pop();
                out.push('…');
                return out;
            }
            out.push(pc);
            count += 1;
        }
    }
    out
}

fn right_aligned(t: &DataType) -> bool {
    t.is_numeric()
}

/// Width of the terminal stdout is attached to, if it is one.
pub fn terminal_width() -> Option<usize> {
    Table::new().width().map(usize::from)
}

/// Cells of a result as display text, cut to `max_cell`.
struct Grid {
    headers: Vec<String>,
    right: Vec<bool>,
    rows: Vec<Vec<String>>,
    total: usize,
}

fn grid(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    max_cell: usize,
    max_rows: usize,
) -> Result<Grid> {
    let total: usize = batches.iter().map(|b| b.num_rows()).sum();
    let opts = format_options("NULL");
    let mut rows = Vec::new();
    'outer: for batch in batches {
        let batch = textual(batch, false)?;
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            if max_rows > 0 && rows.len() >= max_rows {
                break 'outer;
            }
            rows.push(
                formatters
                    .iter()
                    .map(|f| cell_text(&f.value(row).to_string(), max_cell))
                    .collect(),
            );
        }
    }
    Ok(Grid {
        headers: schema
            .fields()
            .iter()
            .map(|f| cell_text(f.name(), max_cell))
            .collect(),
        right: schema
            .fields()
            .iter()
            .map(|f| right_aligned(f.data_type()))
            .collect(),
        rows,
        total,
    })
}

impl Grid {
    /// Display width of each column when cells are cut to `max`.
    fn widths(&self, max: usize) -> Vec<usize> {
        (0..self.headers.len())
            .map(|c| {
                std::iter::once(&self.headers[c])
                    .chain(self.rows.iter().map(|r| &r[c]))
                    .map(|s| cell_text(s, max).chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect()
    }

    /// `cols`: column index, or None for an elision marker column.
    fn render(&self, cols: &[Option<usize>], max: usize) -> String {
        let mut table = Table::new();
        table
            .load_preset(presets::UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Disabled);
        let text = |s: &String| cell_text(s, max);
        table.set_header(cols.iter().map(|c| {
            Cell::new(
                c.map(|c| text(&self.headers[c]))
                    .unwrap_or_else(|| "…".into()),
            )
        }));
        for r in &self.rows {
            table.add_row(
                cols.iter()
                    .map(|c| Cell::new(c.map(|c| text(&r[c])).unwrap_or_else(|| "…".into()))),
            );
        }
        for (i, c) in cols.iter().enumerate() {
            if c.is_some_and(|c| self.right[c]) {
                if let Some(col) = table.column_mut(i) {
                    col.set_cell_alignment(CellAlignment::Right);
                }
            }
        }
        let mut out = table.to_string();
        out.push('\n');
        let shown = self.rows.len();
        let mut notes = Vec::new();
        if shown < self.total {
            notes.push(format!(
                "{} rows, first {shown} shown; use --max-rows 0 or another --format for all",
                self.total
            ));
        } else {
            notes.push(format!(
                "{} row{}",
                self.total,
                if self.total == 1 { "" } else { "s" }
            ));
        }
        let visible = cols.iter().filter(|c| c.is_some()).count();
        if visible < self.headers.len() {
            notes.push(format!("{} columns, {visible} shown to fit the terminal; select fewer columns or use --format", self.headers.len()));
        }
        out.push_str(&format!("({})\n", notes.join("; ")));
        out
    }
}

/// Renders batches as an aligned table. `max_cell` cuts wide cells (0 = no
/// limit); `max_rows` stops after that many rows (0 = all) and says so.
pub fn render_table(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    max_cell: usize,
    max_rows: usize,
) -> Result<String> {
    let g = grid(schema, batches, max_cell, max_rows)?;
    let all: Vec<Option<usize>> = (0..g.headers.len()).map(Some).collect();
    Ok(g.render(&all, max_cell))
}

/// Like [`render_table`], but fits the table into `width` columns of text:
/// first narrows wide cells (down to 16 characters), then leaves out middle
/// columns behind a `…` column and says so, the way a person reads a table
/// on a terminal. One row always stays one line.
pub fn render_table_fit(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    max_cell: usize,
    max_rows: usize,
    width: usize,
) -> Result<String> {
    let g = grid(schema, batches, max_cell, max_rows)?;
    let n = g.headers.len();
    // Every column costs its width plus 3 (padding and separator), plus 1 border.
    let table_width = |ws: &[usize]| ws.iter().map(|w| w + 3).sum::<usize>() + 1;
    let mut limit = if max_cell == 0 { usize::MAX } else { max_cell };
    loop {
        let ws = g.widths(limit);
        if table_width(&ws) <= width || limit <= 16 {
            if table_width(&ws) <= width {
                let all: Vec<Option<usize>> = (0..n).map(Some).collect();
                return Ok(g.render(&all, limit));
            }
            // Keep columns from both ends while they fit beside a `…` column.
            let mut left = Vec::new();
            let mut right = Vec::new();
            let mut used = 1 + 4;
            let (mut lo, mut hi) = (0usize, n);
            let mut take_left = true;
            while lo < hi {
                let c = if take_left { lo } else { hi - 1 };
                if used + ws[c] + 3 > width {
                    break;
                }
                used += ws[c] + 3;
                if take_left {
                    left.push(Some(c));
                    lo += 1;
                } else {
                    right.insert(0, Some(c));
                    hi -= 1;
                }
                take_left = !take_left;
            }
            if left.is_empty() {
                left.push(Some(0));
            }
            let mut cols = left;
            if lo < hi {
                cols.push(None);
            }
            cols.extend(right);
            return Ok(g.render(&cols, limit));
        }
        limit = if limit == usize::MAX {
            60
        } else {
            (limit * 2 / 3).max(16)
        };
    }
}

enum Sink {
    Json(datafusion::arrow::json::ArrayWriter<Box<dyn Write + Send>>),
    Ndjson(datafusion::arrow::json::LineDelimitedWriter<Box<dyn Write + Send>>),
    Csv(datafusion::arrow::csv::Writer<Box<dyn Write + Send>>),
    Parquet(parquet::arrow::ArrowWriter<Box<dyn Write + Send>>),
}

/// Streams result batches to a writer in one of the machine formats.
pub struct ResultWriter {
    sink: Sink,
    schema: SchemaRef,
    rows: usize,
    batches: usize,
}

impl ResultWriter {
    pub fn new(format: Format, schema: SchemaRef, w: Box<dyn Write + Send>) -> Result<Self> {
        let sink = match format {
            Format::Table => bail!("table format is rendered with render_table"),
            Format::Json => Sink::Json(datafusion::arrow::json::ArrayWriter::new(w)),
            Format::Ndjson => Sink::Ndjson(datafusion::arrow::json::LineDelimitedWriter::new(w)),
            Format::Csv => Sink::Csv(
                datafusion::arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .with_timestamp_tz_format(TS_FORMAT.to_string())
                    .build(w),
            ),
            Format::Parquet => Sink::Parquet(
                parquet::arrow::ArrowWriter::try_new(w, schema.clone(), None)
                    .context("starting Parquet output")?,
            ),
        };
        Ok(ResultWriter {
            sink,
            schema,
            rows: 0,
            batches: 0,
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.rows += batch.num_rows();
        self.batches += 1;
        match &mut self.sink {
            Sink::Json(j) => j.write(&textual(batch, false)?)?,
            Sink::Ndjson(j) => j.write(&textual(batch, false)?)?,
            Sink::Csv(c) => c.write(&textual(batch, true)?)?,
            Sink::Parquet(p) => p.write(batch)?,
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<()> {
        match self.sink {
            Sink::Json(mut j) => {
                j.finish()?;
                // arrow writes `[]` for an empty result, so it stays a JSON document.
                let mut w = j.into_inner();
                w.write_all(b"\n")?;
                w.flush()?;
            }
            Sink::Ndjson(mut j) => {
                j.finish()?;
                j.into_inner().flush()?;
            }
            Sink::Csv(mut c) => {
                if self.batches == 0 {
                    // Still print the header line.
                    let empty = textual(&RecordBatch::new_empty(self.schema.clone()), true)?;
                    c.write(&empty)?;
                }
                c.into_inner().flush()?;
            }
            Sink::Parquet(p) => {
                p.close()?;
            }
        }
        self.rows = 0;
        Ok(())
    }
}

/// Writes batches in a machine format to `w`.
pub fn write_results(
    format: Format,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    w: Box<dyn Write + Send>,
) -> Result<()> {
    let mut rw = ResultWriter::new(format, schema.clone(), w)?;
    for b in batches {
        rw.write(b)?;
    }
    rw.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{BinaryArray, Int64Array};

    #[test]
    fn cells_are_cut_and_escaped() {
        assert_eq!(cell_text("abcdef", 4), "abc…");
        assert_eq!(cell_text("abcd", 4), "abcd");
        assert_eq!(cell_text("a\nb", 0), "a\\nb");
        assert_eq!(cell_text("héllo wörld", 6), "héllo…");
        assert_eq!(cell_text("", 3), "");
    }

    fn sample() -> (SchemaRef, Vec<RecordBatch>) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, true),
            Field::new("data", DataType::Binary, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![Some(1), None])),
                Arc::new(BinaryArray::from(vec![Some(&b"GET /\r\n\xff"[..]), None])),
            ],
        )
        .unwrap();
        (schema, vec![batch])
    }

    /// A writer the test can read back after the ResultWriter is done.
    #[derive(Clone, Default)]
    struct Shared(Arc<std::sync::Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn written(format: Format, schema: &SchemaRef, batches: &[RecordBatch]) -> Vec<u8> {
        let buf = Shared::default();
        write_results(format, schema, batches, Box::new(buf.clone())).unwrap();
        let v = buf.0.lock().unwrap().clone();
        v
    }

    #[test]
    fn table_json_csv() {
        let (schema, batches) = sample();
        let t = render_table(&schema, &batches, 40, 0).unwrap();
        assert!(t.contains("GET /\\r\\n\\xff"), "{t}");
        assert!(t.contains("NULL") && t.contains("(2 rows)"), "{t}");
        let t = render_table(&schema, &batches, 40, 1).unwrap();
        assert!(t.contains("first 1 shown"), "{t}");
        // Fitting narrows cells first, then elides middle columns.
        let wide = Arc::new(Schema::new(
            (0..12)
                .map(|i| Field::new(format!("column_{i}"), DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ));
        let long = "x".repeat(50);
        let cols: Vec<ArrayRef> = (0..12)
            .map(|_| Arc::new(StringArray::from(vec![long.as_str()])) as ArrayRef)
            .collect();
        let wb = vec![RecordBatch::try_new(wide.clone(), cols).unwrap()];
        let t = render_table_fit(&wide, &wb, 60, 0, 100).unwrap();
        assert!(t.lines().all(|l| l.chars().count() <= 100), "{t}");
        assert!(
            t.contains("12 columns, ") && t.contains("column_0") && t.contains("column_11"),
            "{t}"
        );
        let t = render_table_fit(&schema, &batches, 60, 0, 100).unwrap();
        assert_eq!(t, render_table(&schema, &batches, 60, 0).unwrap());

        let v: serde_json::Value =
            serde_json::from_slice(&written(Format::Json, &schema, &batches)).unwrap();
        assert_eq!(v[0]["data"], "GET /\r\n\\xff");
        assert_eq!(v[0]["n"], 1);

        let text = String::from_utf8(written(Format::Csv, &schema, &batches)).unwrap();
        assert!(text.starts_with("n,data\n1,"), "{text}");

        assert_eq!(
            String::from_utf8(written(Format::Json, &schema, &[]))
                .unwrap()
                .trim(),
            "[]"
        );
        assert_eq!(
            String::from_utf8(written(Format::Csv, &schema, &[]))
                .unwrap()
                .trim(),
            "n,data"
        );
        let ndjson = String::from_utf8(written(Format::Ndjson, &schema, &batches)).unwrap();
        assert_eq!(ndjson.lines().count(), 2);
        let pq = written(Format::Parquet, &schema, &batches);
        assert_eq!(&pq[..4], b"PAR1");
    }
}
