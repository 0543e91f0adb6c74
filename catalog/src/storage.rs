//! Iceberg's file I/O on Quarry's object stores: the catalog reads and writes table
//! metadata, manifest lists and manifests through [`WarehouseStorage`], which resolves
//! `s3://` paths in the process's [`ObjectStores`](crate::object_stores::ObjectStores),
//! the registry DataFusion reads and writes data files with. Local paths go to iceberg's
//! own local-file storage, as before.

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use iceberg::io::{
    FileIO, FileIOBuilder, FileMetadata, FileRead, FileWrite, InputFile, LocalFsStorage,
    OutputFile, Storage, StorageConfig, StorageFactory,
};
use iceberg::{Error, ErrorKind, Result};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};
use url::Url;

/// The storage factory for catalogs over `stores`.
pub fn factory(stores: Arc<dyn ObjectStoreRegistry>) -> Arc<dyn StorageFactory> {
    Arc::new(WarehouseStorage { stores })
}

/// A file I/O over `stores`.
pub fn file_io(stores: Arc<dyn ObjectStoreRegistry>) -> FileIO {
    FileIOBuilder::new(factory(stores)).build()
}

/// Iceberg storage over an object-store registry; see the module docs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WarehouseStorage {
    /// Not serialized: a storage sent elsewhere resolves only local files.
    #[serde(skip, default = "local_files_only")]
    stores: Arc<dyn ObjectStoreRegistry>,
}

fn local_files_only() -> Arc<dyn ObjectStoreRegistry> {
    Arc::new(DefaultObjectStoreRegistry::new())
}

#[typetag::serde]
impl StorageFactory for WarehouseStorage {
    fn build(&self, _config: &StorageConfig) -> Result<Arc<dyn Storage>> {
        Ok(Arc::new(self.clone()))
    }
}

/// An object in a store.
#[derive(Clone)]
struct Object {
    store: Arc<dyn ObjectStore>,
    path: Path,
}

impl WarehouseStorage {
    /// The object at `location`, or `None` for a local path.
    fn object(&self, location: &str) -> Result<Option<Object>> {
        if !location.contains("://") || location.starts_with("file:") {
            return Ok(None);
        }
        let url = Url::parse(location).map_err(|e| invalid(location, e))?;
        let store = self
            .stores
            .get_store(&url)
            .map_err(|e| invalid(location, e))?;
        let path = Path::from_url_path(url.path()).map_err(|e| invalid(location, e))?;
        Ok(Some(Object { store, path }))
    }
}

fn invalid(location: &str, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::DataInvalid, format!("{location}: {e}"))
}

fn failed(location: &str, e: object_store::Error) -> Error {
    let kind = match e {
        object_store::Error::NotFound { .. } => ErrorKind::DataInvalid,
        _ => ErrorKind::Unexpected,
    };
    Error::new(kind, format!("{location}: {e}")).with_source(e)
}

#[async_trait]
#[typetag::serde]
impl Storage for WarehouseStorage {
    async fn exists(&self, path: &str) -> Result<bool> {
        let Some(object) = self.object(path)? else {
            return LocalFsStorage.exists(path).await;
        };
        match object.store.head(&object.path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(failed(path, e)),
        }
    }

    async fn metadata(&self, path: &str) -> Result<FileMetadata> {
        let Some(object) = self.object(path)? else {
            return LocalFsStorage.metadata(path).await;
        };
        let meta = object
            .store
            .head(&object.path)
            .await
            .map_err(|e| failed(path, e))?;
        Ok(FileMetadata { size: meta.size })
    }

    async fn read(&self, path: &str) -> Result<Bytes> {
        let Some(object) = self.object(path)? else {
            return LocalFsStorage.read(path).await;
        };
        let result = object.store.get(&object.path).await;
        result
            .map_err(|e| failed(path, e))?
            .bytes()
            .await
            .map_err(|e| failed(path, e))
    }

    async fn reader(&self, path: &str) -> Result<Box<dyn FileRead>> {
        match self.object(path)? {
            Some(object) => Ok(Box::new(Reader {
                object,
                location: path.to_string(),
            })),
            None => LocalFsStorage.reader(path).await,
        }
    }

    async fn write(&self, path: &str, bs: Bytes) -> Result<()> {
        let Some(object) = self.object(path)? else {
            return LocalFsStorage.write(path, bs).await;
        };
        object
            .store
            .put(&object.path, bs.into())
            .await
            .map_err(|e| failed(path, e))?;
        Ok(())
    }

    async fn writer(&self, path: &str) -> Result<Box<dyn FileWrite>> {
        match self.object(path)? {
            Some(object) => Ok(Box::new(Writer {
                object,
                location: path.to_string(),
                buffer: Vec::new(),
            })),
            None => LocalFsStorage.writer(path).await,
        }
    }

    async fn delete(&self, path: &str) -> Result<()> {
        let Some(object) = self.object(path)? else {
            return LocalFsStorage.delete(path).await;
        };
        match object.store.delete(&object.path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(failed(path, e)),
        }
    }

    async fn delete_prefix(&self, path: &str) -> Result<()> {
        let Some(object) = self.object(path)? else {
            return LocalFsStorage.delete_prefix(path).await;
        };
        // `t-1` must not take `t-10` with it: list the directory, not the prefix.
        let directory = Path::from(format!("{}/", object.path.as_ref().trim_end_matches('/')));
        let locations = object
            .store
            .list(Some(&directory))
            .map_ok(|meta| meta.location)
            .boxed();
        object
            .store
            .delete_stream(locations)
            .try_collect::<Vec<_>>()
            .await
            .map_err(|e| failed(path, e))?;
        Ok(())
    }

    async fn delete_stream(&self, mut paths: BoxStream<'static, String>) -> Result<()> {
        while let Some(path) = paths.next().await {
            self.delete(&path).await?;
        }
        Ok(())
    }

    fn new_input(&self, path: &str) -> Result<InputFile> {
        Ok(InputFile::new(Arc::new(self.clone()), path.to_string()))
    }

    fn new_output(&self, path: &str) -> Result<OutputFile> {
        Ok(OutputFile::new(Arc::new(self.clone()), path.to_string()))
    }
}

/// Reads ranges of an object.
struct Reader {
    object: Object,
    location: String,
}

#[async_trait]
impl FileRead for Reader {
    async fn read(&self, range: Range<u64>) -> Result<Bytes> {
        self.object
            .store
            .get_range(&self.object.path, range)
            .await
            .map_err(|e| failed(&self.location, e))
    }
}

/// Writes an object in one put when closed: Iceberg's metadata files are small.
struct Writer {
    object: Object,
    location: String,
    buffer: Vec<u8>,
}

#[async_trait]
impl FileWrite for Writer {
    async fn write(&mut self, bs: Bytes) -> Result<()> {
        self.buffer.extend_from_slice(&bs);
        Ok(())
    }

    async fn close(&mut self) -> Result<()> {
        let bytes = Bytes::from(std::mem::take(&mut self.buffer));
        self.object
            .store
            .put(&self.object.path, bytes.into())
            .await
            .map_err(|e| failed(&self.location, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;

    use super::*;

    #[tokio::test]
    async fn metadata_files_go_to_the_registered_store() {
        let registry = Arc::new(DefaultObjectStoreRegistry::new());
        let memory: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        registry.register_store(&Url::parse("s3://lake").unwrap(), Arc::clone(&memory));
        let io = file_io(registry);
        let file = "s3://lake/wh/t-1/metadata/v1.json";
        io.new_output(file)
            .unwrap()
            .write("{}".into())
            .await
            .unwrap();
        io.new_output("s3://lake/wh/t-10/keep")
            .unwrap()
            .write("x".into())
            .await
            .unwrap();
        assert!(io.exists(file).await.unwrap());
        assert_eq!(io.new_input(file).unwrap().read().await.unwrap(), "{}");
        let reader = io.new_input(file).unwrap().reader().await.unwrap();
        assert_eq!(reader.read(1..2).await.unwrap(), "}");
        io.delete_prefix("s3://lake/wh/t-1").await.unwrap();
        assert!(!io.exists(file).await.unwrap());
        assert!(io.exists("s3://lake/wh/t-10/keep").await.unwrap());
        io.delete("s3://lake/wh/nothing").await.unwrap();
    }
}
