//! Front doors beside Flight SQL. A door serves the clients of one protocol on the
//! query service all doors share; the scheduler opens each door it is given when it
//! starts and closes them when it stops. The PostgreSQL door (crate `quarry-postgres`)
//! is one: the scheduler knows it only through this trait.

use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::watch;

use crate::error::QuarryError;
use crate::service::QueryService;

/// A protocol clients reach the query service by.
#[async_trait]
pub trait FrontDoor: Debug + Send + Sync {
    /// The door's name, in logs and in [`crate::server::SchedulerHandle::door`].
    fn name(&self) -> &'static str;

    /// Binds the door's port on `host` and serves clients until `stop` becomes true
    /// (or its sender is dropped); returns the address it listens on.
    async fn open(
        &self,
        service: Arc<QueryService>,
        host: &str,
        stop: watch::Receiver<bool>,
    ) -> Result<SocketAddr, QuarryError>;
}
