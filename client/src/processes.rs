//! `quarry scheduler` and `quarry executor`: the engine as separate processes. Each
//! reads its settings from flags, `QUARRY_*` variables and the configuration file
//! ([`crate::config`]), in that order, builds its own object stores (credentials never
//! travel between processes) and runs until SIGTERM or Ctrl-C. With etcd, schedulers
//! elect a leader and executors follow it ([`crate::membership`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use quarry_catalog::object_stores::{ObjectStores, S3Options};
use quarry_executor::http::DEFAULT_EXECUTOR_HTTP_PORT;
use quarry_executor::{ExecutorOptions, Schedulers, start_executor};
use quarry_postgres::DEFAULT_PG_PORT;
use quarry_scheduler::http::HttpPort;
use quarry_scheduler::{
    CatalogLocation, DEFAULT_BALLISTA_PORT, DEFAULT_FLIGHT_PORT, DEFAULT_HTTP_PORT,
    SchedulerOptions, start_scheduler,
};

use crate::cli::{DEFAULT_WAREHOUSE, ExecutorArgs, ProcessArgs, SchedulerArgs};
use crate::config::FileConfig;
use crate::membership;

type Error = Box<dyn std::error::Error>;

/// Default Arrow Flight port of an executor (Ballista's).
pub const DEFAULT_EXECUTOR_FLIGHT_PORT: u16 = 50051;
/// Default control port of an executor (Ballista's).
pub const DEFAULT_EXECUTOR_GRPC_PORT: u16 = 50052;
const DEFAULT_BIND: &str = "127.0.0.1";
/// Default seconds a stopping executor drains.
pub const DEFAULT_DRAIN_SECS: u64 = 30;

/// The runtime every query of this process shares, with its object stores and at most
/// `memory` bytes of memory.
fn runtime(s3: S3Options, scratch: PathBuf, memory: u64) -> Result<Arc<RuntimeEnv>, Error> {
    std::fs::create_dir_all(&scratch)
        .map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
    Ok(Arc::new(
        RuntimeEnvBuilder::new()
            .with_temp_file_path(scratch)
            .with_memory_pool(quarry_executor::memory::pool(memory))
            .with_object_store_registry(Arc::new(ObjectStores::new(s3)))
            .build()?,
    ))
}

/// A size: the flag's, else the file's `key` (parsed), else `default`.
fn size(flag: Option<u64>, file: Option<String>, key: &str, default: u64) -> Result<u64, Error> {
    match (flag, file) {
        (Some(bytes), _) => Ok(bytes),
        (None, Some(text)) => Ok(crate::cli::parse_size(&text).map_err(|e| format!("{key}: {e}"))?),
        (None, None) => Ok(default),
    }
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

/// Runs a scheduler until stopped. With the catalog in etcd it first joins the cluster
/// and campaigns to lead: a standby serves only its HTTP port (`/readyz` says
/// "standby") and opens the catalog and the client ports once elected. A leader whose
/// etcd lease ends stops, so that a standby takes over.
pub async fn scheduler(args: SchedulerArgs) -> Result<(), Error> {
    let stop = StopSignal::listen();
    let file = FileConfig::load(args.process.config.as_deref())?;
    let section = file.scheduler;
    let (bind, advertise) = addresses(&args.process, section.bind, section.advertise_host)?;
    let scratch = tempfile::Builder::new()
        .prefix("quarry-scheduler-")
        .tempdir()?;
    let s3 = args.process.s3.options_over(file.s3);
    let memory = size(
        args.process.memory_limit,
        section.memory_limit,
        "[scheduler] memory_limit",
        quarry_executor::memory::default_limit(),
    )?;
    let runtime = runtime(s3, scratch.path().join("spill"), memory)?;
    let pg_port = section.pg_port.unwrap_or(DEFAULT_PG_PORT);
    let options = SchedulerOptions {
        warehouse: args
            .warehouse
            .or(file.warehouse)
            .unwrap_or_else(|| DEFAULT_WAREHOUSE.into()),
        catalog: args.catalog.location(file.catalog),
        bind_host: bind,
        advertise_host: Some(advertise.clone()),
        flight_port: args
            .flight_port
            .or(section.flight_port)
            .unwrap_or(DEFAULT_FLIGHT_PORT),
        ballista_port: args
            .ballista_port
            .or(section.ballista_port)
            .unwrap_or(DEFAULT_BALLISTA_PORT),
        namespaces: SchedulerOptions::default_namespaces(),
        doors: crate::embedded::doors(args.pg.options(pg_port).as_ref()),
        single_stage_max_bytes: size(
            args.single_stage_max_bytes,
            section.single_stage_max_bytes,
            "[scheduler] single_stage_max_bytes",
            quarry_scheduler::settings::DEFAULT_SINGLE_STAGE_MAX_BYTES,
        )?,
        file_locations: match args.file_locations.is_empty() {
            true => section.file_locations.clone().unwrap_or_default(),
            false => args.file_locations.clone(),
        },
    };
    let http_port = args
        .http_port
        .or(section.http_port)
        .unwrap_or(DEFAULT_HTTP_PORT);
    let http = HttpPort::serve(&options.bind_host, http_port).await?;
    let member = match &options.catalog {
        CatalogLocation::Etcd { endpoints, prefix } => {
            let ballista = format!("{advertise}:{}", options.ballista_port);
            let info = serde_json::json!({
                "ballista": ballista,
                "flight": format!("{advertise}:{}", options.flight_port),
                "http": format!("{advertise}:{}", http.addr.port()),
            });
            let cluster = membership::connect(endpoints, prefix).await?;
            let member = cluster
                .join("schedulers", &ballista, &info.to_string())
                .await?;
            println!(
                "Quarry scheduler {ballista}: standby, HTTP on {}; waiting to lead.",
                http.addr
            );
            tokio::select! {
                elected = member.campaign(&ballista) => if let Err(e) = elected {
                    member.leave().await;
                    return Err(e.into());
                },
                () = stop.wait() => {
                    member.leave().await;
                    return Ok(());
                }
            }
            Some(member)
        }
        _ => None,
    };
    let mut handle = match start_scheduler(options, runtime, Some(&http)).await {
        Ok(handle) => handle,
        Err(e) => {
            if let Some(member) = member {
                member.leave().await;
            }
            return Err(e.into());
        }
    };
    let pg = match handle.door(quarry_postgres::NAME) {
        Some(addr) => format!(", PostgreSQL on {addr}"),
        None => String::new(),
    };
    println!(
        "Quarry scheduler: Flight SQL on {}{pg}, HTTP on {}, executors register on {} (warehouse {}).",
        handle.flight_addr, http.addr, handle.ballista.addr, handle.warehouse
    );
    let lost = async {
        match &member {
            Some(member) => member.lost().await,
            None => std::future::pending().await,
        }
    };
    let outcome = tokio::select! {
        () = stop.wait() => Ok(()),
        () = lost => Err("this scheduler's etcd lease ended, so it no longer leads: stopping".into()),
    };
    eprintln!("Stopping.");
    http.stopping();
    handle.shutdown();
    if let Some(member) = member {
        member.leave().await;
    }
    outcome
}

/// Runs an executor until stopped: registers with the scheduler that leads (from
/// `--scheduler`, else the leader elected in etcd), follows it when another takes
/// over, and drains on SIGTERM.
pub async fn executor(args: ExecutorArgs) -> Result<(), Error> {
    let stop = StopSignal::listen();
    let file = FileConfig::load(args.process.config.as_deref())?;
    let section = file.executor;
    let (bind, advertise) = addresses(&args.process, section.bind, section.advertise_host)?;
    let etcd = args.etcd.over(&file.catalog);
    let cluster = match &etcd {
        Some((endpoints, prefix)) => Some(membership::connect(endpoints, prefix).await?),
        None => None,
    };
    let schedulers = match (args.schedulers, &cluster) {
        (list, _) if !list.is_empty() => Schedulers::Addresses(list),
        (_, Some(cluster)) => {
            let cluster = cluster.clone();
            Schedulers::Leader(Arc::new(move || {
                let cluster = cluster.clone();
                Box::pin(async move { cluster.leader().await.ok().flatten() })
            }))
        }
        (_, None) if !section.schedulers.is_empty() => Schedulers::Addresses(section.schedulers),
        (_, None) => {
            return Err(
                "no scheduler to register with: give --scheduler HOST:PORT, or \
                        --etcd URL to follow the elected one"
                    .into(),
            );
        }
    };
    let scratch = tempfile::Builder::new()
        .prefix("quarry-executor-")
        .tempdir()?;
    let work_dir = args
        .work_dir
        .or(section.work_dir)
        .unwrap_or_else(|| scratch.path().join("work"));
    let memory = size(
        args.process.memory_limit,
        section.memory_limit,
        "[executor] memory_limit",
        quarry_executor::memory::default_limit(),
    )?;
    let runtime = runtime(
        args.process.s3.options_over(file.s3),
        work_dir.join("spill"),
        memory,
    )?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let http_port = args
        .http_port
        .or(section.http_port)
        .unwrap_or(DEFAULT_EXECUTOR_HTTP_PORT);
    let grace = Duration::from_secs(
        args.drain_timeout
            .or(section.drain_timeout)
            .unwrap_or(DEFAULT_DRAIN_SECS),
    );
    let options = ExecutorOptions {
        schedulers,
        register_within: None,
        bind_host: bind.clone(),
        advertise_host: advertise.clone(),
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
        physical_codec: quarry_catalog::codec::physical_codec(),
        reflection_cache: size(
            args.reflection_cache,
            section.reflection_cache,
            "[executor] reflection_cache",
            quarry_executor::cache::DEFAULT_BUDGET,
        )?,
    };
    let slots = options.task_slots;
    let mut handle = start_executor(options, runtime).await?;
    // Served while the executor waits for a leader, so that it counts as alive.
    let http = quarry_executor::http::serve(&handle, &bind, http_port).await?;
    tokio::select! {
        () = handle.registered() => {}
        () = stop.wait() => {
            handle.shutdown();
            return Ok(());
        }
    }
    let info = serde_json::json!({
        "flight": format!("{advertise}:{}", handle.flight_addr.port()),
        "http": format!("{advertise}:{}", http.port()),
        "slots": slots,
    })
    .to_string();
    let join = async |cluster: &membership::Cluster| {
        // Until etcd answers: the executor serves whether or not it is listed.
        loop {
            match cluster.join("executors", &handle.id, &info).await {
                Ok(member) => return member,
                Err(e) => tracing::warn!("cannot join the cluster in etcd: {e}"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    };
    let mut member = match &cluster {
        Some(cluster) => Some(join(cluster).await),
        None => None,
    };
    println!(
        "Quarry executor {}: registered with {}, Flight on {}, HTTP on {http}.",
        handle.id,
        handle.scheduler().unwrap_or_default(),
        handle.flight_addr
    );
    // A lease lost while etcd was out of reach: join again, so that etcd lists it.
    while let (Some(cluster), Some(current)) = (&cluster, &member) {
        tokio::select! {
            () = current.lost() => member = Some(join(cluster).await),
            () = stop.wait() => break,
        }
    }
    stop.wait().await;
    eprintln!("Draining (up to {}s).", grace.as_secs());
    let drained = handle.drain(grace).await;
    if let Some(member) = member {
        member.leave().await;
    }
    match drained {
        true => eprintln!("Drained; stopped."),
        false => eprintln!(
            "Stopped after {}s with work still running.",
            grace.as_secs()
        ),
    }
    Ok(())
}

/// Ctrl-C or SIGTERM, listened for from the moment it is made, so that a signal that
/// arrives while the process starts is not lost.
#[derive(Clone)]
pub struct StopSignal(tokio::sync::watch::Receiver<bool>);

impl StopSignal {
    /// Starts listening.
    pub fn listen() -> Self {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            wait_for_stop_signal().await;
            let _ = stop.send(true);
            stop.closed().await;
        });
        Self(stopped)
    }

    /// Resolves once a signal has come.
    pub async fn wait(&self) {
        let mut stopped = self.0.clone();
        let _ = stopped.wait_for(|stopped| *stopped).await;
    }
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
