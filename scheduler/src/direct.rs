//! Direct runs: a small query runs whole on one executor, without a Ballista job.
//!
//! A Ballista job costs several round trips whatever its size: the job is queued and
//! planned on the scheduler's event loop, its task launched, its output written to a
//! shuffle file, its status reported, and its result fetched. For a dashboard's
//! aggregate answered from a reflection in executor memory that is most of its time.
//! A query whose optimized plan is small ([`crate::small::is_small`]: it reads a
//! reflection, and a few megabytes in all) is planned here instead, with one partition,
//! and sent in one Flight `DoGet` to the executor that holds its reflection files
//! ([`CachePlacement::place_direct`]); the executor runs it and streams the result back
//! in the answer ([`quarry_executor::direct`]). An executor that cannot be reached
//! sends the query back to the job path, which handles lost executors.
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
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::SessionContext;
use datafusion_proto::physical_plan::AsExecutionPlan;
use datafusion_proto::protobuf::PhysicalPlanNode;
use futures::TryStreamExt;
use prost::Message;
use quarry_catalog::codec::{self, RUN_TICKET};
use tonic::Code;
use tonic::transport::{Channel, Endpoint};

use crate::ballista::{BallistaScheduler, MAX_MESSAGE_SIZE};
use crate::error::{QuarryError, clean};
use crate::reflections;

/// Runs small queries directly on an executor.
pub struct DirectRunner {
    ballista: BallistaScheduler,
    /// A channel to each executor's Flight service, by address.
    channels: moka::sync::Cache<String, Channel>,
    /// Queries sent so far.
    runs: AtomicU64,
}

impl DirectRunner {
    pub fn new(ballista: BallistaScheduler) -> Self {
        Self {
            ballista,
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

    /// The physical plan of query `plan` when it is small enough to run directly, with
    /// one partition; `None` for every other plan.
    pub async fn plan(
        ctx: &SessionContext,
        plan: &LogicalPlan,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>, QuarryError> {
        let state = ctx.state();
        // Only a plan over a table with reflections can be small; checked before any
        // optimizing, which the job path does again.
        let candidate = !matches!(
            plan,
            LogicalPlan::Explain(_)
                | LogicalPlan::Analyze(_)
                | LogicalPlan::Dml(_)
                | LogicalPlan::Copy(_)
                | LogicalPlan::Ddl(_)
        ) && reflections::enabled(state.config_options())
            && state
                .config()
                .get_extension::<reflections::Reflections>()
                .is_some_and(|r| r.may_answer(plan));
        if !candidate {
            return Ok(None);
        }
        let optimized = state.optimize(plan)?;
        if !crate::small::is_small(&optimized) {
            return Ok(None);
        }
        let physical = state
            .query_planner()
            .create_physical_plan(&optimized, &state)
            .await?;
        Ok(Some(physical))
    }

    /// Runs `plan` (from [`Self::plan`]) of query `query_id` on an executor and streams
    /// its result; `None` when no executor could be reached.
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
            .map_err(|e| QuarryError::Internal(format!("cannot encode a direct run: {e}")))?;
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
            Err(status) => return Err(QuarryError::Execution(clean(status.message()))),
        };
        tracing::debug!(%executor_id, "direct run");
        self.runs.fetch_add(1, Ordering::Relaxed);
        if let Some(metrics) = crate::metrics::metrics() {
            metrics.direct_run();
        }
        let batches = FlightRecordBatchStream::new_from_flight_data(
            response
                .into_inner()
                .map_err(|e| FlightError::Tonic(Box::new(e))),
        )
        .map_err(|e| {
            let message = match e {
                FlightError::Tonic(status) => clean(status.message()),
                e => e.to_string(),
            };
            DataFusionError::External(Box::new(QuarryError::Execution(message)))
        });
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
            .map_err(|e| QuarryError::Internal(format!("executor address {address}: {e}")))?
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true)
            .connect_lazy();
        self.channels.insert(address.to_string(), channel.clone());
        Ok(channel)
    }
}
