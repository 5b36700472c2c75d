//! What a running pipeline tells the program that runs it.
//!
//! The library never prints. A [`PipelineObserver`] chosen by the caller
//! receives [`PipelineEvent`]s (progress, commits, rebalances, bad records)
//! and shows or counts them; the same happenings are `tracing` events and
//! `metrics` counters.

use crate::pipeline::PipelineStats;
use crate::record::{Position, SourcePartition};
use crate::rejected::Rejected;
use crate::source::Backlog;

/// Something that happened in a running [`Pipeline`](crate::Pipeline).
#[derive(Debug)]
#[non_exhaustive]
pub enum PipelineEvent<'a> {
    /// Totals so far, every [`progress_every`](crate::Pipeline::progress_every)
    /// and once more when the run ends.
    Progress(&'a PipelineStats),
    /// Positions committed to the source: per partition, the last durable
    /// record.
    Committed(&'a [Position]),
    /// The source was given these partitions (consumer-group rebalance).
    Assigned(&'a [SourcePartition]),
    /// These partitions were taken away; records of theirs that were not
    /// durable were dropped, and will be read by their new owner.
    Revoked(&'a [SourcePartition]),
    /// A bad record went through the bad-input policy and the run goes on.
    Rejected {
        /// The record, its position and why.
        record: &'a Rejected,
        /// Whether it was written to the dead-letter queue (else skipped).
        dead_lettered: bool,
    },
    /// The source is idle but not drained: these partitions still lag (see
    /// [`stop_when_idle`](crate::Pipeline::stop_when_idle)).
    Waiting(&'a [Backlog]),
}

/// Receives a pipeline's events (see [`Pipeline::observe`](crate::Pipeline::observe)).
///
/// Any `FnMut(&PipelineEvent)` closure is an observer:
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use streamlake::{Lake, LakeSink, Pipeline, PipelineEvent, StockTicks};
///
/// let sink = LakeSink::builder(Lake::memory()).table("stock").build().unwrap();
/// let commits = Arc::new(AtomicU64::new(0));
/// let seen = commits.clone();
/// Pipeline::new(StockTicks::new(1).count(100), sink)
///     .observe(move |event: &PipelineEvent<'_>| {
///         if let PipelineEvent::Committed(_) = event {
///             seen.fetch_add(1, Ordering::Relaxed);
///         }
///     })
///     .run()
///     .await
///     .unwrap();
/// assert!(commits.load(Ordering::Relaxed) >= 1);
/// # });
/// ```
pub trait PipelineObserver: Send {
    /// Called for every event, on the pipeline's task: keep it quick.
    fn on_event(&mut self, event: &PipelineEvent<'_>);
}

impl<F: FnMut(&PipelineEvent<'_>) + Send> PipelineObserver for F {
    fn on_event(&mut self, event: &PipelineEvent<'_>) {
        self(event);
    }
}
