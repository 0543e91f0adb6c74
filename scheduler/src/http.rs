//! The scheduler's HTTP port (9047 by default), for orchestrators and monitoring. It is
//! served from the moment the process starts, before the scheduler leads:
//!
//! - `/healthz`: 200 while the process runs;
//! - `/readyz`: 200 while the scheduler serves clients; 503 while it is a standby
//!   waiting to lead, and once it stops (a Kubernetes Service sends clients only to a
//!   ready scheduler: the leader);
//! - `/metrics`: Prometheus metrics ([`crate::metrics`]).

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::ballista::BallistaScheduler;
use crate::error::QuarryError;
use crate::metrics::Metrics;

/// What the scheduler is doing, as `/readyz` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// Waiting to be elected leader; no client port is open.
    Standby,
    /// Serving clients.
    Serving,
    /// Stopping.
    Stopping,
}

#[derive(Clone)]
struct Probe {
    readiness: watch::Receiver<Readiness>,
    ballista: Arc<OnceLock<BallistaScheduler>>,
    metrics: Arc<Metrics>,
}

/// A served HTTP port. Dropping it stops serving.
pub struct HttpPort {
    /// Where it listens.
    pub addr: SocketAddr,
    readiness: watch::Sender<Readiness>,
    ballista: Arc<OnceLock<BallistaScheduler>>,
    metrics: Arc<Metrics>,
    _stop: watch::Sender<()>,
}

impl HttpPort {
    /// Serves the endpoints on `host:port` (port 0 picks a free one), as a standby until
    /// [`Self::serving`].
    pub async fn serve(host: &str, port: u16) -> Result<Self, QuarryError> {
        let listener = TcpListener::bind((host, port)).await.map_err(|e| {
            QuarryError::startup(format!("cannot bind the HTTP port {host}:{port}: {e}"))
        })?;
        let addr = listener
            .local_addr()
            .map_err(|e| QuarryError::startup(e.to_string()))?;
        let (readiness, watched) = watch::channel(Readiness::Standby);
        let ballista = Arc::new(OnceLock::new());
        let metrics = Arc::new(Metrics::new()?);
        let app = Router::new()
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/readyz", get(readyz))
            .route("/metrics", get(render))
            .with_state(Probe {
                readiness: watched,
                ballista: Arc::clone(&ballista),
                metrics: Arc::clone(&metrics),
            });
        let (stop, mut stopped) = watch::channel(());
        tokio::spawn(async move {
            // Ends when the sender is dropped.
            let stopped = async move { while stopped.changed().await.is_ok() {} };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(stopped)
                .await
            {
                tracing::warn!("HTTP port stopped: {e}");
            }
        });
        Ok(Self {
            addr,
            readiness,
            ballista,
            metrics,
            _stop: stop,
        })
    }

    /// The metrics this port serves, for the scheduler to count into.
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.metrics)
    }

    /// The scheduler serves clients through `ballista`'s cluster from now on.
    pub fn serving(&self, ballista: &BallistaScheduler) {
        let _ = self.ballista.set(ballista.clone());
        self.readiness.send_replace(Readiness::Serving);
    }

    /// The scheduler stops serving clients.
    pub fn stopping(&self) {
        self.readiness.send_replace(Readiness::Stopping);
    }
}

async fn readyz(State(probe): State<Probe>) -> (StatusCode, &'static str) {
    match *probe.readiness.borrow() {
        Readiness::Serving => (StatusCode::OK, "ready\n"),
        Readiness::Standby => (StatusCode::SERVICE_UNAVAILABLE, "standby\n"),
        Readiness::Stopping => (StatusCode::SERVICE_UNAVAILABLE, "stopping\n"),
    }
}

async fn render(State(probe): State<Probe>) -> String {
    probe.metrics.render(probe.ballista.get()).await
}
