//! Rebalances of [`KafkaSource`](super::KafkaSource)'s group, served on
//! its polling thread: each one is handed to the pipeline and waits for
//! it.
//!
//! - **Revoke**: waits until the pipeline has dropped the revoked
//!   partitions' buffered records and committed what is durable.
//! - **Assign**: asks the pipeline how far the sink already holds the new
//!   partitions durably ([`RecordSink::durable_positions`]: a table whose
//!   log records source positions) and starts each partition after that
//!   where it is ahead of the group's committed offset (Kafka Connect's
//!   `SinkTaskContext.offset` on `open`), so that records a crashed run
//!   committed to the table but not to Kafka are not read again. Those
//!   positions are then committed to Kafka too.
//!
//! [`RecordSink::durable_positions`]: crate::RecordSink::durable_positions

use std::sync::atomic::Ordering;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, RebalanceProtocol};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset, TopicPartitionList};

use super::consumer::{Event, SourceContext, names, partitions, position};
use super::message_queue::forward_partitions;
use crate::record::Position;

/// How long the group's committed offsets may take to arrive.
const COMMITTED_TIMEOUT: Duration = Duration::from_secs(10);

impl ConsumerContext for SourceContext {
    /// librdkafka's own handling (assign or unassign, incrementally under
    /// the cooperative protocol), with the assignment's start offsets set
    /// from the sink's durable positions first.
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        list: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        let (rebalance, result) = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let resumed = self.start_after_durable(consumer, list);
                forward_partitions(consumer, &self.message_queue, list);
                self.pre_rebalance(consumer, &Rebalance::Assign(list));
                let result = if cooperative {
                    consumer.incremental_assign(list)
                } else {
                    consumer.assign(list)
                };
                // Committed by the source once the partitions are ours.
                if result.is_ok() {
                    self.resumed
                        .lock()
                        .expect("resumed poisoned")
                        .extend(resumed);
                }
                (Rebalance::Assign(list), result)
            }
            other => {
                let rebalance = if other == RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS {
                    Rebalance::Revoke(list)
                } else {
                    let code = rdkafka::types::RDKafkaErrorCode::from(other);
                    Rebalance::Error(rdkafka::error::KafkaError::Rebalance(code))
                };
                self.pre_rebalance(consumer, &rebalance);
                let result = if cooperative {
                    consumer.incremental_unassign(list)
                } else {
                    consumer.unassign()
                };
                (rebalance, result)
            }
        };
        if let Err(e) = result {
            tracing::warn!("kafka rebalance: applying {rebalance:?} failed: {e}");
        }
        self.post_rebalance(consumer, &rebalance);
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let holding = consumer.assignment().map(|a| a.count()).unwrap_or(0);
        self.holding.send_replace(holding);
        if let Rebalance::Assign(list) = rebalance {
            self.assigned.store(true, Ordering::Relaxed);
            let mut seen = self.topics_seen.lock().expect("topics poisoned");
            for e in list.elements() {
                if !seen.contains(e.topic()) {
                    seen.insert(e.topic().to_string());
                }
            }
        }
    }

    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(list) => self.hand_over_revoke(list),
            Rebalance::Assign(list) => tracing::info!("assigned {}", names(&partitions(list))),
            Rebalance::Error(e) => tracing::warn!("rebalance failed: {e}"),
        }
    }
}

impl SourceContext {
    /// Blocks the revoke of `list` until the pipeline has dropped and
    /// committed (or the revoke timeout passed).
    fn hand_over_revoke(&self, list: &TopicPartitionList) {
        let revoked = partitions(list);
        // Nothing to hand over when the source is gone (the consumer is
        // closing as it is dropped, possibly on an async runtime thread).
        if revoked.is_empty() || self.events.is_closed() {
            return;
        }
        // Never hand over what was polled for a partition we are losing,
        // nor commit where it started: the new owner commits from now on.
        self.pending
            .lock()
            .expect("pending records poisoned")
            .retain(|p| !revoked.contains(&position(p).source_partition()));
        self.resumed
            .lock()
            .expect("resumed poisoned")
            .retain(|p| !revoked.contains(&p.source_partition()));
        let (ack, acked) = std_mpsc::sync_channel(1);
        tracing::info!(
            "revoking {}: waiting for the pipeline to drop and commit",
            names(&revoked)
        );
        if self
            .events
            .blocking_send(Event::Revoked(revoked, ack))
            .is_ok()
            && acked.recv_timeout(self.revoke_timeout) == Err(std_mpsc::RecvTimeoutError::Timeout)
        {
            tracing::warn!(
                "revoke went ahead after {:?} without the pipeline",
                self.revoke_timeout
            );
        }
    }

    /// Hands the assignment of `list` to the pipeline, and sets the start
    /// offset of each partition the sink holds durably beyond the group's
    /// committed offset: those positions.
    fn start_after_durable(
        &self,
        consumer: &BaseConsumer<Self>,
        list: &mut TopicPartitionList,
    ) -> Vec<Position> {
        let assigned = partitions(list);
        if assigned.is_empty() || self.events.is_closed() {
            return Vec::new();
        }
        let (reply, replied) = std_mpsc::sync_channel(1);
        if self
            .events
            .blocking_send(Event::Assigned(assigned.clone(), Some(reply)))
            .is_err()
        {
            return Vec::new();
        }
        let durable = match replied.recv_timeout(self.revoke_timeout) {
            Ok(durable) if durable.is_empty() => return durable,
            Ok(durable) => durable,
            // The source is gone.
            Err(std_mpsc::RecvTimeoutError::Disconnected) => return Vec::new(),
            Err(std_mpsc::RecvTimeoutError::Timeout) => {
                tracing::warn!(
                    "assignment of {} went ahead after {:?} without the pipeline: the \
                     partitions resume from the group's committed offsets",
                    names(&assigned),
                    self.revoke_timeout
                );
                return Vec::new();
            }
        };
        let committed = match consumer.committed_offsets(list.clone(), COMMITTED_TIMEOUT) {
            Ok(committed) => committed,
            Err(e) => {
                tracing::warn!(
                    "cannot read the committed offsets of {} ({e}): they resume from there, and \
                     the sink passes over what it holds",
                    names(&assigned)
                );
                return Vec::new();
            }
        };
        let mut ahead = ahead_of_committed(&durable, &committed);
        ahead.retain(|p| {
            let start =
                list.set_partition_offset(&p.stream, p.partition, Offset::Offset(p.offset + 1));
            match &start {
                Ok(()) => tracing::info!(
                    "{}: the sink holds offsets up to {} durably, ahead of the group's commit: \
                     resuming at {}",
                    p.source_partition(),
                    p.offset,
                    p.offset + 1
                ),
                Err(e) => tracing::warn!("cannot start {} after the sink's position: {e}", p),
            }
            start.is_ok()
        });
        ahead
    }
}

/// The durable positions whose next offset is past the partition's
/// committed offset (or whose partition has none).
fn ahead_of_committed(durable: &[Position], committed: &TopicPartitionList) -> Vec<Position> {
    durable
        .iter()
        .filter(|p| {
            let at = committed
                .find_partition(&p.stream, p.partition)
                .map(|e| e.offset());
            match at {
                Some(Offset::Offset(next)) => p.offset + 1 > next,
                _ => true,
            }
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::SourcePartition;

    #[test]
    fn only_positions_past_the_committed_offset_move_the_start() {
        let mut committed = TopicPartitionList::new();
        committed
            .add_partition_offset("stock", 0, Offset::Offset(100))
            .unwrap();
        committed
            .add_partition_offset("stock", 1, Offset::Offset(50))
            .unwrap();
        committed
            .add_partition_offset("stock", 2, Offset::Invalid)
            .unwrap();
        let at = |p, o| SourcePartition::new("stock", p).at(o);
        let durable = [at(0, 99), at(1, 80), at(2, 7), at(3, 1)];
        assert_eq!(
            ahead_of_committed(&durable, &committed),
            [at(1, 80), at(2, 7), at(3, 1)],
            "stock/0 is committed up to its durable position already"
        );
    }
}
