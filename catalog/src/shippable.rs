//! [`ShippablePlan`]: a physical optimizer rule, the last of the scheduler's, that turns
//! the plan nodes DataFusion 53's protobuf codec would change in transit into
//! equivalent ones it carries exactly.
//!
//! The codec writes a projection of no columns (`Some([])`) as it writes no projection
//! (`None`: every column) for `FilterExec`, `HashJoinExec`, `NestedLoopJoinExec` and
//! memory scans (apache/datafusion#21871, #23083 and #24085, fixed after 53). An
//! executor then decodes the node with every column, and the plan above it reads the
//! wrong ones: TPC-DS Q9's executors refused its tasks with "Input field name
//! r_reason_sk does not match with the projection expression count(*)". Such a node
//! becomes the same node with every column under a `ProjectionExec` of no columns,
//! which keeps its row count and travels exactly.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::source::{DataSource, DataSourceExec};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::filter::{FilterExec, FilterExecBuilder};
use datafusion::physical_plan::joins::{
    HashJoinExec, NestedLoopJoinExec, NestedLoopJoinExecBuilder,
};
use datafusion::physical_plan::projection::{ProjectionExec, ProjectionExpr};

#[derive(Debug, Default)]
pub struct ShippablePlan;

impl PhysicalOptimizerRule for ShippablePlan {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| match with_every_column(&node)? {
            None => Ok(Transformed::no(node)),
            Some(full) => {
                let none: Vec<ProjectionExpr> = Vec::new();
                Ok(Transformed::yes(Arc::new(ProjectionExec::try_new(
                    none, full,
                )?)))
            }
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "shippable_plan"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

fn is_empty<T: AsRef<[usize]>>(projection: &Option<T>) -> bool {
    projection.as_ref().is_some_and(|p| p.as_ref().is_empty())
}

/// `node` without its projection when that projection keeps no columns, else `None`.
fn with_every_column(node: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let any = node.as_any();
    if let Some(filter) = any.downcast_ref::<FilterExec>() {
        if is_empty(filter.projection()) {
            let full = FilterExecBuilder::from(filter)
                .apply_projection(None)?
                .build()?;
            return Ok(Some(Arc::new(full)));
        }
    } else if let Some(join) = any.downcast_ref::<HashJoinExec>() {
        if is_empty(&join.projection) {
            let full = join.builder().with_projection_ref(None).build()?;
            return Ok(Some(Arc::new(full)));
        }
    } else if let Some(join) = any.downcast_ref::<NestedLoopJoinExec>() {
        if is_empty(join.projection()) {
            let full = NestedLoopJoinExecBuilder::from(join)
                .with_projection_ref(None)
                .build()?;
            return Ok(Some(Arc::new(full)));
        }
    } else if let Some(scan) = any.downcast_ref::<DataSourceExec>()
        && let Some(memory) = scan
            .data_source()
            .as_any()
            .downcast_ref::<MemorySourceConfig>()
        && is_empty(memory.projection())
    {
        let full =
            MemorySourceConfig::try_new(memory.partitions(), memory.original_schema(), None)?
                .with_limit(memory.fetch())
                .with_show_sizes(memory.show_sizes());
        return Ok(Some(DataSourceExec::from_data_source(full)));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::record_batch::RecordBatch;
    use datafusion::physical_expr::expressions::{col, lit};
    use datafusion::physical_plan::collect;
    use datafusion::prelude::SessionContext;
    use datafusion_proto::physical_plan::{AsExecutionPlan, DefaultPhysicalExtensionCodec};
    use datafusion_proto::protobuf::PhysicalPlanNode;

    use super::*;

    /// `plan` after a trip through DataFusion's codec, as an executor decodes it.
    fn shipped(plan: Arc<dyn ExecutionPlan>, ctx: &SessionContext) -> Arc<dyn ExecutionPlan> {
        let codec = DefaultPhysicalExtensionCodec {};
        let proto = PhysicalPlanNode::try_from_physical_plan(plan, &codec).unwrap();
        proto
            .try_into_physical_plan(&ctx.task_ctx(), &codec)
            .unwrap()
    }

    fn memory(rows: i64) -> Arc<dyn ExecutionPlan> {
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(Int64Array::from_iter_values(0..rows))],
        )
        .unwrap();
        MemorySourceConfig::try_new_exec(&[vec![batch]], schema, None).unwrap()
    }

    #[tokio::test]
    async fn nodes_that_keep_no_columns_survive_the_codec() {
        let ctx = SessionContext::new();
        let input = memory(10);
        let predicate = datafusion::physical_expr::expressions::binary(
            col("a", &input.schema()).unwrap(),
            datafusion::logical_expr::Operator::Lt,
            lit(4i64),
            &input.schema(),
        )
        .unwrap();
        let filter: Arc<dyn ExecutionPlan> = Arc::new(
            FilterExecBuilder::new(predicate, Arc::clone(&input))
                .apply_projection(Some(vec![]))
                .unwrap()
                .build()
                .unwrap(),
        );
        let join: Arc<dyn ExecutionPlan> = Arc::new(
            NestedLoopJoinExecBuilder::new(
                memory(2),
                memory(3),
                datafusion::common::JoinType::Inner,
            )
            .with_projection(Some(vec![]))
            .build()
            .unwrap(),
        );
        let scan = MemorySourceConfig::try_new_exec(
            &[vec![
                RecordBatch::try_new(
                    input.schema(),
                    vec![Arc::new(Int64Array::from_iter_values(0..5))],
                )
                .unwrap(),
            ]],
            input.schema(),
            Some(vec![]),
        )
        .unwrap() as Arc<dyn ExecutionPlan>;
        for (plan, rows, all) in [(filter, 4, 1), (join, 6, 2), (scan, 5, 1)] {
            // Without the rule the executor's node has every column: the bug.
            assert_eq!(plan.schema().fields().len(), 0);
            assert_eq!(
                shipped(Arc::clone(&plan), &ctx).schema().fields().len(),
                all
            );
            let fixed = ShippablePlan
                .optimize(plan, &ConfigOptions::default())
                .unwrap();
            let arrived = shipped(fixed, &ctx);
            assert_eq!(arrived.schema().fields().len(), 0);
            let batches = collect(arrived, ctx.task_ctx()).await.unwrap();
            let count: usize = batches.iter().map(RecordBatch::num_rows).sum();
            assert_eq!(count, rows);
        }
    }
}
