//! Row-level changes to Iceberg tables, copy-on-write: `DELETE FROM t [WHERE ..]`,
//! `UPDATE t SET .. [WHERE ..]` and `TRUNCATE t`. A `WHERE` may hold subqueries
//! (`id IN (SELECT ..)`, `EXISTS (..)`), joined to the rows as DataFusion decorrelates
//! them.
//!
//! DataFusion plans the statement (a `Dml` over the filtered scan, and for `UPDATE` the
//! projection of the new rows); [`plan`] turns it into a [`Write`]:
//!
//! - the data files that rows matching the filter may be in are found from Iceberg's
//!   partition values and column bounds (`rewrite::affected_files`), in the snapshot
//!   the statement planned against;
//! - of those, a `DELETE` removes whole the files whose every row its filter matches by
//!   their statistics (`rewrite::wholly_matched`), without reading them;
//! - the others are read (a scan of just those files, spread over the executors) and
//!   written again as new files, each row with a [`CHANGE_COLUMN`] that says whether it
//!   was kept, updated or deleted: the write tasks leave the deleted rows out and count
//!   the changed ones;
//! - one snapshot removes the files read and adds the files written
//!   (`commit::rewrite`), or, if the job fails, nothing changes and the new files go.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchema};
use datafusion::datasource::{provider_as_source, source_as_provider};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::expr_fn::when;
use datafusion::logical_expr::utils::expr_to_columns;
use datafusion::logical_expr::{
    BinaryExpr, DmlStatement, Expr, Filter, LogicalPlan, LogicalPlanBuilder, Operator, WriteOp, lit,
};
use datafusion::optimizer::decorrelate_predicate_subquery::DecorrelatePredicateSubquery;
use datafusion::optimizer::{OptimizerContext, OptimizerRule};
use datafusion::prelude::SessionContext;
use iceberg::table::Table;
use quarry_catalog::table::IcebergTable;
use quarry_catalog::table::rewrite::{affected_files, is_simple, wholly_matched};
use quarry_catalog::table::types;
use quarry_catalog::table::write::{CHANGE_COLUMN, WriteSpec, change};

use crate::error::QuarryError;
use crate::planned::{Commit, Write, insert_plan};

/// Plans a `DELETE` or `UPDATE` of an Iceberg table (or the `EXPLAIN` of one) as the
/// write that carries it out; other plans are returned as they are.
pub async fn plan(
    ctx: &SessionContext,
    plan: LogicalPlan,
) -> Result<Result<Write, LogicalPlan>, QuarryError> {
    if let LogicalPlan::Explain(explain) = &plan {
        if let Ok(write) = Box::pin(self::plan(ctx, explain.plan.as_ref().clone())).await? {
            let mut explain = explain.clone();
            explain.plan = Arc::new(write.plan);
            return Ok(Err(LogicalPlan::Explain(explain)));
        }
        return Ok(Err(plan));
    }
    let LogicalPlan::Dml(dml) = &plan else {
        return Ok(Err(plan));
    };
    let statement = match dml.op {
        WriteOp::Delete => "DELETE",
        WriteOp::Update => "UPDATE",
        WriteOp::Truncate => "TRUNCATE",
        _ => return Ok(Err(plan)),
    };
    let provider = source_as_provider(&dml.target)?;
    let Some(table) = provider
        .as_any()
        .downcast_ref::<IcebergTable>()
        .and_then(IcebergTable::table)
    else {
        return Ok(Err(plan));
    };
    // Types coerced (`amount > 4000` compares doubles), as the scan's pruning needs.
    let state = ctx.state();
    let analyzed =
        state
            .analyzer()
            .execute_and_check(plan.clone(), state.config_options(), |_, _| {})?;
    let LogicalPlan::Dml(dml) = &analyzed else {
        return Ok(Err(plan));
    };
    // TRUNCATE deletes every row: of a scan of the whole table.
    let whole_table =
        LogicalPlanBuilder::scan(dml.table_name.clone(), Arc::clone(&dml.target), None)?.build()?;
    let (assignments, filtered) = match (&dml.op, dml.input.as_ref()) {
        (WriteOp::Update, LogicalPlan::Projection(p)) => (Some(p.expr.clone()), p.input.as_ref()),
        (WriteOp::Truncate, _) => (None, &whole_table),
        _ => (None, dml.input.as_ref()),
    };
    let (predicate, scan) = match filtered {
        LogicalPlan::Filter(filter) => (Some(filter.predicate.clone()), filter.input.as_ref()),
        other => (None, other),
    };
    if !is_scan(scan) {
        return Err(QuarryError::unsupported(format!(
            "{statement} reads only its own table here; a FROM clause or join is not supported (use MERGE)"
        )));
    }
    Ok(Ok(
        change(ctx, table, dml, (predicate, scan), assignments).await?
    ))
}

fn is_subquery(e: &Expr) -> bool {
    matches!(
        e,
        Expr::InSubquery(_) | Expr::Exists(_) | Expr::ScalarSubquery(_)
    )
}

/// Whether `plan` is a scan of one table, aliased or not.
fn is_scan(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::TableScan(_) => true,
        LogicalPlan::SubqueryAlias(alias) => is_scan(&alias.input),
        _ => false,
    }
}

/// The write of a `DELETE` (no `assignments`) or an `UPDATE`, whose rows `predicate`
/// matches (all of them without one) in `scan`.
async fn change(
    ctx: &SessionContext,
    table: &Table,
    dml: &DmlStatement,
    (predicate, scan): (Option<Expr>, &LogicalPlan),
    assignments: Option<Vec<Expr>>,
) -> Result<Write, QuarryError> {
    let metadata = table.metadata();
    let snapshot = metadata.current_snapshot().map(|s| s.snapshot_id());
    let unqualified = predicate.clone().map(unqualify).transpose()?;
    let mut affected = match snapshot {
        Some(id) => affected_files(table, id, unqualified.as_slice()).await?,
        None => Default::default(),
    };
    // A DELETE removes the files its filter matches whole, unread.
    let mut whole = HashSet::new();
    // Files with row-level deletes (another engine's) hold fewer rows than their
    // statistics say: they are read and rewritten, never counted whole.
    let has_deletes = metadata
        .current_snapshot()
        .and_then(|s| s.summary().additional_properties.get("total-delete-files"))
        .is_some_and(|n| n != "0");
    if assignments.is_none() && !has_deletes {
        let matches_all = match &unqualified {
            None => affected.keys().cloned().collect(),
            Some(filter) if is_simple(filter) => {
                let schema = types::query_schema(metadata.current_schema())?;
                let df_schema = DFSchema::try_from(schema.as_ref().clone())?;
                let fails = ctx
                    .state()
                    .create_physical_expr(fails(filter)?, &df_schema)?;
                wholly_matched(&affected, metadata.current_schema(), &schema, fails)?
            }
            Some(_) => Vec::new(),
        };
        whole.extend(matches_all);
    }
    let whole_rows: u64 = whole
        .iter()
        .filter_map(|path| affected.get(path))
        .map(|file| file.record_count())
        .sum();
    let removed: HashSet<String> = affected.keys().cloned().collect();
    affected.retain(|path, _| !whole.contains(path));
    let rewritten: HashSet<String> = affected.into_keys().collect();

    // The rows of the files to rewrite, each with what happened to it.
    let source = match snapshot {
        Some(id) => IcebergTable::files_of(table.clone(), id, Arc::new(rewritten))?,
        None => IcebergTable::new(table.clone())?,
    };
    let input = with_source(scan.clone(), provider_as_source(Arc::new(source)))?;
    let schema = Arc::clone(input.schema());
    let (input, predicate) = match predicate {
        Some(p) if p.exists(|e| Ok(is_subquery(e)))? => {
            let (input, p) = decorrelate(input, p)?;
            (input, Some(p))
        }
        p => (input, p),
    };
    let matched = |then: Expr, otherwise: Expr| -> Result<Expr, QuarryError> {
        Ok(match &predicate {
            Some(p) => when(p.clone(), then).otherwise(otherwise)?,
            None => then,
        })
    };
    let mut columns = Vec::new();
    for (i, (qualifier, field)) in schema.iter().enumerate() {
        let old = Expr::Column(Column::from((qualifier, field)));
        let new = match assignments.as_ref().and_then(|a| a.get(i)) {
            Some(assigned) => {
                let assigned = assigned.clone().unalias();
                match assigned == old {
                    true => old,
                    false => matched(assigned, old)?,
                }
            }
            None => old,
        };
        columns.push(new.alias(field.name()));
    }
    let code = match assignments {
        Some(_) => change::CHANGED,
        None => change::DELETED,
    };
    columns.push(matched(lit(code), lit(change::KEPT))?.alias(CHANGE_COLUMN));
    let rows = LogicalPlanBuilder::from(input).project(columns)?.build()?;

    let mut spec = WriteSpec::for_table(table);
    spec.change_column = true;
    let spec = Arc::new(spec);
    let target = IcebergTable::new(table.clone())?.for_write(Arc::clone(&spec));
    let plan = insert_plan(
        &dml.table_name,
        Arc::new(target),
        InsertOp::Append,
        Arc::new(rows),
    )?;
    Ok(Write {
        plan,
        spec,
        commit: Commit::Rewrite {
            ident: table.identifier().clone(),
            uuid: metadata.uuid(),
            removed,
            whole_rows,
        },
    })
}

/// `input` with what the subqueries of `predicate` (`IN (SELECT ..)`, `EXISTS`) need
/// joined to its rows, and `predicate` over the joined rows. DataFusion's own rule
/// decorrelates them, as mark joins that keep every row of `input` once: the rule
/// rewrites a filter, so the predicate goes in one that lets every row through.
fn decorrelate(input: LogicalPlan, predicate: Expr) -> Result<(LogicalPlan, Expr), QuarryError> {
    let keep_all = Filter::try_new(predicate.or(lit(true)), Arc::new(input))?;
    let rewritten = DecorrelatePredicateSubquery::new()
        .rewrite(LogicalPlan::Filter(keep_all), &OptimizerContext::new())?
        .data;
    if let LogicalPlan::Filter(filter) = rewritten
        && let Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Or,
            ..
        }) = filter.predicate
        && !left.exists(|e| Ok(is_subquery(e)))?
    {
        return Ok((Arc::unwrap_or_clone(filter.input), *left));
    }
    Err(QuarryError::unsupported(
        "this subquery in WHERE cannot be planned here; use MERGE",
    ))
}

/// The filter a row fails `filter` by: it is false, or a column it reads is null.
fn fails(filter: &Expr) -> Result<Expr, QuarryError> {
    let mut columns = HashSet::new();
    expr_to_columns(filter, &mut columns)?;
    let mut columns: Vec<_> = columns.into_iter().collect();
    columns.sort();
    Ok(columns
        .into_iter()
        .fold(Expr::Not(Box::new(filter.clone())), |any, c| {
            any.or(Expr::Column(c).is_null())
        }))
}

/// `expr` with its columns unqualified (the table's own names).
fn unqualify(expr: Expr) -> Result<Expr, QuarryError> {
    Ok(expr
        .transform(|e| match e {
            Expr::Column(c) => Ok(Transformed::yes(Expr::Column(Column::new_unqualified(
                c.name,
            )))),
            e => Ok(Transformed::no(e)),
        })?
        .data)
}

/// The scan `plan` (aliased or not) reading from `source` instead.
fn with_source(
    plan: LogicalPlan,
    source: Arc<dyn datafusion::logical_expr::TableSource>,
) -> Result<LogicalPlan, QuarryError> {
    Ok(match plan {
        LogicalPlan::TableScan(mut scan) => {
            scan.source = source;
            LogicalPlan::TableScan(scan)
        }
        LogicalPlan::SubqueryAlias(alias) => {
            let input = with_source(alias.input.as_ref().clone(), source)?;
            LogicalPlanBuilder::from(input)
                .alias(alias.alias.clone())?
                .build()?
        }
        other => other,
    })
}
