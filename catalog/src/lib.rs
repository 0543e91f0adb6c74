//! Quarry's catalog: where tables live and how they are found.
//!
//! - [`warehouse`]: the warehouse (a directory or `s3://bucket/prefix`) and how relative
//!   paths resolve in it; [`file_locations`]: where SQL may name files (`landing/` by
//!   default), checked after `..` and symbolic links are resolved.
//! - [`object_stores`]: the process's object-store registry (local files, S3 buckets).
//! - [`storage`]: Iceberg's file I/O over that registry.
//! - [`file_tables`]: files and directories as tables (`SELECT ... FROM 'path'` and
//!   `CREATE EXTERNAL TABLE`), resolved against the warehouse.
//! - [`store`]: the Iceberg catalog of tables (SQLite in the warehouse when embedded).
//! - [`views`]: views stored in the catalog as Iceberg views.
//! - `etcd` (feature `etcd`): the Iceberg catalog in etcd, shared by many schedulers.
//! - `cluster` (feature `etcd`): the cluster's members and scheduler election in etcd.
//! - [`table`]: Iceberg tables: types, partitioning, statistics, writes.
//! - [`reflection`]: reflections' definitions, and the hidden namespace their
//!   materializations live in.
//! - [`sketch`]: HyperLogLog sketches as values, for reflections' approximate counts.
//! - [`sql_functions`]: PostgreSQL's `format`, `quote_ident`, ... for every session and
//!   executor.
//! - [`catalog_provider`]: the store as DataFusion's catalog: namespaces as schemas.
//! - [`codec`]: the plan codecs that carry Quarry's table scans to the executors.
//! - [`shippable`]: a physical optimizer rule that keeps plans intact through DataFusion's
//!   codec on their way to the executors.

pub mod catalog_provider;
#[cfg(feature = "etcd")]
pub mod cluster;
pub mod codec;
#[cfg(feature = "etcd")]
pub mod etcd;
pub mod file_locations;
pub mod file_tables;
pub mod object_stores;
pub mod reflection;
pub mod shippable;
pub mod sketch;
pub mod sql_functions;
pub mod storage;
pub mod store;
pub mod table;
pub mod views;
pub mod warehouse;

pub use file_tables::with_file_tables;
pub use warehouse::Warehouse;
