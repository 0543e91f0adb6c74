//! [`Warehouse`]: the root directory of a Quarry lake and path resolution inside it.
//!
//! Relative paths in SQL (`SELECT * FROM 'landing/customers.csv'`) are relative to the
//! warehouse, not to the working directory of whichever process plans the query, so a
//! statement means the same thing from every client.

use std::path::{Path, PathBuf};

/// The warehouse: a directory that holds landing files and (later) table data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warehouse {
    root: PathBuf,
}

impl Warehouse {
    /// Subdirectory where raw source files arrive.
    pub const LANDING: &'static str = "landing";

    /// Opens the warehouse at `root`, creating the directory if needed. The root is
    /// made absolute so that plans shipped to executors carry absolute paths.
    pub fn open(root: impl AsRef<Path>) -> std::io::Result<Self> {
        let root = root.as_ref();
        std::fs::create_dir_all(root)?;
        Ok(Self {
            root: std::fs::canonicalize(root)?,
        })
    }

    /// The absolute root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory where raw files land (`<root>/landing`).
    pub fn landing_dir(&self) -> PathBuf {
        self.root.join(Self::LANDING)
    }

    /// Resolves a location written in SQL: URLs (`s3://...`, `file:///...`) and
    /// absolute paths stay as they are, anything else is taken relative to the root.
    pub fn resolve(&self, location: &str) -> String {
        if location.contains("://") || Path::new(location).is_absolute() {
            location.to_string()
        } else {
            let relative = location.strip_prefix("./").unwrap_or(location);
            self.root.join(relative).to_string_lossy().into_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_relative_paths_against_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let wh = Warehouse::open(dir.path().join("wh")).unwrap();
        let root = wh.root().to_string_lossy().into_owned();
        assert!(wh.root().is_absolute());
        assert_eq!(wh.resolve("landing/a.csv"), format!("{root}/landing/a.csv"));
        assert_eq!(wh.resolve("./b/*.parquet"), format!("{root}/b/*.parquet"));
        assert_eq!(wh.resolve("/data/x.json"), "/data/x.json");
        assert_eq!(wh.resolve("s3://bucket/x/"), "s3://bucket/x/");
        assert_eq!(wh.resolve("file:///tmp/y.csv"), "file:///tmp/y.csv");
    }
}
