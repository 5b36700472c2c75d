//! Delta table maintenance as library calls: [`optimize`] compacts the
//! small files frequent commits make, [`vacuum`] removes files no live
//! commit references (files `optimize` replaced, and orphans of commit
//! attempts that never reached the log). Both are delta-rs's operations on
//! the table in the lake, through the same log store the sink commits with.

use std::num::NonZeroU64;
use std::time::Duration;

use deltalake_core::DeltaTable;
use deltalake_core::operations::vacuum::VacuumMode;

use super::delta_log::{log_store, table_error};
use crate::error::{Error, Result};
use crate::lake::Lake;

/// What [`optimize`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Optimized {
    /// Small files replaced (they stay in storage until [`vacuum`]).
    pub files_removed: u64,
    /// Compacted files written.
    pub files_added: u64,
    /// Partitions that had files compacted.
    pub partitions: u64,
}

/// What [`vacuum`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Vacuumed {
    /// The files deleted, relative to the table.
    pub files_deleted: Vec<String>,
}

/// The Delta table at `location` in `lake` as a DataFusion table, its
/// store registered with `session`.
#[cfg(feature = "sql")]
pub(crate) async fn table_provider(
    lake: &Lake,
    location: &str,
    session: &datafusion::prelude::SessionContext,
) -> Result<std::sync::Arc<dyn datafusion::catalog::TableProvider>> {
    let delta = load(lake, location).await?;
    delta
        .update_datafusion_session(&session.state())
        .map_err(|e| table_error(format!("{location}: registering its store"), e))?;
    delta.table_provider().await.map_err(|e| Error::Sql {
        context: format!("{location}: a table provider for the Delta table"),
        source: Box::new(e),
    })
}

/// Loads `table` of `lake`; a missing table is [`Error::Config`].
async fn load(lake: &Lake, table: &str) -> Result<DeltaTable> {
    let log_store = log_store(lake, table)?;
    super::delta_log::load(&log_store, table)
        .await?
        .ok_or_else(|| {
            Error::Config(format!(
                "{lake}/{table} is not a Delta table (no _delta_log/)"
            ))
        })
}

/// Compacts the files of each partition of `table` into files of about
/// `target_file_bytes` (delta-rs's bin-packing `optimize`) in one commit
/// that removes the small files and adds the compacted ones; the rows and
/// the `txn` positions are unchanged. Safe while a sink commits to the
/// table (a commit that removes files another commit touched conflicts and
/// is retried or refused by delta-rs).
pub async fn optimize(lake: &Lake, table: &str, target_file_bytes: u64) -> Result<Optimized> {
    let target = NonZeroU64::new(target_file_bytes)
        .ok_or_else(|| Error::Config("optimize: the target file size must be above 0".into()))?;
    let delta = load(lake, table).await?;
    let (_, metrics) = delta
        .optimize()
        .with_target_size(target)
        .await
        .map_err(|e| table_error(format!("{table}: optimize"), e))?;
    Ok(Optimized {
        files_removed: metrics.num_files_removed,
        files_added: metrics.num_files_added,
        partitions: metrics.partitions_optimized,
    })
}

/// Deletes the files of `table` that no live commit references and that
/// are older than `retention`: files [`optimize`] replaced, and data files
/// of commit attempts that never reached the log (a crash between upload
/// and commit). Keep `retention` longer than any reader's query and any
/// writer's upload-to-commit time (Delta's default is 7 days): a file a
/// running writer uploaded but has not committed yet is an orphan too.
pub async fn vacuum(lake: &Lake, table: &str, retention: Duration) -> Result<Vacuumed> {
    let retention = chrono::Duration::from_std(retention)
        .map_err(|e| Error::Config(format!("vacuum: retention {retention:?}: {e}")))?;
    let delta = load(lake, table).await?;
    let (_, metrics) = delta
        .vacuum()
        .with_mode(VacuumMode::Full)
        .with_retention_period(retention)
        .with_enforce_retention_duration(false)
        .await
        .map_err(|e| table_error(format!("{table}: vacuum"), e))?;
    Ok(Vacuumed {
        files_deleted: metrics.files_deleted,
    })
}
