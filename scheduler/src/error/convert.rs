//! [`QuarryError`]s from the typed errors of the libraries underneath, each with the
//! kind its type says: DataFusion's (parser, schema, Arrow, object store, resources),
//! the catalog's [`TableError`], Iceberg's and Ballista's. A planning failure, which
//! DataFusion reports with a message only, gets its kind from what the statement
//! names ([`classify_planning`]).

use datafusion::error::DataFusionError;
use datafusion::execution::SessionState;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{Expr, Statement as SqlStatement, Visit, visit_expressions};
use datafusion::sql::sqlparser::parser::ParserError;
use quarry_catalog::table::TableError;
use std::ops::ControlFlow;

use super::{ErrorKind, QuarryError, clean};

impl From<DataFusionError> for QuarryError {
    fn from(e: DataFusionError) -> Self {
        datafusion(&e)
    }
}

fn datafusion(e: &DataFusionError) -> QuarryError {
    match e.find_root() {
        DataFusionError::External(inner) => external(inner.as_ref()),
        DataFusionError::SQL(err, _) => match err.as_ref() {
            ParserError::ParserError(msg) | ParserError::TokenizerError(msg) => {
                QuarryError::syntax(msg.clone())
            }
            ParserError::RecursionLimitExceeded => {
                QuarryError::syntax("statement is nested too deeply")
            }
        },
        DataFusionError::SchemaError(err, _) => {
            use datafusion::common::SchemaError;
            let kind = match err.as_ref() {
                SchemaError::FieldNotFound { .. } => ErrorKind::UndefinedColumn,
                SchemaError::DuplicateQualifiedField { .. }
                | SchemaError::DuplicateUnqualifiedField { .. } => ErrorKind::Duplicate,
                _ => ErrorKind::InvalidStatement,
            };
            kind.error(clean(&err.to_string()))
        }
        DataFusionError::ArrowError(err, _) => arrow(err),
        DataFusionError::ObjectStore(err) => object_store(err),
        DataFusionError::NotImplemented(msg) => QuarryError::unsupported(clean(msg)),
        DataFusionError::Plan(msg) | DataFusionError::Configuration(msg) => {
            QuarryError::plan(clean(msg))
        }
        DataFusionError::Internal(msg) => QuarryError::internal(clean(msg)),
        root => QuarryError::remote(&root.to_string()),
    }
}

/// An error a library boxed into DataFusion's `External`.
fn external(inner: &(dyn std::error::Error + Send + Sync + 'static)) -> QuarryError {
    if let Some(e) = inner.downcast_ref::<QuarryError>() {
        e.clone()
    } else if let Some(e) = inner.downcast_ref::<TableError>() {
        table(e)
    } else if let Some(e) = inner.downcast_ref::<iceberg::Error>() {
        self::iceberg(e)
    } else if let Some(e) = inner.downcast_ref::<object_store::Error>() {
        object_store(e)
    } else if let Some(e) = inner.downcast_ref::<DataFusionError>() {
        datafusion(e)
    } else {
        QuarryError::remote(&inner.to_string())
    }
}

fn arrow(e: &datafusion::arrow::error::ArrowError) -> QuarryError {
    use datafusion::arrow::error::ArrowError;
    let kind = match e {
        ArrowError::ExternalError(inner) => return external(inner.as_ref()),
        ArrowError::CastError(_) | ArrowError::ParseError(_) => ErrorKind::InvalidText,
        ArrowError::DivideByZero => ErrorKind::DivisionByZero,
        ArrowError::ArithmeticOverflow(_) => ErrorKind::NumericOverflow,
        ArrowError::NotYetImplemented(_) => ErrorKind::Unsupported,
        _ => ErrorKind::Execution,
    };
    kind.error(clean(&e.to_string()))
}

fn object_store(e: &object_store::Error) -> QuarryError {
    let kind = match e {
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => ErrorKind::PermissionDenied,
        _ => ErrorKind::Execution,
    };
    kind.error(clean(&e.to_string()))
}

fn iceberg(e: &iceberg::Error) -> QuarryError {
    use iceberg::ErrorKind as Iceberg;
    let kind = match e.kind() {
        Iceberg::TableNotFound => ErrorKind::UndefinedTable,
        Iceberg::NamespaceNotFound => ErrorKind::UndefinedSchema,
        Iceberg::TableAlreadyExists | Iceberg::NamespaceAlreadyExists => ErrorKind::Duplicate,
        Iceberg::CatalogCommitConflicts => ErrorKind::Conflict,
        Iceberg::FeatureUnsupported => ErrorKind::Unsupported,
        _ => return ErrorKind::Execution.error(format!("Iceberg: {e}")),
    };
    kind.error(e.message())
}

impl From<TableError> for QuarryError {
    fn from(e: TableError) -> Self {
        table(&e)
    }
}

fn table(e: &TableError) -> QuarryError {
    let kind = match e {
        TableError::DataFusion(e) => return datafusion(e),
        TableError::Iceberg(e) => return iceberg(e),
        TableError::ObjectStore(e) => return object_store(e),
        TableError::Arrow(e) => return arrow(e),
        TableError::NoTable(_) => ErrorKind::UndefinedTable,
        TableError::NoSchema(_) => ErrorKind::UndefinedSchema,
        TableError::NoColumn(_) => ErrorKind::UndefinedColumn,
        TableError::NotFound(_) => ErrorKind::UndefinedObject,
        TableError::AlreadyExists(_) => ErrorKind::Duplicate,
        TableError::Conflict(_) => ErrorKind::Conflict,
        TableError::Forbidden(_) => ErrorKind::PermissionDenied,
        TableError::UnsupportedType { .. } => ErrorKind::Unsupported,
        TableError::Partition(_) | TableError::Invalid(_) => ErrorKind::InvalidStatement,
        TableError::Database(_) => ErrorKind::Execution,
    };
    kind.error(e.to_string())
}

impl From<ballista_core::error::BallistaError> for QuarryError {
    fn from(e: ballista_core::error::BallistaError) -> Self {
        use ballista_core::error::BallistaError;
        match e {
            BallistaError::DataFusionError(e) => datafusion(&e),
            BallistaError::Cancelled => QuarryError::cancelled(),
            other => QuarryError::remote(&other.to_string()),
        }
    }
}

/// `error`, the failure to plan `statement`, with a narrower kind when what the
/// statement reads names a table (or a schema) that does not exist, or calls a function no
/// registry of the session holds. DataFusion says so in a message only; the catalog and
/// the registries say it for certain. Only reads and changes of existing tables are
/// looked at: a statement that creates a table names one that does not exist yet.
pub async fn classify_planning(
    state: &SessionState,
    statement: &DFStatement,
    error: QuarryError,
) -> QuarryError {
    if error.kind() != ErrorKind::InvalidStatement {
        return error;
    }
    let DFStatement::Statement(sql) = statement else {
        return error;
    };
    // What the statement reads: its own relations, or the query of a statement that
    // creates something (what it creates does not exist yet).
    let query = match sql.as_ref() {
        SqlStatement::Query(_)
        | SqlStatement::Insert(_)
        | SqlStatement::Update { .. }
        | SqlStatement::Delete(_) => None,
        SqlStatement::CreateTable(create) => match &create.query {
            Some(query) => Some(query),
            None => return error,
        },
        SqlStatement::CreateView(view) => Some(&view.query),
        _ => return error,
    };
    let read =
        query.map(|query| DFStatement::Statement(Box::new(SqlStatement::Query(query.clone()))));
    if names_missing_relation(state, read.as_ref().unwrap_or(statement)).await {
        return ErrorKind::UndefinedTable.error(error.message);
    }
    let unknown_function = match query {
        Some(query) => has_unknown_function(state, query.as_ref()),
        None => has_unknown_function(state, sql.as_ref()),
    };
    if unknown_function {
        return ErrorKind::UndefinedFunction.error(error.message);
    }
    error
}

/// Whether `statement` reads a relation that does not exist. As in PostgreSQL, a
/// relation in a schema that does not exist is a missing relation too.
async fn names_missing_relation(state: &SessionState, statement: &DFStatement) -> bool {
    let Ok(references) = state.resolve_table_references(statement) else {
        return false;
    };
    for reference in references {
        let Ok(schema) = state.schema_for_ref(reference.clone()) else {
            return true;
        };
        if let Ok(None) = schema.table(reference.table()).await {
            return true;
        }
    }
    false
}

/// Whether `node` (a statement, a query) calls a function that no registry of the
/// session holds.
fn has_unknown_function(state: &SessionState, node: &impl Visit) -> bool {
    let unknown = visit_expressions(node, |expr| {
        let Expr::Function(function) = expr else {
            return ControlFlow::Continue(());
        };
        let Some(name) = function.name.0.last().and_then(|part| part.as_ident()) else {
            return ControlFlow::Continue(());
        };
        let name = name.value.to_lowercase();
        let known = state.scalar_functions().contains_key(&name)
            || state.aggregate_functions().contains_key(&name)
            || state.window_functions().contains_key(&name)
            || state.table_functions().contains_key(&name)
            // Planned by DataFusion's SQL planner itself, not looked up.
            || name == "unnest";
        match known {
            true => ControlFlow::Continue(()),
            false => ControlFlow::Break(()),
        }
    });
    unknown.is_break()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_keep_the_position() {
        let err = datafusion::sql::parser::DFParser::parse_sql("SELEC 1").unwrap_err();
        let e: QuarryError = err.into();
        assert_eq!(e.kind(), ErrorKind::Syntax);
        assert!(e.to_string().starts_with("syntax error: "), "{e}");
        assert!(e.to_string().contains("Line: 1, Column: 1"), "{e}");
    }

    #[tokio::test]
    async fn typed_errors_keep_their_kind() {
        let ctx = datafusion::prelude::SessionContext::new();
        let kind = |sql: &'static str| {
            let ctx = ctx.clone();
            async move {
                let e = match ctx.sql(sql).await {
                    Ok(frame) => frame.collect().await.unwrap_err(),
                    Err(e) => e,
                };
                QuarryError::from(e).kind()
            }
        };
        assert_eq!(
            kind("SELECT nope FROM (SELECT 1 AS a)").await,
            ErrorKind::UndefinedColumn
        );
        assert_eq!(
            kind("SELECT CAST('x' AS INT)").await,
            ErrorKind::InvalidText
        );
        let zero = "SELECT a / b FROM (VALUES (1, 0)) AS t(a, b)";
        assert_eq!(kind(zero).await, ErrorKind::DivisionByZero);
        let table = TableError::NoTable("table 'gold.x' not found".into());
        let wrapped = DataFusionError::External(Box::new(table));
        assert_eq!(QuarryError::from(wrapped).kind(), ErrorKind::UndefinedTable);
    }

    #[tokio::test]
    async fn planning_failures_are_classified_by_what_the_statement_names() {
        let ctx = datafusion::prelude::SessionContext::new();
        let state = ctx.state();
        let kind = |sql: &'static str| {
            let state = state.clone();
            async move {
                let statement = state
                    .sql_to_statement(sql, &datafusion::config::Dialect::Generic)
                    .unwrap();
                let error = state
                    .statement_to_plan(statement.clone())
                    .await
                    .unwrap_err();
                classify_planning(&state, &statement, error.into())
                    .await
                    .kind()
            }
        };
        assert_eq!(kind("SELECT * FROM nope").await, ErrorKind::UndefinedTable);
        assert_eq!(
            kind("SELECT * FROM nope.t").await,
            ErrorKind::UndefinedTable
        );
        assert_eq!(
            kind("SELECT nope_fn(1)").await,
            ErrorKind::UndefinedFunction
        );
        let mismatch = "SELECT 1 UNION SELECT 1, 2";
        assert_eq!(kind(mismatch).await, ErrorKind::InvalidStatement);
    }
}
