//! Starting the scheduler: the Ballista scheduler, the query service, the Flight SQL
//! front door and the other front doors it is given (the PostgreSQL door), each on its
//! own port (port 0 picks a free one).

use std::net::SocketAddr;
use std::path::PathBuf;

use datafusion::execution::object_store::ObjectStoreRegistry;
use std::sync::Arc;

use arrow_flight::flight_service_server::FlightServiceServer;
use datafusion::execution::runtime_env::RuntimeEnv;
use quarry_catalog::Warehouse;
use quarry_catalog::store::{DEFAULT_NAMESPACES, TableStore};
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

use crate::ballista::{BallistaScheduler, MAX_MESSAGE_SIZE, start_ballista};
use crate::door::FrontDoor;
use crate::error::QuarryError;
use crate::flight_sql::QuarryFlightSql;
use crate::http::HttpPort;
use crate::lake::Lake;
use crate::metrics::Metrics;
use crate::service::QueryService;
use crate::session::DEFAULT_SCHEMA;

/// Default Arrow Flight SQL port.
pub const DEFAULT_FLIGHT_PORT: u16 = 32010;
/// Default Ballista scheduler gRPC port.
pub const DEFAULT_BALLISTA_PORT: u16 = 50050;
/// Default HTTP port (health, readiness, metrics).
pub const DEFAULT_HTTP_PORT: u16 = 9047;

/// How to start a scheduler.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// The warehouse: a directory or `s3://bucket/prefix`.
    pub warehouse: String,
    /// Where the table catalog lives.
    pub catalog: CatalogLocation,
    /// Interface to bind.
    pub bind_host: String,
    /// The host executors reach the scheduler by (default: the bound address).
    pub advertise_host: Option<String>,
    /// Flight SQL port (0: any free port).
    pub flight_port: u16,
    /// Ballista scheduler port executors register with (0: any free port).
    pub ballista_port: u16,
    /// Namespaces created at startup if missing (besides `public`).
    pub namespaces: Vec<String>,
    /// The front doors to open beside Flight SQL (the PostgreSQL door).
    pub doors: Vec<Arc<dyn FrontDoor>>,
    /// The most bytes a query may read to run whole on one executor, without a
    /// distributed job (the sessions' default `quarry.single_stage_max_bytes`).
    pub single_stage_max_bytes: u64,
    /// Where SQL may name files (paths relative to the warehouse, absolute paths or
    /// URLs); empty: the warehouse's `landing/`.
    pub file_locations: Vec<String>,
}

impl SchedulerOptions {
    /// The namespaces of the medallion layers: bronze, silver, gold.
    pub fn default_namespaces() -> Vec<String> {
        DEFAULT_NAMESPACES.iter().map(|s| s.to_string()).collect()
    }
}

/// A running scheduler.
pub struct SchedulerHandle {
    /// Where Flight SQL clients connect.
    pub flight_addr: SocketAddr,
    /// The other front doors, by name, and where their clients connect.
    pub doors: Vec<(&'static str, SocketAddr)>,
    /// Where executors register.
    pub ballista: BallistaScheduler,
    /// The query service, for in-process callers.
    pub service: Arc<QueryService>,
    /// The warehouse.
    pub warehouse: Warehouse,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// Dropped or set, it stops the other front doors.
    doors_stop: tokio::sync::watch::Sender<bool>,
}

impl SchedulerHandle {
    /// Where the clients of the front door named `name` connect, if it is open.
    pub fn door(&self, name: &str) -> Option<SocketAddr> {
        self.doors
            .iter()
            .find(|(door, _)| *door == name)
            .map(|(_, addr)| *addr)
    }

    /// Stops accepting Flight SQL connections and closes the other front doors.
    pub fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = self.doors_stop.send(true);
    }
}

/// Where the table catalog lives.
#[derive(Debug, Clone, Default)]
pub enum CatalogLocation {
    /// SQLite in `catalog.db` of a local warehouse.
    #[default]
    InWarehouse,
    /// SQLite in this file.
    Sqlite(PathBuf),
    /// etcd at these endpoints, under this key prefix (feature `etcd`).
    Etcd {
        endpoints: Vec<String>,
        prefix: String,
    },
}

async fn open_catalog(
    location: &CatalogLocation,
    warehouse: &Warehouse,
    stores: Arc<dyn ObjectStoreRegistry>,
    namespaces: &[String],
) -> Result<TableStore, String> {
    let db = match (location, warehouse.local_root()) {
        (CatalogLocation::Sqlite(db), _) => db.clone(),
        (CatalogLocation::InWarehouse, Some(root)) => root.join("catalog.db"),
        (CatalogLocation::InWarehouse, None) => {
            return Err(format!(
                "the warehouse {warehouse} is in object storage: say where the catalog \
                 lives, with --catalog-db PATH or --etcd URL"
            ));
        }
        #[cfg(feature = "etcd")]
        (CatalogLocation::Etcd { endpoints, prefix }, _) => {
            return TableStore::open_etcd(endpoints, prefix, warehouse, stores, namespaces)
                .await
                .map_err(|e| e.to_string());
        }
        #[cfg(not(feature = "etcd"))]
        (CatalogLocation::Etcd { .. }, _) => {
            return Err("this quarry was built without etcd: build it with --features etcd".into());
        }
    };
    TableStore::open_sqlite(&db, warehouse, stores, namespaces)
        .await
        .map_err(|e| e.to_string())
}

/// Starts the Ballista scheduler, the query service, the Flight SQL server and the
/// other front doors in `options.doors`; `http`, the process's HTTP port, reports it ready
/// once every door is open.
pub async fn start_scheduler(
    options: SchedulerOptions,
    runtime: Arc<RuntimeEnv>,
    http: Option<&HttpPort>,
) -> Result<SchedulerHandle, QuarryError> {
    let mut warehouse = Warehouse::open(&options.warehouse).map_err(|e| {
        QuarryError::startup(format!(
            "cannot open the warehouse {}: {e}",
            options.warehouse
        ))
    })?;
    if !options.file_locations.is_empty() {
        warehouse = warehouse
            .with_file_locations(options.file_locations.clone())
            .map_err(QuarryError::startup)?;
    }
    let mut namespaces = options.namespaces.clone();
    namespaces.push(DEFAULT_SCHEMA.to_string());
    let stores = Arc::clone(&runtime.object_store_registry);
    let store = open_catalog(&options.catalog, &warehouse, stores, &namespaces)
        .await
        .map_err(|e| QuarryError::startup(format!("cannot open the table catalog: {e}")))?;
    let ballista = start_ballista(
        &options.bind_host,
        options.ballista_port,
        options.advertise_host.as_deref(),
    )
    .await?;
    let metrics = match http {
        Some(http) => http.metrics(),
        None => Arc::new(Metrics::new()?),
    };
    let service = Arc::new(QueryService::new(
        Lake::open(warehouse.clone(), store, runtime)
            .with_single_stage_max_bytes(options.single_stage_max_bytes),
        ballista.clone(),
        metrics,
    ));

    let listener = TcpListener::bind((options.bind_host.as_str(), options.flight_port))
        .await
        .map_err(|e| {
            QuarryError::startup(format!(
                "cannot bind the Flight SQL port {}:{}: {e}",
                options.bind_host, options.flight_port
            ))
        })?;
    let flight_addr = listener
        .local_addr()
        .map_err(|e| QuarryError::startup(e.to_string()))?;
    let flight = FlightServiceServer::new(QuarryFlightSql::new(Arc::clone(&service)))
        .max_decoding_message_size(MAX_MESSAGE_SIZE as usize)
        .max_encoding_message_size(MAX_MESSAGE_SIZE as usize);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(flight)
            .serve_with_incoming_shutdown(
                TcpIncoming::from(listener).with_nodelay(Some(true)),
                async {
                    let _ = stopped.await;
                },
            ),
    );
    let (doors_stop, doors_stopped) = tokio::sync::watch::channel(false);
    let mut doors = Vec::with_capacity(options.doors.len());
    for door in &options.doors {
        let addr = door
            .open(
                Arc::clone(&service),
                &options.bind_host,
                doors_stopped.clone(),
            )
            .await?;
        doors.push((door.name(), addr));
    }
    // Ready from here on: every door is open.
    if let Some(http) = http {
        http.serving(&ballista);
    }
    tracing::info!(%flight_addr, ?doors, ballista = %ballista.addr, %warehouse, "scheduler started");
    Ok(SchedulerHandle {
        flight_addr,
        doors,
        ballista,
        service,
        warehouse,
        stop: Some(stop),
        doors_stop,
    })
}
