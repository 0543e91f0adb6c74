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
use datafusion::sql::sqlparser::ast::{Ident, ObjectName, ObjectNamePart, TableAlias, TableFactor};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use pgwire::api::Type;

use super::types::pg_type;

/// The function that turns DataFusion's `data_type` into PostgreSQL's.
pub const DATA_TYPE_FUNCTION: &str = "quarry_pg_data_type";
/// The function that turns DataFusion's `data_type` into PostgreSQL's `udt_name`.
pub const UDT_NAME_FUNCTION: &str = "quarry_pg_udt_name";

/// DataFusion's `information_schema.columns` with PostgreSQL's types and positions.
fn columns_view() -> String {
    format!(
        "SELECT table_catalog, table_schema, table_name, column_name, \
         CAST(ordinal_position + 1 AS INT) AS ordinal_position, column_default, \
         is_nullable, {DATA_TYPE_FUNCTION}(data_type) AS data_type, \
         character_maximum_length, character_octet_length, numeric_precision, \
         numeric_precision_radix, numeric_scale, datetime_precision, interval_type, \
         table_catalog AS udt_catalog, 'pg_catalog' AS udt_schema, \
         {UDT_NAME_FUNCTION}(data_type) AS udt_name, 'NO' AS is_identity, \
         'NEVER' AS is_generated \
         FROM information_schema.columns"
    )
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

/// What a view of `information_schema` that DataFusion lacks or shows otherwise reads.
fn view_query(view: &str) -> Option<String> {
    if view == "columns" {
        return Some(columns_view());
    }
    let (_, columns) = CONSTRAINT_VIEWS.iter().find(|(name, _)| *name == view)?;
    let columns: Vec<String> = columns
        .split_whitespace()
        .map(|c| match c {
            "ordinal_position" | "position_in_unique_constraint" => {
                format!("CAST(NULL AS INT) AS {c}")
            }
            c => format!("CAST(NULL AS TEXT) AS {c}"),
        })
        .collect();
    Some(format!("SELECT {} WHERE false", columns.join(", ")))
}

/// Replaces a read of `information_schema.columns` with [`columns_view`], and one of a
/// view of constraints with an empty query of its columns, keeping the query's alias
/// for it; says whether it did.
pub fn translate_columns(factor: &mut TableFactor) -> bool {
    let TableFactor::Table { name, alias, .. } = factor else {
        return false;
    };
    let Some(view_name) = information_schema_view(name) else {
        return false;
    };
    let Some(view) = view_query(&view_name) else {
        return false;
    };
    let Ok(subquery) = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(&view)
        .and_then(|mut p| p.parse_query())
    else {
        return false;
    };
    let alias = alias.take().unwrap_or_else(|| TableAlias {
        explicit: true,
        name: Ident::new(view_name),
        columns: vec![],
    });
    *factor = TableFactor::Derived {
        lateral: false,
        subquery,
        alias: Some(alias),
        sample: None,
    };
    true
}

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
    use datafusion::sql::sqlparser::ast::{SetExpr, Statement};

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

    #[test]
    fn the_columns_view_is_read_through_the_translation() {
        let sql = "SELECT c.column_name FROM information_schema.columns c";
        let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap();
        let Statement::Query(query) = &mut statements[0] else {
            panic!()
        };
        let SetExpr::Select(select) = query.body.as_mut() else {
            panic!()
        };
        assert!(translate_columns(&mut select.from[0].relation));
        let text = statements[0].to_string();
        assert!(
            text.contains("quarry_pg_data_type(data_type) AS data_type"),
            "{text}"
        );
        assert!(
            text.ends_with("FROM information_schema.columns) c"),
            "{text}"
        );
    }
}
