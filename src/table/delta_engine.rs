//! The sink's Delta log store: delta-rs's, with delta-kernel's engine
//! built to read a few log files at a time.
//!
//! delta-kernel's default engine reads up to 1,000 log files at once, each
//! through an arrow-json decoder sized for 1,000 rows; whenever the sink
//! reads the table again (at each checkpoint) that is hundreds of decoders
//! alive together for a log of small entries, and the allocator keeps what
//! they freed. Eight at a time read the same log.

use std::num::NonZero;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use delta_kernel::{Engine, Version};
use delta_kernel_default_engine::DefaultEngineBuilder;
use delta_kernel_default_engine::executor::TaskExecutor;
use delta_kernel_default_engine::executor::tokio::{
    TokioBackgroundExecutor, TokioMultiThreadExecutor,
};
use deltalake_core::DeltaResult;
use deltalake_core::kernel::transaction::TransactionError;
use deltalake_core::logstore::{CommitOrBytes, LogStore, LogStoreConfig, LogStoreRef};
use object_store::ObjectStore;
use tokio::runtime::RuntimeFlavor;
use uuid::Uuid;

/// Log files delta-kernel reads at once for the sink.
const LOG_FILES_AT_ONCE: NonZero<usize> = NonZero::new(8).expect("not zero");

/// `inner`, with delta-kernel reading [`LOG_FILES_AT_ONCE`] log files at
/// a time.
pub(super) fn bounded(inner: LogStoreRef) -> LogStoreRef {
    Arc::new(BoundedReads { inner })
}

/// delta-kernel's default engine over `store`, its tasks on `executor`,
/// reading [`LOG_FILES_AT_ONCE`] log files at a time.
fn engine<E: TaskExecutor>(store: Arc<dyn ObjectStore>, executor: E) -> Arc<dyn Engine> {
    let builder = DefaultEngineBuilder::new(store).with_task_executor(Arc::new(executor));
    Arc::new(builder.with_buffer_size(LOG_FILES_AT_ONCE).build())
}

#[derive(Debug)]
struct BoundedReads {
    inner: LogStoreRef,
}

#[async_trait]
impl LogStore for BoundedReads {
    fn name(&self) -> String {
        self.inner.name()
    }

    async fn refresh(&self) -> DeltaResult<()> {
        self.inner.refresh().await
    }

    async fn read_commit_entry(&self, version: Version) -> DeltaResult<Option<Bytes>> {
        self.inner.read_commit_entry(version).await
    }

    async fn write_commit_entry(
        &self,
        version: Version,
        commit_or_bytes: CommitOrBytes,
        operation_id: Uuid,
    ) -> Result<(), TransactionError> {
        self.inner
            .write_commit_entry(version, commit_or_bytes, operation_id)
            .await
    }

    async fn abort_commit_entry(
        &self,
        version: Version,
        commit_or_bytes: CommitOrBytes,
        operation_id: Uuid,
    ) -> Result<(), TransactionError> {
        self.inner
            .abort_commit_entry(version, commit_or_bytes, operation_id)
            .await
    }

    async fn get_latest_version(&self, start_version: Version) -> DeltaResult<Version> {
        self.inner.get_latest_version(start_version).await
    }

    fn object_store(&self, operation_id: Option<Uuid>) -> Arc<dyn ObjectStore> {
        self.inner.object_store(operation_id)
    }

    fn root_object_store(&self, operation_id: Option<Uuid>) -> Arc<dyn ObjectStore> {
        self.inner.root_object_store(operation_id)
    }

    /// delta-rs's engine for the runtime at hand (as its own log stores
    /// build it), reading [`LOG_FILES_AT_ONCE`] log files at a time.
    fn engine(&self, operation_id: Option<Uuid>) -> Arc<dyn Engine> {
        let store = self.root_object_store(operation_id);
        let handle = tokio::runtime::Handle::current();
        match handle.runtime_flavor() {
            RuntimeFlavor::CurrentThread => engine(store, TokioBackgroundExecutor::new()),
            _ => engine(store, TokioMultiThreadExecutor::new(handle)),
        }
    }

    fn config(&self) -> &LogStoreConfig {
        self.inner.config()
    }
}
