//! [`RecordSink`]: where records go, and which of them are durable.

mod memory;

use std::collections::BTreeMap;

use async_trait::async_trait;

pub use self::memory::MemorySink;
use crate::error::Result;
use crate::record::{Position, Record, SourcePartition};
use crate::rejected::Rejected;

/// The latest durable offset of each source partition, not yet reported:
/// the bookkeeping behind [`RecordSink::take_durable`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DurablePositions(BTreeMap<SourcePartition, i64>);

impl DurablePositions {
    /// Records that everything up to `offset` in `partition` is durable.
    pub fn advance(&mut self, partition: SourcePartition, offset: i64) {
        let entry = self.0.entry(partition).or_insert(offset);
        *entry = (*entry).max(offset);
    }

    /// The positions recorded since the last call, one per partition.
    pub fn take(&mut self) -> Vec<Position> {
        std::mem::take(&mut self.0)
            .into_iter()
            .map(|(sp, offset)| sp.at(offset))
            .collect()
    }

    /// Forgets the given partitions (revoked: never reported).
    pub fn forget(&mut self, partitions: &[SourcePartition]) {
        self.0.retain(|sp, _| !partitions.contains(sp));
    }
}

/// Counters a sink keeps about what it made durable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// Records made durable.
    pub records: u64,
    /// Objects (or messages) written.
    pub objects: u64,
    /// Bytes written, after compression.
    pub bytes: u64,
    /// Bytes held in buffers now, not yet written.
    pub buffered_bytes: usize,
    /// The most bytes the buffers have held at once: what a cap on
    /// buffered memory (such as the lake sink's `max_buffered_bytes`)
    /// limits, so a run whose peak stays well under its cap never needed it.
    pub peak_buffered_bytes: usize,
}

/// A destination that accepts records, makes them durable, and reports
/// which source positions are durable now (Kafka Connect's `SinkTask`
/// contract).
///
/// The pipeline commits exactly the positions [`take_durable`] returns, so a
/// sink must report a position only when that record and every record
/// before it in the same source partition is durable (or was rejected and
/// handed back).
///
/// [`take_durable`]: RecordSink::take_durable
#[async_trait]
pub trait RecordSink: Send {
    /// Accepts records (in offset order per partition). The sink may buffer
    /// them and may make earlier records durable. Records it cannot accept
    /// (not a JSON object, missing partition field, cannot be encoded) are
    /// handed back for the bad-input policy.
    async fn write(&mut self, records: Vec<Record>) -> Result<Vec<Rejected>>;

    /// Makes every accepted record durable, or as many as can be made
    /// durable without breaking deterministic object boundaries.
    async fn flush(&mut self) -> Result<Vec<Rejected>>;

    /// Waits until what [`flush`](RecordSink::flush) wrote is durable
    /// and reportable by [`take_durable`](RecordSink::take_durable): a sink
    /// whose durability waits on something else (a catalog registering
    /// partitions) returns once that is done or has timed out. The default
    /// returns at once.
    async fn settle(&mut self) -> Result<()> {
        Ok(())
    }

    /// The positions that became durable since the last call: per source
    /// partition, the last record durable.
    fn take_durable(&mut self) -> Vec<Position>;

    /// Drops the buffered records of partitions this consumer lost. They are
    /// never reported durable by this sink.
    async fn discard(&mut self, partitions: &[SourcePartition]) -> Result<()>;

    /// The record at `position` was rejected before it reached the sink
    /// (the source could not decode it) and the bad-input policy took it:
    /// count its offset as done, in order with the records around it, so
    /// the source's commits move past it. Called in offset order within a
    /// partition, after the records before it were written. The default
    /// does nothing: the position is then committed only with a later
    /// record of its partition.
    fn skip(&mut self, position: &Position) {
        let _ = position;
    }

    /// How far earlier runs made `partitions` durable here, when the sink
    /// itself records it (a table whose log holds source positions): the
    /// last durable offset of each partition it knows. The pipeline asks on
    /// every assignment and hands the answer to
    /// [`RecordSource::resume_after`](crate::RecordSource::resume_after),
    /// so that records made durable by a run that crashed before its
    /// source commit are not read again. The default knows nothing: the
    /// source resumes from its own commits.
    async fn durable_positions(&mut self, partitions: &[SourcePartition]) -> Result<Vec<Position>> {
        let _ = partitions;
        Ok(Vec::new())
    }

    /// What the sink has made durable so far.
    fn stats(&self) -> SinkStats;
}

#[async_trait]
impl<S: RecordSink + ?Sized> RecordSink for Box<S> {
    async fn write(&mut self, records: Vec<Record>) -> Result<Vec<Rejected>> {
        (**self).write(records).await
    }

    async fn flush(&mut self) -> Result<Vec<Rejected>> {
        (**self).flush().await
    }

    fn take_durable(&mut self) -> Vec<Position> {
        (**self).take_durable()
    }

    async fn settle(&mut self) -> Result<()> {
        (**self).settle().await
    }

    async fn discard(&mut self, partitions: &[SourcePartition]) -> Result<()> {
        (**self).discard(partitions).await
    }

    fn skip(&mut self, position: &Position) {
        (**self).skip(position);
    }

    async fn durable_positions(&mut self, partitions: &[SourcePartition]) -> Result<Vec<Position>> {
        (**self).durable_positions(partitions).await
    }

    fn stats(&self) -> SinkStats {
        (**self).stats()
    }
}
