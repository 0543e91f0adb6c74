//! Hosting the Ballista scheduler: its gRPC service on a bound port (port 0 picks a free
//! one), push-based task scheduling, and in-memory cluster and job state.
//!
//! Tasks are launched by [`QuarryTaskLauncher`]: a task an executor refuses fails its
//! query instead of counting the executor as lost. Tasks are placed by [`CachePlacement`]:
//! on the executor that holds their reflection files in memory, otherwise round-robin
//! over the executors (Ballista's default packs them onto as few as possible). Push scheduling sends tasks to executors as soon as slots free up and gets task
//! status back at once, instead of executors polling every 50 ms.

pub mod launcher;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ballista_core::config::TaskSchedulingPolicy;
use ballista_core::serde::BallistaCodec;
use ballista_core::serde::protobuf::scheduler_grpc_server::SchedulerGrpcServer;
use ballista_core::serde::protobuf::{ExecutorHeartbeat, executor_status};
use ballista_core::utils::{
    GrpcServerConfig, create_grpc_server, default_config_producer, default_session_builder,
};
use ballista_scheduler::cluster::memory::{InMemoryClusterState, InMemoryJobState};
use ballista_scheduler::cluster::{BallistaCluster, JobState};
use ballista_scheduler::config::{SchedulerConfig, TaskDistributionPolicy};
use ballista_scheduler::scheduler_server::SchedulerServer;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use quarry_catalog::codec;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

use crate::error::QuarryError;
use crate::placement::CachePlacement;
use launcher::QuarryTaskLauncher;

/// The Ballista scheduler server type Quarry runs.
pub type BallistaServer = SchedulerServer<LogicalPlanNode, PhysicalPlanNode>;

/// Seconds without a heartbeat after which an executor is taken as lost.
pub const EXECUTOR_TIMEOUT_SECS: u64 = 8;
/// Seconds without a heartbeat after which an executor that does not answer a
/// connection (rather than refusing it) is taken as lost.
const SILENT_AFTER_SECS: u64 = 4;

/// gRPC message size limit between scheduler and executors.
pub const MAX_MESSAGE_SIZE: u32 = 64 << 20;

/// A running Ballista scheduler.
#[derive(Clone)]
pub struct BallistaScheduler {
    /// Address executors register with.
    pub addr: SocketAddr,
    /// The server, for submitting, cancelling and inspecting jobs in-process.
    pub server: BallistaServer,
    /// Finished jobs' execution graphs (stage plans and metrics).
    pub jobs: Arc<dyn JobState>,
    /// Where tasks and direct runs go.
    pub placement: Arc<CachePlacement>,
    /// Executors taken as lost so far.
    lost: Arc<Mutex<HashSet<String>>>,
    /// The scheduler's one health check of its executors, stopped with the last clone.
    _health: Arc<HealthCheck>,
}

/// The background task that probes every executor each [`HEALTH_CHECK_INTERVAL`]
/// (running jobs read what it found instead of probing on their own); aborted on drop.
struct HealthCheck(tokio::task::AbortHandle);

impl Drop for HealthCheck {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How often the scheduler probes its executors.
pub const HEALTH_CHECK_INTERVAL: Duration = Duration::from_secs(2);

/// Binds `host:port` and starts the Ballista scheduler on it. Executors send task
/// status to the scheduler by its name, `advertise:port` (the bound address when
/// `advertise` is `None`), which must reach it from their hosts.
pub async fn start_ballista(
    host: &str,
    port: u16,
    advertise: Option<&str>,
) -> Result<BallistaScheduler, QuarryError> {
    let listener = TcpListener::bind((host, port)).await.map_err(|e| {
        QuarryError::startup(format!(
            "cannot bind the Ballista scheduler on {host}:{port}: {e}"
        ))
    })?;
    let addr = listener
        .local_addr()
        .map_err(|e| QuarryError::startup(e.to_string()))?;
    let name = match advertise {
        Some(host) => format!("{host}:{}", addr.port()),
        None => addr.to_string(),
    };
    let jobs = Arc::new(InMemoryJobState::new(
        name.clone(),
        Arc::new(default_session_builder),
        Arc::new(default_config_producer),
    ));
    let cluster = BallistaCluster::new(
        Arc::new(InMemoryClusterState::default()),
        Arc::clone(&jobs) as Arc<dyn JobState>,
    );
    let placement = Arc::new(CachePlacement::default());
    let mut config = SchedulerConfig::default()
        .with_hostname(host)
        .with_port(addr.port())
        .with_scheduler_policy(TaskSchedulingPolicy::PushStaged)
        .with_task_distribution(TaskDistributionPolicy::Custom(Arc::clone(&placement) as _))
        // Quarry deletes a job's files once its result has been read; this is the
        // safety net for results never read, long enough for slow readers.
        .with_finished_job_data_clean_up_interval_seconds(3600)
        .with_grpc_server_max_decoding_message_size(MAX_MESSAGE_SIZE)
        .with_grpc_server_max_encoding_message_size(MAX_MESSAGE_SIZE);
    // An executor that misses its heartbeats (every 2 s) for this long is lost: its
    // tasks and shuffle files are gone, and queries that needed them are re-run.
    config.executor_timeout_seconds = EXECUTOR_TIMEOUT_SECS;
    config.expire_dead_executor_interval_seconds = 1;
    // A draining executor reports itself Terminating and deregisters when done; one
    // that falls silent while draining is lost after this long.
    config.executor_termination_grace_period = EXECUTOR_TIMEOUT_SECS;
    let launcher = QuarryTaskLauncher::new(name.clone());
    let mut server = BallistaServer::new_with_task_launcher(
        name,
        cluster,
        BallistaCodec::new(codec::logical_codec(), codec::physical_codec()),
        Arc::new(config),
        ballista_scheduler::metrics::default_metrics_collector()
            .map_err(|e| QuarryError::startup(e.to_string()))?,
        Arc::clone(&launcher) as _,
    );
    server
        .init()
        .await
        .map_err(|e| QuarryError::startup(e.to_string()))?;
    // After `init`, which starts the event loop the launcher reports to.
    launcher.attach(server.clone());
    let service = SchedulerGrpcServer::new(server.clone())
        .max_decoding_message_size(MAX_MESSAGE_SIZE as usize)
        .max_encoding_message_size(MAX_MESSAGE_SIZE as usize);
    tokio::spawn(
        create_grpc_server(&GrpcServerConfig::default())
            .add_service(service)
            .serve_with_incoming(TcpIncoming::from(listener).with_nodelay(Some(true))),
    );
    let lost: Arc<Mutex<HashSet<String>>> = Arc::default();
    let health = {
        let (server, lost) = (server.clone(), Arc::clone(&lost));
        tokio::spawn(async move {
            let mut every = tokio::time::interval(HEALTH_CHECK_INTERVAL);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                probe(&server, &lost).await;
            }
        })
    };
    Ok(BallistaScheduler {
        addr,
        server,
        jobs,
        placement,
        lost,
        _health: Arc::new(HealthCheck(health.abort_handle())),
    })
}

impl std::fmt::Debug for BallistaScheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BallistaScheduler")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl BallistaScheduler {
    /// Task slots of all registered executors.
    pub async fn total_task_slots(&self) -> usize {
        self.executors().await.iter().map(|(_, slots)| slots).sum()
    }

    /// The registered executors: their ids and task slots.
    pub async fn executors(&self) -> Vec<(String, usize)> {
        match self
            .server
            .state
            .executor_manager
            .get_executors_state()
            .await
        {
            Ok(executors) => executors
                .iter()
                .map(|(meta, _, _)| (meta.id.clone(), meta.specification.task_slots as usize))
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The executors that take new work (registered and not draining): their ids and
    /// the addresses of their Flight services.
    pub async fn serving_executors(&self) -> Vec<(String, String)> {
        let manager = &self.server.state.executor_manager;
        let executors = manager.get_executors_state().await.unwrap_or_default();
        executors
            .into_iter()
            .filter(|(meta, _, _)| {
                !manager
                    .get_executor_hearbeat(&meta.id)
                    .is_some_and(|h| draining(&h))
            })
            .map(|(meta, _, _)| {
                let address = format!("http://{}:{}", meta.host, meta.port);
                (meta.id, address)
            })
            .collect()
    }

    /// Finds the executors that are gone and takes them as lost at once (see
    /// [`probe`]); returns every executor lost so far. The health check does this every
    /// [`HEALTH_CHECK_INTERVAL`]; a job that failed does it at once, to tell a lost
    /// executor from an error of its own.
    pub async fn drop_lost_executors(&self) -> HashSet<String> {
        probe(&self.server, &self.lost).await
    }

    /// The executors taken as lost so far, by the health check or a failed job.
    pub fn lost_executors(&self) -> HashSet<String> {
        self.lost.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Finds the executors that are gone and takes them as lost at once, rather than
/// when their heartbeats are missed: one that refuses connections, or one that does
/// not answer and has not sent a heartbeat for [`SILENT_AFTER_SECS`]. A draining
/// (Terminating) executor is left to deregister itself. A lost executor is removed,
/// and running jobs' tasks on it are cancelled and run again (Ballista's own
/// handling of a lost executor). Returns every executor lost so far.
async fn probe(server: &BallistaServer, lost: &Mutex<HashSet<String>>) -> HashSet<String> {
    let state = &server.state;
    let executors = state
        .executor_manager
        .get_executors_state()
        .await
        .unwrap_or_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let checks = executors.iter().map(|(meta, _, _)| async move {
        let heartbeat = state.executor_manager.get_executor_hearbeat(&meta.id);
        if heartbeat.as_ref().is_some_and(draining) {
            return None;
        }
        let silent = heartbeat.is_none_or(|h| now.saturating_sub(h.timestamp) > SILENT_AFTER_SECS);
        let address = format!("{}:{}", meta.host, meta.grpc_port);
        let connect = tokio::net::TcpStream::connect(address);
        let lost = match tokio::time::timeout(Duration::from_secs(1), connect).await {
            Ok(Ok(_)) => false,
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => true,
            _ => silent,
        };
        lost.then(|| meta.id.clone())
    });
    let newly: Vec<String> = futures::future::join_all(checks)
        .await
        .into_iter()
        .flatten()
        .collect();
    for id in &newly {
        tracing::warn!(executor_id = %id, "executor unreachable: taking it as lost");
        let reason = Some("unreachable".to_string());
        if let Err(e) = state.executor_manager.remove_executor(id, reason).await {
            tracing::warn!(executor_id = %id, "cannot remove the executor: {e}");
        }
        match state.task_manager.executor_lost(id).await {
            Ok(tasks) if !tasks.is_empty() => {
                let _ = state.executor_manager.cancel_running_tasks(tasks).await;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(executor_id = %id, "cannot reset its tasks: {e}"),
        }
    }
    let mut lost = lost.lock().unwrap_or_else(|p| p.into_inner());
    lost.extend(newly);
    lost.clone()
}

/// Whether the executor of this heartbeat is draining (it reports itself Terminating).
fn draining(heartbeat: &ExecutorHeartbeat) -> bool {
    matches!(
        heartbeat.status.as_ref().and_then(|s| s.status.as_ref()),
        Some(executor_status::Status::Terminating(_))
    )
}
