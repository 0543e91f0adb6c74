//! `COPY INTO`: landing files loaded into an Iceberg table, in Dremio's syntax:
//!
//! ```sql
//! COPY INTO bronze.orders FROM 'landing/orders/' [FILES ('a.csv', ...)] [REGEX '.*\.csv']
//!   FILE_FORMAT 'csv' | 'json' | 'parquet'
//!   [(HEADER true, DELIMITER ',', DATE_FORMAT '%Y-%m-%d', TIMESTAMP_FORMAT '...',
//!     ON_ERROR 'abort' | 'continue' | 'skip_file')]
//! ```
//!
//! The location resolves against the warehouse as file paths in queries do. The files
//! under it (those named by `FILES`, or whose path under it `REGEX` matches whole) that
//! the table's load history does not have are read on the scheduler, two at a time
//! (`quarry_catalog::table::landing`), written as data files as they are read, and
//! committed as one snapshot that also records them in the history
//! (`commit::copy_into`), so running the statement again loads only new files.
//!
//! A row that does not fit the table aborts the load by default (nothing is committed
//! and the files written are removed). With `ON_ERROR 'continue'` it is left out and
//! kept, with its file, line and reason, in the table `<table>_rejects` beside the
//! target (created on first use); with `'skip_file'` its whole file is left out (and
//! not recorded as loaded), its rejects kept alike. The statement answers with the
//! files and rows it loaded, rejected and skipped.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::SessionContext;
use datafusion::sql::TableReference;
use datafusion::sql::planner::object_name_to_table_reference;
use datafusion::sql::sqlparser::ast::ObjectName;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::Token;
use futures::{StreamExt, TryStreamExt};
use iceberg::table::Table;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use quarry_catalog::Warehouse;
use quarry_catalog::store::TableStore;
use quarry_catalog::table::TableError;
use quarry_catalog::table::landing::{self, Format, Reject};
use quarry_catalog::table::write::{WriteSpec, write_partition};
use quarry_catalog::table::{load_history, store_path, types};

use crate::alter::{parse_option_list, parse_table_statement, parse_word, syntax};
use crate::error::{ErrorKind, QuarryError};
use crate::ingest::{self, IfExists, IfMissing, IngestTarget};
use crate::names;
use crate::planned::Commit;
use crate::tokens::Tokenized;
use crate::write;

/// What to do with a row that does not fit the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    Abort,
    Continue,
    SkipFile,
}

/// `COPY INTO`, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyInto {
    pub table: ObjectName,
    /// As written: a path relative to the warehouse, or a URL.
    pub location: String,
    pub files: Option<Vec<String>>,
    pub regex: Option<String>,
    pub options: landing::Options,
    pub on_error: OnError,
}

/// A `COPY INTO` ready to run: its table exists, its pattern compiles.
#[derive(Debug, Clone)]
pub struct Planned {
    pub copy: CopyInto,
    pub table: Box<Table>,
    pub reference: TableReference,
    regex: Option<regex::Regex>,
}

/// Reads `sql` if it is `COPY INTO`.
pub fn parse(sql: &Tokenized) -> Result<Option<CopyInto>, QuarryError> {
    parse_table_statement(
        sql,
        &[Keyword::COPY, Keyword::INTO],
        "COPY INTO",
        |p, table| {
            if !p.parse_keyword(Keyword::FROM) {
                return Err(expected(p, "FROM '<location>' after COPY INTO <table>"));
            }
            let location = string(p, "FROM")?;
            let mut copy = CopyInto {
                table,
                location,
                files: None,
                regex: None,
                options: landing::Options {
                    format: Format::Parquet,
                    date_format: None,
                    timestamp_format: None,
                },
                on_error: OnError::Abort,
            };
            if parse_word(p, "files") {
                p.expect_token(&Token::LParen).map_err(syntax)?;
                let mut files = vec![string(p, "FILES")?];
                while p.consume_token(&Token::Comma) {
                    files.push(string(p, "FILES")?);
                }
                p.expect_token(&Token::RParen).map_err(syntax)?;
                copy.files = Some(files);
            }
            if parse_word(p, "regex") {
                copy.regex = Some(string(p, "REGEX")?);
            }
            if copy.files.is_some() && copy.regex.is_some() {
                return Err(QuarryError::syntax(
                    "COPY INTO takes FILES or REGEX, not both",
                ));
            }
            if !parse_word(p, "file_format") {
                return Err(expected(p, "FILE_FORMAT 'csv', 'json' or 'parquet'"));
            }
            let format = string(p, "FILE_FORMAT")?.to_lowercase();
            let options = match p.consume_token(&Token::LParen) {
                true => format_options(p)?,
                false => HashMap::new(),
            };
            apply(&mut copy, &format, options)?;
            Ok(Some(copy))
        },
    )
}

fn expected(p: &Parser, what: &str) -> QuarryError {
    QuarryError::syntax(format!(
        "expected {what}, found {}",
        p.peek_token_ref().token
    ))
}

/// A string literal after `what`.
fn string(p: &mut Parser, what: &str) -> Result<String, QuarryError> {
    match p.next_token().token {
        Token::SingleQuotedString(s) => Ok(s),
        other => Err(QuarryError::syntax(format!(
            "{what} takes a quoted string, not {other}"
        ))),
    }
}

/// The format options, names in lower case, values as text.
fn format_options(p: &mut Parser) -> Result<HashMap<String, String>, QuarryError> {
    parse_option_list(p, |p, name| match p.next_token().token {
        Token::SingleQuotedString(s) => Ok(s),
        Token::Word(w) => Ok(w.value.to_lowercase()),
        Token::Number(n, _) => Ok(n),
        other => Err(QuarryError::syntax(format!(
            "{} takes a value, not {other}",
            name.to_uppercase()
        ))),
    })
}

/// The format and its options into `copy`; options the format has not are refused.
fn apply(
    copy: &mut CopyInto,
    format: &str,
    mut options: HashMap<String, String>,
) -> Result<(), QuarryError> {
    let mut take = |name: &str| options.remove(name);
    let flag = |value: Option<String>, name: &str| match value.as_deref() {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(QuarryError::syntax(format!(
            "{} takes true or false, not {other}",
            name.to_uppercase()
        ))),
    };
    copy.on_error = match take("on_error")
        .as_deref()
        .map(str::to_lowercase)
        .as_deref()
    {
        None | Some("abort") => OnError::Abort,
        Some("continue") => OnError::Continue,
        Some("skip_file") => OnError::SkipFile,
        Some(other) => {
            return Err(QuarryError::syntax(format!(
                "ON_ERROR is 'abort', 'continue' or 'skip_file', not '{other}'"
            )));
        }
    };
    copy.options.date_format = take("date_format");
    copy.options.timestamp_format = take("timestamp_format");
    copy.options.format = match format {
        "csv" => {
            let header = flag(take("header"), "header")?.unwrap_or(true);
            let delimiter = match take("delimiter") {
                None => b',',
                Some(d) if d.len() == 1 => d.as_bytes()[0],
                Some(d) if d == "\\t" => b'\t',
                Some(d) => {
                    return Err(QuarryError::syntax(format!(
                        "DELIMITER is one character, not '{d}'"
                    )));
                }
            };
            Format::Csv { header, delimiter }
        }
        "json" => Format::Json,
        "parquet" => Format::Parquet,
        other => {
            return Err(QuarryError::syntax(format!(
                "FILE_FORMAT is 'csv', 'json' or 'parquet', not '{other}'"
            )));
        }
    };
    if let Some(unknown) = options.keys().next() {
        return Err(QuarryError::syntax(format!(
            "COPY INTO has no option {} for FILE_FORMAT '{format}'",
            unknown.to_uppercase()
        )));
    }
    Ok(())
}

/// Plans `COPY INTO`: its table must exist.
pub async fn plan(
    ctx: &SessionContext,
    store: &TableStore,
    copy: CopyInto,
) -> Result<Planned, QuarryError> {
    let reference = object_name_to_table_reference(copy.table.clone(), true)?;
    let ident = names::iceberg_ident(ctx, &reference)?;
    let Some(table) = store.load(&ident).await? else {
        return Err(QuarryError::no_table(format!(
            "table '{ident}' not found: COPY INTO loads into a table that exists"
        )));
    };
    let regex = match &copy.regex {
        Some(pattern) => Some(regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
            QuarryError::syntax(format!(
                "REGEX '{pattern}' is not a regular expression: {e}"
            ))
        })?),
        None => None,
    };
    Ok(Planned {
        copy,
        table: Box::new(table),
        reference,
        regex,
    })
}

/// What `COPY INTO` answers with.
pub fn schema() -> SchemaRef {
    let count = |name: &str| Field::new(name, DataType::UInt64, false);
    Arc::new(Schema::new(vec![
        count("files_loaded"),
        count("rows_loaded"),
        count("rows_rejected"),
        count("files_skipped"),
    ]))
}

/// The table the rejects of a load into `table` go to.
pub fn rejects_table(table: &TableReference) -> TableReference {
    let name = format!("{}_rejects", table.table());
    match table {
        TableReference::Bare { .. } => TableReference::bare(name),
        TableReference::Partial { schema, .. } => TableReference::partial(schema.as_ref(), name),
        TableReference::Full {
            catalog, schema, ..
        } => TableReference::full(catalog.as_ref(), schema.as_ref(), name),
    }
}

/// A landing file to load: where it is and how the user names it.
struct Landing {
    path: Path,
    /// The location as written, then the file's path under it.
    name: String,
    /// The file's URI, as the load history keeps it.
    uri: String,
}

/// What a load did.
#[derive(Default)]
struct Loaded {
    files: Vec<String>,
    data_files: Vec<iceberg::spec::DataFile>,
    rejects: Vec<Reject>,
    skipped: u64,
}

/// Runs a planned `COPY INTO`; its result row.
pub async fn run(
    ctx: &SessionContext,
    (store, runtime, warehouse): (&TableStore, &Arc<RuntimeEnv>, &Warehouse),
    planned: &Planned,
) -> Result<RecordBatch, QuarryError> {
    let copy = &planned.copy;
    let table = &planned.table;
    let location = warehouse.resolve_file(&copy.location)?;
    let (url, prefix) = store_path(&location)?;
    let objects = runtime.object_store(&url)?;
    let loaded_before = load_history::loaded(store.file_io(), table.metadata()).await?;
    let landings: Vec<Landing> = list(objects.as_ref(), &prefix, planned)
        .await?
        .into_iter()
        .map(|(path, relative)| Landing {
            uri: format!("{}{}", url.as_str(), path),
            // A location that is one file names it already.
            name: match relative.is_empty() {
                true => copy.location.clone(),
                false => format!("{}/{relative}", copy.location.trim_end_matches('/')),
            },
            path,
        })
        .filter(|l| !loaded_before.contains(&l.uri))
        .collect();
    let spec = WriteSpec::for_table(table);
    let target = Arc::new(types::arrow_schema(&spec.schema)?);
    let now = chrono::Utc::now().timestamp_micros();
    let data = runtime.object_store(&store_path(&spec.location)?.0)?;
    tracing::info!(table = %table.identifier(), files = landings.len(), "COPY INTO");
    let reads = futures::stream::iter(landings.into_iter().enumerate())
        .map(|(i, landing)| {
            let (objects, data, target, spec) = (&objects, &data, &target, &spec);
            async move {
                let got = async { objects.get(&landing.path).await?.bytes().await };
                let bytes = got.await.map_err(TableError::from)?;
                let (name, options) = (landing.name.clone(), copy.options.clone());
                let schema = Arc::clone(target);
                let read = tokio::task::spawn_blocking(move || {
                    landing::read(&name, bytes, &schema, &options, now)
                })
                .await
                .map_err(|e| QuarryError::internal(format!("reading a landing file: {e}")))??;
                if let (Some(reject), OnError::Abort) = (read.rejects.first(), copy.on_error) {
                    return Err(ErrorKind::Execution.error(format!(
                        "COPY INTO aborted: {} line {}: {} ({} rejected rows in all in this \
                         file; with ON_ERROR 'continue' the other rows load and these go to \
                         {})",
                        reject.file,
                        reject.line,
                        reject.reason,
                        read.rejects.len(),
                        rejects_table(&planned.reference)
                    )));
                }
                let skip = copy.on_error == OnError::SkipFile && !read.rejects.is_empty();
                let files = match skip {
                    true => Vec::new(),
                    false => {
                        let stream = RecordBatchStreamAdapter::new(
                            Arc::clone(target),
                            futures::stream::iter(read.batches.into_iter().map(Ok)),
                        );
                        write_partition(spec, i, Box::pin(stream), Arc::clone(data)).await?
                    }
                };
                Ok::<_, QuarryError>((landing.uri, skip, files, read.rejects))
            }
        })
        .buffered(2);
    let mut loaded = Loaded::default();
    let read_all = async {
        let mut reads = std::pin::pin!(reads);
        while let Some((uri, skip, files, rejects)) = reads.try_next().await? {
            match skip {
                true => loaded.skipped += 1,
                false => loaded.files.push(uri),
            }
            loaded.data_files.extend(files);
            loaded.rejects.extend(rejects);
        }
        Ok(std::mem::take(&mut loaded.data_files))
    }
    .await;
    let commit = Commit::CopyInto {
        ident: table.identifier().clone(),
        uuid: table.metadata().uuid(),
        loaded: loaded.files.clone(),
    };
    let rows = write::complete(store, runtime, &spec, &commit, read_all).await?;
    if !loaded.rejects.is_empty() {
        let rejects = rejects_table(&planned.reference);
        let kept = keep_rejects(ctx, store, runtime, &rejects, &loaded.rejects).await;
        kept.map_err(|e| {
            ErrorKind::Execution.error(format!(
                "COPY INTO loaded its rows, but could not keep its {} rejected rows in \
                 {rejects}: {e}",
                loaded.rejects.len()
            ))
        })?;
    }
    let counts = [
        loaded.files.len() as u64,
        rows,
        loaded.rejects.len() as u64,
        loaded.skipped,
    ];
    let columns = counts
        .into_iter()
        .map(|n| Arc::new(UInt64Array::from(vec![n])) as _)
        .collect();
    RecordBatch::try_new(schema(), columns).map_err(|e| QuarryError::internal(e.to_string()))
}

/// The landing files under `prefix` that the load names, each with its path under it
/// (empty when `prefix` is one file).
async fn list(
    objects: &dyn ObjectStore,
    prefix: &Path,
    planned: &Planned,
) -> Result<Vec<(Path, String)>, QuarryError> {
    // A location that is one file.
    if let Ok(meta) = objects.head(prefix).await {
        return Ok(vec![(meta.location, String::new())]);
    }
    let mut found: Vec<(Path, String)> = objects
        .list(Some(prefix))
        .map_ok(|meta| {
            let relative = meta
                .location
                .prefix_match(prefix)
                .map(|parts| {
                    parts
                        .map(|p| p.as_ref().to_string())
                        .collect::<Vec<_>>()
                        .join("/")
                })
                .unwrap_or_default();
            (meta.location, relative)
        })
        .try_collect()
        .await
        .map_err(TableError::from)?;
    found.sort();
    let copy = &planned.copy;
    if let Some(files) = &copy.files {
        if let Some(missing) = files.iter().find(|f| !found.iter().any(|(_, r)| r == *f)) {
            return Err(QuarryError::not_found(format!(
                "FILES names {missing}, which is not under {}",
                copy.location
            )));
        }
        found.retain(|(_, relative)| files.contains(relative));
    }
    if let Some(regex) = &planned.regex {
        found.retain(|(_, relative)| regex.is_match(relative));
    }
    // Hidden files (`.crc`, `_SUCCESS` markers) are not data.
    found.retain(|(_, relative)| {
        let name = relative.rsplit('/').next().unwrap_or_default();
        !name.starts_with('.') && !name.starts_with('_')
    });
    Ok(found)
}

/// Appends `rejects` to the table `table` (created on first use).
async fn keep_rejects(
    ctx: &SessionContext,
    store: &TableStore,
    runtime: &Arc<RuntimeEnv>,
    table: &TableReference,
    rejects: &[Reject],
) -> Result<u64, QuarryError> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("file", DataType::Utf8, false),
        Field::new("line", DataType::Int64, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("record", DataType::Utf8, false),
        Field::new(
            "rejected_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ]));
    let now = chrono::Utc::now().timestamp_micros();
    let text = |f: fn(&Reject) -> &str| {
        Arc::new(StringArray::from_iter_values(rejects.iter().map(f))) as _
    };
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            text(|r| &r.file),
            Arc::new(Int64Array::from_iter_values(
                rejects.iter().map(|r| r.line as i64),
            )),
            text(|r| &r.reason),
            text(|r| &r.record),
            Arc::new(
                TimestampMicrosecondArray::from(vec![now; rejects.len()]).with_timezone("UTC"),
            ),
        ],
    )
    .map_err(|e| QuarryError::internal(e.to_string()))?;
    let stream = RecordBatchStreamAdapter::new(schema, futures::stream::iter([Ok(batch)]));
    let target = IngestTarget {
        table: table.clone(),
        if_exists: IfExists::Append,
        if_missing: IfMissing::Create,
    };
    ingest::ingest(ctx, store, runtime, target, Box::pin(stream)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(sql: &str) -> CopyInto {
        parse(&Tokenized::generic(sql)).unwrap().unwrap()
    }

    #[test]
    fn copy_into_parses_in_dremio_syntax() {
        let copy = parsed(
            "COPY INTO bronze.orders FROM 'landing/orders/' FILES ('a.csv', 'b.csv') \
             FILE_FORMAT 'CSV' (HEADER false, DELIMITER '|', DATE_FORMAT '%d/%m/%Y', \
             ON_ERROR 'continue');",
        );
        assert_eq!(copy.location, "landing/orders/");
        assert_eq!(copy.files, Some(vec!["a.csv".into(), "b.csv".into()]));
        assert_eq!(
            copy.options.format,
            Format::Csv {
                header: false,
                delimiter: b'|'
            }
        );
        assert_eq!(copy.options.date_format.as_deref(), Some("%d/%m/%Y"));
        assert_eq!(copy.on_error, OnError::Continue);
        let copy = parsed("copy into t from 's3://b/l' regex '.*\\.json' file_format 'json'");
        assert_eq!(copy.regex.as_deref(), Some(".*\\.json"));
        assert_eq!(
            (copy.options.format, copy.on_error),
            (Format::Json, OnError::Abort)
        );
        let csv = parsed("COPY INTO t FROM 'l' FILE_FORMAT 'csv'")
            .options
            .format;
        assert_eq!(
            csv,
            Format::Csv {
                header: true,
                delimiter: b','
            }
        );

        let err = |sql| parse(&Tokenized::generic(sql)).unwrap_err().to_string();
        assert!(err("COPY INTO t FROM 'l'").contains("FILE_FORMAT"));
        assert!(err("COPY INTO t 'l'").contains("FROM"));
        assert!(err("COPY INTO t FROM l FILE_FORMAT 'csv'").contains("quoted string"));
        assert!(err("COPY INTO t FROM 'l' FILE_FORMAT 'csv' (ON_ERROR 'skip')").contains("skip"));
        assert!(
            err("COPY INTO t FROM 'l' FILE_FORMAT 'csv' (HEADER maybe)").contains("true or false")
        );
        assert!(
            err("COPY INTO t FROM 'l' FILES ('a') REGEX 'b' FILE_FORMAT 'csv'")
                .contains("not both")
        );
        // DataFusion's own COPY is not this statement.
        assert!(
            parse(&Tokenized::generic("COPY t TO 'x.parquet'"))
                .unwrap()
                .is_none()
        );
    }
}
