//! Metadata tables: `"t$snapshots"`, `"t$history"`, `"t$files"`, `"t$manifests"`,
//! `"t$partitions"` and `"t$refs"`, with the columns Trino gives them.
//!
//! [`MetadataTable`] is a `TableProvider` over one table as it was loaded when the query
//! was planned; its rows are read from the table's metadata and manifests when it is
//! scanned, written as JSON rows and decoded into Arrow by arrow-json against the
//! table's schema (maps, structs and lists included), and served from memory.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use arrow::json::ReaderBuilder;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::Result;
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use iceberg::spec::{
    DataContentType, DataFile, Datum, ManifestFile, NestedFieldRef, PrimitiveType,
    SnapshotRetention, StructType,
};
use iceberg::table::Table;
use serde_json::{Value, json};

use super::{TableError, types, versions};

/// The kinds of metadata table, by the suffix that names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Snapshots,
    History,
    Files,
    Manifests,
    Partitions,
    Refs,
}

impl Kind {
    const ALL: [(&'static str, Kind); 6] = [
        ("snapshots", Kind::Snapshots),
        ("history", Kind::History),
        ("files", Kind::Files),
        ("manifests", Kind::Manifests),
        ("partitions", Kind::Partitions),
        ("refs", Kind::Refs),
    ];
}

/// Splits `"t$snapshots"` into the table's name and the kind of metadata table; `None`
/// for a name without a `$` suffix. An unknown suffix is an error that lists the known.
pub fn split_name(name: &str) -> Option<Result<(&str, Kind), TableError>> {
    let (table, suffix) = name.rsplit_once('$')?;
    let kind = Kind::ALL
        .iter()
        .find(|(s, _)| s.eq_ignore_ascii_case(suffix))
        .map(|(_, kind)| *kind);
    Some(match kind {
        Some(kind) => Ok((table, kind)),
        None => Err(TableError::NoTable(format!(
            "'{name}': no metadata table '${suffix}' (there are {})",
            Kind::ALL.map(|(s, _)| format!("${s}")).join(", ")
        ))),
    })
}

/// One metadata table of an Iceberg table.
#[derive(Debug, Clone)]
pub struct MetadataTable {
    table: Table,
    kind: Kind,
    schema: SchemaRef,
}

impl MetadataTable {
    pub fn new(table: Table, kind: Kind) -> Result<Self, TableError> {
        let schema = schema(&table, kind)?;
        Ok(Self {
            table,
            kind,
            schema,
        })
    }

    /// The metadata table's rows.
    pub async fn rows(&self) -> Result<RecordBatch, TableError> {
        let rows = match self.kind {
            Kind::Snapshots => snapshots(&self.table),
            Kind::History => history(&self.table),
            Kind::Refs => refs(&self.table)?,
            Kind::Files => files(&self.table).await?,
            Kind::Manifests => manifests(&self.table).await?,
            Kind::Partitions => partitions(&self.table).await?,
        };
        let mut decoder = ReaderBuilder::new(Arc::clone(&self.schema))
            .build_decoder()
            .map_err(|e| TableError::Invalid(format!("metadata table: {e}")))?;
        decoder
            .serialize(&rows)
            .map_err(|e| TableError::Invalid(format!("metadata table: {e}")))?;
        Ok(decoder
            .flush()
            .map_err(|e| TableError::Invalid(format!("metadata table: {e}")))?
            .unwrap_or_else(|| RecordBatch::new_empty(Arc::clone(&self.schema))))
    }
}

#[async_trait]
impl TableProvider for MetadataTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let rows = self.rows().await?;
        Ok(MemorySourceConfig::try_new_exec(
            &[vec![rows]],
            Arc::clone(&self.schema),
            projection.cloned(),
        )?)
    }
}

fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

fn map(key: DataType, value: DataType) -> DataType {
    let entries = Fields::from(vec![
        Field::new("key", key, false),
        Field::new("value", value, true),
    ]);
    DataType::Map(
        Arc::new(Field::new("entries", DataType::Struct(entries), false)),
        false,
    )
}

fn list(item: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", item, true)))
}

fn schema(table: &Table, kind: Kind) -> Result<SchemaRef, TableError> {
    use DataType::{Binary, Boolean, Int32, Int64, Utf8};
    let f = |name: &str, t: DataType| Field::new(name, t, true);
    let partition = partition_field(table)?;
    let fields = match kind {
        Kind::Snapshots => vec![
            f("committed_at", timestamp()),
            f("snapshot_id", Int64),
            f("parent_id", Int64),
            f("operation", Utf8),
            f("manifest_list", Utf8),
            f("summary", map(Utf8, Utf8)),
        ],
        Kind::History => vec![
            f("made_current_at", timestamp()),
            f("snapshot_id", Int64),
            f("parent_id", Int64),
            f("is_current_ancestor", Boolean),
        ],
        Kind::Files => [f("content", Int32), f("file_path", Utf8)]
            .into_iter()
            .chain([f("file_format", Utf8), f("spec_id", Int32)])
            .chain(partition)
            .chain([
                f("record_count", Int64),
                f("file_size_in_bytes", Int64),
                f("column_sizes", map(Int32, Int64)),
                f("value_counts", map(Int32, Int64)),
                f("null_value_counts", map(Int32, Int64)),
                f("nan_value_counts", map(Int32, Int64)),
                f("lower_bounds", map(Int32, Utf8)),
                f("upper_bounds", map(Int32, Utf8)),
                f("key_metadata", Binary),
                f("split_offsets", list(Int64)),
                f("equality_ids", list(Int32)),
                f("sort_order_id", Int32),
            ])
            .collect(),
        Kind::Manifests => {
            let summary = Fields::from(vec![
                f("contains_null", Boolean),
                f("contains_nan", Boolean),
                f("lower_bound", Utf8),
                f("upper_bound", Utf8),
            ]);
            vec![
                f("path", Utf8),
                f("length", Int64),
                f("partition_spec_id", Int32),
                f("added_snapshot_id", Int64),
                f("added_data_files_count", Int32),
                f("added_rows_count", Int64),
                f("existing_data_files_count", Int32),
                f("existing_rows_count", Int64),
                f("deleted_data_files_count", Int32),
                f("deleted_rows_count", Int64),
                f("partition_summaries", list(DataType::Struct(summary))),
            ]
        }
        Kind::Partitions => partition
            .into_iter()
            .chain([
                f("record_count", Int64),
                f("file_count", Int64),
                f("total_size", Int64),
            ])
            .collect(),
        Kind::Refs => vec![
            f("name", Utf8),
            f("type", Utf8),
            f("snapshot_id", Int64),
            f("max_reference_age_in_ms", Int64),
            f("min_snapshots_to_keep", Int32),
            f("max_snapshot_age_in_ms", Int64),
        ],
    };
    Ok(Arc::new(Schema::new(fields)))
}

/// The table's partition tuple as a struct column, if the table is partitioned.
fn partition_field(table: &Table) -> Result<Option<Field>, TableError> {
    let partition = partition_type(table)?;
    if partition.fields().is_empty() {
        return Ok(None);
    }
    let schema = iceberg::spec::Schema::builder()
        .with_fields(partition.fields().to_vec())
        .build()?;
    let fields = types::query_schema(&schema)?.fields().clone();
    Ok(Some(Field::new(
        "partition",
        DataType::Struct(fields),
        true,
    )))
}

/// The partition tuple of every spec the table has had, by partition field id (as
/// Iceberg's `Partitioning.partitionType`): a file shows NULL for fields its spec lacks.
fn partition_type(table: &Table) -> Result<StructType, TableError> {
    Ok(PartitionTypes::of(table)?.all)
}

/// The table's partition types: of all specs together, and of each.
struct PartitionTypes {
    all: StructType,
    by_spec: HashMap<i32, StructType>,
}

impl PartitionTypes {
    fn of(table: &Table) -> Result<Self, TableError> {
        let metadata = table.metadata();
        let mut specs: Vec<_> = metadata.partition_specs_iter().collect();
        specs.sort_by_key(|spec| spec.spec_id());
        let mut by_spec = HashMap::new();
        let mut fields: Vec<NestedFieldRef> = Vec::new();
        for spec in specs {
            let ty = spec.partition_type(metadata.current_schema())?;
            for field in ty.fields() {
                if fields.iter().any(|f| f.id == field.id) {
                    continue;
                }
                let mut field = field.as_ref().clone();
                field.required = false;
                if fields.iter().any(|f| f.name == field.name) {
                    field.name = format!("{}_{}", field.name, field.id);
                }
                fields.push(Arc::new(field));
            }
            by_spec.insert(spec.spec_id(), ty);
        }
        Ok(Self {
            all: StructType::new(fields),
            by_spec,
        })
    }

    /// A data file's partition tuple as a JSON object over all specs' fields.
    fn json(&self, spec_id: i32, file: &DataFile) -> Value {
        let own: HashMap<i32, Value> = match self.by_spec.get(&spec_id) {
            Some(ty) => ty
                .fields()
                .iter()
                .zip(file.partition().iter())
                .filter_map(|(field, value)| {
                    let value = value?.clone().try_into_json(&field.field_type).ok()?;
                    Some((field.id, value))
                })
                .collect(),
            None => HashMap::new(),
        };
        let values = self.all.fields().iter().map(|field| {
            let value = own.get(&field.id).cloned().unwrap_or(Value::Null);
            (field.name.clone(), value)
        });
        Value::Object(values.collect())
    }
}

fn snapshots(table: &Table) -> Vec<Value> {
    let mut snapshots: Vec<_> = table.metadata().snapshots().collect();
    snapshots.sort_by_key(|s| (s.timestamp_ms(), s.sequence_number()));
    snapshots
        .into_iter()
        .map(|s| {
            let summary = s.summary();
            let mut properties: BTreeMap<&str, &str> = summary
                .additional_properties
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            properties.insert("operation", summary.operation.as_str());
            json!({
                "committed_at": s.timestamp_ms(),
                "snapshot_id": s.snapshot_id(),
                "parent_id": s.parent_snapshot_id(),
                "operation": summary.operation.as_str(),
                "manifest_list": s.manifest_list(),
                "summary": properties,
            })
        })
        .collect()
}

fn history(table: &Table) -> Vec<Value> {
    let metadata = table.metadata();
    metadata
        .history()
        .iter()
        .map(|log| {
            let parent = metadata
                .snapshot_by_id(log.snapshot_id)
                .and_then(|s| s.parent_snapshot_id());
            json!({
                "made_current_at": log.timestamp_ms,
                "snapshot_id": log.snapshot_id,
                "parent_id": parent,
                "is_current_ancestor": versions::is_current_ancestor(metadata, log.snapshot_id),
            })
        })
        .collect()
}

/// Branches and tags.
fn refs(table: &Table) -> Result<Vec<Value>, TableError> {
    Ok(versions::refs(table.metadata())?
        .into_iter()
        .map(|(name, r)| {
            let (kind, min_keep, max_age, max_ref_age) = match r.retention {
                SnapshotRetention::Branch {
                    min_snapshots_to_keep,
                    max_snapshot_age_ms,
                    max_ref_age_ms,
                } => (
                    "BRANCH",
                    min_snapshots_to_keep,
                    max_snapshot_age_ms,
                    max_ref_age_ms,
                ),
                SnapshotRetention::Tag { max_ref_age_ms } => ("TAG", None, None, max_ref_age_ms),
            };
            json!({
                "name": name,
                "type": kind,
                "snapshot_id": r.snapshot_id,
                "max_reference_age_in_ms": max_ref_age,
                "min_snapshots_to_keep": min_keep,
                "max_snapshot_age_in_ms": max_age,
            })
        })
        .collect())
}

/// The manifests of the current snapshot.
async fn current_manifests(table: &Table) -> Result<Vec<ManifestFile>, TableError> {
    let Some(snapshot) = table.metadata().current_snapshot() else {
        return Ok(Vec::new());
    };
    let list = table.manifest_list_reader(snapshot).load().await?;
    Ok(list.entries().to_vec())
}

/// The live files (data and delete files) of the current snapshot, with the id of the
/// partition spec each was written with.
async fn live_files(table: &Table) -> Result<Vec<(i32, DataFile)>, TableError> {
    let mut files = Vec::new();
    for manifest in current_manifests(table).await? {
        let entries = manifest.load_manifest(table.file_io()).await?;
        for entry in entries.entries().iter().filter(|e| e.is_alive()) {
            files.push((manifest.partition_spec_id, entry.data_file().clone()));
        }
    }
    Ok(files)
}

fn bounds(bounds: &std::collections::HashMap<i32, Datum>) -> BTreeMap<i32, String> {
    bounds.iter().map(|(id, d)| (*id, d.to_string())).collect()
}

fn sorted<T: Copy>(map: &std::collections::HashMap<i32, T>) -> BTreeMap<i32, T> {
    map.iter().map(|(k, v)| (*k, *v)).collect()
}

async fn files(table: &Table) -> Result<Vec<Value>, TableError> {
    let partitions = PartitionTypes::of(table)?;
    let partitioned = !partitions.all.fields().is_empty();
    Ok(live_files(table)
        .await?
        .into_iter()
        .map(|(spec_id, file)| {
            let mut row = json!({
                "content": file.content_type() as i32,
                "file_path": file.file_path(),
                "file_format": file.file_format().to_string().to_uppercase(),
                "spec_id": spec_id,
                "record_count": file.record_count(),
                "file_size_in_bytes": file.file_size_in_bytes(),
                "column_sizes": sorted(file.column_sizes()),
                "value_counts": sorted(file.value_counts()),
                "null_value_counts": sorted(file.null_value_counts()),
                "nan_value_counts": sorted(file.nan_value_counts()),
                "lower_bounds": bounds(file.lower_bounds()),
                "upper_bounds": bounds(file.upper_bounds()),
                "key_metadata": file.key_metadata().map(hex),
                "split_offsets": file.split_offsets(),
                "equality_ids": file.equality_ids(),
                "sort_order_id": file.sort_order_id(),
            });
            if partitioned {
                row["partition"] = partitions.json(spec_id, &file);
            }
            row
        })
        .collect())
}

/// arrow-json reads binary columns from hex strings.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn manifests(table: &Table) -> Result<Vec<Value>, TableError> {
    let metadata = table.metadata();
    let schema = metadata.current_schema();
    Ok(current_manifests(table)
        .await?
        .into_iter()
        .map(|m| {
            let types = metadata
                .partition_spec_by_id(m.partition_spec_id)
                .and_then(|spec| spec.partition_type(schema).ok());
            let summaries: Vec<Value> = m
                .partitions
                .iter()
                .flatten()
                .enumerate()
                .map(|(i, summary)| {
                    let field_type = types
                        .as_ref()
                        .and_then(|t| t.fields().get(i))
                        .and_then(|f| f.field_type.as_primitive_type().cloned());
                    json!({
                        "contains_null": summary.contains_null,
                        "contains_nan": summary.contains_nan,
                        "lower_bound": bound(summary.lower_bound.as_ref(), &field_type),
                        "upper_bound": bound(summary.upper_bound.as_ref(), &field_type),
                    })
                })
                .collect();
            let data = m.content == iceberg::spec::ManifestContentType::Data;
            let counts = |n: Option<u32>| if data { n } else { Some(0) };
            json!({
                "path": m.manifest_path,
                "length": m.manifest_length,
                "partition_spec_id": m.partition_spec_id,
                "added_snapshot_id": m.added_snapshot_id,
                "added_data_files_count": counts(m.added_files_count),
                "added_rows_count": m.added_rows_count,
                "existing_data_files_count": counts(m.existing_files_count),
                "existing_rows_count": m.existing_rows_count,
                "deleted_data_files_count": counts(m.deleted_files_count),
                "deleted_rows_count": m.deleted_rows_count,
                "partition_summaries": summaries,
            })
        })
        .collect())
}

/// A partition summary's bound, as text.
fn bound<B: AsRef<[u8]>>(bytes: Option<&B>, field_type: &Option<PrimitiveType>) -> Option<String> {
    let datum = Datum::try_from_bytes(bytes?.as_ref(), field_type.clone()?).ok()?;
    Some(datum.to_string())
}

/// One row per partition value of the live data files: their rows, files and bytes.
async fn partitions(table: &Table) -> Result<Vec<Value>, TableError> {
    let partitions = PartitionTypes::of(table)?;
    let partitioned = !partitions.all.fields().is_empty();
    let mut by_value: BTreeMap<String, (Value, u64, u64, u64)> = BTreeMap::new();
    for (spec_id, file) in live_files(table).await? {
        if file.content_type() != DataContentType::Data {
            continue;
        }
        let value = partitions.json(spec_id, &file);
        let entry = by_value
            .entry(value.to_string())
            .or_insert((value, 0, 0, 0));
        entry.1 += file.record_count();
        entry.2 += 1;
        entry.3 += file.file_size_in_bytes();
    }
    Ok(by_value
        .into_values()
        .map(|(value, records, files, size)| {
            let mut row = json!({"record_count": records, "file_count": files, "total_size": size});
            if partitioned {
                row["partition"] = value;
            }
            row
        })
        .collect())
}
