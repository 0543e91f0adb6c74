//! [`EtcdCatalog`]: Quarry's Iceberg catalog in etcd (cargo feature `etcd`), so that any
//! number of schedulers share one catalog. Keys, under a prefix (`quarry` by default):
//!
//! - `<prefix>/namespaces/<namespace>`: the namespace's properties, as JSON;
//! - `<prefix>/tables/<namespace>/<table>`: the table's current metadata file;
//! - `<prefix>/views/<namespace>/<view>`: the view's current metadata file.
//!
//! Metadata files live in the warehouse, as with every Iceberg catalog. Creating a
//! namespace, table or view is a transaction that succeeds only if the key (and a
//! table's or view's namesake of the other kind) does not exist; a
//! commit writes the next metadata file and swaps the pointer only if it still names the
//! file the commit started from (compare-and-swap on the value). A lost race is a
//! retryable `CatalogCommitConflicts`, which the committer retries, and its metadata
//! file is deleted.

use std::collections::HashMap;
use std::str::FromStr;

use async_trait::async_trait;
use etcd_client::{Client, Compare, CompareOp, DeleteOptions, GetOptions, Txn, TxnOp};
use iceberg::io::FileIO;
use iceberg::spec::{TableMetadata, TableMetadataBuilder};
use iceberg::table::Table;
use iceberg::{
    Catalog, Error, ErrorKind, MetadataLocation, Namespace, NamespaceIdent, Result, TableCommit,
    TableCreation, TableIdent,
};

use crate::store::Backend;

/// The catalog; see the module docs.
pub struct EtcdCatalog {
    client: Client,
    prefix: String,
    warehouse: String,
    file_io: FileIO,
}

impl std::fmt::Debug for EtcdCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdCatalog")
            .field("prefix", &self.prefix)
            .field("warehouse", &self.warehouse)
            .finish_non_exhaustive()
    }
}

fn etcd_error(e: etcd_client::Error) -> Error {
    Error::new(ErrorKind::Unexpected, format!("etcd: {e}")).with_retryable(true)
}

fn text(bytes: &[u8]) -> Result<String> {
    String::from_utf8(bytes.to_vec())
        .map_err(|e| Error::new(ErrorKind::DataInvalid, format!("etcd value: {e}")))
}

impl EtcdCatalog {
    /// Connects to etcd at `endpoints`; table files go under `warehouse` (a URI) through
    /// `file_io`.
    pub async fn connect(
        endpoints: &[String],
        prefix: &str,
        warehouse: &str,
        file_io: FileIO,
    ) -> Result<Self> {
        let options = etcd_client::ConnectOptions::new()
            .with_connect_timeout(std::time::Duration::from_secs(5))
            .with_timeout(std::time::Duration::from_secs(10));
        let client = Client::connect(endpoints, Some(options))
            .await
            .map_err(etcd_error)?;
        let catalog = Self {
            client,
            prefix: prefix.trim_end_matches('/').to_string(),
            warehouse: warehouse.trim_end_matches('/').to_string(),
            file_io,
        };
        // Connecting is lazy: one read says whether etcd answers.
        catalog
            .client
            .kv_client()
            .get(
                catalog.prefix.clone(),
                Some(GetOptions::new().with_count_only()),
            )
            .await
            .map_err(|e| {
                Error::new(
                    ErrorKind::Unexpected,
                    format!("etcd at {} does not answer: {e}", endpoints.join(",")),
                )
            })?;
        Ok(catalog)
    }

    fn namespace_key(&self, namespace: &NamespaceIdent) -> String {
        format!("{}/namespaces/{}", self.prefix, namespace.join("."))
    }

    fn tables_prefix(&self, namespace: &NamespaceIdent) -> String {
        format!("{}/tables/{}/", self.prefix, namespace.join("."))
    }

    fn table_key(&self, table: &TableIdent) -> String {
        format!("{}{}", self.tables_prefix(table.namespace()), table.name())
    }

    fn views_prefix(&self, namespace: &NamespaceIdent) -> String {
        format!("{}/views/{}/", self.prefix, namespace.join("."))
    }

    fn view_key(&self, view: &TableIdent) -> String {
        format!("{}{}", self.views_prefix(view.namespace()), view.name())
    }

    /// That no view is named `name`.
    fn no_view(&self, name: &TableIdent) -> Compare {
        Compare::create_revision(self.view_key(name), CompareOp::Equal, 0)
    }

    /// That neither a table nor a view is named `name`, and its namespace exists.
    fn name_free(&self, name: &TableIdent) -> Vec<Compare> {
        vec![
            Compare::create_revision(self.table_key(name), CompareOp::Equal, 0),
            self.no_view(name),
            self.namespace_alive(name.namespace()),
        ]
    }

    fn namespace_alive(&self, namespace: &NamespaceIdent) -> Compare {
        Compare::create_revision(self.namespace_key(namespace), CompareOp::Greater, 0)
    }

    /// The value at `key`, if there is one.
    async fn value(&self, key: &str) -> Result<Option<String>> {
        let response = self
            .client
            .kv_client()
            .get(key, None)
            .await
            .map_err(etcd_error)?;
        response
            .kvs()
            .first()
            .map(|kv| text(kv.value()))
            .transpose()
    }

    /// The last part of every key under `prefix`.
    async fn names(&self, prefix: &str) -> Result<Vec<String>> {
        let response = self
            .client
            .kv_client()
            .get(
                prefix,
                Some(GetOptions::new().with_prefix().with_keys_only()),
            )
            .await
            .map_err(etcd_error)?;
        response
            .kvs()
            .iter()
            .map(|kv| text(&kv.key()[prefix.len()..]))
            .collect()
    }

    /// Puts `key` = `value` if `key` does not exist (and `also` holds); whether it did.
    async fn create(&self, key: &str, value: String, also: Vec<Compare>) -> Result<bool> {
        let mut conditions = vec![Compare::create_revision(key, CompareOp::Equal, 0)];
        conditions.extend(also);
        let txn = Txn::new()
            .when(conditions)
            .and_then([TxnOp::put(key, value, None)]);
        let response = self.client.kv_client().txn(txn).await.map_err(etcd_error)?;
        Ok(response.succeeded())
    }

    async fn require_namespace(&self, namespace: &NamespaceIdent) -> Result<()> {
        match self.namespace_exists(namespace).await? {
            true => Ok(()),
            false => Err(no_namespace(namespace)),
        }
    }

    fn table(&self, ident: TableIdent, location: String, metadata: TableMetadata) -> Result<Table> {
        crate::store::build_table(&self.file_io, ident, location, metadata)
    }
}

fn no_namespace(namespace: &NamespaceIdent) -> Error {
    Error::new(
        ErrorKind::NamespaceNotFound,
        format!("no namespace {}", namespace.join(".")),
    )
}

fn no_table(table: &TableIdent) -> Error {
    Error::new(ErrorKind::TableNotFound, format!("no table {table}"))
}

#[async_trait]
impl Catalog for EtcdCatalog {
    async fn list_namespaces(
        &self,
        parent: Option<&NamespaceIdent>,
    ) -> Result<Vec<NamespaceIdent>> {
        if parent.is_some() {
            return Ok(Vec::new());
        }
        let prefix = format!("{}/namespaces/", self.prefix);
        self.names(&prefix)
            .await?
            .iter()
            .map(|name| NamespaceIdent::from_strs(name.split('.')))
            .collect()
    }

    async fn create_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> Result<Namespace> {
        let json = serde_json::to_string(&properties)
            .map_err(|e| Error::new(ErrorKind::DataInvalid, e.to_string()))?;
        if !self
            .create(&self.namespace_key(namespace), json, vec![])
            .await?
        {
            return Err(Error::new(
                ErrorKind::NamespaceAlreadyExists,
                format!("namespace {} already exists", namespace.join(".")),
            ));
        }
        Ok(Namespace::with_properties(namespace.clone(), properties))
    }

    async fn get_namespace(&self, namespace: &NamespaceIdent) -> Result<Namespace> {
        let Some(json) = self.value(&self.namespace_key(namespace)).await? else {
            return Err(no_namespace(namespace));
        };
        let properties = serde_json::from_str(&json)
            .map_err(|e| Error::new(ErrorKind::DataInvalid, e.to_string()))?;
        Ok(Namespace::with_properties(namespace.clone(), properties))
    }

    async fn namespace_exists(&self, namespace: &NamespaceIdent) -> Result<bool> {
        Ok(self.value(&self.namespace_key(namespace)).await?.is_some())
    }

    async fn update_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> Result<()> {
        self.require_namespace(namespace).await?;
        let json = serde_json::to_string(&properties)
            .map_err(|e| Error::new(ErrorKind::DataInvalid, e.to_string()))?;
        self.client
            .kv_client()
            .put(self.namespace_key(namespace), json, None)
            .await
            .map_err(etcd_error)?;
        Ok(())
    }

    async fn drop_namespace(&self, namespace: &NamespaceIdent) -> Result<()> {
        let key = self.namespace_key(namespace);
        // Only while no table is in it: a table created meanwhile keeps it.
        let txn = Txn::new()
            .when([
                Compare::create_revision(key.clone(), CompareOp::Greater, 0),
                Compare::create_revision(self.tables_prefix(namespace), CompareOp::Equal, 0)
                    .with_prefix(),
            ])
            .and_then([TxnOp::delete(key, None)]);
        let response = self.client.kv_client().txn(txn).await.map_err(etcd_error)?;
        if !response.succeeded() {
            self.require_namespace(namespace).await?;
            return Err(Error::new(
                ErrorKind::DataInvalid,
                format!("namespace {} is not empty", namespace.join(".")),
            ));
        }
        Ok(())
    }

    async fn list_tables(&self, namespace: &NamespaceIdent) -> Result<Vec<TableIdent>> {
        self.require_namespace(namespace).await?;
        let names = self.names(&self.tables_prefix(namespace)).await?;
        Ok(names
            .into_iter()
            .map(|name| TableIdent::new(namespace.clone(), name))
            .collect())
    }

    async fn create_table(
        &self,
        namespace: &NamespaceIdent,
        creation: TableCreation,
    ) -> Result<Table> {
        self.require_namespace(namespace).await?;
        let ident = TableIdent::new(namespace.clone(), creation.name.clone());
        let location = creation.location.clone().unwrap_or_else(|| {
            format!(
                "{}/{}/{}",
                self.warehouse,
                namespace.join("/"),
                ident.name()
            )
        });
        let creation = TableCreation {
            location: Some(location.clone()),
            ..creation
        };
        let metadata = TableMetadataBuilder::from_table_creation(creation)?
            .build()?
            .metadata;
        let metadata_location = MetadataLocation::new_with_metadata(location, &metadata);
        metadata.write_to(&self.file_io, &metadata_location).await?;
        let metadata_location = metadata_location.to_string();
        let created = self
            .create(
                &self.table_key(&ident),
                metadata_location.clone(),
                vec![self.namespace_alive(namespace), self.no_view(&ident)],
            )
            .await;
        if !matches!(created, Ok(true)) {
            let _ = self.file_io.delete(&metadata_location).await;
            created?;
            self.require_namespace(namespace).await?;
            return Err(crate::store::name_taken(&ident));
        }
        self.table(ident, metadata_location, metadata)
    }

    async fn load_table(&self, table: &TableIdent) -> Result<Table> {
        let location = self
            .value(&self.table_key(table))
            .await?
            .ok_or_else(|| no_table(table))?;
        let metadata = TableMetadata::read_from(&self.file_io, &location).await?;
        self.table(table.clone(), location, metadata)
    }

    async fn drop_table(&self, table: &TableIdent) -> Result<()> {
        let response = self
            .client
            .kv_client()
            .delete(self.table_key(table), None::<DeleteOptions>)
            .await
            .map_err(etcd_error)?;
        match response.deleted() {
            0 => Err(no_table(table)),
            _ => Ok(()),
        }
    }

    async fn purge_table(&self, table: &TableIdent) -> Result<()> {
        let loaded = self.load_table(table).await?;
        self.drop_table(table).await?;
        self.file_io
            .delete_prefix(loaded.metadata().location())
            .await
    }

    async fn table_exists(&self, table: &TableIdent) -> Result<bool> {
        Ok(self.value(&self.table_key(table)).await?.is_some())
    }

    async fn rename_table(&self, src: &TableIdent, dest: &TableIdent) -> Result<()> {
        self.require_namespace(dest.namespace()).await?;
        let (from, to) = (self.table_key(src), self.table_key(dest));
        let location = self.value(&from).await?.ok_or_else(|| no_table(src))?;
        let txn = Txn::new()
            .when([
                Compare::value(from.clone(), CompareOp::Equal, location.clone()),
                Compare::create_revision(to.clone(), CompareOp::Equal, 0),
                self.no_view(dest),
            ])
            .and_then([TxnOp::delete(from, None), TxnOp::put(to, location, None)]);
        let response = self.client.kv_client().txn(txn).await.map_err(etcd_error)?;
        if !response.succeeded() {
            return Err(Error::new(
                ErrorKind::TableAlreadyExists,
                format!("cannot rename {src} to {dest}: the target exists or {src} changed"),
            ));
        }
        Ok(())
    }

    async fn register_table(&self, table: &TableIdent, metadata_location: String) -> Result<Table> {
        self.require_namespace(table.namespace()).await?;
        let metadata = TableMetadata::read_from(&self.file_io, &metadata_location).await?;
        if !self
            .create(&self.table_key(table), metadata_location.clone(), vec![])
            .await?
        {
            return Err(Error::new(
                ErrorKind::TableAlreadyExists,
                format!("table {table} already exists"),
            ));
        }
        self.table(table.clone(), metadata_location, metadata)
    }

    async fn update_table(&self, commit: TableCommit) -> Result<Table> {
        let ident = commit.identifier().clone();
        let current = self.load_table(&ident).await?;
        let expected = current.metadata_location_result()?.to_string();
        let staged = commit.apply(current)?;
        let location = MetadataLocation::from_str(staged.metadata_location_result()?)?;
        staged
            .metadata()
            .write_to(staged.file_io(), &location)
            .await?;
        let location = location.to_string();
        if let Err(e) = self.swap(&ident, &expected, &location).await {
            let _ = self.file_io.delete(&location).await;
            return Err(e);
        }
        Ok(staged)
    }
}

#[async_trait]
impl Backend for EtcdCatalog {
    fn catalog(&self) -> &dyn Catalog {
        self
    }

    async fn swap(&self, table: &TableIdent, expected: &str, new_location: &str) -> Result<()> {
        let key = self.table_key(table);
        let txn = Txn::new()
            .when([Compare::value(key.clone(), CompareOp::Equal, expected)])
            .and_then([TxnOp::put(key.clone(), new_location, None)]);
        let response = self.client.kv_client().txn(txn).await.map_err(etcd_error)?;
        if response.succeeded() {
            return Ok(());
        }
        match self.value(&key).await? {
            None => Err(no_table(table)),
            Some(_) => Err(Error::new(
                ErrorKind::CatalogCommitConflicts,
                format!("table {table} changed while committing"),
            )
            .with_retryable(true)),
        }
    }

    async fn metadata_location(&self, table: &TableIdent) -> Result<Option<String>> {
        self.value(&self.table_key(table)).await
    }

    async fn view_location(&self, view: &TableIdent) -> Result<Option<String>> {
        self.value(&self.view_key(view)).await
    }

    async fn view_names(&self, namespace: &NamespaceIdent) -> Result<Vec<String>> {
        self.names(&self.views_prefix(namespace)).await
    }

    async fn put_view(
        &self,
        view: &TableIdent,
        expected: Option<&str>,
        location: &str,
    ) -> Result<()> {
        let key = self.view_key(view);
        let Some(expected) = expected else {
            let txn = Txn::new()
                .when(self.name_free(view))
                .and_then([TxnOp::put(key, location, None)]);
            let response = self.client.kv_client().txn(txn).await.map_err(etcd_error)?;
            if !response.succeeded() {
                self.require_namespace(view.namespace()).await?;
                return Err(crate::store::name_taken(view));
            }
            return Ok(());
        };
        let txn = Txn::new()
            .when([Compare::value(key.clone(), CompareOp::Equal, expected)])
            .and_then([TxnOp::put(key, location, None)]);
        let response = self.client.kv_client().txn(txn).await.map_err(etcd_error)?;
        match response.succeeded() {
            true => Ok(()),
            false => Err(crate::store::view_changed(view)),
        }
    }

    async fn drop_view(&self, view: &TableIdent) -> Result<bool> {
        let response = self
            .client
            .kv_client()
            .delete(self.view_key(view), None::<DeleteOptions>)
            .await
            .map_err(etcd_error)?;
        Ok(response.deleted() > 0)
    }

    async fn rename_view(&self, from: &TableIdent, to: &TableIdent) -> Result<()> {
        let key = self.view_key(from);
        let location = self
            .value(&key)
            .await?
            .ok_or_else(|| Error::new(ErrorKind::TableNotFound, format!("no view {from}")))?;
        let mut when = self.name_free(to);
        when.push(Compare::value(
            key.clone(),
            CompareOp::Equal,
            location.clone(),
        ));
        let txn = Txn::new().when(when).and_then([
            TxnOp::delete(key, None),
            TxnOp::put(self.view_key(to), location, None),
        ]);
        let response = self.client.kv_client().txn(txn).await.map_err(etcd_error)?;
        if !response.succeeded() {
            self.require_namespace(to.namespace()).await?;
            return Err(crate::store::name_taken(to));
        }
        Ok(())
    }
}
