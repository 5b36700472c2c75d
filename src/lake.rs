//! [`Lake`]: an object store and the prefix the lake lives under.

use std::fmt;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;

use crate::error::{Error, Result};

/// Where a lake lives: any [`ObjectStore`] plus a root prefix inside it.
///
/// ```
/// use streamlake::Lake;
/// let lake = Lake::memory();
/// assert_eq!(lake.root().as_ref(), "");
/// let dir = tempfile::tempdir().unwrap();
/// let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
/// assert!(lake.to_string().starts_with("file://"));
/// ```
#[derive(Clone)]
pub struct Lake {
    store: Arc<dyn ObjectStore>,
    root: Path,
    url: String,
}

impl Lake {
    /// A lake in any object store, under `root`.
    pub fn new(store: Arc<dyn ObjectStore>, root: Path, url: impl Into<String>) -> Self {
        Self {
            store,
            root,
            url: url.into(),
        }
    }

    /// A lake in a local directory, created if missing.
    pub fn local(dir: impl AsRef<std::path::Path>) -> Result<Self> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating lake directory {}", dir.display()), e))?;
        let store = LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| Error::Config(format!("lake directory {}: {e}", dir.display())))?;
        let abs = std::fs::canonicalize(dir)
            .map_err(|e| Error::io(format!("resolving {}", dir.display()), e))?;
        Ok(Self::new(
            Arc::new(store),
            Path::default(),
            format!("file://{}", abs.display()),
        ))
    }

    /// A lake in memory, for tests and examples.
    pub fn memory() -> Self {
        Self::new(Arc::new(InMemory::new()), Path::default(), "memory://")
    }

    /// A lake from a location: `file:///abs/dir`, a plain directory path,
    /// or `memory://`. (`s3://bucket/prefix` needs the `s3` feature.)
    pub fn open(location: &str) -> Result<Self> {
        if location == "memory://" {
            return Ok(Self::memory());
        }
        if let Some(dir) = location.strip_prefix("file://") {
            return Self::local(dir);
        }
        if let Some((scheme, _)) = location.split_once("://") {
            return Err(Error::Config(format!(
                "lake location {location:?}: scheme {scheme}:// is not supported by this build \
                 (supported: file://, memory://, or a directory path)"
            )));
        }
        Self::local(location)
    }

    /// The object store.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The prefix inside the store under which the lake lives.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `root/part/part...`: a key inside the lake from already-escaped parts.
    pub(crate) fn key<'a>(&self, parts: impl IntoIterator<Item = &'a str>) -> Path {
        let mut key = self.root.as_ref().to_string();
        for part in parts.into_iter().filter(|p| !p.is_empty()) {
            if !key.is_empty() {
                key.push('/');
            }
            key.push_str(part);
        }
        // Parts are escaped by `store::escape`, so they parse as they are;
        // `Path::from` would percent-encode them a second time.
        Path::parse(&key).unwrap_or_else(|_| Path::from(key.as_str()))
    }
}

impl fmt::Display for Lake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

impl fmt::Debug for Lake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lake").field("url", &self.url).finish()
    }
}
