//! The query service: the protocol-neutral core every front door calls.
//!
//! A statement is first *prepared* (parsed and planned, so errors surface before any
//! work runs and the result schema is known), then *executed* once as a stream of
//! record batches. While it runs it can be cancelled and asked for progress by its id.
//! A running query stays known until its result stream ends or is dropped; dropping
//! the stream early (a client that goes away) cancels its job, and the end of the
//! stream frees the result files on the executors.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use datafusion::arrow::array::{RecordBatch, UInt64Array};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{CatalogProvider, CatalogProviderList, MemoryCatalogProviderList};
use datafusion::common::ScalarValue;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::memory::MemoryStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::SessionContext;
use futures::{FutureExt, Stream, StreamExt, TryStreamExt};
use tracing::Instrument;

use crate::ballista::BallistaScheduler;
use crate::direct::DirectRunner;
use crate::error::{ErrorKind, QuarryError};
use crate::explain;
use crate::ingest::{self, IngestTarget};
use crate::job::{Job, JobRunner, fetch_results};
use crate::joins;
use crate::lake::Lake;
use crate::merge::Merge;
use crate::metrics::{Metrics, Outcome};
use crate::names::CATALOG;
use crate::parse::{self, Parsed};
use crate::planned::{Write, count_schema};
pub use crate::query::{Progress, Query, QueryState};
use crate::reflections::Reflections;
use crate::reflections::refresh::Refresher;
use crate::session::{SessionExtensions, SessionFactory};
use crate::statement::{self, Statement, Task};
use crate::temporary::{self, with_temporary_schema};
use crate::write;

/// How long a prepared statement waits to be executed before it is forgotten.
const PREPARED_TTL: Duration = Duration::from_secs(30 * 60);

type Running = Arc<Mutex<HashMap<String, Arc<Query>>>>;

/// Prepares, runs, cancels and reports on queries.
pub struct QueryService {
    sessions: SessionFactory,
    reflections: Arc<Reflections>,
    jobs: JobRunner,
    direct: DirectRunner,
    prepared: moka::sync::Cache<String, Arc<Query>>,
    running: Running,
    refresher: Arc<Refresher>,
    metrics: Arc<Metrics>,
}

impl QueryService {
    /// A service over `lake`'s sessions that runs queries on `ballista`'s cluster and
    /// counts them in `metrics`.
    pub fn new(lake: Lake, ballista: BallistaScheduler, metrics: Arc<Metrics>) -> Self {
        let Lake {
            sessions,
            reflections,
        } = lake;
        reflections.attach(ballista.clone());
        let direct = DirectRunner::new(ballista.clone(), Arc::clone(&metrics));
        let jobs = JobRunner::new(ballista, Arc::clone(&metrics));
        Self {
            metrics,
            direct,
            refresher: Refresher::start(jobs.clone(), sessions.clone(), Arc::clone(&reflections)),
            sessions,
            reflections,
            jobs,
            prepared: moka::sync::Cache::builder()
                .time_to_idle(PREPARED_TTL)
                .build(),
            running: Running::default(),
        }
    }

    /// The Iceberg tables queries read and write.
    pub fn tables(&self) -> &quarry_catalog::store::TableStore {
        self.sessions.store()
    }

    /// The Ballista scheduler queries run on.
    pub fn ballista(&self) -> &BallistaScheduler {
        self.jobs.ballista()
    }

    /// How many queries ran as direct runs ([`crate::direct`]) rather than as jobs.
    pub fn direct_runs(&self) -> u64 {
        self.direct.runs()
    }

    /// A new client session, sized to the executors' task slots.
    pub async fn new_session(&self) -> Arc<SessionContext> {
        match self
            .new_session_with(|lake| lake, &SessionExtensions::default())
            .await
        {
            Ok(session) => session,
            // Without the lake's catalog there is nothing to keep temporary tables beside.
            Err(_) => Arc::new(self.sessions.new_session(self.slots().await)),
        }
    }

    /// A new client session whose catalog `quarry` is `view` of the shared one (a front
    /// door's system tables around the lake's), with a schema of temporary tables of its
    /// own, planned with the door's `extensions` too.
    pub async fn new_session_with(
        &self,
        view: impl FnOnce(Arc<dyn CatalogProvider>) -> Arc<dyn CatalogProvider>,
        extensions: &SessionExtensions,
    ) -> Result<Arc<SessionContext>, QuarryError> {
        let lake =
            self.sessions.catalogs().catalog(CATALOG).ok_or_else(|| {
                QuarryError::internal(format!("the catalog {CATALOG} is missing"))
            })?;
        let catalogs = MemoryCatalogProviderList::new();
        catalogs.register_catalog(CATALOG.to_string(), with_temporary_schema(view(lake)));
        let slots = self.slots().await;
        Ok(Arc::new(self.sessions.new_session_over(
            slots,
            Arc::new(catalogs),
            extensions,
        )))
    }

    /// Task slots of the executors (the machine's cores while none has registered).
    async fn slots(&self) -> usize {
        match self.jobs.ballista().total_task_slots().await {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    /// Parses `sql` in `session`'s SQL dialect. A front door may change the statement
    /// before it describes or runs it ([`Self::describe`]).
    pub fn parse(&self, session: &SessionContext, sql: &str) -> Result<Parsed, QuarryError> {
        let parsed = parse::parse(&session.state(), sql);
        if parsed.is_err() {
            self.metrics.query_rejected();
        }
        parsed
    }

    /// Parses and plans `sql` in `session`.
    pub async fn prepare(
        &self,
        session: &Arc<SessionContext>,
        sql: &str,
    ) -> Result<Arc<Query>, QuarryError> {
        let parsed = self.parse(session, sql)?;
        let text = Arc::clone(&parsed.text);
        let statement = self.plan(session, parsed).await?.bind(&[])?;
        self.prepared_query(session, &text, statement, None)
    }

    /// What `parsed` takes and returns, without running it. The plan is kept for the
    /// statement's first run ([`Self::prepare_described`]).
    pub async fn describe(
        &self,
        session: &Arc<SessionContext>,
        parsed: Parsed,
    ) -> Result<Description, QuarryError> {
        let statement = self.plan(session, parsed.clone()).await?;
        Ok(Description {
            parameters: statement.parameters()?,
            result: statement.schema(),
            is_query: statement.is_query(),
            parsed,
            plan: FirstRun(Arc::new(Mutex::new(Some(statement)))),
        })
    }

    /// Prepares the statement `description` described, with `values` bound to its
    /// parameters (`values[0]` to `$1` or the first `?`). Its first run takes the plan
    /// made then (front doors describe a statement, then run it at once); later runs
    /// plan the parsed statement again, and so read the tables as they are by then.
    /// The query gets the id `id` if given (a front door's handle for a statement it
    /// runs again and again), or a new one.
    pub async fn prepare_described(
        &self,
        session: &Arc<SessionContext>,
        description: &Description,
        values: &[ScalarValue],
        id: Option<&str>,
    ) -> Result<Arc<Query>, QuarryError> {
        let statement = match description.plan.take() {
            Some(statement) => statement,
            None => self.plan(session, description.parsed.clone()).await?,
        };
        let text = &description.parsed.text;
        self.prepared_query(session, text, statement.bind(values)?, id)
    }

    fn prepared_query(
        &self,
        session: &Arc<SessionContext>,
        text: &str,
        statement: Statement,
        id: Option<&str>,
    ) -> Result<Arc<Query>, QuarryError> {
        let query = Arc::new(Query::new(
            id,
            text,
            statement,
            Arc::clone(session),
            Arc::clone(&self.metrics),
        ));
        self.prepared.insert(query.id.clone(), Arc::clone(&query));
        Ok(query)
    }

    async fn plan(
        &self,
        session: &Arc<SessionContext>,
        parsed: Parsed,
    ) -> Result<Statement, QuarryError> {
        let planned = without_panics(
            "planning",
            statement::plan(session, self.sessions.store(), parsed),
        )
        .await;
        if planned.is_err() {
            self.metrics.query_rejected();
        }
        planned
    }

    /// Runs a prepared statement that changes data, the catalog or the session, and
    /// returns how many rows it wrote (0 for DDL). A query returns how many rows it read.
    pub async fn execute_update(&self, query: Arc<Query>) -> Result<u64, QuarryError> {
        let is_query = query.statement.is_query();
        let mut batches = self.execute(query).await?;
        let mut rows = 0;
        while let Some(batch) = batches.try_next().await? {
            rows += match is_query {
                true => batch.num_rows() as u64,
                false => written_rows(&batch),
            };
        }
        Ok(rows)
    }

    /// Writes a stream of rows into a table; see [`crate::ingest`].
    pub async fn ingest(
        &self,
        session: &Arc<SessionContext>,
        target: IngestTarget,
        rows: SendableRecordBatchStream,
    ) -> Result<u64, QuarryError> {
        tracing::info!(table = %target.table, "ingesting");
        ingest::ingest(
            session,
            self.sessions.store(),
            self.sessions.runtime(),
            target,
            rows,
        )
        .await
    }

    /// The prepared or running query with this id.
    pub fn query(&self, id: &str) -> Result<Arc<Query>, QuarryError> {
        let running = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned();
        running.or_else(|| self.prepared.get(id)).ok_or_else(|| {
            ErrorKind::UnknownStatement.error(format!(
                "unknown query {id}: it has already run, or expired, or was never prepared"
            ))
        })
    }

    /// Runs a prepared query once and streams its result.
    pub async fn execute(
        &self,
        query: Arc<Query>,
    ) -> Result<SendableRecordBatchStream, QuarryError> {
        let gone = || {
            ErrorKind::UnknownStatement.error(format!(
                "query {} has already run, or expired: prepare it again",
                query.id
            ))
        };
        // Known as running before it leaves `prepared`: a lookup in between (progress,
        // cancel, from another thread) always finds it.
        let registration = Registration::new(&self.running, &query).ok_or_else(gone)?;
        if self.prepared.remove(&query.id).is_none() {
            return Err(gone());
        }
        let span = tracing::info_span!("query", id = %query.id);
        self.run(query, registration).instrument(span).await
    }

    async fn run(
        &self,
        query: Arc<Query>,
        registration: Registration,
    ) -> Result<SendableRecordBatchStream, QuarryError> {
        tracing::info!(sql = %query.sql, "executing");
        crate::session::follow_slots(&query.ctx, self.slots().await);
        let schema = query.schema();
        let plan = match &query.statement {
            Statement::Local(plan) => {
                if !query.start(None) {
                    return Err(QuarryError::cancelled());
                }
                let run = async {
                    let frame = query.ctx.execute_logical_plan(plan.clone()).await?;
                    if let Some(count) = temporary::created_rows(&query.ctx, plan).await? {
                        let stream = MemoryStream::try_new(vec![count], count_schema(), None)?;
                        return Ok(Box::pin(stream) as SendableRecordBatchStream);
                    }
                    Ok(frame.execute_stream().await?)
                };
                let result = without_panics("the statement", run).await;
                query.end(if result.is_ok() {
                    QueryState::Finished
                } else {
                    QueryState::Failed
                });
                return Ok(hold(schema, result?, registration));
            }
            Statement::Catalog(change) => {
                let apply = change.apply(self.sessions.store());
                let run = async { without_panics("the statement", apply).await.map(|()| None) };
                return self.run_on_scheduler(&query, registration, run).await;
            }
            Statement::Task(task) => {
                let sessions = &self.sessions;
                let (store, runtime) = (sessions.store(), sessions.runtime());
                let run = async {
                    match task.as_ref() {
                        Task::RefreshReflections { anchor, name } => self
                            .refresher
                            .refresh_all(anchor, name.as_deref())
                            .await
                            .map(|_| None),
                        Task::Vacuum(vacuum) => {
                            let run = crate::vacuum::run(store, runtime, vacuum);
                            without_panics("VACUUM", run).await.map(Some)
                        }
                        Task::CopyInto(copy) => {
                            let place = (store, runtime, sessions.warehouse());
                            let run = crate::copy_into::run(&query.ctx, place, copy);
                            without_panics("COPY INTO", run).await.map(Some)
                        }
                    }
                };
                return self.run_on_scheduler(&query, registration, run).await;
            }
            Statement::Write(write) => &write.plan,
            // A MERGE's first job finds the files its matches are in.
            Statement::Merge(merge) => &merge.matches,
            Statement::Distributed(plan) => {
                if let Some(physical) = self.direct.plan(&query.ctx, plan).await? {
                    if !query.start(None) {
                        return Err(QuarryError::cancelled());
                    }
                    let ran = self
                        .direct
                        .run(&query.ctx, Arc::clone(&physical), &query.id);
                    match ran.await {
                        Ok(Some(batches)) => {
                            self.reflections.count_served([&physical]);
                            return Ok(self.follow_direct(schema, query, batches, registration));
                        }
                        // It could not run directly (no executor could be reached, or
                        // it needs more memory than one has): the job path takes it.
                        Ok(None) => {}
                        Err(e) => {
                            query.end(QueryState::Failed);
                            return Err(e);
                        }
                    }
                }
                plan
            }
            Statement::ExplainAnalyze(plan) => plan,
        };
        let mut job = self
            .jobs
            .submit(Arc::clone(&query.ctx), plan, &job_name(&query.sql))
            .await?;
        let guard = Arc::new(JobGuard {
            jobs: self.jobs.clone(),
            query: Arc::clone(&query),
            job_id: Mutex::new(Some(job.id.clone())),
            job_ended: AtomicBool::new(false),
            _registration: registration,
        });
        if !query.start(Some(&job.id)) {
            return Err(QuarryError::cancelled()); // dropping the guard stops the job
        }
        let (jobs, g) = (self.jobs.clone(), Arc::clone(&guard));
        let inner_schema = Arc::clone(plan.schema().inner());
        let batches = match &query.statement {
            Statement::Write(_) | Statement::Merge(_) => {
                let statement = query.statement.clone();
                let (store, runtime) = (
                    self.sessions.store().clone(),
                    Arc::clone(self.sessions.runtime()),
                );
                let (ctx, q) = (Arc::clone(&query.ctx), Arc::clone(&query));
                let name = job_name(&query.sql);
                let reflections = Arc::clone(&self.reflections);
                let refresher = Arc::clone(&self.refresher);
                futures::stream::once(async move {
                    let result = async {
                        let (job, write) = match statement {
                            Statement::Merge(merge) => {
                                merge_write(&jobs, (ctx, &name), &merge, job, &g).await?
                            }
                            Statement::Write(write) => (job, *write),
                            _ => return Err(QuarryError::internal("not a write")),
                        };
                        let cancelled = Box::new(move || q.is_cancelled());
                        match write::finish(jobs, store, runtime, cancelled, job, write).await {
                            Ok(result) => result,
                            Err(e) => {
                                Err(QuarryError::internal(format!("the write task failed: {e}")))
                            }
                        }
                    }
                    .await;
                    // A reflection may have been built, or its table changed.
                    reflections.invalidate();
                    refresher.notify();
                    match result {
                        Ok(batch) => {
                            g.succeeded();
                            Ok(batch)
                        }
                        Err(e) => Err(g.failed(e)),
                    }
                })
                .boxed()
            }
            Statement::ExplainAnalyze(_) => futures::stream::once(async move {
                let batch = explain::explain_analyze(&jobs, job, inner_schema)
                    .await
                    .map_err(|e| g.failed(e))?;
                g.succeeded();
                Ok(batch)
            })
            .boxed(),
            _ => {
                let (ctx, plan, name) =
                    (Arc::clone(&query.ctx), plan.clone(), job_name(&query.sql));
                // A query changes nothing, so running it again is safe; `COPY` and DML
                // write files.
                let rerunnable =
                    query.statement.is_query() && !matches!(plan, LogicalPlan::Copy(_));
                // Ballista's `EXPLAIN` keeps only its own rows: Quarry's come after.
                let explained: Vec<RecordBatch> = [
                    crate::reflections::explain_row(&plan),
                    self.direct.explain_row(&query.ctx, &plan).await?,
                ]
                .into_iter()
                .flatten()
                .collect();
                let reflections = Arc::clone(&self.reflections);
                let is_query = query.statement.is_query();
                futures::stream::once(async move {
                    let (mut reruns, mut ctx, mut sort_merge) = (0, ctx, false);
                    let locations = loop {
                        let e = match jobs.wait(&mut job).await {
                            Ok(locations) => break locations,
                            Err(e) if !rerunnable || g.query.is_cancelled() => {
                                return Err(g.failed(e));
                            }
                            Err(e) => e,
                        };
                        let why = e.message();
                        let again = match e.kind() {
                            ErrorKind::Unavailable if reruns < RERUNS => {
                                reruns += 1;
                                format!("{why}: running the query again")
                            }
                            // Hash joins cannot spill; sort-merge joins can.
                            ErrorKind::OutOfMemory if !sort_merge => {
                                sort_merge = true;
                                ctx = Arc::new(joins::without_hash_joins(&ctx));
                                format!("{why}: running the query again with sort-merge joins")
                            }
                            _ => return Err(g.failed(e)),
                        };
                        tracing::warn!(job_id = %job.id, "{again}");
                        jobs.clean_up(&job.id);
                        job = jobs
                            .submit(Arc::clone(&ctx), &plan, &name)
                            .await
                            .map_err(|e| g.failed(e))?;
                        if !g.rerun(&job.id) {
                            // Cancelled meanwhile: so is the new job.
                            let _ = jobs.cancel(&job.id).await;
                            return Err(g.failed(QuarryError::cancelled()));
                        }
                    };
                    g.succeeded();
                    if is_query && !reflections.all().is_empty() {
                        reflections.count_served(&jobs.stage_plans(&job.id).await);
                    }
                    let results = fetch_results(locations, Arc::clone(&inner_schema));
                    let results: SendableRecordBatchStream = match explained.is_empty() {
                        true => results,
                        false => Box::pin(RecordBatchStreamAdapter::new(
                            inner_schema,
                            results.chain(futures::stream::iter(explained.into_iter().map(Ok))),
                        )),
                    };
                    Ok::<_, DataFusionError>(results)
                })
                .try_flatten()
                .boxed()
            }
        };
        Ok(hold(schema, batches, guard))
    }

    /// The result of a direct run, ending `query` with it: finished at its end, failed
    /// on an error, cancelled when dropped early or cancelled meanwhile.
    fn follow_direct(
        &self,
        schema: SchemaRef,
        query: Arc<Query>,
        batches: SendableRecordBatchStream,
        registration: Registration,
    ) -> SendableRecordBatchStream {
        let guard = Arc::new(JobGuard {
            jobs: self.jobs.clone(),
            query,
            job_id: Mutex::new(None),
            job_ended: AtomicBool::new(false),
            _registration: registration,
        });
        let (g, end) = (Arc::clone(&guard), Arc::clone(&guard));
        let batches = batches
            .map(move |batch| match batch {
                _ if g.query.is_cancelled() => Err(g.failed(QuarryError::cancelled())),
                Ok(batch) => Ok(batch),
                Err(e) => Err(g.failed(e.into())),
            })
            .chain(
                futures::stream::once(async move {
                    end.succeeded();
                    None
                })
                .filter_map(futures::future::ready),
            );
        hold(schema, batches, guard)
    }

    /// Runs a statement that changes the catalog or does its work on the scheduler
    /// (`run`), then answers with the batch it returns, if any. Reflections see the
    /// change at once.
    async fn run_on_scheduler(
        &self,
        query: &Arc<Query>,
        registration: Registration,
        run: impl std::future::Future<Output = Result<Option<RecordBatch>, QuarryError>>,
    ) -> Result<SendableRecordBatchStream, QuarryError> {
        if !query.start(None) {
            return Err(QuarryError::cancelled());
        }
        let result = run.await;
        self.reflections.invalidate();
        self.refresher.notify();
        query.end(if result.is_ok() {
            QueryState::Finished
        } else {
            QueryState::Failed
        });
        let answer = result?.map(Ok);
        let stream = futures::stream::iter(answer);
        Ok(hold(query.schema(), stream, registration))
    }

    /// Cancels a query: a prepared one will not run, a running one's job is stopped.
    /// Returns false when there was nothing left to cancel.
    pub async fn cancel(&self, id: &str) -> Result<bool, QuarryError> {
        let Ok(query) = self.query(id) else {
            return Ok(false);
        };
        let Some(job_id) = query.cancel() else {
            return Ok(false);
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
        let job = match query.job_id() {
            Some(job_id) => self.jobs.progress(&job_id).await,
            None => None,
        };
        Ok(Progress {
            state: query.state(),
            job,
        })
    }
}

/// What a statement takes and returns.
#[derive(Debug, Clone)]
pub struct Description {
    /// Its parameters, `$1..$n`.
    pub parameters: SchemaRef,
    /// The schema of its result.
    pub result: SchemaRef,
    /// Whether it is a query (returns rows) rather than a change.
    pub is_query: bool,
    /// The statement, as parsed (and changed by the front door).
    pub parsed: Parsed,
    /// The plan made to describe it, until its first run takes it.
    plan: FirstRun,
}

/// A described statement's plan, shared by the description's clones and taken once.
#[derive(Clone)]
struct FirstRun(Arc<Mutex<Option<Statement>>>);

impl FirstRun {
    fn take(&self) -> Option<Statement> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

impl std::fmt::Debug for FirstRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FirstRun")
    }
}

/// The rows a write or DML statement reports in its `count` column.
fn written_rows(batch: &RecordBatch) -> u64 {
    batch
        .column_by_name("count")
        .and_then(|c| c.as_any().downcast_ref::<UInt64Array>())
        .map_or(0, |counts| counts.iter().flatten().sum())
}

/// Waits for the first job of a `MERGE`, `job`, and submits the write its result makes
/// as the statement's second job.
async fn merge_write(
    jobs: &JobRunner,
    (ctx, name): (Arc<SessionContext>, &str),
    merge: &Merge,
    mut job: Job,
    guard: &JobGuard,
) -> Result<(Job, Write), QuarryError> {
    let locations = jobs.wait(&mut job).await?;
    let schema = Arc::clone(merge.matches.schema().inner());
    let matches: Vec<RecordBatch> = fetch_results(locations, schema).try_collect().await?;
    jobs.clean_up(&job.id);
    let write = merge.write(&matches)?;
    let next = jobs.submit(ctx, &write.plan, name).await?;
    if !guard.rerun(&next.id) {
        // Cancelled meanwhile: so is the write.
        let _ = jobs.cancel(&next.id).await;
        return Err(QuarryError::cancelled());
    }
    Ok((next, write))
}

/// Keeps a running query known to the service until dropped.
struct Registration {
    running: Running,
    id: String,
}

impl Registration {
    /// Registers `query`, unless it is running already (a second execution of it).
    fn new(running: &Running, query: &Arc<Query>) -> Option<Self> {
        let mut map = running.lock().unwrap_or_else(|p| p.into_inner());
        if map.contains_key(&query.id) {
            return None;
        }
        map.insert(query.id.clone(), Arc::clone(query));
        Some(Self {
            running: Arc::clone(running),
            id: query.id.clone(),
        })
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

/// Lives as long as a query's result stream. Dropped before the query ended, it
/// cancels the query and its job (the client went away); dropped after, it frees the
/// job's result files on the executors. It turns the failure of a cancelled query into
/// `Cancelled`. A direct run has no job.
struct JobGuard {
    jobs: JobRunner,
    query: Arc<Query>,
    job_id: Mutex<Option<String>>,
    job_ended: AtomicBool,
    _registration: Registration,
}

impl JobGuard {
    /// The query runs as job `job_id` now; false if it was cancelled meanwhile.
    fn rerun(&self, job_id: &str) -> bool {
        *self.job_id.lock().unwrap_or_else(|p| p.into_inner()) = Some(job_id.to_string());
        self.query.start(Some(job_id))
    }

    /// The query succeeded (unless it had already ended).
    fn succeeded(&self) {
        if !self.job_ended.swap(true, Ordering::SeqCst) {
            self.query.end(QueryState::Finished);
        }
    }

    fn failed(&self, e: QuarryError) -> DataFusionError {
        self.job_ended.store(true, Ordering::SeqCst);
        self.query.end(QueryState::Failed);
        let e = if self.query.is_cancelled() {
            QuarryError::cancelled()
        } else {
            e
        };
        DataFusionError::External(Box::new(e))
    }
}

impl Drop for JobGuard {
    fn drop(&mut self) {
        let jobs = self.jobs.clone();
        let job_id = self
            .job_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if self.job_ended.load(Ordering::SeqCst) {
            if let Some(job_id) = job_id {
                jobs.clean_up(&job_id);
            }
            return;
        }
        // The client went away: the statement ends here, cancelled.
        let abandoned = !self.query.is_cancelled();
        self.query.cancel();
        if abandoned {
            self.query.metrics.query_ended(Outcome::Cancelled);
        }
        if let (Some(job_id), Ok(runtime)) = (job_id, tokio::runtime::Handle::try_current()) {
            tracing::info!(job_id = %job_id, "result stream dropped before the job finished: cancelling");
            runtime.spawn(async move {
                if let Err(e) = jobs.cancel(&job_id).await {
                    tracing::warn!(job_id = %job_id, "cancel failed: {e}");
                }
            });
        }
    }
}

/// A record-batch stream that keeps `guard` alive until the stream is dropped.
fn hold<G: Send + Sync + 'static>(
    schema: SchemaRef,
    stream: impl Stream<Item = datafusion::error::Result<RecordBatch>> + Send + 'static,
    guard: G,
) -> SendableRecordBatchStream {
    let stream = stream.map(move |batch| {
        let _keep = &guard;
        batch
    });
    Box::pin(RecordBatchStreamAdapter::new(schema, stream))
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
            Err(QuarryError::internal(format!("{what} panicked: {cause}")))
        }
    }
}

/// How many times a query whose executors were lost runs again before it fails.
const RERUNS: usize = 2;

/// The job name the scheduler logs: the start of the SQL text on one line.
fn job_name(sql: &str) -> String {
    let line: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    line.chars().take(80).collect()
}
