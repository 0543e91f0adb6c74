//! Following the scheduler: an executor registers with the scheduler that leads, and
//! registers again when that one goes away (it died, or a standby took over).
//!
//! Each registration runs Ballista's executor services (task control, heartbeats, the
//! task runner) against one scheduler. Every half second the executor checks that its
//! scheduler is still the one to follow: with an elected leader
//! ([`Schedulers::Leader`]), that it is still the leader; with a list of addresses,
//! that it still accepts connections. When not, the services stop, and the executor registers anew, keeping
//! its id, its Flight service and its shuffle files.

use std::sync::Arc;
use std::time::Duration;

use ballista_core::serde::BallistaCodec;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_executor::executor::Executor;
use ballista_executor::executor_process::ExecutorProcessConfig;
use ballista_executor::executor_server;
use ballista_executor::shutdown::ShutdownNotifier;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use futures::future::BoxFuture;
use tokio::sync::watch;
use tonic::transport::Channel;

use crate::process::MAX_MESSAGE_SIZE;

/// How often an executor checks that its scheduler is still the one to follow.
const CHECK_EVERY: Duration = Duration::from_millis(500);

/// A function that says where the leading scheduler is, if anywhere now.
pub type FindLeader = Arc<dyn Fn() -> BoxFuture<'static, Option<String>> + Send + Sync>;

/// Where an executor finds the scheduler to register with.
#[derive(Clone)]
pub enum Schedulers {
    /// Ballista addresses (`host:port`), tried in turn: only the leader accepts.
    Addresses(Vec<String>),
    /// The leader's address, as the cluster's election says (etcd).
    Leader(FindLeader),
}

impl std::fmt::Debug for Schedulers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Addresses(addresses) => write!(f, "{}", addresses.join(",")),
            Self::Leader(_) => write!(f, "the elected leader"),
        }
    }
}

impl Schedulers {
    async fn candidates(&self) -> Vec<String> {
        match self {
            Self::Addresses(addresses) => addresses.clone(),
            Self::Leader(find) => find().await.into_iter().collect(),
        }
    }

    /// Whether `current` is still the scheduler to follow.
    async fn still_follows(&self, current: &str) -> bool {
        match self {
            // No answer from the election (etcd unreachable) is no reason to move.
            Self::Leader(find) => find().await.is_none_or(|leader| leader == current),
            // Moving is worth it only if another scheduler answers; the same one back
            // at its address finds the executor again through its heartbeats.
            Self::Addresses(addresses) => {
                if reachable(current).await {
                    return true;
                }
                for other in addresses.iter().filter(|a| *a != current) {
                    if reachable(other).await {
                        return false;
                    }
                }
                true
            }
        }
    }
}

/// What a registration needs; shared by every registration of one executor.
pub(crate) struct Follower {
    pub schedulers: Schedulers,
    pub config: Arc<ExecutorProcessConfig>,
    pub executor: Arc<Executor>,
    pub codec: BallistaCodec<LogicalPlanNode, PhysicalPlanNode>,
    pub stop_send: tokio::sync::mpsc::Sender<bool>,
}

/// Ballista's services for one registration with one scheduler.
struct Registration {
    shutdown: ShutdownNotifier,
    server: tokio::task::JoinHandle<Result<(), ballista_core::error::BallistaError>>,
}

impl Registration {
    /// Stops the services and waits until the control port is free again.
    async fn end(self) {
        let _ = self.shutdown.notify_shutdown.send(());
        let _ = tokio::time::timeout(Duration::from_secs(5), self.server).await;
    }
}

impl Follower {
    /// Registers with the scheduler to follow, and again whenever that changes, until
    /// `stop` is set. `registered` says which scheduler the executor is registered with.
    pub async fn run(self, registered: watch::Sender<Option<String>>, stop: watch::Receiver<bool>) {
        let mut stopped = stop.clone();
        let follow = async {
            loop {
                let (scheduler, registration) = self.register().await;
                tracing::info!(%scheduler, "executor registered");
                registered.send_replace(Some(scheduler.clone()));
                // A new leader is news at once; an unreachable address may be a blip.
                let enough = match self.schedulers {
                    Schedulers::Leader(_) => 1,
                    Schedulers::Addresses(_) => 2,
                };
                let mut misses = 0;
                while misses < enough {
                    tokio::time::sleep(CHECK_EVERY).await;
                    misses = match self.schedulers.still_follows(&scheduler).await {
                        true => 0,
                        false => misses + 1,
                    };
                }
                tracing::warn!(%scheduler, "the scheduler is gone or no longer leads: registering again");
                registered.send_replace(None);
                registration.end().await;
            }
        };
        tokio::select! {
            () = follow => {}
            _ = stopped.wait_for(|stop| *stop) => {}
        }
    }

    /// Tries every candidate until one accepts the executor.
    async fn register(&self) -> (String, Registration) {
        let mut round: u32 = 0;
        loop {
            for scheduler in self.schedulers.candidates().await {
                match self.register_with(&scheduler).await {
                    Ok(registration) => return (scheduler, registration),
                    Err(e) if round % 20 == 19 => {
                        tracing::warn!(%scheduler, "cannot register yet: {e}")
                    }
                    Err(e) => tracing::debug!(%scheduler, "cannot register yet: {e}"),
                }
            }
            round += 1;
            tokio::time::sleep(Duration::from_millis(if round < 8 { 25 } else { 500 })).await;
        }
    }

    async fn register_with(&self, scheduler: &str) -> Result<Registration, String> {
        let client = SchedulerGrpcClient::<Channel>::connect(format!("http://{scheduler}"))
            .await
            .map_err(|e| e.to_string())?
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
            .max_encoding_message_size(MAX_MESSAGE_SIZE);
        let shutdown = ShutdownNotifier::new();
        // Ballista spawns the control service and registers at once; the scheduler dials
        // the service back during registration and may find it not yet listening. A
        // failed attempt registers nothing and stops its service, so trying again is
        // safe.
        let server = executor_server::startup(
            client,
            Arc::clone(&self.config),
            Arc::clone(&self.executor),
            self.codec.clone(),
            self.stop_send.clone(),
            &shutdown,
        )
        .await
        .map_err(|e| e.to_string())?;
        Ok(Registration { shutdown, server })
    }
}

/// Whether `address` accepts a TCP connection within a second.
async fn reachable(address: &str) -> bool {
    matches!(
        tokio::time::timeout(
            Duration::from_secs(1),
            tokio::net::TcpStream::connect(address)
        )
        .await,
        Ok(Ok(_))
    )
}
