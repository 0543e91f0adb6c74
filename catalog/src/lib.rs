//! Quarry's catalog: where tables live and how they are found.
//!
//! - [`warehouse`]: the warehouse directory and how relative paths resolve in it.
//! - [`file_tables`]: files and directories as tables (`SELECT ... FROM 'path'` and
//!   `CREATE EXTERNAL TABLE`), resolved against the warehouse.
//! - [`codec`]: the plan codecs that carry Quarry's table scans to the executors.

pub mod codec;
pub mod file_tables;
pub mod warehouse;

pub use file_tables::with_file_tables;
pub use warehouse::Warehouse;
