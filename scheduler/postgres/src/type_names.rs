//! PostgreSQL's type names in casts that DataFusion does not know (`::oid`, `::name`,
//! `::pg_catalog.text`, `::int2vector`), as catalog queries write them: a type planner
//! on PostgreSQL sessions plans them as the Arrow types Quarry keeps those values in.
//! (`'t'::regclass` and its kin, which turn a name into an object id, are rewritten on
//! the syntax tree: see [`super::rewrite`].)

use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::planner::TypePlanner;
use datafusion::sql::sqlparser::ast::{DataType as SqlType, ObjectNamePart};

/// Plans PostgreSQL's type names.
#[derive(Debug)]
pub struct PostgresTypes;

impl TypePlanner for PostgresTypes {
    fn plan_type(&self, sql_type: &SqlType) -> Result<Option<DataType>> {
        let SqlType::Custom(name, _) = sql_type else {
            return Ok(None);
        };
        let Some(ObjectNamePart::Identifier(last)) = name.0.last() else {
            return Ok(None);
        };
        Ok(arrow_type(&last.value.to_ascii_lowercase()))
    }
}

/// The Arrow type of PostgreSQL's type `name`.
fn arrow_type(name: &str) -> Option<DataType> {
    Some(match name {
        "oid" | "regclass" | "regtype" | "regproc" | "regnamespace" | "regrole" | "xid" => {
            DataType::Int64
        }
        "text" | "name" | "char" | "bpchar" | "varchar" | "int2vector" | "oidvector" => {
            DataType::Utf8
        }
        "int2" => DataType::Int16,
        "int4" => DataType::Int32,
        "int8" => DataType::Int64,
        "float4" => DataType::Float32,
        "float8" => DataType::Float64,
        "bool" => DataType::Boolean,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::execution::SessionStateBuilder;
    use datafusion::prelude::{SessionConfig, SessionContext};

    use super::*;

    #[tokio::test]
    async fn postgres_type_names_cast_to_arrow_types() {
        let config = SessionConfig::new().set_str("datafusion.sql_parser.dialect", "postgresql");
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_default_features()
            .with_type_planner(Arc::new(PostgresTypes))
            .build();
        let ctx = SessionContext::new_with_state(state);
        let frame = ctx
            .sql("SELECT 7::oid AS o, 'x'::name AS n, 3::pg_catalog.int4 AS i, 'y'::pg_catalog.text AS t")
            .await
            .unwrap();
        let types: Vec<String> = frame
            .schema()
            .fields()
            .iter()
            .map(|f| f.data_type().to_string())
            .collect();
        assert_eq!(types, ["Int64", "Utf8", "Int32", "Utf8"]);
        let err = ctx.sql("SELECT 1::tsvector").await.unwrap_err().to_string();
        assert!(err.to_lowercase().contains("tsvector"), "{err}");
    }
}
