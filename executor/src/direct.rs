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
        let mut config = task.session_config;
        let plan = with_dynamic_filters(task.plan, &mut config)
            .map_err(|e| Status::internal(e.to_string()))?;
        let context = Arc::new(TaskContext::new(
            Some(format!("direct run of query {query}")),
            task.session_id,
            config,
            task.function_registry.scalar_functions.clone(),
            task.function_registry.aggregate_functions.clone(),
            task.function_registry.window_functions.clone(),
            runtime,
        ));
        tracing::debug!(query_id = %query, "direct run");
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
/// dynamic filter as its current value), so they are turned back on here, to their
/// defaults, in the settings the plan runs with (a join fills its filter only when its
/// task's settings allow it) and pushed down on the decoded plan as DataFusion's own
/// last optimizer pass would.
fn with_dynamic_filters(
    plan: Arc<dyn ExecutionPlan>,
    config: &mut SessionConfig,
) -> datafusion::common::Result<Arc<dyn ExecutionPlan>> {
    let defaults = ConfigOptions::default().optimizer;
    let optimizer = &mut config.options_mut().optimizer;
    optimizer.enable_dynamic_filter_pushdown = defaults.enable_dynamic_filter_pushdown;
    optimizer.enable_join_dynamic_filter_pushdown = defaults.enable_join_dynamic_filter_pushdown;
    optimizer.enable_topk_dynamic_filter_pushdown = defaults.enable_topk_dynamic_filter_pushdown;
    optimizer.enable_aggregate_dynamic_filter_pushdown =
        defaults.enable_aggregate_dynamic_filter_pushdown;
    FilterPushdown::new_post_optimization().optimize(plan, config.options())
}

#[cfg(test)]
mod tests {
    use datafusion::physical_plan::{collect, displayable};
    use datafusion::prelude::SessionContext;

    use super::*;

    /// A plan made without dynamic filters (as the scheduler makes it) runs with them:
    /// the small side of a join prunes the row groups of the large side's scan.
    #[tokio::test]
    async fn a_join_prunes_its_probe_side_by_its_build_side() -> datafusion::common::Result<()> {
        let dir = tempfile::tempdir()?;
        let config = SessionConfig::new()
            .with_target_partitions(2)
            .set_bool("datafusion.optimizer.enable_dynamic_filter_pushdown", false);
        let ctx = SessionContext::new_with_config(config);
        for (table, rows) in [("large", 100_000), ("small", 5)] {
            let path = dir.path().join(format!("{table}.parquet"));
            let copy = format!(
                "COPY (SELECT value AS k FROM generate_series(1, {rows})) TO '{}' \
                 STORED AS PARQUET OPTIONS ('format.max_row_group_size' '10000')",
                path.display()
            );
            ctx.sql(&copy).await?.collect().await?;
            ctx.register_parquet(table, path.to_str().unwrap(), Default::default())
                .await?;
        }
        let query = "SELECT count(*) FROM small JOIN large ON small.k = large.k";
        let plan = ctx.sql(query).await?.create_physical_plan().await?;
        assert!(
            !displayable(plan.as_ref())
                .indent(false)
                .to_string()
                .contains("DynamicFilter")
        );

        let mut config = ctx.copied_config();
        let plan = with_dynamic_filters(plan, &mut config)?;
        let task = TaskContext::from(&ctx.state()).with_session_config(config);
        let batches = collect(Arc::clone(&plan), Arc::new(task)).await?;
        let count = batches[0].column(0).as_any();
        let count = count
            .downcast_ref::<datafusion::arrow::array::Int64Array>()
            .unwrap();
        assert_eq!(count.value(0), 5);
        let shown = datafusion::physical_plan::display::DisplayableExecutionPlan::with_metrics(
            plan.as_ref(),
        )
        .indent(false)
        .to_string();
        assert!(
            shown.contains("row_groups_pruned_statistics=10 total → 1 matched"),
            "{shown}"
        );
        Ok(())
    }
}
