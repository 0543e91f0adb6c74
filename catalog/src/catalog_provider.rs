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
//! Each schema also holds the session-independent objects DataFusion itself creates:
//! views and external tables (`CREATE EXTERNAL TABLE`), kept in memory on the scheduler.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, MemorySchemaProvider, SchemaProvider, TableProvider};
use datafusion::common::{DataFusionError, Result, exec_err};
use iceberg::TableIdent;
use parking_lot::Mutex;

use crate::reflection;
use crate::store::TableStore;
use crate::table::IcebergTable;
use crate::table::metadata_tables::{self, MetadataTable};

/// The `quarry` catalog: one schema per namespace.
#[derive(Debug)]
pub struct LakeCatalog {
    store: TableStore,
    overlays: Mutex<HashMap<String, Arc<MemorySchemaProvider>>>,
}

impl LakeCatalog {
    pub fn new(store: TableStore) -> Self {
        Self {
            store,
            overlays: Mutex::default(),
        }
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
}

impl LakeSchema {
    fn ident(&self, table: &str) -> Result<TableIdent> {
        Ok(
            TableIdent::from_strs(self.namespace.split('.').chain([table]))
                .map_err(crate::table::TableError::from)?,
        )
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
        names.extend(self.overlay.table_names());
        names.sort();
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(table) = self.overlay.table(name).await? {
            return Ok(Some(table));
        }
        if let Some(table) = self.store.load(&self.ident(name)?).await? {
            return Ok(Some(Arc::new(IcebergTable::new(table)?)));
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
        let exists = self
            .store
            .blocking(async { Ok(self.store.catalog().table_exists(&ident).await?) });
        matches!(exists, Ok(true))
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
