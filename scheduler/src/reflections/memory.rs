//! How much of each reflection the executors hold in memory, for `sys.reflections`.
//!
//! Each executor answers Quarry's Flight action
//! [`HELD_FILES_ACTION`](quarry_catalog::reflection::HELD_FILES_ACTION) with the
//! reflection files in its cache; a reflection's bytes in memory are those of the files
//! of its current snapshot (a refresh leaves older files in memory until they are
//! evicted, and they answer nothing).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use arrow_flight::Action;
use arrow_flight::flight_service_client::FlightServiceClient;
use futures::TryStreamExt;
use quarry_catalog::reflection::{HELD_FILES_ACTION, HeldFile};
use quarry_catalog::table::scan::current_file_locations;

use super::Materialized;
use crate::ballista::BallistaScheduler;

/// How long an executor has to answer; one that does not counts as holding nothing.
const ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// What the executors hold, per reflection table: its files' locations and bytes,
/// added up over executors.
#[derive(Debug, Default)]
pub struct HeldInMemory(HashMap<String, HashMap<String, u64>>);

impl HeldInMemory {
    /// Asks every registered executor, at the same time.
    pub async fn ask(ballista: &BallistaScheduler) -> Self {
        let executors = ballista
            .server
            .state
            .executor_manager
            .get_executors_state()
            .await
            .unwrap_or_default();
        let asks = executors.iter().map(|(meta, _, _)| async move {
            let address = format!("http://{}:{}", meta.host, meta.port);
            match tokio::time::timeout(ASK_TIMEOUT, held_by(address)).await {
                Ok(Ok(files)) => files,
                Ok(Err(e)) => {
                    tracing::debug!(executor_id = %meta.id, "cannot ask what it holds: {e}");
                    Vec::new()
                }
                Err(_) => Vec::new(),
            }
        });
        let mut held = Self::default();
        for file in futures::future::join_all(asks).await.into_iter().flatten() {
            *held
                .0
                .entry(file.table)
                .or_default()
                .entry(file.location)
                .or_default() += file.bytes;
        }
        held
    }

    /// The bytes of `reflection`'s current files in executor memory.
    pub async fn bytes_of(&self, reflection: &Materialized) -> u64 {
        let Some(files) = self.0.get(&reflection.table.identifier().to_string()) else {
            return 0;
        };
        let current: HashSet<String> = match current_file_locations(&reflection.table).await {
            Ok(locations) => locations.into_iter().collect(),
            Err(_) => return 0,
        };
        files
            .iter()
            .filter(|(location, _)| current.contains(*location))
            .map(|(_, bytes)| bytes)
            .sum()
    }
}

/// The files one executor holds.
async fn held_by(address: String) -> Result<Vec<HeldFile>, Box<dyn std::error::Error>> {
    let channel = tonic::transport::Endpoint::from_shared(address)?
        .connect()
        .await?;
    let mut client = FlightServiceClient::new(channel);
    let action = Action {
        r#type: HELD_FILES_ACTION.into(),
        body: Default::default(),
    };
    let results: Vec<arrow_flight::Result> = client
        .do_action(action)
        .await?
        .into_inner()
        .try_collect()
        .await?;
    let mut files = Vec::new();
    for result in results {
        files.extend(serde_json::from_slice::<Vec<HeldFile>>(&result.body)?);
    }
    Ok(files)
}
