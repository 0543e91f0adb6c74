//! `COPY INTO`'s reading of landing files: one CSV, JSON-lines or Parquet file read into
//! batches of a table's columns, and the rows that could not be, with their line.
//!
//! Columns are matched by name, ignoring case (CSV without a header: by position);
//! columns the file lacks are NULL, columns the table lacks are ignored. Text (CSV
//! fields, JSON values) is cast to each column's type, dates and timestamps with
//! `DATE_FORMAT` / `TIMESTAMP_FORMAT` when given. A row is rejected when a value does not
//! cast, a required column is NULL, a CSV record has too many fields or a JSON line is
//! not an object; the reject names the file, the line (the record's first line; a
//! Parquet file's row number) and the reason. The columns `_source_file` and
//! `_ingested_at`, when the table has them, get the file's path and the load's time.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, RecordBatch, StringArray,
    TimestampMicrosecondArray, new_null_array,
};
use arrow::compute::kernels::cast::{CastOptions, cast_with_options};
use arrow::compute::{filter, is_not_null};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use bytes::Bytes;
use chrono::{NaiveDate, NaiveDateTime};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::TableError;

/// The column that gets the path of the file a row came from.
pub const SOURCE_FILE: &str = "_source_file";
/// The column that gets the time of the load.
pub const INGESTED_AT: &str = "_ingested_at";

/// How many records a batch holds.
const BATCH_ROWS: usize = 8192;

/// The format of the files.
#[derive(Debug, Clone, PartialEq)]
pub enum Format {
    Csv { header: bool, delimiter: u8 },
    Json,
    Parquet,
}

/// How a file is read.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub format: Format,
    /// chrono's format of dates in text, e.g. `%d/%m/%Y`.
    pub date_format: Option<String>,
    /// chrono's format of timestamps in text.
    pub timestamp_format: Option<String>,
}

/// A row that could not be loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct Reject {
    pub file: String,
    pub line: u64,
    pub reason: String,
    /// The record as the file has it (CSV, JSON), or as read (Parquet).
    pub record: String,
}

/// What one file gave.
#[derive(Debug, Default)]
pub struct Read {
    pub batches: Vec<RecordBatch>,
    pub rejects: Vec<Reject>,
}

/// Reads the file `path`, whose content is `bytes`, as rows of `table` (an Arrow schema
/// of the table's columns) loaded at `ingested_at` (µs since the Unix epoch).
pub fn read(
    path: &str,
    bytes: Bytes,
    table: &SchemaRef,
    options: &Options,
    ingested_at: i64,
) -> Result<Read, TableError> {
    // The columns a file fills, by name in lower case.
    let by_name = table
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| f.name() != SOURCE_FILE && f.name() != INGESTED_AT)
        .map(|(i, f)| (f.name().to_ascii_lowercase(), i))
        .collect();
    let file = File {
        path,
        table,
        by_name,
        options,
        ingested_at,
    };
    let mut read = match &options.format {
        Format::Csv { header, delimiter } => file.read_csv(&bytes, *header, *delimiter),
        Format::Json => file.read_json(&bytes),
        Format::Parquet => file.read_parquet(bytes),
    }?;
    // In the file's order: a record's own faults are found before those of its values.
    read.rejects.sort_by_key(|r| r.line);
    Ok(read)
}

struct File<'a> {
    path: &'a str,
    table: &'a SchemaRef,
    by_name: HashMap<String, usize>,
    options: &'a Options,
    ingested_at: i64,
}

/// Records of text: each with its line, its fields by table column and its raw form.
#[derive(Default)]
struct Texts {
    lines: Vec<u64>,
    records: Vec<String>,
    columns: Vec<Vec<Option<String>>>,
}

impl Texts {
    fn new(width: usize) -> Self {
        Self {
            columns: vec![Vec::new(); width],
            ..Default::default()
        }
    }

    fn len(&self) -> usize {
        self.lines.len()
    }
}

impl File<'_> {
    fn error(&self, what: impl std::fmt::Display) -> TableError {
        TableError::Invalid(format!("cannot read {}: {what}", self.path))
    }

    fn reject(&self, line: u64, reason: String, record: String) -> Reject {
        Reject {
            file: self.path.to_string(),
            line,
            reason,
            record,
        }
    }

    /// The table column a file's column `name` fills, if any.
    fn column(&self, name: &str) -> Option<usize> {
        self.by_name.get(&name.trim().to_ascii_lowercase()).copied()
    }

    fn read_csv(&self, bytes: &[u8], header: bool, delimiter: u8) -> Result<Read, TableError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(header)
            .delimiter(delimiter)
            .flexible(true)
            .from_reader(bytes);
        // Which table column each field fills.
        let targets: Vec<Option<usize>> = match header {
            true => {
                let names = reader.headers().map_err(|e| self.error(e))?.clone();
                names.iter().map(|name| self.column(name)).collect()
            }
            false => (0..self.table.fields().len())
                .filter(|i| {
                    let name = self.table.field(*i).name();
                    name != SOURCE_FILE && name != INGESTED_AT
                })
                .map(Some)
                .collect(),
        };
        let width = self.table.fields().len();
        let mut read = Read::default();
        let mut texts = Texts::new(width);
        let mut record = csv::ByteRecord::new();
        loop {
            let start = reader.position().byte() as usize;
            match reader.read_byte_record(&mut record) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => return Err(self.error(e)),
            }
            let end = reader.position().byte() as usize;
            let line = record.position().map_or(0, |p| p.line());
            // The record as the file has it, quotes and all.
            let raw = String::from_utf8_lossy(&bytes[start..end.min(bytes.len())])
                .trim_end_matches(['\r', '\n'])
                .to_string();
            let Ok(record) = csv::StringRecord::from_byte_record(record.clone()) else {
                let reason = "not UTF-8 text".to_string();
                read.rejects.push(self.reject(line, reason, raw));
                continue;
            };
            if record.len() > targets.len() {
                let reason = format!(
                    "{} fields where the {} has {}",
                    record.len(),
                    if header { "header" } else { "table" },
                    targets.len()
                );
                read.rejects.push(self.reject(line, reason, raw));
                continue;
            }
            let mut fields = vec![None; width];
            for (value, target) in record.iter().zip(&targets) {
                if let Some(column) = target {
                    fields[*column] = Some(value.to_string()).filter(|v| !v.is_empty());
                }
            }
            self.push(&mut texts, line, raw, fields, &mut read)?;
        }
        self.flush(&mut texts, &mut read)?;
        Ok(read)
    }

    fn read_json(&self, bytes: &[u8]) -> Result<Read, TableError> {
        let text = std::str::from_utf8(bytes).map_err(|e| self.error(e))?;
        let width = self.table.fields().len();
        let mut read = Read::default();
        let mut texts = Texts::new(width);
        for (i, raw) in text.lines().enumerate() {
            let line = i as u64 + 1;
            if raw.trim().is_empty() {
                continue;
            }
            let object = match serde_json::from_str::<serde_json::Value>(raw) {
                Ok(serde_json::Value::Object(object)) => object,
                Ok(_) => {
                    let reason = "not a JSON object".to_string();
                    read.rejects
                        .push(self.reject(line, reason, raw.to_string()));
                    continue;
                }
                Err(e) => {
                    let reason = format!("not JSON: {e}");
                    read.rejects
                        .push(self.reject(line, reason, raw.to_string()));
                    continue;
                }
            };
            let mut fields = vec![None; width];
            for (name, value) in object {
                if let Some(column) = self.column(&name) {
                    fields[column] = match value {
                        serde_json::Value::Null => None,
                        serde_json::Value::String(s) => Some(s),
                        other => Some(other.to_string()),
                    };
                }
            }
            self.push(&mut texts, line, raw.to_string(), fields, &mut read)?;
        }
        self.flush(&mut texts, &mut read)?;
        Ok(read)
    }

    fn push(
        &self,
        texts: &mut Texts,
        line: u64,
        raw: String,
        fields: Vec<Option<String>>,
        read: &mut Read,
    ) -> Result<(), TableError> {
        texts.lines.push(line);
        texts.records.push(raw);
        for (column, value) in texts.columns.iter_mut().zip(fields) {
            column.push(value);
        }
        if texts.len() >= BATCH_ROWS {
            self.flush(texts, read)?;
        }
        Ok(())
    }

    /// Casts the records of `texts` into a batch, taking them out.
    fn flush(&self, texts: &mut Texts, read: &mut Read) -> Result<(), TableError> {
        if texts.len() == 0 {
            return Ok(());
        }
        let texts = std::mem::replace(texts, Texts::new(self.table.fields().len()));
        let columns = texts
            .columns
            .into_iter()
            .map(|values| Some(Arc::new(StringArray::from(values)) as ArrayRef))
            .collect();
        let records = |row: usize| texts.records[row].clone();
        self.conform(columns, &texts.lines, &records, read)
    }

    fn read_parquet(&self, bytes: Bytes) -> Result<Read, TableError> {
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .map_err(|e| self.error(e))?
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(|e| self.error(e))?;
        let mut read = Read::default();
        let mut first_row = 1u64;
        for batch in reader {
            let batch = batch.map_err(|e| self.error(e))?;
            let mut columns: Vec<Option<ArrayRef>> = vec![None; self.table.fields().len()];
            for (field, array) in batch.schema().fields().iter().zip(batch.columns()) {
                if let Some(column) = self.column(field.name()) {
                    columns[column] = Some(Arc::clone(array));
                }
            }
            let lines: Vec<u64> = (first_row..first_row + batch.num_rows() as u64).collect();
            first_row += batch.num_rows() as u64;
            let formats = FormatOptions::default().with_null("NULL");
            let formatters = batch
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &formats))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| self.error(e))?;
            let records = |row: usize| {
                formatters
                    .iter()
                    .map(|f| f.value(row).to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            self.conform(columns, &lines, &records, &mut read)?;
        }
        Ok(read)
    }

    /// The rows of `columns` (by table column; `None` where the file has none) as a batch
    /// of the table, into `read`; rows that do not fit it are rejected.
    fn conform(
        &self,
        columns: Vec<Option<ArrayRef>>,
        lines: &[u64],
        records: &dyn Fn(usize) -> String,
        read: &mut Read,
    ) -> Result<(), TableError> {
        let rows = lines.len();
        let mut reasons: Vec<Option<String>> = vec![None; rows];
        let mut arrays = Vec::with_capacity(columns.len());
        for (field, column) in self.table.fields().iter().zip(columns) {
            let array = match (field.name().as_str(), column) {
                (SOURCE_FILE, _) => cast_with_options(
                    &StringArray::from(vec![self.path; rows]),
                    field.data_type(),
                    &CastOptions::default(),
                )?,
                (INGESTED_AT, _) => cast_with_options(
                    &TimestampMicrosecondArray::from(vec![self.ingested_at; rows])
                        .with_timezone("UTC"),
                    field.data_type(),
                    &CastOptions::default(),
                )?,
                (_, None) => new_null_array(field.data_type(), rows),
                (_, Some(values)) => {
                    let cast = self.cast(&values, field.data_type())?;
                    let lost = arrow::compute::and(
                        &is_not_null(&values)?,
                        &arrow::compute::is_null(&cast)?,
                    )?;
                    let text = ArrayFormatter::try_new(values.as_ref(), &FormatOptions::default())?;
                    for row in (0..rows).filter(|row| lost.value(*row)) {
                        let value = text.value(row).to_string();
                        reasons[row].get_or_insert_with(|| {
                            format!(
                                "column {}: '{value}' is not a valid {}",
                                field.name(),
                                type_name(field.data_type())
                            )
                        });
                    }
                    cast
                }
            };
            if !field.is_nullable() {
                for row in (0..rows).filter(|row| array.is_null(*row)) {
                    reasons[row]
                        .get_or_insert_with(|| format!("column {} is required", field.name()));
                }
            }
            arrays.push(array);
        }
        let keep = BooleanArray::from(reasons.iter().map(|r| r.is_none()).collect::<Vec<_>>());
        for (row, reason) in reasons.into_iter().enumerate() {
            if let Some(reason) = reason {
                read.rejects
                    .push(self.reject(lines[row], reason, records(row)));
            }
        }
        let arrays = arrays
            .iter()
            .map(|a| filter(a.as_ref(), &keep))
            .collect::<Result<Vec<_>, _>>()?;
        let batch = RecordBatch::try_new(Arc::clone(self.table), arrays)?;
        if batch.num_rows() > 0 {
            read.batches.push(batch);
        }
        Ok(())
    }

    /// `values` as `to`: NULL where a value does not cast. Text dates and timestamps
    /// follow the load's formats when it has them.
    fn cast(&self, values: &ArrayRef, to: &DataType) -> Result<ArrayRef, TableError> {
        let safe = CastOptions {
            safe: true,
            ..Default::default()
        };
        let text = values.as_any().downcast_ref::<StringArray>();
        match (
            text,
            to,
            &self.options.date_format,
            &self.options.timestamp_format,
        ) {
            (Some(text), DataType::Date32, Some(format), _) => {
                let epoch = chrono::DateTime::UNIX_EPOCH.date_naive();
                let days = text.iter().map(|v| {
                    let date = NaiveDate::parse_from_str(v?, format).ok()?;
                    Some((date - epoch).num_days() as i32)
                });
                Ok(Arc::new(days.collect::<Date32Array>()))
            }
            (Some(text), DataType::Timestamp(TimeUnit::Microsecond, zone), _, Some(format)) => {
                let micros = text.iter().map(|v| {
                    let time = NaiveDateTime::parse_from_str(v?, format).ok()?;
                    Some(time.and_utc().timestamp_micros())
                });
                let array = micros.collect::<TimestampMicrosecondArray>();
                Ok(Arc::new(array.with_timezone_opt(zone.clone())))
            }
            _ => Ok(cast_with_options(values, to, &safe)?),
        }
    }
}

/// A type as SQL names it, for reasons.
fn type_name(ty: &DataType) -> String {
    match ty {
        DataType::Int32 => "INT".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::Float32 => "REAL".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Date32 => "DATE".into(),
        DataType::Timestamp(_, None) => "TIMESTAMP".into(),
        DataType::Timestamp(_, Some(_)) => "TIMESTAMPTZ".into(),
        DataType::Decimal128(p, s) => format!("DECIMAL({p}, {s})"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::{Field, Schema};
    use arrow::util::pretty::pretty_format_batches;

    use super::*;

    fn table() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("qty", DataType::Int32, true),
            Field::new("day", DataType::Date32, true),
            Field::new(SOURCE_FILE, DataType::Utf8, true),
        ]))
    }

    fn csv(text: &str, options: Options) -> Read {
        read(
            "l/a.csv",
            Bytes::from(text.to_string()),
            &table(),
            &options,
            0,
        )
        .unwrap()
    }

    fn options(format: Format) -> Options {
        Options {
            format,
            date_format: None,
            timestamp_format: None,
        }
    }

    #[test]
    fn bad_rows_are_rejected_with_their_line() {
        let header = Format::Csv {
            header: true,
            delimiter: b',',
        };
        let read = csv(
            "ID,qty,day,extra\n1,2,2026-01-02,x\n2,\"two\",2026-01-03,x\r\n\"3\",3,,x\n,4,,x\n5,5,,x,y\n",
            options(header),
        );
        let loaded = pretty_format_batches(&read.batches).unwrap().to_string();
        assert!(
            loaded.contains("| 1  | 2   | 2026-01-02 | l/a.csv      |"),
            "{loaded}"
        );
        assert_eq!(read.batches[0].num_rows(), 2);
        let rejects: Vec<_> = read
            .rejects
            .iter()
            .map(|r| (r.line, r.reason.as_str()))
            .collect();
        assert_eq!(
            rejects,
            [
                (3, "column qty: 'two' is not a valid INT"),
                (5, "column id is required"),
                (6, "5 fields where the header has 4"),
            ]
        );
        assert_eq!(read.rejects[0].record, "2,\"two\",2026-01-03,x");
        assert_eq!(read.rejects[1].record, ",4,,x");

        // Positional without a header; dates in a format of their own.
        let mut positional = options(Format::Csv {
            header: false,
            delimiter: b';',
        });
        positional.date_format = Some("%d/%m/%Y".into());
        let read = csv("7;8;02/01/2026\n", positional);
        let loaded = pretty_format_batches(&read.batches).unwrap().to_string();
        assert!(loaded.contains("| 7  | 8   | 2026-01-02 |"), "{loaded}");
    }

    #[test]
    fn json_lines_load_by_name() {
        let text = "{\"id\": 1, \"QTY\": 2}\n\n[1]\n{\"id\": 2, \"qty\": \"x\"}\n{\"id\": 3";
        let read = read(
            "l/a.json",
            Bytes::from(text),
            &table(),
            &options(Format::Json),
            0,
        )
        .unwrap();
        assert_eq!(read.batches[0].num_rows(), 1);
        let lines: Vec<_> = read.rejects.iter().map(|r| r.line).collect();
        assert_eq!(lines, [3, 4, 5]);
        assert!(read.rejects[2].reason.starts_with("not JSON"));
    }
}
