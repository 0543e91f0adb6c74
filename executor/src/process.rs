//! Starting a push-scheduled Ballista executor on loopback or a real interface.
//!
//! The executor hosts two gRPC services: Arrow Flight (shuffle and result fetches) on a
//! port bound here (port 0 picks a free one), and the executor control service
//! (launch, cancel and remove tasks and job data) that the scheduler dials. Ballista
//! binds the control service itself from the port it registers with, so that port is
//! chosen before registration.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arrow_flight::flight_service_server::FlightServiceServer;
use ballista_core::extension::SessionConfigExt;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::serde::BallistaCodec;
use ballista_core::serde::protobuf::ExecutorRegistration;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::serde::scheduler::{
    ExecutorOperatingSystemSpecification, ExecutorSpecification,
};
use ballista_core::utils::{GrpcServerConfig, create_grpc_server};
use ballista_core::{ConfigProducer, RuntimeProducer};
use ballista_executor::executor::Executor;
use ballista_executor::executor_process::ExecutorProcessConfig;
use ballista_executor::executor_server;
use ballista_executor::flight_service::BallistaFlightService;
use ballista_executor::shutdown::ShutdownNotifier;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::SessionConfig;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use quarry_catalog::codec;

use crate::engine::QuarryExecutionEngine;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

/// How often to try registering with the scheduler before giving up.
const REGISTRATION_ATTEMPTS: u64 = 8;

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
    #[error("cannot reach the scheduler at {0}: {1}")]
    Scheduler(String, String),
    #[error("executor failed to start: {0}")]
    Ballista(#[from] ballista_core::error::BallistaError),
}

/// How to start an executor.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler's Ballista gRPC address (`host:port`).
    pub scheduler: String,
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
}

/// A running executor. Dropping the handle does not stop it; call [`Self::shutdown`].
pub struct ExecutorHandle {
    /// The id the executor registered with.
    pub id: String,
    /// Its Arrow Flight address.
    pub flight_addr: SocketAddr,
    executor: Arc<Executor>,
    shutdown: ShutdownNotifier,
    flight_stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl ExecutorHandle {
    /// Tasks running now.
    pub fn active_tasks(&self) -> usize {
        self.executor.active_task_count()
    }

    /// Stops serving: the control service, heartbeats and the Flight service end.
    pub fn shutdown(&mut self) {
        let _ = self.shutdown.notify_shutdown.send(());
        if let Some(stop) = self.flight_stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts an executor that shares `runtime` (object stores, memory pool, disk manager,
/// caches) between all its tasks, and registers it with the scheduler.
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
    let runtime_producer: RuntimeProducer = Arc::new(move |_| Ok(Arc::clone(&runtime)));
    let config_producer: ConfigProducer = Arc::new(session_config);
    let executor = Arc::new(Executor::new(
        registration,
        &work_dir,
        runtime_producer,
        config_producer,
        Arc::new(BallistaFunctionRegistry::default()),
        Arc::new(crate::metrics::TracingMetricsCollector),
        options.task_slots,
        Arc::new(QuarryExecutionEngine::default()),
    ));

    let (flight_stop, flight_stopped) = tokio::sync::oneshot::channel::<()>();
    let flight = FlightServiceServer::new(BallistaFlightService::new(work_dir))
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

    let scheduler_url = format!("http://{}", options.scheduler);
    let scheduler = SchedulerGrpcClient::connect(scheduler_url.clone())
        .await
        .map_err(|e| ExecutorError::Scheduler(options.scheduler.clone(), e.to_string()))?
        .max_decoding_message_size(MAX_MESSAGE_SIZE)
        .max_encoding_message_size(MAX_MESSAGE_SIZE);
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
        executor_heartbeat_interval_seconds: 5,
        ..ExecutorProcessConfig::default()
    });
    let shutdown = ShutdownNotifier::new();
    // Ballista signals a stop request from the scheduler on this channel; the embedded
    // and standalone executors stop through their handle instead.
    let (stop_send, mut stop_recv) = tokio::sync::mpsc::channel::<bool>(4);
    tokio::spawn(async move { while stop_recv.recv().await.is_some() {} });
    let codec: BallistaCodec<LogicalPlanNode, PhysicalPlanNode> =
        BallistaCodec::new(codec::logical_codec(), codec::physical_codec());
    // Ballista spawns the control service and registers at once; the scheduler dials
    // the service back during registration and may find it not yet listening. A failed
    // attempt registers nothing and stops its service, so trying again is safe.
    let mut attempt = 0;
    while let Err(e) = executor_server::startup(
        scheduler.clone(),
        Arc::clone(&process_config),
        Arc::clone(&executor),
        codec.clone(),
        stop_send.clone(),
        &shutdown,
    )
    .await
    {
        attempt += 1;
        if attempt >= REGISTRATION_ATTEMPTS {
            return Err(e.into());
        }
        tracing::debug!(attempt, "executor registration failed, retrying: {e}");
        tokio::time::sleep(Duration::from_millis(25 * attempt)).await;
    }
    tracing::info!(executor_id = %id, %flight_addr, grpc_port, "executor registered");

    Ok(ExecutorHandle {
        id,
        flight_addr,
        executor,
        shutdown,
        flight_stop: Some(flight_stop),
    })
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
