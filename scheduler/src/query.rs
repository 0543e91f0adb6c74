//! A query and its lifecycle: prepared, then running, then finished, failed or
//! cancelled.

use std::sync::{Arc, Mutex, MutexGuard};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::prelude::SessionContext;
use serde::{Deserialize, Serialize};

use crate::job::JobProgress;
use crate::metrics::{Metrics, Outcome};
use crate::statement::Statement;

/// Where a query is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueryState {
    /// Prepared, not executed yet.
    Prepared,
    /// Running on the scheduler or the executors.
    Running,
    /// Its job finished; the result is streaming back or has been.
    Finished,
    /// It failed.
    Failed,
    /// Cancelled by its client, or its client went away.
    Cancelled,
}

/// A query's progress, as a front door reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub state: QueryState,
    #[serde(flatten)]
    pub job: Option<JobProgress>,
}

#[derive(Debug)]
struct Lifecycle {
    state: QueryState,
    job_id: Option<String>,
}

/// A prepared statement.
pub struct Query {
    /// The handle clients use to execute, cancel or follow it.
    pub id: String,
    /// The SQL text.
    pub sql: String,
    pub(crate) statement: Statement,
    pub(crate) ctx: Arc<SessionContext>,
    lifecycle: Mutex<Lifecycle>,
    /// Where it counts how it ended.
    pub(crate) metrics: Arc<Metrics>,
}

impl Query {
    /// A query with this id, or a new one.
    pub(crate) fn new(
        id: Option<&str>,
        sql: &str,
        statement: Statement,
        ctx: Arc<SessionContext>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            metrics,
            id: id.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_string),
            sql: sql.to_string(),
            statement,
            ctx,
            lifecycle: Mutex::new(Lifecycle {
                state: QueryState::Prepared,
                job_id: None,
            }),
        }
    }

    /// The schema of the result.
    /// Whether it returns rows, rather than changing data, the catalog or the session.
    pub fn is_query(&self) -> bool {
        self.statement.is_query()
    }

    pub fn schema(&self) -> SchemaRef {
        self.statement.schema()
    }

    /// The Ballista job running the query, once submitted.
    pub fn job_id(&self) -> Option<String> {
        self.lifecycle().job_id.clone()
    }

    /// Where the query is.
    pub fn state(&self) -> QueryState {
        self.lifecycle().state
    }

    fn lifecycle(&self) -> MutexGuard<'_, Lifecycle> {
        self.lifecycle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Moves to Running and records the job; false if the query was cancelled first.
    pub(crate) fn start(&self, job_id: Option<&str>) -> bool {
        let mut life = self.lifecycle();
        life.job_id = job_id.map(str::to_string);
        if life.state == QueryState::Cancelled {
            return false;
        }
        life.state = QueryState::Running;
        true
    }

    /// Records how the query ended, unless it was cancelled.
    pub(crate) fn end(&self, state: QueryState) {
        let mut life = self.lifecycle();
        if life.state != QueryState::Cancelled {
            life.state = state;
        }
        let outcome = match life.state {
            QueryState::Finished => Outcome::Succeeded,
            QueryState::Failed => Outcome::Failed,
            QueryState::Cancelled => Outcome::Cancelled,
            QueryState::Prepared | QueryState::Running => return,
        };
        self.metrics.query_ended(outcome);
    }

    /// Marks the query cancelled. Returns `None` if it had already ended, otherwise
    /// the job to stop, if it has one.
    pub(crate) fn cancel(&self) -> Option<Option<String>> {
        let mut life = self.lifecycle();
        match life.state {
            QueryState::Finished | QueryState::Failed => None,
            QueryState::Prepared | QueryState::Running | QueryState::Cancelled => {
                life.state = QueryState::Cancelled;
                Some(life.job_id.clone())
            }
        }
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.state() == QueryState::Cancelled
    }
}
