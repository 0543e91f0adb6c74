//! The scheduler's HTTP port (9047 by default), for orchestrators and monitoring:
//!
//! - `/healthz`: 200 while the process runs;
//! - `/readyz`: 200 while it serves clients, 503 otherwise (a Kubernetes Service sends
//!   clients only to a ready scheduler);
//! - `/metrics`: Prometheus metrics ([`crate::metrics`]).

use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::ballista::BallistaScheduler;
use crate::error::QuarryError;
use crate::metrics::metrics;

#[derive(Clone)]
struct Probe {
    ballista: BallistaScheduler,
    ready: watch::Receiver<bool>,
}

/// Serves the endpoints on `host:port` (port 0 picks a free one) until `stop` is set;
/// `ready` says whether the scheduler serves clients.
pub async fn serve(
    host: &str,
    port: u16,
    ballista: BallistaScheduler,
    ready: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) -> Result<SocketAddr, QuarryError> {
    let listener = TcpListener::bind((host, port)).await.map_err(|e| {
        QuarryError::Startup(format!("cannot bind the HTTP port {host}:{port}: {e}"))
    })?;
    let addr = listener
        .local_addr()
        .map_err(|e| QuarryError::Startup(e.to_string()))?;
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render))
        .with_state(Probe { ballista, ready });
    tokio::spawn(async move {
        let stopped = async move {
            let _ = stop.wait_for(|stop| *stop).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stopped)
            .await
        {
            tracing::warn!("HTTP port stopped: {e}");
        }
    });
    Ok(addr)
}

async fn readyz(State(probe): State<Probe>) -> (StatusCode, &'static str) {
    match *probe.ready.borrow() {
        true => (StatusCode::OK, "ready\n"),
        false => (StatusCode::SERVICE_UNAVAILABLE, "not serving\n"),
    }
}

async fn render(State(probe): State<Probe>) -> String {
    match metrics() {
        Some(metrics) => metrics.render(&probe.ballista).await,
        None => String::new(),
    }
}
