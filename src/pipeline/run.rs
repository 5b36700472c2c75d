//! One run of a [`Pipeline`]: the loop, and what it does with each event.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;

use tokio::time::Instant;

use super::metrics;
use super::{BadInputPolicy, Pipeline, PipelineEvent, PipelineStats};
use crate::error::{Error, Result};
use crate::record::{Record, SourcePartition};
use crate::rejected::Rejected;
use crate::sink::{RecordSink, SinkStats};
use crate::source::{RecordSource, SourceEvent};

/// A pipeline while it runs, and the clocks that drive its flushes, its
/// stop and its progress events.
pub(super) struct Run<S, K> {
    p: Pipeline<S, K>,
    started: Instant,
    last_record: Instant,
    last_progress: Instant,
    /// Records accepted since the last flush.
    buffered: bool,
    idle_since: Option<Instant>,
    undrained_since: Option<Instant>,
    /// Whether records were flowing in the last round: the wait for the
    /// next batch then counts as flowing time.
    flowing: bool,
    /// What the sink had reported at the last commit (for metrics).
    sink_seen: SinkStats,
}

impl<S: RecordSource, K: RecordSink> Run<S, K> {
    pub(super) fn new(p: Pipeline<S, K>) -> Self {
        let now = Instant::now();
        Self {
            p,
            started: now,
            last_record: now,
            last_progress: now,
            buffered: false,
            idle_since: None,
            undrained_since: None,
            flowing: false,
            sink_seen: SinkStats::default(),
        }
    }

    pub(super) async fn until(
        mut self,
        shutdown: impl Future<Output = ()>,
    ) -> Result<PipelineStats> {
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let flush_at = self
                .buffered
                .then(|| self.last_record + self.p.idle_timeout);
            // Wake when the stop-when-idle check is due, not at the
            // source's next idle tick.
            let check_at = self.p.stop_when_idle.map(|after| self.idle_start() + after);
            let wake_at = flush_at.into_iter().chain(check_at).min();
            let polled = Instant::now();
            let event = tokio::select! {
                biased;
                _ = &mut shutdown => break,
                event = self.p.source.poll(self.p.batch_size) => event?,
                _ = sleep_until_some(wake_at) => SourceEvent::Idle,
            };
            let arrived = Instant::now();
            match event {
                SourceEvent::Records { records, rejected } => {
                    if self.flowing {
                        self.p.stats.flowing += arrived - polled;
                    }
                    self.records(records, rejected).await?;
                    self.p.stats.flowing += arrived.elapsed();
                    self.flowing = true;
                }
                SourceEvent::Idle => {
                    self.flowing = false;
                    if self.idle().await? {
                        break;
                    }
                }
                SourceEvent::Assigned(partitions) => self.assigned(&partitions).await?,
                SourceEvent::Revoked(partitions) => {
                    // Commit what is durable while the partitions are still
                    // ours, then drop the rest; the revoke completes after.
                    self.commit_durable().await?;
                    self.p.sink.discard(&partitions).await?;
                    self.notify(&PipelineEvent::Revoked(&partitions));
                }
                SourceEvent::End => break,
            }
            self.commit_durable().await?;
            self.progress(false);
        }
        self.flush().await?;
        self.p.sink.settle().await?;
        self.commit_durable().await?;
        self.progress(true);
        Ok(self.current())
    }

    /// New partitions: they resume after what the sink already holds, and
    /// observers hear of them.
    async fn assigned(&mut self, partitions: &[SourcePartition]) -> Result<()> {
        let durable = self.p.sink.durable_positions(partitions).await?;
        self.p.source.resume_after(&durable).await?;
        self.notify(&PipelineEvent::Assigned(partitions));
        Ok(())
    }

    async fn records(&mut self, records: Vec<Record>, rejected: Vec<Rejected>) -> Result<()> {
        let n = (records.len() + rejected.len()) as u64;
        self.p.stats.records_in += n;
        metrics::records_in(n);
        if rejected.is_empty() {
            return self.write(records).await;
        }
        // Source-rejected records go through the policy and are passed over
        // in the sink in offset order: after the records before them in
        // their partition, before those after.
        let mut waiting: BTreeMap<SourcePartition, VecDeque<Rejected>> = BTreeMap::new();
        let mut rejected = rejected;
        rejected.sort_by(|a, b| a.position.cmp(&b.position));
        for r in rejected {
            waiting
                .entry(r.position.source_partition())
                .or_default()
                .push_back(r);
        }
        let mut chunk = Vec::with_capacity(records.len());
        for record in records {
            let queue = waiting.get_mut(&record.position.source_partition());
            let due = queue
                .map(|q| take_before(q, record.position.offset))
                .unwrap_or_default();
            if !due.is_empty() {
                self.write(std::mem::take(&mut chunk)).await?;
                self.pass_over(due).await?;
            }
            chunk.push(record);
        }
        self.write(chunk).await?;
        let rest = waiting.into_values().flatten().collect();
        self.pass_over(rest).await
    }

    /// Records to the sink; what it rejects to the policy.
    async fn write(&mut self, records: Vec<Record>) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let rejected = self.p.sink.write(records).await?;
        self.handle_rejected(rejected).await?;
        self.buffered = true;
        self.last_record = Instant::now();
        self.idle_since = None;
        self.undrained_since = None;
        Ok(())
    }

    /// Source-rejected records: through the policy, then done in the sink.
    async fn pass_over(&mut self, rejected: Vec<Rejected>) -> Result<()> {
        let positions: Vec<_> = rejected.iter().map(|r| r.position.clone()).collect();
        self.handle_rejected(rejected).await?;
        for position in &positions {
            self.p.sink.skip(position);
        }
        Ok(())
    }

    /// An idle round: flush after the idle timeout; with
    /// `stop_when_idle`, true once idle long enough and drained.
    async fn idle(&mut self) -> Result<bool> {
        if self.buffered && self.last_record.elapsed() >= self.p.idle_timeout {
            self.flush().await?;
        }
        let Some(after) = self.p.stop_when_idle else {
            return Ok(false);
        };
        if self.idle_start().elapsed() < after {
            return Ok(false);
        }
        if self.drained().await? {
            tracing::info!("source idle for {after:?} and drained: stopping");
            return Ok(true);
        }
        // Ask again after another idle period.
        self.idle_since = Some(Instant::now());
        Ok(false)
    }

    /// Since when the source counts as idle: its last record, or the last
    /// drain check that found it not drained.
    fn idle_start(&self) -> Instant {
        self.idle_since.unwrap_or(self.last_record)
    }

    async fn flush(&mut self) -> Result<()> {
        let rejected = self.p.sink.flush().await?;
        self.handle_rejected(rejected).await?;
        self.buffered = false;
        Ok(())
    }

    /// Flushes and commits, then asks the source whether anything is left:
    /// true when drained; an error once it has not drained for the drain
    /// timeout.
    async fn drained(&mut self) -> Result<bool> {
        if self.buffered {
            self.flush().await?;
        }
        self.p.sink.settle().await?;
        self.commit_durable().await?;
        // A backlog that cannot be read now (a group still joining, a
        // broker that does not answer) is not drained: ask again later.
        let (backlog, list) = match self.p.source.backlog().await {
            Ok(backlog) if backlog.is_empty() => return Ok(true),
            Ok(backlog) => {
                let list = backlog.iter().map(ToString::to_string).collect::<Vec<_>>();
                (backlog, list.join(", "))
            }
            Err(e) => (Vec::new(), format!("unknown: {e}")),
        };
        let since = *self.undrained_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= self.p.drain_timeout {
            return Err(Error::Stalled {
                what: "draining the source".into(),
                reason: format!(
                    "idle, but these partitions did not drain within {:?}: {list}",
                    self.p.drain_timeout
                ),
            });
        }
        tracing::info!("source idle but not drained, waiting: {list}");
        self.notify(&PipelineEvent::Waiting(&backlog));
        Ok(false)
    }

    async fn commit_durable(&mut self) -> Result<()> {
        let sink = self.p.sink.stats();
        metrics::sink_progress(&self.sink_seen, &sink);
        self.sink_seen = sink;
        let durable = self.p.sink.take_durable();
        if durable.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        self.p.source.commit(&durable).await?;
        metrics::committed(started.elapsed());
        self.p.stats.commits += 1;
        for position in &durable {
            tracing::debug!("committed {position}");
        }
        self.notify(&PipelineEvent::Committed(&durable));
        Ok(())
    }

    async fn handle_rejected(&mut self, rejected: Vec<Rejected>) -> Result<()> {
        for r in rejected {
            self.p.stats.rejected += 1;
            metrics::rejected();
            let dead_lettered = match &self.p.bad_input {
                BadInputPolicy::Fail => return Err(r.into_error()),
                BadInputPolicy::Skip => {
                    tracing::warn!("skipped bad record at {}: {}", r.position, r.reason);
                    false
                }
                BadInputPolicy::DeadLetter(queue) => {
                    queue.put(&r).await?;
                    self.p.stats.dead_lettered += 1;
                    metrics::dead_lettered();
                    tracing::warn!("dead-lettered bad record at {}: {}", r.position, r.reason);
                    true
                }
            };
            self.notify(&PipelineEvent::Rejected {
                record: &r,
                dead_lettered,
            });
        }
        Ok(())
    }

    /// A progress event when one is due (or `last`).
    fn progress(&mut self, last: bool) {
        if self.p.observer.is_none()
            || !(last || self.last_progress.elapsed() >= self.p.progress_every)
        {
            return;
        }
        self.last_progress = Instant::now();
        let stats = self.current();
        self.notify(&PipelineEvent::Progress(&stats));
    }

    fn notify(&mut self, event: &PipelineEvent<'_>) {
        if let Some(observer) = self.p.observer.as_mut() {
            observer.on_event(event);
        }
    }

    fn current(&self) -> PipelineStats {
        let mut stats = self.p.stats.with_sink(self.p.sink.stats());
        stats.elapsed = self.started.elapsed();
        stats
    }
}

/// The rejected records of a partition before `offset`, in order.
fn take_before(queue: &mut VecDeque<Rejected>, offset: i64) -> Vec<Rejected> {
    let mut due = Vec::new();
    while queue.front().is_some_and(|r| r.position.offset < offset) {
        due.extend(queue.pop_front());
    }
    due
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
