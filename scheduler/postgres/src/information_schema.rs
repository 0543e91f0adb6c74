//! `information_schema.columns` as PostgreSQL shows it. DataFusion's view names Arrow
//! types (`Int64`, `Utf8`) and counts `ordinal_position` from 0; PostgreSQL clients and
//! BI tools read SQL type names (`bigint`, `text`, `timestamp with time zone`), a
//! `udt_name` (`int8`) and positions from 1. In a PostgreSQL session the view is read
//! through a subquery that translates those columns; `schemata` and `tables` already
//! match. The views of constraints (`table_constraints`, `key_column_usage`, ...), which
//! DataFusion does not have, are read as queries of their columns with no rows: Quarry's
//! tables have no keys.

use std::str::FromStr;

use datafusion::arrow::datatypes::DataType as ArrowType;
use datafusion::common::{Result, ScalarValue, TableReference, plan_datafusion_err};
use datafusion::logical_expr::planner::{
    PlannedRelation, RelationPlanner, RelationPlannerContext, RelationPlanning,
};
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, cast, col, lit};
use datafusion::sql::sqlparser::ast::{ObjectName, ObjectNamePart, TableFactor};
use pgwire::api::Type;

use super::types::pg_type;

/// The function that turns DataFusion's `data_type` into PostgreSQL's.
pub const DATA_TYPE_FUNCTION: &str = "quarry_pg_data_type";
/// The function that turns DataFusion's `data_type` into PostgreSQL's `udt_name`.
pub const UDT_NAME_FUNCTION: &str = "quarry_pg_udt_name";

/// Plans reads of `information_schema.columns` and of the views of constraints as
/// PostgreSQL shows them; registered on PostgreSQL sessions.
#[derive(Debug)]
pub struct PostgresInformationSchema;

impl RelationPlanner for PostgresInformationSchema {
    fn plan_relation(
        &self,
        relation: TableFactor,
        context: &mut dyn RelationPlannerContext,
    ) -> Result<RelationPlanning> {
        let TableFactor::Table {
            name,
            alias,
            args: None,
            version: None,
            ..
        } = &relation
        else {
            return Ok(RelationPlanning::Original(Box::new(relation)));
        };
        let Some(view) = information_schema_view(name) else {
            return Ok(RelationPlanning::Original(Box::new(relation)));
        };
        let plan = match CONSTRAINT_VIEWS.iter().find(|(name, _)| *name == view) {
            Some((_, columns)) => no_constraints(columns)?,
            None if view == "columns" => columns_view(context)?,
            None => return Ok(RelationPlanning::Original(Box::new(relation))),
        };
        // Named as the view, as a table without an alias is.
        let plan = LogicalPlanBuilder::from(plan).alias(view)?.build()?;
        Ok(RelationPlanning::Planned(Box::new(PlannedRelation::new(
            plan,
            alias.clone(),
        ))))
    }
}

/// DataFusion's `information_schema.columns` with PostgreSQL's types and positions.
fn columns_view(context: &mut dyn RelationPlannerContext) -> Result<LogicalPlan> {
    let provider = context.context_provider();
    let function = |name: &str| {
        provider
            .get_function_meta(name)
            .ok_or_else(|| plan_datafusion_err!("the function {name} is not registered"))
    };
    let (data_type, udt_name) = (function(DATA_TYPE_FUNCTION)?, function(UDT_NAME_FUNCTION)?);
    let reference = TableReference::partial("information_schema", "columns");
    let source = provider.get_table_source(reference.clone())?;
    let same = |names: &[&str]| names.iter().map(|n| col(*n)).collect::<Vec<Expr>>();
    let mut columns = same(&["table_catalog", "table_schema", "table_name", "column_name"]);
    columns.push(
        cast(col("ordinal_position") + lit(1i64), ArrowType::Int32).alias("ordinal_position"),
    );
    columns.extend(same(&["column_default", "is_nullable"]));
    columns.push(data_type.call(vec![col("data_type")]).alias("data_type"));
    columns.extend(same(&[
        "character_maximum_length",
        "character_octet_length",
        "numeric_precision",
        "numeric_precision_radix",
        "numeric_scale",
        "datetime_precision",
        "interval_type",
    ]));
    columns.extend([
        col("table_catalog").alias("udt_catalog"),
        lit("pg_catalog").alias("udt_schema"),
        udt_name.call(vec![col("data_type")]).alias("udt_name"),
        lit("NO").alias("is_identity"),
        lit("NEVER").alias("is_generated"),
    ]);
    LogicalPlanBuilder::scan(reference, source, None)?
        .project(columns)?
        .build()
}

/// A view of constraints: its columns, no rows (Quarry's tables have no keys).
fn no_constraints(columns: &str) -> Result<LogicalPlan> {
    let columns = columns.split_whitespace().map(|c| {
        let data_type = match c {
            "ordinal_position" | "position_in_unique_constraint" => ArrowType::Int32,
            _ => ArrowType::Utf8,
        };
        cast(lit(ScalarValue::Null), data_type).alias(c)
    });
    LogicalPlanBuilder::empty(false).project(columns)?.build()
}

/// The views of constraints, which Quarry's tables do not have: their columns, no rows.
const CONSTRAINT_VIEWS: [(&str, &str); 4] = [
    (
        "table_constraints",
        "constraint_catalog constraint_schema constraint_name table_catalog table_schema \
         table_name constraint_type is_deferrable initially_deferred enforced",
    ),
    (
        "key_column_usage",
        "constraint_catalog constraint_schema constraint_name table_catalog table_schema \
         table_name column_name ordinal_position position_in_unique_constraint",
    ),
    (
        "referential_constraints",
        "constraint_catalog constraint_schema constraint_name unique_constraint_catalog \
         unique_constraint_schema unique_constraint_name match_option update_rule delete_rule",
    ),
    (
        "constraint_column_usage",
        "table_catalog table_schema table_name column_name constraint_catalog \
         constraint_schema constraint_name",
    ),
];

/// The view `name` names in `information_schema` (with the catalog in front or not).
fn information_schema_view(name: &ObjectName) -> Option<String> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(ident) => ident.value.to_lowercase(),
            _ => String::new(),
        })
        .collect();
    match parts.as_slice() {
        [.., schema, view] if parts.len() <= 3 && schema == "information_schema" => {
            Some(view.clone())
        }
        _ => None,
    }
}

/// The PostgreSQL type of a column DataFusion describes as `arrow_type`.
fn column_type(arrow_type: &str) -> Option<Type> {
    ArrowType::from_str(arrow_type).ok().map(|t| pg_type(&t))
}

/// PostgreSQL's `information_schema.columns.data_type` for DataFusion's.
pub fn data_type(arrow_type: &str) -> String {
    let Some(pg) = column_type(arrow_type) else {
        return "USER-DEFINED".to_string();
    };
    match pg.name() {
        name if name.starts_with('_') => "ARRAY",
        "int2" => "smallint",
        "int4" => "integer",
        "int8" => "bigint",
        "float4" => "real",
        "float8" => "double precision",
        "bool" => "boolean",
        "time" => "time without time zone",
        "timestamp" => "timestamp without time zone",
        "timestamptz" => "timestamp with time zone",
        name => name,
    }
    .to_string()
}

/// PostgreSQL's `information_schema.columns.udt_name` for DataFusion's `data_type`.
pub fn udt_name(arrow_type: &str) -> Option<String> {
    column_type(arrow_type).map(|t| t.name().to_string())
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::TimeUnit;

    use super::*;

    #[test]
    fn arrow_types_read_as_postgres_types() {
        let shown = |t: ArrowType| data_type(&t.to_string());
        assert_eq!(shown(ArrowType::Int64), "bigint");
        assert_eq!(shown(ArrowType::Utf8), "text");
        assert_eq!(shown(ArrowType::Decimal128(12, 2)), "numeric");
        assert_eq!(
            shown(ArrowType::Timestamp(
                TimeUnit::Microsecond,
                Some("UTC".into())
            )),
            "timestamp with time zone"
        );
        assert_eq!(shown(ArrowType::new_list(ArrowType::Int32, true)), "ARRAY");
        assert_eq!(
            udt_name(&ArrowType::Date32.to_string()).as_deref(),
            Some("date")
        );
        assert_eq!(data_type("no such type"), "USER-DEFINED");
    }

    #[tokio::test]
    async fn the_columns_view_shows_postgres_types() {
        let config = datafusion::prelude::SessionConfig::new().with_information_schema(true);
        let ctx = datafusion::prelude::SessionContext::new_with_config(config);
        ctx.register_relation_planner(std::sync::Arc::new(PostgresInformationSchema))
            .unwrap();
        super::super::catalog_functions::register(&ctx, "u");
        ctx.sql("CREATE TABLE t (a BIGINT, b VARCHAR)")
            .await
            .unwrap();
        let rows = |sql: &'static str| {
            let ctx = ctx.clone();
            async move {
                let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
                datafusion::arrow::util::pretty::pretty_format_batches(&batches)
                    .unwrap()
                    .to_string()
            }
        };
        let columns = rows(
            "SELECT c.column_name, c.ordinal_position, c.data_type, columns.udt_name \
             FROM information_schema.columns c JOIN information_schema.columns \
             ON columns.column_name = c.column_name WHERE c.table_name = 't' ORDER BY 2",
        )
        .await;
        assert!(
            columns.contains("| a           | 1                | bigint    | int8     |"),
            "{columns}"
        );
        assert!(
            columns.contains("| b           | 2                | text      | text     |"),
            "{columns}"
        );
        let keys = ctx
            .sql(
                "SELECT constraint_name, ordinal_position FROM information_schema.key_column_usage",
            )
            .await
            .unwrap();
        let types: Vec<String> = keys
            .schema()
            .fields()
            .iter()
            .map(|f| format!("{} {}", f.name(), f.data_type()))
            .collect();
        assert_eq!(types, ["constraint_name Utf8", "ordinal_position Int32"]);
        assert_eq!(keys.count().await.unwrap(), 0);
    }
}
