//! Task metrics: each finished task's plan with metrics goes to the `tracing` log at
//! debug level (Ballista's own collector prints every task's plan at info level).

use std::sync::Arc;

use ballista_executor::execution_engine::QueryStageExecutor;
use ballista_executor::metrics::ExecutorMetricsCollector;

/// Logs each finished task with its job, stage and partition.
#[derive(Debug, Default)]
pub struct TracingMetricsCollector;

impl ExecutorMetricsCollector for TracingMetricsCollector {
    fn record_stage(
        &self,
        job_id: &str,
        stage_id: usize,
        partition: usize,
        plan: Arc<dyn QueryStageExecutor>,
    ) {
        tracing::debug!(job_id, stage_id, partition, "task finished:\n{plan}");
    }
}
