//! Task metrics: each finished task is counted (the HTTP port's
//! `quarry_executor_tasks_total`) and its plan with metrics goes to the `tracing` log at
//! debug level (Ballista's own collector prints every task's plan at info level).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ballista_executor::execution_engine::QueryStageExecutor;
use ballista_executor::metrics::ExecutorMetricsCollector;

/// Counts and logs each finished task with its job, stage and partition.
#[derive(Debug, Default)]
pub struct TaskMetrics {
    finished: AtomicU64,
}

impl TaskMetrics {
    /// Tasks finished since the executor started.
    pub fn finished(&self) -> u64 {
        self.finished.load(Ordering::Relaxed)
    }
}

impl ExecutorMetricsCollector for TaskMetrics {
    fn record_stage(
        &self,
        job_id: &str,
        stage_id: usize,
        partition: usize,
        plan: Arc<dyn QueryStageExecutor>,
    ) {
        self.finished.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(job_id, stage_id, partition, "task finished:\n{plan}");
    }
}
