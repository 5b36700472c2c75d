//! [`Lake`]: an object store and the prefix the lake lives under.

use std::fmt;
use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;

use object_store::ObjectStore;

use crate::error::{Error, Result};

mod writes;

pub(crate) use self::writes::WriteMode;
use self::writes::Writes;

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
    /// Objects above this size go up as multipart uploads.
    part_size: Option<usize>,
    /// What to name in errors: the store, endpoint and identity.
    place: String,
    /// Values never to print (an S3 error body can echo signed headers).
    secrets: Secrets,
    /// Whether objects are created conditionally (probed once).
    writes: Writes,
    /// How long keys may be in this store.
    key_limits: KeyLimits,
}

/// Values no error text may show (secret keys, session tokens), shared by
/// a lake's clones and added to as credentials are fetched (a profile's
/// keys are known only once the SDK has resolved them).
#[derive(Clone, Debug, Default)]
pub(crate) struct Secrets(Arc<std::sync::RwLock<Vec<String>>>);

impl Secrets {
    /// Keeps `secret` out of every error text from now on.
    #[cfg_attr(not(feature = "s3"), allow(dead_code))]
    pub(crate) fn add(&self, secret: &str) {
        let mut secrets = self.0.write().expect("secrets poisoned");
        if !secret.is_empty() && !secrets.iter().any(|s| s == secret) {
            secrets.push(secret.to_string());
        }
    }

    fn is_empty(&self) -> bool {
        self.0.read().expect("secrets poisoned").is_empty()
    }

    /// `text` with every secret replaced by `<redacted>`.
    pub(crate) fn redact(&self, text: &str) -> String {
        let mut text = text.to_string();
        for secret in self.0.read().expect("secrets poisoned").iter() {
            text = text.replace(secret.as_str(), "<redacted>");
        }
        text
    }
}

/// How long object keys may be in a store: checked before anything of a
/// record is written, so a record whose key cannot be stored is bad input,
/// not a store error that every restart meets again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct KeyLimits {
    /// The whole key, in bytes (S3: 1,024).
    pub(crate) max_key_bytes: Option<usize>,
    /// One path segment, in bytes (a local file name: 255).
    pub(crate) max_segment_bytes: Option<usize>,
}

impl Lake {
    /// A lake in any object store, under `root`.
    pub fn new(store: Arc<dyn ObjectStore>, root: Path, url: impl Into<String>) -> Self {
        let url = url.into();
        Self {
            store,
            root,
            place: url.clone(),
            url,
            part_size: None,
            secrets: Secrets::default(),
            writes: Writes::new(),
            key_limits: KeyLimits::default(),
        }
    }

    /// How long keys may be here.
    pub(crate) fn key_limits(&self) -> KeyLimits {
        self.key_limits
    }

    pub(crate) fn with_key_limits(mut self, limits: KeyLimits) -> Self {
        self.key_limits = limits;
        self
    }

    /// Accepts a store that ignores or refuses conditional creates
    /// (`If-None-Match`), which is otherwise refused with
    /// [`Error::Config`] at the first write: objects are then checked, then
    /// written, and the lake is at-least-once under a concurrent writer
    /// (exactly-once for replays). See [`check_writes`](Self::check_writes).
    pub fn allow_unconditional_writes(mut self, allow: bool) -> Self {
        self.writes = self.writes.allow_unconditional(allow);
        self
    }

    /// Probes the store (create one object under `_streamlake/probe/`
    /// twice, then remove it): fails with [`Error::Config`] when the store
    /// ignores or refuses conditional creates and the lake does not
    /// [allow unconditional writes](Self::allow_unconditional_writes). The
    /// lake sink runs the same probe before its first write; call this to
    /// find out at start-up. Needs write access.
    pub async fn check_writes(&self) -> Result<()> {
        self.write_mode().await.map(|_| ())
    }

    /// How objects are created here (probed once per lake and its clones).
    pub(crate) async fn write_mode(&self) -> Result<WriteMode> {
        self.writes
            .mode(&self.store, &self.root, &self.place)
            .await
            .map_err(|e| self.scrub(e))
    }

    /// Probes with this client instead of the lake's own (for S3: one that
    /// does not retry, since a 501 is an answer and not an outage).
    #[cfg(feature = "s3")]
    pub(crate) fn probe_with(mut self, store: Arc<dyn ObjectStore>) -> Self {
        self.writes = self.writes.probe_with(store);
        self
    }

    /// Uploads objects larger than `bytes` in parts of that size (multipart
    /// upload) instead of one request. S3 lakes do this by default (see
    /// `S3Options::part_size`); parts must be at least 5 MiB on S3.
    pub fn with_part_size(mut self, bytes: usize) -> Self {
        self.part_size = Some(bytes.max(1));
        self
    }

    /// Names the store in errors as `place` (store, endpoint, identity),
    /// and keeps `secrets` out of every error text.
    #[cfg(feature = "s3")]
    pub(crate) fn described_as(mut self, place: String, secrets: Secrets) -> Self {
        self.place = place;
        self.secrets = secrets;
        self
    }

    /// The multipart part size, if objects are split.
    pub fn part_size(&self) -> Option<usize> {
        self.part_size
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
        let lake = Self::new(
            Arc::new(store),
            Path::default(),
            format!("file://{}", abs.display()),
        );
        Ok(lake.with_key_limits(KeyLimits {
            max_key_bytes: None,
            max_segment_bytes: Some(255),
        }))
    }

    /// A lake in memory, for tests and examples.
    pub fn memory() -> Self {
        Self::new(Arc::new(InMemory::new()), Path::default(), "memory://")
    }

    /// A lake from a location: `s3://bucket/prefix` (feature `s3`; settings
    /// from the AWS environment, see `S3Options::from_vars`),
    /// `file:///abs/dir`, a plain directory path, or `memory://`.
    pub fn open(location: &str) -> Result<Self> {
        if location == "memory://" {
            return Ok(Self::memory());
        }
        #[cfg(feature = "s3")]
        if location.starts_with("s3://") || location.starts_with("s3a://") {
            return crate::s3::S3Options::from_env(location)?.open();
        }
        if let Some(dir) = location.strip_prefix("file://") {
            return Self::local(dir);
        }
        if let Some((scheme, _)) = location.split_once("://") {
            return Err(Error::Config(format!(
                "lake location {location:?}: scheme {scheme}:// is not supported by this build \
                 (supported: {}file://, memory://, or a directory path)",
                if cfg!(feature = "s3") {
                    "s3://, "
                } else {
                    "s3:// with feature `s3`, "
                }
            )));
        }
        Self::local(location)
    }

    /// Verifies that the lake answers: lists its root once, so that a
    /// missing bucket, rejected credentials or an unreachable endpoint are
    /// reported before a run starts, naming bucket and endpoint (never a
    /// secret). Unreachable is [`Error::Unavailable`]; the rest is
    /// [`Error::Config`].
    pub async fn check(&self) -> Result<()> {
        let place = &self.place;
        let e = match self.store.list_with_delimiter(Some(&self.root)).await {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        // S3 list errors arrive as generic errors carrying the response, so
        // they are told apart by S3's (stable) error codes.
        let text = self.redact(&e.to_string().replace(['\n', '\r'], " "));
        let has = |codes: &[&str]| codes.iter().any(|code| text.contains(code));
        let missing = matches!(e, object_store::Error::NotFound { .. }) || has(&["NoSuchBucket"]);
        let denied = matches!(
            e,
            object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. }
        ) || has(&[
            "InvalidAccessKeyId",
            "SignatureDoesNotMatch",
            "AccessDenied",
            "ExpiredToken",
            "InvalidToken",
            "403 Forbidden",
            "401 Unauthorized",
        ]);
        Err(if missing {
            Error::Config(format!("{place}: the bucket does not exist ({text})"))
        } else if denied {
            Error::Config(format!(
                "{place}: access denied; check the credentials ({text})"
            ))
        } else {
            Error::Unavailable {
                what: place.clone(),
                reason: text,
            }
        })
    }

    /// `text` with the lake's secrets (S3 secret key, session token)
    /// replaced: an S3 error body can echo signed headers.
    pub(crate) fn redact(&self, text: &str) -> String {
        self.secrets.redact(text)
    }

    /// An [`Error::Store`] for a request of this lake, with the lake's
    /// secrets kept out of its text.
    pub(crate) fn store_error(
        &self,
        operation: &'static str,
        key: impl ToString,
        source: object_store::Error,
    ) -> Error {
        self.scrub(Error::store(operation, key, source))
    }

    /// `e` with the lake's secrets kept out of its text.
    pub(crate) fn scrub(&self, e: Error) -> Error {
        if self.secrets.is_empty() {
            return e;
        }
        e.redacted(&|text| self.redact(text))
    }

    /// The directory of a local lake (`file://`), whose store is rooted
    /// there.
    #[cfg_attr(not(feature = "delta"), allow(dead_code))]
    pub(crate) fn local_dir(&self) -> Option<std::path::PathBuf> {
        let dir = self.url.strip_prefix("file://")?;
        Some(std::path::PathBuf::from(dir).join(self.root.as_ref()))
    }

    /// The object store.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The prefix inside the store under which the lake lives.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The store key of a lake-relative key such as `stock/index=HSI`
    /// (segments as they appear in the lake, Hive escapes included).
    ///
    /// ```
    /// let lake = streamlake::Lake::memory();
    /// assert_eq!(lake.path("stock/index=HSI").as_ref(), "stock/index=HSI");
    /// ```
    pub fn path(&self, relative: &str) -> Path {
        self.key(relative.split('/'))
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
