//! The scheduler's Prometheus metrics, served at `/metrics` ([`crate::http`]): queries
//! by how they ended, the tasks and bytes scanned of finished jobs, direct runs, and, read when
//! scraped, the registered executors and their task slots. One [`Metrics`] is made with
//! the process's HTTP port and handed to the query service, which counts into it.

use ballista_scheduler::state::execution_stage::ExecutionStage;
use prometheus::{Encoder, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

use crate::ballista::BallistaScheduler;
use crate::error::QuarryError;

/// How a statement that ran ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Failed,
    Cancelled,
}

/// The process's metrics.
pub struct Metrics {
    registry: Registry,
    queries: IntCounterVec,
    tasks: IntCounter,
    direct_runs: IntCounter,
    bytes_scanned: IntCounter,
    executors: IntGauge,
    task_slots: IntGauge,
}

impl Metrics {
    /// Metrics at zero, in a registry of their own.
    pub fn new() -> Result<Self, QuarryError> {
        Self::registered().map_err(|e| QuarryError::startup(format!("metrics: {e}")))
    }

    fn registered() -> prometheus::Result<Self> {
        let metrics = Self {
            queries: IntCounterVec::new(
                Opts::new(
                    "quarry_queries_total",
                    "Statements that ended, by how: succeeded, failed, cancelled, or rejected (not parsed or planned)",
                ),
                &["outcome"],
            )?,
            tasks: IntCounter::new("quarry_tasks_total", "Tasks of finished jobs")?,
            direct_runs: IntCounter::new(
                "quarry_direct_runs_total",
                "Small queries run whole on one executor, without a Ballista job",
            )?,
            bytes_scanned: IntCounter::new(
                "quarry_bytes_scanned_total",
                "Bytes read from table files by finished jobs",
            )?,
            executors: IntGauge::new("quarry_executors", "Registered executors")?,
            task_slots: IntGauge::new("quarry_task_slots", "Task slots of registered executors")?,
            registry: Registry::new(),
        };
        metrics
            .registry
            .register(Box::new(metrics.queries.clone()))?;
        metrics.registry.register(Box::new(metrics.tasks.clone()))?;
        metrics
            .registry
            .register(Box::new(metrics.direct_runs.clone()))?;
        metrics
            .registry
            .register(Box::new(metrics.bytes_scanned.clone()))?;
        metrics
            .registry
            .register(Box::new(metrics.executors.clone()))?;
        metrics
            .registry
            .register(Box::new(metrics.task_slots.clone()))?;
        Ok(metrics)
    }

    /// Counts a statement that ended in `state`.
    pub fn query_ended(&self, outcome: Outcome) {
        let outcome = match outcome {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Cancelled => "cancelled",
        };
        self.queries.with_label_values(&[outcome]).inc();
    }

    /// Counts a statement that failed to parse or plan, and so never ran.
    pub fn query_rejected(&self) {
        self.queries.with_label_values(&["rejected"]).inc();
    }

    /// Counts a query sent to an executor as a direct run.
    pub fn direct_run(&self) {
        self.direct_runs.inc();
    }

    /// Counts the tasks and scanned bytes of a finished job, from its stages.
    pub async fn job_finished(&self, ballista: &BallistaScheduler, job_id: &str) {
        let Ok(Some(graph)) = ballista.jobs.get_execution_graph(job_id).await else {
            return;
        };
        for stage in graph.stages().values() {
            if let ExecutionStage::Successful(stage) = stage {
                self.tasks.inc_by(stage.partitions as u64);
                let bytes: usize = stage
                    .stage_metrics
                    .iter()
                    .filter_map(|set| set.sum_by_name("bytes_scanned"))
                    .map(|value| value.as_usize())
                    .sum();
                self.bytes_scanned.inc_by(bytes as u64);
            }
        }
    }

    /// Everything, in Prometheus's text format, with the executor gauges read now.
    /// The executor gauges stay 0 on a standby (`ballista` is `None`).
    pub async fn render(&self, ballista: Option<&BallistaScheduler>) -> String {
        if let Some(ballista) = ballista {
            let executors = ballista.executors().await;
            self.executors.set(executors.len() as i64);
            self.task_slots
                .set(executors.iter().map(|(_, slots)| *slots as i64).sum());
        }
        let mut text = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut text) {
            tracing::warn!("cannot encode metrics: {e}");
        }
        String::from_utf8_lossy(&text).into_owned()
    }
}
