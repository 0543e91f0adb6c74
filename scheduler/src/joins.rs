//! How joins are planned for plans split into stages: hash joins, and a small build
//! side broadcast to every task of the probe side, only where that is correct.
//!
//! Ballista 53's session defaults plan every join as a sort-merge join over two hash
//! shuffles ([`prefer_hash_join`] off, [`CollectLeft`] thresholds zero), because of
//! apache/datafusion-ballista#1055: in a plan split into tasks, a build side collected
//! once ([`CollectLeft`]) is copied to every task of the probe side, and each task then
//! decides alone which build rows found no match. For the join types that output
//! unmatched build rows (left, full, left semi, anti and mark), each task emits its own
//! copy of them. Quarry turns hash joins and broadcasts back on ([`distributed`]) and
//! keeps that from happening with two rules:
//!
//! - [`PartitionedUnlessSafe`], right after DataFusion's `JoinSelection`: a collected
//!   build side under a join type that is not [`broadcast_safe`] becomes a partitioned
//!   hash join instead, which `EnforceDistribution` then shuffles on the join keys;
//! - [`OneProbeTask`], last: the joins that must collect their build side whatever its
//!   size (the null-aware anti join of `NOT IN`, and nested-loop joins) read their probe
//!   side in one partition when their join type is not broadcast safe, so that one task
//!   sees every probe row.
//!
//! Ballista's own promotion of small joins to broadcasts, which has no such guard in 53,
//! stays off (`ballista.optimizer.broadcast_join_threshold_bytes = 0`); DataFusion's
//! `JoinSelection` chooses from the tables' statistics instead. Dynamic filters are off
//! too: a filter built by a join in one task cannot reach a scan in another, and the
//! protobuf codec ships only a snapshot of it.
//!
//! A plan that runs whole in one process ([`crate::small::single_stage`]) needs neither
//! rule: [`DISTRIBUTED_ONLY`] names them.
//!
//! [`prefer_hash_join`]: datafusion::config::OptimizerOptions::prefer_hash_join
//! [`CollectLeft`]: PartitionMode::CollectLeft

use std::sync::Arc;

use ballista_core::config::BALLISTA_BROADCAST_JOIN_THRESHOLD_BYTES;
use datafusion::common::JoinType;
use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::config::ConfigOptions;
use datafusion::execution::SessionStateBuilder;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::joins::{HashJoinExec, NestedLoopJoinExec, PartitionMode};
use datafusion::prelude::{SessionConfig, SessionContext};

/// Names of the rules a plan run in one process does without.
pub const DISTRIBUTED_ONLY: [&str; 2] = [PartitionedUnlessSafe::NAME, OneProbeTask::NAME];

/// `config` with hash joins, broadcasts of small build sides (DataFusion's thresholds)
/// and no dynamic filters, for plans split into stages.
pub fn distributed(config: SessionConfig) -> SessionConfig {
    let defaults = ConfigOptions::default().optimizer;
    let mut config = config.set_u64(BALLISTA_BROADCAST_JOIN_THRESHOLD_BYTES, 0);
    let optimizer = &mut config.options_mut().optimizer;
    optimizer.prefer_hash_join = true;
    optimizer.hash_join_single_partition_threshold = defaults.hash_join_single_partition_threshold;
    optimizer.hash_join_single_partition_threshold_rows =
        defaults.hash_join_single_partition_threshold_rows;
    optimizer.enable_dynamic_filter_pushdown = false;
    optimizer.enable_join_dynamic_filter_pushdown = false;
    optimizer.enable_topk_dynamic_filter_pushdown = false;
    optimizer.enable_aggregate_dynamic_filter_pushdown = false;
    config
}

/// `ctx` planning joins without hash tables: sort-merge joins, which spill, where
/// [`distributed`] plans hash joins, whose build side cannot (DataFusion 53). A query
/// whose hash join outgrew an executor's memory runs again in it.
pub fn without_hash_joins(ctx: &SessionContext) -> SessionContext {
    let state = ctx.state();
    let mut config = state.config().clone();
    let optimizer = &mut config.options_mut().optimizer;
    optimizer.prefer_hash_join = false;
    optimizer.hash_join_single_partition_threshold = 0;
    optimizer.hash_join_single_partition_threshold_rows = 0;
    SessionContext::new_with_state(
        SessionStateBuilder::new_from_existing(state)
            .with_config(config)
            .build(),
    )
}

/// Whether a join of type `join_type` gives the same rows when its left (build) side is
/// copied whole to several tasks that each read part of its right (probe) side: true
/// when every output row is decided by one probe row.
pub fn broadcast_safe(join_type: JoinType) -> bool {
    matches!(
        join_type,
        JoinType::Inner
            | JoinType::Right
            | JoinType::RightSemi
            | JoinType::RightAnti
            | JoinType::RightMark
    )
}

/// `rules` (a session's physical optimizer rules) with [`PartitionedUnlessSafe`] right
/// after `JoinSelection` and [`OneProbeTask`] at the end.
pub fn with_rules(
    mut rules: Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>>,
) -> Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> {
    let after_selection = rules
        .iter()
        .position(|rule| rule.name() == "join_selection")
        .map_or(0, |i| i + 1);
    rules.insert(after_selection, Arc::new(PartitionedUnlessSafe));
    rules.push(Arc::new(OneProbeTask));
    rules
}

/// Turns a collected build side under a join type that is not [`broadcast_safe`] into
/// a partitioned hash join. The null-aware anti join stays collected: [`OneProbeTask`]
/// handles it.
#[derive(Debug, Default)]
pub struct PartitionedUnlessSafe;

impl PartitionedUnlessSafe {
    const NAME: &str = "quarry_partitioned_unless_broadcast_safe";
}

impl PhysicalOptimizerRule for PartitionedUnlessSafe {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(join) = node.as_any().downcast_ref::<HashJoinExec>() else {
                return Ok(Transformed::no(node));
            };
            if *join.partition_mode() != PartitionMode::CollectLeft
                || join.null_aware
                || broadcast_safe(*join.join_type())
            {
                return Ok(Transformed::no(node));
            }
            let partitioned = join
                .builder()
                .with_partition_mode(PartitionMode::Partitioned)
                .build_exec()?;
            Ok(Transformed::yes(partitioned))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        Self::NAME
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Reads the probe side of a join that must collect its build side, and whose type is
/// not [`broadcast_safe`], in one partition: the null-aware anti join and nested-loop
/// joins.
#[derive(Debug, Default)]
pub struct OneProbeTask;

impl OneProbeTask {
    const NAME: &str = "quarry_one_probe_task";
}

impl PhysicalOptimizerRule for OneProbeTask {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let any = node.as_any();
            let unsafe_collect = if let Some(join) = any.downcast_ref::<HashJoinExec>() {
                *join.partition_mode() == PartitionMode::CollectLeft
                    && !broadcast_safe(*join.join_type())
            } else if let Some(join) = any.downcast_ref::<NestedLoopJoinExec>() {
                !broadcast_safe(*join.join_type())
            } else {
                false
            };
            let children = node.children();
            let probe = match children.as_slice() {
                [_, probe] if unsafe_collect => Arc::clone(*probe),
                _ => return Ok(Transformed::no(node)),
            };
            if probe.properties().output_partitioning().partition_count() <= 1 {
                return Ok(Transformed::no(node));
            }
            let build = Arc::clone(children[0]);
            let one: Arc<dyn ExecutionPlan> = Arc::new(CoalescePartitionsExec::new(probe));
            Ok(Transformed::yes(node.with_new_children(vec![build, one])?))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        Self::NAME
    }

    fn schema_check(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_joins_decided_by_each_probe_row_are_broadcast() {
        let safe: Vec<JoinType> = [
            JoinType::Inner,
            JoinType::Left,
            JoinType::Right,
            JoinType::Full,
            JoinType::LeftSemi,
            JoinType::RightSemi,
            JoinType::LeftAnti,
            JoinType::RightAnti,
            JoinType::LeftMark,
            JoinType::RightMark,
        ]
        .into_iter()
        .filter(|t| broadcast_safe(*t))
        .collect();
        assert_eq!(
            safe,
            [
                JoinType::Inner,
                JoinType::Right,
                JoinType::RightSemi,
                JoinType::RightAnti,
                JoinType::RightMark
            ]
        );
    }

    #[test]
    fn the_rules_sit_after_join_selection_and_last() {
        let defaults = datafusion::physical_optimizer::optimizer::PhysicalOptimizer::new().rules;
        let rules = with_rules(defaults);
        let names: Vec<&str> = rules.iter().map(|r| r.name()).collect();
        let selection = names.iter().position(|n| *n == "join_selection").unwrap();
        assert_eq!(names[selection + 1], PartitionedUnlessSafe::NAME);
        assert_eq!(names.last(), Some(&OneProbeTask::NAME));
    }
}
