//! Scans of Iceberg tables, planned on the scheduler.
//!
//! Iceberg's `plan_files` picks the data files of the current snapshot that the query's
//! filters may match (partition values and column bounds). They become DataFusion's own
//! Parquet scan (`DataSourceExec` over `ParquetSource`), which serializes to executors
//! with the default codecs: files spread over all task slots, large ones split by byte
//! range, each carrying its row count and column bounds from the manifests so that
//! DataFusion's planner sizes joins well and the Parquet reader prunes further.
//!
//! [`IcebergScanExec`] sits on top: it names the table and snapshot in plans and reports
//! how many data files planning kept and pruned as metrics, so `EXPLAIN ANALYZE` shows it.

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{DataType, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::Session;
use datafusion::common::config::{ConfigOptions, TableParquetOptions};
use datafusion::common::stats::{ColumnStatistics, Precision, Statistics};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{
    FileGroup, FileGroupPartitioner, FileScanConfig, FileScanConfigBuilder, ParquetSource,
};
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::filter_pushdown::{FilterDescription, FilterPushdownPhase};
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::union::UnionExec;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use datafusion_datasource::TableSchema;
use futures::TryStreamExt;
use iceberg::spec::{
    DataContentType, DataFile, Datum, NestedField, PrimitiveLiteral, PrimitiveType, Type,
};
use iceberg::table::Table;
use serde::{Deserialize, Serialize};

use super::deletes::{self, DeletesScan, DeletesScanExec};
use super::evolution::{self, FieldIdAdapterFactory};
use super::predicate::{Columns, to_predicate};
use super::{TableError, store_path};

/// Which of a table's rows a scan reads.
#[derive(Debug, Clone, Default)]
pub struct Read {
    /// This snapshot's rather than the current one's (time travel).
    pub snapshot: Option<i64>,
    /// Only the data files added after this snapshot (which the caller knows was
    /// followed by appends only).
    pub since: Option<i64>,
    /// Only these data files (by path).
    pub only: Option<Arc<HashSet<String>>>,
    /// The scan's schema ends with [`FILE_COLUMN`]: each row's data file.
    pub file_column: bool,
}

/// The column that names each row's data file, in scans that ask for it (a `MERGE`
/// finding the files its matches are in).
pub const FILE_COLUMN: &str = "__quarry_file";

/// The [`FILE_COLUMN`] field.
pub fn file_field() -> arrow::datatypes::FieldRef {
    Arc::new(arrow::datatypes::Field::new(
        FILE_COLUMN,
        DataType::Utf8,
        false,
    ))
}

/// Plans a scan of the table's current snapshot, or of the one `read` names.
pub async fn plan_scan(
    state: &dyn Session,
    table: &Table,
    schema: &SchemaRef,
    (projection, filters, limit): (Option<&Vec<usize>>, &[Expr], Option<usize>),
    read: Read,
) -> Result<Arc<dyn ExecutionPlan>> {
    let projected = match projection {
        Some(p) => Arc::new(schema.project(p)?),
        None => Arc::clone(schema),
    };
    let name = table.identifier().to_string();
    let metadata = table.metadata();
    let snapshot = match read.snapshot {
        Some(id) => metadata.snapshot_by_id(id),
        None => metadata.current_snapshot(),
    };
    let Some(snapshot) = snapshot else {
        return Ok(Arc::new(EmptyExec::new(projected)));
    };
    // The schema the scan's columns are named in: the table's now, or, travelling in
    // time, the snapshot's. Files are read by its field ids (`evolution.rs`).
    let iceberg_schema = match read.snapshot {
        Some(_) => snapshot.schema(metadata).map_err(TableError::from)?,
        None => Arc::clone(metadata.current_schema()),
    };
    let field_ids = evolution::field_ids(&iceberg_schema);
    let started = std::time::Instant::now();
    let mut builder = table
        .scan()
        .snapshot_id(snapshot.snapshot_id())
        .select_all();
    let snapshot_schema = snapshot.schema(metadata).map_err(TableError::from)?;
    let columns = Columns::bound(metadata, &iceberg_schema, &snapshot_schema);
    if let Some(predicate) = to_predicate(filters, &columns) {
        builder = builder.with_filter(predicate);
    }
    let mut tasks: Vec<_> = builder
        .build()
        .map_err(TableError::from)?
        .plan_files()
        .await
        .map_err(TableError::from)?
        .try_collect()
        .await
        .map_err(TableError::from)?;
    if let Some(since) = read.since {
        let earlier = match table.metadata().snapshot_by_id(since) {
            Some(earlier) => live_data_files(table, earlier).await?,
            None => DataFiles::default(),
        };
        tasks.retain(|task| !earlier.contains_key(&task.data_file_path));
    }
    if let Some(only) = &read.only {
        tasks.retain(|task| only.contains(&task.data_file_path));
    }
    // Files with row-level deletes are read by Iceberg's reader; the rest by DataFusion.
    let (with_deletes, tasks): (Vec<_>, Vec<_>) =
        tasks.into_iter().partition(|t| !t.deletes.is_empty());
    let tasks_planned = started.elapsed();
    let data_files = live_data_files(table, snapshot).await?;
    let files_read = started.elapsed();
    let (url, _) = store_path(table.metadata().location())?;
    // The file's path is a partition value, constant over its rows.
    let file_schema = match read.file_column {
        true => Arc::new(Schema::new(
            schema.fields()[..schema.fields().len() - 1].to_vec(),
        )),
        false => Arc::clone(schema),
    };
    let mut files = Vec::with_capacity(tasks.len());
    for task in &tasks {
        let (_, path) = store_path(&task.data_file_path)?;
        let mut file = PartitionedFile::new(path.to_string(), task.file_size_in_bytes);
        if let Some(data_file) = data_files.get(&task.data_file_path) {
            let mut statistics = file_statistics(data_file, &iceberg_schema, &file_schema);
            if read.file_column {
                let name = ScalarValue::Utf8(Some(task.data_file_path.clone()));
                statistics.column_statistics.push(ColumnStatistics {
                    null_count: Precision::Exact(0),
                    min_value: Precision::Exact(name.clone()),
                    max_value: Precision::Exact(name),
                    distinct_count: Precision::Exact(1),
                    ..ColumnStatistics::new_unknown()
                });
            }
            file = file.with_statistics(Arc::new(statistics));
        }
        if read.file_column {
            file.partition_values = vec![ScalarValue::Utf8(Some(task.data_file_path.clone()))];
        }
        files.push(file);
    }
    let planned = files.len() + with_deletes.len();
    let plain = !files.is_empty();
    let total: usize = snapshot
        .summary()
        .additional_properties
        .get("total-data-files")
        .and_then(|n| n.parse().ok())
        .unwrap_or(data_files.len());
    let statistics = match files
        .iter()
        .map(|f| f.statistics.as_deref())
        .collect::<Option<Vec<_>>>()
    {
        Some(stats) => Statistics::try_merge_iter(stats, schema)?,
        None => Statistics::new_unknown(schema),
    };
    let options = state.config_options();
    let groups = spread(files, options);
    let parquet_options = TableParquetOptions {
        global: options.execution.parquet.clone(),
        ..Default::default()
    };
    // DataFusion pushes the query's filters into this source itself.
    let partition_columns = match read.file_column {
        true => vec![file_field()],
        false => Vec::new(),
    };
    let source = ParquetSource::new(TableSchema::new(file_schema, partition_columns))
        .with_table_parquet_options(parquet_options);
    let config = FileScanConfigBuilder::new(url, Arc::new(source))
        .with_file_groups(groups)
        .with_statistics(statistics)
        .with_projection_indices(projection.cloned())?
        .with_limit(limit)
        .with_expr_adapter(Some(Arc::new(FieldIdAdapterFactory::new(&field_ids))))
        .build();
    let mut scan: Arc<dyn ExecutionPlan> = DataSourceExec::from_data_source(config);
    if !with_deletes.is_empty() {
        let columns = match projection {
            Some(p) => p.clone(),
            None => (0..schema.fields().len()).collect(),
        };
        let deletes = Arc::new(DeletesScanExec::try_new(DeletesScan {
            groups: deletes::spread(with_deletes, options.execution.target_partitions),
            schema: iceberg_schema.as_ref().clone(),
            columns,
            batch_size: options.execution.batch_size,
        })?);
        scan = match plain {
            true => UnionExec::try_new(vec![scan, deletes])?,
            false => deletes,
        };
    }
    tracing::debug!(
        table = %name,
        files = planned,
        plan_files_us = tasks_planned.as_micros() as u64,
        manifests_us = (files_read - tasks_planned).as_micros() as u64,
        total_us = started.elapsed().as_micros() as u64,
        "scan planned"
    );
    Ok(Arc::new(IcebergScanExec::new(
        scan,
        ScanSummary {
            table: name,
            snapshot_id: snapshot.snapshot_id(),
            files_planned: planned,
            files_pruned: total.saturating_sub(planned),
            field_ids,
        },
    )))
}

/// Spreads files over the session's task slots: by byte range when they are large
/// enough to split, else whole files, largest first onto the emptiest group.
fn spread(files: Vec<PartitionedFile>, options: &ConfigOptions) -> Vec<FileGroup> {
    let slots = options.execution.target_partitions.max(1);
    let one = [FileGroup::new(files)];
    if let Some(groups) = FileGroupPartitioner::new()
        .with_target_partitions(slots)
        .with_repartition_file_min_size(options.optimizer.repartition_file_min_size)
        .repartition_file_groups(&one)
    {
        return groups;
    }
    let [one] = one;
    let mut files = one.into_inner();
    files.sort_by_key(|f| std::cmp::Reverse(f.object_meta.size));
    let count = slots.min(files.len()).max(1);
    let mut groups: Vec<(u64, Vec<PartitionedFile>)> = vec![(0, Vec::new()); count];
    for file in files {
        if let Some(emptiest) = groups.iter_mut().min_by_key(|(size, _)| *size) {
            emptiest.0 += file.object_meta.size;
            emptiest.1.push(file);
        }
    }
    groups
        .into_iter()
        .map(|(_, files)| FileGroup::new(files))
        .collect()
}

/// Whether every snapshot after `since` up to the current one only appended files, so
/// that the current snapshot holds `since`'s files and some more.
pub fn only_appends_since(table: &Table, since: i64) -> bool {
    let metadata = table.metadata();
    let mut at = metadata.current_snapshot();
    while let Some(snapshot) = at {
        if snapshot.snapshot_id() == since {
            return true;
        }
        if snapshot.summary().operation != iceberg::spec::Operation::Append {
            return false;
        }
        at = snapshot
            .parent_snapshot_id()
            .and_then(|parent| metadata.snapshot_by_id(parent));
    }
    false
}

/// Where the data files of the table's current snapshot are, as object-store paths
/// (the locations scans read, see [`file_key`]).
pub async fn current_file_locations(table: &Table) -> Result<Vec<String>, TableError> {
    let Some(snapshot) = table.metadata().current_snapshot() else {
        return Ok(Vec::new());
    };
    live_data_files(table, snapshot)
        .await?
        .keys()
        .map(|path| Ok(store_path(path)?.1.to_string()))
        .collect()
}

/// The bytes a scan of the table's current snapshot (or of snapshot `at`) reads for
/// `columns` (indices into that snapshot's schema; every column when `None`), by the
/// per-column sizes its manifests record (a file's whole size when they record none).
/// This is what the scan's Parquet reads cost, before any pruning by filters.
pub async fn column_bytes(
    table: &Table,
    at: Option<i64>,
    columns: Option<&[usize]>,
) -> Result<u64, TableError> {
    let metadata = table.metadata();
    let snapshot = match at {
        Some(id) => metadata.snapshot_by_id(id),
        None => metadata.current_snapshot(),
    };
    let Some(snapshot) = snapshot else {
        return Ok(0);
    };
    let files = live_data_files(table, snapshot).await?;
    let Some(columns) = columns else {
        return Ok(files.values().map(DataFile::file_size_in_bytes).sum());
    };
    let schema = snapshot.schema(metadata)?;
    let fields = schema.as_struct().fields();
    let mut ids = HashSet::new();
    for field in columns.iter().filter_map(|&i| fields.get(i)) {
        field_ids(field, &mut ids);
    }
    Ok(files
        .values()
        .map(|file| match file.column_sizes() {
            sizes if sizes.is_empty() => file.file_size_in_bytes(),
            sizes => sizes
                .iter()
                .filter(|(id, _)| ids.contains(*id))
                .map(|(_, bytes)| bytes)
                .sum(),
        })
        .sum())
}

/// The ids of `field` and of every field nested in it (Parquet stores the leaves).
fn field_ids(field: &NestedField, ids: &mut HashSet<i32>) {
    ids.insert(field.id);
    match field.field_type.as_ref() {
        Type::Struct(fields) => fields.fields().iter().for_each(|f| field_ids(f, ids)),
        Type::List(list) => field_ids(&list.element_field, ids),
        Type::Map(map) => {
            field_ids(&map.key_field, ids);
            field_ids(&map.value_field, ids);
        }
        Type::Primitive(_) => {}
    }
}

/// The live data files of snapshots read lately, by manifest list: a manifest list
/// never changes, and reading it and its manifests again costs more than the rest of
/// planning a small scan (a dashboard's query of a reflection). At most this many data
/// files are kept.
const CACHED_DATA_FILES: u64 = 200_000;

type DataFiles = Arc<HashMap<String, DataFile>>;

static LIVE_DATA_FILES: std::sync::LazyLock<moka::future::Cache<String, DataFiles>> =
    std::sync::LazyLock::new(|| {
        moka::future::Cache::builder()
            .max_capacity(CACHED_DATA_FILES)
            .weigher(|_, files: &DataFiles| u32::try_from(files.len()).unwrap_or(u32::MAX))
            .build()
    });

/// The live data files of `snapshot` by path, from its manifests (or from the files
/// of a snapshot read lately).
pub(crate) async fn live_data_files(
    table: &Table,
    snapshot: &iceberg::spec::SnapshotRef,
) -> Result<DataFiles, TableError> {
    LIVE_DATA_FILES
        .try_get_with(
            snapshot.manifest_list().to_string(),
            read_live_data_files(table, snapshot),
        )
        .await
        // Several planners waiting on one read share its error.
        .map_err(|e| {
            Arc::try_unwrap(e).unwrap_or_else(|e| DataFusionError::External(Box::new(e)).into())
        })
}

async fn read_live_data_files(
    table: &Table,
    snapshot: &iceberg::spec::SnapshotRef,
) -> Result<DataFiles, TableError> {
    let mut files = HashMap::new();
    let list = table.manifest_list_reader(snapshot).load().await?;
    for manifest in list.entries() {
        for entry in manifest.load_manifest(table.file_io()).await?.entries() {
            if entry.is_alive() && entry.content_type() == DataContentType::Data {
                let file = entry.data_file().clone();
                files.insert(file.file_path().to_string(), file);
            }
        }
    }
    Ok(Arc::new(files))
}

/// A data file's row count, size and column statistics as DataFusion's `Statistics`,
/// for the columns of `schema` (the Arrow form of `iceberg_schema`).
pub(crate) fn file_statistics(
    file: &DataFile,
    iceberg_schema: &iceberg::spec::Schema,
    schema: &SchemaRef,
) -> Statistics {
    let columns = schema
        .fields()
        .iter()
        .map(|field| {
            let Some(id) = iceberg_schema.field_id_by_name(field.name()) else {
                return ColumnStatistics::new_unknown();
            };
            let bound = |bounds: &HashMap<i32, Datum>| {
                bounds
                    .get(&id)
                    .and_then(|d| scalar(d, field.data_type()))
                    .map(Precision::Exact)
                    .unwrap_or(Precision::Absent)
            };
            ColumnStatistics {
                null_count: file
                    .null_value_counts()
                    .get(&id)
                    .map(|n| Precision::Exact(*n as usize))
                    .unwrap_or(Precision::Absent),
                min_value: bound(file.lower_bounds()),
                max_value: bound(file.upper_bounds()),
                byte_size: file
                    .column_sizes()
                    .get(&id)
                    .map(|n| Precision::Inexact(*n as usize))
                    .unwrap_or(Precision::Absent),
                ..ColumnStatistics::new_unknown()
            }
        })
        .collect();
    Statistics {
        num_rows: Precision::Exact(file.record_count() as usize),
        total_byte_size: Precision::Inexact(file.file_size_in_bytes() as usize),
        column_statistics: columns,
    }
}

/// An Iceberg bound as a DataFusion value of the column's type.
fn scalar(datum: &Datum, data_type: &DataType) -> Option<ScalarValue> {
    use PrimitiveLiteral as L;
    let tz = |t: &DataType| match t {
        DataType::Timestamp(TimeUnit::Microsecond, tz) => Some(tz.clone()),
        _ => None,
    };
    Some(match (datum.data_type(), datum.literal()) {
        (PrimitiveType::Boolean, L::Boolean(v)) => ScalarValue::Boolean(Some(*v)),
        (PrimitiveType::Int, L::Int(v)) => ScalarValue::Int32(Some(*v)),
        (PrimitiveType::Long, L::Long(v)) => ScalarValue::Int64(Some(*v)),
        (PrimitiveType::Float, L::Float(v)) => ScalarValue::Float32(Some(v.0)),
        (PrimitiveType::Double, L::Double(v)) => ScalarValue::Float64(Some(v.0)),
        (PrimitiveType::Date, L::Int(v)) => ScalarValue::Date32(Some(*v)),
        (PrimitiveType::Time, L::Long(v)) => ScalarValue::Time64Microsecond(Some(*v)),
        (PrimitiveType::Timestamp | PrimitiveType::Timestamptz, L::Long(v)) => {
            ScalarValue::TimestampMicrosecond(Some(*v), tz(data_type)?)
        }
        (PrimitiveType::String, L::String(v)) => ScalarValue::Utf8(Some(v.clone())),
        (PrimitiveType::Decimal { precision, scale }, L::Int128(v)) => {
            ScalarValue::Decimal128(Some(*v), *precision as u8, *scale as i8)
        }
        _ => return None,
    })
    .filter(|v| &v.data_type() == data_type)
}

/// The name of one file (or byte range of a file) that `config` reads. Data files never
/// change, so the name stands for the same rows for as long as the file exists: it keys
/// executors' reflection memory, and the scheduler's memory of which executor holds it.
pub fn file_key(config: &FileScanConfig, file: &PartitionedFile) -> String {
    let range = file
        .range
        .as_ref()
        .map(|r| format!("{}..{}", r.start, r.end))
        .unwrap_or_default();
    format!(
        "{}{}#{range}",
        config.object_store_url.as_str(),
        file.object_meta.location
    )
}

/// What planning decided about a scan, shown in plans and metrics.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScanSummary {
    pub table: String,
    pub snapshot_id: i64,
    pub files_planned: usize,
    pub files_pruned: usize,
    /// The field id of each column the scan reads, by name: the executors read files
    /// by them (DataFusion's codec drops the scan's adapter; Quarry's puts it back).
    #[serde(default)]
    pub field_ids: Vec<(String, i32)>,
}

/// The scan of one Iceberg table: the Parquet scan below it does the reading.
#[derive(Debug)]
pub struct IcebergScanExec {
    input: Arc<dyn ExecutionPlan>,
    summary: ScanSummary,
    metrics: ExecutionPlanMetricsSet,
}

impl IcebergScanExec {
    pub fn new(input: Arc<dyn ExecutionPlan>, summary: ScanSummary) -> Self {
        Self {
            input,
            summary,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    pub fn summary(&self) -> &ScanSummary {
        &self.summary
    }

    /// Whether this scans a reflection's materialization (a table of the hidden
    /// namespace).
    pub fn is_reflection(&self) -> bool {
        self.summary
            .table
            .split_once('.')
            .is_some_and(|(namespace, _)| namespace == crate::reflection::NAMESPACE)
    }

    /// The Parquet file scan that does the reading, when the input is one (an empty
    /// table's input is not).
    pub fn file_scan(&self) -> Option<&FileScanConfig> {
        self.input
            .as_any()
            .downcast_ref::<DataSourceExec>()?
            .data_source()
            .as_any()
            .downcast_ref::<FileScanConfig>()
    }
}

impl DisplayAs for IcebergScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let s = &self.summary;
        write!(
            f,
            "IcebergScanExec: table={}, snapshot={}, data_files={} of {}",
            s.table,
            s.snapshot_id,
            s.files_planned,
            s.files_planned + s.files_pruned
        )
    }
}

impl ExecutionPlan for IcebergScanExec {
    fn name(&self) -> &str {
        "IcebergScanExec"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let [input] = <[_; 1]>::try_from(children)
            .map_err(|_| DataFusionError::Internal("IcebergScanExec has one input".into()))?;
        Ok(Arc::new(Self::new(input, self.summary.clone())))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition == 0 {
            // Planning's totals, counted once per scan.
            MetricBuilder::new(&self.metrics)
                .global_counter("data_files_planned")
                .add(self.summary.files_planned);
            MetricBuilder::new(&self.metrics)
                .global_counter("data_files_pruned")
                .add(self.summary.files_pruned);
        }
        self.input.execute(partition, context)
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn partition_statistics(&self, partition: Option<usize>) -> Result<Statistics> {
        self.input.partition_statistics(partition)
    }

    fn gather_filters_for_pushdown(
        &self,
        _phase: FilterPushdownPhase,
        parent_filters: Vec<Arc<dyn PhysicalExpr>>,
        _config: &ConfigOptions,
    ) -> Result<FilterDescription> {
        FilterDescription::from_children(parent_filters, &self.children())
    }
}
