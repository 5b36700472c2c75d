//! [`Rejected`]: a record that could not be processed, on its way to the
//! bad-input policy.

use bytes::Bytes;

use crate::error::Error;
use crate::record::Position;

/// A record that a source could not decode or a sink could not partition or
/// encode. The pipeline hands it to its bad-input policy (fail, skip or
/// dead-letter); it is never dropped silently.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// Where the record came from.
    pub position: Position,
    /// The original bytes: the Kafka message value, or the raw CSV line(s).
    pub raw: Bytes,
    /// Why it was rejected, naming the location (e.g. `line 57`).
    pub reason: String,
}

impl Rejected {
    /// Builds a rejection.
    pub fn new(position: Position, raw: impl Into<Bytes>, reason: impl Into<String>) -> Self {
        Self {
            position,
            raw: raw.into(),
            reason: reason.into(),
        }
    }

    /// The error the `fail` policy stops with.
    pub fn into_error(self) -> Error {
        Error::BadInput {
            position: self.position,
            reason: self.reason,
        }
    }
}
