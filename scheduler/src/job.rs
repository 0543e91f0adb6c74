//! Running a logical plan as a Ballista job: submit it in-process to the scheduler,
//! follow its status, stream its result partitions from the executors that hold them
//! (one partition at a time, so the scheduler never holds a whole result), and cancel it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use ballista_core::client::BallistaClient;
use ballista_core::serde::protobuf::executor_grpc_client::ExecutorGrpcClient;
use ballista_core::serde::protobuf::{
    JobStatus, PartitionLocation, RemoveJobDataParams, job_status, task_status,
};
use ballista_scheduler::state::execution_graph::ExecutionGraphBox;
use ballista_scheduler::state::execution_stage::{ExecutionStage, TaskInfo};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::SessionContext;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::ballista::{BallistaScheduler, MAX_MESSAGE_SIZE};
use crate::error::{ErrorKind, QuarryError};
use crate::metrics::Metrics;

/// How far a job has got.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct JobProgress {
    pub stages_done: usize,
    pub stages_total: usize,
    pub tasks_done: usize,
    pub tasks_total: usize,
}

/// A submitted job and the status updates the scheduler sends for it.
pub struct Job {
    pub id: String,
    updates: mpsc::Receiver<JobStatus>,
    /// The executors registered when the job was submitted: any of them may get its
    /// tasks before a check sees them run there.
    at_start: HashSet<String>,
}

/// Submits, follows and cancels jobs on the in-process Ballista scheduler.
#[derive(Clone)]
pub struct JobRunner {
    ballista: BallistaScheduler,
    metrics: Arc<Metrics>,
}

impl JobRunner {
    /// Runs jobs on `ballista`, counting finished jobs' tasks and bytes in `metrics`.
    pub fn new(ballista: BallistaScheduler, metrics: Arc<Metrics>) -> Self {
        Self { ballista, metrics }
    }

    /// The Ballista scheduler jobs run on.
    pub fn ballista(&self) -> &BallistaScheduler {
        &self.ballista
    }

    /// Queues `plan` as a job; the scheduler plans it physically with `ctx`.
    pub async fn submit(
        &self,
        ctx: Arc<SessionContext>,
        plan: &LogicalPlan,
        name: &str,
    ) -> Result<Job, QuarryError> {
        let (tx, updates) = mpsc::channel(256);
        let at_start = self.executor_ids().await;
        let id = self
            .ballista
            .server
            .submit_job(name, ctx, plan, Some(tx))
            .await?;
        tracing::debug!(job_id = %id, "job submitted");
        Ok(Job {
            id,
            updates,
            at_start,
        })
    }

    /// The ids of the registered executors.
    async fn executor_ids(&self) -> HashSet<String> {
        let executors = self.ballista.executors().await;
        executors.into_iter().map(|(id, _)| id).collect()
    }

    /// Waits for the job to finish and returns where its result partitions are.
    pub async fn wait(&self, job: &mut Job) -> Result<Vec<PartitionLocation>, QuarryError> {
        // When the scheduler's planning task dies, the update channel closes while the job
        // stays queued; after this long the job is taken as lost.
        const LOST_AFTER: Duration = Duration::from_secs(10);
        let mut closed_at = None;
        let mut checked = std::time::Instant::now();
        // The executors the job has run tasks on, so far.
        let mut used = HashSet::new();
        // Since when the cluster has had no executor at all.
        let mut no_executors_since = None;
        loop {
            // An executor that died takes the job's tasks and shuffle files with it;
            // Ballista may then wait for them forever, or fail the job. Either way the
            // job's work is lost. With no executor at all, nothing runs.
            if checked.elapsed() > LOST_EXECUTOR_CHECK {
                checked = std::time::Instant::now();
                let mut lost = self.lost_work(&job.id, &mut used, false).await;
                if self.ballista.total_task_slots().await > 0 {
                    no_executors_since = None;
                } else if no_executors_since.get_or_insert(checked).elapsed() > NO_EXECUTORS_LIMIT {
                    lost = Err(ErrorKind::NoExecutors.error(format!(
                        "no executor has been in the cluster for {} s to run the statement",
                        NO_EXECUTORS_LIMIT.as_secs()
                    )));
                }
                if let Err(e) = lost {
                    let _ = self.ballista.server.cancel_job(job.id.clone()).await;
                    return Err(e);
                }
            }
            let update = match closed_at {
                None => match tokio::time::timeout(Duration::from_millis(250), job.updates.recv())
                    .await
                {
                    Ok(Some(status)) => Some(status),
                    Ok(None) => {
                        closed_at = Some(std::time::Instant::now());
                        None
                    }
                    Err(_) => None,
                },
                Some(_) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    None
                }
            };
            // Updates can be missed (the channel is lossy); the scheduler's state is not.
            let status = match update {
                Some(status) => status.status,
                None => self.status(&job.id).await?,
            };
            match status {
                Some(job_status::Status::Successful(done)) => {
                    self.finished_graph(&job.id).await;
                    let (ballista, id) = (self.ballista.clone(), job.id.clone());
                    let metrics = Arc::clone(&self.metrics);
                    tokio::spawn(async move { metrics.job_finished(&ballista, &id).await });
                    return Ok(done.partition_location);
                }
                Some(job_status::Status::Failed(failed)) => {
                    tracing::debug!(job_id = %job.id, error = %failed.error, "job failed");
                    self.finished_graph(&job.id).await;
                    self.lost_work(&job.id, &mut used, true).await?;
                    // Ballista rolls a stage back when an executor its input came from
                    // is lost, and the stage's tasks it cancels on the other executors
                    // then fail the job, often before the check above ran: a job that
                    // fails after an executor of its cluster left lost work.
                    used.extend(job.at_start.iter().cloned());
                    if let Some(gone) = self.failed_for_lost_executor(&job.id, &used).await {
                        return Err(ErrorKind::Unavailable.error(format!(
                            "executor {gone} stopped answering while the statement ran"
                        )));
                    }
                    return Err(QuarryError::remote(&failed.error));
                }
                _ if closed_at.is_some_and(|at| at.elapsed() > LOST_AFTER) => {
                    return Err(QuarryError::internal(format!(
                        "the scheduler lost job {} before it finished",
                        job.id
                    )));
                }
                _ => {}
            }
        }
    }

    /// Adds the executors job `job_id` has run tasks on to `used`, and fails with
    /// `Unavailable` if any of them is lost: as the scheduler's health check found, or,
    /// with `probe_now`, as a probe of every executor finds now.
    async fn lost_work(
        &self,
        job_id: &str,
        used: &mut HashSet<String>,
        probe_now: bool,
    ) -> Result<(), QuarryError> {
        let running = self
            .ballista
            .server
            .state
            .task_manager
            .get_running_job_cache()
            .get(job_id)
            .map(|job| Arc::clone(&job.execution_graph));
        match running {
            Some(graph) => used.extend(executors_of(graph.read().await.stages())),
            // A job that ended: its last graph.
            None => {
                if let Ok(Some(graph)) = self.ballista.jobs.get_execution_graph(job_id).await {
                    used.extend(executors_of(graph.stages()));
                }
            }
        }
        let lost = match probe_now {
            true => self.ballista.drop_lost_executors().await,
            false => self.ballista.lost_executors(),
        };
        let mut gone: Vec<String> = used.intersection(&lost).cloned().collect();
        if gone.is_empty() {
            return Ok(());
        }
        gone.sort();
        Err(ErrorKind::Unavailable.error(format!(
            "executor {} stopped answering while the statement ran",
            gone.join(", ")
        )))
    }

    /// Whether a failed job failed for want of an executor: a task could not fetch the
    /// shuffle output of one (an executor that died before Quarry's own check saw it,
    /// and that Ballista removed meanwhile), or an executor the job used has left.
    async fn failed_for_lost_executor(
        &self,
        job_id: &str,
        used: &HashSet<String>,
    ) -> Option<String> {
        if let Ok(Some(graph)) = self.ballista.jobs.get_execution_graph(job_id).await
            && let Some(gone) = fetch_failed(graph.stages())
        {
            return Some(gone);
        }
        let registered = self.executor_ids().await;
        used.difference(&registered).next().cloned()
    }

    async fn status(&self, job_id: &str) -> Result<Option<job_status::Status>, QuarryError> {
        let status = self
            .ballista
            .server
            .state
            .task_manager
            .get_job_status(job_id)
            .await?;
        Ok(status.and_then(|s| s.status))
    }

    /// Asks the scheduler to cancel the job and its running tasks.
    pub async fn cancel(&self, job_id: &str) -> Result<(), QuarryError> {
        self.ballista.server.cancel_job(job_id.to_string()).await?;
        // A job still being planned is not among the scheduler's active jobs yet, and
        // Ballista drops a cancel for it; repeat the cancel once it runs.
        if matches!(
            self.status(job_id).await?,
            None | Some(job_status::Status::Queued(_))
        ) {
            let (runner, job_id) = (self.clone(), job_id.to_string());
            tokio::spawn(async move {
                for _ in 0..600 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    match runner.status(&job_id).await {
                        Ok(None | Some(job_status::Status::Queued(_))) => continue,
                        Ok(Some(job_status::Status::Running(_))) => {
                            let _ = runner.ballista.server.cancel_job(job_id.clone()).await;
                            return;
                        }
                        _ => return,
                    }
                }
            });
        }
        Ok(())
    }

    /// Deletes a finished job's shuffle and result files on the executors, draining
    /// ones included (Ballista's own clean-up skips those, which would then wait for
    /// files nobody reads any more).
    pub fn clean_up(&self, job_id: &str) {
        let (ballista, job_id) = (self.ballista.clone(), job_id.to_string());
        tokio::spawn(async move {
            let Ok(executors) = ballista
                .server
                .state
                .executor_manager
                .get_executors_state()
                .await
            else {
                return;
            };
            let removals = executors.into_iter().map(|(executor, _, _)| {
                let address = format!("http://{}:{}", executor.host, executor.grpc_port);
                let remove = RemoveJobDataParams {
                    job_id: job_id.clone(),
                };
                async move {
                    let removed = async move {
                        let channel = tonic::transport::Endpoint::from_shared(address)
                            .map_err(|e| e.to_string())?
                            .connect_timeout(Duration::from_secs(2))
                            .timeout(Duration::from_secs(10))
                            .connect()
                            .await
                            .map_err(|e| e.to_string())?;
                        ExecutorGrpcClient::new(channel)
                            .remove_job_data(remove)
                            .await
                            .map_err(|e| e.to_string())
                    };
                    if let Err(e) = removed.await {
                        tracing::debug!(executor_id = %executor.id, "cannot remove job files: {e}");
                    }
                }
            });
            futures::future::join_all(removals).await;
        });
    }

    /// A finished job's last execution graph. Ballista reports the job's end to its
    /// subscribers a moment before it stores the graph with the finished jobs, so this
    /// waits briefly for it; `None` if it never comes (or was cleaned up).
    pub async fn finished_graph(&self, job_id: &str) -> Option<ExecutionGraphBox> {
        for _ in 0..100 {
            if let Ok(Some(graph)) = self.ballista.jobs.get_execution_graph(job_id).await {
                return Some(graph);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// The plans of a job's stages (once it ended, from its last graph).
    pub async fn stage_plans(&self, job_id: &str) -> Vec<Arc<dyn ExecutionPlan>> {
        let Some(graph) = self.finished_graph(job_id).await else {
            return Vec::new();
        };
        graph
            .stages()
            .values()
            .map(|stage| match stage {
                ExecutionStage::UnResolved(s) => Arc::clone(&s.plan),
                ExecutionStage::Resolved(s) => Arc::clone(&s.plan),
                ExecutionStage::Running(s) => Arc::clone(&s.plan),
                ExecutionStage::Successful(s) => Arc::clone(&s.plan),
                ExecutionStage::Failed(s) => Arc::clone(&s.plan),
            })
            .collect()
    }

    /// Stages and tasks done so far; `None` once the job has left the running set.
    pub async fn progress(&self, job_id: &str) -> Option<JobProgress> {
        let running = self
            .ballista
            .server
            .state
            .task_manager
            .get_running_job_cache();
        let graph = running.get(job_id)?.execution_graph.read().await;
        let mut progress = JobProgress {
            stages_done: graph.completed_stages(),
            stages_total: graph.stage_count(),
            ..JobProgress::default()
        };
        for stage in graph.stages().values() {
            let (done, total) = match stage {
                ExecutionStage::Successful(s) => (s.partitions, s.partitions),
                ExecutionStage::Running(s) => {
                    let done = s
                        .task_infos
                        .iter()
                        .flatten()
                        .filter(|t| matches!(t.task_status, task_status::Status::Successful(_)))
                        .count();
                    (done, s.partitions)
                }
                ExecutionStage::UnResolved(s) => (
                    0,
                    datafusion::physical_plan::ExecutionPlanProperties::output_partitioning(
                        &s.plan,
                    )
                    .partition_count(),
                ),
                ExecutionStage::Resolved(s) => (0, s.partitions),
                ExecutionStage::Failed(s) => (0, s.partitions),
            };
            progress.tasks_done += done;
            progress.tasks_total += total;
        }
        Some(progress)
    }
}

/// The executors that ran or run tasks of these stages.
fn executors_of(stages: &HashMap<usize, ExecutionStage>) -> Vec<String> {
    let mut executors = Vec::new();
    for stage in stages.values() {
        let infos: Vec<&TaskInfo> = match stage {
            ExecutionStage::Running(s) => s.task_infos.iter().flatten().collect(),
            ExecutionStage::Successful(s) => s.task_infos.iter().collect(),
            ExecutionStage::Failed(s) => s.task_infos.iter().flatten().collect(),
            _ => Vec::new(),
        };
        executors.extend(
            infos
                .into_iter()
                .filter_map(|info| match &info.task_status {
                    task_status::Status::Running(t) => Some(t.executor_id.clone()),
                    task_status::Status::Successful(t) => Some(t.executor_id.clone()),
                    _ => None,
                }),
        );
    }
    executors
}

/// The executor a task of these stages could not fetch shuffle output from, if any.
fn fetch_failed(stages: &HashMap<usize, ExecutionStage>) -> Option<String> {
    use ballista_core::serde::protobuf::failed_task::FailedReason;
    let infos = stages.values().flat_map(|stage| -> Vec<&TaskInfo> {
        match stage {
            ExecutionStage::Running(s) => s.task_infos.iter().flatten().collect(),
            ExecutionStage::Failed(s) => s.task_infos.iter().flatten().collect(),
            _ => Vec::new(),
        }
    });
    for info in infos {
        if let task_status::Status::Failed(failed) = &info.task_status
            && let Some(FailedReason::FetchPartitionError(e)) = &failed.failed_reason
        {
            return Some(e.executor_id.clone());
        }
    }
    None
}

/// How often a running job looks at the executors the scheduler's health check took as
/// lost (reading what it found costs nothing; the probing is the health check's).
const LOST_EXECUTOR_CHECK: Duration = Duration::from_millis(500);
/// How long a job waits for an executor when the cluster has none, before it fails
/// (Ballista would wait for one forever).
pub const NO_EXECUTORS_LIMIT: Duration = Duration::from_secs(30);

/// Streams the result partitions in order, fetching each from the executor that holds it.
pub fn fetch_results(
    locations: Vec<PartitionLocation>,
    schema: SchemaRef,
) -> SendableRecordBatchStream {
    let batches = futures::stream::iter(locations)
        .then(fetch_partition)
        .try_flatten()
        .map_err(|e| DataFusionError::Execution(format!("fetching results: {e}")));
    Box::pin(RecordBatchStreamAdapter::new(schema, batches))
}

async fn fetch_partition(
    location: PartitionLocation,
) -> datafusion::error::Result<SendableRecordBatchStream> {
    let missing = |what: &str| DataFusionError::Internal(format!("result location without {what}"));
    let executor = location.executor_meta.ok_or_else(|| missing("executor"))?;
    let partition = location
        .partition_id
        .ok_or_else(|| missing("partition id"))?;
    let to_df = |e: ballista_core::error::BallistaError| DataFusionError::External(Box::new(e));
    let mut client = BallistaClient::try_new(
        &executor.host,
        executor.port as u16,
        MAX_MESSAGE_SIZE as usize,
        false,
        None,
        3,
        100,
    )
    .await
    .map_err(to_df)?;
    client
        .fetch_partition(
            &executor.id,
            &partition.into(),
            location.file_id,
            location.is_sort_shuffle,
            true,
        )
        .await
        .map_err(to_df)
}
