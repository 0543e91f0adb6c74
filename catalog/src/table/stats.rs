//! Data-file statistics: from a written Parquet footer into Iceberg's `DataFile`, and from
//! a table's data files into the statistics DataFusion plans with.
//!
//! Iceberg readers prune with these numbers (record counts, per-column sizes, value and
//! null counts, lower and upper bounds), so they must be exact: a bound is recorded only
//! when Parquet says its statistic is exact.

use std::collections::HashMap;

use iceberg::spec::{
    DataContentType, DataFile, DataFileBuilder, DataFileFormat, Datum, PrimitiveType, Schema,
    Struct, Type,
};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::statistics::Statistics;

use super::TableError;

/// Where a written file is and what it holds, apart from its footer.
pub struct WrittenFile<'a> {
    /// The file's URI.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its partition values.
    pub partition: Struct,
    /// The partition spec it was written under.
    pub spec_id: i32,
    /// The table schema it was written with.
    pub schema: &'a Schema,
}

/// The Iceberg `DataFile` of a Parquet file written with field ids, from its footer.
pub fn data_file(file: WrittenFile<'_>, footer: &ParquetMetaData) -> Result<DataFile, TableError> {
    let mut column_sizes: HashMap<i32, u64> = HashMap::new();
    let mut value_counts: HashMap<i32, u64> = HashMap::new();
    let mut null_counts: HashMap<i32, u64> = HashMap::new();
    let mut lower: HashMap<i32, Datum> = HashMap::new();
    let mut upper: HashMap<i32, Datum> = HashMap::new();
    let mut unbounded: Vec<i32> = Vec::new();
    for row_group in footer.row_groups() {
        for chunk in row_group.columns() {
            let info = chunk.column_descr().self_type().get_basic_info();
            let id = if info.has_id() {
                info.id()
            } else {
                file.schema
                    .field_id_by_name(&chunk.column_descr().path().string())
                    .ok_or_else(|| {
                        TableError::Invalid(format!(
                            "{} has a column without a field id",
                            file.path
                        ))
                    })?
            };
            *column_sizes.entry(id).or_default() += chunk.compressed_size() as u64;
            *value_counts.entry(id).or_default() += chunk.num_values() as u64;
            let Some(Type::Primitive(ty)) =
                file.schema.field_by_id(id).map(|f| *f.field_type.clone())
            else {
                continue;
            };
            let Some(stats) = chunk.statistics() else {
                unbounded.push(id);
                continue;
            };
            if let Some(nulls) = stats.null_count_opt() {
                *null_counts.entry(id).or_default() += nulls;
            }
            let min = stats
                .min_is_exact()
                .then(|| bound(&ty, stats, true))
                .flatten();
            let max = stats
                .max_is_exact()
                .then(|| bound(&ty, stats, false))
                .flatten();
            // A row group with values but no exact bound leaves the file without one.
            let all_null = stats.null_count_opt() == Some(chunk.num_values() as u64);
            match (min, max) {
                (Some(min), Some(max)) => {
                    merge(&mut lower, id, min, |new, old| new < old);
                    merge(&mut upper, id, max, |new, old| new > old);
                }
                _ if all_null => {}
                _ => unbounded.push(id),
            }
        }
    }
    for id in unbounded {
        lower.remove(&id);
        upper.remove(&id);
    }
    DataFileBuilder::default()
        .content(DataContentType::Data)
        .file_path(file.path)
        .file_format(DataFileFormat::Parquet)
        .partition(file.partition)
        .partition_spec_id(file.spec_id)
        .record_count(footer.file_metadata().num_rows() as u64)
        .file_size_in_bytes(file.size)
        .column_sizes(column_sizes)
        .value_counts(value_counts)
        .null_value_counts(null_counts)
        .lower_bounds(lower)
        .upper_bounds(upper)
        .split_offsets(Some(
            footer
                .row_groups()
                .iter()
                .filter_map(|rg| rg.file_offset())
                .collect(),
        ))
        .build()
        .map_err(|e| TableError::Invalid(format!("data file metadata: {e}")))
}

fn merge(
    bounds: &mut HashMap<i32, Datum>,
    id: i32,
    value: Datum,
    better: impl Fn(&Datum, &Datum) -> bool,
) {
    match bounds.get(&id) {
        Some(old) if !better(&value, old) => {}
        _ => {
            bounds.insert(id, value);
        }
    }
}

/// A Parquet min or max as an Iceberg bound. Parquet's plain encoding is Iceberg's
/// single-value encoding for every type Quarry writes, except decimals stored as
/// little-endian integers, which Iceberg wants big-endian.
fn bound(ty: &PrimitiveType, stats: &Statistics, min: bool) -> Option<Datum> {
    let bytes = if min {
        stats.min_bytes_opt()
    } else {
        stats.max_bytes_opt()
    }?;
    use PrimitiveType as P;
    use Statistics as S;
    let datum = match (ty, stats) {
        (P::Decimal { .. }, S::Int32(_)) => {
            let v = i128::from(i32::from_le_bytes(bytes.try_into().ok()?));
            Datum::try_from_bytes(&v.to_be_bytes(), ty.clone())
        }
        (P::Decimal { .. }, S::Int64(_)) => {
            let v = i128::from(i64::from_le_bytes(bytes.try_into().ok()?));
            Datum::try_from_bytes(&v.to_be_bytes(), ty.clone())
        }
        (P::Decimal { .. }, S::FixedLenByteArray(_) | S::ByteArray(_))
        | (P::Boolean, S::Boolean(_))
        | (P::Int | P::Date, S::Int32(_))
        | (P::Long | P::Time | P::Timestamp | P::Timestamptz, S::Int64(_))
        | (P::Float, S::Float(_))
        | (P::Double, S::Double(_))
        | (P::String | P::Binary, S::ByteArray(_))
        | (P::Fixed(_) | P::Uuid, S::FixedLenByteArray(_)) => {
            Datum::try_from_bytes(bytes, ty.clone())
        }
        _ => return None,
    };
    datum.ok()
}

/// The rows of `table`'s current snapshot, by its summary (`total-records`): the rows
/// of its data files, before any row-level deletes.
pub fn total_records(table: &iceberg::table::Table) -> Option<u64> {
    table
        .metadata()
        .current_snapshot()?
        .summary()
        .additional_properties
        .get("total-records")?
        .parse()
        .ok()
}
