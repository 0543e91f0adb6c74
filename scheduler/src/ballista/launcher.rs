//! Launching tasks on executors: Quarry's [`TaskLauncher`] (Ballista's hook for it).
//!
//! Ballista's own launcher takes every failed launch for a lost connection: it removes
//! the executor, which registers again at its next heartbeat, and the same tasks are
//! launched again, forever. An executor that *answers* with an error is alive: it
//! refused the tasks (a plan it cannot decode, a message over its size limit). Here
//! such tasks fail at once, as if the executor had run them and reported a failure, so
//! their query fails with the executor's reason and the executor stays in service.
//! Only a call that cannot reach the executor (refused or dropped connection, time-out)
//! counts it as lost, and a job whose launches keep failing that way gives up after
//! [`MAX_FAILED_LAUNCHES`] failures over at least [`GIVE_UP_AFTER`] (an executor that
//! registers again after a blip, on a busy machine, must not fail the query).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ballista_core::error::{BallistaError, Result};
use ballista_core::serde::protobuf::executor_grpc_client::ExecutorGrpcClient;
use ballista_core::serde::protobuf::scheduler_grpc_server::SchedulerGrpc;
use ballista_core::serde::protobuf::{
    ExecutionError, FailedTask, LaunchMultiTaskParams, MultiTaskDefinition, TaskStatus,
    UpdateTaskStatusParams, failed_task, task_status,
};
use ballista_core::serde::scheduler::ExecutorMetadata;
use ballista_scheduler::state::executor_manager::ExecutorManager;
use ballista_scheduler::state::task_manager::TaskLauncher;
use tonic::transport::Channel;

use super::{BallistaServer, MAX_MESSAGE_SIZE};

/// Launches of one job that may fail to reach their executor before its tasks fail
/// instead of being launched again, if they have been failing for [`GIVE_UP_AFTER`].
pub const MAX_FAILED_LAUNCHES: u32 = 5;
/// How long a job's launches may keep failing to reach an executor, with no launch
/// that reached one in between, before its tasks fail.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(20);

/// Quarry's task launcher. It needs the server it belongs to (to report refused tasks),
/// which is built after it: [`QuarryTaskLauncher::attach`] hands it over once the
/// server's event loop runs.
pub struct QuarryTaskLauncher {
    scheduler_id: String,
    server: OnceLock<BallistaServer>,
    /// A client per executor address, connected on first use.
    clients: Mutex<HashMap<String, ExecutorGrpcClient<Channel>>>,
    /// Per job: failed launches since the last that reached its executor, and when the
    /// first of them failed. Forgotten after a while.
    failures: moka::sync::Cache<String, (u32, Instant)>,
}

impl QuarryTaskLauncher {
    pub fn new(scheduler_id: String) -> Arc<Self> {
        Arc::new(Self {
            scheduler_id,
            server: OnceLock::new(),
            clients: Mutex::default(),
            failures: moka::sync::Cache::builder()
                .time_to_idle(Duration::from_secs(600))
                .build(),
        })
    }

    /// Gives the launcher the server whose tasks it launches.
    pub fn attach(&self, server: BallistaServer) {
        let _ = self.server.set(server);
    }

    async fn client(&self, executor: &ExecutorMetadata) -> Result<ExecutorGrpcClient<Channel>> {
        let url = control_url(executor);
        if let Some(client) = self.lock_clients().get(&url) {
            return Ok(client.clone());
        }
        let config = ballista_core::utils::GrpcClientConfig::default();
        let channel = ballista_core::utils::create_grpc_client_endpoint(url.clone(), Some(&config))
            .map_err(|e| BallistaError::GrpcConnectionError(e.to_string()))?
            .connect()
            .await
            .map_err(|e| BallistaError::GrpcConnectionError(format!("{url}: {e}")))?;
        let client = ExecutorGrpcClient::new(channel)
            .max_encoding_message_size(MAX_MESSAGE_SIZE as usize)
            .max_decoding_message_size(MAX_MESSAGE_SIZE as usize);
        self.lock_clients().insert(url, client.clone());
        Ok(client)
    }

    fn lock_clients(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, ExecutorGrpcClient<Channel>>> {
        self.clients.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends one stage's tasks to `executor`.
    async fn launch(&self, executor: &ExecutorMetadata, tasks: MultiTaskDefinition) -> Result<()> {
        let (job_id, stage_id) = (tasks.job_id.clone(), tasks.stage_id);
        // What a failure report needs; the plan itself goes to the executor.
        let ids = MultiTaskDefinition {
            task_ids: tasks.task_ids.clone(),
            job_id: job_id.clone(),
            stage_id,
            stage_attempt_num: tasks.stage_attempt_num,
            launch_time: tasks.launch_time,
            ..Default::default()
        };
        let sent = match self.client(executor).await {
            Ok(mut client) => client
                .launch_multi_task(LaunchMultiTaskParams {
                    multi_tasks: vec![tasks],
                    scheduler_id: self.scheduler_id.clone(),
                })
                .await
                .map(|_| ()),
            Err(e) => Err(tonic::Status::unavailable(e.to_string())),
        };
        let status = match sent {
            Ok(()) => {
                self.failures.invalidate(&job_id);
                return Ok(());
            }
            Err(status) => status,
        };
        if !unreachable(&status) {
            tracing::warn!(job_id, stage_id, executor_id = %executor.id,
                "executor refused the tasks: {}", status.message());
            let reason = format!(
                "stage {stage_id} could not run: executor {} refused its tasks: {}",
                executor.id,
                status.message()
            );
            return self.fail(executor, ids, reason).await;
        }
        // The connection failed: the executor may be gone. Ballista takes it as lost
        // and launches the tasks again elsewhere, unless this job has failed too often.
        self.lock_clients().remove(&control_url(executor));
        if let Some(failed) = self.gives_up(&job_id, Instant::now()) {
            let reason = format!(
                "stage {stage_id} could not start: its tasks reached no executor in \
                 {failed} attempts (last: executor {}: {})",
                executor.id,
                status.message()
            );
            return self.fail(executor, ids, reason).await;
        }
        Err(BallistaError::GrpcConnectionError(format!(
            "cannot reach executor {}: {}",
            executor.id,
            status.message()
        )))
    }

    /// Counts a launch of `job_id` that did not reach its executor at `now`; returns
    /// the count once it reaches [`MAX_FAILED_LAUNCHES`] and the first failure is
    /// [`GIVE_UP_AFTER`] old (and starts counting afresh).
    fn gives_up(&self, job_id: &str, now: Instant) -> Option<u32> {
        let (failed, since) = self.failures.get(job_id).unwrap_or((0, now));
        let failed = failed + 1;
        if failed < MAX_FAILED_LAUNCHES || now.duration_since(since) < GIVE_UP_AFTER {
            self.failures.insert(job_id.to_string(), (failed, since));
            return None;
        }
        self.failures.invalidate(job_id);
        Some(failed)
    }

    /// Reports `tasks` as failed on `executor` with `reason`, which fails their stage
    /// and job the way a failing task does, and frees their slots.
    async fn fail(
        &self,
        executor: &ExecutorMetadata,
        tasks: MultiTaskDefinition,
        reason: String,
    ) -> Result<()> {
        let Some(server) = self.server.get() else {
            return Err(BallistaError::Internal(reason));
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let task_status = tasks
            .task_ids
            .iter()
            .map(|task| TaskStatus {
                task_id: task.task_id,
                job_id: tasks.job_id.clone(),
                stage_id: tasks.stage_id,
                stage_attempt_num: tasks.stage_attempt_num,
                partition_id: task.partition_id,
                launch_time: tasks.launch_time,
                start_exec_time: now,
                end_exec_time: now,
                metrics: Vec::new(),
                status: Some(task_status::Status::Failed(FailedTask {
                    error: reason.clone(),
                    retryable: false,
                    count_to_failures: false,
                    failed_reason: Some(failed_task::FailedReason::ExecutionError(
                        ExecutionError {},
                    )),
                })),
            })
            .collect();
        let params = UpdateTaskStatusParams {
            executor_id: executor.id.clone(),
            task_status,
        };
        server
            .update_task_status(tonic::Request::new(params))
            .await
            .map(|_| ())
            .map_err(|e| BallistaError::Internal(e.message().to_string()))
    }
}

/// The address of `executor`'s control service, which tasks are launched on.
fn control_url(executor: &ExecutorMetadata) -> String {
    format!("http://{}:{}", executor.host, executor.grpc_port)
}

/// Whether a failed call means the executor could not be reached, rather than that it
/// answered with an error.
fn unreachable(status: &tonic::Status) -> bool {
    use tonic::Code;
    matches!(
        status.code(),
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown
    )
}

#[async_trait]
impl TaskLauncher for QuarryTaskLauncher {
    async fn launch_tasks(
        &self,
        executor: &ExecutorMetadata,
        tasks: Vec<MultiTaskDefinition>,
        _executor_manager: &ExecutorManager,
    ) -> Result<()> {
        // One call per stage, so that a stage the executor refuses does not take the
        // others down with it (the executor starts the stages it decoded before one it
        // cannot, and answers with the error).
        let mut result = Ok(());
        for stage_tasks in tasks {
            if let Err(e) = self.launch(executor, stage_tasks).await {
                result = Err(e);
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_whose_launches_keep_failing_gives_up() {
        let launcher = QuarryTaskLauncher::new("s".into());
        let start = Instant::now();
        for _ in 1..MAX_FAILED_LAUNCHES {
            assert_eq!(launcher.gives_up("a", start), None);
        }
        assert_eq!(
            launcher.gives_up("a", start + Duration::from_secs(1)),
            None,
            "failing for a second is no reason to give up"
        );
        let later = start + GIVE_UP_AFTER;
        assert_eq!(launcher.gives_up("b", later), None, "jobs count apart");
        assert_eq!(launcher.gives_up("a", later), Some(MAX_FAILED_LAUNCHES + 1));
        assert_eq!(launcher.gives_up("a", later), None, "a new count starts");
    }

    #[test]
    fn only_connection_failures_count_as_unreachable() {
        assert!(unreachable(&tonic::Status::unavailable(
            "connection refused"
        )));
        assert!(unreachable(&tonic::Status::deadline_exceeded("timeout")));
        assert!(!unreachable(&tonic::Status::invalid_argument(
            "cannot decode"
        )));
        assert!(!unreachable(&tonic::Status::resource_exhausted(
            "too large"
        )));
        assert!(!unreachable(&tonic::Status::internal("bug")));
    }
}
