//! Answering queries from reflections: an analyzer rule over logical plans.
//!
//! [`UseReflections`] runs after type coercion. For each `Aggregate` whose input is a
//! chain of projections, filters and aliases over one scan of a table, it traces every
//! group key, filter and aggregate argument back to the table's columns, and tries each
//! fresh aggregate reflection of that table:
//!
//! - group keys and filters must be computable from dimensions: a dimension kept `BY`
//!   a granularity answers `date_trunc` to that unit or a coarser one, and `>=` or `<`
//!   a constant at the start of such a unit;
//! - `SUM` rolls up as the sum of sums, `COUNT(*)` and `COUNT(c)` as the sum of counts
//!   (0, not NULL, when no group is left), `MIN`/`MAX` as the min of mins and max of
//!   maxes, `AVG` as the sum over the count (not for decimals, whose AVG rounds),
//!   `approx_distinct` as the count of the union of the groups' sketches;
//! - anything else (`DISTINCT`, `FILTER`, a column that is not a dimension, a
//!   finer granularity, a measure not kept, a volatile function) keeps the plan as it is.
//!
//! An aggregate over a join of such a table to others (dimension tables) is split
//! first ([`join`]): the part over the table's side is what a reflection answers.
//!
//! A reflection is fresh while its anchor table is the table, at the snapshot, it was
//! built from. Of the reflections that answer, the one with the fewest rows wins. The
//! result has the aggregate's schema, so nothing above it changes.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, Result, ScalarValue};
use datafusion::datasource::{provider_as_source, source_as_provider};
use datafusion::functions::expr_fn::coalesce;
use datafusion::functions_aggregate::expr_fn::{max, min, sum};
use datafusion::logical_expr::expr::{AggregateFunction, ScalarFunction};
use datafusion::logical_expr::{
    Aggregate, Expr, ExprSchemable, LogicalPlan, LogicalPlanBuilder, TableScan, cast, col, lit,
};
use datafusion::optimizer::AnalyzerRule;
use datafusion::sql::TableReference;
use quarry_catalog::reflection::{
    Anchor, Base, Granularity, Kind, MeasureFunction, NAMESPACE, ROW_COUNT_COLUMN,
};
use quarry_catalog::sketch;
use quarry_catalog::table::IcebergTable;

use super::{Materialized, Reflections, join};

/// The rule's name among the analyzer's.
pub const RULE_NAME: &str = "use_reflections";

/// The analyzer rule that answers aggregates from reflections.
#[derive(Debug)]
pub struct UseReflections {
    reflections: Arc<Reflections>,
}

impl UseReflections {
    pub fn new(reflections: Arc<Reflections>) -> Self {
        Self { reflections }
    }
}

impl AnalyzerRule for UseReflections {
    fn analyze(&self, plan: LogicalPlan, config: &ConfigOptions) -> Result<LogicalPlan> {
        if !super::enabled(config) || self.reflections.all().is_empty() {
            return Ok(plan);
        }
        plan.transform_up_with_subqueries(|node| {
            let LogicalPlan::Aggregate(aggregate) = &node else {
                return Ok(Transformed::no(node));
            };
            if let Some(answer) = self.answer(aggregate)? {
                return Ok(Transformed::yes(answer));
            }
            for split in join::split(aggregate)? {
                if let Some(answer) = self.answer(&split.partial)? {
                    return Ok(Transformed::yes(split.finish(answer, aggregate)?));
                }
            }
            Ok(Transformed::no(node))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        RULE_NAME
    }
}

/// What the rule made of one aggregate: the reflections it considered, each used
/// (`Ok`) or not and why (`Err`), and the plan of the one used, if any.
struct Decision {
    considered: Vec<(String, std::result::Result<(), String>)>,
    answer: Option<(LogicalPlan, String)>,
}

impl UseReflections {
    /// The aggregate answered from the smallest reflection that can, if any.
    fn answer(&self, aggregate: &Aggregate) -> Result<Option<LogicalPlan>> {
        let Some(decision) = decide(&self.reflections, aggregate)? else {
            return Ok(None);
        };
        for (name, outcome) in &decision.considered {
            if let Err(why) = outcome {
                tracing::debug!(reflection = %name, "not used: {why}");
            }
        }
        Ok(decision.answer.map(|(plan, _)| plan))
    }
}

/// Decides which reflection, if any, answers `aggregate`; None when it does not read
/// one table that has reflections.
fn decide(reflections: &Reflections, aggregate: &Aggregate) -> Result<Option<Decision>> {
    let Some(lineage) = lineage(&aggregate.input) else {
        return Ok(None);
    };
    let LogicalPlan::TableScan(scan) = lineage.bottom else {
        return Ok(None);
    };
    let Some((anchor, base)) = anchor_of(scan) else {
        return Ok(None);
    };
    let candidates = reflections.of(&anchor);
    if candidates.is_empty() {
        return Ok(None);
    }
    let mut considered = Vec::new();
    let mut best: Option<(u64, LogicalPlan, String, usize)> = None;
    for reflection in candidates {
        let name = reflection.definition.name.clone();
        if !reflection.base.same_state(&base) {
            considered.push((
                name,
                Err("stale: its table changed since it was built".into()),
            ));
            continue;
        }
        match answer_from(&reflection, aggregate, &lineage, scan)? {
            Ok(plan) => {
                let rows = reflection.rows();
                let table = reflection.table.identifier().to_string();
                if best.as_ref().is_none_or(|(fewest, ..)| rows < *fewest) {
                    best = Some((rows, plan, table, considered.len()));
                }
                considered.push((
                    name,
                    Err(format!("another answers from fewer rows than its {rows}")),
                ));
            }
            Err(why) => considered.push((name, Err(why))),
        }
    }
    let answer = best.map(|(_, plan, table, i)| {
        considered[i].1 = Ok(());
        (plan, table)
    });
    Ok(Some(Decision { considered, answer }))
}

/// One line per reflection considered for each aggregate of `plan` (analyzed, but not
/// by [`UseReflections`]), for `EXPLAIN`.
pub fn explain(reflections: &Reflections, plan: &LogicalPlan) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    plan.apply_with_subqueries(|node| {
        let LogicalPlan::Aggregate(aggregate) = node else {
            return Ok(TreeNodeRecursion::Continue);
        };
        let mut decision = decide(reflections, aggregate)?;
        if decision.is_none() {
            // Over a join: what the table's side was answered with, or why not.
            let mut splits = Vec::new();
            for split in join::split(aggregate)? {
                if let Some(d) = decide(reflections, &split.partial)? {
                    splits.push(d);
                }
            }
            decision = splits
                .iter()
                .position(|d| d.answer.is_some())
                .or((!splits.is_empty()).then_some(0))
                .map(|i| splits.swap_remove(i));
        }
        for (name, outcome) in decision.into_iter().flat_map(|d| d.considered) {
            lines.push(match outcome {
                Ok(()) => format!("{name}: used"),
                Err(why) => format!("{name}: not used: {why}"),
            });
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(lines)
}

/// Where an aggregate's input comes from: one table scan or one join (the bottom), the
/// filters applied to its rows, and each input column as an expression over the
/// bottom's columns.
pub(super) struct Lineage<'a> {
    pub bottom: &'a LogicalPlan,
    pub filters: Vec<Expr>,
    pub outputs: Vec<Expr>,
}

pub(super) fn lineage(plan: &LogicalPlan) -> Option<Lineage<'_>> {
    let bottom = |plan| {
        Some(Lineage {
            bottom: plan,
            filters: Vec::new(),
            outputs: LogicalPlan::schema(plan)
                .columns()
                .into_iter()
                .map(Expr::Column)
                .collect(),
        })
    };
    match plan {
        LogicalPlan::TableScan(scan) if scan.filters.is_empty() && scan.fetch.is_none() => {
            bottom(plan)
        }
        LogicalPlan::Join(_) => bottom(plan),
        LogicalPlan::Projection(projection) => {
            let mut lineage = lineage(&projection.input)?;
            let schema = projection.input.schema();
            lineage.outputs = projection
                .expr
                .iter()
                .map(|e| substitute(e.clone().unalias(), schema, &lineage.outputs))
                .collect::<Option<_>>()?;
            Some(lineage)
        }
        LogicalPlan::Filter(filter) => {
            let mut lineage = lineage(&filter.input)?;
            let predicate = substitute(
                filter.predicate.clone(),
                filter.input.schema(),
                &lineage.outputs,
            )?;
            lineage.filters.push(predicate);
            Some(lineage)
        }
        LogicalPlan::SubqueryAlias(alias) => lineage(&alias.input),
        _ => None,
    }
}

/// `expr` over the columns of `schema`, with each column replaced by its expression in
/// `outputs`. None for what cannot move: subqueries, volatile functions.
pub(super) fn substitute(expr: Expr, schema: &DFSchema, outputs: &[Expr]) -> Option<Expr> {
    let unmovable = expr.is_volatile()
        || expr
            .exists(|e| {
                Ok(matches!(
                    e,
                    Expr::ScalarSubquery(_)
                        | Expr::Exists(_)
                        | Expr::InSubquery(_)
                        | Expr::OuterReferenceColumn(..)
                ))
            })
            .unwrap_or(true);
    if unmovable {
        return None;
    }
    expr.transform(|e| match e {
        Expr::Column(c) => {
            let i = schema.index_of_column(&c)?;
            Ok(Transformed::yes(outputs[i].clone()))
        }
        e => Ok(Transformed::no(e)),
    })
    .ok()
    .map(|t| t.data)
}

/// The Iceberg table a scan reads, as an anchor, and its current state.
pub(super) fn anchor_of(scan: &TableScan) -> Option<(Anchor, Base)> {
    let provider = source_as_provider(&scan.source).ok()?;
    let provider = provider.as_any().downcast_ref::<IcebergTable>()?;
    // Only appended rows (an incremental refresh) or an earlier snapshot (time travel)
    // are not the table's state.
    if !provider.is_whole() {
        return None;
    }
    let table = provider.table()?;
    let ident = table.identifier();
    let anchor = Anchor::Table {
        namespace: ident.namespace().join("."),
        table: ident.name().to_string(),
    };
    Some((anchor, Base::of(table)))
}

/// The aggregate answered from `reflection`, or why it cannot be.
fn answer_from(
    reflection: &Materialized,
    aggregate: &Aggregate,
    lineage: &Lineage,
    scan: &TableScan,
) -> Result<std::result::Result<LogicalPlan, String>> {
    let Kind::Aggregate {
        dimensions,
        measures,
    } = &reflection.definition.kind
    else {
        return Ok(Err("a raw reflection".into()));
    };
    let ident = reflection.table.identifier();
    let target = Target {
        name: TableReference::partial(NAMESPACE, ident.name()),
        dimensions: dimensions
            .iter()
            .map(|d| (d.column.as_str(), d.granularity))
            .collect(),
        measures: measures
            .iter()
            .map(|m| (m.column.as_str(), m.functions.as_slice()))
            .collect(),
        scan_schema: &scan.projected_schema,
    };
    let input = aggregate.input.schema();
    let to_base = |e: &Expr| {
        substitute(e.clone(), input, &lineage.outputs)
            .ok_or_else(|| "an expression that cannot be moved".to_string())
    };
    let mut groups = Vec::new();
    for (i, group) in aggregate.group_expr.iter().enumerate() {
        if matches!(group, Expr::GroupingSet(_)) {
            return Ok(Err("grouping sets".into()));
        }
        let translated = match to_base(group).and_then(|e| target.translate(&e)) {
            Ok(e) => e,
            Err(why) => return Ok(Err(why)),
        };
        groups.push(translated.alias(format!("__g{i}")));
    }
    let mut filters = Vec::new();
    for filter in &lineage.filters {
        match target.translate(filter) {
            Ok(e) => filters.push(e),
            Err(why) => return Ok(Err(why)),
        }
    }
    let grouped = !aggregate.group_expr.is_empty();
    let mut rollups = Vec::new();
    let mut outputs: Vec<Expr> = (0..groups.len())
        .map(|i| col(Column::new_unqualified(format!("__g{i}"))))
        .collect();
    for expr in &aggregate.aggr_expr {
        let rolled = match rollup(&target, expr, &to_base, grouped, &mut rollups) {
            Ok(e) => e,
            Err(why) => return Ok(Err(why)),
        };
        outputs.push(rolled);
    }
    let source = IcebergTable::new(reflection.table.clone())
        .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
    let mut plan = LogicalPlanBuilder::scan(
        target.name.clone(),
        provider_as_source(Arc::new(source)),
        None,
    )?;
    if let Some(predicate) = filters.into_iter().reduce(Expr::and) {
        plan = plan.filter(predicate)?;
    }
    let plan = plan.aggregate(groups, rollups)?.build()?;
    Ok(Ok(named_as(plan, outputs, aggregate)?))
}

/// `outputs` (over `plan`) projected with `aggregate`'s own names and types, so that
/// nothing above the aggregate changes when `plan` takes its place.
pub(super) fn named_as(
    plan: LogicalPlan,
    outputs: Vec<Expr>,
    aggregate: &Aggregate,
) -> Result<LogicalPlan> {
    let rolled_schema = Arc::clone(plan.schema());
    let mut named = Vec::new();
    for (i, output) in outputs.into_iter().enumerate() {
        let (qualifier, field) = aggregate.schema.qualified_field(i);
        let data_type = output.get_type(&rolled_schema)?;
        let output = match &data_type == field.data_type() {
            true => output,
            false => cast(output, field.data_type().clone()),
        };
        named.push(output.alias_qualified(qualifier.cloned(), field.name()));
    }
    LogicalPlanBuilder::from(plan).project(named)?.build()
}

/// What a reflection keeps, for translating expressions over its anchor's columns.
struct Target<'a> {
    name: TableReference,
    dimensions: HashMap<&'a str, Option<Granularity>>,
    measures: HashMap<&'a str, &'a [MeasureFunction]>,
    scan_schema: &'a DFSchema,
}

impl Target<'_> {
    fn column(&self, name: &str) -> Expr {
        Expr::Column(Column::new(Some(self.name.clone()), name))
    }

    fn base_type(&self, column: &Column) -> Option<&DataType> {
        self.scan_schema
            .field_with_unqualified_name(&column.name)
            .ok()
            .map(|f| f.data_type())
    }

    /// Whether the reflection keeps `column`'s values as they are: a dimension with no
    /// granularity, or a date kept by day.
    fn kept_whole(&self, column: &Column) -> bool {
        match self.dimensions.get(column.name.as_str()) {
            Some(None) => true,
            Some(Some(Granularity::Day)) => {
                matches!(self.base_type(column), Some(DataType::Date32))
            }
            _ => false,
        }
    }

    /// `expr` (over the anchor's columns) over the reflection's dimensions.
    fn translate(&self, expr: &Expr) -> std::result::Result<Expr, String> {
        let mut why = None;
        let translated = expr
            .clone()
            .transform_down(|e| {
                if let Some(range) = self.aligned_range(&e) {
                    return Ok(Transformed::new(range, true, TreeNodeRecursion::Jump));
                }
                if let Some(truncated) = self.truncation(&e) {
                    return Ok(match truncated {
                        Ok(e) => Transformed::new(e, true, TreeNodeRecursion::Jump),
                        Err(reason) => {
                            why = Some(reason);
                            Transformed::new(e, false, TreeNodeRecursion::Stop)
                        }
                    });
                }
                let Expr::Column(c) = &e else {
                    return Ok(Transformed::no(e));
                };
                if self.kept_whole(c) {
                    return Ok(Transformed::yes(self.column(&c.name)));
                }
                why = Some(match self.dimensions.get(c.name.as_str()) {
                    Some(Some(g)) => format!(
                        "{} is kept BY {}; the query reads it finer",
                        c.name,
                        g.unit().to_uppercase()
                    ),
                    _ => format!("column {} is not a dimension", c.name),
                });
                Ok(Transformed::new(e, false, TreeNodeRecursion::Stop))
            })
            .map_err(|e| e.to_string())?;
        match why {
            Some(why) => Err(why),
            None => Ok(translated.data),
        }
    }

    /// `c >= x` or `c < x` of a dimension kept `BY` a granularity, where `x` is a
    /// constant at the start of a unit of it: the same over the reflection's column,
    /// because a value is at or after such an `x` exactly when its truncation is.
    fn aligned_range(&self, expr: &Expr) -> Option<Expr> {
        use datafusion::logical_expr::{BinaryExpr, Operator};
        let Expr::BinaryExpr(BinaryExpr { left, op, right }) = expr else {
            return None;
        };
        // The column, perhaps cast (to compare with a constant of a finer unit).
        let column_of = |e: &Expr| match e {
            Expr::Column(c) => Some((c.clone(), None)),
            Expr::Cast(cast) => match cast.expr.as_ref() {
                Expr::Column(c) => Some((c.clone(), Some(cast.data_type.clone()))),
                _ => None,
            },
            _ => None,
        };
        let ((column, cast_to), constant, op) = match (column_of(left), column_of(right)) {
            (Some(c), None) => (c, right.as_ref(), *op),
            (None, Some(c)) => (c, left.as_ref(), op.swap()?),
            _ => return None,
        };
        if !matches!(op, Operator::GtEq | Operator::Lt) {
            return None;
        }
        let Some(Some(kept)) = self.dimensions.get(column.name.as_str()) else {
            return None;
        };
        if !aligned(&fold(constant)?, *kept) {
            return None;
        }
        let kept_column = self.column(&column.name);
        let kept_column = match cast_to {
            Some(to) => cast(kept_column, to),
            None => kept_column,
        };
        Some(Expr::BinaryExpr(BinaryExpr::new(
            Box::new(kept_column),
            op,
            Box::new(constant.clone()),
        )))
    }

    /// `date_trunc(unit, c)` (c perhaps cast) of a dimension kept `BY` a granularity:
    /// the same over the reflection's column if the unit is as coarse or coarser.
    fn truncation(&self, expr: &Expr) -> Option<std::result::Result<Expr, String>> {
        let Expr::ScalarFunction(ScalarFunction { func, args }) = expr else {
            return None;
        };
        if func.name() != "date_trunc" || args.len() != 2 {
            return None;
        }
        let unit = match &args[0] {
            Expr::Literal(ScalarValue::Utf8(Some(u)) | ScalarValue::Utf8View(Some(u)), _) => u,
            _ => return None,
        };
        let (column, rewrap): (&Column, Box<dyn Fn(Expr) -> Expr>) = match &args[1] {
            Expr::Column(c) => (c, Box::new(|e| e)),
            Expr::Cast(c) => match c.expr.as_ref() {
                Expr::Column(column) => {
                    let to = c.data_type.clone();
                    (column, Box::new(move |e| cast(e, to.clone())))
                }
                _ => return None,
            },
            _ => return None,
        };
        let Some(Some(kept)) = self.dimensions.get(column.name.as_str()) else {
            return None;
        };
        let Some(asked) = Granularity::from_unit(unit) else {
            return Some(Err(format!("date_trunc to an unknown unit '{unit}'")));
        };
        if !kept.rolls_up_to(asked) {
            return Some(Err(format!(
                "{} is kept BY {}; the query truncates it to {}",
                column.name,
                kept.unit().to_uppercase(),
                asked.unit()
            )));
        }
        Some(Ok(Expr::ScalarFunction(ScalarFunction {
            func: Arc::clone(func),
            args: vec![args[0].clone(), rewrap(self.column(&column.name))],
        })))
    }

    /// The column of the anchor an aggregate reads (perhaps cast), if a plain one.
    fn measured(arg: &Expr) -> Option<&Column> {
        match arg {
            Expr::Column(c) => Some(c),
            Expr::Cast(c) => match c.expr.as_ref() {
                Expr::Column(c) => Some(c),
                _ => None,
            },
            _ => None,
        }
    }

    /// The reflection's column holding `function` of `column`, if it keeps it.
    fn measure(&self, column: &Column, function: MeasureFunction) -> Result<Expr, String> {
        match self.measures.get(column.name.as_str()) {
            Some(kept) if kept.contains(&function) => {
                Ok(self.column(&function.column_name(&column.name)))
            }
            _ => Err(format!(
                "measure {} ({}) is not kept",
                column.name,
                function.sql()
            )),
        }
    }
}

/// The value of a literal, perhaps cast; None for anything else.
fn fold(expr: &Expr) -> Option<ScalarValue> {
    match expr {
        Expr::Literal(value, _) => Some(value.clone()),
        Expr::Cast(c) => fold(&c.expr)?.cast_to(&c.data_type).ok(),
        _ => None,
    }
}

/// Whether a date or a time-zone-less timestamp is the start of a unit of `granularity`.
fn aligned(value: &ScalarValue, granularity: Granularity) -> bool {
    use chrono::{Datelike, Timelike};
    let at = match value {
        ScalarValue::Date32(Some(days)) => {
            chrono::DateTime::from_timestamp(i64::from(*days) * 86_400, 0).map(|t| t.naive_utc())
        }
        ScalarValue::TimestampSecond(Some(v), None) => {
            chrono::DateTime::from_timestamp(*v, 0).map(|t| t.naive_utc())
        }
        ScalarValue::TimestampMillisecond(Some(v), None) => {
            chrono::DateTime::from_timestamp_millis(*v).map(|t| t.naive_utc())
        }
        ScalarValue::TimestampMicrosecond(Some(v), None) => {
            chrono::DateTime::from_timestamp_micros(*v).map(|t| t.naive_utc())
        }
        ScalarValue::TimestampNanosecond(Some(v), None) => {
            Some(chrono::DateTime::from_timestamp_nanos(*v).naive_utc())
        }
        _ => None,
    };
    let Some(at) = at else {
        return false;
    };
    let midnight = at.time() == chrono::NaiveTime::MIN;
    match granularity {
        Granularity::Second => at.nanosecond() == 0,
        Granularity::Minute => at.nanosecond() == 0 && at.second() == 0,
        Granularity::Hour => at.nanosecond() == 0 && at.second() == 0 && at.minute() == 0,
        Granularity::Day => midnight,
        Granularity::Week => midnight && at.weekday() == chrono::Weekday::Mon,
        Granularity::Month => midnight && at.day() == 1,
        Granularity::Quarter => midnight && at.day() == 1 && at.month0() % 3 == 0,
        Granularity::Year => midnight && at.ordinal() == 1,
    }
}

/// One aggregate of the query as a roll-up of the reflection's aggregates: pushes the
/// reflection-side aggregates to `rollups` and returns the expression over them.
fn rollup(
    target: &Target,
    expr: &Expr,
    to_base: &dyn Fn(&Expr) -> std::result::Result<Expr, String>,
    grouped: bool,
    rollups: &mut Vec<Expr>,
) -> std::result::Result<Expr, String> {
    let Expr::AggregateFunction(AggregateFunction { func, params }) = expr.clone().unalias() else {
        return Err(format!("{expr} is not an aggregate function"));
    };
    if params.distinct || params.filter.is_some() || !params.order_by.is_empty() {
        return Err(format!("{} with DISTINCT, FILTER or ORDER BY", func.name()));
    }
    let args = params
        .args
        .iter()
        .map(to_base)
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut push = |e: Expr| {
        let name = format!("__a{}", rollups.len());
        rollups.push(e.alias(&name));
        col(Column::new_unqualified(name))
    };
    let counted = |e: Expr| match grouped {
        true => e,
        false => coalesce(vec![e, lit(0i64)]),
    };
    let name = func.name().to_ascii_lowercase();
    let column = args.first().and_then(Target::measured);
    match (name.as_str(), args.as_slice(), column) {
        ("count", [Expr::Literal(value, _)], _) if !value.is_null() => {
            Ok(counted(push(sum(target.column(ROW_COUNT_COLUMN)))))
        }
        ("count", [_], Some(c)) => {
            let kept = target.measure(c, MeasureFunction::Count)?;
            Ok(counted(push(sum(kept))))
        }
        ("sum", [_], Some(c)) => Ok(push(sum(target.measure(c, MeasureFunction::Sum)?))),
        // The sketch hashes the column's own values: a cast would hash others.
        ("approx_distinct", [Expr::Column(c)], _) => Ok(push(sketch::count(
            target.measure(c, MeasureFunction::ApproxCountDistinct)?,
        ))),
        ("min" | "max", [Expr::Column(c)], _) => {
            let function = match name.as_str() {
                "min" => MeasureFunction::Min,
                _ => MeasureFunction::Max,
            };
            let kept = match target.kept_whole(c) {
                true => target.column(&c.name),
                false => target.measure(c, function)?,
            };
            Ok(push(match function {
                MeasureFunction::Min => min(kept),
                _ => max(kept),
            }))
        }
        ("avg", [arg], Some(c)) => {
            if matches!(
                target.base_type(c),
                Some(DataType::Decimal128(..) | DataType::Decimal256(..))
            ) || matches!(arg, Expr::Cast(cast) if matches!(cast.data_type, DataType::Decimal128(..)))
            {
                return Err(format!("AVG({}) of a decimal rounds as a whole", c.name));
            }
            let total = push(sum(target.measure(c, MeasureFunction::Sum)?));
            let count = push(sum(target.measure(c, MeasureFunction::Count)?));
            Ok(cast(total, DataType::Float64) / cast(count, DataType::Float64))
        }
        _ => Err(format!("{expr} has no roll-up")),
    }
}
