//! Views that last: stored in the catalog as Iceberg views, so that every scheduler of
//! a cluster sees one at once and a restart keeps it.
//!
//! A view is a metadata file in the warehouse (Iceberg's view spec, version 1:
//! `<namespace>/<view>-<id>/metadata/<n>-<uuid>.metadata.json`) holding the view's
//! SQL, the namespace its unqualified names resolve in and its columns, and a pointer
//! to that file in the catalog ([`Backend::put_view`](crate::store::Backend)), beside
//! the tables' pointers and never under a table's name. `CREATE OR REPLACE` adds a
//! version to the view's metadata and moves the pointer only if no one else moved it
//! meanwhile. The SQL is planned again at each lookup (`catalog_provider`), so a view
//! reads its base tables as they are now, and fails clearly once one is dropped.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use iceberg::spec::{
    ViewFormatVersion, ViewMetadata, ViewMetadataBuilder, ViewRepresentation, ViewRepresentations,
    ViewVersion,
};
use iceberg::{ErrorKind, MetadataLocation, NamespaceIdent, TableIdent};

use crate::store::TableStore;
use crate::table::TableError;
use crate::table::types::{arrow_schema, iceberg_schema};

/// The dialect Quarry's views are written in (the `dialect` of their SQL
/// representation); a view of another engine is read in its own dialect's SQL if it has
/// no Quarry one.
pub const DIALECT: &str = "quarry";

/// What `CREATE VIEW` stores.
#[derive(Debug, Clone)]
pub struct ViewDefinition {
    /// The view's query, as its author wrote it.
    pub sql: String,
    /// The namespace unqualified names in `sql` resolve in.
    pub default_namespace: String,
    /// The query's columns.
    pub schema: SchemaRef,
}

/// A view of the catalog, as of its current metadata file.
#[derive(Debug, Clone)]
pub struct StoredView {
    pub ident: TableIdent,
    pub location: String,
    pub metadata: Arc<ViewMetadata>,
}

impl StoredView {
    /// The current version's SQL: Quarry's representation, else the first.
    pub fn sql(&self) -> Result<&str, TableError> {
        let representations = self.metadata.current_version().representations();
        let sql = || {
            representations.iter().map(|r| match r {
                ViewRepresentation::Sql(sql) => sql,
            })
        };
        sql()
            .find(|s| s.dialect == DIALECT)
            .or_else(|| sql().next())
            .map(|s| s.sql.as_str())
            .ok_or_else(|| TableError::Invalid(format!("view {} has no SQL", self.ident)))
    }

    /// The namespace the SQL's unqualified names resolve in.
    pub fn default_namespace(&self) -> String {
        self.metadata
            .current_version()
            .default_namespace()
            .join(".")
    }

    /// The columns the view had when it was created.
    pub fn schema(&self) -> Result<SchemaRef, TableError> {
        arrow_schema(self.metadata.current_schema())
    }
}

impl TableStore {
    /// The view `view` as the catalog has it now, or `None` if there is none.
    pub async fn load_view(&self, view: &TableIdent) -> Result<Option<StoredView>, TableError> {
        let Some(location) = self.backend().view_location(view).await? else {
            return Ok(None);
        };
        let metadata = match self.views_read().get(&location).await {
            Some(metadata) => metadata,
            None => {
                let bytes = self.file_io().new_input(&location)?.read().await?;
                let metadata: ViewMetadata = serde_json::from_slice(&bytes).map_err(|e| {
                    TableError::Invalid(format!("view metadata {location} is not valid: {e}"))
                })?;
                let metadata = Arc::new(metadata);
                self.views_read()
                    .insert(location.clone(), Arc::clone(&metadata))
                    .await;
                metadata
            }
        };
        Ok(Some(StoredView {
            ident: view.clone(),
            location,
            metadata,
        }))
    }

    /// Whether there is a view `view` (one catalog lookup; its metadata is not read).
    pub async fn view_exists(&self, view: &TableIdent) -> Result<bool, TableError> {
        Ok(self.backend().view_location(view).await?.is_some())
    }

    /// The views of a namespace, sorted.
    pub async fn views(&self, namespace: &str) -> Result<Vec<String>, TableError> {
        let ident = NamespaceIdent::from_strs(namespace.split('.'))?;
        let mut names = self.backend().view_names(&ident).await?;
        names.sort();
        Ok(names)
    }

    /// Stores `definition` as the view `view`; with `replace`, as the new version of the
    /// view of that name if there is one. A table of that name is an error either way.
    pub async fn create_view(
        &self,
        view: &TableIdent,
        definition: &ViewDefinition,
        replace: bool,
    ) -> Result<(), TableError> {
        self.require_namespace(view.namespace()).await?;
        if self.backend().metadata_location(view).await?.is_some() {
            return Err(TableError::AlreadyExists(format!(
                "{view} is a table; a view cannot replace it"
            )));
        }
        let existing = self.load_view(view).await?;
        if existing.is_some() && !replace {
            return Err(TableError::AlreadyExists(format!(
                "view {view} already exists (CREATE OR REPLACE VIEW replaces it)"
            )));
        }
        let schema = iceberg_schema(&definition.schema).map_err(|e| match e {
            TableError::UnsupportedType {
                column,
                data_type,
                hint,
            } => TableError::Invalid(format!(
                "view column '{column}' has type {data_type}, which an Iceberg view cannot \
                 describe: {hint}"
            )),
            e => e,
        })?;
        let default_namespace = NamespaceIdent::from_strs(definition.default_namespace.split('.'))?;
        // The representations' only public constructor is their JSON form.
        let representations: ViewRepresentations = serde_json::from_value(serde_json::json!([
            { "type": "sql", "sql": definition.sql, "dialect": DIALECT }
        ]))
        .map_err(|e| TableError::Invalid(e.to_string()))?;
        let version = ViewVersion::builder()
            .with_schema_id(0)
            .with_timestamp_ms(chrono::Utc::now().timestamp_millis())
            .with_representations(representations)
            .with_default_namespace(default_namespace)
            .build();
        let (metadata, file) = match &existing {
            Some(old) => {
                let metadata =
                    ViewMetadataBuilder::new_from_metadata(old.metadata.as_ref().clone())
                        .set_current_version(version, schema)?
                        .build()?
                        .metadata;
                let file = MetadataLocation::from_str(&old.location)?.with_next_version();
                (metadata, file)
            }
            None => {
                let location = self.new_location(view);
                let metadata = ViewMetadataBuilder::new(
                    location.clone(),
                    schema,
                    version,
                    ViewFormatVersion::V1,
                    HashMap::new(),
                )?
                .build()?
                .metadata;
                let first = format!(
                    "{location}/metadata/00000-{}.metadata.json",
                    uuid::Uuid::new_v4()
                );
                (metadata, MetadataLocation::from_str(&first)?)
            }
        };
        let file = file.to_string();
        let json = serde_json::to_vec(&metadata).map_err(|e| TableError::Invalid(e.to_string()))?;
        self.file_io().new_output(&file)?.write(json.into()).await?;
        let expected = existing.as_ref().map(|old| old.location.as_str());
        if let Err(e) = self.backend().put_view(view, expected, &file).await {
            let _ = self.file_io().delete(&file).await;
            return Err(catalog_error(e));
        }
        Ok(())
    }

    /// Removes the view `view` from the catalog (its metadata files stay, as a dropped
    /// table's do); whether there was one.
    pub async fn drop_view(&self, view: &TableIdent) -> Result<bool, TableError> {
        Ok(self.backend().drop_view(view).await?)
    }

    /// Files the view `from` under the name `to`.
    pub async fn rename_view(&self, from: &TableIdent, to: &TableIdent) -> Result<(), TableError> {
        if !self.view_exists(from).await? {
            return Err(TableError::NoTable(format!("view {from} not found")));
        }
        self.require_namespace(to.namespace()).await?;
        self.backend()
            .rename_view(from, to)
            .await
            .map_err(catalog_error)
    }
}

/// A name taken, or a view changed meanwhile, as their own kinds of error.
pub(crate) fn catalog_error(e: iceberg::Error) -> TableError {
    match e.kind() {
        ErrorKind::TableAlreadyExists => TableError::AlreadyExists(e.message().to_string()),
        ErrorKind::CatalogCommitConflicts => {
            TableError::Conflict(format!("{}; run the statement again", e.message()))
        }
        _ => e.into(),
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;
    use crate::Warehouse;

    fn definition(sql: &str, column: &str) -> ViewDefinition {
        ViewDefinition {
            sql: sql.to_string(),
            default_namespace: "ns".to_string(),
            schema: Arc::new(Schema::new(vec![Field::new(column, DataType::Int64, true)])),
        }
    }

    /// Views are created, replaced as new versions, renamed and dropped in the SQLite
    /// catalog, never under a table's name, and read back from their metadata files.
    #[tokio::test(flavor = "multi_thread")]
    async fn views_are_stored_as_iceberg_views_beside_tables() {
        let dir = tempfile::tempdir().unwrap();
        let warehouse = Warehouse::open(dir.path().to_string_lossy()).unwrap();
        let store = TableStore::open_embedded(&warehouse, &["ns".to_string()])
            .await
            .unwrap();
        let v = TableIdent::from_strs(["ns", "v"]).unwrap();
        assert!(store.load_view(&v).await.unwrap().is_none());
        store
            .create_view(&v, &definition("SELECT 1 AS a", "a"), false)
            .await
            .unwrap();
        let first = store.load_view(&v).await.unwrap().unwrap();
        assert_eq!(first.sql().unwrap(), "SELECT 1 AS a");
        assert_eq!(first.default_namespace(), "ns");
        assert_eq!(first.schema().unwrap().field(0).name(), "a");
        let again = store
            .create_view(&v, &definition("SELECT 2 AS b", "b"), false)
            .await
            .unwrap_err();
        assert!(matches!(again, TableError::AlreadyExists(_)), "{again}");

        // OR REPLACE: a second version in a second metadata file of the same view.
        store
            .create_view(&v, &definition("SELECT 2 AS b", "b"), true)
            .await
            .unwrap();
        let second = store.load_view(&v).await.unwrap().unwrap();
        assert_eq!(second.sql().unwrap(), "SELECT 2 AS b");
        assert_eq!(second.schema().unwrap().field(0).name(), "b");
        assert_eq!(second.metadata.versions().len(), 2);
        assert_eq!(second.metadata.uuid(), first.metadata.uuid());
        assert!(
            second.location.contains("/metadata/00001-"),
            "{}",
            second.location
        );

        // Tables and views share one name space.
        let t = TableIdent::from_strs(["ns", "t"]).unwrap();
        crate::store::tests::create_table(&store, &t).await;
        let over_table = store
            .create_view(&t, &definition("SELECT 1 AS a", "a"), true)
            .await
            .unwrap_err();
        assert!(
            over_table.to_string().contains("is a table"),
            "{over_table}"
        );
        let onto_table = store.rename_view(&v, &t).await.unwrap_err();
        assert!(
            matches!(onto_table, TableError::AlreadyExists(_)),
            "{onto_table}"
        );
        assert_eq!(store.views("ns").await.unwrap(), ["v"]);
        assert_eq!(
            store.tables("ns").await.unwrap(),
            ["t"],
            "views are not tables"
        );

        let w = TableIdent::from_strs(["ns", "w"]).unwrap();
        store.rename_view(&v, &w).await.unwrap();
        assert!(store.load_view(&v).await.unwrap().is_none());
        assert_eq!(
            store.load_view(&w).await.unwrap().unwrap().sql().unwrap(),
            "SELECT 2 AS b"
        );
        let err = store.drop_namespace("ns", false).await.unwrap_err();
        assert!(err.to_string().contains("tables and views"), "{err}");
        assert!(store.drop_view(&w).await.unwrap());
        assert!(!store.drop_view(&w).await.unwrap());
        assert!(store.views("ns").await.unwrap().is_empty());
    }
}
