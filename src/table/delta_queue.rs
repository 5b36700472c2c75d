//! The queue of a Delta group commit: the appends of closed groups that
//! wait for the table, and what one commit of several of them needs (the
//! union of their columns; a failure told to each).

use std::sync::Mutex;

use tokio::sync::oneshot;

use super::delta_log::DataFile;
use crate::error::{Error, Result};
use crate::record::SourcePartition;
use crate::schema::Column;

/// One closed group's part of a commit.
pub(super) struct Append {
    pub(super) sp: SourcePartition,
    /// The group's first source offset: the table must not hold it yet.
    pub(super) first_offset: i64,
    /// The group's last source offset: its `txn` version.
    pub(super) last_offset: i64,
    /// The columns the group's files were written with.
    pub(super) columns: Vec<Column>,
    pub(super) files: Vec<DataFile>,
}

/// Where the table version that holds an append (or why none does) goes.
pub(super) type Reply = oneshot::Sender<Result<u64>>;

/// The appends waiting for the table, in the order they arrived.
#[derive(Default)]
pub(super) struct Waiting {
    appends: Mutex<Vec<(Append, Reply)>>,
}

impl Waiting {
    /// Queues `append`; its result arrives on the receiver once a commit
    /// took it.
    pub(super) fn push(&self, append: Append) -> oneshot::Receiver<Result<u64>> {
        let (reply, result) = oneshot::channel();
        self.list().push((append, reply));
        result
    }

    /// The waiting appends for one commit: all of them, except that of a
    /// source partition only the first (the others stay, in order).
    pub(super) fn take(&self) -> Vec<(Append, Reply)> {
        let mut list = self.list();
        let mut taken: Vec<(Append, Reply)> = Vec::with_capacity(list.len());
        let mut left = Vec::new();
        for waiting in list.drain(..) {
            match taken.iter().any(|(a, _)| a.sp == waiting.0.sp) {
                true => left.push(waiting),
                false => taken.push(waiting),
            }
        }
        *list = left;
        taken
    }

    fn list(&self) -> std::sync::MutexGuard<'_, Vec<(Append, Reply)>> {
        self.appends.lock().expect("waiting appends poisoned")
    }
}

/// `columns` with each name once, at its first place and with its first
/// type.
pub(super) fn union_of<'a>(columns: impl IntoIterator<Item = &'a Column>) -> Vec<Column> {
    let mut union: Vec<Column> = Vec::new();
    for column in columns {
        if !union.iter().any(|c| c.name == column.name) {
            union.push(column.clone());
        }
    }
    union
}

/// `error`, once per group of a commit that failed as a whole: each group's
/// commit returns its own copy (delta-rs's errors are not `Clone`; the
/// copy keeps the message).
pub(super) fn copy_of(error: &Error) -> Error {
    let (context, source) = match error {
        Error::Table { context, source } => (context.clone(), source.to_string()),
        other => (
            "committing to the Delta table".to_string(),
            other.to_string(),
        ),
    };
    Error::Table {
        context,
        source: Box::new(deltalake_core::DeltaTableError::Generic(source)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::ColumnType;

    fn append(partition: i32, first_offset: i64, columns: &[(&str, ColumnType)]) -> Append {
        Append {
            sp: SourcePartition::new("t", partition),
            first_offset,
            last_offset: first_offset + 9,
            columns: columns.iter().map(|(n, t)| Column::new(*n, *t)).collect(),
            files: Vec::new(),
        }
    }

    #[test]
    fn a_commit_takes_one_append_per_source_partition_in_arrival_order() {
        let waiting = Waiting::default();
        let _a = waiting.push(append(0, 0, &[]));
        let _b = waiting.push(append(1, 0, &[]));
        let _c = waiting.push(append(0, 10, &[]));
        let _d = waiting.push(append(2, 0, &[]));
        let first: Vec<(i32, i64)> = waiting
            .take()
            .iter()
            .map(|(a, _)| (a.sp.partition, a.first_offset))
            .collect();
        assert_eq!(first, [(0, 0), (1, 0), (2, 0)]);
        let second: Vec<(i32, i64)> = waiting
            .take()
            .iter()
            .map(|(a, _)| (a.sp.partition, a.first_offset))
            .collect();
        assert_eq!(second, [(0, 10)]);
        assert!(waiting.take().is_empty());
    }

    #[test]
    fn a_union_of_columns_names_each_once_with_its_first_type() {
        let a = append(
            0,
            0,
            &[("Index", ColumnType::String), ("x", ColumnType::Bigint)],
        );
        let b = append(
            1,
            0,
            &[("Index", ColumnType::String), ("x", ColumnType::Double)],
        );
        let c = append(2, 0, &[("y", ColumnType::Boolean)]);
        let all = union_of([&a, &b, &c].into_iter().flat_map(|a| &a.columns));
        let names: Vec<(&str, ColumnType)> = all
            .iter()
            .map(|c| (c.name.as_str(), c.column_type))
            .collect();
        assert_eq!(
            names,
            [
                ("Index", ColumnType::String),
                ("x", ColumnType::Bigint),
                ("y", ColumnType::Boolean)
            ]
        );
    }
}
