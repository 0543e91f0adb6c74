//! A PostgreSQL client connection's state, and the registry that finds a connection by
//! the process id and secret key a cancel request carries.
//!
//! The state lives in pgwire's per-connection extensions, so it goes when the connection
//! does; the registry entry goes with it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use datafusion::prelude::SessionContext;
use pgwire::api::ClientInfo;
use pgwire::error::PgWireResult;
use pgwire::messages::startup::SecretKey;

use super::error::user_error;
use super::settings::Settings;

/// What Quarry keeps for one connection.
pub struct PgConnection {
    /// The session statements are planned in.
    pub session: Arc<SessionContext>,
    /// Who logged in.
    pub user: String,
    /// PostgreSQL settings (`SET`, `SHOW`).
    pub settings: Arc<Settings>,
    /// The query running (or last run) on the connection, for cancel requests.
    running: Mutex<Option<String>>,
}

impl PgConnection {
    pub fn new(session: Arc<SessionContext>, user: String, settings: Arc<Settings>) -> Self {
        Self {
            session,
            user,
            settings,
            running: Mutex::new(None),
        }
    }

    /// The connection of `client`, once it has logged in.
    pub fn of(client: &(impl ClientInfo + ?Sized)) -> PgWireResult<Arc<Self>> {
        client
            .session_extensions()
            .get::<Arc<PgConnection>>()
            .map(|connection| Arc::clone(connection.as_ref()))
            .ok_or_else(|| user_error("08003", "the connection has not logged in"))
    }

    /// Remembers `id` as the query a cancel request stops.
    pub fn started(&self, id: &str) {
        *self.running.lock().unwrap_or_else(|p| p.into_inner()) = Some(id.to_string());
    }

    /// The query a cancel request stops.
    pub fn running(&self) -> Option<String> {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

type Key = (i32, Bytes);

/// Open connections by process id and secret key.
#[derive(Default)]
pub struct Connections {
    open: Mutex<HashMap<Key, Weak<PgConnection>>>,
}

impl Connections {
    /// Registers `connection` under the key its client was given; the registration ends
    /// when the returned guard is dropped.
    pub fn register(
        self: &Arc<Self>,
        pid: i32,
        secret: &SecretKey,
        connection: &Arc<PgConnection>,
    ) -> Registration {
        let key = (pid, secret.to_bytes());
        self.lock().insert(key.clone(), Arc::downgrade(connection));
        Registration {
            connections: Arc::clone(self),
            key,
        }
    }

    /// The connection with this process id and secret key.
    pub fn find(&self, pid: i32, secret: &SecretKey) -> Option<Arc<PgConnection>> {
        self.lock()
            .get(&(pid, secret.to_bytes()))
            .and_then(Weak::upgrade)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Weak<PgConnection>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Keeps a connection findable until dropped.
pub struct Registration {
    connections: Arc<Connections>,
    key: Key,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.connections.lock().remove(&self.key);
    }
}
