//! What planning a statement about Iceberg tables yields: a [`Write`] (a job that
//! writes data files, and how they are committed) or a [`CatalogChange`] (applied by the
//! scheduler alone, [`CatalogChange::apply`]); and the pieces planners share to build
//! them. Planning has no side effects.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema as ArrowSchema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::datasource::provider_as_source;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{DmlStatement, LogicalPlan, WriteOp};
use datafusion::sql::TableReference;
use iceberg::TableIdent;
use iceberg::spec::{PartitionSpec, Schema};
use iceberg::table::Table;
use quarry_catalog::store::TableStore;
use quarry_catalog::table::partition::{PartitionColumn, partition_spec};
use quarry_catalog::table::types::iceberg_schema;
use quarry_catalog::table::write::WriteSpec;
use quarry_catalog::table::{alter, commit};

use crate::error::QuarryError;

/// A statement that writes data files on the executors, then commits them.
#[derive(Debug, Clone)]
pub struct Write {
    /// The job: a DataFusion insert whose target writes Iceberg files.
    pub plan: LogicalPlan,
    /// Where the files go and how they are laid out.
    pub spec: Arc<WriteSpec>,
    /// How they become part of the table.
    pub commit: Commit,
}

/// How a write's files become part of its table.
#[derive(Debug, Clone)]
pub enum Commit {
    /// `INSERT INTO`: added to the table with this uuid.
    Append { ident: TableIdent, uuid: uuid::Uuid },
    /// `INSERT OVERWRITE`: they replace all rows of the table with this uuid.
    Overwrite { ident: TableIdent, uuid: uuid::Uuid },
    /// `CREATE TABLE .. AS`: a new table, with these table properties.
    Create {
        ident: TableIdent,
        properties: HashMap<String, String>,
    },
    /// `DELETE`, `UPDATE`: the files written replace the data files `removed` (by path)
    /// of the table with this uuid; `whole_rows` rows went with files removed unread.
    Rewrite {
        ident: TableIdent,
        uuid: uuid::Uuid,
        removed: std::collections::HashSet<String>,
        whole_rows: u64,
    },
    /// `OPTIMIZE`: the files written replace the data files `removed` (by path) of the
    /// table with this uuid, with the same rows.
    Compact {
        ident: TableIdent,
        uuid: uuid::Uuid,
        removed: std::collections::HashSet<String>,
    },
    /// `COPY INTO`: added to the table with this uuid, and the landing files `loaded`
    /// (by URI) to its load history.
    CopyInto {
        ident: TableIdent,
        uuid: uuid::Uuid,
        loaded: Vec<String>,
    },
    /// `CREATE OR REPLACE TABLE .. AS` of an existing table.
    Replace {
        old: Box<Table>,
        properties: HashMap<String, String>,
    },
}

/// A change to the catalog alone.
#[derive(Debug, Clone)]
pub enum CatalogChange {
    /// `CREATE TABLE t (columns)`.
    CreateTable(Box<NewTable>),
    /// `DROP TABLE`: the tables that exist, and whether their files go too.
    DropTables { tables: Vec<Table>, purge: bool },
    /// `DROP SCHEMA`: with `cascade`, their tables too.
    DropSchemas { schemas: Vec<String>, cascade: bool },
    /// `ALTER TABLE t ROLLBACK TO ...`: make an earlier snapshot of `table` current.
    Rollback {
        table: Box<Table>,
        to: quarry_catalog::table::versions::Version,
    },
    /// `CREATE [OR REPLACE] VIEW`: store `definition` as the view `ident`.
    CreateView {
        ident: TableIdent,
        definition: Box<quarry_catalog::views::ViewDefinition>,
        replace: bool,
    },
    /// `DROP VIEW`: the stored views that exist.
    DropViews { views: Vec<TableIdent> },
    /// `ALTER VIEW .. RENAME TO ..`.
    RenameView { from: TableIdent, to: TableIdent },
    /// `ALTER TABLE` that evolves the schema, partition spec or properties of `table`.
    AlterTable {
        table: Box<Table>,
        changes: Vec<quarry_catalog::table::alter::TableChange>,
    },
    /// `ALTER TABLE .. RENAME TO ..`.
    RenameTable { from: TableIdent, to: TableIdent },
    /// Nothing to do (`CREATE TABLE IF NOT EXISTS` of an existing table).
    None,
}

/// A table to create without data, replacing `replace` if given.
#[derive(Debug, Clone)]
pub struct NewTable {
    pub ident: TableIdent,
    pub schema: Schema,
    pub spec: PartitionSpec,
    pub replace: Option<Table>,
}

/// The write of a new table's first files, at a new location.
pub(crate) fn new_table_write(
    store: &TableStore,
    ident: &TableIdent,
    schema: Schema,
    spec: PartitionSpec,
) -> Arc<WriteSpec> {
    Arc::new(WriteSpec::new(
        ident.to_string(),
        store.new_location(ident),
        schema,
        spec,
        &Default::default(),
    ))
}

/// The Iceberg schema and partition spec of a new table with these columns.
pub(crate) fn layout(
    arrow: &datafusion::arrow::datatypes::Schema,
    partition_by: &[PartitionColumn],
) -> Result<(Schema, PartitionSpec), QuarryError> {
    let schema = iceberg_schema(arrow)?;
    let spec = partition_spec(partition_by, &schema)?
        .bind(Arc::new(schema.clone()))
        .map_err(quarry_catalog::table::TableError::from)?;
    Ok((schema, spec))
}

/// The same schema with every column nullable.
pub(crate) fn nullable(
    schema: &datafusion::arrow::datatypes::Schema,
) -> datafusion::arrow::datatypes::Schema {
    datafusion::arrow::datatypes::Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<_>>(),
    )
}

pub(crate) fn insert_plan(
    name: &TableReference,
    target: Arc<dyn TableProvider>,
    op: InsertOp,
    input: Arc<LogicalPlan>,
) -> Result<LogicalPlan, QuarryError> {
    Ok(LogicalPlan::Dml(DmlStatement::new(
        name.clone(),
        provider_as_source(target),
        WriteOp::Insert(op),
        input,
    )))
}

pub const REWRITTEN: &str = "rewritten_data_files_count";
pub const WRITTEN: &str = "new_data_files_count";

/// The result of a write: how many rows it wrote.
pub fn count_schema() -> SchemaRef {
    Arc::new(ArrowSchema::new(vec![Field::new(
        "count",
        DataType::UInt64,
        false,
    )]))
}

/// The result of `OPTIMIZE`: the data files it rewrote and the ones it wrote.
pub fn compact_schema() -> SchemaRef {
    let count = |name| Field::new(name, DataType::UInt64, false);
    Arc::new(ArrowSchema::new(vec![count(REWRITTEN), count(WRITTEN)]))
}

/// What a write answers with.
pub fn result_schema(write: &Write) -> SchemaRef {
    match write.commit {
        Commit::Compact { .. } => compact_schema(),
        _ => count_schema(),
    }
}

impl CatalogChange {
    /// Applies the change.
    pub async fn apply(&self, store: &TableStore) -> Result<(), QuarryError> {
        match self {
            CatalogChange::None => {}
            CatalogChange::CreateTable(new) => {
                let location = store.new_location(&new.ident);
                let layout = (new.schema.clone(), &new.spec);
                let none = Default::default();
                match &new.replace {
                    Some(old) => {
                        commit::replace(store, old, &location, layout, &none, vec![]).await?;
                    }
                    None => {
                        commit::create(store, &new.ident, &location, layout, &none, vec![]).await?;
                    }
                }
            }
            CatalogChange::DropSchemas { schemas, cascade } => {
                for schema in schemas {
                    store.drop_namespace(schema, *cascade).await?;
                }
            }
            CatalogChange::DropTables { tables, purge } => {
                for table in tables {
                    store.drop_table(table, *purge).await?;
                }
            }
            CatalogChange::Rollback { table, to } => {
                commit::rollback(store, table, *to).await?;
            }
            CatalogChange::CreateView {
                ident,
                definition,
                replace,
            } => store.create_view(ident, definition, *replace).await?,
            CatalogChange::DropViews { views } => {
                for view in views {
                    store.drop_view(view).await?;
                }
            }
            CatalogChange::RenameView { from, to } => store.rename_view(from, to).await?,
            CatalogChange::AlterTable { table, changes } => {
                alter::alter(store, table, changes).await?;
            }
            CatalogChange::RenameTable { from, to } => store.rename_table(from, to).await?,
        }
        Ok(())
    }
}
