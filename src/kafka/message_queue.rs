//! The polling thread's own librdkafka queue, read in batches.
//!
//! rdkafka's `BaseConsumer::poll` takes one message per call, and each call
//! reads the clock four times and takes the consumer queue's lock: about
//! 0.9 µs of CPU a message on the mock cluster, as much as everything the
//! lake sink does with it. `rd_kafka_consume_batch_queue` takes up to a
//! batch per call, but on the consumer queue it would also serve the
//! group's rebalances itself (rdkafka sets no rebalance callback, so
//! librdkafka would unassign), bypassing the source's revoke handling.
//!
//! So the messages go elsewhere: before each assignment is applied, the
//! new partitions' queues are forwarded to a queue of the polling thread's
//! own ([`forward_partitions`]; librdkafka keeps an application's
//! forwarding across later assignments), which holds only messages and
//! their errors and is read in batches ([`MessageQueue::take`]). The
//! consumer queue keeps the rebalances and the group's other events,
//! served by `BaseConsumer::poll` between batches. A partition's messages
//! take one path from its first fetch on, so they stay in order; those of
//! a revoked or paused partition that are still queued are outdated (a
//! version barrier) and librdkafka drops them when the batch is read.

use std::ffi::CStr;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::time::Duration;

use rdkafka::TopicPartitionList;
use rdkafka::bindings as rd;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;

use super::consumer::SourceContext;

/// The polling thread's queue. Created when the thread starts and
/// registered with the consumer's context (so that assignments forward to
/// it), destroyed when the thread ends, before the consumer.
pub(super) struct MessageQueue {
    queue: NonNull<rd::rd_kafka_queue_t>,
    consumer: Arc<BaseConsumer<SourceContext>>,
    taken: Vec<*mut rd::rd_kafka_message_t>,
}

impl MessageQueue {
    /// A queue for `consumer`'s messages, registered with its context.
    pub(super) fn new(consumer: Arc<BaseConsumer<SourceContext>>) -> Self {
        // SAFETY: the client outlives the queue (`consumer` is held).
        let queue = unsafe { rd::rd_kafka_queue_new(consumer.client().native_ptr()) };
        let queue = NonNull::new(queue).expect("librdkafka could not allocate a queue");
        consumer
            .context()
            .message_queue
            .store(queue.as_ptr(), Ordering::Release);
        Self {
            queue,
            consumer,
            taken: Vec::new(),
        }
    }

    /// Waits up to `timeout` for up to `max` messages (returning as soon as
    /// `max` are there) and passes each to `each`, in order: how many.
    pub(super) fn take(
        &mut self,
        timeout: Duration,
        max: usize,
        mut each: impl FnMut(NativeMessage<'_>),
    ) -> usize {
        self.taken.resize(max.max(1), std::ptr::null_mut());
        let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: `taken` has room for `max` pointers; librdkafka fills the
        // first `got` and hands their ownership over.
        let got = unsafe {
            rd::rd_kafka_consume_batch_queue(
                self.queue.as_ptr(),
                timeout_ms,
                self.taken.as_mut_ptr(),
                self.taken.len(),
            )
        };
        let got = usize::try_from(got).unwrap_or(0);
        for &message in &self.taken[..got] {
            // SAFETY: a message librdkafka handed over, released right
            // after `each` has seen it (the view does not outlive it).
            each(NativeMessage(unsafe { &*message }));
            unsafe { rd::rd_kafka_message_destroy(message) };
        }
        got
    }
}

impl Drop for MessageQueue {
    fn drop(&mut self) {
        let context = self.consumer.context();
        context
            .message_queue
            .store(std::ptr::null_mut(), Ordering::Release);
        // SAFETY: created in `new`, destroyed once; librdkafka drops what
        // partitions still forward to it (the consumer is closing).
        unsafe { rd::rd_kafka_queue_destroy(self.queue.as_ptr()) };
    }
}

/// Forwards the queues of `list`'s partitions to the polling thread's
/// queue, if it runs (else their messages stay on the consumer queue,
/// which `BaseConsumer::poll` serves too). Called before the assignment is
/// applied, so that no message of these partitions is fetched before.
pub(super) fn forward_partitions(
    consumer: &BaseConsumer<SourceContext>,
    message_queue: &AtomicPtr<rd::rd_kafka_queue_t>,
    list: &TopicPartitionList,
) {
    let target = message_queue.load(Ordering::Acquire);
    if target.is_null() {
        return;
    }
    let client = consumer.client().native_ptr();
    for element in list.elements() {
        let Ok(topic) = std::ffi::CString::new(element.topic()) else {
            continue;
        };
        // SAFETY: `client` is alive while `consumer` is borrowed; the
        // partition's queue handle is released right after forwarding.
        unsafe {
            let partition =
                rd::rd_kafka_queue_get_partition(client, topic.as_ptr(), element.partition());
            if partition.is_null() {
                tracing::warn!(
                    "kafka: no queue for {}/{}; its messages come the slow way",
                    element.topic(),
                    element.partition()
                );
                continue;
            }
            rd::rd_kafka_queue_forward(partition, target);
            rd::rd_kafka_queue_destroy(partition);
        }
    }
}

/// A message as librdkafka holds it, read in place.
#[derive(Clone, Copy)]
pub(super) struct NativeMessage<'a>(&'a rd::rd_kafka_message_t);

impl<'a> NativeMessage<'a> {
    /// The message `message` wraps.
    pub(super) fn of(message: &'a BorrowedMessage<'_>) -> Self {
        // SAFETY: valid while `message` is borrowed.
        Self(unsafe { &*message.ptr() })
    }

    /// The message as librdkafka's pointer (for its headers).
    pub(super) fn ptr(self) -> *mut rd::rd_kafka_message_t {
        std::ptr::from_ref(self.0).cast_mut()
    }

    /// Why there is no message here (end of partition, a fetch error), as
    /// rdkafka's `poll` reports it.
    pub(super) fn error(self) -> Option<KafkaError> {
        use rd::rd_kafka_resp_err_t as E;
        match self.0.err {
            E::RD_KAFKA_RESP_ERR_NO_ERROR => None,
            E::RD_KAFKA_RESP_ERR__PARTITION_EOF => Some(KafkaError::PartitionEOF(self.0.partition)),
            e => Some(KafkaError::MessageConsumption(e.into())),
        }
    }

    /// The name of the message's topic.
    pub(super) fn topic(self) -> &'a CStr {
        // SAFETY: the message holds a reference to its topic handle, whose
        // name (a NUL-terminated string) lives as long as the handle.
        unsafe { CStr::from_ptr(rd::rd_kafka_topic_name(self.0.rkt)) }
    }

    pub(super) fn partition(self) -> i32 {
        self.0.partition
    }

    pub(super) fn offset(self) -> i64 {
        self.0.offset
    }

    /// The payload (empty when there is none).
    pub(super) fn payload(self) -> &'a [u8] {
        bytes(self.0.payload, self.0.len)
    }

    /// The key, if the message has one.
    pub(super) fn key(self) -> Option<&'a [u8]> {
        (!self.0.key.is_null()).then(|| bytes(self.0.key, self.0.key_len))
    }

    /// The timestamp in milliseconds, when the message has one.
    pub(super) fn timestamp(self) -> Option<i64> {
        let mut kind = rd::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
        // SAFETY: reads the message's own fields.
        let millis = unsafe { rd::rd_kafka_message_timestamp(self.0, &mut kind) };
        let known = kind != rd::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
        (known && millis != -1).then_some(millis)
    }
}

/// `len` bytes at `ptr`, which librdkafka keeps with the message.
fn bytes<'a>(ptr: *mut std::ffi::c_void, len: usize) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        return &[];
    }
    // SAFETY: librdkafka's payload and key are `len` bytes at `ptr`.
    unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use rdkafka::Offset;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

    use super::*;
    use crate::kafka::MockKafka;

    #[test]
    fn forwarded_partitions_arrive_in_batches_in_order_and_not_on_the_consumer_queue() {
        let mock = MockKafka::start().unwrap();
        mock.create_topic("t", 2).unwrap();
        let producer: BaseProducer = mock.config().client_config().create().unwrap();
        for i in 0..200 {
            let payload = i.to_string();
            let record = BaseRecord::<(), str>::to("t")
                .partition(i % 2)
                .payload(&payload);
            producer.send(record).map_err(|(e, _)| e).unwrap();
        }
        producer.flush(Duration::from_secs(30)).unwrap();

        let (events, _events) = tokio::sync::mpsc::channel(1);
        let context = SourceContext::new(events, Duration::from_secs(1));
        let consumer: BaseConsumer<SourceContext> = mock
            .config()
            .client_config()
            .set("group.id", "forwarding")
            .create_with_context(context)
            .unwrap();
        let consumer = Arc::new(consumer);
        let mut queue = MessageQueue::new(consumer.clone());
        let mut list = TopicPartitionList::new();
        for partition in 0..2 {
            list.add_partition_offset("t", partition, Offset::Beginning)
                .unwrap();
        }
        forward_partitions(&consumer, &consumer.context().message_queue, &list);
        consumer.assign(&list).unwrap();

        let mut read: Vec<(i32, i64, String)> = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while read.len() < 200 {
            assert!(Instant::now() < deadline, "{} of 200 read", read.len());
            assert!(
                consumer.poll(Duration::ZERO).is_none(),
                "a message or event on the consumer queue"
            );
            let got = queue.take(Duration::from_millis(100), 64, |message| {
                assert!(message.error().is_none(), "{:?}", message.error());
                assert_eq!(message.topic(), c"t");
                let payload = String::from_utf8(message.payload().to_vec()).unwrap();
                read.push((message.partition(), message.offset(), payload));
            });
            assert!(got <= 64);
        }
        // Partition p holds the values p, p + 2, p + 4, ... at offsets 0, 1, 2, ...
        for partition in 0..2 {
            let of_partition: Vec<(i64, String)> = read
                .iter()
                .filter(|(p, _, _)| *p == partition)
                .map(|(_, offset, value)| (*offset, value.clone()))
                .collect();
            let expected: Vec<(i64, String)> = (0..100)
                .map(|k| (k, (2 * k + i64::from(partition)).to_string()))
                .collect();
            assert_eq!(of_partition, expected, "partition {partition}");
        }
    }
}
