//! `quarry scheduler` and `quarry executor`: the engine as separate processes. Each
//! reads its settings from flags, `QUARRY_*` variables and the configuration file
//! ([`crate::config`]), in that order, builds its own object stores (credentials never
//! travel between processes) and runs until SIGTERM or Ctrl-C.

use std::path::PathBuf;
use std::sync::Arc;

use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use quarry_catalog::object_stores::{ObjectStores, S3Options};
use quarry_executor::{ExecutorOptions, start_executor};
use quarry_scheduler::postgres::DEFAULT_PG_PORT;
use quarry_scheduler::{
    DEFAULT_BALLISTA_PORT, DEFAULT_FLIGHT_PORT, DEFAULT_HTTP_PORT, SchedulerOptions,
    start_scheduler,
};

use crate::cli::{DEFAULT_WAREHOUSE, ExecutorArgs, ProcessArgs, SchedulerArgs};
use crate::config::FileConfig;

type Error = Box<dyn std::error::Error>;

/// Default Arrow Flight port of an executor (Ballista's).
pub const DEFAULT_EXECUTOR_FLIGHT_PORT: u16 = 50051;
/// Default control port of an executor (Ballista's).
pub const DEFAULT_EXECUTOR_GRPC_PORT: u16 = 50052;
const DEFAULT_BIND: &str = "127.0.0.1";

/// The runtime every query of this process shares, with its object stores.
fn runtime(s3: S3Options, scratch: PathBuf) -> Result<Arc<RuntimeEnv>, Error> {
    std::fs::create_dir_all(&scratch)
        .map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
    Ok(Arc::new(
        RuntimeEnvBuilder::new()
            .with_temp_file_path(scratch)
            .with_object_store_registry(Arc::new(ObjectStores::new(s3)))
            .build()?,
    ))
}

/// Where a process listens and the name others reach it by: the flags and variables
/// in `args`, else the file's `bind` and `advertise` of its section.
fn addresses(
    args: &ProcessArgs,
    bind: Option<String>,
    advertise: Option<String>,
) -> Result<(String, String), Error> {
    let bind = args
        .bind
        .clone()
        .or(bind)
        .unwrap_or_else(|| DEFAULT_BIND.into());
    // By the bound address, unless that is every interface's.
    let advertise = match args.advertise_host.clone().or(advertise) {
        Some(host) => host,
        None if matches!(bind.as_str(), "0.0.0.0" | "::" | "[::]") => {
            return Err(format!(
                "listening on {bind} needs --advertise-host (or QUARRY_ADVERTISE_HOST): \
                 the name other processes reach this one by"
            )
            .into());
        }
        None => bind.clone(),
    };
    Ok((bind, advertise))
}

/// Runs a scheduler until stopped.
pub async fn scheduler(args: SchedulerArgs) -> Result<(), Error> {
    let file = FileConfig::load(args.process.config.as_deref())?;
    let section = file.scheduler;
    let (bind, advertise) = addresses(&args.process, section.bind, section.advertise_host)?;
    let scratch = tempfile::Builder::new()
        .prefix("quarry-scheduler-")
        .tempdir()?;
    let s3 = args.process.s3.options_over(file.s3);
    let runtime = runtime(s3, scratch.path().join("spill"))?;
    let pg_port = section.pg_port.unwrap_or(DEFAULT_PG_PORT);
    let options = SchedulerOptions {
        warehouse: args
            .warehouse
            .or(file.warehouse)
            .unwrap_or_else(|| DEFAULT_WAREHOUSE.into()),
        catalog: args.catalog.location(file.catalog),
        bind_host: bind,
        advertise_host: Some(advertise),
        flight_port: args
            .flight_port
            .or(section.flight_port)
            .unwrap_or(DEFAULT_FLIGHT_PORT),
        ballista_port: args
            .ballista_port
            .or(section.ballista_port)
            .unwrap_or(DEFAULT_BALLISTA_PORT),
        namespaces: SchedulerOptions::default_namespaces(),
        postgres: args.pg.options(pg_port),
        http_port: Some(
            args.http_port
                .or(section.http_port)
                .unwrap_or(DEFAULT_HTTP_PORT),
        ),
    };
    let mut handle = start_scheduler(options, runtime).await?;
    let pg = match handle.pg_addr {
        Some(addr) => format!(", PostgreSQL on {addr}"),
        None => String::new(),
    };
    let http = match handle.http_addr {
        Some(addr) => format!(", HTTP on {addr}"),
        None => String::new(),
    };
    println!(
        "Quarry scheduler: Flight SQL on {}{pg}{http}, executors register on {} (warehouse {}).",
        handle.flight_addr, handle.ballista.addr, handle.warehouse
    );
    wait_for_stop_signal().await;
    eprintln!("Stopping.");
    handle.shutdown();
    Ok(())
}

/// Runs an executor until stopped.
pub async fn executor(args: ExecutorArgs) -> Result<(), Error> {
    let file = FileConfig::load(args.process.config.as_deref())?;
    let section = file.executor;
    let (bind, advertise) = addresses(&args.process, section.bind, section.advertise_host)?;
    let scheduler = args
        .scheduler
        .or_else(|| section.schedulers.first().cloned())
        .ok_or("no scheduler to register with: give --scheduler HOST:PORT")?;
    let scratch = tempfile::Builder::new()
        .prefix("quarry-executor-")
        .tempdir()?;
    let work_dir = args
        .work_dir
        .or(section.work_dir)
        .unwrap_or_else(|| scratch.path().join("work"));
    let runtime = runtime(
        args.process.s3.options_over(file.s3),
        work_dir.join("spill"),
    )?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let options = ExecutorOptions {
        scheduler,
        bind_host: bind,
        advertise_host: advertise,
        flight_port: args
            .flight_port
            .or(section.flight_port)
            .unwrap_or(DEFAULT_EXECUTOR_FLIGHT_PORT),
        grpc_port: args
            .grpc_port
            .or(section.grpc_port)
            .unwrap_or(DEFAULT_EXECUTOR_GRPC_PORT),
        task_slots: args.slots.or(section.slots).unwrap_or(cores).max(1),
        work_dir,
    };
    let scheduler = options.scheduler.clone();
    let mut handle = start_executor(options, runtime).await?;
    println!(
        "Quarry executor {}: registered with {scheduler}, Flight on {}.",
        handle.id, handle.flight_addr
    );
    wait_for_stop_signal().await;
    eprintln!("Stopping.");
    handle.shutdown();
    Ok(())
}

/// Waits for Ctrl-C or SIGTERM.
pub async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
