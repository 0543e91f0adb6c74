//! Planning the statements that create, change and list Iceberg tables.
//!
//! DataFusion parses every statement. Those it cannot plan for Iceberg are planned here:
//! `CREATE [OR REPLACE] TABLE .. [PARTITION BY ..] [AS ..]`, `DROP TABLE .. [PURGE]`,
//! `DROP SCHEMA .. [CASCADE]`, `SHOW SCHEMAS` and `SHOW TABLES [IN ns] [LIKE ..]`;
//! `ALTER TABLE` goes to `evolve.rs`. `INSERT` and `INSERT OVERWRITE`
//! are planned by DataFusion and then armed with the statement's [`WriteSpec`].
//!
//! Planning has no side effects: a [`Write`] or a [`CatalogChange`] is what will happen
//! when the statement runs.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::datasource::source_as_provider;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{DdlStatement, LogicalPlan, LogicalPlanBuilder, WriteOp};
use datafusion::prelude::{Expr, SessionContext, col, lit};
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::planner::object_name_to_table_reference;
use datafusion::sql::sqlparser::ast::{
    CreateTable, ObjectName, ObjectType, ShowStatementFilter, ShowStatementOptions,
    Statement as SqlStatement,
};
use quarry_catalog::store::TableStore;
use quarry_catalog::table::IcebergTable;
use quarry_catalog::table::partition::parse_partition_by;
use quarry_catalog::table::write::WriteSpec;

use crate::error::{ErrorKind, QuarryError};
use crate::names::{CATALOG, TEMPORARY_SCHEMA, iceberg_ident, to_plan};
use crate::planned::{
    CatalogChange, Commit, NewTable, Write, insert_plan, layout, new_table_write, nullable,
};

/// What the planner makes of a statement.
pub enum Planned {
    Write(Box<Write>),
    Catalog(Box<CatalogChange>),
    /// A query of the catalog (`SHOW SCHEMAS`, `SHOW TABLES IN ..`).
    Query(Box<LogicalPlan>),
    /// `EXPLAIN` of a write: the plan to show.
    Explained(Box<LogicalPlan>),
    /// Not an Iceberg statement: DataFusion plans it.
    NotOurs,
}

/// Plans `statement` if it is one of the statements this module handles.
pub async fn plan(
    ctx: &SessionContext,
    store: &TableStore,
    statement: &DFStatement,
) -> Result<Planned, QuarryError> {
    let statement = match statement {
        DFStatement::Statement(statement) => statement,
        DFStatement::Explain(explain) => {
            return match Box::pin(plan(ctx, store, &explain.statement)).await? {
                Planned::Write(_) if explain.analyze => Err(QuarryError::plan(
                    "EXPLAIN ANALYZE runs its statement; it does not run writes. Use EXPLAIN",
                )),
                Planned::Write(write) => Ok(Planned::Explained(Box::new(
                    LogicalPlanBuilder::from(write.plan)
                        .explain(explain.verbose, false)?
                        .build()?,
                ))),
                Planned::Catalog(_) => Err(QuarryError::plan(
                    "EXPLAIN shows queries and writes, not catalog changes",
                )),
                _ => Ok(Planned::NotOurs),
            };
        }
        _ => return Ok(Planned::NotOurs),
    };
    match statement.as_ref() {
        SqlStatement::CreateTable(create) => plan_create(ctx, store, create).await,
        SqlStatement::AlterTable(alter) => Ok(Planned::Catalog(Box::new(
            crate::evolve::plan(ctx, store, alter).await?,
        ))),
        SqlStatement::Drop {
            object_type: ObjectType::Table,
            if_exists,
            names,
            purge,
            ..
        } => plan_drop(ctx, store, names, *if_exists, *purge).await,
        SqlStatement::Drop {
            object_type: ObjectType::Schema,
            if_exists,
            names,
            cascade,
            ..
        } => {
            let mut schemas = Vec::new();
            for name in names {
                let name = name.to_string();
                if store.namespace_exists(&name).await? {
                    schemas.push(name);
                } else if !if_exists {
                    return Err(
                        ErrorKind::UndefinedSchema.error(format!("schema '{name}' not found"))
                    );
                }
            }
            Ok(Planned::Catalog(Box::new(CatalogChange::DropSchemas {
                schemas,
                cascade: *cascade,
            })))
        }
        SqlStatement::ShowSchemas { show_options, .. }
        | SqlStatement::ShowDatabases { show_options, .. } => {
            let filter = like_filter(
                col("catalog_name").eq(lit(CATALOG)),
                "schema_name",
                show_options,
            )?;
            let listing = ctx
                .table("information_schema.schemata")
                .await?
                .filter(filter)?
                .select_columns(&["schema_name"])?
                .sort_by(vec![col("schema_name")])?;
            Ok(Planned::Query(Box::new(listing.into_unoptimized_plan())))
        }
        SqlStatement::ShowTables { show_options, .. }
            if show_options.show_in.is_some() || show_options.filter_position.is_some() =>
        {
            let mut filter = col("table_catalog").eq(lit(CATALOG));
            if let Some(name) = show_options
                .show_in
                .as_ref()
                .and_then(|s| s.parent_name.as_ref())
            {
                filter = filter.and(col("table_schema").eq(lit(name.to_string())));
            }
            let filter = like_filter(filter, "table_name", show_options)?;
            let listing = ctx
                .table("information_schema.tables")
                .await?
                .filter(filter)?
                .select_columns(&["table_catalog", "table_schema", "table_name", "table_type"])?
                .sort_by(vec![col("table_schema"), col("table_name")])?;
            Ok(Planned::Query(Box::new(listing.into_unoptimized_plan())))
        }
        _ => Ok(Planned::NotOurs),
    }
}

/// `filter AND column LIKE '...'` for a `SHOW ... LIKE` filter.
fn like_filter(
    filter: Expr,
    column: &str,
    options: &ShowStatementOptions,
) -> Result<Expr, QuarryError> {
    use datafusion::sql::sqlparser::ast::ShowStatementFilterPosition as P;
    match &options.filter_position {
        None => Ok(filter),
        Some(P::Infix(ShowStatementFilter::Like(p)) | P::Suffix(ShowStatementFilter::Like(p))) => {
            Ok(filter.and(col(column).like(lit(p.as_str()))))
        }
        Some(_) => Err(QuarryError::plan("SHOW supports only a LIKE filter")),
    }
}

/// `CREATE [OR REPLACE] TABLE`.
async fn plan_create(
    ctx: &SessionContext,
    store: &TableStore,
    create: &CreateTable,
) -> Result<Planned, QuarryError> {
    if create.external || create.temporary {
        return Ok(Planned::NotOurs);
    }
    let mut create = create.clone();
    let partition_by = create
        .partition_by
        .take()
        .map(|expr| parse_partition_by(&expr))
        .transpose()?
        .unwrap_or_default();
    let state = ctx.state();
    // DataFusion reads the column list or plans the query.
    let statement = DFStatement::Statement(Box::new(SqlStatement::CreateTable(create.clone())));
    let plan = to_plan(&state, statement).await?;
    let LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(table)) = plan else {
        return Ok(Planned::NotOurs);
    };
    let ident = iceberg_ident(ctx, &table.name)?;
    if store.view_exists(&ident).await? {
        return Err(QuarryError::duplicate(format!(
            "'{ident}' is a view; a table cannot have its name (DROP VIEW {ident} first)"
        )));
    }
    let existing = store.load(&ident).await?;
    if existing.is_some() && !table.or_replace {
        return match table.if_not_exists {
            true => Ok(Planned::Catalog(Box::new(CatalogChange::None))),
            false => Err(QuarryError::duplicate(format!(
                "table '{ident}' already exists"
            ))),
        };
    }
    if !store.namespace_exists(&ident.namespace().join(".")).await? {
        return Err(ErrorKind::UndefinedSchema.error(format!(
            "schema '{}' does not exist: CREATE SCHEMA {0} first",
            ident.namespace().join(".")
        )));
    }
    let arrow = table.input.schema().as_arrow().clone();
    let with_query = create.query.is_some();
    // Columns of a query's result may hold NULLs later on; a column list says itself.
    let arrow = match with_query {
        true => nullable(&arrow),
        false => arrow,
    };
    let (schema, spec) = layout(&arrow, &partition_by)?;
    if !with_query {
        return Ok(Planned::Catalog(Box::new(CatalogChange::CreateTable(
            Box::new(NewTable {
                ident,
                schema,
                spec,
                replace: existing,
            }),
        ))));
    }
    let spec = new_table_write(store, &ident, schema, spec);
    let target = IcebergTable::pending(Arc::clone(&spec))?;
    let plan = insert_plan(&table.name, Arc::new(target), InsertOp::Append, table.input)?;
    let commit = match existing {
        Some(old) => Commit::Replace {
            old: Box::new(old),
            properties: HashMap::new(),
        },
        None => Commit::Create {
            ident,
            properties: HashMap::new(),
        },
    };
    Ok(Planned::Write(Box::new(Write { plan, spec, commit })))
}

/// `DROP TABLE [IF EXISTS] t, .. [PURGE]` of Iceberg tables. Names that are views or
/// external tables are left to DataFusion.
async fn plan_drop(
    ctx: &SessionContext,
    store: &TableStore,
    names: &[ObjectName],
    if_exists: bool,
    purge: bool,
) -> Result<Planned, QuarryError> {
    let mut tables = Vec::new();
    for name in names {
        let reference = object_name_to_table_reference(name.clone(), true)?;
        if reference.schema() == Some(TEMPORARY_SCHEMA) {
            // DataFusion drops a session's in-memory tables.
            return Ok(Planned::NotOurs);
        }
        let ident = iceberg_ident(ctx, &reference)?;
        let namespace = ident.namespace().join(".");
        if !store.namespace_exists(&namespace).await? {
            if if_exists {
                continue;
            }
            return Err(ErrorKind::UndefinedSchema.error(format!("schema '{namespace}' not found")));
        }
        if store.view_exists(&ident).await? {
            return Err(QuarryError::plan(format!(
                "'{ident}' is a view: use DROP VIEW {ident}"
            )));
        }
        match store.load(&ident).await? {
            Some(table) => tables.push(table),
            None if ctx.table_exist(reference.clone())? => return Ok(Planned::NotOurs),
            None if if_exists => {}
            None => return Err(QuarryError::no_table(format!("table '{ident}' not found"))),
        }
    }
    Ok(Planned::Catalog(Box::new(CatalogChange::DropTables {
        tables,
        purge,
    })))
}

/// Arms an `INSERT` or `INSERT OVERWRITE` into an Iceberg table with its write; other
/// plans are returned as they are.
pub fn plan_insert(plan: LogicalPlan) -> Result<Result<Write, LogicalPlan>, QuarryError> {
    match &plan {
        // EXPLAIN shows the write it would run; EXPLAIN ANALYZE would run it uncommitted.
        LogicalPlan::Explain(explain) => {
            if let Ok(write) = plan_insert(explain.plan.as_ref().clone())? {
                let mut explain = explain.clone();
                explain.plan = Arc::new(write.plan);
                return Ok(Err(LogicalPlan::Explain(explain)));
            }
            return Ok(Err(plan));
        }
        LogicalPlan::Analyze(analyze) if matches!(analyze.input.as_ref(), LogicalPlan::Dml(_)) => {
            return Err(QuarryError::plan(
                "EXPLAIN ANALYZE runs its statement; it does not run writes. Use EXPLAIN",
            ));
        }
        _ => {}
    }
    let LogicalPlan::Dml(dml) = &plan else {
        return Ok(Err(plan));
    };
    let WriteOp::Insert(op) = dml.op else {
        return Ok(Err(plan));
    };
    let provider = source_as_provider(&dml.target)?;
    let Some(target) = provider.as_any().downcast_ref::<IcebergTable>() else {
        return Ok(Err(plan));
    };
    let Some(table) = target.table() else {
        return Ok(Err(plan));
    };
    let spec = Arc::new(WriteSpec::for_table(table));
    let ident = table.identifier().clone();
    let uuid = table.metadata().uuid();
    let commit = match op {
        InsertOp::Append => Commit::Append { ident, uuid },
        InsertOp::Overwrite => Commit::Overwrite { ident, uuid },
        InsertOp::Replace => {
            return Err(QuarryError::unsupported(
                "REPLACE INTO is not supported for Iceberg tables; use INSERT OVERWRITE",
            ));
        }
    };
    let armed = target.clone().for_write(Arc::clone(&spec));
    let plan = insert_plan(&dml.table_name, Arc::new(armed), op, Arc::clone(&dml.input))?;
    Ok(Ok(Write { plan, spec, commit }))
}
