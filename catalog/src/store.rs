//! [`TableStore`]: the Iceberg catalog that holds Quarry's tables, and the one place that
//! changes it.
//!
//! The embedded default keeps the catalog in SQLite inside the warehouse
//! (`<warehouse>/catalog.db`, iceberg-catalog-sql's layout, which pyiceberg's SQL catalog
//! opens too; a local file elsewhere when the warehouse is in S3) and table files under
//! `<warehouse>/<namespace>/<table>-<id>/`, written through the process's object stores. Other
//! backends (etcd, REST) plug in behind [`Backend`]: iceberg's `Catalog` trait plus an
//! atomic swap of a table's metadata pointer, which commits other than appends need.
//!
//! Commits to one table are serialized within the process; across processes the swap's
//! compare-and-set turns a lost race into a retryable conflict.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::execution::object_store::ObjectStoreRegistry;
use iceberg::io::{FileIO, FileIOBuilder};
use iceberg::spec::{TableMetadata, ViewMetadata};
use iceberg::table::Table;
use iceberg::{Catalog, CatalogBuilder, ErrorKind, MetadataLocation, NamespaceIdent, TableIdent};
use iceberg_catalog_sql::{
    SQL_CATALOG_PROP_BIND_STYLE, SQL_CATALOG_PROP_URI, SQL_CATALOG_PROP_WAREHOUSE, SqlBindStyle,
    SqlCatalogBuilder,
};
use parking_lot::Mutex;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use tokio::runtime::{Handle, RuntimeFlavor};

use crate::Warehouse;
use crate::storage;
use crate::table::TableError;

/// The name tables are filed under in the catalog database. pyiceberg must open the
/// database with the same catalog name to see them.
pub const CATALOG_NAME: &str = "quarry";

/// The namespaces created at first start unless configured otherwise.
pub const DEFAULT_NAMESPACES: [&str; 3] = ["bronze", "silver", "gold"];

/// A catalog backend: iceberg's catalog operations and an atomic pointer swap.
#[async_trait]
pub trait Backend: Send + Sync + fmt::Debug {
    /// The backend as an iceberg catalog.
    fn catalog(&self) -> &dyn Catalog;

    /// Points `table` at `new_location` if it still points at `expected`; a lost race is
    /// a retryable `CatalogCommitConflicts` error.
    async fn swap(
        &self,
        table: &TableIdent,
        expected: &str,
        new_location: &str,
    ) -> iceberg::Result<()>;

    /// Where `table`'s current metadata file is, or `None` if there is no such table:
    /// one lookup, without reading the file.
    async fn metadata_location(&self, table: &TableIdent) -> iceberg::Result<Option<String>>;

    /// Where `view`'s current metadata file is, or `None` if there is no such view.
    async fn view_location(&self, view: &TableIdent) -> iceberg::Result<Option<String>>;

    /// The names of the views of `namespace`.
    async fn view_names(&self, namespace: &NamespaceIdent) -> iceberg::Result<Vec<String>>;

    /// Points `view` at `location`: with no `expected` location, creates it (an
    /// `TableAlreadyExists` error if a table or view has its name); else only if it
    /// still points at `expected` (a retryable conflict if not).
    async fn put_view(
        &self,
        view: &TableIdent,
        expected: Option<&str>,
        location: &str,
    ) -> iceberg::Result<()>;

    /// Removes `view` from the catalog; whether it was there.
    async fn drop_view(&self, view: &TableIdent) -> iceberg::Result<bool>;

    /// Files the view `from` under the name `to`, which no table or view may have.
    async fn rename_view(&self, from: &TableIdent, to: &TableIdent) -> iceberg::Result<()>;
}

/// An iceberg table over `metadata`, read from `location`.
pub(crate) fn build_table(
    file_io: &FileIO,
    ident: TableIdent,
    location: String,
    metadata: TableMetadata,
) -> iceberg::Result<Table> {
    Table::builder()
        .file_io(file_io.clone())
        .identifier(ident)
        .metadata_location(location)
        .metadata(metadata)
        .runtime(iceberg::Runtime::try_current()?)
        .build()
}

/// iceberg-catalog-sql on a SQLite file, with the swap done on the same database.
struct SqliteBackend {
    catalog: iceberg_catalog_sql::SqlCatalog,
    pool: SqlitePool,
}

impl fmt::Debug for SqliteBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteBackend").finish_non_exhaustive()
    }
}

#[async_trait]
impl Backend for SqliteBackend {
    fn catalog(&self) -> &dyn Catalog {
        &self.catalog
    }

    async fn swap(
        &self,
        table: &TableIdent,
        expected: &str,
        new_location: &str,
    ) -> iceberg::Result<()> {
        // The same statement iceberg-catalog-sql's own commits run.
        let result = sqlx::query(
            "UPDATE iceberg_tables SET metadata_location = ?, previous_metadata_location = ?
             WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?
               AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL)
               AND metadata_location = ?",
        )
        .bind(new_location)
        .bind(expected)
        .bind(CATALOG_NAME)
        .bind(table.namespace().join("."))
        .bind(table.name())
        .bind(expected)
        .execute(&self.pool)
        .await
        .map_err(database_error)?;
        if result.rows_affected() == 0 {
            return Err(iceberg::Error::new(
                ErrorKind::CatalogCommitConflicts,
                format!("table {table} changed while committing"),
            )
            .with_retryable(true));
        }
        Ok(())
    }

    async fn metadata_location(&self, table: &TableIdent) -> iceberg::Result<Option<String>> {
        sqlx::query_scalar(
            "SELECT metadata_location FROM iceberg_tables
             WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?
               AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL)",
        )
        .bind(CATALOG_NAME)
        .bind(table.namespace().join("."))
        .bind(table.name())
        .fetch_optional(&self.pool)
        .await
        .map_err(database_error)
    }

    // Views are rows of the same table with `iceberg_type = 'VIEW'`, as in Iceberg's
    // JDBC catalog; iceberg-catalog-sql and pyiceberg list only the other rows. The
    // table's primary key (catalog, namespace, name) keeps view and table names apart.

    async fn view_location(&self, view: &TableIdent) -> iceberg::Result<Option<String>> {
        sqlx::query_scalar(
            "SELECT metadata_location FROM iceberg_tables
             WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?
               AND iceberg_type = 'VIEW'",
        )
        .bind(CATALOG_NAME)
        .bind(view.namespace().join("."))
        .bind(view.name())
        .fetch_optional(&self.pool)
        .await
        .map_err(database_error)
    }

    async fn view_names(&self, namespace: &NamespaceIdent) -> iceberg::Result<Vec<String>> {
        sqlx::query_scalar(
            "SELECT table_name FROM iceberg_tables
             WHERE catalog_name = ? AND table_namespace = ? AND iceberg_type = 'VIEW'",
        )
        .bind(CATALOG_NAME)
        .bind(namespace.join("."))
        .fetch_all(&self.pool)
        .await
        .map_err(database_error)
    }

    async fn put_view(
        &self,
        view: &TableIdent,
        expected: Option<&str>,
        location: &str,
    ) -> iceberg::Result<()> {
        let namespace = view.namespace().join(".");
        let Some(expected) = expected else {
            let created = sqlx::query(
                "INSERT INTO iceberg_tables (catalog_name, table_namespace, table_name,
                                             metadata_location, iceberg_type)
                 VALUES (?, ?, ?, ?, 'VIEW') ON CONFLICT DO NOTHING",
            )
            .bind(CATALOG_NAME)
            .bind(&namespace)
            .bind(view.name())
            .bind(location)
            .execute(&self.pool)
            .await
            .map_err(database_error)?;
            return match created.rows_affected() {
                0 => Err(name_taken(view)),
                _ => Ok(()),
            };
        };
        let swapped = sqlx::query(
            "UPDATE iceberg_tables SET metadata_location = ?, previous_metadata_location = ?
             WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?
               AND iceberg_type = 'VIEW' AND metadata_location = ?",
        )
        .bind(location)
        .bind(expected)
        .bind(CATALOG_NAME)
        .bind(&namespace)
        .bind(view.name())
        .bind(expected)
        .execute(&self.pool)
        .await
        .map_err(database_error)?;
        match swapped.rows_affected() {
            0 => Err(view_changed(view)),
            _ => Ok(()),
        }
    }

    async fn drop_view(&self, view: &TableIdent) -> iceberg::Result<bool> {
        let dropped = sqlx::query(
            "DELETE FROM iceberg_tables
             WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?
               AND iceberg_type = 'VIEW'",
        )
        .bind(CATALOG_NAME)
        .bind(view.namespace().join("."))
        .bind(view.name())
        .execute(&self.pool)
        .await
        .map_err(database_error)?;
        Ok(dropped.rows_affected() > 0)
    }

    async fn rename_view(&self, from: &TableIdent, to: &TableIdent) -> iceberg::Result<()> {
        let renamed = sqlx::query(
            "UPDATE OR IGNORE iceberg_tables SET table_namespace = ?, table_name = ?
             WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?
               AND iceberg_type = 'VIEW'",
        )
        .bind(to.namespace().join("."))
        .bind(to.name())
        .bind(CATALOG_NAME)
        .bind(from.namespace().join("."))
        .bind(from.name())
        .execute(&self.pool)
        .await
        .map_err(database_error)?;
        match renamed.rows_affected() {
            0 => Err(name_taken(to)),
            _ => Ok(()),
        }
    }
}

fn database_error(e: sqlx::Error) -> iceberg::Error {
    iceberg::Error::new(ErrorKind::Unexpected, e.to_string())
}

/// A table or view already has the name `view`.
pub(crate) fn name_taken(view: &TableIdent) -> iceberg::Error {
    iceberg::Error::new(
        ErrorKind::TableAlreadyExists,
        format!("a table or view named {view} already exists"),
    )
}

/// `view` changed since it was read.
pub(crate) fn view_changed(view: &TableIdent) -> iceberg::Error {
    iceberg::Error::new(
        ErrorKind::CatalogCommitConflicts,
        format!("view {view} changed (or was dropped) meanwhile"),
    )
    .with_retryable(true)
}

/// How many table versions [`TableStore::load`] keeps, and for how long unused.
const CACHED_TABLES: u64 = 256;
const CACHED_TABLE_IDLE: std::time::Duration = std::time::Duration::from_secs(600);

/// How long a namespace seen to exist is taken to exist without asking the catalog
/// again: a namespace another process drops stays visible (with no tables) this long.
const KNOWN_NAMESPACE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// The catalog of Quarry's Iceberg tables; see the module docs.
#[derive(Clone)]
pub struct TableStore {
    backend: Arc<dyn Backend>,
    root: String,
    file_io: FileIO,
    runtime: Handle,
    locks: Arc<Mutex<HashMap<TableIdent, Arc<tokio::sync::Mutex<()>>>>>,
    /// Tables by metadata file. A metadata file never changes once written, so a table
    /// loaded again at the same version is the one loaded before, with the manifests
    /// its earlier scans read (iceberg's object cache, which every clone shares).
    tables: moka::future::Cache<String, Table>,
    /// View metadata by file, likewise (`views.rs`).
    views: moka::future::Cache<String, Arc<ViewMetadata>>,
    /// Namespaces seen to exist in the last few seconds: DataFusion looks schemas up
    /// synchronously while planning, so the planner resolves a statement's namespaces
    /// ahead ([`TableStore::resolve_namespaces`]) and the lookups find them here.
    known_namespaces: moka::sync::Cache<String, ()>,
}

impl fmt::Debug for TableStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TableStore")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl TableStore {
    /// Opens the SQLite catalog of a local warehouse, `<warehouse>/catalog.db`, with only
    /// local files reachable.
    pub async fn open_embedded(
        warehouse: &Warehouse,
        namespaces: &[String],
    ) -> Result<Self, TableError> {
        let root = warehouse.local_root().ok_or_else(|| {
            TableError::Invalid(format!("the warehouse {warehouse} is not a directory"))
        })?;
        let stores =
            Arc::new(datafusion::execution::object_store::DefaultObjectStoreRegistry::new());
        Self::open_sqlite(&root.join("catalog.db"), warehouse, stores, namespaces).await
    }

    /// Opens (creating on first use) the SQLite catalog in the file `db`, for tables
    /// under `warehouse`, whose files are reached through `stores`; creates `namespaces`
    /// that do not exist yet. Must be called within a Tokio runtime.
    pub async fn open_sqlite(
        db: &Path,
        warehouse: &Warehouse,
        stores: Arc<dyn ObjectStoreRegistry>,
        namespaces: &[String],
    ) -> Result<Self, TableError> {
        if let Some(dir) = db.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                TableError::Invalid(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let props = HashMap::from([
            (
                SQL_CATALOG_PROP_URI.to_string(),
                format!("sqlite:{}?mode=rwc", db.display()),
            ),
            (
                SQL_CATALOG_PROP_WAREHOUSE.to_string(),
                warehouse.uri().to_string(),
            ),
            (
                SQL_CATALOG_PROP_BIND_STYLE.to_string(),
                SqlBindStyle::QMark.to_string(),
            ),
        ]);
        let factory = storage::factory(stores);
        let catalog = SqlCatalogBuilder::default()
            .with_storage_factory(Arc::clone(&factory))
            .load(CATALOG_NAME, props)
            .await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(
                SqliteConnectOptions::new()
                    .filename(db)
                    .journal_mode(SqliteJournalMode::Wal)
                    .busy_timeout(std::time::Duration::from_secs(30)),
            )
            .await?;
        let backend = Arc::new(SqliteBackend { catalog, pool });
        let file_io = FileIOBuilder::new(factory).build();
        Self::with_backend(backend, warehouse, file_io, namespaces).await
    }

    /// Opens the catalog in etcd at `endpoints`, under `prefix`, for tables under
    /// `warehouse`, whose files are reached through `stores`; creates `namespaces` that
    /// do not exist yet.
    #[cfg(feature = "etcd")]
    pub async fn open_etcd(
        endpoints: &[String],
        prefix: &str,
        warehouse: &Warehouse,
        stores: Arc<dyn ObjectStoreRegistry>,
        namespaces: &[String],
    ) -> Result<Self, TableError> {
        let file_io = FileIOBuilder::new(storage::factory(stores)).build();
        let catalog =
            crate::etcd::EtcdCatalog::connect(endpoints, prefix, warehouse.uri(), file_io.clone())
                .await?;
        Self::with_backend(Arc::new(catalog), warehouse, file_io, namespaces).await
    }

    async fn with_backend(
        backend: Arc<dyn Backend>,
        warehouse: &Warehouse,
        file_io: FileIO,
        namespaces: &[String],
    ) -> Result<Self, TableError> {
        let store = Self {
            backend,
            root: warehouse.uri().to_string(),
            file_io,
            runtime: Handle::current(),
            locks: Arc::default(),
            tables: moka::future::Cache::builder()
                .max_capacity(CACHED_TABLES)
                .time_to_idle(CACHED_TABLE_IDLE)
                .build(),
            views: moka::future::Cache::builder()
                .max_capacity(CACHED_TABLES)
                .time_to_idle(CACHED_TABLE_IDLE)
                .build(),
            known_namespaces: moka::sync::Cache::builder()
                .max_capacity(4096)
                .time_to_live(KNOWN_NAMESPACE_TTL)
                .build(),
        };
        for namespace in namespaces {
            store.create_namespace(namespace, true).await?;
        }
        Ok(store)
    }

    /// The backend: the catalog and what Iceberg's catalog trait lacks.
    pub(crate) fn backend(&self) -> &dyn Backend {
        self.backend.as_ref()
    }

    /// View metadata already read, by file.
    pub(crate) fn views_read(&self) -> &moka::future::Cache<String, Arc<ViewMetadata>> {
        &self.views
    }

    /// The catalog itself.
    pub fn catalog(&self) -> &dyn Catalog {
        self.backend.catalog()
    }

    /// Reads and writes table metadata files.
    pub fn file_io(&self) -> &FileIO {
        &self.file_io
    }

    /// The top-level namespaces, sorted.
    pub async fn namespaces(&self) -> Result<Vec<String>, TableError> {
        let mut names: Vec<String> = self
            .catalog()
            .list_namespaces(None)
            .await?
            .into_iter()
            .map(|ns| ns.join("."))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Whether the namespace exists.
    pub async fn namespace_exists(&self, name: &str) -> Result<bool, TableError> {
        let exists = self.catalog().namespace_exists(&namespace(name)?).await?;
        if exists {
            self.known_namespaces.insert(name.to_string(), ());
        }
        Ok(exists)
    }

    /// Whether the namespace was seen to exist moments ago (by [`Self::namespace_exists`]),
    /// without asking the catalog.
    pub fn namespace_known(&self, name: &str) -> bool {
        self.known_namespaces.contains_key(name)
    }

    /// Asks the catalog about the namespaces not seen lately, so that the synchronous
    /// lookups of planning that follows find them in memory.
    pub async fn resolve_namespaces<'a>(
        &self,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), TableError> {
        for name in names {
            if !self.namespace_known(name) {
                self.namespace_exists(name).await?;
            }
        }
        Ok(())
    }

    /// Creates a namespace; with `if_not_exists` an existing one is no error.
    pub async fn create_namespace(
        &self,
        name: &str,
        if_not_exists: bool,
    ) -> Result<(), TableError> {
        let ident = namespace(name)?;
        if self.catalog().namespace_exists(&ident).await? {
            return match if_not_exists {
                true => Ok(()),
                false => Err(TableError::AlreadyExists(format!(
                    "schema '{name}' already exists"
                ))),
            };
        }
        match self
            .catalog()
            .create_namespace(&ident, HashMap::new())
            .await
        {
            // Another scheduler created it meanwhile.
            Err(e) if e.kind() == ErrorKind::NamespaceAlreadyExists && if_not_exists => Ok(()),
            Err(e) if e.kind() == ErrorKind::NamespaceAlreadyExists => Err(
                TableError::AlreadyExists(format!("schema '{name}' already exists")),
            ),
            Err(e) => Err(e.into()),
            Ok(_) => Ok(()),
        }
    }

    /// Drops a namespace; with `cascade` its tables and views first (their files stay),
    /// else only if it is empty.
    pub async fn drop_namespace(&self, name: &str, cascade: bool) -> Result<(), TableError> {
        let ident = namespace(name)?;
        let tables = self.catalog().list_tables(&ident).await?;
        let views = self.backend.view_names(&ident).await?;
        if (!tables.is_empty() || !views.is_empty()) && !cascade {
            return Err(TableError::Invalid(format!(
                "schema '{name}' is not empty: drop its tables and views first, or use DROP SCHEMA {name} CASCADE"
            )));
        }
        for table in tables {
            self.catalog().drop_table(&table).await?;
        }
        for view in views {
            self.backend
                .drop_view(&TableIdent::new(ident.clone(), view))
                .await?;
        }
        self.catalog().drop_namespace(&ident).await?;
        self.known_namespaces.invalidate(name);
        Ok(())
    }

    /// The tables of a namespace, sorted.
    pub async fn tables(&self, namespace_name: &str) -> Result<Vec<String>, TableError> {
        let ident = namespace(namespace_name)?;
        if !self.catalog().namespace_exists(&ident).await? {
            return Ok(Vec::new());
        }
        let mut names: Vec<String> = self
            .catalog()
            .list_tables(&ident)
            .await?
            .into_iter()
            .map(|t| t.name().to_string())
            .collect();
        names.sort();
        Ok(names)
    }

    /// The table's current metadata, or `None` if there is no such table. The catalog
    /// is asked where the metadata is at every call; the file is read only when this
    /// process has not read that version yet.
    pub async fn load(&self, table: &TableIdent) -> Result<Option<Table>, TableError> {
        let Some(location) = self.backend.metadata_location(table).await? else {
            return Ok(None);
        };
        if let Some(loaded) = self.tables.get(&location).await
            && loaded.identifier() == table
        {
            return Ok(Some(loaded));
        }
        let metadata = TableMetadata::read_from(&self.file_io, &location).await?;
        let loaded = build_table(&self.file_io, table.clone(), location.clone(), metadata)?;
        self.tables.insert(location, loaded.clone()).await;
        Ok(Some(loaded))
    }

    /// A fresh location for a new table: unique, so that a table dropped and created
    /// again never shares files with its predecessor.
    pub fn new_location(&self, table: &TableIdent) -> String {
        let id = uuid::Uuid::new_v4().simple().to_string();
        format!(
            "{}/{}/{}-{}",
            self.root,
            table.namespace().join("/"),
            table.name(),
            &id[..8]
        )
    }

    /// Serializes commits to `table` within this process.
    pub async fn lock(&self, table: &TableIdent) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = Arc::clone(self.locks.lock().entry(table.clone()).or_default());
        lock.lock_owned().await
    }

    /// Writes `metadata` as the table's next metadata file and points the catalog at it,
    /// if the table still has `base`'s metadata.
    pub async fn swap(&self, base: &Table, metadata: TableMetadata) -> Result<Table, TableError> {
        let expected = base.metadata_location_result()?;
        let previous = MetadataLocation::from_str(expected)?;
        // The next version beside the current one; a replacement table starts its own.
        let location = if metadata.location() == base.metadata().location() {
            previous.with_next_version().with_new_metadata(&metadata)
        } else {
            MetadataLocation::new_with_metadata(metadata.location(), &metadata)
        };
        metadata.write_to(&self.file_io, &location).await?;
        let location = location.to_string();
        if let Err(e) = self
            .backend
            .swap(base.identifier(), expected, &location)
            .await
        {
            let _ = self.file_io.delete(&location).await;
            return Err(e.into());
        }
        Ok(Table::builder()
            .identifier(base.identifier().clone())
            .metadata_location(location)
            .metadata(metadata)
            .file_io(self.file_io.clone())
            .runtime(iceberg::Runtime::try_current()?)
            .build()?)
    }

    /// Renames a table, within its schema or into another; its files stay where they
    /// are. Waits for this process's commits to it to finish first.
    pub async fn rename_table(&self, from: &TableIdent, to: &TableIdent) -> Result<(), TableError> {
        let _lock = self.lock(from).await;
        if self.backend.metadata_location(from).await?.is_none() {
            return Err(TableError::NoTable(format!("table '{from}' not found")));
        }
        if self.view_exists(to).await? {
            return Err(TableError::AlreadyExists(format!(
                "cannot rename table '{from}' to '{to}': '{to}' is a view"
            )));
        }
        if self.backend.metadata_location(to).await?.is_some() {
            return Err(TableError::AlreadyExists(format!(
                "cannot rename table '{from}' to '{to}': table '{to}' already exists"
            )));
        }
        self.require_namespace(to.namespace()).await?;
        self.catalog()
            .rename_table(from, to)
            .await
            .map_err(crate::views::catalog_error)
    }

    /// An error naming `namespace` unless it exists.
    pub(crate) async fn require_namespace(
        &self,
        namespace: &NamespaceIdent,
    ) -> Result<(), TableError> {
        match self.catalog().namespace_exists(namespace).await? {
            true => Ok(()),
            false => Err(TableError::NoSchema(format!(
                "schema '{}' not found",
                namespace.join(".")
            ))),
        }
    }

    /// Removes a table from the catalog; with `purge`, deletes every file under its
    /// location too.
    pub async fn drop_table(&self, table: &Table, purge: bool) -> Result<(), TableError> {
        self.catalog().drop_table(table.identifier()).await?;
        if purge {
            self.delete_prefix(table.metadata().location()).await?;
        }
        Ok(())
    }

    /// Deletes every file under a directory URI.
    pub async fn delete_prefix(&self, uri: &str) -> Result<(), TableError> {
        Ok(self.file_io.delete_prefix(uri).await?)
    }

    /// Runs catalog I/O from synchronous code (DataFusion's catalog traits).
    pub fn blocking<T: Send>(
        &self,
        work: impl Future<Output = Result<T, TableError>> + Send,
    ) -> Result<T, TableError> {
        match Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| handle.block_on(work))
            }
            _ => std::thread::scope(|s| {
                s.spawn(|| self.runtime.block_on(work))
                    .join()
                    .unwrap_or_else(|_| Err(TableError::Invalid("catalog I/O panicked".into())))
            }),
        }
    }
}

/// A namespace identifier from its SQL name.
fn namespace(name: &str) -> Result<NamespaceIdent, TableError> {
    Ok(NamespaceIdent::from_strs(name.split('.'))?)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use iceberg::spec::{NestedField, PrimitiveType, Schema, Type};
    use iceberg::{TableCreation, TableIdent};

    use super::TableStore;
    use crate::Warehouse;

    /// Creates the empty table `ident (id BIGINT NOT NULL)`.
    pub(crate) async fn create_table(store: &TableStore, ident: &TableIdent) {
        let schema = Schema::builder()
            .with_fields(vec![
                NestedField::required(1, "id", Type::Primitive(PrimitiveType::Long)).into(),
            ])
            .build()
            .unwrap();
        let creation = TableCreation::builder()
            .name(ident.name().to_string())
            .location(store.new_location(ident))
            .schema(schema)
            .build();
        store
            .catalog()
            .create_table(ident.namespace(), creation)
            .await
            .unwrap();
    }

    /// A table loaded again at the same version is the one loaded before; a commit is
    /// seen at the next load; a table that is not there is `None`.
    #[tokio::test(flavor = "multi_thread")]
    async fn loads_reuse_a_version_already_read_and_see_commits() {
        let dir = tempfile::tempdir().unwrap();
        let warehouse = Warehouse::open(dir.path().to_string_lossy()).unwrap();
        let store = TableStore::open_embedded(&warehouse, &["ns".to_string()])
            .await
            .unwrap();
        let ident = TableIdent::from_strs(["ns", "t"]).unwrap();
        assert!(store.load(&ident).await.unwrap().is_none());
        create_table(&store, &ident).await;

        let first = store.load(&ident).await.unwrap().unwrap();
        let again = store.load(&ident).await.unwrap().unwrap();
        assert!(Arc::ptr_eq(&first.metadata_ref(), &again.metadata_ref()));

        let mut changed = first.metadata().clone().into_builder(None);
        changed = changed
            .set_properties([("owner".to_string(), "quarry".to_string())].into())
            .unwrap();
        store
            .swap(&first, changed.build().unwrap().metadata)
            .await
            .unwrap();
        let after = store.load(&ident).await.unwrap().unwrap();
        assert_ne!(after.metadata_location(), first.metadata_location());
        assert_eq!(after.metadata().properties()["owner"], "quarry");
    }

    /// Namespaces resolved ahead are known without a catalog call; a dropped one is
    /// forgotten at once.
    #[tokio::test(flavor = "multi_thread")]
    async fn namespaces_resolved_ahead_are_known_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let warehouse = Warehouse::open(dir.path().to_string_lossy()).unwrap();
        let store = TableStore::open_embedded(&warehouse, &[]).await.unwrap();
        store.create_namespace("ns", false).await.unwrap();
        assert!(!store.namespace_known("ns"));
        store.resolve_namespaces(["ns", "missing"]).await.unwrap();
        assert!(store.namespace_known("ns"));
        assert!(!store.namespace_known("missing"));
        store.drop_namespace("ns", false).await.unwrap();
        assert!(!store.namespace_known("ns"));
    }
}
