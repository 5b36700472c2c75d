//! Whether a lake's store honours conditional creates, found out once by a
//! probe, and what the lake does about it.
//!
//! Exactly-once objects rest on `If-None-Match: *` (object_store's
//! `PutMode::Create`): a writer never replaces an object another writer
//! finished. Some S3-compatible servers ignore the header (answer 200 and
//! overwrite) or refuse it (501). The probe creates one object twice under
//! `_streamlake/probe/`: the second create must be refused. A store that
//! fails the probe is refused, unless the lake allows unconditional writes:
//! then objects are checked, then written (at-least-once under a
//! concurrent writer, exactly-once for replays).

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use tokio::sync::OnceCell;

use crate::error::{Error, Result};

/// How objects are created in a lake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WriteMode {
    /// Conditional create: exactly-once.
    Conditional,
    /// Check, then put: at-least-once under a concurrent writer.
    CheckThenPut,
}

/// What the probe found out about a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Probe {
    Honoured,
    /// The second create succeeded: the store overwrote the object.
    Ignored,
    /// The store refused the condition (501 Not Implemented).
    Refused,
}

/// The probe's settings and its result, shared by a lake's clones.
#[derive(Clone)]
pub(crate) struct Writes {
    /// A client of the same store that does not retry: a 501 is an
    /// answer, not an outage to wait out.
    probe_store: Option<Arc<dyn ObjectStore>>,
    allow_unconditional: bool,
    mode: Arc<OnceCell<WriteMode>>,
}

impl Writes {
    pub(crate) fn new() -> Self {
        Self {
            probe_store: None,
            allow_unconditional: false,
            mode: Arc::new(OnceCell::new()),
        }
    }

    pub(crate) fn allow_unconditional(mut self, allow: bool) -> Self {
        self.allow_unconditional = allow;
        self.mode = Arc::new(OnceCell::new());
        self
    }

    #[cfg(feature = "s3")]
    pub(crate) fn probe_with(mut self, store: Arc<dyn ObjectStore>) -> Self {
        self.probe_store = Some(store);
        self.mode = Arc::new(OnceCell::new());
        self
    }

    /// The write mode of `store` (probed once under `root`), or the error
    /// that says why the lake is refused.
    pub(crate) async fn mode(
        &self,
        store: &Arc<dyn ObjectStore>,
        root: &Path,
        place: &str,
    ) -> Result<WriteMode> {
        let probe_store = self.probe_store.as_ref().unwrap_or(store);
        self.mode
            .get_or_try_init(|| async {
                let found = probe(probe_store.as_ref(), root, place).await?;
                self.decide(found, place)
            })
            .await
            .copied()
    }

    fn decide(&self, found: Probe, place: &str) -> Result<WriteMode> {
        let what = match found {
            Probe::Honoured => return Ok(WriteMode::Conditional),
            Probe::Ignored => "ignores conditional creates (If-None-Match): it overwrote an object",
            Probe::Refused => "refuses conditional creates (If-None-Match: 501 Not Implemented)",
        };
        if !self.allow_unconditional {
            return Err(Error::Config(format!(
                "{place} {what}, so a zombie writer could replace objects a newer writer \
                 finished and records could be lost. Allow unconditional writes to accept \
                 at-least-once there (S3Options::allow_unconditional_writes, \
                 STREAMLAKE_S3_ALLOW_UNCONDITIONAL_WRITES=true, Lake::allow_unconditional_writes)"
            )));
        }
        tracing::warn!(
            "{place} {what}: objects are checked, then written (at-least-once under a \
             concurrent writer, exactly-once for replays)"
        );
        Ok(WriteMode::CheckThenPut)
    }
}

impl fmt::Debug for Writes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writes")
            .field("allow_unconditional", &self.allow_unconditional)
            .field("mode", &self.mode.get())
            .finish_non_exhaustive()
    }
}

/// Creates one object twice; the second create must be refused.
async fn probe(store: &dyn ObjectStore, root: &Path, place: &str) -> Result<Probe> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let name = format!("{}-{nanos}", std::process::id());
    let key = Path::from_iter(
        root.parts()
            .chain(["_streamlake", "probe", name.as_str()].map(Into::into)),
    );
    let create = || {
        let options = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        store.put_opts(
            &key,
            PutPayload::from(Bytes::from_static(b"probe")),
            options,
        )
    };
    let first = create().await;
    let found = match first {
        Ok(_) => match create().await {
            Ok(_) => Probe::Ignored,
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Probe::Honoured,
            Err(e) if refused(&e) => Probe::Refused,
            Err(e) => return Err(Error::store("put", &key, e)),
        },
        Err(e) if refused(&e) => Probe::Refused,
        Err(e) => return Err(Error::store("put", &key, e)),
    };
    if let Err(e) = store.delete(&key).await {
        tracing::debug!("{place}: removing the probe object {key}: {e}");
    }
    Ok(found)
}

/// A store's way of saying it has no conditional create.
fn refused(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotImplemented { .. })
        || e.to_string().contains("501 Not Implemented")
}
