//! Aggregates over a join of a table to others (a fact table joined to dimension
//! tables), split so that a reflection of the table can answer its part.
//!
//! `SELECT p.category, SUM(s.amount) FROM sales s JOIN products p USING (product_id)
//! GROUP BY p.category` is, exactly, the same aggregate over the join of `products` to
//! `SELECT product_id, SUM(amount) FROM sales GROUP BY product_id`: every row of a
//! group of `sales` meets the same rows of `products`, because the groups are made of
//! every column of `sales` that the join, the filters above it and the group keys
//! read. [`split`] builds that partial aggregate of the table's side (which the
//! single-table rule answers from a reflection, or not), and [`Split::finish`] the
//! aggregate above the join: sums of sums and of counts, minimums of minimums, maximums
//! of maximums, averages as the sum over the count.
//!
//! The table's side must keep all its rows through the join (an inner join, or the
//! preserved side of a left or right one): on the other side of an outer join, a row
//! with no match would count once as a row of NULLs and not at all as a group. Only
//! aggregates of the table's own columns split, and the groups must have keys (a
//! partial aggregate without keys has a row even when the table has none).

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Column, Result};
use datafusion::functions::expr_fn::coalesce;
use datafusion::functions_aggregate::expr_fn::{count, max, min, sum};
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::{
    Aggregate, Expr, ExprSchemable, Join, JoinType, LogicalPlan, LogicalPlanBuilder, cast, col, lit,
};

use super::rewrite::{lineage, named_as, substitute};

/// An aggregate over a join, split at one side of the join.
pub(super) struct Split {
    /// The aggregate of the table's side, grouped by every column of it read above.
    pub partial: Aggregate,
    join: Join,
    left: bool,
    /// Over the join's columns: the filters between the join and the aggregate, and
    /// the aggregate's group keys.
    filters: Vec<Expr>,
    groups: Vec<Expr>,
    /// The aggregates above the join (over the partial aggregate's columns), and each
    /// of the aggregate's results as an expression over them.
    finals: Vec<Expr>,
    outputs: Vec<Expr>,
}

/// The ways `aggregate` splits at a side of a join, the left side first; none when its
/// input is not a join or its aggregates do not split.
pub(super) fn split(aggregate: &Aggregate) -> Result<Vec<Split>> {
    let Some(lineage) = lineage(&aggregate.input) else {
        return Ok(Vec::new());
    };
    let LogicalPlan::Join(join) = lineage.bottom else {
        return Ok(Vec::new());
    };
    let input = aggregate.input.schema();
    let Some(groups) = aggregate
        .group_expr
        .iter()
        .map(|g| match g {
            Expr::GroupingSet(_) => None,
            g => substitute(g.clone(), input, &lineage.outputs),
        })
        .collect::<Option<Vec<_>>>()
    else {
        return Ok(Vec::new());
    };
    let mut splits = Vec::new();
    for left in [true, false] {
        let preserved = match join.join_type {
            JoinType::Inner => true,
            JoinType::Left => left,
            JoinType::Right => !left,
            _ => false,
        };
        if !preserved {
            continue;
        }
        let side = if left { &join.left } else { &join.right };
        let Some(parts) = partials(aggregate, &lineage.outputs, side)? else {
            continue;
        };
        // Every column of the side read above the aggregates: its group keys.
        let mut read = Vec::new();
        let on_side = join.on.iter().map(|(l, r)| if left { l } else { r });
        for expr in groups
            .iter()
            .chain(&lineage.filters)
            .chain(on_side)
            .chain(&join.filter)
        {
            for column in expr.column_refs() {
                if side.schema().has_column(column) && !read.contains(column) {
                    read.push(column.clone());
                }
            }
        }
        if read.is_empty() {
            continue;
        }
        let partial = Aggregate::try_new(
            Arc::clone(side),
            read.into_iter().map(Expr::Column).collect(),
            parts.partials,
        )?;
        splits.push(Split {
            partial,
            join: join.clone(),
            left,
            filters: lineage.filters.clone(),
            groups: groups.clone(),
            finals: parts.finals,
            outputs: parts.outputs,
        });
    }
    Ok(splits)
}

/// The partial aggregates of one side, the final ones over them, and the aggregate's
/// results over those.
struct Parts {
    partials: Vec<Expr>,
    finals: Vec<Expr>,
    outputs: Vec<Expr>,
}

/// How the aggregates of `aggregate` split over `side`, or None when one does not.
fn partials(aggregate: &Aggregate, outputs: &[Expr], side: &LogicalPlan) -> Result<Option<Parts>> {
    let input = aggregate.input.schema();
    let grouped = !aggregate.group_expr.is_empty();
    let mut parts = Parts {
        partials: Vec::new(),
        finals: Vec::new(),
        outputs: Vec::new(),
    };
    for expr in &aggregate.aggr_expr {
        let Expr::AggregateFunction(AggregateFunction { func, params }) = expr.clone().unalias()
        else {
            return Ok(None);
        };
        if params.distinct || params.filter.is_some() || !params.order_by.is_empty() {
            return Ok(None);
        }
        let Some(args) = params
            .args
            .iter()
            .map(|a| substitute(a.clone(), input, outputs))
            .collect::<Option<Vec<_>>>()
        else {
            return Ok(None);
        };
        // The arguments must be the side's own columns, or a constant (COUNT(*)).
        if args
            .iter()
            .flat_map(|a| a.column_refs())
            .any(|c| !side.schema().has_column(c))
        {
            return Ok(None);
        }
        let [arg] = args.as_slice() else {
            return Ok(None);
        };
        let (partials, finals) = (&mut parts.partials, &mut parts.finals);
        let mut partial = |e: Expr| push(partials, "__p", e);
        let mut total = |e: Expr| push(finals, "__f", e);
        let output = match func.name().to_ascii_lowercase().as_str() {
            "sum" => {
                let p = partial(sum(arg.clone()));
                total(sum(p))
            }
            "count" => {
                let p = partial(count(arg.clone()));
                let counted = total(sum(p));
                match grouped {
                    true => counted,
                    false => coalesce(vec![counted, lit(0i64)]),
                }
            }
            "min" => {
                let p = partial(min(arg.clone()));
                total(min(p))
            }
            "max" => {
                let p = partial(max(arg.clone()));
                total(max(p))
            }
            "avg"
                if !matches!(
                    arg.get_type(side.schema())?,
                    DataType::Decimal128(..) | DataType::Decimal256(..)
                ) =>
            {
                let s = partial(sum(arg.clone()));
                let n = partial(count(arg.clone()));
                let s = total(sum(s));
                let n = total(sum(n));
                cast(s, DataType::Float64) / cast(n, DataType::Float64)
            }
            _ => return Ok(None),
        };
        parts.outputs.push(output);
    }
    Ok(Some(parts))
}

/// Adds `e` to `list`, named `prefix` and its place, and returns its column.
fn push(list: &mut Vec<Expr>, prefix: &str, e: Expr) -> Expr {
    let name = format!("{prefix}{}", list.len());
    list.push(e.alias(&name));
    col(Column::new_unqualified(name))
}

impl Split {
    /// The aggregate, with `answered` (the partial aggregate's answer, of its schema)
    /// in place of the table's side of the join.
    pub fn finish(self, answered: LogicalPlan, aggregate: &Aggregate) -> Result<LogicalPlan> {
        let join = LogicalPlan::Join(self.join);
        let mut inputs: Vec<LogicalPlan> = join.inputs().into_iter().cloned().collect();
        inputs[if self.left { 0 } else { 1 }] = answered;
        let join = join.with_new_exprs(join.expressions(), inputs)?;
        let mut plan = LogicalPlanBuilder::from(join);
        if let Some(predicate) = self.filters.into_iter().reduce(Expr::and) {
            plan = plan.filter(predicate)?;
        }
        let groups: Vec<Expr> = self
            .groups
            .into_iter()
            .enumerate()
            .map(|(i, g)| g.alias(format!("__g{i}")))
            .collect();
        let mut outputs: Vec<Expr> = (0..groups.len())
            .map(|i| col(Column::new_unqualified(format!("__g{i}"))))
            .collect();
        outputs.extend(self.outputs);
        let plan = plan.aggregate(groups, self.finals)?.build()?;
        named_as(plan, outputs, aggregate)
    }
}
