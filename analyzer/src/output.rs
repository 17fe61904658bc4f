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
    FormatOptions::new().with_null(null).with_timestamp_tz_format(Some(TS_FORMAT)).with_display_error(true)
}

fn is_binary(t: &DataType) -> bool {
    matches!(t, DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_))
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
    let v: StringArray = (0..a.len()).map(|i| a.is_valid(i).then(|| f.value(i).to_string())).collect();
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

/// Renders batches as an aligned table. `max_cell` cuts wide cells (0 = no
/// limit); `max_rows` stops after that many rows (0 = all) and says so.
pub fn render_table(schema: &SchemaRef, batches: &[RecordBatch], max_cell: usize, max_rows: usize) -> Result<String> {
    let mut table = Table::new();
    table.load_preset(presets::UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Disabled);
    table.set_header(schema.fields().iter().map(|f| Cell::new(cell_text(f.name(), max_cell))));
    let total: usize = batches.iter().map(|b| b.num_rows()).sum();
    let mut shown = 0usize;
    let opts = format_options("NULL");
    'outer: for batch in batches {
        let batch = textual(batch, false)?;
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            if max_rows > 0 && shown >= max_rows {
                break 'outer;
            }
            let cells = formatters.iter().enumerate().map(|(i, f)| {
                let mut cell = Cell::new(cell_text(&f.value(row).to_string(), max_cell));
                if right_aligned(schema.field(i).data_type()) {
                    cell = cell.set_alignment(CellAlignment::Right);
                }
                cell
            });
            table.add_row(cells);
            shown += 1;
        }
    }
    for (i, f) in schema.fields().iter().enumerate() {
        if right_aligned(f.data_type()) {
            if let Some(c) = table.column_mut(i) {
                c.set_cell_alignment(CellAlignment::Right);
            }
        }
    }
    let mut out = table.to_string();
    out.push('\n');
    if shown < total {
        out.push_str(&format!("({total} rows, first {shown} shown; use --max-rows 0 or another --format for all)\n"));
    } else {
        out.push_str(&format!("({total} row{})\n", if total == 1 { "" } else { "s" }));
    }
    Ok(out)
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
                parquet::arrow::ArrowWriter::try_new(w, schema.clone(), None).context("starting Parquet output")?,
            ),
        };
        Ok(ResultWriter { sink, schema, rows: 0, batches: 0 })
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
pub fn write_results(format: Format, schema: &SchemaRef, batches: &[RecordBatch], w: Box<dyn Write + Send>) -> Result<()> {
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

        let v: serde_json::Value = serde_json::from_slice(&written(Format::Json, &schema, &batches)).unwrap();
        assert_eq!(v[0]["data"], "GET /\r\n\\xff");
        assert_eq!(v[0]["n"], 1);

        let text = String::from_utf8(written(Format::Csv, &schema, &batches)).unwrap();
        assert!(text.starts_with("n,data\n1,"), "{text}");

        assert_eq!(String::from_utf8(written(Format::Json, &schema, &[])).unwrap().trim(), "[]");
        assert_eq!(String::from_utf8(written(Format::Csv, &schema, &[])).unwrap().trim(), "n,data");
        let ndjson = String::from_utf8(written(Format::Ndjson, &schema, &batches)).unwrap();
        assert_eq!(ndjson.lines().count(), 2);
        let pq = written(Format::Parquet, &schema, &batches);
        assert_eq!(&pq[..4], b"PAR1");
    }
}
