//! A standalone executor's HTTP port (9048 by default), for orchestrators and
//! monitoring:
//!
//! - `/healthz`: 200 while the process runs;
//! - `/readyz`: 200 while the executor is registered with a scheduler and not draining;
//! - `/metrics`: Prometheus: tasks finished and running, task slots, whether ready,
//!   and the reflection cache's hits, misses, bytes and files.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use ballista_executor::executor::Executor;
use prometheus::{Encoder, IntCounter, IntGauge, Registry, TextEncoder};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::cache::ReflectionCache;
use crate::metrics::TaskMetrics;
use crate::process::{ExecutorError, ExecutorHandle};

/// Default HTTP port of an executor.
pub const DEFAULT_EXECUTOR_HTTP_PORT: u16 = 9048;

/// What the endpoints report on: the executor's state.
#[derive(Clone)]
pub(crate) struct Probe {
    pub executor: Arc<Executor>,
    pub registered: watch::Receiver<Option<String>>,
    pub tasks: Arc<TaskMetrics>,
    pub running: Arc<AtomicUsize>,
    pub cache: Option<Arc<ReflectionCache>>,
    pub draining: Arc<AtomicBool>,
}

impl Probe {
    fn ready(&self) -> bool {
        self.registered.borrow().is_some() && !self.draining.load(Ordering::Acquire)
    }
}

/// Serves the endpoints for `executor` on `host:port` (port 0 picks a free one) for as
/// long as the process runs.
pub async fn serve(
    executor: &ExecutorHandle,
    host: &str,
    port: u16,
) -> Result<SocketAddr, ExecutorError> {
    let bind_error = |source| ExecutorError::Bind {
        what: "the HTTP port",
        addr: format!("{host}:{port}"),
        source,
    };
    let listener = TcpListener::bind((host, port)).await.map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render))
        .with_state(executor.probe());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!("HTTP port stopped: {e}");
        }
    });
    Ok(addr)
}

async fn readyz(State(probe): State<Probe>) -> (StatusCode, &'static str) {
    match (probe.ready(), probe.draining.load(Ordering::Acquire)) {
        (true, _) => (StatusCode::OK, "ready\n"),
        (false, true) => (StatusCode::SERVICE_UNAVAILABLE, "draining\n"),
        (false, false) => (StatusCode::SERVICE_UNAVAILABLE, "not registered\n"),
    }
}

async fn render(State(probe): State<Probe>) -> String {
    let registry = Registry::new();
    let cache = match &probe.cache {
        Some(cache) => cache.stats().await,
        None => Default::default(),
    };
    let counters = [
        (
            "quarry_executor_tasks_total",
            "Tasks finished since the executor started",
            probe.tasks.finished(),
        ),
        (
            "quarry_executor_reflection_cache_hits_total",
            "Reflection files read from executor memory",
            cache.hits,
        ),
        (
            "quarry_executor_reflection_cache_misses_total",
            "Reflection files read from storage into executor memory",
            cache.misses,
        ),
    ];
    for (name, help, value) in counters {
        if let Ok(counter) = IntCounter::new(name, help) {
            counter.inc_by(value);
            let _ = registry.register(Box::new(counter));
        }
    }
    let gauges = [
        (
            "quarry_executor_reflection_cache_bytes",
            "Memory the cached reflection data takes",
            usize::try_from(cache.bytes).unwrap_or(usize::MAX),
        ),
        (
            "quarry_executor_reflection_cache_files",
            "Reflection files (or byte ranges) in executor memory",
            usize::try_from(cache.files).unwrap_or(usize::MAX),
        ),
        (
            "quarry_executor_running_tasks",
            "Tasks running now",
            probe.running.load(Ordering::Acquire),
        ),
        (
            "quarry_executor_task_slots",
            "Tasks the executor runs at once",
            probe.executor.concurrent_tasks,
        ),
        (
            "quarry_executor_ready",
            "1 while registered with a scheduler and not draining",
            usize::from(probe.ready()),
        ),
    ];
    for (name, help, value) in gauges {
        if let Ok(gauge) = IntGauge::new(name, help) {
            gauge.set(value as i64);
            let _ = registry.register(Box::new(gauge));
        }
    }
    let mut text = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&registry.gather(), &mut text) {
        tracing::warn!("cannot encode metrics: {e}");
    }
    String::from_utf8_lossy(&text).into_owned()
}
