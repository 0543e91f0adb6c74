//! Quarry's catalog: where tables live and how they are found.
//!
//! - [`warehouse`]: the warehouse directory and how relative paths resolve in it.
//! - [`file_tables`]: files and directories as tables (`SELECT ... FROM 'path'` and
//!   `CREATE EXTERNAL TABLE`), resolved against the warehouse.
//! - [`store`]: the Iceberg catalog of tables (SQLite in the warehouse when embedded).
//! - [`table`]: Iceberg tables: types, partitioning, statistics, writes.
//! - [`catalog_provider`]: the store as DataFusion's catalog: namespaces as schemas.
//! - [`codec`]: the plan codecs that carry Quarry's table scans to the executors.

pub mod catalog_provider;
pub mod codec;
pub mod file_tables;
pub mod store;
pub mod table;
pub mod warehouse;

pub use file_tables::with_file_tables;
pub use warehouse::Warehouse;
