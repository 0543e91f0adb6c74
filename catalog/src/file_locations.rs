//! Where SQL may name files by path: the warehouse's file locations (by default its
//! `landing/` directory). Reading files as tables, external tables, `COPY INTO` and
//! `COPY .. TO` check the location they name against them, after resolving `..`,
//! absolute paths and symbolic links, so `'/etc/passwd'`, `'landing/../../x'` and a link
//! out of `landing/` are refused, while the lake's tables are read by the catalog, not
//! by path.

use std::path::{Component, Path, PathBuf};

use url::Url;

/// One place files may be named in: a real (symbolic-link free) directory, or an
/// object-store URL prefix ending with `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Root {
    Local(PathBuf),
    Remote(String),
}

/// The locations SQL may name files in.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileLocations {
    roots: Vec<Root>,
    /// As configured, for messages.
    named: Vec<String>,
}

impl FileLocations {
    /// The locations `named` (as written) resolved to `resolved` (absolute paths or
    /// URLs); a directory that does not exist yet may still be made.
    pub fn new(named: Vec<String>, resolved: &[String]) -> Result<Self, String> {
        let roots = resolved
            .iter()
            .map(|location| match local_path(location) {
                Some(path) => Ok(Root::Local(real_path(&normalize(&path)?))),
                None => Ok(Root::Remote(url_prefix(location)?)),
            })
            .collect::<Result<_, String>>()?;
        Ok(Self { roots, named })
    }

    /// Checks that `resolved`, a path or URL with perhaps a glob pattern in it, lies in
    /// one of the locations; the reason it does not otherwise.
    pub fn check(&self, resolved: &str) -> Result<(), String> {
        let inside = match local_path(resolved) {
            Some(path) => self.holds_local(&path)?,
            None => {
                let url = url_prefix(resolved)?;
                self.roots
                    .iter()
                    .any(|root| matches!(root, Root::Remote(r) if url.starts_with(r.as_str())))
            }
        };
        match inside {
            true => Ok(()),
            false => Err(format!(
                "it is outside the file locations, where SQL may read and write files ({}); \
                 the server's --file-location option sets them",
                self.named.join(", ")
            )),
        }
    }

    fn holds_local(&self, path: &Path) -> Result<bool, String> {
        let (fixed, pattern) = split_pattern(path);
        if pattern.iter().any(|part| part == Path::new("..")) {
            return Err("'..' may not follow a wildcard".into());
        }
        let real = real_path(&normalize(&fixed)?);
        if !self.holds_real(&real) {
            return Ok(false);
        }
        // What a directory or a pattern reaches through links inside it counts too.
        Ok(match real.is_dir() {
            true => self.links_stay_inside(&real),
            false => true,
        })
    }

    fn holds_real(&self, real: &Path) -> bool {
        self.roots
            .iter()
            .any(|root| matches!(root, Root::Local(r) if real.starts_with(r)))
    }

    /// Whether every symbolic link under `dir` leads inside the locations.
    fn links_stay_inside(&self, dir: &Path) -> bool {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return true;
        };
        entries.flatten().all(|entry| {
            let path = entry.path();
            match entry.file_type() {
                Ok(kind) if kind.is_symlink() => std::fs::canonicalize(&path)
                    .map(|target| self.holds_real(&target))
                    // A dangling link reads nothing.
                    .unwrap_or(true),
                Ok(kind) if kind.is_dir() => self.links_stay_inside(&path),
                _ => true,
            }
        })
    }
}

/// The local path a location names: a path, or a `file://` URL.
fn local_path(location: &str) -> Option<PathBuf> {
    match location.strip_prefix("file://") {
        Some(path) => Some(PathBuf::from(path)),
        None if location.contains("://") => None,
        None => Some(PathBuf::from(location)),
    }
}

/// The part of `path` before its first component with a wildcard, and the rest.
fn split_pattern(path: &Path) -> (PathBuf, Vec<PathBuf>) {
    let mut fixed = PathBuf::new();
    let mut pattern = Vec::new();
    for component in path.components() {
        let text = component.as_os_str().to_string_lossy();
        if !pattern.is_empty() || text.contains(['*', '?', '[', '{']) {
            pattern.push(PathBuf::from(component.as_os_str()));
        } else {
            fixed.push(component);
        }
    }
    (fixed, pattern)
}

/// `path` with `.` and `..` taken away, without reading the file system; it must be
/// absolute.
fn normalize(path: &Path) -> Result<PathBuf, String> {
    if !path.is_absolute() {
        return Err(format!("{} is not an absolute path", path.display()));
    }
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                normal.pop();
            }
            other => normal.push(other),
        }
    }
    Ok(normal)
}

/// `path` with symbolic links resolved as far as it exists; the rest, which does not
/// exist yet, appended as written.
fn real_path(path: &Path) -> PathBuf {
    let mut existing = path.to_path_buf();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(&existing) {
            return rest.iter().rev().fold(real, |real, part| real.join(part));
        }
        match (existing.file_name().map(PathBuf::from), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            _ => return path.to_path_buf(),
        }
    }
}

/// An object-store URL as a prefix ending with `/`; parsing it takes its `.` and `..`
/// segments away.
fn url_prefix(location: &str) -> Result<String, String> {
    let url = Url::parse(location).map_err(|e| format!("{location}: {e}"))?;
    Ok(format!("{}/", url.as_str().trim_end_matches('/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locations(dir: &Path) -> FileLocations {
        let landing = dir.join("landing");
        std::fs::create_dir_all(&landing).unwrap();
        FileLocations::new(
            vec!["landing/".into(), "s3://lake/wh/landing/".into()],
            &[
                landing.to_string_lossy().into_owned(),
                "s3://lake/wh/landing/".into(),
            ],
        )
        .unwrap()
    }

    #[test]
    fn paths_inside_the_locations_pass() {
        let dir = tempfile::tempdir().unwrap();
        let dir = std::fs::canonicalize(dir.path()).unwrap();
        let files = locations(&dir);
        let landing = dir.join("landing");
        std::fs::create_dir_all(landing.join("sales")).unwrap();
        for ok in [
            landing.join("a.csv"),
            landing.join("sales/*.csv"),
            landing.join("new/dir/"),
            landing.join("sales/../b.json"),
        ] {
            files.check(&ok.to_string_lossy()).unwrap();
        }
        files
            .check(&format!("file://{}", landing.join("x.parquet").display()))
            .unwrap();
        files.check("s3://lake/wh/landing/sales/*.csv").unwrap();
    }

    #[test]
    fn escapes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let dir = std::fs::canonicalize(dir.path()).unwrap();
        let files = locations(&dir);
        let landing = dir.join("landing");
        std::fs::write(dir.join("secret.csv"), "a\n1\n").unwrap();
        std::os::unix::fs::symlink(dir.join("secret.csv"), landing.join("link.csv")).unwrap();
        for refused in [
            "/etc/passwd".to_string(),
            landing
                .join("../../etc/passwd")
                .to_string_lossy()
                .into_owned(),
            landing.join("link.csv").to_string_lossy().into_owned(),
            format!("{}/*.csv", landing.display()),
            landing.join("*/../../x").to_string_lossy().into_owned(),
            dir.join("landing2/a.csv").to_string_lossy().into_owned(),
            "file:///etc/passwd".into(),
            "s3://lake/wh/landing/../silver/t/data.parquet".into(),
            "s3://other/wh/landing/a.csv".into(),
        ] {
            assert!(files.check(&refused).is_err(), "{refused} passed");
        }
        let message = files.check("/etc/passwd").unwrap_err();
        assert!(message.contains("landing/"), "{message}");
    }
}
