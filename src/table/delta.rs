//! Delta Lake tables (feature `delta`, on delta-rs): the lake sink's
//! commit step for [`TableFormat::Delta`](super::TableFormat::Delta).
//!
//! A closed group becomes Parquet data files with unique names (an
//! attempt id in each), then **one** commit to the table's `_delta_log`
//! that adds them together with a `txn` action for the group's source
//! partition: `appId` = [`app_id`] (table, writer, topic, partition),
//! `version` = the last offset the group includes. The commit is the
//! durability point: the group's positions are reported durable only after
//! the log entry exists.
//!
//! Exactly-once comes from the table, not from reproducible file names:
//! whenever the sink opens a group it asks the table for the partition's
//! `txn` version and passes over every record at or below it, so a crash
//! after the Delta commit and before the Kafka commit duplicates nothing.
//! Data files of an attempt that never reached the log are orphans, never
//! visible to readers (Delta's `vacuum` removes them).
//!
//! The log goes through the lake's own object store with delta-rs's
//! default log store, which commits with a conditional put
//! (`If-None-Match`); two writers committing at once are serialised by
//! delta-rs's optimistic concurrency (a commit that loses the race is
//! retried on the newer version unless it conflicts).

pub(crate) use super::delta_commit::DeltaCommit;
#[cfg(feature = "sql")]
pub(crate) use super::delta_maintenance::table_provider;
pub use super::delta_maintenance::{Optimized, Vacuumed, optimize, vacuum};
/// The delta-rs crate the Delta sink is built on, so users name the same
/// version (for a [log store](DeltaOptions::log_store) of their own).
pub use deltalake_core;
use deltalake_core::logstore::LogStoreRef;

use crate::error::{Error, Result};
use crate::record::SourcePartition;
use crate::schema::Column;
use crate::store::PartitionTemplate;

/// What a Delta table is written with: its columns (the table schema; the
/// partition template's fields are its partition columns) and the writer
/// id that, with the table, topic and partition, names each `txn` action.
#[derive(Clone, Debug)]
pub struct DeltaOptions {
    pub(super) columns: Vec<Column>,
    pub(super) writer: String,
    pub(super) log_store: Option<LogStoreRef>,
}

impl DeltaOptions {
    /// A table with these columns (every column nullable), created with
    /// them by the first commit if it does not exist. Timestamp columns
    /// are Delta `timestamp`s (microseconds, UTC). An existing table keeps
    /// its own schema (new fields are added to it).
    pub fn new(columns: Vec<Column>) -> Self {
        Self {
            columns,
            writer: "streamlake".into(),
            log_store: None,
        }
    }

    /// A table whose columns are inferred: created by the first commit with
    /// the fields of that commit's records (typed from their values), then
    /// grown as new fields arrive.
    pub fn inferred() -> Self {
        Self::new(Vec::new())
    }

    /// The writer id in every `txn` action (default `streamlake`): use the
    /// Kafka consumer group, so that the members of one group share the
    /// positions in the table and a second pipeline over the same topic
    /// (another group) keeps its own.
    pub fn writer(mut self, id: impl Into<String>) -> Self {
        self.writer = id.into();
        self
    }

    /// Commits to the table's log through this delta-rs log store instead
    /// of delta-rs's default one over the lake's store. For a store without
    /// conditional writes (refused otherwise: two writers could both create
    /// the same version) this is where delta-rs's external locking goes,
    /// e.g. `deltalake-aws`'s DynamoDB log store for the table's location;
    /// the sink then trusts it to let one writer create each version. Data
    /// files still go through the lake's store, so the log store must be
    /// rooted at the same place (`{lake}/{table}`). [`optimize`], [`vacuum`]
    /// and the SQL provider open the table with the default log store: with
    /// external locking, run delta-rs's own operations on this one instead.
    pub fn log_store(mut self, log_store: LogStoreRef) -> Self {
        self.log_store = Some(log_store);
        self
    }

    /// The table's columns.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// Checks the options against the sink's partition template: it may
    /// read record fields only (no record time), each a declared column
    /// when columns are declared.
    pub(crate) fn check(&self, template: &PartitionTemplate) -> Result<()> {
        if template.has_time_parts() {
            return Err(Error::Config(format!(
                "partition template {:?}: a Delta table partitions by record fields only",
                template.as_str()
            )));
        }
        if self.columns.is_empty() {
            return Ok(()); // inferred from the first group
        }
        for field in template.fields() {
            if !self.columns.iter().any(|c| c.name == field) {
                return Err(Error::Config(format!(
                    "Delta partition column {field:?} (from the partition template) is not a \
                     declared column"
                )));
            }
        }
        Ok(())
    }

    /// The columns of the data files: partition columns live in the log's
    /// `add` actions, not in the files.
    pub(crate) fn data_columns(&self, partition_fields: &[String]) -> Vec<Column> {
        data_columns(&self.columns, partition_fields)
    }
}

pub(super) fn data_columns(columns: &[Column], partition_fields: &[String]) -> Vec<Column> {
    columns
        .iter()
        .filter(|c| !partition_fields.contains(&c.name))
        .cloned()
        .collect()
}

/// The `appId` of the `txn` actions recording how far `sp` is in `table`
/// for `writer`: `streamlake/{table}/{writer}/{topic}/{partition}`.
pub fn app_id(table: &str, writer: &str, sp: &SourcePartition) -> String {
    format!("streamlake/{table}/{writer}/{}/{}", sp.stream, sp.partition)
}
