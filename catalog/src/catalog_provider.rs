//! DataFusion's view of the [`TableStore`]: schemas are Iceberg namespaces, tables are
//! Iceberg tables, read from the catalog at every lookup so that a table created by
//! any session (or any other engine) is visible at once (a table's metadata file is
//! read once per version, see [`TableStore::load`]). Namespaces the planner resolved
//! ahead, asynchronously, are known without a blocking catalog call.
//!
//! The namespace of reflections' materializations is not among the schemas. A name
//! with a `$` suffix that is not a table names a metadata table of one
//! (`"orders$snapshots"`, see [`metadata_tables`]).
//!
//! Views are stored in the catalog ([`crate::views`]); a lookup plans the view's SQL
//! with the [`ViewPlanner`] the scheduler gives ([`LakeCatalog::set_view_planner`]) into
//! DataFusion's `ViewTable`, which the planner inlines. A view that no longer plans (a
//! base table dropped) is still listed, with the columns it was created with, and fails
//! with the reason when queried ([`BrokenView`]).
//!
//! Each schema also holds the session-independent objects DataFusion itself creates:
//! external tables (`CREATE EXTERNAL TABLE`), kept in memory on the scheduler.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{
    CatalogProvider, MemorySchemaProvider, SchemaProvider, Session, TableProvider,
};
use datafusion::common::{DataFusionError, Result, exec_err, plan_err};
use datafusion::datasource::{TableType, ViewTable};
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::physical_plan::ExecutionPlan;
use iceberg::TableIdent;
use parking_lot::Mutex;

use crate::reflection;
use crate::store::TableStore;
use crate::table::IcebergTable;
use crate::table::metadata_tables::{self, MetadataTable};
use crate::views::StoredView;

/// Plans the SQL of a stored view, in a session of the scheduler's (which the catalog
/// cannot make).
#[async_trait]
pub trait ViewPlanner: Send + Sync + fmt::Debug {
    /// The logical plan of `view`'s query, with the view's column names.
    async fn plan(&self, view: &StoredView) -> Result<LogicalPlan>;
}

/// The `quarry` catalog: one schema per namespace.
#[derive(Debug)]
pub struct LakeCatalog {
    store: TableStore,
    overlays: Mutex<HashMap<String, Arc<MemorySchemaProvider>>>,
    views: Arc<OnceLock<Arc<dyn ViewPlanner>>>,
}

impl LakeCatalog {
    pub fn new(store: TableStore) -> Self {
        Self {
            store,
            overlays: Mutex::default(),
            views: Arc::default(),
        }
    }

    /// Plans stored views with `planner` from now on (until then, reading one fails).
    pub fn set_view_planner(&self, planner: Arc<dyn ViewPlanner>) {
        let _ = self.views.set(planner);
    }

    fn overlay(&self, schema: &str) -> Arc<MemorySchemaProvider> {
        Arc::clone(self.overlays.lock().entry(schema.to_string()).or_default())
    }
}

impl CatalogProvider for LakeCatalog {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema_names(&self) -> Vec<String> {
        let mut names = self
            .store
            .blocking(self.store.namespaces())
            .unwrap_or_else(|e| {
                tracing::warn!("cannot list namespaces: {e}");
                Vec::new()
            });
        names.retain(|name| !reflection::is_hidden(name));
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if reflection::is_hidden(name) {
            return None;
        }
        // The planner resolved the statement's namespaces ahead; other callers block.
        let exists = match self.store.namespace_known(name) {
            true => Ok(true),
            false => self.store.blocking(self.store.namespace_exists(name)),
        };
        match exists {
            Ok(true) => Some(Arc::new(LakeSchema {
                store: self.store.clone(),
                namespace: name.to_string(),
                overlay: self.overlay(name),
                views: Arc::clone(&self.views),
            })),
            Ok(false) => None,
            Err(e) => {
                tracing::warn!("cannot look up namespace {name}: {e}");
                None
            }
        }
    }

    fn register_schema(
        &self,
        name: &str,
        _schema: Arc<dyn SchemaProvider>,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        self.store
            .blocking(self.store.create_namespace(name, false))?;
        Ok(None)
    }

    fn deregister_schema(
        &self,
        name: &str,
        cascade: bool,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        let Some(schema) = self.schema(name) else {
            return Ok(None);
        };
        self.store
            .blocking(self.store.drop_namespace(name, cascade))?;
        self.overlays.lock().remove(name);
        Ok(Some(schema))
    }
}

/// One namespace as a DataFusion schema.
#[derive(Debug)]
pub struct LakeSchema {
    store: TableStore,
    namespace: String,
    overlay: Arc<MemorySchemaProvider>,
    views: Arc<OnceLock<Arc<dyn ViewPlanner>>>,
}

impl LakeSchema {
    fn ident(&self, table: &str) -> Result<TableIdent> {
        Ok(
            TableIdent::from_strs(self.namespace.split('.').chain([table]))
                .map_err(crate::table::TableError::from)?,
        )
    }

    /// The stored view `view` as a table: its query planned now, or, if it no longer
    /// plans, a [`BrokenView`] that says why.
    async fn view(&self, view: StoredView) -> Result<Arc<dyn TableProvider>> {
        let Some(planner) = self.views.get() else {
            return plan_err!("view {} cannot be read here: no view planner", view.ident);
        };
        let sql = view.sql()?.to_string();
        match planner.plan(&view).await {
            Ok(plan) => Ok(Arc::new(ViewTable::new(plan, Some(sql)))),
            Err(e) => Ok(Arc::new(BrokenView {
                schema: view.schema()?,
                sql,
                reason: format!("view {} cannot be read: {e}", view.ident),
            })),
        }
    }
}

#[async_trait]
impl SchemaProvider for LakeSchema {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn table_names(&self) -> Vec<String> {
        let mut names = self
            .store
            .blocking(self.store.tables(&self.namespace))
            .unwrap_or_else(|e| {
                tracing::warn!("cannot list tables of {}: {e}", self.namespace);
                Vec::new()
            });
        names.extend(
            self.store
                .blocking(self.store.views(&self.namespace))
                .unwrap_or_else(|e| {
                    tracing::warn!("cannot list views of {}: {e}", self.namespace);
                    Vec::new()
                }),
        );
        names.extend(self.overlay.table_names());
        names.sort();
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(table) = self.overlay.table(name).await? {
            return Ok(Some(table));
        }
        let ident = self.ident(name)?;
        if let Some(table) = self.store.load(&ident).await? {
            return Ok(Some(Arc::new(IcebergTable::new(table)?)));
        }
        if let Some(view) = self.store.load_view(&ident).await? {
            return Ok(Some(self.view(view).await?));
        }
        // `"t$snapshots"` and the other metadata tables of table `t`.
        let Some(split) = metadata_tables::split_name(name) else {
            return Ok(None);
        };
        let (base, kind) = split?;
        match self.store.load(&self.ident(base)?).await? {
            Some(table) => Ok(Some(Arc::new(MetadataTable::new(table, kind)?))),
            None => Ok(None),
        }
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        if self.table_exist(&name) {
            return exec_err!("table '{}.{name}' already exists", self.namespace);
        }
        self.overlay.register_table(name, table)
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if self.overlay.table_exist(name) {
            return self.overlay.deregister_table(name);
        }
        let ident = self.ident(name)?;
        self.store
            .blocking(async {
                match self.store.load(&ident).await? {
                    Some(table) => {
                        self.store.drop_table(&table, false).await?;
                        Ok(Some(
                            Arc::new(IcebergTable::new(table)?) as Arc<dyn TableProvider>
                        ))
                    }
                    None => Ok(None),
                }
            })
            .map_err(DataFusionError::from)
    }

    fn table_exist(&self, name: &str) -> bool {
        if self.overlay.table_exist(name) {
            return true;
        }
        let Ok(ident) = self.ident(name) else {
            return false;
        };
        let exists = self.store.blocking(async {
            Ok(self.store.catalog().table_exists(&ident).await?
                || self.store.view_exists(&ident).await?)
        });
        matches!(exists, Ok(true))
    }
}

/// A stored view whose query no longer plans: listed with the columns it was created
/// with; a query of it fails with the reason.
#[derive(Debug)]
pub struct BrokenView {
    schema: SchemaRef,
    sql: String,
    reason: String,
}

#[async_trait]
impl TableProvider for BrokenView {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn get_table_definition(&self) -> Option<&str> {
        Some(&self.sql)
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        _projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan_err!("{}", self.reason)
    }
}

/// A catalog with one more schema around another: a system schema (`pg_catalog`,
/// `sys`) that sessions see beside the lake's, and that statements cannot replace.
#[derive(Debug)]
pub struct WithSchema {
    inner: Arc<dyn CatalogProvider>,
    name: &'static str,
    schema: Arc<dyn SchemaProvider>,
}

impl WithSchema {
    pub fn new(
        inner: Arc<dyn CatalogProvider>,
        name: &'static str,
        schema: Arc<dyn SchemaProvider>,
    ) -> Self {
        Self {
            inner,
            name,
            schema,
        }
    }
}

impl CatalogProvider for WithSchema {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema_names(&self) -> Vec<String> {
        let mut names = self.inner.schema_names();
        names.push(self.name.to_string());
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        match name == self.name {
            true => Some(Arc::clone(&self.schema)),
            false => self.inner.schema(name),
        }
    }

    fn register_schema(
        &self,
        name: &str,
        schema: Arc<dyn SchemaProvider>,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        if name == self.name {
            return exec_err!("schema '{name}' is Quarry's own");
        }
        self.inner.register_schema(name, schema)
    }

    fn deregister_schema(
        &self,
        name: &str,
        cascade: bool,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        if name == self.name {
            return exec_err!("schema '{name}' is Quarry's own");
        }
        self.inner.deregister_schema(name, cascade)
    }
}
