//! A source the test feeds through a channel, for runs whose source stays
//! open (idle flushes, shutdown).

use async_trait::async_trait;
use streamlake::{Position, Record, RecordSource, SourceEvent};
use tokio::sync::{mpsc, oneshot};

/// A source fed through a channel; it reports commits on another channel
/// and says when it has handed out everything sent so far.
pub struct ChannelSource {
    records: mpsc::UnboundedReceiver<Vec<Record>>,
    commits: mpsc::UnboundedSender<Vec<Position>>,
    drained: Option<oneshot::Sender<()>>,
}

#[async_trait]
impl RecordSource for ChannelSource {
    async fn poll(&mut self, _max: usize) -> streamlake::Result<SourceEvent> {
        if self.records.is_empty() {
            if let Some(drained) = self.drained.take() {
                let _ = drained.send(());
            }
        }
        Ok(match self.records.recv().await {
            Some(records) => SourceEvent::Records {
                records,
                rejected: Vec::new(),
            },
            None => SourceEvent::End,
        })
    }

    async fn commit(&mut self, durable: &[Position]) -> streamlake::Result<()> {
        let _ = self.commits.send(durable.to_vec());
        Ok(())
    }
}

/// The test's ends of a [`ChannelSource`]: send records, see commits, learn
/// when everything sent was handed out.
pub type SourceHandles = (
    mpsc::UnboundedSender<Vec<Record>>,
    mpsc::UnboundedReceiver<Vec<Position>>,
    oneshot::Receiver<()>,
);

pub fn channel_source() -> (ChannelSource, SourceHandles) {
    let (tx, records) = mpsc::unbounded_channel();
    let (commits, commit_rx) = mpsc::unbounded_channel();
    let (drained, drained_rx) = oneshot::channel();
    let source = ChannelSource {
        records,
        commits,
        drained: Some(drained),
    };
    (source, (tx, commit_rx, drained_rx))
}
