//! Dead letters beside the lake sink: rejected records as objects under
//! the lake's `_errors/` prefix, named like data objects.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use object_store::{ObjectStoreExt, PutPayload};

use super::keys::dead_letter_key;
use crate::error::Result;
use crate::lake::Lake;
use crate::pipeline::{BadInputPolicy, DeadLetterQueue, unknown_policy};
use crate::rejected::Rejected;

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

impl BadInputPolicy {
    /// Dead-letter into the lake's `_errors/` prefix ([`LakeDeadLetters`]).
    pub fn dead_letter_to(lake: &Lake) -> Self {
        BadInputPolicy::DeadLetter(Arc::new(LakeDeadLetters::new(lake.clone())))
    }

    /// The policy called `name` on a command line: `fail`, `skip`, or
    /// `dead-letter` (into `lake`'s `_errors/` prefix).
    ///
    /// ```
    /// use streamlake::{BadInputPolicy, Lake};
    /// let policy = BadInputPolicy::named("dead-letter", &Lake::memory())?;
    /// assert!(matches!(policy, BadInputPolicy::DeadLetter(_)));
    /// assert!(BadInputPolicy::named("ignore", &Lake::memory()).is_err());
    /// # Ok::<(), streamlake::Error>(())
    /// ```
    pub fn named(name: &str, lake: &Lake) -> Result<Self> {
        match name {
            "fail" => Ok(BadInputPolicy::Fail),
            "skip" => Ok(BadInputPolicy::Skip),
            "dead-letter" => Ok(BadInputPolicy::dead_letter_to(lake)),
            other => Err(unknown_policy(other)),
        }
    }
}

#[async_trait]
impl DeadLetterQueue for LakeDeadLetters {
    async fn put(&self, rejected: &Rejected) -> Result<()> {
        let p = &rejected.position;
        let key = dead_letter_key(&self.lake, &p.source_partition(), p.offset);
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
            .map_err(|e| self.lake.store_error("put", &key, e))?;
        Ok(())
    }
}
