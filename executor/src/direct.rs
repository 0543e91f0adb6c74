//! Direct runs: a whole plan run on this executor outside any Ballista job, its result
//! streamed back in the answer.
//!
//! This is the scheduler's fast path for small queries (a dashboard's aggregate
//! answered from a reflection in memory): a Ballista job would launch a task, write its
//! output to a shuffle file, report its status and have the result fetched, several
//! round trips for a few kilobytes. Instead the scheduler sends a Flight `DoGet` whose
//! ticket is [`RUN_TICKET`] followed by a Ballista `TaskDefinition` (the physical plan
//! and the session's settings, as a task carries them). The executor decodes it exactly
//! as it decodes a task, runs it with the same engine (reflections read through the
//! memory cache, prompt cancellation, panics turned into errors) and streams the batches
//! back. The client dropping the answer cancels the run.

use std::sync::Arc;

use arrow_flight::encode::{DictionaryHandling, FlightDataEncoderBuilder};
use arrow_flight::error::FlightError;
use ballista_core::serde::BallistaCodec;
use ballista_core::serde::protobuf::TaskDefinition;
use ballista_core::serde::scheduler::from_proto::get_task_definition;
use ballista_executor::executor::Executor;
use datafusion::config::ConfigOptions;
use datafusion::execution::TaskContext;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_optimizer::filter_pushdown::FilterPushdown;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionConfig;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use futures::{Stream, TryStreamExt};
use prost::Message;
use quarry_catalog::codec::RUN_TICKET;
use tonic::Status;

use crate::engine::QuarryExecutionEngine;

/// Runs the plans of direct-run tickets.
pub struct DirectRuns {
    executor: Arc<Executor>,
    engine: Arc<QuarryExecutionEngine>,
    codec: BallistaCodec<LogicalPlanNode, PhysicalPlanNode>,
}

impl DirectRuns {
    /// Runs plans with `executor`'s runtime, functions and settings, on `engine`,
    /// decoding them with `codec`.
    pub fn new(
        executor: Arc<Executor>,
        engine: Arc<QuarryExecutionEngine>,
        codec: BallistaCodec<LogicalPlanNode, PhysicalPlanNode>,
    ) -> Self {
        Self {
            executor,
            engine,
            codec,
        }
    }

    /// The task a ticket carries, if it is a direct-run ticket.
    pub fn task(ticket: &[u8]) -> Option<Result<TaskDefinition, Status>> {
        let encoded = ticket.strip_prefix(RUN_TICKET)?;
        Some(TaskDefinition::decode(encoded).map_err(|e| {
            Status::invalid_argument(format!("a direct run whose task does not decode: {e}"))
        }))
    }

    /// Decodes and starts `task`; its batches follow as Flight data.
    pub fn run(
        &self,
        task: TaskDefinition,
    ) -> Result<impl Stream<Item = Result<arrow_flight::FlightData, Status>> + Send + 'static, Status>
    {
        let query = task.job_id.clone();
        let functions = &self.executor.function_registry;
        let task = get_task_definition(
            task,
            Arc::clone(&self.executor.runtime_producer),
            self.executor.produce_config(),
            functions.scalar_functions.clone(),
            functions.aggregate_functions.clone(),
            functions.window_functions.clone(),
            self.codec.clone(),
        )
        .map_err(|e| Status::invalid_argument(format!("cannot decode the plan: {e}")))?;
        let runtime = self
            .executor
            .produce_runtime(&task.session_config)
            .map_err(|e| Status::internal(e.to_string()))?;
        let context = Arc::new(TaskContext::new(
            Some(format!("direct run of query {query}")),
            task.session_id,
            task.session_config,
            task.function_registry.scalar_functions.clone(),
            task.function_registry.aggregate_functions.clone(),
            task.function_registry.window_functions.clone(),
            runtime,
        ));
        tracing::debug!(query_id = %query, "direct run");
        let plan = with_dynamic_filters(task.plan, context.session_config())
            .map_err(|e| Status::internal(e.to_string()))?;
        let schema = plan.schema();
        let batches = self
            .engine
            .run_plan(plan, context)
            .map_err(|e| Status::internal(e.to_string()))?;
        let data = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            // Keep dictionary columns as they are: the scheduler expects the plan's types.
            .with_dictionary_handling(DictionaryHandling::Resend)
            .build(batches.map_err(|e| FlightError::ExternalError(Box::new(e))))
            .map_err(|e| match e {
                FlightError::ExternalError(e) => Status::internal(e.to_string()),
                e => Status::internal(e.to_string()),
            });
        Ok(data)
    }
}

/// A direct run is a whole plan in one process, where DataFusion's dynamic filters
/// work: a join's build side prunes its probe side's scan while it runs. The scheduler
/// plans without them (in a job, a filter made in one stage cannot reach a scan in
/// another), and the plan's encoding would lose them anyway (datafusion-proto encodes a
/// dynamic filter as its current value), so they are pushed down here, on the decoded
/// plan, as DataFusion's own last optimizer pass would.
fn with_dynamic_filters(
    plan: Arc<dyn ExecutionPlan>,
    config: &SessionConfig,
) -> datafusion::common::Result<Arc<dyn ExecutionPlan>> {
    let mut options = ConfigOptions::clone(config.options());
    let defaults = ConfigOptions::default().optimizer;
    let optimizer = &mut options.optimizer;
    optimizer.enable_dynamic_filter_pushdown = defaults.enable_dynamic_filter_pushdown;
    optimizer.enable_join_dynamic_filter_pushdown = defaults.enable_join_dynamic_filter_pushdown;
    optimizer.enable_topk_dynamic_filter_pushdown = defaults.enable_topk_dynamic_filter_pushdown;
    optimizer.enable_aggregate_dynamic_filter_pushdown =
        defaults.enable_aggregate_dynamic_filter_pushdown;
    FilterPushdown::new_post_optimization().optimize(plan, &options)
}
