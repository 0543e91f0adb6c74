//! Queries answered from small reflections run as one stage, one task.
//!
//! A Ballista job pays for every stage boundary: tasks launched, shuffle files written,
//! status reported, the next stage launched, shuffle files fetched. For a query over a
//! few megabytes (a dashboard's aggregate answered from a reflection, a look-up in a
//! dimension table) that is most of its time. When a query reads a reflection, every
//! table it reads is an Iceberg table, and their current data files add up to at most
//! [`SMALL_INPUT_BYTES`], [`SmallQueryPlanner`] (the sessions' query planner) plans it
//! with one partition: DataFusion then adds no repartitioning and no merge, so Ballista
//! makes a single stage of one task, on the executor that holds the reflection in
//! memory.
//!
//! Other queries over small tables keep their stages for now, so that they exercise the
//! distributed plan.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::Result;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::source_as_provider;
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::{SessionState, SessionStateBuilder};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};
use quarry_catalog::reflection::NAMESPACE;
use quarry_catalog::table::IcebergTable;

/// The most Parquet bytes a query may read to run as one task.
pub const SMALL_INPUT_BYTES: u64 = 32 << 20;

/// Whether `plan` reads a reflection, every table it reads is an Iceberg table, and
/// their current files add up to at most [`SMALL_INPUT_BYTES`].
pub fn is_small(plan: &LogicalPlan) -> bool {
    let mut total = 0u64;
    let mut small = true;
    let mut reflection = false;
    let _ = plan.apply_with_subqueries(|node| {
        let LogicalPlan::TableScan(scan) = node else {
            return Ok(TreeNodeRecursion::Continue);
        };
        let bytes = source_as_provider(&scan.source)
            .ok()
            .and_then(|provider| {
                let table = provider.as_any().downcast_ref::<IcebergTable>()?;
                let table = table.is_whole().then(|| table.table()).flatten()?;
                reflection |= table.identifier().namespace().to_url_string() == NAMESPACE;
                Some(files_size(table))
            })
            .flatten();
        match bytes {
            Some(bytes) if total + bytes <= SMALL_INPUT_BYTES => {
                total += bytes;
                Ok(TreeNodeRecursion::Continue)
            }
            _ => {
                small = false;
                Ok(TreeNodeRecursion::Stop)
            }
        }
    });
    small && reflection
}

/// The size of the table's current data files, from its snapshot summary (zero for a
/// table with no snapshot yet).
fn files_size(table: &iceberg::table::Table) -> Option<u64> {
    match table.metadata().current_snapshot() {
        None => Some(0),
        Some(snapshot) => snapshot
            .summary()
            .additional_properties
            .get("total-files-size")?
            .parse()
            .ok(),
    }
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
        if state.config().target_partitions() == 1 || !is_small(plan) {
            return planner.create_physical_plan(plan, state).await;
        }
        let config = state.config().clone().with_target_partitions(1);
        let single = SessionStateBuilder::new_from_existing(state.clone())
            .with_config(config)
            .with_session_id(state.session_id().to_string())
            .build();
        planner.create_physical_plan(plan, &single).await
    }
}
