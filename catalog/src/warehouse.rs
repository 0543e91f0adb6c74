//! [`Warehouse`]: the root of a Quarry lake, a local directory or an object-store URL
//! (`s3://bucket/prefix`), and path resolution inside it.
//!
//! Relative paths in SQL (`SELECT * FROM 'landing/customers.csv'`) are relative to the
//! warehouse, not to the working directory of whichever process plans the query, so a
//! statement means the same thing from every client; and they must lie in the
//! warehouse's file locations ([`FileLocations`], `landing/` by default).

use std::fmt;
use std::path::{Path, PathBuf};

use url::Url;

use crate::file_locations::FileLocations;
use crate::table::TableError;

/// The warehouse: where landing files and table data live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warehouse {
    /// `file:///abs/dir` or `s3://bucket/prefix`, without a trailing slash.
    uri: String,
    /// The directory, for a local warehouse.
    local: Option<PathBuf>,
    /// Where SQL may name files.
    files: FileLocations,
}

impl Warehouse {
    /// Subdirectory where raw source files arrive.
    pub const LANDING: &'static str = "landing";

    /// Opens the warehouse at `location`: a URL such as `s3://bucket/prefix`, or a
    /// directory, created if needed and made absolute so that plans shipped to executors
    /// carry absolute paths.
    pub fn open(location: impl AsRef<str>) -> std::io::Result<Self> {
        let location = location.as_ref().trim_end_matches('/');
        let directory = match location.strip_prefix("file://") {
            Some(path) => path,
            None if location.contains("://") => return Self::remote(location),
            None => location,
        };
        let directory = if directory.is_empty() { "/" } else { directory };
        std::fs::create_dir_all(directory)?;
        let root = std::fs::canonicalize(directory)?;
        Self {
            uri: format!("file://{}", root.display()),
            local: Some(root),
            files: FileLocations::default(),
        }
        .with_landing()
    }

    fn remote(location: &str) -> std::io::Result<Self> {
        let invalid = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, why);
        let url = Url::parse(location).map_err(|e| invalid(format!("{location}: {e}")))?;
        if url.scheme() != "s3" {
            return Err(invalid(format!(
                "{location}: a warehouse is a directory or an s3:// URL, not {}://",
                url.scheme()
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid(format!("{location}: the URL names no bucket")));
        }
        Self {
            uri: location.to_string(),
            local: None,
            files: FileLocations::default(),
        }
        .with_landing()
    }

    fn with_landing(self) -> std::io::Result<Self> {
        self.with_file_locations(vec![format!("{}/", Self::LANDING)])
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
    }

    /// The warehouse with `locations` (paths relative to the root, absolute paths or
    /// URLs) as the places SQL may name files in, instead of `landing/`.
    pub fn with_file_locations(mut self, locations: Vec<String>) -> Result<Self, String> {
        let resolved: Vec<String> = locations.iter().map(|l| self.resolve(l)).collect();
        self.files = FileLocations::new(locations, &resolved)
            .map_err(|e| format!("bad file location: {e}"))?;
        Ok(self)
    }

    /// The root as a URI: `file:///abs/dir` or `s3://bucket/prefix`.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The root directory of a local warehouse.
    pub fn local_root(&self) -> Option<&Path> {
        self.local.as_deref()
    }

    /// Resolves a location written in SQL: URLs (`s3://...`, `file:///...`) and
    /// absolute paths stay as they are, anything else is taken relative to the root.
    pub fn resolve(&self, location: &str) -> String {
        if location.contains("://") || Path::new(location).is_absolute() {
            return location.to_string();
        }
        let relative = location.strip_prefix("./").unwrap_or(location);
        match &self.local {
            Some(root) => root.join(relative).to_string_lossy().into_owned(),
            None => format!("{}/{relative}", self.uri),
        }
    }
}

impl Warehouse {
    /// Resolves a location where SQL names files (a file read as a table, an external
    /// table, `COPY INTO`, `COPY .. TO`) as [`Warehouse::resolve`] does, and refuses one
    /// outside the file locations.
    pub fn resolve_file(&self, location: &str) -> Result<String, TableError> {
        let resolved = self.resolve(location);
        self.files.check(&resolved).map_err(|why| {
            TableError::Forbidden(format!("cannot use the files at '{location}': {why}"))
        })?;
        Ok(resolved)
    }
}

impl fmt::Display for Warehouse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.local {
            Some(root) => write!(f, "{}", root.display()),
            None => f.write_str(&self.uri),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_relative_paths_against_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let wh = Warehouse::open(dir.path().join("wh").to_string_lossy()).unwrap();
        let root = wh.local_root().unwrap().to_string_lossy().into_owned();
        assert!(wh.local_root().unwrap().is_absolute());
        assert_eq!(wh.uri(), format!("file://{root}"));
        assert_eq!(wh.resolve("landing/a.csv"), format!("{root}/landing/a.csv"));
        assert_eq!(wh.resolve("./b/*.parquet"), format!("{root}/b/*.parquet"));
        assert_eq!(wh.resolve("/data/x.json"), "/data/x.json");
        assert_eq!(wh.resolve("s3://bucket/x/"), "s3://bucket/x/");
        assert_eq!(wh.resolve("file:///tmp/y.csv"), "file:///tmp/y.csv");
    }

    #[test]
    fn object_store_warehouses_resolve_to_urls() {
        let wh = Warehouse::open("s3://lake/prod/").unwrap();
        assert_eq!(wh.uri(), "s3://lake/prod");
        assert!(wh.local_root().is_none());
        assert_eq!(wh.resolve("landing/a.csv"), "s3://lake/prod/landing/a.csv");
        assert_eq!(wh.to_string(), "s3://lake/prod");
        let err = Warehouse::open("gs://lake").unwrap_err().to_string();
        assert!(err.contains("not gs://"), "{err}");
        assert!(Warehouse::open("s3:///prefix").is_err());
    }
}
