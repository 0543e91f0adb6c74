//! Quarry's execution engine: prompt cancellation of tasks, and panics that fail their task
//!
//! Ballista cancels a task by aborting its future, which takes effect only when the
//! future next yields. DataFusion operators yield when their input is not ready or
//! every 128 batches, so a CPU-bound operator over ready input (a nested-loop join over
//! a local file, say) can run on for minutes after its query was cancelled, holding its
//! task slot. [`QuarryExecutionEngine`] wraps each leaf of a stage in [`YieldExec`],
//! which yields once after every batch, so a cancelled task stops within one batch.
//!
//! A task that panics would never report its status and its job would wait forever;
//! [`CatchPanic`] turns the panic into the task's error, which fails the query. It also
//! counts the tasks running (Ballista's own count keeps tasks that failed), which a
//! draining executor waits on.
//!
//! Scans of reflections read through the executor's [`ReflectionCache`]
//! ([`cache_reflection_scans`]), when it has one.

use std::any::Any;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use ballista_core::serde::protobuf::ShuffleWritePartition;
use ballista_executor::execution_engine::{
    DefaultExecutionEngine, ExecutionEngine, QueryStageExecutor,
};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::display::DisplayableExecutionPlan;
use datafusion::physical_plan::metrics::MetricsSet;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use datafusion::prelude::SessionConfig;
use futures::{FutureExt, Stream, StreamExt};

use crate::cache::{ReflectionCache, cache_reflection_scans};

/// Ballista's execution engine, with every stage leaf wrapped in [`YieldExec`] and
/// every task in [`CatchPanic`].
#[derive(Default)]
pub struct QuarryExecutionEngine {
    inner: DefaultExecutionEngine,
    running: Arc<AtomicUsize>,
    cache: Option<Arc<ReflectionCache>>,
}

impl QuarryExecutionEngine {
    /// An engine whose tasks read reflections through `cache`.
    pub fn with_cache(cache: Option<Arc<ReflectionCache>>) -> Self {
        Self {
            cache,
            ..Self::default()
        }
    }

    /// The number of tasks running now, kept up to date.
    pub fn running(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.running)
    }

    /// `plan` as this engine runs it: reflection scans read through the cache, and
    /// every leaf wrapped in [`YieldExec`].
    fn prepare(&self, plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
        let plan = match &self.cache {
            Some(cache) => cache_reflection_scans(plan, cache)?,
            None => plan,
        };
        Ok(plan
            .transform_up(|node| {
                if node.children().is_empty() {
                    Ok(Transformed::yes(
                        Arc::new(YieldExec::new(node)) as Arc<dyn ExecutionPlan>
                    ))
                } else {
                    Ok(Transformed::no(node))
                }
            })?
            .data)
    }

    /// Runs a whole plan outside any Ballista stage (a direct run, [`crate::direct`])
    /// and streams all its partitions, merged. Like a task, it is counted while it runs,
    /// and a panic fails it with the panic's message.
    pub fn run_plan(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let plan = self.prepare(plan)?;
        let schema = plan.schema();
        self.running.fetch_add(1, Ordering::AcqRel);
        let running = Running(Arc::clone(&self.running));
        let shown = Arc::clone(&plan);
        let stream = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            datafusion::physical_plan::execute_stream(plan, context)
        }))
        .map_err(|panic| panicked(&panic))??;
        // With debug logging, the plan with its metrics once it has run: what EXPLAIN
        // ANALYZE shows of a job, which runs elsewhere.
        let finished = futures::stream::once(async move {
            tracing::debug!(
                plan = %DisplayableExecutionPlan::with_metrics(shown.as_ref()).indent(true),
                "direct run finished"
            );
        })
        .filter_map(|()| async { None });
        let batches = std::panic::AssertUnwindSafe(stream)
            .catch_unwind()
            .map(move |batch| {
                let _running = &running;
                batch.unwrap_or_else(|panic| Err(panicked(&panic)))
            })
            .chain(finished);
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, batches)))
    }
}

impl ExecutionEngine for QuarryExecutionEngine {
    fn create_query_stage_exec(
        &self,
        job_id: String,
        stage_id: usize,
        partition_id: usize,
        plan: Arc<dyn ExecutionPlan>,
        work_dir: &str,
        config: &SessionConfig,
    ) -> Result<Arc<dyn QueryStageExecutor>> {
        let plan = self.prepare(plan)?;
        let stage = self.inner.create_query_stage_exec(
            job_id,
            stage_id,
            partition_id,
            plan,
            work_dir,
            config,
        )?;
        Ok(Arc::new(CatchPanic(stage, Arc::clone(&self.running))))
    }
}

/// Runs a task, turning a panic into the task's error, and counts it while it runs.
#[derive(Debug)]
pub struct CatchPanic(Arc<dyn QueryStageExecutor>, Arc<AtomicUsize>);

/// Counts one running task until dropped (the task ended, failed or was aborted).
struct Running(Arc<AtomicUsize>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl fmt::Display for CatchPanic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[async_trait::async_trait]
impl QueryStageExecutor for CatchPanic {
    async fn execute_query_stage(
        &self,
        input_partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<Vec<ShuffleWritePartition>> {
        self.1.fetch_add(1, Ordering::AcqRel);
        let _running = Running(Arc::clone(&self.1));
        let task =
            std::panic::AssertUnwindSafe(self.0.execute_query_stage(input_partition, context));
        match task.catch_unwind().await {
            Ok(result) => result,
            Err(panic) => Err(panicked(&panic)),
        }
    }

    fn collect_plan_metrics(&self) -> Vec<MetricsSet> {
        self.0.collect_plan_metrics()
    }
}

/// The error a panicking task fails with, naming the panic's message.
fn panicked(panic: &Box<dyn Any + Send>) -> DataFusionError {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown cause".into());
    tracing::error!("task panicked: {message}");
    DataFusionError::Execution(format!("task panicked: {message}"))
}

/// Passes its input through unchanged, returning `Pending` once after each batch.
///
/// It reports no metrics of its own, so Ballista's per-operator stage metrics stay
/// aligned with the scheduler's copy of the plan, which does not contain it.
#[derive(Debug)]
pub struct YieldExec {
    input: Arc<dyn ExecutionPlan>,
}

impl YieldExec {
    pub fn new(input: Arc<dyn ExecutionPlan>) -> Self {
        Self { input }
    }
}

impl DisplayAs for YieldExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "YieldExec")
    }
}

impl ExecutionPlan for YieldExec {
    fn name(&self) -> &str {
        "YieldExec"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match children.pop() {
            Some(input) if children.is_empty() => Ok(Arc::new(YieldExec::new(input))),
            _ => datafusion::common::internal_err!("YieldExec takes exactly one child"),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        Ok(Box::pin(YieldStream {
            input: self.input.execute(partition, context)?,
            yield_next: false,
        }))
    }
}

struct YieldStream {
    input: SendableRecordBatchStream,
    yield_next: bool,
}

impl Stream for YieldStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.yield_next {
            self.yield_next = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let next = self.input.poll_next_unpin(cx);
        if let Poll::Ready(Some(_)) = &next {
            self.yield_next = true;
        }
        next
    }
}

impl RecordBatchStream for YieldStream {
    fn schema(&self) -> SchemaRef {
        self.input.schema()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;
    use futures::TryStreamExt;

    /// A leaf whose stream panics when polled.
    #[derive(Debug)]
    struct PanicExec(Arc<dyn ExecutionPlan>);

    impl DisplayAs for PanicExec {
        fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "PanicExec")
        }
    }

    impl ExecutionPlan for PanicExec {
        fn name(&self) -> &str {
            "PanicExec"
        }
        fn as_any(&self) -> &dyn Any {
            self
        }
        fn properties(&self) -> &Arc<PlanProperties> {
            self.0.properties()
        }
        fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
            vec![]
        }
        fn with_new_children(
            self: Arc<Self>,
            _: Vec<Arc<dyn ExecutionPlan>>,
        ) -> Result<Arc<dyn ExecutionPlan>> {
            Ok(self)
        }
        fn execute(&self, _: usize, _: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
            let schema = self.0.schema();
            let stream = futures::stream::once(async { panic!("boom") });
            Ok(Box::pin(
                datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(schema, stream),
            ))
        }
    }

    /// The plan of `SELECT 1 AS a`.
    async fn one_row(ctx: &SessionContext) -> Arc<dyn ExecutionPlan> {
        let frame = ctx.sql("SELECT 1 AS a").await.unwrap();
        frame.create_physical_plan().await.unwrap()
    }

    #[tokio::test]
    async fn a_panicking_task_fails_instead_of_hanging() {
        let ctx = SessionContext::new();
        let values = one_row(&ctx).await;
        let dir = tempfile::tempdir().unwrap();
        let work_dir = dir.path().to_str().unwrap();
        let writer = ballista_core::execution_plans::ShuffleWriterExec::try_new(
            "job".into(),
            1,
            Arc::new(PanicExec(values)),
            work_dir.into(),
            None,
        )
        .unwrap();
        let stage = QuarryExecutionEngine::default()
            .create_query_stage_exec(
                "job".into(),
                1,
                0,
                Arc::new(writer),
                work_dir,
                &SessionConfig::new(),
            )
            .unwrap();
        let err = stage
            .execute_query_stage(0, ctx.task_ctx())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("task panicked: boom"), "{err}");
    }

    #[tokio::test]
    async fn a_direct_run_that_panics_fails_and_stops_counting() {
        let ctx = SessionContext::new();
        let values = one_row(&ctx).await;
        let engine = QuarryExecutionEngine::default();
        let stream = engine
            .run_plan(Arc::new(PanicExec(values)), ctx.task_ctx())
            .unwrap();
        assert_eq!(engine.running().load(Ordering::Acquire), 1);
        let err = stream.try_collect::<Vec<_>>().await.unwrap_err();
        assert!(err.to_string().contains("task panicked: boom"), "{err}");
        assert_eq!(engine.running().load(Ordering::Acquire), 0);
    }

    #[tokio::test]
    async fn passes_batches_through_and_yields_between_them() {
        let ctx = SessionContext::new();
        let plan = ctx
            .sql("SELECT * FROM (VALUES (1), (2), (3)) t(a)")
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();
        let wrapped = Arc::new(YieldExec::new(plan));
        assert!(wrapped.metrics().is_none());
        let mut stream = wrapped.execute(0, ctx.task_ctx()).unwrap();
        let first = futures::poll!(stream.next());
        assert!(matches!(first, Poll::Ready(Some(Ok(_)))));
        assert!(
            futures::poll!(stream.next()).is_pending(),
            "yields after a batch"
        );
        let rest: Vec<_> = stream.try_collect().await.unwrap();
        assert!(rest.is_empty());
    }
}
