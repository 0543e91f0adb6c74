//! Queries over little data run as a single stage: how much a plan reads, by its
//! tables' statistics, and how such a plan is planned.
//!
//! A Ballista job pays for every stage boundary: tasks launched, shuffle files written,
//! status reported, the next stage launched, shuffle files fetched. For a query that
//! reads little, that is most of its time, and one executor does the work as fast as
//! the cluster would. Two sizes of "little":
//!
//! - [`is_small`]: a query answered from a reflection, reading at most
//!   [`SMALL_INPUT_BYTES`] in all. [`SmallQueryPlanner`] (the sessions' query planner)
//!   plans it with one partition: no repartitioning and no merge, one task, on the
//!   executor that holds the reflection in memory.
//! - [`input_bytes`] up to the session's `quarry.single_stage_max_bytes`: the query is
//!   planned by [`single_stage`] with DataFusion's own choices for one process (a small
//!   build side collected once whatever the join type, round-robin repartitioning),
//!   and runs whole on one executor.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::Result;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::config::ConfigOptions;
use datafusion::datasource::source_as_provider;
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::{SessionState, SessionStateBuilder};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};
use quarry_catalog::reflection::NAMESPACE;
use quarry_catalog::table::IcebergTable;
use quarry_catalog::table::scan::column_bytes;

use crate::joins;

/// The most Parquet bytes a query may read to run as one task.
pub const SMALL_INPUT_BYTES: u64 = 32 << 20;

/// Whether `plan` reads a reflection, every table it reads is an Iceberg table, and
/// their columns it reads add up to at most [`SMALL_INPUT_BYTES`].
pub async fn is_small(plan: &LogicalPlan) -> bool {
    scanned(plan).await.is_some_and(|input| input.is_small())
}

/// The bytes `plan` reads by its tables' statistics: the sizes the manifests record
/// for the columns each scan reads, in the current data files of the Iceberg tables it
/// scans (every column of a scan before projections are pushed into it). `None` when
/// it scans anything else (a file path, a listing of files), whose size is not known
/// before it runs.
pub async fn input_bytes(plan: &LogicalPlan) -> Option<u64> {
    scanned(plan).await.map(|input| input.bytes)
}

/// What a plan reads.
pub struct Input {
    /// The bytes of the columns it reads, by the manifests.
    pub bytes: u64,
    /// Whether it reads a reflection.
    pub reflection: bool,
}

impl Input {
    /// Whether the plan is small: see [`is_small`].
    pub fn is_small(&self) -> bool {
        self.reflection && self.bytes <= SMALL_INPUT_BYTES
    }
}

/// What `plan` reads, when it reads only whole Iceberg tables (as they are now, or at
/// a snapshot a time-travel clause named).
pub async fn scanned(plan: &LogicalPlan) -> Option<Input> {
    let mut scans = Some(Vec::new());
    let _ = plan.apply_with_subqueries(|node| {
        let LogicalPlan::TableScan(scan) = node else {
            return Ok(TreeNodeRecursion::Continue);
        };
        let table = source_as_provider(&scan.source).ok().and_then(|provider| {
            let table = provider.as_any().downcast_ref::<IcebergTable>()?;
            let whole = table.is_whole() || table.snapshot_id().is_some();
            whole.then(|| Some((table.table()?.clone(), table.snapshot_id())))?
        });
        match (table, scans.as_mut()) {
            (Some(table), Some(scans)) => {
                scans.push((table, scan.projection.clone()));
                Ok(TreeNodeRecursion::Continue)
            }
            _ => {
                scans = None;
                Ok(TreeNodeRecursion::Stop)
            }
        }
    });
    let mut input = Input {
        bytes: 0,
        reflection: false,
    };
    for ((table, at), projection) in scans? {
        input.reflection |= table.identifier().namespace().to_url_string() == NAMESPACE;
        let bytes = column_bytes(&table, at, projection.as_deref()).await.ok()?;
        input.bytes = input.bytes.saturating_add(bytes);
    }
    Some(input)
}

/// `state` set up to plan a query that runs whole in one process, in `partitions`
/// partitions: with round-robin repartitioning (which Ballista turns off for plans
/// split into stages), and without the rules of [`joins::DISTRIBUTED_ONLY`], so that
/// a small build side is collected once whatever the join type.
pub fn single_stage(state: &SessionState, partitions: usize) -> SessionState {
    let round_robin = ConfigOptions::default()
        .optimizer
        .enable_round_robin_repartition;
    let config = state
        .config()
        .clone()
        .with_target_partitions(partitions.max(1))
        .with_round_robin_repartition(round_robin);
    let rules = state
        .physical_optimizers()
        .iter()
        .filter(|rule| !joins::DISTRIBUTED_ONLY.contains(&rule.name()))
        .map(Arc::clone)
        .collect();
    SessionStateBuilder::new_from_existing(state.clone())
        .with_config(config)
        .with_physical_optimizer_rules(rules)
        .with_session_id(state.session_id().to_string())
        .build()
}

/// DataFusion's physical planner, planning small queries ([`is_small`]) with one
/// partition. It sees the plan after the analyzer and optimizer, so after the rewrites
/// that answer it from reflections.
#[derive(Debug, Default)]
pub struct SmallQueryPlanner;

#[async_trait]
impl QueryPlanner for SmallQueryPlanner {
    async fn create_physical_plan(
        &self,
        plan: &LogicalPlan,
        state: &SessionState,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let planner = DefaultPhysicalPlanner::default();
        if state.config().target_partitions() == 1 || !is_small(plan).await {
            return planner.create_physical_plan(plan, state).await;
        }
        planner
            .create_physical_plan(plan, &one_partition(state))
            .await
    }
}

/// `state` set up to plan a small query ([`is_small`]): in one partition.
pub fn one_partition(state: &SessionState) -> SessionState {
    let config = state.config().clone().with_target_partitions(1);
    SessionStateBuilder::new_from_existing(state.clone())
        .with_config(config)
        .with_session_id(state.session_id().to_string())
        .build()
}
