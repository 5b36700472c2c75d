//! In-memory sink for tests and documentation.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{DurablePositions, RecordSink, SinkStats};
use crate::error::Result;
use crate::record::{Position, Record, SourcePartition};
use crate::rejected::Rejected;

/// Keeps every record it is given; a record is durable once written.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use streamlake::{MemorySink, Position, Record, RecordSink};
/// let mut sink = MemorySink::new();
/// sink.write(vec![Record::new(Position::new("s", 0, 4), "{}")]).await.unwrap();
/// assert_eq!(sink.take_durable(), vec![Position::new("s", 0, 4)]);
/// assert_eq!(sink.records().lock().unwrap().len(), 1);
/// # });
/// ```
#[derive(Debug, Default)]
pub struct MemorySink {
    records: Arc<Mutex<Vec<Record>>>,
    durable: DurablePositions,
    stats: SinkStats,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything written so far, shared.
    pub fn records(&self) -> Arc<Mutex<Vec<Record>>> {
        self.records.clone()
    }
}

#[async_trait]
impl RecordSink for MemorySink {
    async fn write(&mut self, records: Vec<Record>) -> Result<Vec<Rejected>> {
        for r in &records {
            self.durable
                .advance(r.position.source_partition(), r.position.offset);
            self.stats.bytes += r.value.len() as u64;
        }
        self.stats.records += records.len() as u64;
        self.stats.objects += records.len() as u64;
        self.records
            .lock()
            .expect("record log poisoned")
            .extend(records);
        Ok(Vec::new())
    }

    async fn flush(&mut self) -> Result<Vec<Rejected>> {
        Ok(Vec::new())
    }

    fn take_durable(&mut self) -> Vec<Position> {
        self.durable.take()
    }

    async fn discard(&mut self, partitions: &[SourcePartition]) -> Result<()> {
        self.durable.forget(partitions);
        Ok(())
    }

    fn skip(&mut self, position: &Position) {
        self.durable
            .advance(position.source_partition(), position.offset);
    }

    fn stats(&self) -> SinkStats {
        self.stats
    }
}
