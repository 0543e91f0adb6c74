//! The PostgreSQL front door: psql, pgJDBC, psqlODBC, psycopg and the BI tools built on
//! them talk to Quarry over the PostgreSQL wire protocol (crate `pgwire`), on the query
//! service every front door shares. The scheduler opens it as a
//! [`quarry_scheduler::door::FrontDoor`]: [`PgOptions`] is the door as configured. It
//! uses the scheduler's public API alone: the query service, parsed statements and the
//! planner hooks a session is made with ([`quarry_scheduler::session::SessionExtensions`]).
//!
//! - [`startup`]: logging in (trust, password, MD5, SCRAM-SHA-256) and the settings
//!   announced to the client.
//! - [`handler`]: the simple and extended query protocols: each statement parsed once
//!   by the query service, its syntax tree changed here, then described and run;
//!   [`tags`]: command tags from the parsed statement.
//! - [`commands`]: statements about the connection (`BEGIN`, `SET`, `SHOW`, ...).
//! - [`settings`]: a connection's PostgreSQL settings.
//! - [`functions`]: `version()`, `current_schema()`, `session_user`, ...
//! - [`pg_catalog`], [`catalog_functions`]: the system catalogs and functions drivers
//!   and tools read for metadata.
//! - [`rewrite`]: PostgreSQL spellings in their queries, rewritten for DataFusion;
//!   [`column_names`]: PostgreSQL's names for unnamed result columns;
//!   [`information_schema`]: `information_schema.columns` with PostgreSQL's types;
//!   [`operators`]: `OPERATOR(pg_catalog.~)`; [`type_names`]: `::oid`, `::name`;
//!   [`order_by`]: sorting by subqueries; [`ast`]: the parts these rewrites put in.
//! - [`types`], [`encode`], [`decode`]: Arrow and PostgreSQL types, result rows and
//!   parameter values on the wire.
//! - [`connection`]: a connection's state, found by cancel requests.
//! - [`error`]: errors with the SQLSTATE PostgreSQL would send.

pub mod ast;
pub mod catalog_functions;
pub mod column_names;
pub mod commands;
pub mod connection;
pub mod decode;
pub mod encode;
pub mod error;
pub mod functions;
pub mod handler;
pub mod information_schema;
pub mod operators;
pub mod order_by;
pub mod pg_catalog;
pub mod rewrite;
pub mod settings;
pub mod startup;
pub mod tags;
pub mod type_names;
pub mod types;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use pgwire::api::PgWireServerHandlers;
use pgwire::api::cancel::CancelHandler;
use pgwire::messages::cancel::CancelRequest;
use pgwire::tokio::TlsAcceptor;
use pgwire::tokio::tokio_rustls::rustls;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;

use connection::Connections;
use handler::Statements;
use quarry_scheduler::door::FrontDoor;
use quarry_scheduler::error::QuarryError;
use quarry_scheduler::service::QueryService;
pub use startup::AuthMethod;
use startup::Startup;

/// Default PostgreSQL port.
pub const DEFAULT_PG_PORT: u16 = 15432;

/// The door's name, as in [`quarry_scheduler::server::SchedulerHandle::door`].
pub const NAME: &str = "postgresql";

/// How the PostgreSQL door listens and logs clients in: the door itself, opened by the
/// scheduler.
#[derive(Debug, Clone, Default)]
pub struct PgOptions {
    /// Port (0: any free port).
    pub port: u16,
    pub auth: AuthMethod,
    /// The password every user logs in with, for the password methods.
    pub password: Option<String>,
    /// TLS certificate chain and private key (PEM); without them TLS is refused.
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// The handlers pgwire calls for each connection.
struct Door {
    startup: Arc<Startup>,
    statements: Arc<Statements>,
    cancel: Arc<Cancel>,
}

impl PgWireServerHandlers for Door {
    fn simple_query_handler(&self) -> Arc<impl pgwire::api::query::SimpleQueryHandler> {
        Arc::clone(&self.statements)
    }

    fn extended_query_handler(&self) -> Arc<impl pgwire::api::query::ExtendedQueryHandler> {
        Arc::clone(&self.statements)
    }

    fn startup_handler(&self) -> Arc<impl pgwire::api::auth::StartupHandler> {
        Arc::clone(&self.startup)
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        Arc::clone(&self.cancel)
    }
}

/// Stops the query of the connection a cancel request names.
struct Cancel {
    service: Arc<QueryService>,
    connections: Arc<Connections>,
}

#[async_trait]
impl CancelHandler for Cancel {
    async fn on_cancel_request(&self, request: CancelRequest) {
        let Some(connection) = self.connections.find(request.pid, &request.secret_key) else {
            return;
        };
        if let Some(id) = connection.running() {
            tracing::info!(query_id = %id, "PostgreSQL cancel request");
            if let Err(e) = self.service.cancel(&id).await {
                tracing::warn!(query_id = %id, "cancel failed: {e}");
            }
        }
    }
}

#[async_trait]
impl FrontDoor for PgOptions {
    fn name(&self) -> &'static str {
        NAME
    }

    /// Binds the PostgreSQL port on `host` and serves clients until `stop` fires.
    async fn open(
        &self,
        service: Arc<QueryService>,
        host: &str,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> Result<SocketAddr, QuarryError> {
        serve(service, host, self, stop).await
    }
}

async fn serve(
    service: Arc<QueryService>,
    host: &str,
    options: &PgOptions,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<SocketAddr, QuarryError> {
    let startup_error = |what: String| QuarryError::startup(what);
    let tls = match &options.tls {
        Some((cert, key)) => Some(tls_acceptor(cert, key).map_err(startup_error)?),
        None => None,
    };
    let connections = Arc::new(Connections::default());
    let startup = Startup::new(
        Arc::clone(&service),
        Arc::clone(&connections),
        options.auth,
        options.password.clone(),
    )
    .map_err(startup_error)?;
    let door = Arc::new(Door {
        startup: Arc::new(startup),
        statements: Arc::new(Statements::new(Arc::clone(&service))),
        cancel: Arc::new(Cancel {
            service,
            connections,
        }),
    });
    let listener = TcpListener::bind((host, options.port)).await.map_err(|e| {
        startup_error(format!(
            "cannot bind the PostgreSQL port {host}:{}: {e}",
            options.port
        ))
    })?;
    let addr = listener
        .local_addr()
        .map_err(|e| startup_error(e.to_string()))?;
    tokio::spawn(accept(listener, door, tls, stop));
    Ok(addr)
}

async fn accept(
    listener: TcpListener,
    door: Arc<Door>,
    tls: Option<TlsAcceptor>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let socket = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => return,
        };
        match socket {
            Ok((socket, _)) => {
                let (door, tls) = (Arc::clone(&door), tls.clone());
                tokio::spawn(async move {
                    if let Err(e) = pgwire::tokio::process_socket(socket, tls, door).await {
                        tracing::debug!("PostgreSQL connection ended: {e}");
                    }
                });
            }
            Err(e) => tracing::warn!("cannot accept a PostgreSQL connection: {e}"),
        }
    }
}

/// TLS with the certificate chain and key in PEM files `cert` and `key`.
fn tls_acceptor(cert: &PathBuf, key: &PathBuf) -> Result<TlsAcceptor, String> {
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read the TLS certificate {}: {e}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read the TLS key {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|e| format!("bad TLS certificate or key: {e}"))?;
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
