//! Reading data files that carry row-level deletes (merge-on-read tables, as Spark,
//! Trino or Flink write them): [`DeletesScanExec`] reads Iceberg's `FileScanTask`s with
//! iceberg-rust's own `ArrowReader`, which applies their position and equality delete
//! files, on the executors.
//!
//! A scan plans the tasks without deletes as DataFusion's Parquet scan and only those
//! with deletes here (`scan.rs`), so a table that another engine changed a little is
//! still read mostly by DataFusion. The tasks travel as JSON in Quarry's codec; each
//! output partition reads its tasks one after another, with the executor's object
//! stores (`storage::file_io`).

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{Schema, SchemaRef};
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use futures::{StreamExt, TryStreamExt};
use iceberg::arrow::ArrowReaderBuilder;
use iceberg::scan::FileScanTask;
use serde::{Deserialize, Serialize};

use super::scan::{FILE_COLUMN, file_field};
use super::types;
use crate::storage;

/// What a [`DeletesScanExec`] reads, as it travels to the executors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeletesScan {
    /// Per output partition, the tasks it reads (each with its delete files).
    pub groups: Vec<Vec<FileScanTask>>,
    /// The schema the files are read with.
    pub schema: iceberg::spec::Schema,
    /// The columns read, by index in that schema's Arrow form; the index one past its
    /// last column is `scan::FILE_COLUMN`, each row's data file.
    pub columns: Vec<usize>,
    /// Rows per batch.
    pub batch_size: usize,
}

impl DeletesScan {
    /// The schema of the rows read.
    fn output_schema(&self) -> Result<SchemaRef> {
        let schema = types::query_schema(&self.schema)?;
        let fields: Vec<_> = self
            .columns
            .iter()
            .map(|&i| match schema.fields().get(i) {
                Some(field) => Arc::clone(field),
                None => file_field(),
            })
            .collect();
        Ok(Arc::new(Schema::new(fields)))
    }
}

/// `tasks` dealt round-robin into at most `slots` groups.
pub fn spread(tasks: Vec<FileScanTask>, slots: usize) -> Vec<Vec<FileScanTask>> {
    let count = slots.clamp(1, tasks.len().max(1));
    let mut groups = vec![Vec::new(); count];
    for (i, task) in tasks.into_iter().enumerate() {
        groups[i % count].push(task);
    }
    groups
}

/// Reads data files with their delete files applied.
#[derive(Debug)]
pub struct DeletesScanExec {
    scan: DeletesScan,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl DeletesScanExec {
    /// A scan of `scan`'s tasks; their field ids to read are set here from its columns.
    pub fn try_new(mut scan: DeletesScan) -> Result<Self> {
        let ids = field_ids(&scan.schema, &scan.columns)?;
        for task in scan.groups.iter_mut().flatten() {
            task.project_field_ids = ids.clone();
            // Not serializable, and the reader needs it only to fill identity-partition
            // columns missing from a file, which Quarry does not write.
            task.partition = None;
        }
        let schema = scan.output_schema()?;
        let properties = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(scan.groups.len().max(1)),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Ok(Self {
            scan,
            schema,
            properties: Arc::new(properties),
        })
    }

    /// What it reads, to encode it.
    pub fn scan(&self) -> &DeletesScan {
        &self.scan
    }
}

/// The Iceberg field ids of the `columns` of `schema` that are its own (the first
/// column when there are none: the reader needs one to count rows by).
fn field_ids(schema: &iceberg::spec::Schema, columns: &[usize]) -> Result<Vec<i32>> {
    let fields = schema.as_struct().fields();
    let ids: Vec<i32> = columns
        .iter()
        .filter_map(|&i| fields.get(i))
        .map(|f| f.id)
        .collect();
    match (ids.is_empty(), fields.first()) {
        (true, Some(first)) => Ok(vec![first.id]),
        (true, None) => Err(DataFusionError::Internal("a table with no columns".into())),
        (false, _) => Ok(ids),
    }
}

impl DisplayAs for DeletesScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let tasks: usize = self.scan.groups.iter().map(Vec::len).sum();
        let deletes: usize = self
            .scan
            .groups
            .iter()
            .flatten()
            .map(|t| t.deletes.len())
            .sum();
        write!(
            f,
            "DeletesScanExec: data_files={tasks}, delete_files={deletes}, partitions={}",
            self.scan.groups.len()
        )
    }
}

impl ExecutionPlan for DeletesScanExec {
    fn name(&self) -> &str {
        "DeletesScanExec"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let tasks = self.scan.groups.get(partition).cloned().unwrap_or_default();
        let file_io = storage::file_io(Arc::clone(&context.runtime_env().object_store_registry));
        let (schema, batch_size) = (Arc::clone(&self.schema), self.scan.batch_size);
        let runtime = iceberg::Runtime::try_current().map_err(external)?;
        let batches = futures::stream::iter(tasks)
            .then(move |task| {
                let reader = ArrowReaderBuilder::new(file_io.clone(), runtime.clone())
                    .with_batch_size(batch_size)
                    .with_data_file_concurrency_limit(1)
                    .build();
                let schema = Arc::clone(&schema);
                let path = task.data_file_path.clone();
                async move {
                    let tasks = futures::stream::once(async move { Ok(task) }).boxed();
                    let stream = reader.read(tasks).map_err(external)?.stream();
                    let rows = stream.map(move |batch| {
                        let batch = batch.map_err(external)?;
                        conform(&batch, &schema, &path)
                    });
                    Ok::<_, DataFusionError>(rows)
                }
            })
            .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            batches,
        )))
    }
}

/// A batch the reader returned (the scan's own columns, in order), in the scan's
/// schema: columns cast to Quarry's types, the counting column dropped when none was
/// asked for, the data file's `path` where `scan::FILE_COLUMN` is.
fn conform(batch: &RecordBatch, schema: &SchemaRef, path: &str) -> Result<RecordBatch> {
    let mut read = batch.columns().iter();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        if field.name() == FILE_COLUMN {
            columns.push(Arc::new(StringArray::from(vec![path; batch.num_rows()])));
            continue;
        }
        let Some(column) = read.next() else {
            return Err(DataFusionError::Internal(format!(
                "the Iceberg reader returned no column {}",
                field.name()
            )));
        };
        columns.push(match column.data_type() == field.data_type() {
            true => Arc::clone(column),
            false => cast(column, field.data_type())?,
        });
    }
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    Ok(RecordBatch::try_new_with_options(
        Arc::clone(schema),
        columns,
        &options,
    )?)
}

fn external(e: iceberg::Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, StringArray};
    use datafusion::catalog::TableProvider;
    use datafusion::physical_plan::collect;
    use datafusion::prelude::SessionContext;
    use datafusion_proto::physical_plan::DefaultPhysicalProtoConverter;
    use datafusion_proto::protobuf::PhysicalPlanNode;
    use iceberg::TableIdent;
    use iceberg::spec::{
        DataContentType, DataFile, DataFileBuilder, DataFileFormat, ManifestListWriter,
        ManifestWriterBuilder, NestedField, Operation, PartitionSpec, PrimitiveType, Snapshot,
        Struct, Summary, Type, UNASSIGNED_SEQUENCE_NUMBER,
    };
    use iceberg::table::Table;
    use parquet::arrow::ArrowWriter;

    use super::*;
    use crate::Warehouse;
    use crate::codec::physical_codec;
    use crate::store::TableStore;
    use crate::table::stats::{WrittenFile, data_file};
    use crate::table::{IcebergTable, commit};

    /// Writes `columns` as a Parquet file of the Iceberg `schema` (with field ids) and
    /// returns its `DataFile`, as `content`.
    fn write(
        schema: &iceberg::spec::Schema,
        path: &std::path::Path,
        columns: Vec<ArrayRef>,
        content: DataContentType,
    ) -> DataFile {
        let arrow = types::arrow_schema(schema).unwrap();
        let batch = RecordBatch::try_new(Arc::clone(&arrow), columns).unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut writer =
            ArrowWriter::try_new(std::fs::File::create(path).unwrap(), arrow, None).unwrap();
        writer.write(&batch).unwrap();
        let footer = writer.finish().unwrap();
        let file = WrittenFile {
            path: format!("file://{}", path.display()),
            size: writer.bytes_written() as u64,
            partition: Struct::empty(),
            spec_id: 0,
            schema,
        };
        let mut file = data_file(file, &footer).unwrap();
        if content != DataContentType::Data {
            file = DataFileBuilder::default()
                .content(content)
                .file_path(file.file_path().to_string())
                .file_format(DataFileFormat::Parquet)
                .partition(Struct::empty())
                .partition_spec_id(0)
                .record_count(file.record_count())
                .file_size_in_bytes(file.file_size_in_bytes())
                .equality_ids((content == DataContentType::EqualityDeletes).then(|| vec![1]))
                .build()
                .unwrap();
        }
        file
    }

    fn ids_schema() -> iceberg::spec::Schema {
        iceberg::spec::Schema::builder()
            .with_fields(vec![
                NestedField::required(1, "id", Type::Primitive(PrimitiveType::Long)).into(),
            ])
            .build()
            .unwrap()
    }

    fn ids(schema: &iceberg::spec::Schema, path: &std::path::Path, ids: Vec<i64>) -> DataFile {
        let column: ArrayRef = Arc::new(Int64Array::from(ids));
        write(schema, path, vec![column], DataContentType::Data)
    }

    /// A position-delete file deleting rows `positions` of `data`.
    fn position_deletes(path: &std::path::Path, data: &DataFile, positions: Vec<i64>) -> DataFile {
        let schema = iceberg::spec::Schema::builder()
            .with_fields(vec![
                NestedField::required(
                    2147483546,
                    "file_path",
                    Type::Primitive(PrimitiveType::String),
                )
                .into(),
                NestedField::required(2147483545, "pos", Type::Primitive(PrimitiveType::Long))
                    .into(),
            ])
            .build()
            .unwrap();
        let files: ArrayRef = Arc::new(StringArray::from(vec![data.file_path(); positions.len()]));
        let positions: ArrayRef = Arc::new(Int64Array::from(positions));
        write(
            &schema,
            path,
            vec![files, positions],
            DataContentType::PositionDeletes,
        )
    }

    /// Commits `deletes` as a new snapshot of `table` by hand, as another engine would
    /// (Quarry itself writes copy-on-write).
    async fn commit_deletes(store: &TableStore, table: &Table, deletes: Vec<DataFile>) -> Table {
        let metadata = table.metadata();
        let location = metadata.location();
        let parent = metadata.current_snapshot().unwrap();
        let snapshot_id = parent.snapshot_id() + 1;
        let sequence = metadata.next_sequence_number();
        let io = store.file_io();
        let mut writer = ManifestWriterBuilder::new(
            io.new_output(format!("{location}/metadata/deletes-{snapshot_id}-m0.avro"))
                .unwrap(),
            Some(snapshot_id),
            Arc::clone(metadata.current_schema()),
            metadata.default_partition_spec().as_ref().clone(),
        )
        .build_v2_deletes();
        for file in deletes {
            writer.add_file(file, UNASSIGNED_SEQUENCE_NUMBER).unwrap();
        }
        let mut manifests = table
            .manifest_list_reader(parent)
            .load()
            .await
            .unwrap()
            .entries()
            .to_vec();
        manifests.push(writer.write_manifest_file().await.unwrap());
        let list_path = format!("{location}/metadata/snap-deletes-{snapshot_id}.avro");
        let mut list = ManifestListWriter::v2(
            io.new_output(&list_path).unwrap().writer().await.unwrap(),
            snapshot_id,
            Some(parent.snapshot_id()),
            sequence,
        );
        list.add_manifests(manifests.into_iter()).unwrap();
        list.close().await.unwrap();
        let snapshot = Snapshot::builder()
            .with_snapshot_id(snapshot_id)
            .with_parent_snapshot_id(Some(parent.snapshot_id()))
            .with_sequence_number(sequence)
            .with_timestamp_ms(metadata.last_updated_ms() + 1)
            .with_manifest_list(list_path)
            .with_summary(Summary {
                operation: Operation::Delete,
                additional_properties: Default::default(),
            })
            .with_schema_id(metadata.current_schema_id())
            .build();
        let updated = metadata
            .clone()
            .into_builder(table.metadata_location().map(str::to_string))
            .set_branch_snapshot(snapshot, iceberg::spec::MAIN_BRANCH)
            .unwrap()
            .build()
            .unwrap()
            .metadata;
        store.swap(table, updated).await.unwrap()
    }

    /// Scans `provider` (`columns` of it) and returns the rows as text, sorted, after
    /// sending the plan through Quarry's codec as the scheduler does to executors.
    async fn read(provider: IcebergTable, columns: Option<Vec<usize>>) -> Vec<String> {
        let ctx = SessionContext::new();
        let plan = provider
            .scan(&ctx.state(), columns.as_ref(), &[], None)
            .await
            .unwrap();
        let codec = physical_codec();
        let proto = PhysicalPlanNode::try_from_physical_plan_with_converter(
            Arc::clone(&plan),
            codec.as_ref(),
            &DefaultPhysicalProtoConverter {},
        )
        .unwrap();
        let plan = proto
            .try_into_physical_plan_with_converter(
                &ctx.task_ctx(),
                codec.as_ref(),
                &DefaultPhysicalProtoConverter {},
            )
            .unwrap();
        let batches = collect(plan, ctx.task_ctx()).await.unwrap();
        let mut rows: Vec<String> = arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string()
            .lines()
            .filter(|l| l.starts_with("| ") && !l.contains(" id "))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        rows.sort();
        rows
    }

    /// Position deletes, then an equality delete, committed by hand as another engine
    /// would: each read leaves the deleted rows out, files without deletes going through
    /// DataFusion's scan beside the others, and the plan survives the codec.
    #[tokio::test(flavor = "multi_thread")]
    async fn position_and_equality_deletes_are_applied() {
        let dir = tempfile::tempdir().unwrap();
        let warehouse = Warehouse::open(dir.path().to_string_lossy()).unwrap();
        let store = TableStore::open_embedded(&warehouse, &["ns".to_string()])
            .await
            .unwrap();
        let schema = ids_schema();
        let ident = TableIdent::from_strs(["ns", "t"]).unwrap();
        let location = store.new_location(&ident);
        let root = std::path::PathBuf::from(location.strip_prefix("file://").unwrap());
        let a = ids(&schema, &root.join("data/a.parquet"), vec![1, 2, 3]);
        let b = ids(&schema, &root.join("data/b.parquet"), vec![4, 5]);
        let spec = PartitionSpec::unpartition_spec();
        let none = Default::default();
        let table = commit::create(
            &store,
            &ident,
            &location,
            (schema.clone(), &spec),
            &none,
            vec![a.clone(), b],
        )
        .await
        .unwrap();
        let rows = |r: &[i64]| r.iter().map(|i| format!("| {i} |")).collect::<Vec<_>>();
        assert_eq!(
            read(IcebergTable::new(table.clone()).unwrap(), None).await,
            rows(&[1, 2, 3, 4, 5])
        );

        // Rows 0 and 2 of a.parquet go (iceberg-rust gives the delete file to every
        // file of the partition; the reader applies it to the one it names).
        let deletes = position_deletes(&root.join("data/pos.parquet"), &a, vec![0, 2]);
        let table = commit_deletes(&store, &table, vec![deletes]).await;
        assert_eq!(
            read(IcebergTable::new(table.clone()).unwrap(), None).await,
            rows(&[2, 4, 5])
        );
        // A file appended after the deletes has none: DataFusion's scan reads it.
        let c = ids(&schema, &root.join("data/c.parquet"), vec![6, 7]);
        let table = commit::append(
            &store,
            &ident,
            table.metadata().uuid(),
            commit::Written::new(&table, vec![c]),
        )
        .await
        .unwrap();
        let provider = IcebergTable::new(table.clone()).unwrap();
        let plan = provider
            .scan(&SessionContext::new().state(), None, &[], None)
            .await
            .unwrap();
        let shown = datafusion::physical_plan::displayable(plan.as_ref())
            .indent(false)
            .to_string();
        assert!(
            shown.contains("UnionExec") && shown.contains("data_files=2, delete_files=2"),
            "{shown}"
        );
        assert_eq!(read(provider, None).await, rows(&[2, 4, 5, 6, 7]));

        // An equality delete of ids 4 and 6: every file has deletes now.
        let column: ArrayRef = Arc::new(Int64Array::from(vec![4, 6]));
        let equality = write(
            &schema,
            &root.join("data/eq.parquet"),
            vec![column],
            DataContentType::EqualityDeletes,
        );
        let table = commit_deletes(&store, &table, vec![equality]).await;
        assert_eq!(
            read(IcebergTable::new(table.clone()).unwrap(), None).await,
            rows(&[2, 5, 7])
        );
        // With each row's file, and with no column at all (a count).
        let files = read(
            IcebergTable::new(table.clone()).unwrap().with_file_column(),
            None,
        )
        .await;
        assert_eq!(files.len(), 3);
        assert!(
            files[0].contains("a.parquet") && files[2].contains("c.parquet"),
            "{files:?}"
        );
        let ctx = SessionContext::new();
        ctx.register_table("t", Arc::new(IcebergTable::new(table).unwrap()))
            .unwrap();
        let count = ctx
            .sql("SELECT count(*) FROM t")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let count = arrow::util::pretty::pretty_format_batches(&count)
            .unwrap()
            .to_string();
        assert!(count.contains("| 3 "), "{count}");
    }
}
