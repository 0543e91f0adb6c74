//! The logical plan that computes a reflection's rows from its anchor table, and the
//! checks that the definition fits the table.
//!
//! An aggregate reflection groups by its dimensions (a dimension kept `BY` a
//! granularity is truncated to it) and keeps, per group, the row count
//! ([`ROW_COUNT_COLUMN`]) and each measure's aggregates, one column each
//! ([`MeasureFunction::column_name`]); `APPROX_COUNT_DISTINCT` keeps a HyperLogLog
//! sketch ([`sketch`]). A raw reflection keeps its display columns.
//!
//! After appends to the table, [`merge`] refreshes an aggregate reflection from its
//! rows and an aggregate of the new files only: counts and sums add up, minimums and
//! maximums of the two are taken, sketches are united.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::catalog::TableProvider;
use datafusion::datasource::provider_as_source;
use datafusion::functions::expr_fn::date_trunc;
use datafusion::functions_aggregate::count::count_all;
use datafusion::functions_aggregate::expr_fn::{count, max, min, sum};
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, cast, col, lit};
use datafusion::sql::TableReference;
use quarry_catalog::reflection::{
    Definition, Dimension, Granularity, Kind, MeasureFunction, ROW_COUNT_COLUMN,
};
use quarry_catalog::sketch;

use crate::error::{ErrorKind, QuarryError};

/// The plan of `definition`'s rows over `anchor`, the anchor table as it is now.
pub fn plan(
    definition: &Definition,
    anchor: Arc<dyn TableProvider>,
) -> Result<LogicalPlan, QuarryError> {
    let schema = anchor.schema();
    let name = TableReference::bare("anchor");
    let scan = LogicalPlanBuilder::scan(name, provider_as_source(anchor), None)?;
    let column = |c: &str| -> Result<(Expr, DataType), QuarryError> {
        let field = schema.field_with_name(c).map_err(|_| {
            ErrorKind::UndefinedColumn.error(format!(
                "reflection {} names column {c}, which table {} does not have",
                definition.name, definition.anchor
            ))
        })?;
        Ok((
            col(datafusion::common::Column::new_unqualified(c)),
            field.data_type().clone(),
        ))
    };
    let plan = match &definition.kind {
        Kind::Raw { display } => {
            let columns = display
                .iter()
                .map(|c| column(c).map(|(e, _)| e))
                .collect::<Result<Vec<_>, _>>()?;
            scan.project(columns)?.build()?
        }
        Kind::Aggregate {
            dimensions,
            measures,
        } => {
            let mut groups = Vec::new();
            for dimension in dimensions {
                let (expr, data_type) = column(&dimension.column)?;
                groups.push(dimension_expr(definition, dimension, expr, &data_type)?);
            }
            let mut aggregates = vec![count_all().alias(ROW_COUNT_COLUMN)];
            for measure in measures {
                let (expr, data_type) = column(&measure.column)?;
                for function in &measure.functions {
                    let aggregate = match function {
                        MeasureFunction::Sum if !summable(&data_type) => {
                            return Err(QuarryError::plan(format!(
                                "reflection {}: SUM needs a numeric column; {} is {data_type}",
                                definition.name, measure.column
                            )));
                        }
                        MeasureFunction::Sum => sum(expr.clone()),
                        MeasureFunction::Count => count(expr.clone()),
                        MeasureFunction::Min => min(expr.clone()),
                        MeasureFunction::Max => max(expr.clone()),
                        MeasureFunction::ApproxCountDistinct => sketch::of(expr.clone()),
                    };
                    aggregates.push(aggregate.alias(function.column_name(&measure.column)));
                }
            }
            scan.aggregate(groups, aggregates)?.build()?
        }
    };
    check_names(definition, plan.schema().as_arrow())?;
    if let Some(missing) = definition
        .localsort_by
        .iter()
        .find(|c| plan.schema().as_arrow().field_with_name(c).is_err())
    {
        return Err(QuarryError::plan(format!(
            "reflection {}: LOCALSORT BY names {missing}, which it does not keep \
             (a dimension, or a display column)",
            definition.name
        )));
    }
    Ok(plan)
}

/// The rows of `definition` (an aggregate) as `kept` (its materialization) merged
/// with `appended` (the rows its table gained since), in `kept`'s column types.
pub fn merge(
    definition: &Definition,
    kept: Arc<dyn TableProvider>,
    appended: Arc<dyn TableProvider>,
) -> Result<LogicalPlan, QuarryError> {
    let Kind::Aggregate {
        dimensions,
        measures,
    } = &definition.kind
    else {
        return Err(QuarryError::internal("only aggregates merge"));
    };
    let schema = kept.schema();
    let fresh = plan(definition, appended)?;
    // The new rows' columns in the kept ones' order and types.
    let recast = schema
        .fields()
        .iter()
        .map(|f| {
            cast(
                col(datafusion::common::Column::new_unqualified(f.name())),
                f.data_type().clone(),
            )
            .alias(f.name())
        })
        .collect::<Vec<_>>();
    let fresh = LogicalPlanBuilder::from(fresh).project(recast)?.build()?;
    let union = LogicalPlanBuilder::scan("kept", provider_as_source(kept), None)?
        .union(fresh)?
        .build()?;
    let column = |name: &str| col(datafusion::common::Column::new_unqualified(name));
    let groups: Vec<Expr> = dimensions.iter().map(|d| column(&d.column)).collect();
    let mut aggregates = vec![sum(column(ROW_COUNT_COLUMN)).alias(ROW_COUNT_COLUMN)];
    for measure in measures {
        for function in &measure.functions {
            let name = function.column_name(&measure.column);
            let merged = match function {
                MeasureFunction::Sum | MeasureFunction::Count => sum(column(&name)),
                MeasureFunction::Min => min(column(&name)),
                MeasureFunction::Max => max(column(&name)),
                MeasureFunction::ApproxCountDistinct => sketch::union(column(&name)),
            };
            aggregates.push(merged.alias(name));
        }
    }
    let merged = LogicalPlanBuilder::from(union)
        .aggregate(groups, aggregates)?
        .build()?;
    // Sums widen their type; the materialization keeps its own.
    let recast = schema
        .fields()
        .iter()
        .map(|f| cast(column(f.name()), f.data_type().clone()).alias(f.name()))
        .collect::<Vec<_>>();
    Ok(LogicalPlanBuilder::from(merged).project(recast)?.build()?)
}

/// A dimension's column, truncated to its granularity. A date kept by day is the date
/// itself; a date kept more coarsely stays a date.
fn dimension_expr(
    definition: &Definition,
    dimension: &Dimension,
    expr: Expr,
    data_type: &DataType,
) -> Result<Expr, QuarryError> {
    let Some(granularity) = dimension.granularity else {
        return Ok(expr);
    };
    let expr = match data_type {
        DataType::Date32 | DataType::Date64 if granularity <= Granularity::Day => {
            if granularity < Granularity::Day {
                return Err(QuarryError::plan(format!(
                    "reflection {}: {} is a date; keep it BY DAY or coarser",
                    definition.name, dimension.column
                )));
            }
            expr
        }
        DataType::Date32 | DataType::Date64 => {
            cast(date_trunc(lit(granularity.unit()), expr), data_type.clone())
        }
        DataType::Timestamp(_, _) => date_trunc(lit(granularity.unit()), expr),
        other => {
            return Err(QuarryError::plan(format!(
                "reflection {}: {} BY {} needs a date or timestamp column; it is {other}",
                definition.name,
                dimension.column,
                granularity.unit().to_uppercase()
            )));
        }
    };
    Ok(expr.alias(&dimension.column))
}

fn summable(data_type: &DataType) -> bool {
    data_type.is_numeric()
}

/// Refuses a definition whose columns would clash (a column kept twice).
fn check_names(definition: &Definition, schema: &Schema) -> Result<(), QuarryError> {
    let mut seen = std::collections::HashSet::new();
    for field in schema.fields() {
        if !seen.insert(field.name()) {
            return Err(QuarryError::plan(format!(
                "reflection {} keeps {} twice",
                definition.name,
                field.name()
            )));
        }
    }
    Ok(())
}
