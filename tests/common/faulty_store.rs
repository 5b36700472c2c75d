//! A fault-injecting wrapper around a real object store: it fails a chosen
//! fraction of requests (as a transient outage would), delays requests,
//! ignores `PutMode::Create` (a store that overwrites), or answers it with
//! `NotImplemented`. Everything else is the wrapped store's.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use streamlake::object_store::path::Path;
use streamlake::object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMode, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};

use super::Rng;

/// What the wrapper does.
#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    /// Fails this many in a thousand data requests (puts and gets) with a
    /// generic (retryable) error.
    pub fail_per_mille: u64,
    /// Sleeps this long before each request.
    pub delay: Duration,
    /// Treats `PutMode::Create` as a plain put (overwrites).
    pub ignore_create: bool,
    /// Answers `PutMode::Create` with `NotImplemented`.
    pub refuse_create: bool,
}

pub struct FaultyStore {
    inner: Arc<dyn ObjectStore>,
    faults: Faults,
    rng: Mutex<Rng>,
    /// Requests failed on purpose.
    pub failed: AtomicU64,
    /// Reads of Delta log entries (`_delta_log/*.json`).
    pub delta_log_reads: AtomicU64,
    /// Reads of Delta log entries under way now, and the most at once.
    log_reads_now: AtomicU64,
    pub most_log_reads_at_once: AtomicU64,
    /// Listings of a whole `_delta_log` (from its first entry, not from
    /// an offset).
    pub delta_log_lists: AtomicU64,
    /// Puts started so far, and how many may go through before the rest
    /// wait for `release_puts`.
    puts: AtomicU64,
    hold_after: AtomicU64,
    /// Whether puts of Delta log entries wait for `release_puts`.
    hold_log_entries: std::sync::atomic::AtomicBool,
    /// Whether puts of Delta checkpoints fail.
    fail_checkpoints: std::sync::atomic::AtomicBool,
    /// Puts that have returned well.
    puts_done: tokio::sync::watch::Sender<u64>,
    released: tokio::sync::watch::Sender<bool>,
    waiting: tokio::sync::watch::Sender<u64>,
}

impl FaultyStore {
    pub fn new(inner: Arc<dyn ObjectStore>, faults: Faults, seed: u64) -> Self {
        Self {
            inner,
            faults,
            rng: Mutex::new(Rng(seed | 1)),
            failed: AtomicU64::new(0),
            delta_log_reads: AtomicU64::new(0),
            log_reads_now: AtomicU64::new(0),
            most_log_reads_at_once: AtomicU64::new(0),
            delta_log_lists: AtomicU64::new(0),
            puts: AtomicU64::new(0),
            hold_after: AtomicU64::new(u64::MAX),
            hold_log_entries: Default::default(),
            fail_checkpoints: Default::default(),
            puts_done: tokio::sync::watch::Sender::new(0),
            released: tokio::sync::watch::Sender::new(false),
            waiting: tokio::sync::watch::Sender::new(0),
        }
    }

    /// From now on, puts after the next `n` wait until
    /// [`release_puts`](Self::release_puts): an upload stuck mid-way.
    pub fn hold_puts_after(&self, n: u64) {
        let started = self.puts.load(Ordering::SeqCst);
        self.hold_after.store(started + n, Ordering::SeqCst);
    }

    /// From now on, puts of Delta log entries (`_delta_log/*.json`: the
    /// commits) wait until [`release_puts`](Self::release_puts).
    pub fn hold_log_entries(&self) {
        self.hold_log_entries.store(true, Ordering::SeqCst);
    }

    /// From now on, puts of Delta checkpoints (`*.checkpoint.parquet`)
    /// fail with a generic error.
    pub fn fail_checkpoint_writes(&self) {
        self.fail_checkpoints.store(true, Ordering::SeqCst);
    }

    /// Puts that have returned well so far.
    pub fn puts_done(&self) -> u64 {
        *self.puts_done.borrow()
    }

    /// Returns once at least `n` puts have returned well, or panics after
    /// a minute.
    pub async fn until_puts_done(&self, n: u64) {
        until_count(&self.puts_done, n, "puts did not return").await;
    }

    /// Lets every held put (and every later one) through.
    pub fn release_puts(&self) {
        self.released.send_replace(true);
    }

    /// Returns once at least `n` puts are held, or panics after a minute.
    pub async fn until_puts_held(&self, n: u64) {
        until_count(&self.waiting, n, "puts were not held").await;
    }

    /// Holds the put if `hold_puts_after` or `hold_log_entries` says so.
    async fn gate(&self, location: &Path) {
        let number = self.puts.fetch_add(1, Ordering::SeqCst);
        let key = location.as_ref();
        let log_entry = key.contains("_delta_log/") && key.ends_with(".json");
        let hold_log = log_entry && self.hold_log_entries.load(Ordering::SeqCst);
        if number < self.hold_after.load(Ordering::SeqCst) && !hold_log {
            return;
        }
        let mut released = self.released.subscribe();
        self.waiting.send_modify(|w| *w += 1);
        let _ = released.wait_for(|open| *open).await;
        self.waiting.send_modify(|w| *w -= 1);
    }

    async fn before(&self, what: &str, location: &Path) -> Result<()> {
        let key = location.as_ref();
        if what == "get" && key.contains("_delta_log/") && key.ends_with(".json") {
            self.delta_log_reads.fetch_add(1, Ordering::Relaxed);
        }
        if !self.faults.delay.is_zero() {
            tokio::time::sleep(self.faults.delay).await;
        }
        let roll = self.rng.lock().unwrap().below(1000);
        if roll < self.faults.fail_per_mille {
            self.failed.fetch_add(1, Ordering::Relaxed);
            return Err(streamlake::object_store::Error::Generic {
                store: "faulty",
                source: format!("injected failure of {what} {location}").into(),
            });
        }
        Ok(())
    }
}

/// Returns once `count` reaches `n`, or panics after a minute saying
/// "`n` `what` within a minute".
async fn until_count(count: &tokio::sync::watch::Sender<u64>, n: u64, what: &str) {
    let mut seen = count.subscribe();
    tokio::time::timeout(Duration::from_secs(60), seen.wait_for(|c| *c >= n))
        .await
        .unwrap_or_else(|_| panic!("{n} {what} within a minute"))
        .unwrap();
}

impl fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultyStore({})", self.inner)
    }
}

impl fmt::Debug for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultyStore({:?}, {:?})", self.inner, self.faults)
    }
}

#[async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        mut opts: PutOptions,
    ) -> Result<PutResult> {
        self.before("put", location).await?;
        let checkpoint = location.as_ref().ends_with(".checkpoint.parquet");
        if checkpoint && self.fail_checkpoints.load(Ordering::SeqCst) {
            self.failed.fetch_add(1, Ordering::Relaxed);
            return Err(streamlake::object_store::Error::Generic {
                store: "faulty",
                source: format!("injected failure of checkpoint {location}").into(),
            });
        }
        self.gate(location).await;
        if matches!(opts.mode, PutMode::Create) {
            if self.faults.refuse_create {
                return Err(streamlake::object_store::Error::NotImplemented {
                    operation: "PutMode::Create".into(),
                    implementer: "FaultyStore".into(),
                });
            }
            if self.faults.ignore_create {
                opts.mode = PutMode::Overwrite;
            }
        }
        let put = self.inner.put_opts(location, payload, opts).await?;
        self.puts_done.send_modify(|d| *d += 1);
        Ok(put)
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.before("multipart upload", location).await?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let key = location.as_ref();
        let log_entry = key.contains("_delta_log/") && key.ends_with(".json");
        if log_entry {
            let now = self.log_reads_now.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_log_reads_at_once.fetch_max(now, Ordering::SeqCst);
        }
        let got = match self.before("get", location).await {
            Ok(()) => self.inner.get_opts(location, options).await,
            Err(e) => Err(e),
        };
        if log_entry {
            self.log_reads_now.fetch_sub(1, Ordering::SeqCst);
        }
        got
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.before("get", location).await?;
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        if prefix.is_some_and(|p| p.as_ref().ends_with("_delta_log")) {
            self.delta_log_lists.fetch_add(1, Ordering::Relaxed);
        }
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}
