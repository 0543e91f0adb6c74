//! Temporary tables: `CREATE TEMPORARY TABLE t AS SELECT ...` keeps its rows in memory
//! for the session that made it, and they go with the session. dbt builds each run of an
//! incremental model this way, then merges or inserts from it.
//!
//! Each session's catalog has a schema of its own, [`TEMPORARY_SCHEMA`] (DuckDB's name),
//! that holds them as DataFusion `MemTable`s; `information_schema` lists them there. A
//! temporary table is named without a schema, and such a name means it before a table
//! of the current schema (PostgreSQL's search order): [`resolve_names`] points such
//! names in a statement's tree at the temporary schema before it is planned.

use std::any::Any;
use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, UInt64Array};
use datafusion::catalog::{CatalogProvider, MemorySchemaProvider, SchemaProvider};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::planner::IdentNormalizer;
use datafusion::sql::sqlparser::ast::{
    Ident, ObjectName, ObjectNamePart, ObjectType, Statement, visit_relations_mut,
};
use quarry_catalog::catalog_provider::WithSchema;

use crate::error::QuarryError;
use crate::names::{CATALOG, TEMPORARY_SCHEMA};
use crate::planned::count_schema;

/// `catalog` with an empty schema of temporary tables, for one session.
pub fn with_temporary_schema(catalog: Arc<dyn CatalogProvider>) -> Arc<dyn CatalogProvider> {
    let temporary = Arc::new(MemorySchemaProvider::new());
    Arc::new(WithTemporary {
        listed: WithSchema::new(catalog, TEMPORARY_SCHEMA, temporary),
    })
}

/// A catalog with the schema of temporary tables, which listings (`SHOW SCHEMAS`,
/// `information_schema`) show only while it holds tables.
#[derive(Debug)]
struct WithTemporary {
    listed: WithSchema,
}

impl CatalogProvider for WithTemporary {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema_names(&self) -> Vec<String> {
        let in_use = self
            .listed
            .schema(TEMPORARY_SCHEMA)
            .is_some_and(|schema| !schema.table_names().is_empty());
        let mut names = self.listed.schema_names();
        if !in_use {
            names.retain(|name| name != TEMPORARY_SCHEMA);
        }
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        self.listed.schema(name)
    }

    fn register_schema(
        &self,
        name: &str,
        schema: Arc<dyn SchemaProvider>,
    ) -> datafusion::common::Result<Option<Arc<dyn SchemaProvider>>> {
        self.listed.register_schema(name, schema)
    }

    fn deregister_schema(
        &self,
        name: &str,
        cascade: bool,
    ) -> datafusion::common::Result<Option<Arc<dyn SchemaProvider>>> {
        self.listed.deregister_schema(name, cascade)
    }
}

/// `CREATE TEMPORARY TABLE`, made a `CREATE TABLE` in the temporary schema (which
/// DataFusion keeps in memory); `None` for other statements.
pub fn as_memory_table(statement: &DFStatement) -> Result<Option<DFStatement>, QuarryError> {
    let DFStatement::Statement(statement) = statement else {
        return Ok(None);
    };
    let Statement::CreateTable(create) = statement.as_ref() else {
        return Ok(None);
    };
    if !create.temporary {
        return Ok(None);
    }
    let table = match create.name.0.as_slice() {
        [ObjectNamePart::Identifier(table)] => table.clone(),
        [
            ObjectNamePart::Identifier(schema),
            ObjectNamePart::Identifier(table),
        ] if schema.value.eq_ignore_ascii_case(TEMPORARY_SCHEMA) => table.clone(),
        _ => {
            return Err(QuarryError::plan(format!(
                "a temporary table is named without a schema (or in '{TEMPORARY_SCHEMA}'), \
                 not '{}'",
                create.name
            )));
        }
    };
    let mut create = create.clone();
    create.temporary = false;
    // Every statement commits as it runs: rows are kept across "transactions".
    create.on_commit = None;
    // `LOCAL` or `GLOBAL` (the SQL standard's words) mean the same here.
    create.global = None;
    create.name = ObjectName::from(vec![Ident::new(TEMPORARY_SCHEMA), table]);
    Ok(Some(DFStatement::Statement(Box::new(
        Statement::CreateTable(create),
    ))))
}

/// The rows of the temporary table `plan` made, as a `count` result (what a write
/// reports), if `plan` made one.
pub async fn created_rows(
    ctx: &SessionContext,
    plan: &LogicalPlan,
) -> Result<Option<RecordBatch>, QuarryError> {
    let LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(create)) = plan else {
        return Ok(None);
    };
    if create.name.schema() != Some(TEMPORARY_SCHEMA) {
        return Ok(None);
    }
    let rows = ctx.table(create.name.clone()).await?.count().await? as u64;
    let count = Arc::new(UInt64Array::from(vec![rows]));
    let batch = RecordBatch::try_new(count_schema(), vec![count]).map_err(DataFusionError::from)?;
    Ok(Some(batch))
}

/// Points the names without a schema in `statement` that the session has temporary
/// tables of at those tables.
pub fn resolve_names(ctx: &SessionContext, statement: &mut DFStatement) {
    let Some(temporary) = ctx
        .catalog(CATALOG)
        .and_then(|catalog| catalog.schema(TEMPORARY_SCHEMA))
    else {
        return;
    };
    if temporary.table_names().is_empty() {
        return;
    }
    let normalizer = IdentNormalizer::new(
        ctx.state()
            .config_options()
            .sql_parser
            .enable_ident_normalization,
    );
    let resolve = |name: &mut ObjectName| {
        if let [ObjectNamePart::Identifier(table)] = name.0.as_slice()
            && temporary.table_exist(&normalizer.normalize(table.clone()))
        {
            name.0
                .insert(0, ObjectNamePart::Identifier(Ident::new(TEMPORARY_SCHEMA)));
        }
        ControlFlow::<()>::Continue(())
    };
    let mut statement = statement;
    while let DFStatement::Explain(explain) = statement {
        statement = &mut explain.statement;
    }
    let DFStatement::Statement(statement) = statement else {
        return;
    };
    // The names a DROP TABLE drops are not relations the visitor sees.
    if let Statement::Drop {
        object_type: ObjectType::Table,
        names,
        ..
    } = statement.as_mut()
    {
        for name in names {
            let _ = resolve(name);
        }
        return;
    }
    let _ = visit_relations_mut(statement.as_mut(), resolve);
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    fn statement(sql: &str) -> DFStatement {
        let mut parsed = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap();
        DFStatement::Statement(Box::new(parsed.remove(0)))
    }

    #[test]
    fn temporary_tables_are_made_in_the_temporary_schema() {
        let made = as_memory_table(&statement(
            r#"create temporary table "m__dbt_tmp1" as (select 1 as a)"#,
        ))
        .unwrap()
        .unwrap();
        let DFStatement::Statement(made) = made else {
            panic!("a statement");
        };
        let Statement::CreateTable(create) = *made else {
            panic!("a CREATE TABLE");
        };
        assert!(!create.temporary);
        assert_eq!(create.name.to_string(), r#"temp."m__dbt_tmp1""#);
        assert!(
            as_memory_table(&statement("create table t as select 1"))
                .unwrap()
                .is_none()
        );
        let error = as_memory_table(&statement("create temp table gold.t (a int)")).unwrap_err();
        assert!(error.to_string().contains("without a schema"), "{error}");
    }
}
