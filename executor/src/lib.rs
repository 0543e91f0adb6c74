//! Quarry's executor: a Ballista executor with Quarry's codecs, the standard function
//! registry and one [`RuntimeEnv`](datafusion::execution::runtime_env::RuntimeEnv)
//! shared by every task of the process (so caches survive between tasks).
//!
//! - [`process`]: starting an executor, draining and stopping it ([`ExecutorHandle`]).
//! - [`follow`]: registering with the leading scheduler, and again when it changes.
//! - [`http`]: `/healthz`, `/readyz` and Prometheus `/metrics` of a standalone executor.
//! - [`engine`]: how tasks run: cancelled tasks stop within one batch, panics fail
//!   their task.
//! - [`cache`]: reflection files kept in executor memory.
//! - [`memory`]: the bounded memory pool a process's queries share.
//! - [`direct`]: whole plans run outside a Ballista job, their result streamed back
//!   (the scheduler's path for small queries).
//! - [`flight`]: the Flight service: Ballista's, direct runs, and Quarry's action.
//! - [`metrics`]: what the executor records about each finished task.

pub mod cache;
pub mod direct;
pub mod engine;
pub mod flight;
pub mod follow;
pub mod http;
pub mod memory;
pub mod metrics;
pub mod process;

pub use follow::Schedulers;
pub use process::{ExecutorHandle, ExecutorOptions, start_executor};
