//! Table formats: how a closed group of records becomes part of a table.
//!
//! The lake sink routes, rotates and encodes the same way for every
//! format; only its commit step differs:
//!
//! - [`TableFormat::Hive`] (the default): loose objects under Hive
//!   partition paths, each created with a conditional put, and a group
//!   marker per group so that a replay rewrites exactly the same objects.
//!   Readers find them through a crawler or a catalog.
//! - `TableFormat::Delta` (feature `delta`): Parquet data files with unique
//!   names, then one commit to the table's Delta log that adds them together
//!   with the source positions (a `txn` action per source partition). The
//!   commit is the durability point; a replay resumes from the positions in
//!   the log, so a crash between the table commit and the Kafka commit
//!   duplicates nothing. See [`delta`].
//!
//! Iceberg is to be a third variant, with the same seam.

#[cfg(feature = "delta")]
pub mod delta;
#[cfg(feature = "delta")]
mod delta_append;
#[cfg(feature = "delta")]
mod delta_commit;
#[cfg(feature = "delta")]
mod delta_engine;
#[cfg(feature = "delta")]
mod delta_files;
#[cfg(feature = "delta")]
mod delta_log;
#[cfg(feature = "delta")]
mod delta_log_entry;
#[cfg(feature = "delta")]
mod delta_maintenance;
#[cfg(feature = "delta")]
mod delta_queue;
#[cfg(feature = "delta")]
mod delta_schema;
#[cfg(feature = "delta")]
mod delta_txn;

/// How the lake sink commits what it writes. Chosen with
/// [`LakeSinkBuilder::table_format`](crate::LakeSinkBuilder::table_format).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub enum TableFormat {
    /// Loose objects under Hive partition paths (`index=HSI/...`).
    #[default]
    Hive,
    /// A Delta Lake table (feature `delta`).
    #[cfg(feature = "delta")]
    Delta(delta::DeltaOptions),
}
