//! `quarry`: the psql-like shell, the embedded cluster and the demo dataset.
//!
//! - [`embedded`]: a scheduler and N executors in one process, talking over loopback
//!   gRPC exactly as separate processes would.
//! - [`connection`]: a Flight SQL connection to a scheduler (prepare, fetch, cancel,
//!   progress, catalog listings).
//! - [`split`]: splitting input text into SQL statements.
//! - [`output`]: printing results as a table, CSV or JSON.
//! - [`shell`]: running statements from `-c`/`-f` and the interactive prompt.
//! - [`describe`]: the prompt's catalog commands (`\d`, `\dt`, `\dn`).
//! - [`complete`]: tab completion of names and keywords at the prompt.
//! - [`demo`]: the demo retail dataset.
//! - [`processes`]: `quarry scheduler` and `quarry executor`, the engine as separate
//!   processes, configured by [`config`] files, `QUARRY_*` variables and flags;
//!   [`membership`]: their place in the cluster's etcd (members, leader election).
//! - [`cli`]: command-line arguments.

pub mod cli;
pub mod complete;
pub mod config;
pub mod connection;
pub mod demo;
pub mod describe;
pub mod embedded;
pub mod membership;
pub mod output;
pub mod processes;
pub mod shell;
pub use quarry_scheduler::split;
