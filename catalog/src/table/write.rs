//! The write task: [`IcebergWriteExec`] writes its input as Parquet data files of a table.
//!
//! Each output partition of the plan is one task on an executor. The task writes its
//! rows into files under the table's location (one or more per partition value, rolled
//! at the target file size) with Iceberg field ids in their schemas, and returns one
//! row per file: the file's Iceberg `DataFile` as JSON (record count, sizes, value and
//! null counts, bounds, partition values). Nothing is committed here: the scheduler
//! gathers the rows of all tasks and commits them as one snapshot.
//!
//! Every file of one statement lives under `data/<write id>/`, so the files of a failed
//! or cancelled statement are found and removed by one prefix. A task can outlive its
//! failed job (a cancel can miss a task that is just starting), so before removing the
//! files the scheduler leaves a marker in that directory ([`WriteSpec::abandoned_marker`]):
//! a task checks for it when it starts and after each file it writes, and then stops,
//! deleting that file itself. Either the task sees the marker, or its file was there
//! before the marker and the scheduler's sweep finds it.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Field, Schema as ArrowSchema, SchemaRef};
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{
    EquivalenceProperties, LexRequirement, OrderingRequirements, PhysicalSortRequirement,
};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, ExecutionPlanProperties,
    Partitioning, PlanProperties,
};
use futures::StreamExt;
use iceberg::arrow::RecordBatchPartitionSplitter;
use iceberg::spec::{DataFile, FormatVersion, PartitionSpec, Schema, Struct, StructType};
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::AsyncArrowWriter;
use parquet::arrow::async_writer::ParquetObjectWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use serde::{Deserialize, Serialize};

use super::distribution::partition_keys;
use super::stats::{WrittenFile, data_file};
use super::{TableError, store_path, types};

/// What a write task needs to know about its table. It travels to the executors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WriteSpec {
    /// The table's name, for plans and errors.
    pub table: String,
    /// The table's location (a URI).
    pub location: String,
    /// Unique per statement: the directory its files go in.
    pub write_id: String,
    /// The table schema the files are written with.
    pub schema: Schema,
    /// The partition spec rows are split by.
    pub partition_spec: PartitionSpec,
    /// The table's format version, for the data-file metadata.
    pub format_version: FormatVersion,
    /// Files roll over at about this many bytes.
    pub target_file_size: u64,
    /// Columns each task sorts its rows by before it writes them (a reflection's
    /// `LOCALSORT BY`), so that the files' column bounds prune; empty: as they come.
    #[serde(default)]
    pub sort_by: Vec<String>,
    /// The rows of a row-level change (`DELETE`, `UPDATE`, `MERGE`) end with a
    /// [`CHANGE_COLUMN`] that says what happened to each: the task counts the changed
    /// rows, leaves out the deleted ones and writes the rest without the column.
    #[serde(default)]
    pub change_column: bool,
    /// Rows go to tasks by partition value (`distribution.rs`), unless the table's
    /// `write.distribution-mode` is `none`.
    #[serde(default)]
    pub distributed: bool,
}

/// Files roll over at this size unless the table says otherwise, as in Iceberg's Java library.
const DEFAULT_TARGET_FILE_SIZE: u64 = 512 * 1024 * 1024;

impl WriteSpec {
    /// A new statement's write into `table` (shown as `name`) with this layout.
    pub fn new(
        name: String,
        location: String,
        schema: Schema,
        partition_spec: PartitionSpec,
        properties: &HashMap<String, String>,
    ) -> Self {
        Self {
            table: name,
            location,
            write_id: uuid::Uuid::new_v4().simple().to_string(),
            schema,
            partition_spec,
            format_version: FormatVersion::V2,
            target_file_size: properties
                .get("write.target-file-size-bytes")
                .and_then(|v| v.parse().ok())
                .unwrap_or(DEFAULT_TARGET_FILE_SIZE),
            sort_by: Vec::new(),
            change_column: false,
            distributed: properties
                .get("write.distribution-mode")
                .is_none_or(|mode| mode != "none"),
        }
    }

    /// A new statement's write into an existing table.
    pub fn for_table(table: &iceberg::table::Table) -> Self {
        let metadata = table.metadata();
        let mut spec = Self::new(
            table.identifier().to_string(),
            metadata.location().to_string(),
            metadata.current_schema().as_ref().clone(),
            metadata.default_partition_spec().as_ref().clone(),
            metadata.properties(),
        );
        spec.format_version = metadata.format_version();
        spec
    }

    /// The directory (URI) that holds every file this statement writes.
    pub fn data_prefix(&self) -> String {
        format!(
            "{}/data/{}",
            self.location.trim_end_matches('/'),
            self.write_id
        )
    }

    /// The marker whose presence tells tasks that the statement failed (a URI).
    pub fn abandoned_marker(&self) -> String {
        format!("{}/{ABANDONED}", self.data_prefix())
    }

    /// Decodes the data files the tasks of this write returned.
    pub fn data_files(&self, batches: &[RecordBatch]) -> Result<Vec<DataFile>, TableError> {
        let partition_type = self.partition_spec.partition_type(&self.schema)?;
        let mut files = Vec::new();
        for batch in batches {
            let column = batch
                .column_by_name(DATA_FILE_COLUMN)
                .and_then(|c| c.as_string_opt::<i32>())
                .ok_or_else(|| TableError::Invalid("write task returned no data files".into()))?;
            for json in column.iter().flatten() {
                files.push(iceberg::spec::deserialize_data_file_from_json(
                    json,
                    self.partition_spec.spec_id(),
                    &partition_type,
                    &self.schema,
                )?);
            }
        }
        Ok(files)
    }
}

/// The name of the marker file of a failed write.
pub const ABANDONED: &str = "_ABANDONED";

/// The column of a write task's output that holds one data file's metadata as JSON.
pub const DATA_FILE_COLUMN: &str = "data_file";

/// The column of a write task's output that counts the rows a row-level change
/// changed (in one more row, whose data file is null).
pub const CHANGED_COLUMN: &str = "changed";

/// The last input column of a row-level change's write: what happened to each row.
pub const CHANGE_COLUMN: &str = "__quarry_change";

/// What a row-level change did to a row, as [`CHANGE_COLUMN`] says it.
pub mod change {
    /// Copied as it was (it shares a rewritten file with changed rows).
    pub const KEPT: i8 = 0;
    /// Updated, or inserted by a `MERGE`: written and counted.
    pub const CHANGED: i8 = 1;
    /// Deleted: counted, not written.
    pub const DELETED: i8 = 2;
}

static OUTPUT_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(ArrowSchema::new(vec![
        Field::new(DATA_FILE_COLUMN, DataType::Utf8, true),
        Field::new(CHANGED_COLUMN, DataType::UInt64, true),
    ]))
});

/// The schema of a write task's output: data files, and for a row-level change the
/// rows it changed.
pub fn output_schema() -> SchemaRef {
    Arc::clone(&OUTPUT_SCHEMA)
}

/// How many rows the tasks of a row-level change changed, by their output `batches`.
pub fn changed_rows(batches: &[RecordBatch]) -> u64 {
    batches
        .iter()
        .filter_map(|b| b.column_by_name(CHANGED_COLUMN))
        .filter_map(|c| c.as_primitive_opt::<arrow::datatypes::UInt64Type>())
        .map(|c| c.iter().flatten().sum::<u64>())
        .sum()
}

/// Counts the changed rows of a row-level change's `input`, leaves out the deleted
/// ones and drops the [`CHANGE_COLUMN`] (the last one).
fn apply_changes(
    input: SendableRecordBatchStream,
    changed: Arc<std::sync::atomic::AtomicU64>,
) -> Result<SendableRecordBatchStream> {
    let schema = input.schema();
    let last = schema.fields().len().saturating_sub(1);
    if schema.fields().get(last).map(|f| f.name().as_str()) != Some(CHANGE_COLUMN) {
        return Err(DataFusionError::Internal(format!(
            "a row-level change's rows must end with {CHANGE_COLUMN}"
        )));
    }
    let output = Arc::new(schema.project(&(0..last).collect::<Vec<_>>())?);
    let rows = input.map(move |batch| {
        let batch = batch?;
        let codes = batch
            .column(last)
            .as_primitive_opt::<arrow::datatypes::Int8Type>()
            .ok_or_else(|| DataFusionError::Internal(format!("{CHANGE_COLUMN} is not Int8")))?;
        let count = codes
            .iter()
            .filter(|c| matches!(c, Some(change::CHANGED | change::DELETED)))
            .count();
        changed.fetch_add(count as u64, std::sync::atomic::Ordering::Relaxed);
        let keep = arrow::compute::kernels::cmp::neq(
            codes,
            &arrow::array::Int8Array::new_scalar(change::DELETED),
        )?;
        let kept = arrow::compute::filter_record_batch(&batch, &keep)?;
        Ok(kept.project(&(0..last).collect::<Vec<_>>())?)
    });
    Ok(Box::pin(RecordBatchStreamAdapter::new(output, rows)))
}

/// Writes each input partition as data files of one table; see the module docs.
#[derive(Debug)]
pub struct IcebergWriteExec {
    input: Arc<dyn ExecutionPlan>,
    spec: Arc<WriteSpec>,
    properties: Arc<PlanProperties>,
}

impl IcebergWriteExec {
    /// A write of `input` into the table `spec` describes.
    pub fn new(input: Arc<dyn ExecutionPlan>, spec: Arc<WriteSpec>) -> Self {
        let partitions = input.output_partitioning().partition_count();
        let properties = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&OUTPUT_SCHEMA)),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        Self {
            input,
            spec,
            properties: Arc::new(properties),
        }
    }

    /// The table and statement this write belongs to.
    pub fn spec(&self) -> &Arc<WriteSpec> {
        &self.spec
    }

    /// The rows being written.
    pub fn input(&self) -> &Arc<dyn ExecutionPlan> {
        &self.input
    }
}

impl DisplayAs for IcebergWriteExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "IcebergWriteExec: table={}, files={}",
            self.spec.table,
            self.spec.data_prefix()
        )
    }
}

impl ExecutionPlan for IcebergWriteExec {
    fn name(&self) -> &str {
        "IcebergWriteExec"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![false]
    }

    /// Rows sorted by `sort_by` within each task (DataFusion's sort enforcement puts a
    /// partition-preserving sort below): each task's files are sorted.
    fn required_input_ordering(&self) -> Vec<Option<OrderingRequirements>> {
        let schema = self.input.schema();
        let sorted = self
            .spec
            .sort_by
            .iter()
            .map(|name| {
                let column = Column::new_with_schema(name, &schema)?;
                Ok(PhysicalSortRequirement::new(Arc::new(column), None))
            })
            .collect::<Result<Vec<_>>>();
        // A column missing from the rows was refused when the reflection was made.
        let requirement = sorted.ok().and_then(LexRequirement::new);
        vec![requirement.map(OrderingRequirements::new)]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    /// Each partition's rows in one task (`distribution.rs`); rows that come in one
    /// stream already are.
    fn required_input_distribution(&self) -> Vec<Distribution> {
        if self.input.output_partitioning().partition_count() <= 1 {
            return vec![Distribution::UnspecifiedDistribution];
        }
        match partition_keys(&self.spec, &self.input.schema()) {
            Ok(Some(keys)) => vec![Distribution::HashPartitioned(keys)],
            Ok(None) => vec![Distribution::UnspecifiedDistribution],
            Err(e) => {
                // Writing then fails with the same reason.
                tracing::warn!("cannot distribute the write to {}: {e}", self.spec.table);
                vec![Distribution::UnspecifiedDistribution]
            }
        }
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let [input] = <[_; 1]>::try_from(children)
            .map_err(|_| DataFusionError::Internal("IcebergWriteExec has one input".into()))?;
        Ok(Arc::new(Self::new(input, Arc::clone(&self.spec))))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let mut input = self.input.execute(partition, Arc::clone(&context))?;
        let changed = Arc::new(std::sync::atomic::AtomicU64::new(0));
        if self.spec.change_column {
            input = apply_changes(input, Arc::clone(&changed))?;
        }
        let (url, _) = store_path(&self.spec.location)?;
        let store = context.runtime_env().object_store(&url)?;
        let spec = Arc::clone(&self.spec);
        let task = async move {
            let files = write_partition(&spec, partition, input, store).await?;
            let partition_type = spec
                .partition_spec
                .partition_type(&spec.schema)
                .map_err(TableError::from)?;
            let json = files
                .into_iter()
                .map(|f| {
                    iceberg::spec::serialize_data_file_to_json(
                        f,
                        &partition_type,
                        spec.format_version,
                    )
                })
                .collect::<Result<Vec<_>, iceberg::Error>>()
                .map_err(TableError::from)?;
            let files = json.len();
            let mut data_files: Vec<Option<String>> = json.into_iter().map(Some).collect();
            let mut counts: Vec<Option<u64>> = vec![None; files];
            if spec.change_column {
                data_files.push(None);
                counts.push(Some(changed.load(std::sync::atomic::Ordering::Relaxed)));
            }
            let columns: Vec<ArrayRef> = vec![
                Arc::new(StringArray::from(data_files)),
                Arc::new(arrow::array::UInt64Array::from(counts)),
            ];
            Ok(RecordBatch::try_new(Arc::clone(&OUTPUT_SCHEMA), columns)?)
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&OUTPUT_SCHEMA),
            futures::stream::once(task),
        )))
    }
}

/// Writes one input partition (numbered `partition` in file names) and returns the
/// files it wrote. Write tasks run it on the executors; bulk ingest on the scheduler.
pub async fn write_partition(
    spec: &WriteSpec,
    partition: usize,
    mut input: SendableRecordBatchStream,
    store: Arc<dyn ObjectStore>,
) -> Result<Vec<DataFile>> {
    let schema = types::arrow_schema(&spec.schema)?;
    let splitter = if spec.partition_spec.is_unpartitioned() {
        None
    } else {
        let splitter = RecordBatchPartitionSplitter::try_new_with_computed_values(
            Arc::new(spec.schema.clone()),
            Arc::new(spec.partition_spec.clone()),
        )
        .map_err(TableError::from)?;
        let partition_type = spec
            .partition_spec
            .partition_type(&spec.schema)
            .map_err(TableError::from)?;
        Some((splitter, partition_type))
    };
    let (_, marker) = store_path(&spec.abandoned_marker())?;
    let mut files = Files {
        spec,
        partition,
        marker,
        store,
        schema: Arc::clone(&schema),
        open: HashMap::new(),
        written: Vec::new(),
        sequence: 0,
    };
    not_abandoned(&files.store, &files.marker, &spec.table).await?;
    while let Some(batch) = input.next().await {
        let batch = conform(&batch?, &schema, &spec.table)?;
        if batch.num_rows() == 0 {
            continue;
        }
        match &splitter {
            None => files.write(String::new(), Struct::empty(), &batch).await?,
            Some((splitter, partition_type)) => {
                for (key, rows) in splitter.split(&batch).map_err(TableError::from)? {
                    let path = partition_path(&spec.partition_spec, partition_type, key.data());
                    files.write(path, key.data().clone(), &rows).await?;
                }
            }
        }
    }
    files.finish().await
}

/// Fails if the statement this write belongs to has failed (its marker exists).
async fn not_abandoned(
    store: &Arc<dyn ObjectStore>,
    marker: &object_store::path::Path,
    table: &str,
) -> Result<()> {
    match store.head(marker).await {
        Ok(_) => Err(DataFusionError::Execution(format!(
            "the write to {table} was abandoned"
        ))),
        Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(TableError::from(e).into()),
    }
}

/// The directory of a partition, `name=value/...` as other engines name it, with the
/// characters that are not safe in object keys percent-encoded.
fn partition_path(spec: &PartitionSpec, partition_type: &StructType, values: &Struct) -> String {
    let segments = spec
        .fields()
        .iter()
        .zip(partition_type.fields())
        .zip(values.iter())
        .map(|((field, typed), value)| {
            let human = field.transform.to_human_string(&typed.field_type, value);
            format!("{}={}", escape(&field.name), escape(&human))
        })
        .collect::<Vec<_>>();
    segments.join("/")
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// The open files of one write task, one per partition value.
struct Files<'a> {
    spec: &'a WriteSpec,
    partition: usize,
    marker: object_store::path::Path,
    store: Arc<dyn ObjectStore>,
    schema: SchemaRef,
    open: HashMap<String, OpenFile>,
    written: Vec<DataFile>,
    sequence: usize,
}

struct OpenFile {
    uri: String,
    partition: Struct,
    writer: AsyncArrowWriter<ParquetObjectWriter>,
}

impl Files<'_> {
    async fn write(&mut self, path: String, partition: Struct, batch: &RecordBatch) -> Result<()> {
        let mut file = match self.open.remove(&path) {
            Some(file) => file,
            None => self.create(&path, partition, batch)?,
        };
        file.writer.write(batch).await?;
        let size = file.writer.bytes_written() + file.writer.in_progress_size();
        if size as u64 >= self.spec.target_file_size {
            self.close(file).await
        } else {
            self.open.insert(path, file);
            Ok(())
        }
    }

    /// A new file for `partition`, whose first rows are `first`.
    fn create(
        &mut self,
        partition_path: &str,
        partition: Struct,
        first: &RecordBatch,
    ) -> Result<OpenFile> {
        self.sequence += 1;
        let dir = if partition_path.is_empty() {
            self.spec.data_prefix()
        } else {
            format!("{}/{partition_path}", self.spec.data_prefix())
        };
        let short_id: String = self.spec.write_id.chars().take(8).collect();
        let uri = format!(
            "{dir}/{short_id}-{:05}-{:05}.parquet",
            self.partition, self.sequence
        );
        let (_, path) = store_path(&uri)?;
        let props = writer_properties(first);
        let writer = AsyncArrowWriter::try_new(
            ParquetObjectWriter::new(Arc::clone(&self.store), path),
            Arc::clone(&self.schema),
            Some(props),
        )?;
        Ok(OpenFile {
            uri,
            partition,
            writer,
        })
    }

    async fn close(&mut self, mut file: OpenFile) -> Result<()> {
        let footer = file.writer.finish().await?;
        let size = file.writer.bytes_written() as u64;
        if let Err(e) = not_abandoned(&self.store, &self.marker, &self.spec.table).await {
            let (_, path) = store_path(&file.uri)?;
            let _ = self.store.delete(&path).await;
            return Err(e);
        }
        self.written.push(data_file(
            WrittenFile {
                path: file.uri,
                size,
                partition: file.partition,
                spec_id: self.spec.partition_spec.spec_id(),
                schema: &self.spec.schema,
            },
            &footer,
        )?);
        Ok(())
    }

    async fn finish(mut self) -> Result<Vec<DataFile>> {
        let open: Vec<_> = self.open.drain().map(|(_, f)| f).collect();
        for file in open {
            self.close(file).await?;
        }
        Ok(self.written)
    }
}

/// The batch with the table's column types, field ids and nullability. Casts fail on
/// values that do not fit rather than writing nulls.
fn conform(batch: &RecordBatch, schema: &SchemaRef, table: &str) -> Result<RecordBatch> {
    if batch.num_columns() != schema.fields().len() {
        return Err(DataFusionError::Plan(format!(
            "table {table} has {} columns but the query produces {}",
            schema.fields().len(),
            batch.num_columns()
        )));
    }
    let options = CastOptions {
        safe: false,
        ..Default::default()
    };
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| {
            if !field.is_nullable() && column.null_count() > 0 {
                return Err(DataFusionError::Execution(format!(
                    "column '{}' of {table} is NOT NULL, but the query produced NULL values",
                    field.name()
                )));
            }
            let column = if column.data_type() == field.data_type() {
                Arc::clone(column)
            } else {
                cast_with_options(column, field.data_type(), &options)?
            };
            if let DataType::Decimal128(precision, _) = field.data_type() {
                column
                    .as_primitive::<arrow::datatypes::Decimal128Type>()
                    .validate_decimal_precision(*precision)?;
            }
            Ok(column)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// Rows in a row group at most: the unit a scan prunes by statistics and splits between
/// partitions. A million rows (parquet-rs's default) leaves a table of a few million rows
/// with a handful of row groups, fewer than the slots that could scan it; DuckDB writes
/// 122,880 and TPC generators about as many.
const ROW_GROUP_ROWS: usize = 128 * 1024;

/// How many of a file's first rows decide which of its columns get dictionaries.
const DICTIONARY_SAMPLE_ROWS: usize = 8192;

/// How data files are written: ZSTD (Iceberg's default codec) at its fastest level, in
/// row groups of [`ROW_GROUP_ROWS`], with page statistics and page indexes (parquet-rs's
/// defaults) for pruning, and dictionaries only for the columns that repeat values in
/// `first`, the file's first batch ([`mostly_distinct`]).
fn writer_properties(first: &RecordBatch) -> WriterProperties {
    let builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS));
    let sample = first.slice(0, first.num_rows().min(DICTIONARY_SAMPLE_ROWS));
    sample
        .schema()
        .fields()
        .iter()
        .zip(sample.columns())
        .filter(|(_, column)| mostly_distinct(column.as_ref()))
        .fold(builder, |builder, (field, _)| {
            builder.set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), false)
        })
        .build()
}

/// Whether more than half the values of `sample` differ, so that a dictionary would be
/// about as large as the column (a key, a price, free text). A scan that keeps one page
/// of a column still decodes the column chunk's whole dictionary first: a unique key's
/// is up to a megabyte, which a selective query paid for nothing. Few rows, and types
/// that cannot be compared, keep the default.
fn mostly_distinct(sample: &dyn Array) -> bool {
    use arrow::compute::kernels::cmp::distinct;
    use arrow::compute::{SortOptions, sort};

    let rows = sample.len();
    if rows < 1024 {
        return false;
    }
    let Ok(sorted) = sort(sample, Some(SortOptions::default())) else {
        return false;
    };
    let changes = distinct(&sorted.slice(0, rows - 1), &sorted.slice(1, rows - 1));
    changes.is_ok_and(|changes| 1 + changes.true_count() > rows / 2)
}

#[cfg(test)]
mod tests {
    use datafusion::config::ConfigOptions;
    use datafusion::physical_optimizer::PhysicalOptimizerRule;
    use datafusion::physical_optimizer::enforce_sorting::EnforceSorting;
    use datafusion::physical_plan::displayable;
    use datafusion::physical_plan::empty::EmptyExec;
    use datafusion::physical_plan::repartition::RepartitionExec;
    use iceberg::spec::{NestedField, PrimitiveType, Type};

    use super::*;

    /// With `sort_by`, each task's rows are sorted before they are written: a sort that
    /// keeps the partitions, not one merged stream.
    #[test]
    fn a_write_with_sort_columns_sorts_each_task() -> Result<()> {
        let schema = Schema::builder()
            .with_fields(vec![
                NestedField::optional(1, "region", Type::Primitive(PrimitiveType::String)).into(),
            ])
            .build()
            .unwrap();
        let mut spec = WriteSpec::new(
            "t".into(),
            "file:///tmp/t".into(),
            schema,
            PartitionSpec::unpartition_spec(),
            &HashMap::new(),
        );
        let arrow = Arc::new(ArrowSchema::new(vec![Field::new(
            "region",
            DataType::Utf8,
            true,
        )]));
        let input: Arc<dyn ExecutionPlan> = Arc::new(RepartitionExec::try_new(
            Arc::new(EmptyExec::new(arrow)),
            datafusion::physical_plan::Partitioning::RoundRobinBatch(4),
        )?);
        let plan = |spec: &WriteSpec| -> Result<String> {
            let write = Arc::new(IcebergWriteExec::new(
                Arc::clone(&input),
                Arc::new(spec.clone()),
            ));
            let plan = EnforceSorting::new().optimize(write, &ConfigOptions::default())?;
            Ok(displayable(plan.as_ref()).indent(false).to_string())
        };
        assert!(!plan(&spec)?.contains("SortExec"));
        spec.sort_by = vec!["region".into()];
        let sorted = plan(&spec)?;
        assert!(
            sorted.contains("SortExec: expr=[region@0 ASC")
                && sorted.contains("preserve_partitioning=[true]")
                && !sorted.contains("SortPreservingMerge"),
            "{sorted}"
        );
        Ok(())
    }

    /// Data files come in row groups a scan can split, and only columns that repeat
    /// values get dictionaries: not a unique key, nor a column that is a NULL or a value.
    #[test]
    fn data_files_have_bounded_row_groups_and_dictionaries_where_values_repeat() -> Result<()> {
        use arrow::array::Int64Array;
        use parquet::basic::Encoding;
        use parquet::file::metadata::ColumnChunkMetaData;
        use parquet::file::reader::{FileReader, SerializedFileReader};

        let rows = 3 * ROW_GROUP_ROWS as i64 - 1000;
        let schema = Arc::new(ArrowSchema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("region", DataType::Utf8, false),
            Field::new("maybe", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from_iter_values(0..rows)),
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|i| format!("r{}", i % 3)),
                )),
                Arc::new(Int64Array::from_iter(
                    (0..rows).map(|i| (i % 2 == 0).then_some(7)),
                )),
            ],
        )?;
        let mut file = Vec::new();
        let props = writer_properties(&batch);
        let mut writer = parquet::arrow::ArrowWriter::try_new(&mut file, schema, Some(props))?;
        writer.write(&batch)?;
        writer.close()?;

        let reader = SerializedFileReader::new(bytes::Bytes::from(file))?;
        let groups = reader.metadata().row_groups();
        let sizes: Vec<i64> = groups.iter().map(|g| g.num_rows()).collect();
        let full = ROW_GROUP_ROWS as i64;
        assert_eq!(sizes, vec![full, full, full - 1000]);
        let data_pages = |c: &ColumnChunkMetaData| {
            let encodings = c.page_encoding_stats_mask().unwrap().encodings().collect();
            (c.dictionary_page_offset().is_some(), encodings)
        };
        let plain = (false, vec![Encoding::PLAIN]);
        let dictionary = (true, vec![Encoding::RLE_DICTIONARY]);
        assert_eq!(data_pages(groups[0].column(0)), plain);
        assert_eq!(data_pages(groups[0].column(1)), dictionary);
        assert_eq!(data_pages(groups[0].column(2)), dictionary);
        Ok(())
    }
}
