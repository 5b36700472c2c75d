//! What happens to records that cannot be decoded or encoded.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;

use crate::error::{Error, Result};
use crate::rejected::Rejected;
#[cfg(doc)]
use crate::store::LakeDeadLetters;

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
#[deprecated(note = "use `BadInputPolicy::named(name, &lake)`")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadInputChoice {
    /// [`BadInputPolicy::Fail`].
    Fail,
    /// [`BadInputPolicy::Skip`].
    Skip,
    /// [`BadInputPolicy::DeadLetter`].
    DeadLetter,
}

#[allow(deprecated)]
impl BadInputChoice {
    /// The policy, dead-lettering into `lake`'s `_errors/` prefix.
    pub fn policy(self, lake: &crate::lake::Lake) -> BadInputPolicy {
        match self {
            BadInputChoice::Fail => BadInputPolicy::Fail,
            BadInputChoice::Skip => BadInputPolicy::Skip,
            BadInputChoice::DeadLetter => BadInputPolicy::dead_letter_to(lake),
        }
    }
}

#[allow(deprecated)]
impl FromStr for BadInputChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "fail" => Ok(Self::Fail),
            "skip" => Ok(Self::Skip),
            "dead-letter" => Ok(Self::DeadLetter),
            other => Err(unknown_policy(other)),
        }
    }
}

/// The error for a policy name that is not `fail`, `skip` or `dead-letter`.
pub(crate) fn unknown_policy(name: &str) -> Error {
    Error::Config(format!(
        "bad-input policy {name:?}: expected fail, skip or dead-letter"
    ))
}

/// Where the dead-letter policy puts rejected records.
#[async_trait]
pub trait DeadLetterQueue: Send + Sync + fmt::Debug {
    /// Stores one rejected record durably.
    async fn put(&self, rejected: &Rejected) -> Result<()>;
}
