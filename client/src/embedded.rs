//! The embedded cluster: a scheduler and N executors in one process. Executors register
//! with the scheduler over loopback gRPC and receive tasks exactly as separate processes
//! would; they share one DataFusion runtime. Their scratch space (shuffle files, spills)
//! is a temporary directory removed when the cluster is dropped.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion_proto::physical_plan::PhysicalExtensionCodec;
use quarry_catalog::object_stores::{ObjectStores, S3Options};
use quarry_executor::{ExecutorHandle, ExecutorOptions, Schedulers, start_executor};
use quarry_postgres::PgOptions;
use quarry_scheduler::door::FrontDoor;
use quarry_scheduler::{CatalogLocation, SchedulerHandle, SchedulerOptions, start_scheduler};

/// How to start an embedded cluster.
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// A directory or `s3://bucket/prefix`.
    pub warehouse: String,
    /// How to reach S3 for an `s3://` warehouse or `s3://` paths in SQL.
    pub s3: S3Options,
    /// Where the table catalog lives (default: `catalog.db` in a local warehouse).
    pub catalog: CatalogLocation,
    pub executors: usize,
    /// Task slots per executor (0: the machine's cores shared among the executors).
    pub slots: usize,
    pub bind_host: String,
    /// Flight SQL port (0: any free port).
    pub flight_port: u16,
    /// The PostgreSQL front door, if it is to be served.
    pub postgres: Option<PgOptions>,
    /// How the executors decode the plans of their tasks (Quarry's codec; tests give
    /// them one that refuses a node, to see the query fail and the cluster go on).
    pub executor_codec: Arc<dyn PhysicalExtensionCodec>,
    /// Bytes of reflection data each executor keeps in memory (0: none).
    pub reflection_cache: u64,
    /// The most bytes a query may read to run as a single stage on one executor.
    pub single_stage_max_bytes: u64,
    /// The memory the cluster's queries may use (one pool for the process).
    pub memory_limit: u64,
    /// Where SQL may name files; empty: the warehouse's `landing/`.
    pub file_locations: Vec<String>,
}

impl EmbeddedOptions {
    /// Options for a cluster on loopback with free ports.
    pub fn local(warehouse: impl AsRef<Path>, executors: usize) -> Self {
        Self {
            warehouse: warehouse.as_ref().to_string_lossy().into_owned(),
            s3: S3Options::default(),
            catalog: CatalogLocation::InWarehouse,
            executors,
            slots: 0,
            bind_host: "127.0.0.1".into(),
            flight_port: 0,
            postgres: None,
            executor_codec: quarry_catalog::codec::physical_codec(),
            reflection_cache: quarry_executor::cache::DEFAULT_BUDGET,
            single_stage_max_bytes: quarry_scheduler::settings::DEFAULT_SINGLE_STAGE_MAX_BYTES,
            memory_limit: quarry_executor::memory::default_limit(),
            file_locations: Vec::new(),
        }
    }

    /// Task slots each executor gets: `slots`, or the machine's cores shared among the
    /// executors when `slots` is 0.
    pub fn slots_per_executor(&self) -> usize {
        match self.slots {
            0 => {
                let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
                cores.div_ceil(self.executors.max(1))
            }
            n => n,
        }
    }
}

/// A running embedded cluster. Stops when dropped.
pub struct EmbeddedCluster {
    pub scheduler: SchedulerHandle,
    pub executors: Vec<ExecutorHandle>,
    _scratch: tempfile::TempDir,
}

/// Why the embedded cluster did not start.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error(transparent)]
    Scheduler(#[from] quarry_scheduler::QuarryError),
    #[error(transparent)]
    Executor(#[from] quarry_executor::process::ExecutorError),
    #[error("cannot create scratch space: {0}")]
    Scratch(std::io::Error),
    #[error("cannot create the runtime: {0}")]
    Runtime(String),
    #[error("executors did not register with the scheduler within {0:?}")]
    Registration(Duration),
}

/// How long an embedded executor may take to register.
const REGISTRATION_TIMEOUT: Duration = Duration::from_secs(10);

impl EmbeddedCluster {
    /// Starts the scheduler, then the executors, and waits until all have registered.
    pub async fn start(options: EmbeddedOptions) -> Result<Self, EmbeddedError> {
        let scratch = tempfile::Builder::new()
            .prefix("quarry-")
            .tempdir()
            .map_err(EmbeddedError::Scratch)?;
        let runtime = Arc::new(
            RuntimeEnvBuilder::new()
                .with_temp_file_path(scratch.path().join("spill"))
                .with_memory_pool(quarry_executor::memory::pool(options.memory_limit))
                .with_object_store_registry(Arc::new(ObjectStores::new(options.s3.clone())))
                .build()
                .map_err(|e| EmbeddedError::Runtime(e.to_string()))?,
        );
        let scheduler = start_scheduler(
            SchedulerOptions {
                warehouse: options.warehouse.clone(),
                catalog: options.catalog.clone(),
                bind_host: options.bind_host.clone(),
                advertise_host: None,
                flight_port: options.flight_port,
                ballista_port: 0,
                namespaces: SchedulerOptions::default_namespaces(),
                doors: doors(options.postgres.as_ref()),
                single_stage_max_bytes: options.single_stage_max_bytes,
                file_locations: options.file_locations.clone(),
            },
            Arc::clone(&runtime),
            None,
        )
        .await?;
        let executors_n = options.executors.max(1);
        let slots = options.slots_per_executor();
        let mut executors = Vec::with_capacity(executors_n);
        for i in 0..executors_n {
            let executor = start_executor(
                ExecutorOptions {
                    schedulers: Schedulers::Addresses(vec![scheduler.ballista.addr.to_string()]),
                    register_within: Some(REGISTRATION_TIMEOUT),
                    bind_host: options.bind_host.clone(),
                    advertise_host: advertise_host(&options.bind_host),
                    flight_port: 0,
                    grpc_port: 0,
                    task_slots: slots,
                    work_dir: scratch.path().join(format!("executor-{i}")),
                    physical_codec: Arc::clone(&options.executor_codec),
                    reflection_cache: options.reflection_cache,
                },
                Arc::clone(&runtime),
            )
            .await?;
            executors.push(executor);
        }
        let cluster = Self {
            scheduler,
            executors,
            _scratch: scratch,
        };
        cluster.wait_for_registration(slots * executors_n).await?;
        Ok(cluster)
    }

    async fn wait_for_registration(&self, slots: usize) -> Result<(), EmbeddedError> {
        let limit = Duration::from_secs(10);
        let started = std::time::Instant::now();
        while self.scheduler.ballista.total_task_slots().await < slots {
            if started.elapsed() > limit {
                return Err(EmbeddedError::Registration(limit));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }

    /// `http://host:port` of the Flight SQL endpoint.
    pub fn flight_url(&self) -> String {
        format!("http://{}", self.scheduler.flight_addr)
    }
}

impl Drop for EmbeddedCluster {
    fn drop(&mut self) {
        for executor in &mut self.executors {
            executor.shutdown();
        }
        self.scheduler.shutdown();
    }
}

/// The host the in-process executors give the scheduler to reach them: loopback when
/// the cluster listens on every interface.
fn advertise_host(bind_host: &str) -> String {
    match bind_host {
        "0.0.0.0" => "127.0.0.1".into(),
        "::" | "[::]" => "::1".into(),
        host => host.into(),
    }
}

/// The front doors a scheduler opens beside Flight SQL: the PostgreSQL door, when
/// configured.
pub fn doors(postgres: Option<&PgOptions>) -> Vec<Arc<dyn FrontDoor>> {
    postgres
        .map(|pg| Arc::new(pg.clone()) as Arc<dyn FrontDoor>)
        .into_iter()
        .collect()
}
