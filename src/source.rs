//! [`RecordSource`]: where records come from, and where durable positions
//! are committed back to.

mod csv_builder;
mod csv_cell;
mod csv_checkpoint;
mod csv_file;
mod csv_reader;
mod generator;
mod memory;

use async_trait::async_trait;

pub use self::csv_builder::CsvSourceBuilder;
pub use self::csv_file::CsvSource;
pub use self::generator::StockTicks;
pub use self::memory::MemorySource;
use crate::error::Result;
use crate::record::{Position, Record, SourcePartition};
use crate::rejected::Rejected;

/// What one [`RecordSource::poll`] produced.
#[derive(Debug)]
#[non_exhaustive]
pub enum SourceEvent {
    /// Records in offset order within each partition, and the records in the
    /// same range that could not be decoded.
    Records {
        /// Decoded records.
        records: Vec<Record>,
        /// Records that could not be decoded, for the bad-input policy.
        rejected: Vec<Rejected>,
    },
    /// Nothing arrived within the source's poll interval; try again.
    Idle,
    /// These partitions were given to this source (consumer-group
    /// rebalance); their records follow.
    Assigned(Vec<SourcePartition>),
    /// These partitions were taken away (consumer-group rebalance). Records
    /// of theirs that are not durable yet must be flushed or dropped, and
    /// must not be committed by this consumer.
    Revoked(Vec<SourcePartition>),
    /// The source is exhausted (finite sources only).
    End,
}

/// A partition holding records that are not committed yet: what stands
/// between a source and "drained".
///
/// ```
/// use streamlake::{Backlog, SourcePartition};
/// let b = Backlog { partition: SourcePartition::new("stock", 1), committed: Some(8_000), end: 25_001 };
/// assert_eq!(b.to_string(), "stock/1 committed to 8000 of 25001");
/// assert_eq!(b.records(), 17_001);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backlog {
    /// The partition.
    pub partition: SourcePartition,
    /// The next offset to read after the last commit (Kafka's committed
    /// offset), or `None` when nothing was ever committed.
    pub committed: Option<i64>,
    /// Where the partition ends now (Kafka: the high watermark; the last
    /// stable offset under `isolation.level=read_committed`).
    pub end: i64,
}

impl Backlog {
    /// Offsets between the commit and the end (an upper bound on records:
    /// transaction markers and compacted records take offsets too).
    pub fn records(&self) -> i64 {
        self.end - self.committed.unwrap_or(0)
    }
}

impl std::fmt::Display for Backlog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.committed {
            Some(c) => write!(f, "{} committed to {c} of {}", self.partition, self.end),
            None => write!(
                f,
                "{} with nothing committed of {}",
                self.partition, self.end
            ),
        }
    }
}

/// A source of records that is told which positions are durable.
///
/// The contract (Kafka Connect's): the pipeline calls [`commit`] only with
/// positions whose records, and every record before them in the same
/// partition, are durable in the sink. A source must not commit anything
/// else, and on restart resumes after the last committed position.
///
/// [`commit`]: RecordSource::commit
#[async_trait]
pub trait RecordSource: Send {
    /// Waits for the next records (at most `max_records`), an idle interval,
    /// a rebalance, or the end of the source.
    async fn poll(&mut self, max_records: usize) -> Result<SourceEvent>;

    /// Records that everything up to and including each position (one per
    /// partition) is durable. Persists or commits it.
    async fn commit(&mut self, durable: &[Position]) -> Result<()>;

    /// The partitions whose records are not all committed yet, whoever
    /// reads them (for a consumer group: every partition of its topics,
    /// not only this member's). Empty means drained: a pipeline told to
    /// [stop when idle](crate::Pipeline::stop_when_idle) stops only then.
    ///
    /// The default, for sources that know no more than "nothing arrived",
    /// is empty: an idle source counts as drained.
    async fn backlog(&mut self) -> Result<Vec<Backlog>> {
        Ok(Vec::new())
    }

    /// The sink already holds these positions durably (from
    /// [`RecordSink::durable_positions`](crate::RecordSink::durable_positions):
    /// a table commit whose source commit a crash prevented). Resume each
    /// partition after its position where that is ahead of the source's own
    /// committed position, and commit it. The pipeline calls this right
    /// after [`SourceEvent::Assigned`], before the partitions' records are
    /// read, with the positions of the partitions just assigned (possibly
    /// none). The default does nothing: the sink then passes over the
    /// records it holds as they arrive again.
    async fn resume_after(&mut self, durable: &[Position]) -> Result<()> {
        let _ = durable;
        Ok(())
    }
}

#[async_trait]
impl<S: RecordSource + ?Sized> RecordSource for Box<S> {
    async fn poll(&mut self, max_records: usize) -> Result<SourceEvent> {
        (**self).poll(max_records).await
    }

    async fn commit(&mut self, durable: &[Position]) -> Result<()> {
        (**self).commit(durable).await
    }

    async fn backlog(&mut self) -> Result<Vec<Backlog>> {
        (**self).backlog().await
    }

    async fn resume_after(&mut self, durable: &[Position]) -> Result<()> {
        (**self).resume_after(durable).await
    }
}
