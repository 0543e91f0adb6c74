//! The lake as the query service sees it: sessions over the lake's catalog, wired to
//! reflections (their registry in every session, the rules that answer queries from
//! them, the `sys` tables) and to stored views (the catalog plans a view's query in a
//! session of the same factory). This is the one place that knows all three, so that
//! sessions, reflections and views do not import one another.

use std::sync::Arc;

use datafusion::execution::runtime_env::RuntimeEnv;
use quarry_catalog::Warehouse;
use quarry_catalog::catalog_provider::LakeCatalog;
use quarry_catalog::store::TableStore;

use crate::reflections::Reflections;
use crate::reflections::raw::UseRawReflections;
use crate::reflections::rewrite::UseReflections;
use crate::reflections::system::with_sys;
use crate::session::{SessionExtensions, SessionFactory};
use crate::views;

/// Sessions over the lake, and the reflections they may answer queries from.
#[derive(Clone)]
pub struct Lake {
    pub sessions: SessionFactory,
    pub reflections: Arc<Reflections>,
}

impl Lake {
    /// The lake of the tables of `store` and the files of `warehouse`. The store must
    /// hold the schema [`crate::session::DEFAULT_SCHEMA`].
    pub fn open(warehouse: Warehouse, store: TableStore, runtime: Arc<RuntimeEnv>) -> Self {
        let reflections = Reflections::new(store.clone());
        let catalog = Arc::new(LakeCatalog::new(store.clone()));
        let extensions = SessionExtensions::default()
            .with_config_extension(Arc::clone(&reflections))
            .with_analyzer_rule(Arc::new(UseReflections::new(Arc::clone(&reflections))))
            .with_optimizer_rule(Arc::new(UseRawReflections::new(Arc::clone(&reflections))));
        let sessions = SessionFactory::new(
            warehouse,
            store,
            runtime,
            with_sys(Arc::clone(&catalog) as _, Arc::clone(&reflections)),
            extensions,
        );
        catalog.set_view_planner(Arc::new(views::Planner::new(&sessions)));
        Self {
            sessions,
            reflections,
        }
    }

    /// New sessions run queries that read at most `bytes` as a single stage.
    pub fn with_single_stage_max_bytes(mut self, bytes: u64) -> Self {
        self.sessions = self.sessions.with_single_stage_max_bytes(bytes);
        self
    }
}
