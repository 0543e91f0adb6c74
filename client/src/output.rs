//! Printing results: an aligned table (or psql-style expanded records), CSV with a
//! header line, or a JSON array of objects. CSV and JSON stream batch by batch.

use std::io::Write;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use comfy_table::{Cell, ContentArrangement, Table, presets};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An aligned table.
    Table,
    /// A header line, then one line per row.
    Csv,
    /// A JSON array with one object per row.
    Json,
}

/// Writes a result to `out` in a streaming format.
pub struct StreamWriter<W: Write> {
    inner: Inner<W>,
}

enum Inner<W: Write> {
    Csv(Box<arrow::csv::Writer<W>>),
    Json(arrow::json::ArrayWriter<W>),
}

impl<W: Write> StreamWriter<W> {
    /// A CSV or JSON writer; `None` for formats that need the whole result, and for
    /// statements without a result (DDL), which print nothing in these formats.
    pub fn new(format: Format, out: W, schema: &SchemaRef) -> Result<Option<Self>, ArrowError> {
        if schema.fields().is_empty() {
            return Ok(None);
        }
        let inner = match format {
            Format::Table => return Ok(None),
            Format::Csv => {
                let mut writer = arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(out);
                // The header goes out even when there are no rows.
                writer.write(&RecordBatch::new_empty(std::sync::Arc::clone(schema)))?;
                Inner::Csv(Box::new(writer))
            }
            Format::Json => Inner::Json(arrow::json::ArrayWriter::new(out)),
        };
        Ok(Some(Self { inner }))
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), ArrowError> {
        match &mut self.inner {
            Inner::Csv(w) => w.write(batch),
            Inner::Json(w) => w.write(batch),
        }
    }

    pub fn finish(self) -> Result<(), ArrowError> {
        match self.inner {
            Inner::Csv(w) => w.into_inner().flush().map_err(ArrowError::from),
            Inner::Json(mut w) => {
                w.finish()?;
                let mut out = w.into_inner();
                writeln!(out)?;
                out.flush().map_err(ArrowError::from)
            }
        }
    }
}

fn format_options() -> FormatOptions<'static> {
    FormatOptions::default().with_null("NULL")
}

/// The rows of `batches` as display strings (`NULL` for nulls), one vector per row.
pub fn rows(batches: &[RecordBatch]) -> Result<Vec<Vec<String>>, ArrowError> {
    let options = format_options();
    let mut rows = Vec::new();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            rows.push(
                formatters
                    .iter()
                    .map(|f| f.value(row).to_string())
                    .collect(),
            );
        }
    }
    Ok(rows)
}

/// Renders `batches` as an aligned table.
pub fn table(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<String, ArrowError> {
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(schema.fields().iter().map(|f| Cell::new(f.name())));
    for row in rows(batches)? {
        table.add_row(row);
    }
    Ok(table.to_string())
}

/// Renders `batches` as psql's expanded display: one block per record.
pub fn expanded(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<String, ArrowError> {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for (i, row) in rows(batches)?.into_iter().enumerate() {
        out.push_str(&format!("-[ RECORD {} ]-\n", i + 1));
        for (name, value) in names.iter().zip(row) {
            out.push_str(&format!("{name:<width$} | {value}\n"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![1, 2])),
                Arc::new(StringArray::from(vec![Some("a,b"), None])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn csv_has_a_header_and_quotes() {
        let b = batch();
        let mut out = Vec::new();
        let mut w = StreamWriter::new(Format::Csv, &mut out, &b.schema())
            .unwrap()
            .unwrap();
        w.write(&b).unwrap();
        w.finish().unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "id,name\n1,\"a,b\"\n2,\n");
    }

    #[test]
    fn json_is_an_array_of_objects() {
        let b = batch();
        let mut out = Vec::new();
        let mut w = StreamWriter::new(Format::Json, &mut out, &b.schema())
            .unwrap()
            .unwrap();
        w.write(&b).unwrap();
        w.finish().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v, serde_json::json!([{"id": 1, "name": "a,b"}, {"id": 2}]));
    }

    #[test]
    fn table_and_expanded_show_nulls() {
        let b = batch();
        let t = table(&b.schema(), std::slice::from_ref(&b)).unwrap();
        assert!(t.contains("NULL") && t.contains("a,b"), "{t}");
        let x = expanded(&b.schema(), std::slice::from_ref(&b)).unwrap();
        assert!(
            x.starts_with("-[ RECORD 1 ]-\nid   | 1\nname | a,b\n"),
            "{x}"
        );
    }
}
