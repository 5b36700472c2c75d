//! The Delta table behind a [`DeltaCommit`](super::delta::DeltaCommit):
//! its log store over the lake's own object store, loading or creating it,
//! and the actions one group's commit adds.

use std::collections::HashMap;
use std::sync::Arc;

use deltalake_core::kernel::{Action, Add, Transaction};
use deltalake_core::logstore::{LogStoreRef, StorageConfig, default_logstore};
use deltalake_core::operations::create::CreateBuilder;
use deltalake_core::protocol::SaveMode;
use deltalake_core::{DeltaTable, DeltaTableError};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use url::Url;

use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::schema::Column;

/// A Delta error as ours, naming what was being done to which table.
pub(super) fn table_error(context: impl Into<String>, source: DeltaTableError) -> Error {
    Error::Table {
        context: context.into(),
        source: Box::new(source),
    }
}

/// The log store of `table` in `lake`: delta-rs's default log store (a
/// commit is a conditional put of the next log entry) over the lake's own
/// object store, so that credentials, retries and fault injection are the
/// lake's. A local directory is the exception: delta-rs sorts listings
/// (which a directory returns unsorted) and maps paths only for `file://`
/// tables, so those get its own view of the file system at the same place.
pub(super) fn log_store(lake: &Lake, table: &str) -> Result<LogStoreRef> {
    let bad = |e: String| Error::Config(format!("Delta table {table} in {lake}: {e}"));
    let (root, prefix, url) = match lake.local_dir() {
        Some(dir) => {
            std::fs::create_dir_all(dir.join(table))
                .map_err(|e| Error::io(format!("creating {}", dir.join(table).display()), e))?;
            let url = Url::from_directory_path(dir.join(table))
                .map_err(|()| bad("not an absolute directory".into()))?;
            let root: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new());
            let prefix =
                Path::from_absolute_path(dir.join(table)).map_err(|e| bad(e.to_string()))?;
            (root, prefix, url)
        }
        None => {
            let prefix = lake.key(table.split('/'));
            // The URL only has to map paths onto the store handed over:
            // delta-rs reads `{url path}/_delta_log/...` from `root`.
            let url = Url::parse(&format!("streamlake://lake/{prefix}/"))
                .map_err(|e| bad(e.to_string()))?;
            (lake.store().clone(), prefix, url)
        }
    };
    let prefixed = Arc::new(PrefixStore::new(root.clone(), prefix));
    let default = default_logstore(prefixed, root, &url, &StorageConfig::default());
    Ok(super::delta_engine::bounded(default))
}

/// The table at `log_store`, loaded; `None` when it has no log yet.
pub(super) async fn load(log_store: &LogStoreRef, name: &str) -> Result<Option<DeltaTable>> {
    // Asked first: loading a table without a log logs an error.
    let exists = log_store
        .is_delta_table_location()
        .await
        .map_err(|e| table_error(format!("{name}: looking for its log"), e))?;
    if !exists {
        return Ok(None);
    }
    let mut table = DeltaTable::new(log_store.clone());
    match table.load().await {
        Ok(()) => Ok(Some(table)),
        Err(DeltaTableError::NotATable(_)) => Ok(None),
        Err(e) => Err(table_error(format!("{name}: loading"), e)),
    }
}

/// Creates the table at `log_store` with `columns`, partitioned by
/// `partition_columns`. Another writer creating it at the same moment
/// wins: its table is loaded instead.
pub(super) async fn create(
    log_store: &LogStoreRef,
    name: &str,
    columns: &[Column],
    partition_columns: &[String],
) -> Result<DeltaTable> {
    let created = CreateBuilder::new()
        .with_log_store(log_store.clone())
        .with_table_name(name)
        .with_columns(columns.iter().map(super::delta_schema::struct_field))
        .with_partition_columns(partition_columns.iter().cloned())
        .with_save_mode(SaveMode::Ignore)
        .await;
    match created {
        Ok(table) => Ok(table),
        Err(DeltaTableError::VersionAlreadyExists(_)) => {
            load(log_store, name).await?.ok_or_else(|| Error::Conflict {
                key: format!("{name}/_delta_log"),
                reason: "the table was neither loadable nor creatable".into(),
            })
        }
        Err(e) => Err(table_error(format!("{name}: creating"), e)),
    }
}

/// One data file of a group, for its `add` action.
pub(super) struct DataFile {
    /// Key relative to the table root, as stored.
    pub(super) relative_key: String,
    pub(super) size: usize,
    pub(super) records: usize,
    pub(super) partition_values: HashMap<String, Option<String>>,
}

/// The `add` action of a data file written now.
pub(super) fn add_action(file: &DataFile, now_millis: i64) -> Action {
    Action::Add(Add {
        path: uri_path(&file.relative_key),
        partition_values: file.partition_values.clone(),
        size: file.size as i64,
        modification_time: now_millis,
        data_change: true,
        stats: Some(format!("{{\"numRecords\":{}}}", file.records)),
        tags: None,
        deletion_vector: None,
        base_row_id: None,
        default_row_commit_version: None,
        clustering_provider: None,
    })
}

/// The `txn` action that records `version` (the last source offset a
/// commit includes) for `app_id`.
pub(super) fn txn_action(app_id: &str, version: i64, now_millis: i64) -> Action {
    Action::Txn(Transaction::new_with_last_update(
        app_id,
        version,
        Some(now_millis),
    ))
}

/// A relative key as the URI path a Delta `add` holds: readers decode it,
/// so bytes other than unreserved characters, `/` and `=` (a Hive-escaped
/// `%2F` among them) are percent-encoded.
fn uri_path(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for byte in key.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~/=".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_become_uri_paths_readers_decode_back() {
        assert_eq!(
            uri_path("index=N%2FA/t+0+00000000000000000007-ab.parquet"),
            "index=N%252FA/t%2B0%2B00000000000000000007-ab.parquet"
        );
        assert_eq!(uri_path("Index=HSI/a b.parquet"), "Index=HSI/a%20b.parquet");
    }
}
