//! The plans of a `MERGE`: the target and source relations, the first step's matches
//! per data file, and the rows of the second step (or of an insert-only `MERGE`), each
//! row with the action of the first clause it satisfies.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, SchemaRef};
use datafusion::common::{Column, JoinType, ScalarValue, TableReference};
use datafusion::config::Dialect;
use datafusion::datasource::provider_as_source;
use datafusion::functions_aggregate::count::count_all;
use datafusion::functions_aggregate::expr_fn::max;
use datafusion::functions_window::expr_fn::row_number;
use datafusion::logical_expr::expr::Case;
use datafusion::logical_expr::expr_fn::when;
use datafusion::logical_expr::{
    Expr, ExprFunctionExt, LogicalPlan, LogicalPlanBuilder, cast as cast_expr, lit,
};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{self, SetExpr, TableFactor};
use iceberg::table::Table;
use quarry_catalog::table::IcebergTable;
use quarry_catalog::table::scan::FILE_COLUMN;
use quarry_catalog::table::write::{CHANGE_COLUMN, change};

use super::clauses::{Action, Clause};
use super::{ACTION, FILE, MATCHES, ROW, SOURCE_MARKER, TARGET_MARKER, TARGET_SCAN};
use crate::error::QuarryError;

/// DataFusion's plan of `SELECT * FROM <source>`: a table, a subquery or `VALUES`,
/// under its alias.
pub(super) async fn plan_source(
    ctx: &SessionContext,
    source: &TableFactor,
) -> Result<LogicalPlan, QuarryError> {
    let state = ctx.state();
    let mut select = state.sql_to_statement("SELECT * FROM source", &Dialect::Generic)?;
    if let DFStatement::Statement(s) = &mut select
        && let ast::Statement::Query(query) = s.as_mut()
        && let SetExpr::Select(body) = query.body.as_mut()
        && let Some(from) = body.from.first_mut()
    {
        from.relation = source.clone();
    }
    crate::names::to_plan(&state, select).await
}

/// `plan`'s columns and one more, `marker`, true on every row.
pub(super) fn with_marker(plan: LogicalPlan, marker: &str) -> Result<LogicalPlan, QuarryError> {
    Ok(with_column(plan, lit(true).alias(marker))?.build()?)
}

/// `plan`'s columns and one more, `column`.
pub(super) fn with_column(
    plan: LogicalPlan,
    column: Expr,
) -> Result<LogicalPlanBuilder, QuarryError> {
    let mut columns: Vec<Expr> = plan
        .schema()
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    columns.push(column);
    Ok(LogicalPlanBuilder::from(plan).project(columns)?)
}

/// The target as of `snapshot` under `qualifier`, with its marker, and, if `with_file`,
/// each row's data file.
pub(super) fn target_plan(
    table: &Table,
    snapshot: Option<i64>,
    qualifier: &TableReference,
    with_file: bool,
) -> Result<LogicalPlan, QuarryError> {
    let provider = match snapshot {
        Some(id) => IcebergTable::at_snapshot(table.clone(), id)?,
        None => IcebergTable::new(table.clone())?,
    };
    let provider = match with_file {
        true => provider.with_file_column(),
        false => provider,
    };
    let scan = LogicalPlanBuilder::scan(TARGET_SCAN, provider_as_source(Arc::new(provider)), None)?
        .alias(qualifier.clone())?
        .build()?;
    with_marker(scan, TARGET_MARKER)
}

/// The first step: per target file with matches, the most matches of one of its rows.
///
/// The target rows that match at all (a semi join, which keeps each once) are numbered
/// within their file and joined again; only they, a small part of the table when a
/// `MERGE` changes a small part, are sorted and counted.
pub(super) fn matches_plan(
    target: LogicalPlan,
    source: LogicalPlan,
    on: Expr,
    qualifier: &TableReference,
) -> Result<LogicalPlan, QuarryError> {
    let file = Expr::Column(Column::new(Some(qualifier.clone()), FILE_COLUMN));
    let row = Expr::Column(Column::new_unqualified(ROW));
    let number = row_number()
        .partition_by(vec![file.clone()])
        .build()?
        .alias(ROW);
    Ok(LogicalPlanBuilder::from(target)
        .join_on(source.clone(), JoinType::LeftSemi, [on.clone()])?
        .window(vec![number])?
        .join_on(source, JoinType::Inner, [on])?
        .aggregate(vec![file.clone(), row], vec![count_all().alias(MATCHES)])?
        .aggregate(
            vec![file.alias(FILE)],
            vec![max(Expr::Column(Column::new_unqualified(MATCHES))).alias(MATCHES)],
        )?
        .build()?)
}

/// `CASE WHEN <clause 1 applies> THEN 1 WHEN .. ELSE 0 END`: the clause a joined row
/// takes, the first whose kind and condition it satisfies.
pub(super) fn action(clauses: &[Clause], target_marker: Option<Expr>) -> Result<Expr, QuarryError> {
    let source = Expr::Column(Column::new_unqualified(SOURCE_MARKER)).is_not_null();
    let mut cases = Vec::new();
    for (i, clause) in clauses.iter().enumerate() {
        let kind = match (clause.matched, &target_marker) {
            (true, Some(target)) => target.clone().is_not_null().and(source.clone()),
            (false, Some(target)) => target.clone().is_null(),
            (_, None) => lit(true),
        };
        let applies = match &clause.condition {
            Some(condition) => kind.and(condition.clone()),
            None => kind,
        };
        cases.push((applies, lit(i as i32 + 1)));
    }
    let mut cases = cases.into_iter();
    let Some((first, then)) = cases.next() else {
        return Ok(lit(0));
    };
    let mut case = when(first, then);
    for (applies, then) in cases {
        case.when(applies, then);
    }
    Ok(case.otherwise(lit(0))?)
}

/// `CASE __quarry_action WHEN i THEN v_i .. ELSE otherwise END`.
pub(super) fn by_action(branches: Vec<(usize, Expr)>, otherwise: Expr) -> Expr {
    if branches.is_empty() {
        return otherwise;
    }
    Expr::Case(Case {
        expr: Some(Box::new(Expr::Column(Column::new_unqualified(ACTION)))),
        when_then_expr: branches
            .into_iter()
            .map(|(i, v)| (Box::new(lit(i as i32 + 1)), Box::new(v)))
            .collect(),
        else_expr: Some(Box::new(otherwise)),
    })
}

/// `plan` with one more column, the action, and only the rows with one (or, if
/// `keep_target`, a target side).
pub(super) fn with_action(
    plan: LogicalPlan,
    action: Expr,
    keep_target: bool,
) -> Result<LogicalPlan, QuarryError> {
    let acted = Expr::Column(Column::new_unqualified(ACTION)).not_eq(lit(0));
    let keep = match keep_target {
        true => Expr::Column(Column::new_unqualified(TARGET_MARKER))
            .is_not_null()
            .or(acted),
        false => acted,
    };
    Ok(with_column(plan, action.alias(ACTION))?
        .filter(keep)?
        .build()?)
}

/// The value clause `i` gives column `c` of type `data_type`, if it gives one.
pub(super) fn value(
    clause: &Clause,
    c: usize,
    data_type: &DataType,
) -> Result<Option<Expr>, QuarryError> {
    Ok(match &clause.action {
        Action::Update(values) => values
            .get(&c)
            .map(|v| cast_expr(v.clone(), data_type.clone())),
        Action::Insert(values) => Some(match values.get(&c) {
            Some(v) => cast_expr(v.clone(), data_type.clone()),
            None => lit(ScalarValue::try_from(data_type)?),
        }),
        Action::Delete => None,
    })
}

/// The second step's rows: the target's (restricted later) outer-joined to the source,
/// each with its new values and its change.
pub(super) fn merged_rows(
    target: LogicalPlan,
    source: LogicalPlan,
    on: Expr,
    clauses: &[Clause],
    (qualifier, schema): (&TableReference, &SchemaRef),
) -> Result<LogicalPlan, QuarryError> {
    let inserts = clauses.iter().any(|c| !c.matched);
    let join = match inserts {
        true => JoinType::Full,
        false => JoinType::Left,
    };
    let joined = LogicalPlanBuilder::from(target)
        .join_on(source, join, [on])?
        .build()?;
    let marker = Expr::Column(Column::new_unqualified(TARGET_MARKER));
    let acted = with_action(joined, action(clauses, Some(marker))?, true)?;
    let mut columns = new_values(clauses, schema, |field| {
        Ok(Expr::Column(Column::new(
            Some(qualifier.clone()),
            field.name(),
        )))
    })?;
    let changes = clauses
        .iter()
        .enumerate()
        .map(|(i, clause)| {
            let code = match clause.action {
                Action::Delete => change::DELETED,
                Action::Update(_) | Action::Insert(_) => change::CHANGED,
            };
            (i, lit(code))
        })
        .collect();
    columns.push(by_action(changes, lit(change::KEPT)).alias(CHANGE_COLUMN));
    Ok(LogicalPlanBuilder::from(acted).project(columns)?.build()?)
}

/// The rows a `MERGE` that only inserts adds: the source rows that match no target
/// row, with the values of the first clause they satisfy.
pub(super) fn inserted_rows(
    target: LogicalPlan,
    source: LogicalPlan,
    on: Expr,
    clauses: &[Clause],
    schema: &SchemaRef,
) -> Result<LogicalPlan, QuarryError> {
    let unmatched = LogicalPlanBuilder::from(source)
        .join_on(target, JoinType::LeftAnti, [on])?
        .build()?;
    let acted = with_action(unmatched, action(clauses, None)?, false)?;
    let columns = new_values(clauses, schema, |field| {
        Ok(lit(ScalarValue::try_from(field.data_type())?))
    })?;
    Ok(LogicalPlanBuilder::from(acted).project(columns)?.build()?)
}

/// Each column of the target `schema`: the value the row's clause gives it, else
/// `otherwise`.
pub(super) fn new_values(
    clauses: &[Clause],
    schema: &SchemaRef,
    otherwise: impl Fn(&Field) -> Result<Expr, QuarryError>,
) -> Result<Vec<Expr>, QuarryError> {
    let mut columns = Vec::new();
    for (c, field) in schema.fields().iter().enumerate() {
        let mut branches = Vec::new();
        for (i, clause) in clauses.iter().enumerate() {
            if let Some(v) = value(clause, c, field.data_type())? {
                branches.push((i, v));
            }
        }
        columns.push(by_action(branches, otherwise(field)?).alias(field.name()));
    }
    Ok(columns)
}
