//! The one public error type, arranged by what the caller can do about it.

use crate::record::Position;

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in streamlake.
///
/// Variants are grouped by what the caller can do: fix configuration, fix
/// (or route) bad input, stop a competing writer, or retry an I/O failure.
/// Every error about one record names its [`Position`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid. Fix it; retrying does not help.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// A record could not be decoded, partitioned or encoded, and the
    /// bad-input policy is `fail`. Fix the data, or choose the `skip` or
    /// `dead-letter` policy.
    #[error("bad input at {position}: {reason}")]
    BadInput {
        /// Where the record came from (for a CSV file, the offset is the line).
        position: Position,
        /// What is wrong with it.
        reason: String,
    },

    /// The lake already holds a different object or group boundary where
    /// this writer wanted to create one: another writer is active on the
    /// same data, or the source was rewritten. Stop the other writer;
    /// retrying does not help.
    #[error("conflict at {key}: {reason}")]
    Conflict {
        /// Object key in the lake.
        key: String,
        /// What differs.
        reason: String,
    },

    /// Something stored cannot be read as what it should be: a lake object
    /// (a Parquet file without a readable footer, a group marker or
    /// catalog entry that does not parse) or a checkpoint file. Inspect or
    /// remove it; retrying does not help.
    #[error("{what} is corrupt: {reason}")]
    Corrupt {
        /// What was read: the object key or file path.
        what: String,
        /// What is wrong with it.
        reason: String,
    },

    /// An object-store request failed. See [`Error::is_retryable`].
    #[error("object store {operation} of {key} failed: {source}")]
    Store {
        /// The request (`put`, `get`, `list`, ...).
        operation: &'static str,
        /// Object key the request was for.
        key: String,
        /// The store's error.
        #[source]
        source: object_store::Error,
    },

    /// A service (Kafka brokers, an object store endpoint) could not be
    /// reached. Retrying later may help.
    #[error("{what} is unreachable: {reason}")]
    Unavailable {
        /// What could not be reached, e.g. the broker list.
        what: String,
        /// What happened.
        reason: String,
    },

    /// Something that should have progressed did not within its deadline:
    /// a consumer-group member that is never assigned a partition, a topic
    /// that does not drain. Names what was waited for and what was seen
    /// (the lagging partitions, the group state). Retrying may help once
    /// the cause (a stuck member, a broker) is gone.
    #[error("{what}: no progress: {reason}")]
    Stalled {
        /// What was waited for, naming the group or source.
        what: String,
        /// How long, and what was seen meanwhile.
        reason: String,
    },

    /// A Kafka client operation failed.
    #[cfg(feature = "kafka")]
    #[error("kafka {context}: {source}")]
    Kafka {
        /// What was being done, naming the topic or brokers.
        context: String,
        /// librdkafka's error.
        #[source]
        source: rdkafka::error::KafkaError,
    },

    /// A SQL statement could not be planned or run.
    #[cfg(feature = "sql")]
    #[error("sql {context}: {source}")]
    Sql {
        /// What was being done, naming the statement or table.
        context: String,
        /// DataFusion's error.
        #[source]
        source: Box<datafusion::error::DataFusionError>,
    },

    /// The AWS Glue Data Catalog refused a request for a reason other than
    /// permissions, configuration or availability (those are
    /// [`Error::Config`] and [`Error::Unavailable`]).
    #[cfg(feature = "glue")]
    #[error("glue {context}: {reason}")]
    Catalog {
        /// What was being done, naming database, table and endpoint.
        context: String,
        /// The service's answer (code and message).
        reason: String,
    },

    /// A Delta table operation failed (loading or creating the table,
    /// committing to its log). A commit another writer won is retried by
    /// delta-rs first; this is what remains.
    #[cfg(feature = "delta")]
    #[error("delta table {context}: {source}")]
    Table {
        /// What was being done, naming the table.
        context: String,
        /// delta-rs's error.
        #[source]
        source: Box<deltalake_core::DeltaTableError>,
    },

    /// A local file operation failed (source file, checkpoint).
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the file.
        context: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// True when the same call may succeed later (network or store
    /// unavailability), false when something must change first.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Store { source, .. } => matches!(
                source,
                object_store::Error::Generic { .. } | object_store::Error::JoinError { .. }
            ),
            Error::Unavailable { .. } | Error::Stalled { .. } => true,
            #[cfg(feature = "kafka")]
            Error::Kafka { source, .. } => source.rdkafka_error_code().is_some_and(|code| {
                use rdkafka::types::RDKafkaErrorCode as C;
                matches!(
                    code,
                    C::BrokerTransportFailure
                        | C::AllBrokersDown
                        | C::MessageTimedOut
                        | C::RequestTimedOut
                        | C::QueueFull
                        | C::NetworkException
                )
            }),
            Error::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::Interrupted
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::WouldBlock
            ),
            _ => false,
        }
    }

    /// The position of the record this error is about, if it is about one.
    pub fn position(&self) -> Option<&Position> {
        match self {
            Error::BadInput { position, .. } => Some(position),
            _ => None,
        }
    }

    /// The same error with `redact` applied to every text it shows (a
    /// store error's text is carried over as a generic store error).
    pub(crate) fn redacted(self, redact: &dyn Fn(&str) -> String) -> Self {
        match self {
            Error::Store {
                operation,
                key,
                source,
            } => {
                let text = source.to_string();
                let clean = redact(&text);
                if clean == text {
                    return Error::Store {
                        operation,
                        key,
                        source,
                    };
                }
                Error::Store {
                    operation,
                    key,
                    source: object_store::Error::Generic {
                        store: "S3",
                        source: clean.into(),
                    },
                }
            }
            Error::Config(text) => Error::Config(redact(&text)),
            Error::Unavailable { what, reason } => Error::Unavailable {
                what,
                reason: redact(&reason),
            },
            Error::Conflict { key, reason } => Error::Conflict {
                key,
                reason: redact(&reason),
            },
            #[cfg(feature = "sql")]
            Error::Sql { context, source } => {
                let text = redact(&source.to_string());
                Error::Sql {
                    context,
                    source: Box::new(datafusion::error::DataFusionError::Execution(text)),
                }
            }
            #[cfg(feature = "delta")]
            Error::Table { context, source } => Error::Table {
                context,
                source: Box::new(deltalake_core::DeltaTableError::Generic(redact(
                    &source.to_string(),
                ))),
            },
            other => other,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn store(
        operation: &'static str,
        key: impl ToString,
        source: object_store::Error,
    ) -> Self {
        Error::Store {
            operation,
            key: key.to_string(),
            source,
        }
    }
}
