//! [`ObjectStores`]: the one object-store registry of a Quarry process. DataFusion's
//! planning, the executors' tasks and the Iceberg catalog's metadata I/O all resolve
//! `file://` and `s3://bucket` URLs through it.
//!
//! S3 stores are built on first use of a bucket from the process's own [`S3Options`]
//! (its configuration file, `QUARRY_*` variables or flags) over the standard `AWS_*`
//! environment variables. Credentials stay in the process: they never travel in session
//! settings or task definitions, and `Debug` does not show them.

use std::fmt;
use std::sync::Arc;

use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use serde::Deserialize;
use url::Url;

/// How to reach S3 (or MinIO, or any S3-compatible store). Unset fields fall back to the
/// `AWS_*` environment variables, then to object_store's defaults.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Options {
    /// `http://minio:9000`; unset for AWS itself.
    pub endpoint: Option<String>,
    /// `us-east-1` unless set here or in `AWS_REGION`.
    pub region: Option<String>,
    /// Path-style requests (`endpoint/bucket/key`), as MinIO wants; unset: path style
    /// with an endpoint, virtual-hosted style without.
    pub path_style: Option<bool>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
}

impl fmt::Debug for S3Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |s: &Option<String>| s.as_ref().map(|_| "<hidden>");
        f.debug_struct("S3Options")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("path_style", &self.path_style)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &hidden(&self.secret_access_key))
            .field("session_token", &hidden(&self.session_token))
            .finish()
    }
}

impl S3Options {
    /// A store for `bucket`.
    pub fn build(&self, bucket: &str) -> Result<Arc<dyn ObjectStore>> {
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some(endpoint) = &self.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        let path_style = self.path_style.unwrap_or(self.endpoint.is_some());
        builder = builder.with_virtual_hosted_style_request(!path_style);
        if let Some(region) = &self.region {
            builder = builder.with_region(region);
        }
        if let Some(key) = &self.access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &self.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        if let Some(token) = &self.session_token {
            builder = builder.with_token(token);
        }
        let store = builder.build().map_err(|e| {
            DataFusionError::Configuration(format!("cannot reach bucket '{bucket}': {e}"))
        })?;
        Ok(Arc::new(store))
    }
}

/// The registry: local files, and one S3 store per bucket, built when first asked for.
#[derive(Debug)]
pub struct ObjectStores {
    s3: S3Options,
    stores: DefaultObjectStoreRegistry,
}

impl ObjectStores {
    pub fn new(s3: S3Options) -> Self {
        Self {
            s3,
            stores: DefaultObjectStoreRegistry::new(),
        }
    }
}

impl ObjectStoreRegistry for ObjectStores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.stores.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        self.stores.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        if let Ok(store) = self.stores.get_store(url) {
            return Ok(store);
        }
        match (url.scheme(), url.host_str()) {
            ("s3" | "s3a", Some(bucket)) if !bucket.is_empty() => {
                let store = self.s3.build(bucket)?;
                self.stores.register_store(url, Arc::clone(&store));
                Ok(store)
            }
            _ => Err(DataFusionError::Configuration(format!(
                "no object store for '{url}': Quarry reads local files and s3:// URLs"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_get_a_store_on_first_use_and_keep_it() {
        let stores = ObjectStores::new(S3Options {
            endpoint: Some("http://127.0.0.1:9".into()),
            region: Some("us-east-1".into()),
            access_key_id: Some("k".into()),
            secret_access_key: Some("very-secret".into()),
            ..S3Options::default()
        });
        let url = Url::parse("s3://lake/a/b").unwrap();
        let first = stores.get_store(&url).unwrap();
        let again = stores
            .get_store(&Url::parse("s3://lake/c").unwrap())
            .unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        assert!(
            stores
                .get_store(&Url::parse("file:///tmp").unwrap())
                .is_ok()
        );
        let err = stores
            .get_store(&Url::parse("gs://x/y").unwrap())
            .unwrap_err();
        assert!(
            err.to_string().contains("no object store for 'gs://x/y'"),
            "{err}"
        );
        assert!(!format!("{stores:?}").contains("very-secret"));
    }
}
