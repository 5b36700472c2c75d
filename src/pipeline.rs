//! The runner: pull from a source, write to a sink, commit what is durable.

mod bad_input;
mod metrics;
mod observer;
mod run;
mod stats;

use std::fmt;
use std::future::Future;
use std::time::Duration;

#[allow(deprecated)]
pub use self::bad_input::BadInputChoice;
pub(crate) use self::bad_input::unknown_policy;
pub use self::bad_input::{BadInputPolicy, DeadLetterQueue};
pub use self::metrics::names as metric_names;
pub use self::observer::{PipelineEvent, PipelineObserver};
pub use self::stats::PipelineStats;
#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::sink::RecordSink;
use crate::source::RecordSource;

/// Moves records from a [`RecordSource`] to a [`RecordSink`] and commits
/// exactly the positions the sink reports durable.
///
/// - **Flushes** happen on rotation (inside the sink), after
///   `idle_timeout` without records, at the end of the source and on
///   shutdown (Ctrl-C with [`run`](Pipeline::run)), each followed by a
///   commit. Clock-driven flushes keep object keys deterministic: the lake
///   sink records each group boundary and a replay adopts it.
/// - **Backpressure**: the runner pulls the next batch only after the sink
///   accepted the previous one, and the sink writes objects early instead
///   of growing past its memory cap.
/// - **Bad input** goes to the [`BadInputPolicy`].
/// - **It never prints.** Progress, commits, rebalances and bad records go
///   to the [observer](Pipeline::observe) the caller chooses (none by
///   default), to `tracing`, and to `metrics` counters
///   ([`metric_names`]).
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use streamlake::{Lake, LakeSink, Pipeline, StockTicks};
/// let lake = Lake::memory();
/// let sink = LakeSink::builder(lake.clone()).table("stock").partition_by("index={Index}").build().unwrap();
/// let stats = Pipeline::new(StockTicks::new(1).count(1000), sink).run().await.unwrap();
/// assert_eq!((stats.records_in, stats.records_out), (1000, 1000));
/// assert_eq!(stats.objects, 12); // one object per index
/// # });
/// ```
pub struct Pipeline<S, K> {
    source: S,
    sink: K,
    batch_size: usize,
    idle_timeout: Duration,
    bad_input: BadInputPolicy,
    progress_every: Duration,
    stop_when_idle: Option<Duration>,
    drain_timeout: Duration,
    observer: Option<Box<dyn PipelineObserver>>,
    stats: PipelineStats,
}

impl<S: RecordSource, K: RecordSink> Pipeline<S, K> {
    /// A pipeline with defaults: batches of 1024, 5 s idle timeout, `fail`
    /// on bad input, no observer.
    pub fn new(source: S, sink: K) -> Self {
        Self {
            source,
            sink,
            batch_size: 1024,
            idle_timeout: Duration::from_secs(5),
            bad_input: BadInputPolicy::Fail,
            progress_every: Duration::from_secs(2),
            stop_when_idle: None,
            drain_timeout: Duration::from_secs(300),
            observer: None,
            stats: PipelineStats::default(),
        }
    }

    /// Most records pulled from the source at once.
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// Flush (and commit) after this long without a record.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// What to do with records that cannot be decoded or encoded.
    pub fn on_bad_input(mut self, policy: BadInputPolicy) -> Self {
        self.bad_input = policy;
        self
    }

    /// Who hears about progress, commits, rebalances and bad records
    /// ([`PipelineEvent`]). A closure will do.
    pub fn observe(mut self, observer: impl PipelineObserver + 'static) -> Self {
        self.observer = Some(Box::new(observer));
        self
    }

    /// How often the observer gets [`PipelineEvent::Progress`] (default 2
    /// s); `None` for only once, at the end.
    pub fn progress_every(mut self, every: Option<Duration>) -> Self {
        self.progress_every = every.unwrap_or(Duration::MAX);
        self
    }

    /// Stop (flush, commit, return) once the source has been idle for this
    /// long *and is drained*: for draining a topic in a batch job.
    ///
    /// Idle is not enough: a consumer-group member can sit idle while
    /// partitions it does not own still hold records (their owner died and
    /// its session has not expired yet, or is still joining). So after each
    /// idle period the pipeline flushes, commits, and asks the source for
    /// its [backlog](RecordSource::backlog): it stops when there is none,
    /// keeps going while there is, and fails with [`Error::Stalled`]
    /// naming the lagging partitions once the backlog has not drained for
    /// the [`drain_timeout`](Self::drain_timeout).
    pub fn stop_when_idle(mut self, after: Duration) -> Self {
        self.stop_when_idle = Some(after);
        self
    }

    /// How long an idle pipeline told to [stop when
    /// idle](Self::stop_when_idle) waits for a backlog it is not reading to
    /// drain before it fails (default 5 minutes).
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// Formerly: no progress lines on stderr. The pipeline never prints
    /// now; progress goes to the [observer](Self::observe).
    #[deprecated(note = "the pipeline never prints; progress goes to `observe`")]
    pub fn quiet(self) -> Self {
        self
    }

    /// Runs until the source ends or Ctrl-C, then flushes and commits.
    pub async fn run(self) -> Result<PipelineStats> {
        self.run_until(async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
            tracing::info!("interrupted: flushing and committing");
        })
        .await
    }

    /// Runs until the source ends or `shutdown` completes, then flushes and
    /// commits what is durable.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> Result<PipelineStats> {
        run::Run::new(self).until(shutdown).await
    }
}

impl<S: fmt::Debug, K: fmt::Debug> fmt::Debug for Pipeline<S, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("source", &self.source)
            .field("sink", &self.sink)
            .field("batch_size", &self.batch_size)
            .field("idle_timeout", &self.idle_timeout)
            .field("bad_input", &self.bad_input)
            .field("stop_when_idle", &self.stop_when_idle)
            .field("observed", &self.observer.is_some())
            .finish_non_exhaustive()
    }
}
