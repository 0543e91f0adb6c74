//! The configuration file of the cluster processes (`quarry scheduler`, `quarry
//! executor`): TOML, named by `--config` or `QUARRY_CONFIG`. Every setting in it can be
//! overridden by a `QUARRY_*` environment variable or a flag (flags win), which clap
//! reads; this module reads the file and fills in what neither gave.
//!
//! ```toml
//! warehouse = "s3://lake/prod"
//!
//! [s3]
//! endpoint = "http://minio:9000"
//! region = "us-east-1"
//! # access_key_id / secret_access_key, or the AWS_* environment
//!
//! [catalog]
//! etcd = ["http://etcd:2379"]   # or: sqlite = "/var/lib/quarry/catalog.db"
//!
//! [scheduler]
//! bind = "0.0.0.0"
//! flight_port = 32010
//!
//! [executor]
//! schedulers = ["quarry-scheduler:50050"]
//! slots = 4
//! ```
//!
//! `deploy/quarry.toml` is the documented example with every setting.

use std::path::{Path, PathBuf};

use quarry_catalog::object_stores::S3Options;
use serde::Deserialize;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    /// A directory or `s3://bucket/prefix`.
    pub warehouse: Option<String>,
    pub s3: S3Options,
    pub catalog: CatalogSection,
    pub scheduler: SchedulerSection,
    pub executor: ExecutorSection,
}

/// Where the table catalog lives.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogSection {
    /// A SQLite file.
    pub sqlite: Option<PathBuf>,
    /// etcd endpoints (any number of schedulers share the catalog).
    pub etcd: Vec<String>,
    /// The key prefix in etcd (default `quarry`).
    pub etcd_prefix: Option<String>,
}

/// `[scheduler]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchedulerSection {
    pub bind: Option<String>,
    pub advertise_host: Option<String>,
    pub flight_port: Option<u16>,
    pub pg_port: Option<u16>,
    pub ballista_port: Option<u16>,
    pub http_port: Option<u16>,
    /// A size, as `--single-stage-max-bytes` takes it (`"1GiB"`).
    pub single_stage_max_bytes: Option<String>,
    /// A size, as `--memory-limit` takes it (`"4GiB"`).
    pub memory_limit: Option<String>,
    /// Where SQL may name files, as `--file-location` takes them.
    pub file_locations: Option<Vec<String>>,
}

/// `[executor]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExecutorSection {
    pub schedulers: Vec<String>,
    pub bind: Option<String>,
    pub advertise_host: Option<String>,
    pub flight_port: Option<u16>,
    pub grpc_port: Option<u16>,
    pub slots: Option<usize>,
    pub work_dir: Option<PathBuf>,
    pub http_port: Option<u16>,
    pub drain_timeout: Option<u64>,
    /// A size, as `--reflection-cache` takes it (`"1GiB"`).
    pub reflection_cache: Option<String>,
    /// A size, as `--memory-limit` takes it (`"4GiB"`).
    pub memory_limit: Option<String>,
}

impl FileConfig {
    /// The file at `path`, or the empty configuration without one.
    pub fn load(path: Option<&Path>) -> Result<Self, String> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the configuration {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/quarry.toml");
        let config = FileConfig::load(Some(&path)).unwrap();
        assert!(config.warehouse.unwrap().starts_with("s3://"));
        assert!(!config.executor.schedulers.is_empty());
    }

    #[test]
    fn unknown_settings_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.toml");
        std::fs::write(&path, "[scheduler]\nflight_prot = 1\n").unwrap();
        let err = FileConfig::load(Some(&path)).unwrap_err();
        assert!(err.contains("flight_prot"), "{err}");
        assert!(FileConfig::load(Some(&dir.path().join("none.toml"))).is_err());
    }
}
