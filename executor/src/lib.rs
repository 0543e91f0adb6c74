//! Quarry's executor: a Ballista executor with Quarry's codecs, the standard function
//! registry and one [`RuntimeEnv`](datafusion::execution::runtime_env::RuntimeEnv)
//! shared by every task of the process (so caches survive between tasks).
//!
//! - [`process`]: starting an executor and stopping it ([`ExecutorHandle`]).
//! - [`engine`]: how tasks run: cancelled tasks stop within one batch, panics fail
//!   their task.
//! - [`metrics`]: what the executor records about each finished task.

pub mod engine;
pub mod metrics;
pub mod process;

pub use process::{ExecutorHandle, ExecutorOptions, start_executor};
