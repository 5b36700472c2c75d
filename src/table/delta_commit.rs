//! [`DeltaCommit`]: the lake sink's commit step for a Delta table (see
//! [`delta`](super::delta) for what a commit holds and why).

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use deltalake_core::DeltaTable;
use deltalake_core::kernel::{Action, MetadataExt as _, StructType};
use deltalake_core::logstore::LogStoreRef;
use deltalake_core::protocol::{DeltaOperation, SaveMode};
use deltalake_core::table::state::DeltaTableState;
use tokio::sync::Mutex;

use super::delta::{DeltaOptions, app_id};
use super::delta_log::{self, table_error};
use super::delta_queue::Waiting;
use super::delta_schema;
use super::delta_txn::TxnVersions;
use crate::error::{Error, Result};
use crate::lake::WriteMode;
use crate::record::{Position, SourcePartition};
use crate::rejected::Rejected;
use crate::schema::Column;
use crate::store::{CommitStep, Group, Recorded, SinkSettings, Written};

/// Commits closed groups to a Delta table.
pub(crate) struct DeltaCommit {
    pub(super) settings: Arc<SinkSettings>,
    pub(super) options: DeltaOptions,
    pub(super) partition_columns: Vec<String>,
    pub(super) log_store: LogStoreRef,
    /// Loaded on first use; one commit at a time from this sink.
    pub(super) table: Mutex<Option<DeltaTable>>,
    /// `txn` versions read or written, used while `table` is locked.
    pub(super) txns: std::sync::Mutex<TxnVersions>,
    /// Appends of closed groups waiting for `table` (group commit).
    pub(super) waiting: Waiting,
    /// The table's columns as last read or committed; `None` before the
    /// table was first read.
    columns: std::sync::Mutex<Option<Vec<Column>>>,
    /// The version of this sink's last commit while the log's latest
    /// version, as far as the sink knows, is that commit (`None` once the
    /// table was read again): `table` may be older, by the log entries
    /// this sink wrote on top of it (see [`delta_log_entry`](super::delta_log_entry)).
    ahead: std::sync::Mutex<Option<u64>>,
}

impl fmt::Debug for DeltaCommit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeltaCommit")
            .field("table", &self.settings.table)
            .field("options", &self.options)
            .finish()
    }
}

impl DeltaCommit {
    pub(crate) fn new(settings: Arc<SinkSettings>, options: DeltaOptions) -> Result<Self> {
        let partition_columns: Vec<String> =
            settings.template.fields().map(str::to_string).collect();
        let log_store = match &options.log_store {
            Some(theirs) => theirs.clone(),
            None => delta_log::log_store(&settings.lake, &settings.table)?,
        };
        Ok(Self {
            settings,
            options,
            partition_columns,
            log_store,
            table: Mutex::new(None),
            txns: Default::default(),
            waiting: Waiting::default(),
            columns: Default::default(),
            ahead: Default::default(),
        })
    }

    /// The table brought up to its latest version (loaded, or created with
    /// the declared columns, on first use), locked; `None` while there is
    /// no table and its columns are to be inferred from the first group.
    async fn latest(&self) -> Result<tokio::sync::MutexGuard<'_, Option<DeltaTable>>> {
        let mut guard = self.table.lock().await;
        self.refresh(&mut guard).await?;
        Ok(guard)
    }

    /// Brings the locked `table` up to the log's latest version.
    pub(super) async fn refresh(&self, table: &mut Option<DeltaTable>) -> Result<()> {
        let name = &self.settings.table;
        match table.as_mut() {
            Some(table) => self.refresh_loaded(table).await?,
            None => {
                if self.options.log_store.is_none() {
                    self.refuse_unconditional_stores().await?;
                }
                *table = delta_log::load(&self.log_store, name).await?;
                let columns = &self.options.columns;
                if table.is_none() && !columns.is_empty() {
                    let partitions = &self.partition_columns;
                    let created =
                        delta_log::create(&self.log_store, name, columns, partitions).await?;
                    *table = Some(created);
                }
            }
        }
        Ok(())
    }

    /// Brings a loaded `table` up to the log's latest version.
    pub(super) async fn refresh_loaded(&self, table: &mut DeltaTable) -> Result<()> {
        let name = &self.settings.table;
        table
            .update_incremental(None)
            .await
            .map_err(|e| table_error(format!("{name}: reading the log"), e))?;
        self.set_ahead(None);
        Ok(())
    }

    /// A Delta commit is a conditional create of the next log entry: on a
    /// store that ignores `If-None-Match` two writers could both write
    /// version N and one commit would be lost. Such stores are refused
    /// unless a log store of the user's is configured (delta-rs's external
    /// locking, e.g. DynamoDB: [`DeltaOptions::log_store`]).
    async fn refuse_unconditional_stores(&self) -> Result<()> {
        let lake = &self.settings.lake;
        match lake.write_mode().await {
            Ok(WriteMode::Conditional) => Ok(()),
            Ok(WriteMode::CheckThenPut) | Err(Error::Config(_)) => Err(Error::Config(format!(
                "{lake} does not honour conditional writes (If-None-Match): a Delta log there \
                 could lose a commit to a concurrent writer, so the Delta table {} is refused \
                 (configure delta-rs's external locking with DeltaOptions::log_store)",
                self.settings.table
            ))),
            Err(e) => Err(e),
        }
    }

    /// The version of this sink's last commit, while no other is known to
    /// follow it.
    pub(super) fn ahead(&self) -> Option<u64> {
        *self.ahead.lock().expect("own version poisoned")
    }

    pub(super) fn set_ahead(&self, version: Option<u64>) {
        *self.ahead.lock().expect("own version poisoned") = version;
    }

    /// The log's latest version as far as this sink knows: its own last
    /// commit, or the version `table` was read at.
    fn log_version(&self, table: &DeltaTable) -> Option<u64> {
        self.ahead().or(table.version())
    }

    /// What every commit of the sink is to delta-rs: an append,
    /// partitioned by the template's fields.
    pub(super) fn append_operation(&self) -> DeltaOperation {
        DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: Some(self.partition_columns.clone()),
            predicate: None,
        }
    }

    /// The state of `table` as last loaded.
    pub(super) fn snapshot<'t>(&self, table: &'t DeltaTable) -> Result<&'t DeltaTableState> {
        let name = &self.settings.table;
        table
            .snapshot()
            .map_err(|e| table_error(format!("{name}: snapshot"), e))
    }

    /// The last offset of `sp` the table holds for this writer.
    pub(super) async fn committed(
        &self,
        table: &DeltaTable,
        sp: &SourcePartition,
    ) -> Result<Option<i64>> {
        let name = &self.settings.table;
        let app_id = app_id(name, &self.options.writer, sp);
        // Entries for what this sink committed on top of `table` are kept
        // at the log's version; others are the same in `table`.
        let at = self.log_version(table);
        if let Some(known) = self.txns().get(at, &app_id) {
            return Ok(known);
        }
        let found = self
            .snapshot(table)?
            .transaction_version(self.log_store.as_ref(), &app_id)
            .await
            .map_err(|e| table_error(format!("{name}: reading txn {app_id}"), e))?;
        self.txns().found(at, &app_id, found);
        Ok(found)
    }

    pub(super) fn txns(&self) -> std::sync::MutexGuard<'_, TxnVersions> {
        self.txns.lock().expect("txn versions poisoned")
    }

    /// The table's columns as its latest version has them. While a commit
    /// holds the table, the columns that commit leaves (it notes them
    /// before it writes the log), so that a group's files are written
    /// while another group's commit runs instead of after it.
    async fn table_columns(&self) -> Result<Vec<Column>> {
        if self.ahead().is_some() {
            if let Some(columns) = self.noted_columns() {
                // On top of this sink's own commits: they left these.
                return Ok(columns);
            }
        }
        let mut guard = match self.table.try_lock() {
            Ok(guard) => guard,
            Err(_) => match self.noted_columns() {
                Some(columns) => return Ok(columns),
                None => self.table.lock().await,
            },
        };
        self.refresh(&mut guard).await?;
        let Some(table) = guard.as_ref() else {
            return Ok(Vec::new());
        };
        let name = &self.settings.table;
        let columns = delta_schema::columns_of(&self.snapshot(table)?.schema(), name)?;
        self.note_columns(columns.clone());
        Ok(columns)
    }

    /// The columns noted last (see [`table_columns`](Self::table_columns)).
    fn noted_columns(&self) -> Option<Vec<Column>> {
        self.columns.lock().expect("noted columns poisoned").clone()
    }

    /// Notes the table's columns, as read or as a commit leaves them.
    pub(super) fn note_columns(&self, columns: Vec<Column>) {
        *self.columns.lock().expect("noted columns poisoned") = Some(columns);
    }

    /// The metadata action adding those of `columns` the table (at commit
    /// time) does not have yet, if any.
    pub(super) fn evolve(&self, table: &DeltaTable, columns: &[Column]) -> Result<Option<Action>> {
        let name = &self.settings.table;
        let snapshot = self.snapshot(table)?;
        let schema = snapshot.schema();
        let missing: Vec<&Column> = columns
            .iter()
            .filter(|c| schema.field(&c.name).is_none())
            .collect();
        if missing.is_empty() {
            return Ok(None);
        }
        let fields = schema
            .fields()
            .cloned()
            .chain(missing.iter().map(|c| delta_schema::struct_field(c)));
        let evolved = StructType::try_new(fields)
            .map_err(|e| Error::Config(format!("Delta table {name}: new columns: {e}")))?;
        let metadata = snapshot
            .metadata()
            .clone()
            .with_schema(&evolved)
            .map_err(|e| Error::Config(format!("Delta table {name}: new columns: {e}")))?;
        tracing::info!(
            "Delta table {name}: new columns {}",
            missing
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok(Some(Action::Metadata(metadata)))
    }
}

#[async_trait]
impl CommitStep for DeltaCommit {
    /// The table's `txn` version for `sp`, when it covers `first_offset`:
    /// the records up to it are in the table, and are passed over.
    async fn recorded_boundary(
        &self,
        sp: &SourcePartition,
        first_offset: i64,
    ) -> Result<Option<Recorded>> {
        let guard = self.latest().await?;
        let Some(table) = guard.as_ref() else {
            return Ok(None);
        };
        Ok(match self.committed(table, sp).await? {
            Some(version) if version >= first_offset => {
                tracing::info!(
                    "{sp}: the Delta table {} holds offsets up to {version}: passing over \
                     {first_offset}..={version}",
                    self.settings.table
                );
                Some(Recorded {
                    last_offset: version,
                    written_paths: Default::default(),
                    all_written: true,
                })
            }
            _ => None,
        })
    }

    /// The log holds one `txn` version per partition, not group
    /// boundaries.
    fn records_every_group(&self) -> bool {
        false
    }

    /// The table's `txn` versions for `partitions`: the source resumes
    /// after them.
    async fn durable_positions(&self, partitions: &[SourcePartition]) -> Result<Vec<Position>> {
        let guard = self.latest().await?;
        let Some(table) = guard.as_ref() else {
            return Ok(Vec::new());
        };
        let mut durable = Vec::new();
        for sp in partitions {
            if let Some(version) = self.committed(table, sp).await? {
                durable.push(sp.at(version));
            }
        }
        Ok(durable)
    }

    async fn commit(
        &self,
        sp: &SourcePartition,
        group: &Group,
        refused: &mut Vec<Rejected>,
    ) -> Result<Written> {
        let mut written = Written {
            last_offset: group.boundary(),
            ..Written::default()
        };
        if group.all_written {
            return Ok(written);
        }
        let mut columns = self.table_columns().await?;
        let objects = group.objects();
        let values = objects.iter().flat_map(|(_, b)| b.values());
        let new = delta_schema::new_columns(values, &columns);
        columns.extend(new);
        let started = std::time::Instant::now();
        let files = self.upload(sp, group, &columns, refused).await?;
        let uploaded = started.elapsed();
        written.objects = files.len() as u64;
        written.bytes = files.iter().map(|f| f.size as u64).sum();
        written.records = files.iter().map(|f| f.records as u64).sum();
        let version = self.append(sp, group, columns, files).await?;
        tracing::debug!(
            "{sp}: Delta table {} version {version} holds offsets {}..={} ({} files, {} \
             records; upload {uploaded:?}, log commit {:?})",
            self.settings.table,
            group.first_offset,
            group.boundary(),
            written.objects,
            written.records,
            started.elapsed() - uploaded
        );
        Ok(written)
    }
}
