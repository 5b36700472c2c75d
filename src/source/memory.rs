//! In-memory source for tests and documentation.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{RecordSource, SourceEvent};
use crate::error::Result;
use crate::record::{Position, Record};

/// Yields a fixed list of records, then [`SourceEvent::End`]. Commits are
/// kept and can be read through [`MemorySource::committed`].
///
/// ```
/// # tokio_test();
/// # fn tokio_test() { tokio::runtime::Runtime::new().unwrap().block_on(run()) }
/// # async fn run() {
/// use streamlake::{MemorySource, Position, Record, RecordSource, SourceEvent};
/// let mut source = MemorySource::new((0..3).map(|i| {
///     Record::new(Position::new("s", 0, i), format!(r#"{{"n":{i}}}"#))
/// }));
/// let SourceEvent::Records { records, .. } = source.poll(2).await.unwrap() else { panic!() };
/// assert_eq!(records.len(), 2);
/// source.commit(&[Position::new("s", 0, 1)]).await.unwrap();
/// assert_eq!(source.committed().lock().unwrap()[0].offset, 1);
/// # }
/// ```
#[derive(Debug)]
pub struct MemorySource {
    records: VecDeque<Record>,
    committed: Arc<Mutex<Vec<Position>>>,
}

impl MemorySource {
    /// A source over these records.
    pub fn new(records: impl IntoIterator<Item = Record>) -> Self {
        Self {
            records: records.into_iter().collect(),
            committed: Arc::default(),
        }
    }

    /// Every position committed so far, in commit order.
    pub fn committed(&self) -> Arc<Mutex<Vec<Position>>> {
        self.committed.clone()
    }
}

#[async_trait]
impl RecordSource for MemorySource {
    async fn poll(&mut self, max_records: usize) -> Result<SourceEvent> {
        if self.records.is_empty() {
            return Ok(SourceEvent::End);
        }
        let n = max_records.max(1).min(self.records.len());
        Ok(SourceEvent::Records {
            records: self.records.drain(..n).collect(),
            rejected: Vec::new(),
        })
    }

    async fn commit(&mut self, durable: &[Position]) -> Result<()> {
        self.committed
            .lock()
            .expect("commit log poisoned")
            .extend_from_slice(durable);
        Ok(())
    }
}
