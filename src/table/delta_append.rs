//! Group commit for a Delta table: the appends of several closed groups
//! (their data files and `txn` actions) in one commit to the log.
//!
//! delta-rs replays the table's whole file list after every commit (its
//! snapshot update, `PostCommit`), so a commit costs more the larger the
//! table grows. While one commit runs, the groups whose files finished
//! uploading wait for the table; whoever takes the table next commits all
//! that wait, in one log entry. A commit holds at most one group per source
//! partition (a later group of the same partition waits for the next), so
//! each partition's groups still become durable in offset order; a commit
//! is atomic, so all of its groups are in the table or none is. The queue
//! is [`delta_queue`](super::delta_queue); a commit on top of the sink's
//! own last one is written as in [`delta_log_entry`](super::delta_log_entry),
//! any other through delta-rs.

use std::time::{SystemTime, UNIX_EPOCH};

use deltalake_core::DeltaTable;
use deltalake_core::kernel::Action;
use deltalake_core::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake_core::table::config::TablePropertiesExt as _;
use deltalake_core::table::state::DeltaTableState;
use tokio::sync::oneshot::error::TryRecvError;

use super::delta::app_id;
use super::delta_commit::DeltaCommit;
use super::delta_log::{self, DataFile, add_action, table_error, txn_action};
use super::delta_log_entry::is_checkpoint_version;
use super::delta_queue::{Append, Reply, copy_of, union_of};
use super::delta_schema;
use crate::error::{Error, Result};
use crate::record::SourcePartition;
use crate::schema::Column;
use crate::store::Group;

impl DeltaCommit {
    /// Adds the group's `files` to the table with the `txn` of `sp` at the
    /// group's last offset, in a commit that may hold other groups'
    /// appends too (see [`delta_append`](super::delta_append)). Refused
    /// when the table already holds offsets of this group (another writer
    /// owns `sp`). Returns the table version written.
    pub(super) async fn append(
        &self,
        sp: &SourcePartition,
        group: &Group,
        columns: Vec<Column>,
        files: Vec<DataFile>,
    ) -> Result<u64> {
        let mut result = self.waiting.push(Append {
            sp: sp.clone(),
            first_offset: group.first_offset,
            last_offset: group.boundary(),
            columns,
            files,
        });
        tracing::trace!(
            "{sp}: offsets {}..={} wait for the Delta table {}",
            group.first_offset,
            group.boundary(),
            self.settings.table
        );
        let mut table = self.table.lock().await;
        loop {
            match result.try_recv() {
                Ok(result) => return result,
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Closed) => {
                    return Err(copy_of(&Error::Config(format!(
                        "{sp}: the commit that took this group up to {} was cancelled",
                        group.boundary()
                    ))));
                }
            }
            let appends = self.waiting.take();
            self.commit_appends(&mut table, appends).await;
        }
    }

    /// One commit of `appends` to the log, each told the version that holds
    /// it or why none does. On top of this sink's own last commit it is
    /// written directly (see [`delta_log_entry`](super::delta_log_entry));
    /// otherwise, or when another writer took that version, the table is
    /// read again and the commit goes through delta-rs.
    async fn commit_appends(
        &self,
        table: &mut Option<DeltaTable>,
        mut appends: Vec<(Append, Reply)>,
    ) {
        let mut on_top = self.ahead().filter(|_| self.writes_log_entries(table));
        loop {
            if on_top.is_none() {
                let read = match self.refresh(table).await {
                    Ok(()) => self.create_if_missing(table, &appends).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = read {
                    return fail_all(appends, &e);
                }
            }
            let Some(loaded) = table.as_mut() else {
                unreachable!("the table is read or created before a commit");
            };
            appends = self.refuse_owned_elsewhere(loaded, appends).await;
            if appends.is_empty() {
                return;
            }
            let all = appends.iter().map(|(a, _)| a);
            match self.commit_to_log(loaded, all, on_top).await {
                Ok(Some(version)) => {
                    for (_, reply) in appends {
                        let _ = reply.send(Ok(version));
                    }
                    return;
                }
                // Another writer wrote the version after ours, or the
                // commit adds columns.
                Ok(None) => on_top = None,
                Err(e) => return fail_all(appends, &e),
            }
        }
    }

    /// Creates the table when there is none (no declared columns: the
    /// first groups' fields make it), before their `txn`s are checked:
    /// another writer may have created it first, with offsets of theirs.
    async fn create_if_missing(
        &self,
        table: &mut Option<DeltaTable>,
        appends: &[(Append, Reply)],
    ) -> Result<()> {
        if table.is_none() {
            let name = &self.settings.table;
            let columns = union_of(appends.iter().flat_map(|(a, _)| &a.columns));
            let partitions = &self.partition_columns;
            *table = Some(delta_log::create(&self.log_store, name, &columns, partitions).await?);
        }
        Ok(())
    }

    /// Whether the sink may write its log entries itself on this table:
    /// through the default log store (a user's goes through delta-rs), on
    /// a table without table features (writer version 2, as the sink
    /// creates them: an append needs nothing but `add`s and `txn`s there;
    /// features such as in-commit timestamps add to every commit).
    fn writes_log_entries(&self, table: &Option<DeltaTable>) -> bool {
        let plain = |t: &DeltaTable| {
            self.snapshot(t)
                .is_ok_and(|s| s.protocol().min_writer_version() <= 2)
        };
        self.options.log_store.is_none() && table.as_ref().is_some_and(plain)
    }

    /// `appends` less those whose first offset the table already holds
    /// (another writer owns their source partition), which are told so.
    async fn refuse_owned_elsewhere(
        &self,
        table: &DeltaTable,
        appends: Vec<(Append, Reply)>,
    ) -> Vec<(Append, Reply)> {
        let mut left = Vec::with_capacity(appends.len());
        for (append, reply) in appends {
            match self.owned_elsewhere(table, &append).await {
                Ok(None) => left.push((append, reply)),
                Ok(Some(e)) | Err(e) => {
                    let _ = reply.send(Err(e));
                }
            }
        }
        left
    }

    /// Why `append` may not go into `table`, if it may not.
    async fn owned_elsewhere(&self, table: &DeltaTable, append: &Append) -> Result<Option<Error>> {
        let name = &self.settings.table;
        let Some(version) = self.committed(table, &append.sp).await? else {
            return Ok(None);
        };
        Ok((version >= append.first_offset).then(|| Error::Conflict {
            key: format!("{name}/_delta_log"),
            reason: format!(
                "{} is at offset {version}, past the start of this group ({}..={}): another \
                 writer owns {}",
                app_id(name, &self.options.writer, &append.sp),
                append.first_offset,
                append.last_offset,
                append.sp
            ),
        }))
    }

    /// One commit to the log: the new columns, the files, and a `txn` per
    /// append; written directly on top of `on_top` (this sink's last
    /// commit) when it adds no columns, through delta-rs otherwise.
    /// Returns the table version written; `None` when the commit is to be
    /// made again through delta-rs after reading the table: another writer
    /// wrote the version after `on_top` first, or it adds columns.
    async fn commit_to_log<'a>(
        &self,
        table: &mut DeltaTable,
        appends: impl Iterator<Item = &'a Append> + Clone,
        on_top: Option<u64>,
    ) -> Result<Option<u64>> {
        let name = &self.settings.table;
        let now = now_millis();
        let columns = union_of(appends.clone().flat_map(|a| &a.columns));
        let new_columns = self.evolve(table, &columns)?;
        let before = delta_schema::columns_of(&self.snapshot(table)?.schema(), name)?;
        // What groups written while this commit runs are encoded with.
        self.note_columns(union_of(before.iter().chain(&columns)));
        let mut actions = Vec::new();
        let mut txns = Vec::new();
        for append in appends {
            actions.extend(append.files.iter().map(|f| add_action(f, now)));
            let app_id = app_id(name, &self.options.writer, &append.sp);
            actions.push(txn_action(&app_id, append.last_offset, now));
            txns.push((app_id, append.last_offset));
        }
        match (on_top, new_columns) {
            (Some(parent), None) => self.write_on_top(table, parent, actions, &txns).await,
            // delta-rs checks a schema change against the table as it is.
            (Some(_), Some(_)) => Ok(None),
            (None, metadata) => {
                let all = metadata.into_iter().chain(actions).collect();
                self.commit_through_delta_rs(table, all, &txns)
                    .await
                    .map(Some)
            }
        }
    }

    /// A commit of `actions` through delta-rs's commit path (protocol
    /// checks, conflict resolution with concurrent writers, a snapshot of
    /// the new version); this sink's own commit afterwards.
    async fn commit_through_delta_rs(
        &self,
        table: &mut DeltaTable,
        actions: Vec<Action>,
        txns: &[(String, i64)],
    ) -> Result<u64> {
        let name = &self.settings.table;
        let snapshot = self.snapshot(table)?;
        let parent = table.version();
        let operation = self.append_operation();
        let properties = CommitProperties::default()
            .with_cleanup_expired_logs(Some(cleans_up_log(snapshot, parent)));
        let committed = CommitBuilder::from(properties)
            .with_actions(actions)
            .build(Some(snapshot), self.log_store.clone(), operation)
            .await
            .map_err(|e| {
                let groups = txns.iter().map(|(id, last)| format!("{id} up to {last}"));
                let what = format!(
                    "{name}: committing {}",
                    groups.collect::<Vec<_>>().join(", ")
                );
                table_error(what, e)
            })?;
        // The table as this commit left it: the next refresh reads only
        // what others committed since.
        table.state = Some(committed.snapshot);
        self.txns().committed(parent, committed.version, txns);
        self.set_ahead(Some(committed.version));
        Ok(committed.version)
    }
}

/// Tells every append of a commit that failed as a whole why.
fn fail_all(appends: Vec<(Append, Reply)>, error: &Error) {
    for (_, reply) in appends {
        let _ = reply.send(Err(copy_of(error)));
    }
}

/// Whether the commit on top of version `parent` cleans up expired log
/// entries: the one that also writes a checkpoint, as Delta does, and
/// none on a table that turned clean-up off. delta-rs's default cleans up
/// after every commit, and its clean-up lists the whole `_delta_log`
/// first: one more listing per commit, growing with the log. A commit
/// that a concurrent writer pushes past `parent + 1` may miss its
/// checkpoint's clean-up; the next checkpoint's does it.
fn cleans_up_log(snapshot: &DeltaTableState, parent: Option<u64>) -> bool {
    let version = parent.map_or(0, |v| v + 1);
    snapshot.table_config().enable_expired_log_cleanup() && is_checkpoint_version(snapshot, version)
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
