//! Answering scans from raw reflections: an optimizer rule.
//!
//! [`UseRawReflections`] runs after DataFusion has pushed projections and filters into
//! table scans, so each scan says which columns it needs. A scan of a table whose
//! fresh raw reflection keeps every one of those columns reads the reflection instead:
//! the same columns under the same names, the same filters (which prune the
//! reflection's own partitions), fewer columns per file. Of several, the one with the
//! fewest rows wins.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::tree_node::Transformed;
use datafusion::datasource::{provider_as_source, source_as_provider};
use datafusion::logical_expr::{LogicalPlan, TableScan};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};
use quarry_catalog::reflection::Kind;
use quarry_catalog::table::IcebergTable;

use super::rewrite::anchor_of;
use super::{Base, Materialized, Reflections};

/// The rule's name among the optimizer's.
pub const RULE_NAME: &str = "use_raw_reflections";

/// The optimizer rule that answers scans from raw reflections.
#[derive(Debug)]
pub struct UseRawReflections {
    reflections: Arc<Reflections>,
}

impl UseRawReflections {
    pub fn new(reflections: Arc<Reflections>) -> Self {
        Self { reflections }
    }
}

impl OptimizerRule for UseRawReflections {
    fn name(&self) -> &str {
        RULE_NAME
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let enabled = super::enabled(&config.options());
        let LogicalPlan::TableScan(scan) = &plan else {
            return Ok(Transformed::no(plan));
        };
        if !enabled {
            return Ok(Transformed::no(plan));
        }
        match self.answer(scan)? {
            Some(answer) => Ok(Transformed::yes(answer)),
            None => Ok(Transformed::no(plan)),
        }
    }
}

impl UseRawReflections {
    /// The scan over the smallest fresh raw reflection that keeps its columns.
    fn answer(&self, scan: &TableScan) -> Result<Option<LogicalPlan>> {
        let Some((anchor, base)) = anchor_of(scan) else {
            return Ok(None);
        };
        let source = scan.source.schema();
        let needed = needed_columns(scan);
        let mut best = None;
        for reflection in self.reflections.of(&anchor) {
            if !matches!(reflection.definition.kind, Kind::Raw { .. })
                || why_not(&reflection, &base, &needed).is_some()
            {
                continue;
            }
            let rows = reflection.rows();
            if best.as_ref().is_none_or(|(fewest, _)| rows < *fewest) {
                best = Some((rows, reflection));
            }
        }
        let Some((_, reflection)) = best else {
            return Ok(None);
        };
        let provider = IcebergTable::new(reflection.table.clone())
            .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
        let kept = datafusion::catalog::TableProvider::schema(&provider);
        // The scan's columns, in its order, as positions in the reflection.
        let wanted: Vec<String> = match &scan.projection {
            Some(indices) => indices
                .iter()
                .map(|&i| source.field(i).name().clone())
                .collect(),
            None => source.fields().iter().map(|f| f.name().clone()).collect(),
        };
        let projection = wanted
            .iter()
            .map(|name| kept.index_of(name))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let answer = TableScan::try_new(
            scan.table_name.clone(),
            provider_as_source(Arc::new(provider)),
            Some(projection),
            scan.filters.clone(),
            scan.fetch,
        )?;
        // The same names and types, or the scan stays as it is.
        let same = answer
            .projected_schema
            .fields()
            .iter()
            .zip(scan.projected_schema.fields())
            .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type());
        if !same {
            return Ok(None);
        }
        Ok(Some(LogicalPlan::TableScan(answer)))
    }
}

/// The columns a scan reads: for its output and its filters.
fn needed_columns(scan: &TableScan) -> HashSet<String> {
    let source = scan.source.schema();
    let mut needed: HashSet<String> = match &scan.projection {
        Some(indices) => indices
            .iter()
            .map(|&i| source.field(i).name().clone())
            .collect(),
        None => source.fields().iter().map(|f| f.name().clone()).collect(),
    };
    for filter in &scan.filters {
        needed.extend(filter.column_refs().into_iter().map(|c| c.name.clone()));
    }
    needed
}

/// Why raw `reflection` cannot answer a scan of its table, now at `base`, that reads
/// `needed`; `None` when it can.
fn why_not(reflection: &Materialized, base: &Base, needed: &HashSet<String>) -> Option<String> {
    let Kind::Raw { display } = &reflection.definition.kind else {
        return Some("not a raw reflection".into());
    };
    if !reflection.base.same_state(base) {
        return Some("stale: its table changed since it was built".into());
    }
    let mut missing: Vec<&String> = needed.iter().filter(|c| !display.contains(c)).collect();
    missing.sort();
    match missing.as_slice() {
        [] => None,
        [one] => Some(format!("column {one} is not displayed")),
        many => Some(format!(
            "columns {} are not displayed",
            many.iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// `EXPLAIN`'s lines for raw reflections over a plan (optimized): each one read, and,
/// for each table the plan still reads itself, why each of its raw reflections is not.
pub fn explain(reflections: &Reflections, plan: &LogicalPlan) -> Vec<String> {
    use datafusion::common::tree_node::TreeNodeRecursion;
    let mut lines: Vec<String> = used(plan)
        .into_iter()
        .map(|name| format!("{name}: used"))
        .collect();
    let _ = plan.apply_with_subqueries(|node| {
        let LogicalPlan::TableScan(scan) = node else {
            return Ok(TreeNodeRecursion::Continue);
        };
        let Some((anchor, base)) = anchor_of(scan) else {
            return Ok(TreeNodeRecursion::Continue);
        };
        let needed = needed_columns(scan);
        for reflection in reflections.of(&anchor) {
            if !matches!(reflection.definition.kind, Kind::Raw { .. }) {
                continue;
            }
            let why = why_not(&reflection, &base, &needed)
                .unwrap_or_else(|| "its columns' types differ from the table's".into());
            lines.push(format!("{}: not used: {why}", reflection.definition.name));
        }
        Ok(TreeNodeRecursion::Continue)
    });
    lines
}

/// The raw reflections a plan (optimized) reads: their names.
pub fn used(plan: &LogicalPlan) -> Vec<String> {
    use datafusion::common::tree_node::TreeNodeRecursion;
    let mut names = Vec::new();
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && let Ok(provider) = source_as_provider(&scan.source)
            && let Some(table) = provider
                .as_any()
                .downcast_ref::<IcebergTable>()
                .and_then(|t| t.table())
            && let Ok(Some((definition, _))) = quarry_catalog::reflection::read_properties(table)
            && matches!(definition.kind, Kind::Raw { .. })
        {
            names.push(definition.name);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    names
}
