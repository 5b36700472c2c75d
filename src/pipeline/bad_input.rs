//! What happens to records that cannot be decoded or encoded.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use object_store::{ObjectStoreExt, PutPayload};

use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::rejected::Rejected;
use crate::store::escape;

/// The bad-input policy (invariant 5: never silent, never lost).
#[derive(Clone, Default)]
pub enum BadInputPolicy {
    /// Stop with [`Error::BadInput`] naming the record. Nothing after the
    /// last durable position is committed, so a fixed input resumes cleanly.
    #[default]
    Fail,
    /// Count the record, log it with its position and reason, go on.
    Skip,
    /// Write the original bytes and the reason to a dead-letter queue, then
    /// go on. The write is durable before any later position is committed.
    DeadLetter(Arc<dyn DeadLetterQueue>),
}

impl BadInputPolicy {
    /// Dead-letter into the lake's `_errors/` prefix.
    pub fn dead_letter_to(lake: &Lake) -> Self {
        BadInputPolicy::DeadLetter(Arc::new(LakeDeadLetters::new(lake.clone())))
    }
}

impl fmt::Debug for BadInputPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadInputPolicy::Fail => f.write_str("Fail"),
            BadInputPolicy::Skip => f.write_str("Skip"),
            BadInputPolicy::DeadLetter(q) => write!(f, "DeadLetter({q:?})"),
        }
    }
}

/// The names of the policies on a command line: `fail`, `skip`, `dead-letter`.
/// (`dead-letter` needs a queue; use [`BadInputPolicy::dead_letter_to`].)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadInputChoice {
    /// [`BadInputPolicy::Fail`].
    Fail,
    /// [`BadInputPolicy::Skip`].
    Skip,
    /// [`BadInputPolicy::DeadLetter`].
    DeadLetter,
}

impl BadInputChoice {
    /// The policy, dead-lettering into `lake`'s `_errors/` prefix.
    pub fn policy(self, lake: &Lake) -> BadInputPolicy {
        match self {
            BadInputChoice::Fail => BadInputPolicy::Fail,
            BadInputChoice::Skip => BadInputPolicy::Skip,
            BadInputChoice::DeadLetter => BadInputPolicy::dead_letter_to(lake),
        }
    }
}

impl FromStr for BadInputChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "fail" => Ok(Self::Fail),
            "skip" => Ok(Self::Skip),
            "dead-letter" => Ok(Self::DeadLetter),
            other => Err(Error::Config(format!(
                "bad-input policy {other:?}: expected fail, skip or dead-letter"
            ))),
        }
    }
}

/// Where the dead-letter policy puts rejected records.
#[async_trait]
pub trait DeadLetterQueue: Send + Sync + fmt::Debug {
    /// Stores one rejected record durably.
    async fn put(&self, rejected: &Rejected) -> Result<()>;
}

/// Dead letters as one JSON object each under the lake's `_errors/` prefix:
/// `_errors/{stream}+{partition}+{offset:020}.json`, holding the position,
/// the reason and the original bytes (`raw` when they are UTF-8, else
/// `raw_hex`). The key is a function of the position, so a replay rewrites
/// the same object instead of adding a duplicate.
#[derive(Debug, Clone)]
pub struct LakeDeadLetters {
    lake: Lake,
}

impl LakeDeadLetters {
    /// Dead letters into `lake`.
    pub fn new(lake: Lake) -> Self {
        Self { lake }
    }
}

#[async_trait]
impl DeadLetterQueue for LakeDeadLetters {
    async fn put(&self, rejected: &Rejected) -> Result<()> {
        let p = &rejected.position;
        let name = format!(
            "{}+{}+{:020}.json",
            escape(&p.stream),
            p.partition,
            p.offset
        );
        let key = self.lake.key(["_errors", name.as_str()]);
        let mut entry = serde_json::json!({
            "stream": &*p.stream,
            "partition": p.partition,
            "offset": p.offset,
            "reason": &rejected.reason,
        });
        match std::str::from_utf8(&rejected.raw) {
            Ok(text) => entry["raw"] = text.into(),
            Err(_) => {
                let hex: String = rejected.raw.iter().map(|b| format!("{b:02x}")).collect();
                entry["raw_hex"] = hex.into();
            }
        }
        let body = Bytes::from(serde_json::to_vec(&entry).expect("entry serializes"));
        self.lake
            .store()
            .put(&key, PutPayload::from(body))
            .await
            .map_err(|e| Error::store("put", &key, e))?;
        Ok(())
    }
}
