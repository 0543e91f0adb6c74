//! The query service: the protocol-neutral core every front door calls.
//!
//! A statement is first *prepared* (parsed and planned, so errors surface before any
//! work runs and the result schema is known), then *executed* as a stream of record
//! batches. While it runs it can be cancelled and asked for progress by its id.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::SessionContext;
use futures::{FutureExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use crate::ballista::BallistaScheduler;
use crate::error::QuarryError;
use crate::explain;
use crate::job::{JobProgress, JobRunner, fetch_results};
use crate::session::SessionFactory;
use crate::statement::{self, Statement};

/// How long a prepared statement waits to be executed (or polled) before it is dropped.
const IDLE_QUERY_TTL: Duration = Duration::from_secs(30 * 60);

/// Where a query is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueryState {
    /// Prepared, not executed yet.
    Prepared,
    /// Running on the scheduler or the executors.
    Running,
    /// Its result is streaming back, or has been.
    Finished,
    /// Cancelled by the client.
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
    statement: Statement,
    ctx: Arc<SessionContext>,
    lifecycle: Mutex<Lifecycle>,
}

impl Query {
    /// The schema of the result.
    pub fn schema(&self) -> SchemaRef {
        self.statement.schema()
    }

    /// The Ballista job running the query, once submitted.
    pub fn job_id(&self) -> Option<String> {
        self.lifecycle().job_id.clone()
    }

    fn lifecycle(&self) -> std::sync::MutexGuard<'_, Lifecycle> {
        self.lifecycle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records the job and moves to Running; false if the query was cancelled meanwhile.
    fn started(&self, job_id: &str) -> bool {
        let mut life = self.lifecycle();
        life.job_id = Some(job_id.to_string());
        if life.state == QueryState::Cancelled {
            return false;
        }
        life.state = QueryState::Running;
        true
    }

    fn set_state(&self, state: QueryState) {
        let mut life = self.lifecycle();
        if life.state != QueryState::Cancelled {
            life.state = state;
        }
    }

    fn is_cancelled(&self) -> bool {
        self.lifecycle().state == QueryState::Cancelled
    }
}

/// Prepares, runs, cancels and reports on queries.
pub struct QueryService {
    sessions: SessionFactory,
    jobs: JobRunner,
    queries: moka::sync::Cache<String, Arc<Query>>,
}

impl QueryService {
    pub fn new(sessions: SessionFactory, ballista: BallistaScheduler) -> Self {
        Self {
            sessions,
            jobs: JobRunner::new(ballista),
            queries: moka::sync::Cache::builder()
                .time_to_idle(IDLE_QUERY_TTL)
                .build(),
        }
    }

    /// The Ballista scheduler queries run on.
    pub fn ballista(&self) -> &BallistaScheduler {
        self.jobs.ballista()
    }

    /// A new client session, sized to the executors' task slots.
    pub async fn new_session(&self) -> Arc<SessionContext> {
        let slots = match self.jobs.ballista().total_task_slots().await {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        Arc::new(self.sessions.new_session(slots))
    }

    /// Parses and plans `sql` in `session`.
    pub async fn prepare(
        &self,
        session: &Arc<SessionContext>,
        sql: &str,
    ) -> Result<Arc<Query>, QuarryError> {
        let statement = statement::plan(session, sql).await?;
        let query = Arc::new(Query {
            id: uuid::Uuid::new_v4().to_string(),
            sql: sql.to_string(),
            statement,
            ctx: Arc::clone(session),
            lifecycle: Mutex::new(Lifecycle {
                state: QueryState::Prepared,
                job_id: None,
            }),
        });
        self.queries.insert(query.id.clone(), Arc::clone(&query));
        Ok(query)
    }

    /// The prepared query with this id.
    pub fn query(&self, id: &str) -> Result<Arc<Query>, QuarryError> {
        self.queries.get(id).ok_or_else(|| {
            QuarryError::NotFound(format!(
                "no query with id {id} (finished, expired or never prepared)"
            ))
        })
    }

    /// Runs a prepared query and streams its result.
    pub async fn execute(
        &self,
        query: Arc<Query>,
    ) -> Result<SendableRecordBatchStream, QuarryError> {
        if query.is_cancelled() {
            return Err(QuarryError::Cancelled);
        }
        let span = tracing::info_span!("query", id = %query.id);
        let _enter = span.enter();
        tracing::info!(sql = %query.sql, "executing");
        let schema = query.schema();
        match &query.statement {
            Statement::Local(plan) => {
                query.set_state(QueryState::Running);
                let run = async {
                    let frame = query.ctx.execute_logical_plan(plan.clone()).await?;
                    Ok(frame.execute_stream().await?)
                };
                let stream = without_panics("the statement", run).await?;
                query.set_state(QueryState::Finished);
                Ok(stream)
            }
            Statement::Distributed(plan) => {
                let mut job = self
                    .jobs
                    .submit(Arc::clone(&query.ctx), plan, &job_name(&query.sql))
                    .await?;
                let guard = CancelOnDrop::new(self.jobs.clone(), &query, &job.id)?;
                let jobs = self.jobs.clone();
                let result_schema = Arc::clone(&schema);
                let batches = futures::stream::once(async move {
                    let locations = jobs.wait(&mut job).await.map_err(|e| guard.error(e))?;
                    guard.finished();
                    Ok::<_, DataFusionError>(fetch_results(locations, result_schema))
                })
                .try_flatten();
                Ok(Box::pin(RecordBatchStreamAdapter::new(schema, batches)))
            }
            Statement::ExplainAnalyze(plan) => {
                let job = self
                    .jobs
                    .submit(Arc::clone(&query.ctx), plan, &job_name(&query.sql))
                    .await?;
                let guard = CancelOnDrop::new(self.jobs.clone(), &query, &job.id)?;
                let jobs = self.jobs.clone();
                let inner_schema = Arc::clone(plan.schema().inner());
                let batch = futures::stream::once(async move {
                    let batch = explain::explain_analyze(&jobs, job, inner_schema)
                        .await
                        .map_err(|e| guard.error(e))?;
                    guard.finished();
                    Ok(batch)
                });
                Ok(Box::pin(RecordBatchStreamAdapter::new(schema, batch)))
            }
        }
    }

    /// Cancels a query: a prepared one will not run, a running one's job is stopped.
    /// Returns false when the query had already finished.
    pub async fn cancel(&self, id: &str) -> Result<bool, QuarryError> {
        let query = self.query(id)?;
        let job_id = {
            let mut life = query.lifecycle();
            match life.state {
                QueryState::Finished => return Ok(false),
                QueryState::Cancelled => return Ok(true),
                QueryState::Prepared | QueryState::Running => life.state = QueryState::Cancelled,
            }
            life.job_id.clone()
        };
        tracing::info!(query_id = id, job_id = ?job_id, "cancelling");
        if let Some(job_id) = job_id {
            self.jobs.cancel(&job_id).await?;
        }
        Ok(true)
    }

    /// How far a query has got.
    pub async fn progress(&self, id: &str) -> Result<Progress, QuarryError> {
        let query = self.query(id)?;
        let (state, job_id) = {
            let life = query.lifecycle();
            (life.state, life.job_id.clone())
        };
        let job = match job_id {
            Some(job_id) => self.jobs.progress(&job_id).await,
            None => None,
        };
        Ok(Progress { state, job })
    }

    /// Forgets a query whose result has been delivered.
    pub fn close(&self, id: &str) {
        self.queries.invalidate(id);
    }
}

/// Runs `work`, turning a panic into an internal error that fails only this statement.
async fn without_panics<T>(
    what: &str,
    work: impl std::future::Future<Output = Result<T, QuarryError>>,
) -> Result<T, QuarryError> {
    match std::panic::AssertUnwindSafe(work).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => {
            let cause = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown cause".into());
            tracing::error!("{what} panicked: {cause}");
            Err(QuarryError::Internal(format!("{what} panicked: {cause}")))
        }
    }
}

/// The job name the scheduler logs: the start of the SQL text on one line.
fn job_name(sql: &str) -> String {
    let line: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    line.chars().take(80).collect()
}

/// Cancels a job whose result stream is dropped before the job finished (a client that
/// disconnects or gives up), and turns the failure of a cancelled job into `Cancelled`.
struct CancelOnDrop {
    jobs: JobRunner,
    query: Arc<Query>,
    job_id: String,
    done: std::sync::atomic::AtomicBool,
}

impl CancelOnDrop {
    fn new(jobs: JobRunner, query: &Arc<Query>, job_id: &str) -> Result<Self, QuarryError> {
        let guard = Self {
            jobs,
            query: Arc::clone(query),
            job_id: job_id.to_string(),
            done: false.into(),
        };
        if !query.started(job_id) {
            // Cancelled between prepare and submit: the drop of `guard` stops the job.
            return Err(QuarryError::Cancelled);
        }
        Ok(guard)
    }

    fn finished(&self) {
        self.done.store(true, std::sync::atomic::Ordering::SeqCst);
        self.query.set_state(QueryState::Finished);
    }

    fn error(&self, e: QuarryError) -> DataFusionError {
        self.done.store(true, std::sync::atomic::Ordering::SeqCst);
        let e = if self.query.is_cancelled() {
            QuarryError::Cancelled
        } else {
            e
        };
        DataFusionError::External(Box::new(e))
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if self.done.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let (jobs, job_id) = (self.jobs.clone(), self.job_id.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            tracing::info!(job_id = %job_id, "result stream dropped before the job finished: cancelling");
            runtime.spawn(async move {
                if let Err(e) = jobs.cancel(&job_id).await {
                    tracing::warn!(job_id = %job_id, "cancel failed: {e}");
                }
            });
        }
    }
}
