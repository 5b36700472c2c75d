//! The polling thread's reads: messages out of librdkafka into the
//! context's `pending` records, and batches of those to the pipeline.

use std::collections::VecDeque;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use tokio::sync::mpsc::{self, error::TrySendError};

use super::consumer::{Event, Polled, SourceContext, position};
use super::message::{LastPolled, Messages};
use super::message_queue::{MessageQueue, NativeMessage};
use crate::record::PartitionMap;

/// What the polling thread reads with, and keeps between reads.
pub(super) struct Reader {
    queue: MessageQueue,
    messages: Messages,
    last_polled: LastPolled,
    /// The records of the current read (kept for its allocation).
    taken: Vec<Polled>,
}

impl Reader {
    /// Reads from `queue`, records with their headers when `read_headers`.
    pub(super) fn new(queue: MessageQueue, read_headers: bool, batch_size: usize) -> Self {
        Self {
            queue,
            messages: Messages::new(read_headers),
            last_polled: LastPolled::default(),
            taken: Vec::with_capacity(batch_size),
        }
    }

    /// Serves the group's events (a rebalance runs inside this call and
    /// finds every record read so far in `pending`), then moves up to
    /// `max` messages, waiting up to `timeout` for them, into `pending`:
    /// how many, and how many records wait there now; `None` once the
    /// source is dropped.
    pub(super) fn read(
        &mut self,
        consumer: &BaseConsumer<SourceContext>,
        events: &mpsc::Sender<Event>,
        timeout: Duration,
        max: usize,
    ) -> Option<(usize, usize)> {
        let Self {
            queue,
            messages,
            taken,
            ..
        } = self;
        let mut failed = Vec::new();
        match consumer.poll(Duration::ZERO) {
            Some(Ok(message)) => taken.push(messages.record(NativeMessage::of(&message))),
            Some(Err(e)) => failed.push(e),
            None => {}
        }
        queue.take(timeout, max, |message| match message.error() {
            None => taken.push(messages.record(message)),
            Some(e) => failed.push(e),
        });
        let got = taken.len();
        for record in taken.iter() {
            self.last_polled.note(position(record));
        }
        let mut pending = consumer.context().pending.lock().expect("pending poisoned");
        pending.extend(taken.drain(..));
        let waiting = pending.len();
        drop(pending);
        failed
            .into_iter()
            .all(|e| report(events, e))
            .then_some((got, waiting))
    }

    /// The last offset read of every partition read.
    pub(super) fn last_polled(&mut self) -> &PartitionMap<i64> {
        self.last_polled.all()
    }

    /// Hands pending records to the pipeline in batches while the channel
    /// has room: whether it is full now and how many records still wait,
    /// or `None` once the source is dropped. A batch is taken out of
    /// `pending` only with a slot reserved for it; the records read after
    /// it get their topic's name anew ([`Messages::next_batch`]).
    pub(super) fn hand_over(
        &mut self,
        consumer: &BaseConsumer<SourceContext>,
        events: &mpsc::Sender<Event>,
        batch_size: usize,
    ) -> Option<(bool, usize)> {
        let mut pending = consumer.context().pending.lock().expect("pending poisoned");
        loop {
            if pending.is_empty() {
                return Some((false, 0));
            }
            let permit = match events.try_reserve() {
                Ok(permit) => permit,
                Err(TrySendError::Full(())) => return Some((true, pending.len())),
                Err(TrySendError::Closed(())) => return None,
            };
            permit.send(Event::Records(take_batch(&mut pending, batch_size)));
            self.messages.next_batch();
        }
    }
}

/// Logs a consumer error and hands a fatal one to the source: false once
/// the source is dropped.
fn report(events: &mpsc::Sender<Event>, e: KafkaError) -> bool {
    tracing::warn!("kafka consumer: {e}");
    !(is_fatal(&e) && events.blocking_send(Event::Error(e)).is_err())
}

fn is_fatal(e: &KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as C;
    matches!(
        e.rdkafka_error_code(),
        Some(
            C::Fatal
                | C::UnknownTopicOrPartition
                | C::TopicAuthorizationFailed
                | C::GroupAuthorizationFailed
        )
    )
}

/// The first `batch_size` records of `pending`: all of them (the usual
/// case, no copy unless earlier batches were taken from its front:
/// `pending` starts anew with room for as many), or the first ones moved
/// out (a queue: the records behind them stay where they are, where a
/// list moved them all forward for every batch taken).
fn take_batch(pending: &mut VecDeque<Polled>, batch_size: usize) -> Vec<Polled> {
    if pending.len() <= batch_size {
        let room = pending.len();
        return std::mem::replace(pending, VecDeque::with_capacity(room)).into();
    }
    pending.drain(..batch_size).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Position, Record};

    #[test]
    fn batches_are_taken_from_the_front_in_order() {
        let polled = |offset| Ok(Record::new(Position::new("t", 0, offset), "{}"));
        let offsets =
            |batch: &[Polled]| batch.iter().map(|p| position(p).offset).collect::<Vec<_>>();
        let mut pending: VecDeque<Polled> = (0..5).map(polled).collect();
        assert_eq!(offsets(&take_batch(&mut pending, 2)), [0, 1]);
        assert_eq!(offsets(pending.make_contiguous()), [2, 3, 4]);
        assert_eq!(offsets(&take_batch(&mut pending, 3)), [2, 3, 4]);
        assert!(pending.is_empty());
        pending.push_back(polled(5));
        assert_eq!(offsets(&take_batch(&mut pending, 3)), [5]);
    }
}
