//! How statements name the lake's tables, and DataFusion's planning of what they name:
//! the catalog and its schemas, Iceberg identifiers, the namespaces a statement reads
//! (looked up before DataFusion plans it) and planning errors with their kind.

use std::collections::HashSet;

use datafusion::execution::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::TableReference;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::planner::object_name_to_table_reference;
use datafusion::sql::sqlparser::ast::ObjectName;
use iceberg::TableIdent;
use iceberg::table::Table;
use quarry_catalog::store::TableStore;

use crate::error::{QuarryError, classify_planning};

/// Name of Quarry's catalog.
pub const CATALOG: &str = "quarry";
/// The schema a session's temporary tables live in.
pub const TEMPORARY_SCHEMA: &str = "temp";

/// The Iceberg identifier of a table name in Quarry's catalog.
pub(crate) fn iceberg_ident(
    ctx: &SessionContext,
    name: &TableReference,
) -> Result<TableIdent, QuarryError> {
    let options = ctx.state().config_options().catalog.clone();
    let resolved = name
        .clone()
        .resolve(&options.default_catalog, &options.default_schema);
    if resolved.catalog.as_ref() != CATALOG {
        return Err(QuarryError::plan(format!(
            "tables live in catalog '{CATALOG}', not '{}'",
            resolved.catalog
        )));
    }
    if quarry_catalog::reflection::is_hidden(&resolved.schema) {
        return Err(QuarryError::plan(format!(
            "schema '{}' holds reflections; its tables change only through reflections",
            resolved.schema
        )));
    }
    TableIdent::from_strs([resolved.schema.as_ref(), resolved.table.as_ref()])
        .map_err(|e| QuarryError::plan(e.to_string()))
}
/// The Iceberg table `name` names (with the reference it resolves to), or an error
/// that says it does not exist: for the statements about one table (`VACUUM`,
/// `OPTIMIZE`, rollback).
pub(crate) async fn load_named(
    ctx: &SessionContext,
    store: &TableStore,
    name: ObjectName,
) -> Result<(TableReference, Table), QuarryError> {
    let reference = object_name_to_table_reference(name, true)?;
    let ident = iceberg_ident(ctx, &reference)?;
    match store.load(&ident).await? {
        Some(table) => Ok((reference, table)),
        None => Err(QuarryError::no_table(format!("table '{ident}' not found"))),
    }
}

/// Plans `statement` with DataFusion; a failure gets the kind of what the statement
/// names that does not exist ([`classify_planning`]).
pub(crate) async fn to_plan(
    state: &SessionState,
    statement: DFStatement,
) -> Result<LogicalPlan, QuarryError> {
    match state.statement_to_plan(statement.clone()).await {
        Ok(plan) => Ok(plan),
        Err(e) => Err(classify_planning(state, &statement, e.into()).await),
    }
}

/// Looks up the lake's namespaces that `statement` names, asynchronously, so that
/// DataFusion's synchronous schema lookups while planning it need no catalog call.
pub(crate) async fn resolve_namespaces(
    state: &SessionState,
    store: &TableStore,
    statement: &DFStatement,
) -> Result<(), QuarryError> {
    let options = &state.config_options().catalog;
    let references = state.resolve_table_references(statement)?;
    let schemas: HashSet<String> = references
        .into_iter()
        .map(|r| r.resolve(&options.default_catalog, &options.default_schema))
        .filter(|r| r.catalog.as_ref() == CATALOG)
        .map(|r| r.schema.to_string())
        .collect();
    store
        .resolve_namespaces(schemas.iter().map(String::as_str))
        .await?;
    Ok(())
}
