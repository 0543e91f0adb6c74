//! The DataFusion sessions that queries are planned in.
//!
//! Every session sees one catalog (`quarry`, default schema `public`) shared by all
//! clients, so a table created in one session is visible to the others at once. File
//! paths work as table names and resolve against the warehouse. Sessions carry
//! Ballista's settings, because their settings travel with every task.

use std::sync::Arc;

use ballista_core::extension::SessionConfigExt;
use datafusion::catalog::{
    CatalogProvider, CatalogProviderList, MemoryCatalogProvider, MemoryCatalogProviderList,
    MemorySchemaProvider,
};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::{SessionConfig, SessionContext};
use quarry_catalog::{Warehouse, codec, with_file_tables};

/// Name of Quarry's catalog.
pub const CATALOG: &str = "quarry";
/// The schema unqualified names resolve in.
pub const DEFAULT_SCHEMA: &str = "public";

/// Creates sessions over the shared catalog and runtime.
#[derive(Clone)]
pub struct SessionFactory {
    warehouse: Warehouse,
    catalogs: Arc<dyn CatalogProviderList>,
    runtime: Arc<RuntimeEnv>,
}

impl SessionFactory {
    /// A factory for sessions over `warehouse`.
    pub fn new(warehouse: Warehouse, runtime: Arc<RuntimeEnv>) -> Self {
        let catalog = MemoryCatalogProvider::new();
        catalog
            .register_schema(DEFAULT_SCHEMA, Arc::new(MemorySchemaProvider::new()))
            .expect("a new memory catalog accepts a schema");
        let catalogs = MemoryCatalogProviderList::new();
        catalogs.register_catalog(CATALOG.to_string(), Arc::new(catalog));
        Self {
            warehouse,
            catalogs: Arc::new(catalogs),
            runtime,
        }
    }

    /// The warehouse sessions resolve paths in.
    pub fn warehouse(&self) -> &Warehouse {
        &self.warehouse
    }

    /// A new session whose queries split into `target_partitions` parallel tasks.
    pub fn new_session(&self, target_partitions: usize) -> SessionContext {
        let config = SessionConfig::new_with_ballista()
            .with_ballista_logical_extension_codec(codec::logical_codec())
            .with_ballista_physical_extension_codec(codec::physical_codec())
            .with_information_schema(true)
            .with_default_catalog_and_schema(CATALOG, DEFAULT_SCHEMA)
            .with_create_default_catalog_and_schema(false)
            .with_target_partitions(target_partitions.max(1));
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(Arc::clone(&self.runtime))
            .with_catalog_list(Arc::clone(&self.catalogs))
            .with_default_features()
            .build();
        with_file_tables(SessionContext::new_with_state(state), &self.warehouse)
    }
}
