//! [`IcebergTable`]: an Iceberg table as a DataFusion `TableProvider`.
//!
//! It holds the table as loaded when the query was planned, so a query reads one
//! snapshot however long it runs: the current one, or an earlier one that a
//! time-travel clause named (`at_snapshot`), with the schema that snapshot was
//! written with. Writes go through `insert_into`, which the scheduler
//! arms with the statement's [`WriteSpec`] before planning (see `for_write`).

use std::any::Any;
use std::collections::HashSet;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::TableType;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use iceberg::table::Table;

use super::scan::{Read, file_field, plan_scan};
use super::write::{IcebergWriteExec, WriteSpec};
use super::{TableError, types};

/// An Iceberg table, or one about to be created by `CREATE TABLE ... AS`.
#[derive(Debug, Clone)]
pub struct IcebergTable {
    schema: SchemaRef,
    table: Option<Table>,
    write: Option<Arc<WriteSpec>>,
    /// Read only the files added after this snapshot.
    since: Option<i64>,
    /// Read this snapshot rather than the current one.
    snapshot: Option<i64>,
    /// Read only these data files (by path): those a row-level change rewrites.
    only: Option<Arc<HashSet<String>>>,
    /// The schema ends with `scan::FILE_COLUMN`, each row's data file.
    file_column: bool,
}

impl IcebergTable {
    /// The table as it is now.
    pub fn new(table: Table) -> Result<Self, TableError> {
        Ok(Self {
            schema: types::query_schema(table.metadata().current_schema())?,
            table: Some(table),
            write: None,
            since: None,
            snapshot: None,
            only: None,
            file_column: false,
        })
    }

    /// The table as it was at snapshot `id` (which it must have), read with the schema
    /// of that snapshot.
    pub fn at_snapshot(table: Table, id: i64) -> Result<Self, TableError> {
        let metadata = table.metadata();
        let Some(snapshot) = metadata.snapshot_by_id(id) else {
            return Err(TableError::NotFound(format!(
                "table '{}' has no snapshot {id}",
                table.identifier()
            )));
        };
        let schema = snapshot.schema(metadata)?;
        Ok(Self {
            schema: types::query_schema(&schema)?,
            table: Some(table),
            write: None,
            since: None,
            snapshot: Some(id),
            only: None,
            file_column: false,
        })
    }

    /// The rows the table gained after snapshot `since`, which only appends followed
    /// (see `scan::only_appends_since`).
    pub fn appended_since(table: Table, since: i64) -> Result<Self, TableError> {
        let mut appended = Self::new(table)?;
        appended.since = Some(since);
        Ok(appended)
    }

    /// The data files `only` (by path) of snapshot `id` of the table: what a row-level
    /// change rewrites.
    pub fn files_of(table: Table, id: i64, only: Arc<HashSet<String>>) -> Result<Self, TableError> {
        let mut files = Self::at_snapshot(table, id)?;
        files.only = Some(only);
        Ok(files)
    }

    /// This table with one more column, `scan::FILE_COLUMN`: the data file each row is
    /// in.
    pub fn with_file_column(mut self) -> Self {
        if !self.file_column {
            let mut fields = self.schema.fields().to_vec();
            fields.push(file_field());
            self.schema = Arc::new(arrow::datatypes::Schema::new_with_metadata(
                fields,
                self.schema.metadata().clone(),
            ));
            self.file_column = true;
        }
        self
    }

    /// A table that does not exist yet, as the target of a write.
    pub fn pending(spec: Arc<WriteSpec>) -> Result<Self, TableError> {
        Ok(Self {
            schema: types::query_schema(&spec.schema)?,
            table: None,
            write: Some(spec),
            since: None,
            snapshot: None,
            only: None,
            file_column: false,
        })
    }

    /// This table as the target of the write `spec` describes.
    pub fn for_write(mut self, spec: Arc<WriteSpec>) -> Self {
        self.write = Some(spec);
        self
    }

    /// The table's metadata, unless it is yet to be created.
    pub fn table(&self) -> Option<&Table> {
        self.table.as_ref()
    }

    /// Whether this reads all of the table's current snapshot (not only what was
    /// appended since an earlier one, nor an earlier snapshot, nor a table still to be
    /// written).
    pub fn is_whole(&self) -> bool {
        self.table.is_some() && self.since.is_none() && self.snapshot.is_none()
    }

    /// The snapshot a time-travel clause named, if any.
    pub fn snapshot_id(&self) -> Option<i64> {
        self.snapshot
    }
}

#[async_trait]
impl TableProvider for IcebergTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // Used for pruning; DataFusion still filters the rows.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match &self.table {
            Some(table) => {
                let scan = (projection, filters, limit);
                let read = Read {
                    snapshot: self.snapshot,
                    since: self.since,
                    only: self.only.clone(),
                    file_column: self.file_column,
                };
                plan_scan(state, table, &self.schema, scan, read).await
            }
            None => {
                let schema = match projection {
                    Some(p) => Arc::new(self.schema.project(p)?),
                    None => Arc::clone(&self.schema),
                };
                Ok(Arc::new(EmptyExec::new(schema)))
            }
        }
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if insert_op == InsertOp::Replace {
            return Err(DataFusionError::Plan(
                "REPLACE INTO is not supported for Iceberg tables; use INSERT OVERWRITE".into(),
            ));
        }
        let Some(spec) = &self.write else {
            return Err(DataFusionError::Internal(
                "a write to an Iceberg table was planned without its write spec".into(),
            ));
        };
        Ok(Arc::new(IcebergWriteExec::new(input, Arc::clone(spec))))
    }
}
