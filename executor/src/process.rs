//! Starting a push-scheduled Ballista executor on loopback or a real interface.
//!
//! The executor hosts two gRPC services: Arrow Flight (shuffle and result fetches, and
//! what its reflection cache holds: [`crate::flight`]) on a
//! port bound here (port 0 picks a free one), and the executor control service
//! (launch, cancel and remove tasks and job data) that the scheduler dials. Ballista
//! binds the control service itself from the port it registers with, so that port is
//! chosen before registration.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use arrow_flight::flight_service_server::FlightServiceServer;
use ballista_core::extension::SessionConfigExt;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::serde::BallistaCodec;
use ballista_core::serde::protobuf::job_status::Status;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::serde::protobuf::{
    ExecutorRegistration, ExecutorStoppedParams, GetJobStatusParams,
};
use ballista_core::serde::scheduler::{
    ExecutorOperatingSystemSpecification, ExecutorSpecification,
};
use ballista_core::utils::{GrpcServerConfig, create_grpc_server};
use ballista_core::{ConfigProducer, RuntimeProducer};
use ballista_executor::executor::Executor;
use ballista_executor::executor_process::ExecutorProcessConfig;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::SessionConfig;
use datafusion_proto::physical_plan::PhysicalExtensionCodec;
use quarry_catalog::codec;
use quarry_catalog::table::distribution;

#[cfg(doc)]
use crate::cache::DEFAULT_BUDGET;
use crate::cache::{CacheStats, ReflectionCache};
use crate::direct::DirectRuns;
use crate::engine::QuarryExecutionEngine;
use crate::flight::ExecutorFlight;
use crate::follow::{Follower, Schedulers};
use crate::http::Probe;
use crate::metrics::TaskMetrics;
use ballista_executor::execution_engine::ExecutionEngine;
use ballista_executor::metrics::ExecutorMetricsCollector;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::server::TcpIncoming;

/// Seconds between heartbeats to the scheduler.
const HEARTBEAT_SECS: u64 = 2;

/// gRPC message size limit for results and shuffles (Ballista's default is 16 MiB).
pub const MAX_MESSAGE_SIZE: usize = 64 << 20;

/// Errors starting an executor.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    #[error("cannot bind {what} on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot create the work directory {0}: {1}")]
    WorkDir(PathBuf, std::io::Error),
    #[error("no scheduler accepted the executor in time (schedulers: {0})")]
    Scheduler(String),
    #[error("executor failed to start: {0}")]
    Ballista(#[from] ballista_core::error::BallistaError),
}

/// How to start an executor.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// Where the scheduler to register with is.
    pub schedulers: Schedulers,
    /// How long to wait for the first registration before failing (`None`: do not
    /// wait; [`ExecutorHandle::registered`] says when it happened).
    pub register_within: Option<Duration>,
    /// Interface to bind.
    pub bind_host: String,
    /// Host name the scheduler and other executors use to reach this one.
    pub advertise_host: String,
    /// Arrow Flight port; 0 picks a free one.
    pub flight_port: u16,
    /// Control-service port; 0 picks a free one.
    pub grpc_port: u16,
    /// Tasks run at once.
    pub task_slots: usize,
    /// Where shuffle files and spills go; owned by the executor while it runs.
    pub work_dir: PathBuf,
    /// Decodes the plan nodes of the tasks it is sent: Quarry's
    /// ([`codec::physical_codec`]), which every scheduler encodes with.
    pub physical_codec: Arc<dyn PhysicalExtensionCodec>,
    /// Bytes of reflection data kept in memory ([`DEFAULT_BUDGET`]); 0 keeps none.
    pub reflection_cache: u64,
}

/// A running executor. Dropping the handle does not stop it; call [`Self::shutdown`].
pub struct ExecutorHandle {
    /// The id the executor registered with.
    pub id: String,
    /// Its Arrow Flight address.
    pub flight_addr: SocketAddr,
    executor: Arc<Executor>,
    work_dir: PathBuf,
    registered: watch::Receiver<Option<String>>,
    tasks: Arc<TaskMetrics>,
    running: Arc<AtomicUsize>,
    cache: Option<Arc<ReflectionCache>>,
    draining: Arc<AtomicBool>,
    stop: watch::Sender<bool>,
    flight_stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl ExecutorHandle {
    /// Tasks running now.
    pub fn active_tasks(&self) -> usize {
        self.running.load(Ordering::Acquire)
    }

    /// What its reflection cache holds and has served (all zero without a cache).
    pub async fn cache_stats(&self) -> CacheStats {
        match &self.cache {
            Some(cache) => cache.stats().await,
            None => CacheStats::default(),
        }
    }

    /// What the HTTP port reports on.
    pub(crate) fn probe(&self) -> Probe {
        Probe {
            executor: Arc::clone(&self.executor),
            registered: self.registered.clone(),
            tasks: Arc::clone(&self.tasks),
            running: Arc::clone(&self.running),
            cache: self.cache.clone(),
            draining: Arc::clone(&self.draining),
        }
    }

    /// Resolves once the executor is registered with a scheduler.
    pub async fn registered(&self) {
        let mut registered = self.registered.clone();
        let _ = registered.wait_for(Option::is_some).await;
    }

    /// The scheduler the executor is registered with now, if any.
    pub fn scheduler(&self) -> Option<String> {
        self.registered.borrow().clone()
    }

    /// Drains the executor, then stops it: reports itself Terminating so that the
    /// scheduler offers it no more tasks, waits up to `grace` for its running tasks to
    /// end and for the files of the scheduler's live jobs (shuffle outputs and results
    /// others still read) to be freed, then deregisters. Returns whether all that ended
    /// within `grace`.
    pub async fn drain(&mut self, grace: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + grace;
        self.draining.store(true, Ordering::Release);
        // Global to the process; only a standalone executor (one per process) drains.
        ballista_executor::executor_server::TERMINATING.store(true, Ordering::Release);
        // The next heartbeat tells the scheduler; a task offered before then runs too.
        tokio::time::sleep_until(
            deadline.min(tokio::time::Instant::now() + Duration::from_secs(HEARTBEAT_SECS + 1)),
        )
        .await;
        let drained = loop {
            let scheduler = self.scheduler();
            let holds = holds_live_jobs(&self.work_dir, scheduler);
            match tokio::time::timeout_at(deadline, holds).await {
                Ok(false) if self.active_tasks() == 0 => break true,
                Err(_) => break false,
                Ok(_) if tokio::time::Instant::now() >= deadline => break false,
                Ok(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        let scheduler = self.scheduler();
        self.shutdown();
        if let Some(scheduler) = scheduler {
            // After the heartbeats stopped: one more would register the executor again.
            tokio::time::sleep(Duration::from_millis(200)).await;
            deregister(&scheduler, &self.id).await;
        }
        drained
    }

    /// Stops serving: the control service, heartbeats and the Flight service end.
    pub fn shutdown(&mut self) {
        let _ = self.stop.send(true);
        if let Some(stop) = self.flight_stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts an executor that shares `runtime` (object stores, memory pool, disk manager,
/// caches) between all its tasks, and registers it with the scheduler; it follows the
/// leading scheduler from then on ([`crate::follow`]).
pub async fn start_executor(
    options: ExecutorOptions,
    runtime: Arc<RuntimeEnv>,
) -> Result<ExecutorHandle, ExecutorError> {
    std::fs::create_dir_all(&options.work_dir)
        .map_err(|e| ExecutorError::WorkDir(options.work_dir.clone(), e))?;
    let work_dir = options.work_dir.to_string_lossy().into_owned();

    let bind_ip = resolve(&options.bind_host).await?;
    let flight_listener = bind(bind_ip, options.flight_port, "the Flight service").await?;
    let flight_addr = flight_listener
        .local_addr()
        .map_err(|e| ExecutorError::Bind {
            what: "the Flight service",
            addr: options.bind_host.clone(),
            source: e,
        })?;
    let grpc_port = match options.grpc_port {
        0 => free_port(bind_ip).await?,
        port => port,
    };

    let id = uuid::Uuid::new_v4().to_string();
    let registration = ExecutorRegistration {
        id: id.clone(),
        host: Some(options.advertise_host.clone()),
        port: u32::from(flight_addr.port()),
        grpc_port: u32::from(grpc_port),
        specification: Some(
            ExecutorSpecification::default()
                .with_task_slots(options.task_slots as u32)
                .into(),
        ),
        os_info: Some(ExecutorOperatingSystemSpecification::default().into()),
    };
    let tasks = Arc::new(TaskMetrics::default());
    let cache = (options.reflection_cache > 0)
        .then(|| Arc::new(ReflectionCache::new(options.reflection_cache)));
    let engine = Arc::new(QuarryExecutionEngine::with_cache(cache.clone()));
    let running = engine.running();
    let runtime_producer: RuntimeProducer = Arc::new(move |_| Ok(Arc::clone(&runtime)));
    let config_producer: ConfigProducer = Arc::new(session_config);
    let executor = Arc::new(Executor::new(
        registration,
        &work_dir,
        runtime_producer,
        config_producer,
        Arc::new(function_registry()),
        Arc::clone(&tasks) as Arc<dyn ExecutorMetricsCollector>,
        options.task_slots,
        Arc::clone(&engine) as Arc<dyn ExecutionEngine>,
    ));

    let (flight_stop, flight_stopped) = tokio::sync::oneshot::channel::<()>();
    let codec = BallistaCodec::new(codec::logical_codec(), options.physical_codec);
    let direct = DirectRuns::new(Arc::clone(&executor), Arc::clone(&engine), codec.clone());
    let flight = FlightServiceServer::new(ExecutorFlight::new(work_dir, cache.clone(), direct))
        .max_decoding_message_size(MAX_MESSAGE_SIZE)
        .max_encoding_message_size(MAX_MESSAGE_SIZE);
    tokio::spawn(
        create_grpc_server(&GrpcServerConfig::default())
            .add_service(flight)
            .serve_with_incoming_shutdown(
                TcpIncoming::from(flight_listener).with_nodelay(Some(true)),
                async {
                    let _ = flight_stopped.await;
                },
            ),
    );

    let process_config = Arc::new(ExecutorProcessConfig {
        // Ballista parses `host:port` itself: give it an address, bracketed for IPv6.
        bind_host: match bind_ip {
            IpAddr::V6(ip) => format!("[{ip}]"),
            IpAddr::V4(ip) => ip.to_string(),
        },
        grpc_port,
        concurrent_tasks: options.task_slots,
        grpc_max_decoding_message_size: MAX_MESSAGE_SIZE as u32,
        grpc_max_encoding_message_size: MAX_MESSAGE_SIZE as u32,
        executor_heartbeat_interval_seconds: HEARTBEAT_SECS,
        ..ExecutorProcessConfig::default()
    });
    // Ballista signals a stop request from the scheduler on this channel; the embedded
    // and standalone executors stop through their handle instead.
    let (stop_send, mut stop_recv) = tokio::sync::mpsc::channel::<bool>(4);
    tokio::spawn(async move { while stop_recv.recv().await.is_some() {} });
    let follower = Follower {
        schedulers: options.schedulers.clone(),
        config: process_config,
        executor: Arc::clone(&executor),
        codec,
        stop_send,
    };
    let (registered_send, registered) = watch::channel(None);
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(follower.run(registered_send, stopped));
    let mut first = registered.clone();
    let first = async move { first.wait_for(Option::is_some).await.is_ok() };
    let waited = match options.register_within {
        Some(limit) => tokio::time::timeout(limit, first).await.unwrap_or(false),
        None => true,
    };
    if !waited {
        let _ = stop.send(true);
        let _ = flight_stop.send(());
        return Err(ExecutorError::Scheduler(format!(
            "{:?}",
            options.schedulers
        )));
    }
    tracing::info!(executor_id = %id, %flight_addr, grpc_port, "executor started");

    Ok(ExecutorHandle {
        id,
        flight_addr,
        executor,
        work_dir: options.work_dir,
        registered,
        tasks,
        running,
        cache,
        draining: Arc::default(),
        stop,
        flight_stop: Some(flight_stop),
    })
}

/// Whether the work directory (a directory per job; spills live in `spill`) holds
/// files of a job that the scheduler still runs, or that finished and whose result may
/// still be read (the scheduler deletes those files once it has been). Jobs the
/// scheduler does not know (a former leader's) or that failed hold nothing up; nor does
/// anything when the executor is registered with no scheduler.
async fn holds_live_jobs(work_dir: &Path, scheduler: Option<String>) -> bool {
    let jobs: Vec<String> = match std::fs::read_dir(work_dir) {
        Ok(entries) => entries
            .flatten()
            .filter(|entry| entry.path().is_dir() && entry.file_name() != "spill")
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => return false,
    };
    let (false, Some(scheduler)) = (jobs.is_empty(), scheduler) else {
        return false;
    };
    // Without an answer, a job counts as live: leaving early could fail its query.
    let Ok(Ok(mut client)) = tokio::time::timeout(
        Duration::from_secs(2),
        SchedulerGrpcClient::connect(format!("http://{scheduler}")),
    )
    .await
    else {
        return true;
    };
    for job_id in jobs {
        let asked = client.get_job_status(GetJobStatusParams { job_id });
        let status = match tokio::time::timeout(Duration::from_secs(2), asked).await {
            Ok(Ok(answer)) => answer.into_inner().status.and_then(|s| s.status),
            _ => return true,
        };
        if matches!(
            status,
            Some(Status::Queued(_) | Status::Running(_) | Status::Successful(_))
        ) {
            return true;
        }
    }
    false
}

/// Tells the scheduler at `scheduler` that executor `id` has left (Ballista removes it
/// after its grace period for terminating executors, 8 s).
async fn deregister(scheduler: &str, id: &str) {
    let stopped = async {
        SchedulerGrpcClient::connect(format!("http://{scheduler}"))
            .await
            .map_err(|e| e.to_string())?
            .executor_stopped(ExecutorStoppedParams {
                executor_id: id.to_string(),
                reason: "the executor drained and stopped".into(),
            })
            .await
            .map_err(|e| e.to_string())
    };
    match tokio::time::timeout(Duration::from_secs(5), stopped).await {
        Ok(Ok(_)) => tracing::info!(%scheduler, "executor deregistered"),
        Ok(Err(e)) => tracing::warn!(%scheduler, "cannot deregister: {e}"),
        Err(_) => tracing::warn!(%scheduler, "cannot deregister: no answer"),
    }
}

/// DataFusion's functions and Quarry's own that plans name (the partition values a
/// write's rows are shuffled by).
fn function_registry() -> BallistaFunctionRegistry {
    let mut registry = BallistaFunctionRegistry::default();
    let partition_value = distribution::udf();
    registry
        .scalar_functions
        .insert(distribution::NAME.to_string(), partition_value);
    for function in quarry_catalog::sql_functions::udfs() {
        registry
            .scalar_functions
            .insert(function.name().to_string(), function);
    }
    registry
}

/// The session configuration each task starts from (the task's own settings override it).
fn session_config() -> SessionConfig {
    SessionConfig::new_with_ballista()
        .with_ballista_logical_extension_codec(codec::logical_codec())
        .with_ballista_physical_extension_codec(codec::physical_codec())
}

async fn bind(ip: IpAddr, port: u16, what: &'static str) -> Result<TcpListener, ExecutorError> {
    TcpListener::bind((ip, port))
        .await
        .map_err(|source| ExecutorError::Bind {
            what,
            addr: SocketAddr::new(ip, port).to_string(),
            source,
        })
}

/// A port that was free a moment ago (Ballista binds the control service itself).
async fn free_port(ip: IpAddr) -> Result<u16, ExecutorError> {
    let listener = bind(ip, 0, "the control service").await?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|source| ExecutorError::Bind {
            what: "the control service",
            addr: ip.to_string(),
            source,
        })
}

/// The address `host` (a name or an IP address) resolves to.
async fn resolve(host: &str) -> Result<IpAddr, ExecutorError> {
    let mut addrs =
        tokio::net::lookup_host((host, 0))
            .await
            .map_err(|source| ExecutorError::Bind {
                what: "the executor",
                addr: host.to_string(),
                source,
            })?;
    addrs
        .next()
        .map(|a| a.ip())
        .ok_or_else(|| ExecutorError::Bind {
            what: "the executor",
            addr: host.to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the name resolves to no address",
            ),
        })
}
