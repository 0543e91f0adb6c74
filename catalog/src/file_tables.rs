//! Files and directories as tables, resolved against the [`Warehouse`].
//!
//! Two DataFusion extension points carry this:
//! - a [`UrlTableFactory`] behind a [`DynamicFileCatalog`], so that
//!   `SELECT * FROM 'landing/sales/*.csv'` reads the files directly, and
//! - a wrapper around each registered [`TableProviderFactory`], so that
//!   `CREATE EXTERNAL TABLE ... LOCATION 'landing/sales/'` means the same place.
//!
//! Both produce DataFusion `ListingTable`s, whose scans serialize to the executors with
//! the default codecs and are split by file and byte range across executor slots.

use std::sync::{Arc, OnceLock, Weak};

use async_trait::async_trait;
use datafusion::catalog::{
    DynamicFileCatalog, Session, TableProvider, TableProviderFactory, UrlTableFactory,
};
use datafusion::common::{DataFusionError, Result, plan_datafusion_err};
use datafusion::datasource::listing::{
    ListingTable, ListingTableConfig, ListingTableConfigExt, ListingTableUrl,
};
use datafusion::execution::SessionState;
use datafusion::logical_expr::CreateExternalTable;
use datafusion::prelude::SessionContext;
use parking_lot::RwLock;

use crate::Warehouse;
use crate::table::TableError;

/// Returns `ctx` with file paths usable as table names and with `CREATE EXTERNAL TABLE`
/// locations resolved against `warehouse`.
pub fn with_file_tables(ctx: SessionContext, warehouse: &Warehouse) -> SessionContext {
    let session_id = ctx.session_id();
    let factory = Arc::new(WarehouseUrlTables {
        warehouse: warehouse.clone(),
        state: OnceLock::new(),
    });
    let mut state = ctx.state();
    let catalog_list = Arc::new(DynamicFileCatalog::new(
        Arc::clone(state.catalog_list()),
        Arc::clone(&factory) as Arc<dyn UrlTableFactory>,
    ));
    for inner in state.table_factories_mut().values_mut() {
        *inner = Arc::new(WarehouseTableFactory {
            warehouse: warehouse.clone(),
            inner: Arc::clone(inner),
        });
    }
    let ctx: SessionContext = datafusion::execution::SessionStateBuilder::new_from_existing(state)
        .with_session_id(session_id)
        .with_catalog_list(catalog_list)
        .build()
        .into();
    // The factory reads the session it belongs to; a weak reference avoids a cycle.
    let _ = factory.state.set(ctx.state_weak_ref());
    ctx
}

/// Whether a table name is meant as a file location rather than a table identifier.
fn looks_like_path(name: &str) -> bool {
    name.contains('/') || name.contains('*') || name.contains("://") || has_file_extension(name)
}

fn has_file_extension(name: &str) -> bool {
    const EXTENSIONS: [&str; 10] = [
        ".parquet", ".csv", ".tsv", ".json", ".ndjson", ".jsonl", ".avro", ".arrow", ".gz", ".zst",
    ];
    let lower = name.to_ascii_lowercase();
    EXTENSIONS.iter().any(|ext| lower.ends_with(ext))
}

/// Creates a `ListingTable` for a path-like table name.
#[derive(Debug)]
struct WarehouseUrlTables {
    warehouse: Warehouse,
    state: OnceLock<Weak<RwLock<SessionState>>>,
}

#[async_trait]
impl UrlTableFactory for WarehouseUrlTables {
    async fn try_new(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if !looks_like_path(name) {
            return Ok(None);
        }
        let state = self
            .state
            .get()
            .and_then(Weak::upgrade)
            .map(|state| state.read().clone())
            .ok_or_else(|| DataFusionError::Internal("session is gone".into()))?;
        let location = self.warehouse.resolve_file(name)?;
        let url = ListingTableUrl::parse(&location)?;
        let config = ListingTableConfig::new(url)
            .infer_options(&state)
            .await
            .map_err(|e| unreadable(name, &location, e))?
            .infer_partitions_from_path(&state)
            .await?
            .infer_schema(&state)
            .await
            .map_err(|e| unreadable(name, &location, e))?;
        Ok(Some(Arc::new(ListingTable::try_new(config)?)))
    }
}

/// The error for a path that names no readable files: a missing table when there are
/// none.
fn unreadable(name: &str, location: &str, e: DataFusionError) -> DataFusionError {
    let missing = |reason: &str| {
        let message = format!("cannot read '{name}' ({location}): {reason}");
        DataFusionError::External(Box::new(TableError::NoTable(message)))
    };
    match e.find_root() {
        DataFusionError::Internal(msg) if msg.contains("No files") => missing("no files found"),
        DataFusionError::ObjectStore(e) if matches!(**e, object_store::Error::NotFound { .. }) => {
            missing("no such file or directory")
        }
        root => plan_datafusion_err!("cannot read '{name}' ({location}): {}", root.message()),
    }
}

/// Resolves `LOCATION` against the warehouse, then delegates to DataFusion's factory.
#[derive(Debug)]
struct WarehouseTableFactory {
    warehouse: Warehouse,
    inner: Arc<dyn TableProviderFactory>,
}

#[async_trait]
impl TableProviderFactory for WarehouseTableFactory {
    async fn create(
        &self,
        state: &dyn Session,
        cmd: &CreateExternalTable,
    ) -> Result<Arc<dyn TableProvider>> {
        let mut cmd = cmd.clone();
        cmd.location = self.warehouse.resolve_file(&cmd.location)?;
        self.inner.create(state, &cmd).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_like_names() {
        assert!(looks_like_path("landing/a.csv"));
        assert!(looks_like_path("data.parquet"));
        assert!(looks_like_path("*.json"));
        assert!(looks_like_path("s3://b/k"));
        assert!(!looks_like_path("customers"));
    }

    #[tokio::test]
    async fn reads_relative_paths_and_external_tables_from_the_warehouse() {
        let dir = tempfile::tempdir().unwrap();
        let wh = Warehouse::open(dir.path().to_string_lossy()).unwrap();
        std::fs::create_dir_all(wh.local_root().unwrap().join(Warehouse::LANDING)).unwrap();
        std::fs::write(
            wh.local_root()
                .unwrap()
                .join(Warehouse::LANDING)
                .join("t.csv"),
            "a,b\n1,x\n2,y\n",
        )
        .unwrap();
        let ctx = with_file_tables(SessionContext::new(), &wh);

        let n = ctx
            .sql("SELECT count(*) FROM 'landing/t.csv'")
            .await
            .unwrap();
        let batches = n.collect().await.unwrap();
        assert_eq!(batches[0].num_rows(), 1);

        ctx.sql("CREATE EXTERNAL TABLE t STORED AS CSV LOCATION 'landing/t.csv'")
            .await
            .unwrap();
        let rows = ctx
            .sql("SELECT b FROM t WHERE a = 2")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(rows[0].num_rows(), 1);

        let err = ctx
            .sql("SELECT * FROM 'landing/missing.csv'")
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("cannot read 'landing/missing.csv'"),
            "{err}"
        );
        let err = ctx.sql("SELECT * FROM nosuchtable").await.unwrap_err();
        assert!(err.to_string().contains("not found"), "{err}");
    }
}
