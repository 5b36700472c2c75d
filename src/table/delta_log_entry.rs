//! A commit written as a log entry on top of this sink's own last commit,
//! without delta-rs's commit path.
//!
//! After every commit, delta-rs 1.1.3 brings its snapshot of the table to
//! the new version, and that update replays the table's whole file list
//! (`EagerSnapshot::update` materializes every file again; it has no
//! file-less snapshot yet, its issue 4584): a commit costs in proportion to
//! the files in the table, and a long stream into one table slows
//! quadratically. The sink's commits are blind appends (`add` and `txn`
//! actions, no reads of the table's files), so once a commit of this sink
//! went through delta-rs (which checked the table's protocol and left the
//! snapshot at that version), the next ones need no snapshot: each is the
//! next log entry, serialized by delta-rs's `CommitData` and written with
//! the log store's conditional create. A version someone else wrote first
//! means another writer: the sink reads the table again and commits through
//! delta-rs, checking the partitions' `txn` versions anew. Schema changes
//! go through delta-rs too. Every `delta.checkpointInterval` versions the
//! table is read again (the one replay per interval) and checkpointed, and
//! expired log entries are cleaned up, as delta-rs would after its commit.

use std::collections::HashMap;

use deltalake_core::DeltaTable;
use deltalake_core::checkpoints::{cleanup_metadata, create_checkpoint};
use deltalake_core::kernel::Action;
use deltalake_core::kernel::transaction::{CommitData, TransactionError};
use deltalake_core::logstore::CommitOrBytes;
use deltalake_core::table::config::TablePropertiesExt as _;
use deltalake_core::table::state::DeltaTableState;

use super::delta_commit::DeltaCommit;
use super::delta_log::table_error;
use crate::error::Result;

impl DeltaCommit {
    /// Writes `actions` as the log entry after this sink's own last commit
    /// (`parent`), recording `txns` as this sink's. `None` when another
    /// writer wrote that version first.
    pub(super) async fn write_on_top(
        &self,
        table: &mut DeltaTable,
        parent: u64,
        actions: Vec<Action>,
        txns: &[(String, i64)],
    ) -> Result<Option<u64>> {
        let name = &self.settings.table;
        let version = parent + 1;
        let entry = CommitData::new(actions, self.append_operation(), HashMap::new(), Vec::new())
            .get_bytes()
            .map_err(|e| table_error(format!("{name}: log entry {version}"), e.into()))?;
        let written = self
            .log_store
            .write_commit_entry(
                version,
                CommitOrBytes::LogBytes(entry),
                uuid::Uuid::new_v4(),
            )
            .await;
        match written {
            Ok(()) => {}
            Err(TransactionError::VersionAlreadyExists(_)) => return Ok(None),
            Err(e) => {
                let what = format!("{name}: writing log entry {version}");
                return Err(table_error(what, e.into()));
            }
        }
        self.set_ahead(Some(version));
        self.txns().committed(Some(parent), version, txns);
        let checkpoints = self
            .snapshot(table)
            .is_ok_and(|s| is_checkpoint_version(s, version));
        if checkpoints {
            // The commit stands whatever its checkpoint does (a failed
            // one is the next interval's to write, as with delta-rs).
            match self.checkpoint(table).await {
                Ok(()) if table.version() == Some(version) => {
                    // Still the sink's own: the next commit goes on top of it.
                    self.set_ahead(Some(version));
                }
                Ok(()) => {}
                Err(e) => tracing::warn!("{name}: version {version} is committed: {e}"),
            }
        }
        Ok(Some(version))
    }

    /// Reads the table to its latest version, checkpoints it, and cleans up
    /// expired log entries unless the table turned that off.
    async fn checkpoint(&self, table: &mut DeltaTable) -> Result<()> {
        let name = &self.settings.table;
        self.refresh_loaded(table).await?;
        create_checkpoint(table, None)
            .await
            .map_err(|e| table_error(format!("{name}: checkpoint"), e))?;
        let cleans_up = self
            .snapshot(table)?
            .table_config()
            .enable_expired_log_cleanup();
        if cleans_up {
            cleanup_metadata(table, None)
                .await
                .map_err(|e| table_error(format!("{name}: cleaning up the log"), e))?;
        }
        release_freed_memory();
        Ok(())
    }
}

/// Hands the memory the table read just freed back to the system. Reading
/// the log for a checkpoint allocates and frees hundreds of MiB within a
/// fraction of a second on whichever threads the read ran, and glibc keeps
/// what each thread's arena freed: with many source partitions (a
/// checkpoint every few seconds) the peak crept up through a run.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory of the allocator's own
    // arenas to the system; it touches no memory that is in use.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Whether Delta checkpoints `version` of the table `snapshot` is of:
/// delta-rs checkpoints the version whose successor is a multiple of the
/// table's `delta.checkpointInterval`.
pub(super) fn is_checkpoint_version(snapshot: &DeltaTableState, version: u64) -> bool {
    (version + 1) % snapshot.table_config().checkpoint_interval().get() == 0
}
