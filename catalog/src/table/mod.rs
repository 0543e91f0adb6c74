//! Iceberg tables: how Quarry reads, writes and commits them.
//!
//! - [`types`]: column types between Arrow and Iceberg.
//! - [`partition`]: the `PARTITION BY` clause and the partition spec it becomes.
//! - [`predicate`]: query filters as an Iceberg predicate, for pruning.
//! - [`scan`]: scan planning into DataFusion's Parquet scan.
//! - [`provider`]: the `TableProvider`.
//! - [`stats`]: data-file statistics, from Parquet footers and for DataFusion's planner.
//! - [`write`]: the write task that runs on the executors.
//! - [`distribution`]: a partitioned write's rows sent to tasks by partition value.
//! - [`commit`]: the snapshot commits that make a write visible.
//! - [`alter`]: `ALTER TABLE`'s schema, partition and property changes.
//! - [`rewrite`]: which files a row-level change rewrites, or removes whole.
//! - [`compact`]: which files `OPTIMIZE` rewrites.
//! - [`landing`]: `COPY INTO`'s reading of landing files, and their rejected rows.
//! - [`load_history`]: which landing files `COPY INTO` has loaded into a table.
//! - [`vacuum`]: expiring snapshots and removing orphan files.
//! - [`cleanup`]: removing the files of failed writes.
//! - [`versions`]: which snapshot a time-travel clause names.
//! - [`metadata_tables`]: `"t$snapshots"`, `"t$files"` and the other metadata tables.

pub mod alter;
pub mod cleanup;
pub mod commit;
pub mod compact;
pub mod deletes;
pub mod distribution;
pub mod evolution;
pub mod landing;
pub mod load_history;
pub mod metadata_tables;
pub mod partition;
pub mod predicate;
pub mod provider;
pub mod rewrite;
pub mod scan;
pub mod stats;
pub mod types;
pub mod vacuum;
pub mod versions;
pub mod write;

pub use provider::IcebergTable;

use datafusion::common::DataFusionError;
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::execution::object_store::ObjectStoreUrl;
use object_store::path::Path;

/// What can go wrong with an Iceberg table, worded for the user who asked.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// A column type Iceberg cannot hold.
    #[error("column '{column}' has type {data_type}, which an Iceberg table cannot hold: {hint}")]
    UnsupportedType {
        column: String,
        data_type: String,
        hint: String,
    },
    /// A bad `PARTITION BY` clause.
    #[error("{0}")]
    Partition(String),
    /// A table or view that does not exist.
    #[error("{0}")]
    NoTable(String),
    /// A schema (namespace) that does not exist.
    #[error("{0}")]
    NoSchema(String),
    /// A column that does not exist.
    #[error("{0}")]
    NoColumn(String),
    /// Something else a statement names that does not exist: a snapshot, a branch, a
    /// partition field.
    #[error("{0}")]
    NotFound(String),
    /// A table or schema that already exists.
    #[error("{0}")]
    AlreadyExists(String),
    /// A concurrent commit changed what this statement changes; it may be run again.
    #[error("{0}")]
    Conflict(String),
    /// Anything else the user asked for that cannot be done.
    #[error("{0}")]
    Invalid(String),
    /// Something the user may not do: files outside the file locations.
    #[error("{0}")]
    Forbidden(String),
    #[error("Iceberg: {0}")]
    Iceberg(#[from] iceberg::Error),
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
    #[error("catalog database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    #[error("Arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

impl From<TableError> for DataFusionError {
    fn from(e: TableError) -> Self {
        match e {
            TableError::DataFusion(e) => e,
            // Planning errors keep their type, so that the query service can tell a
            // missing table from a conflict.
            e => DataFusionError::External(Box::new(e)),
        }
    }
}

/// The object store and the path in it of a file or directory URI.
pub fn store_path(uri: &str) -> Result<(ObjectStoreUrl, Path), TableError> {
    let url = ListingTableUrl::parse(uri)?;
    Ok((url.object_store(), url.prefix().clone()))
}
