//! The runner: pull from a source, write to a sink, commit what is durable.

mod bad_input;
mod stats;

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

pub use self::bad_input::{BadInputChoice, BadInputPolicy, DeadLetterQueue, LakeDeadLetters};
pub use self::stats::PipelineStats;
use crate::error::{Error, Result};
use crate::rejected::Rejected;
use crate::sink::RecordSink;
use crate::source::{RecordSource, SourceEvent};

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
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use streamlake::{Lake, LakeSink, Pipeline, StockTicks};
/// let lake = Lake::memory();
/// let sink = LakeSink::builder(lake.clone()).table("stock").partition_by("index={Index}").build().unwrap();
/// let stats = Pipeline::new(StockTicks::new(1).count(1000), sink).quiet().run().await.unwrap();
/// assert_eq!((stats.records_in, stats.records_out), (1000, 1000));
/// assert_eq!(stats.objects, 12); // one object per index
/// # });
/// ```
#[derive(Debug)]
pub struct Pipeline<S, K> {
    source: S,
    sink: K,
    batch_size: usize,
    idle_timeout: Duration,
    bad_input: BadInputPolicy,
    progress_every: Option<Duration>,
    stop_when_idle: Option<Duration>,
    drain_timeout: Duration,
    stats: PipelineStats,
}

impl<S: RecordSource, K: RecordSink> Pipeline<S, K> {
    /// A pipeline with defaults: batches of 1024, 5 s idle timeout, `fail`
    /// on bad input, progress on stderr every 5 s.
    pub fn new(source: S, sink: K) -> Self {
        Self {
            source,
            sink,
            batch_size: 1024,
            idle_timeout: Duration::from_secs(5),
            bad_input: BadInputPolicy::Fail,
            progress_every: Some(Duration::from_secs(5)),
            stop_when_idle: None,
            drain_timeout: Duration::from_secs(300),
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

    /// Print a progress line (records/s, totals) on stderr this often;
    /// `None` for never.
    pub fn progress_every(mut self, every: Option<Duration>) -> Self {
        self.progress_every = every;
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

    /// No progress lines.
    pub fn quiet(self) -> Self {
        self.progress_every(None)
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
    pub async fn run_until(mut self, shutdown: impl Future<Output = ()>) -> Result<PipelineStats> {
        let started = Instant::now();
        let mut shutdown = std::pin::pin!(shutdown);
        let mut last_record = Instant::now();
        let mut last_progress = Instant::now();
        let mut buffered = false;
        let mut idle_since: Option<Instant> = None;
        let mut undrained_since: Option<Instant> = None;
        loop {
            let flush_at = buffered.then(|| last_record + self.idle_timeout);
            let event = tokio::select! {
                biased;
                _ = &mut shutdown => break,
                event = self.source.poll(self.batch_size) => event?,
                _ = sleep_until_some(flush_at) => SourceEvent::Idle,
            };
            match event {
                SourceEvent::Records { records, rejected } => {
                    self.stats.records_in += (records.len() + rejected.len()) as u64;
                    self.handle_rejected(rejected).await?;
                    if !records.is_empty() {
                        let rejected = self.sink.write(records).await?;
                        self.handle_rejected(rejected).await?;
                        buffered = true;
                        last_record = Instant::now();
                        idle_since = None;
                        undrained_since = None;
                    }
                }
                SourceEvent::Idle => {
                    if buffered && last_record.elapsed() >= self.idle_timeout {
                        let rejected = self.sink.flush().await?;
                        self.handle_rejected(rejected).await?;
                        buffered = false;
                    }
                    if let Some(after) = self.stop_when_idle {
                        if idle_since.get_or_insert_with(Instant::now).elapsed() >= after {
                            if self.drained(&mut buffered, &mut undrained_since).await? {
                                tracing::info!("source idle for {after:?} and drained: stopping");
                                break;
                            }
                            // Ask again after another idle period.
                            idle_since = Some(Instant::now());
                        }
                    }
                }
                SourceEvent::Revoked(partitions) => {
                    // Commit what is durable while the partitions are still
                    // ours, then drop the rest; the revoke completes after.
                    self.commit_durable().await?;
                    self.sink.discard(&partitions).await?;
                }
                SourceEvent::End => break,
            }
            self.commit_durable().await?;
            if let Some(every) = self.progress_every {
                if last_progress.elapsed() >= every {
                    last_progress = Instant::now();
                    let stats = self.current(started);
                    eprintln!("streamlake: {stats}");
                }
            }
        }
        let rejected = self.sink.flush().await?;
        self.handle_rejected(rejected).await?;
        self.commit_durable().await?;
        Ok(self.current(started))
    }

    fn current(&self, started: Instant) -> PipelineStats {
        let mut stats = self.stats.with_sink(self.sink.stats());
        stats.elapsed = started.elapsed();
        stats
    }

    /// Flushes and commits, then asks the source whether anything is left:
    /// true when drained; an error once it has not drained for the drain
    /// timeout.
    async fn drained(
        &mut self,
        buffered: &mut bool,
        undrained_since: &mut Option<Instant>,
    ) -> Result<bool> {
        if *buffered {
            let rejected = self.sink.flush().await?;
            self.handle_rejected(rejected).await?;
            *buffered = false;
        }
        self.commit_durable().await?;
        let backlog = self.source.backlog().await?;
        if backlog.is_empty() {
            return Ok(true);
        }
        let list = backlog
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let since = *undrained_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= self.drain_timeout {
            return Err(Error::Stalled {
                what: "draining the source".into(),
                reason: format!(
                    "idle, but these partitions did not drain within {:?}: {list}",
                    self.drain_timeout
                ),
            });
        }
        tracing::info!("source idle but not drained, waiting: {list}");
        Ok(false)
    }

    async fn commit_durable(&mut self) -> Result<()> {
        let durable = self.sink.take_durable();
        if durable.is_empty() {
            return Ok(());
        }
        self.source.commit(&durable).await?;
        self.stats.commits += 1;
        for position in &durable {
            tracing::debug!("committed {position}");
        }
        Ok(())
    }

    async fn handle_rejected(&mut self, rejected: Vec<Rejected>) -> Result<()> {
        for r in rejected {
            self.stats.rejected += 1;
            match &self.bad_input {
                BadInputPolicy::Fail => return Err(r.into_error()),
                BadInputPolicy::Skip => {
                    tracing::warn!("skipped bad record at {}: {}", r.position, r.reason);
                }
                BadInputPolicy::DeadLetter(queue) => {
                    queue.put(&r).await?;
                    self.stats.dead_lettered += 1;
                    tracing::warn!("dead-lettered bad record at {}: {}", r.position, r.reason);
                }
            }
        }
        Ok(())
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
