//! Direct runs: a query that reads little runs whole on one executor, as a single
//! stage, without a Ballista job.
//!
//! A Ballista job costs several round trips whatever its size: the job is queued and
//! planned on the scheduler's event loop, its task launched, its output written to a
//! shuffle file, its status reported, and its result fetched; and every stage boundary
//! of a larger plan costs as much again, with its data shuffled through files. For a
//! dashboard's aggregate answered from a reflection in executor memory, or any query
//! over a few hundred megabytes, that is most of its time, and one executor does the
//! work as fast. Such a query ([`crate::small`]) is planned here instead, as one
//! process would plan it, and sent in one Flight `DoGet` to an executor (the one that
//! holds its reflection files, else the next in turn: [`CachePlacement::place_direct`]);
//! the executor runs it and streams the result back in the answer
//! ([`quarry_executor::direct`]). An executor that cannot be reached sends the query
//! back to the job path, which handles lost executors.
//!
//! [`CachePlacement::place_direct`]: crate::placement::CachePlacement::place_direct
//! [`quarry_executor::direct`]: ../../quarry_executor/direct/index.html

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arrow_flight::Ticket;
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_client::FlightServiceClient;
use ballista_core::extension::SessionConfigHelperExt;
use ballista_core::serde::protobuf::TaskDefinition;
use bytesize::ByteSize;
use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, SessionState};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{ExecutionPlan, displayable};
use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};
use datafusion::prelude::SessionContext;
use datafusion_proto::physical_plan::AsExecutionPlan;
use datafusion_proto::protobuf::PhysicalPlanNode;
use futures::{StreamExt, TryStreamExt};
use prost::Message;
use quarry_catalog::codec::{self, RUN_TICKET};
use tonic::Code;
use tonic::transport::{Channel, Endpoint};

use crate::ballista::{BallistaScheduler, MAX_MESSAGE_SIZE};
use crate::error::{ErrorKind, QuarryError};
use crate::metrics::Metrics;
use crate::reflections;
use crate::settings::QuarryOptions;
use crate::small;

/// Runs small queries directly on an executor.
pub struct DirectRunner {
    ballista: BallistaScheduler,
    /// A channel to each executor's Flight service, by address.
    channels: moka::sync::Cache<String, Channel>,
    /// Queries sent so far.
    runs: AtomicU64,
    metrics: Arc<Metrics>,
}

impl DirectRunner {
    /// Runs small queries on `ballista`'s executors, counting them in `metrics`.
    pub fn new(ballista: BallistaScheduler, metrics: Arc<Metrics>) -> Self {
        Self {
            ballista,
            metrics,
            channels: moka::sync::Cache::builder()
                .time_to_idle(Duration::from_secs(600))
                .build(),
            runs: AtomicU64::new(0),
        }
    }

    /// How many queries this runner has sent to executors.
    pub fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }

    /// The physical plan of query `plan` when it runs directly: a small query answered
    /// from reflections ([`small::is_small`]), in one partition, or any query that reads
    /// at most the session's `quarry.single_stage_max_bytes`, planned for one process
    /// ([`small::single_stage`]). `None` for every other plan: it runs as a job.
    pub async fn plan(
        &self,
        ctx: &SessionContext,
        plan: &LogicalPlan,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>, QuarryError> {
        if matches!(
            plan,
            LogicalPlan::Explain(_)
                | LogicalPlan::Analyze(_)
                | LogicalPlan::Dml(_)
                | LogicalPlan::Copy(_)
                | LogicalPlan::Ddl(_)
        ) {
            return Ok(None);
        }
        let state = ctx.state();
        let limit = QuarryOptions::of(state.config_options()).single_stage_max_bytes;
        // Only a reflection rewrite changes which tables a plan reads: a plan that reads
        // too much, or files of unknown size, can still be small when reflections
        // answer it.
        let reflective = reflections::enabled(state.config_options())
            && state
                .config()
                .get_extension::<reflections::Reflections>()
                .is_some_and(|r| r.may_answer(plan));
        // Otherwise the plan is optimized here only when it may run directly (the job
        // path optimizes again): every column of its tables is an upper bound of what
        // it reads once projections reach the scans.
        if !reflective && (limit == 0 || small::input_bytes(plan).await.is_none()) {
            return Ok(None);
        }
        let optimized = state.optimize(plan)?;
        let Some(input) = small::scanned(&optimized).await else {
            return Ok(None);
        };
        if input.is_small() {
            let one = small::one_partition(&state);
            let physical = DefaultPhysicalPlanner::default()
                .create_physical_plan(&optimized, &one)
                .await?;
            return Ok(Some(physical));
        }
        if limit == 0 || input.bytes > limit {
            return Ok(None);
        }
        let single = small::single_stage(&state, self.partitions(&state).await);
        let physical = DefaultPhysicalPlanner::default()
            .create_physical_plan(&optimized, &single)
            .await?;
        Ok(Some(physical))
    }

    /// The `quarry` row of an `EXPLAIN` of `plan`: whether the query runs as a Ballista
    /// job (the plans above) or whole on one executor, why, and then the plan it runs.
    /// `None` for any other statement.
    pub async fn explain_row(
        &self,
        ctx: &SessionContext,
        plan: &LogicalPlan,
    ) -> Result<Option<RecordBatch>, QuarryError> {
        let LogicalPlan::Explain(explain) = plan else {
            return Ok(None);
        };
        let limit = QuarryOptions::of(ctx.state().config_options()).single_stage_max_bytes;
        let input = small::input_bytes(&ctx.state().optimize(&explain.plan)?).await;
        let text = match self.plan(ctx, &explain.plan).await? {
            Some(physical) => format!(
                "runs whole on one executor, as one stage without a Ballista job:\n{}",
                displayable(physical.as_ref()).indent(true)
            ),
            None if limit == 0 => {
                "runs as a Ballista job: single stages are off (quarry.single_stage_max_bytes = 0)"
                    .to_string()
            }
            None => match input {
                Some(bytes) if bytes > limit => format!(
                    "runs as a Ballista job: the columns it reads of Iceberg data files take {}, more than \
                     quarry.single_stage_max_bytes ({})",
                    ByteSize(bytes),
                    ByteSize(limit)
                ),
                Some(_) => "runs as a Ballista job".to_string(),
                None => "runs as a Ballista job: it reads files whose size is known only \
                         when it runs"
                    .to_string(),
            },
        };
        let batch = RecordBatch::try_new(
            Arc::clone(explain.schema.inner()),
            vec![
                Arc::new(StringArray::from(vec!["quarry"])),
                Arc::new(StringArray::from(vec![text])),
            ],
        )
        .map_err(|e| QuarryError::internal(format!("an EXPLAIN row: {e}")))?;
        Ok(Some(batch))
    }

    /// The partitions of a single-stage plan: the session's (one per task slot of the
    /// cluster), but at most twice the slots of the largest executor, which runs the
    /// whole plan.
    async fn partitions(&self, state: &SessionState) -> usize {
        let largest = self
            .ballista
            .executors()
            .await
            .into_iter()
            .map(|(_, slots)| slots)
            .max();
        let session = state.config().target_partitions();
        largest.map_or(session, |slots| session.min(2 * slots.max(1)))
    }

    /// Runs `plan` (from [`Self::plan`]) of query `query_id` on an executor and streams
    /// its result; `None` when it cannot run directly: no executor could be reached, or
    /// it needs more memory than one executor may use.
    pub async fn run(
        &self,
        ctx: &SessionContext,
        plan: Arc<dyn ExecutionPlan>,
        query_id: &str,
    ) -> Result<Option<SendableRecordBatchStream>, QuarryError> {
        let executors = self.ballista.serving_executors().await;
        let ids: Vec<String> = executors.iter().map(|(id, _)| id.clone()).collect();
        let Some(chosen) = self.ballista.placement.place_direct(&plan, &ids) else {
            return Ok(None);
        };
        let Some((executor_id, address)) = executors.iter().find(|(id, _)| id == chosen) else {
            return Ok(None);
        };
        let schema = plan.schema();
        let encoded = PhysicalPlanNode::try_from_physical_plan(
            Arc::clone(&plan),
            codec::physical_codec().as_ref(),
        )?;
        let task = TaskDefinition {
            job_id: query_id.to_string(),
            plan: encoded.encode_to_vec(),
            session_id: ctx.session_id(),
            props: ctx.state().config().to_key_value_pairs(),
            ..TaskDefinition::default()
        };
        let mut ticket = RUN_TICKET.to_vec();
        task.encode(&mut ticket)
            .map_err(|e| QuarryError::internal(format!("cannot encode a direct run: {e}")))?;
        let channel = self.channel(address)?;
        let mut client = FlightServiceClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_SIZE as usize)
            .max_encoding_message_size(MAX_MESSAGE_SIZE as usize);
        let response = match client.do_get(Ticket::new(ticket)).await {
            Ok(response) => response,
            Err(status) if status.code() == Code::Unavailable => {
                tracing::warn!(%executor_id, "cannot reach the executor for a direct run: {}", status.message());
                self.channels.invalidate(address);
                return Ok(None);
            }
            Err(status) => return Err(crate::error::status::error(&status)),
        };
        tracing::debug!(%executor_id, "direct run");
        self.runs.fetch_add(1, Ordering::Relaxed);
        self.metrics.direct_run();
        let mut batches = FlightRecordBatchStream::new_from_flight_data(
            response
                .into_inner()
                .map_err(|e| FlightError::Tonic(Box::new(e))),
        )
        .map_err(|e| {
            let error = match e {
                FlightError::Tonic(status) => crate::error::status::error(&status),
                e => ErrorKind::Execution.error(e.to_string()),
            };
            DataFusionError::External(Box::new(error))
        });
        // Hash joins build before the first batch: a query that needs more memory than
        // one executor may use fails here, and the job path, which spreads it over the
        // cluster and can fall back to joins that spill, takes it.
        let first = batches.next().await;
        if let Some(Err(DataFusionError::External(e))) = &first
            && let Some(error) = e.downcast_ref::<QuarryError>()
            && error.kind() == ErrorKind::OutOfMemory
        {
            let why = error.message();
            tracing::warn!(%executor_id, "a direct run needs more memory ({why}): running it as a job");
            return Ok(None);
        }
        let batches = futures::stream::iter(first).chain(batches);
        Ok(Some(Box::pin(RecordBatchStreamAdapter::new(
            schema, batches,
        ))))
    }

    /// The channel to the Flight service at `address`, connected on first use and kept.
    fn channel(&self, address: &str) -> Result<Channel, QuarryError> {
        if let Some(channel) = self.channels.get(address) {
            return Ok(channel);
        }
        let channel = Endpoint::from_shared(address.to_string())
            .map_err(|e| QuarryError::internal(format!("executor address {address}: {e}")))?
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true)
            .connect_lazy();
        self.channels.insert(address.to_string(), channel.clone());
        Ok(channel)
    }
}
