//! [`RecordSource`]: where records come from, and where durable positions
//! are committed back to.

mod csv_cell;
mod csv_file;
mod generator;
mod memory;

use async_trait::async_trait;

pub use self::csv_file::{CsvSource, CsvSourceBuilder};
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
    /// These partitions were taken away (consumer-group rebalance). Records
    /// of theirs that are not durable yet must be flushed or dropped, and
    /// must not be committed by this consumer.
    Revoked(Vec<SourcePartition>),
    /// The source is exhausted (finite sources only).
    End,
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
}

#[async_trait]
impl<S: RecordSource + ?Sized> RecordSource for Box<S> {
    async fn poll(&mut self, max_records: usize) -> Result<SourceEvent> {
        (**self).poll(max_records).await
    }

    async fn commit(&mut self, durable: &[Position]) -> Result<()> {
        (**self).commit(durable).await
    }
}
