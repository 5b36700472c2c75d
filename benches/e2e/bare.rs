//! The baseline: rdkafka's bare consume loop, and the mock cluster's
//! topic it and every path read.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::BorrowedMessage;
use streamlake::kafka::{KafkaConfig, KafkaSink};
use streamlake::{Pipeline, StockTicks};

use crate::partitions;

/// The bare loop, as a child: consume `topic` to the end of every
/// partition (at most `n` messages) and discard it, then print what it
/// read and its peak memory like the examples' summaries. With `batches`:
/// librdkafka's batch consume instead of rdkafka's `poll`.
pub(crate) fn bare_loop(brokers: &str, topic: &str, n: u64, batches: bool) {
    let consumer: BaseConsumer = KafkaConfig::new(brokers)
        .client_config()
        .set("group.id", format!("bare-{}", std::process::id()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap();
    if batches {
        return batch_loop(&consumer, topic, n);
    }
    consumer.subscribe(&[topic]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut at_end = std::collections::BTreeSet::new();
    let mut read = Read::default();
    while read.seen < n {
        assert!(
            Instant::now() < deadline,
            "bare loop: {} of {n} after 600 s",
            read.seen
        );
        if let Some(p) = read.count(consumer.poll(Duration::from_millis(100))) {
            at_end.insert(p);
            // Asked only at an end of partition: the assignment is a
            // call into librdkafka, not free per message.
            let assigned = consumer.assignment().map_or(0, |a| a.count());
            if at_end.len() == assigned {
                break;
            }
        }
    }
    read.summary();
}

/// What a consume loop has read: how many messages, and when the first
/// and the last came.
#[derive(Default)]
struct Read {
    seen: u64,
    flowing: Option<(Instant, Instant)>,
}

impl Read {
    /// One more message read.
    fn message(&mut self) {
        self.seen += 1;
        let now = Instant::now();
        self.flowing.get_or_insert((now, now)).1 = now;
    }

    /// Counts what `poll` returned: a message read, or the partition whose
    /// end it reached (returned).
    fn count(&mut self, polled: Option<KafkaResult<BorrowedMessage<'_>>>) -> Option<i32> {
        match polled {
            Some(Ok(_)) => {
                self.message();
                None
            }
            Some(Err(KafkaError::PartitionEOF(p))) => Some(p),
            Some(Err(e)) => panic!("bare loop: {e}"),
            None => None,
        }
    }

    /// What the loop read, in the examples' summary lines.
    fn summary(&self) {
        println!("records:  {} read", self.seen);
        let flowing = self
            .flowing
            .map_or(0.0, |(first, last)| (last - first).as_secs_f64());
        println!("time:     {flowing:.3}s flowing");
        println!("memory:   {} MiB peak resident", peak_kib() / 1024);
    }
}

/// The tighter baseline: read with `rd_kafka_consume_batch_queue` from the
/// consumer queue, up to 1024 messages a call, so the clock is read and
/// the queue locked once a batch, not once a message (streamlake's source
/// reads its partitions this way). It joins the group like the bare loop,
/// through rdkafka's `poll`, and batch-consumes once it holds partitions:
/// a rebalance served by the batch consume would unassign them (rdkafka
/// sets no rebalance callback), so this loop suits one member only.
fn batch_loop(consumer: &BaseConsumer, topic: &str, n: u64) {
    use rdkafka::bindings as rd;
    consumer.subscribe(&[topic]).unwrap();
    let (mut at_end, mut read, mut bytes) = (std::collections::BTreeSet::new(), Read::default(), 0);
    let deadline = Instant::now() + Duration::from_secs(600);
    while consumer.assignment().map_or(0, |a| a.count()) == 0 {
        assert!(
            Instant::now() < deadline,
            "batch loop: no partitions after 600 s"
        );
        if let Some(p) = read.count(consumer.poll(Duration::from_millis(100))) {
            at_end.insert(p);
        }
    }
    // SAFETY: the queue handle is released before the consumer, and each
    // message right after it is looked at.
    let queue = unsafe { rd::rd_kafka_queue_get_consumer(consumer.client().native_ptr()) };
    let mut batch = vec![std::ptr::null_mut(); 1024];
    let assigned = consumer.assignment().map_or(0, |a| a.count());
    while read.seen < n && at_end.len() < assigned {
        assert!(
            Instant::now() < deadline,
            "batch loop: {} of {n} after 600 s",
            read.seen
        );
        let got = unsafe {
            rd::rd_kafka_consume_batch_queue(queue, 100, batch.as_mut_ptr(), batch.len())
        };
        for &message in &batch[..usize::try_from(got).expect("batch consume failed")] {
            let m = unsafe { &*message };
            match m.err {
                rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR => {
                    read.message();
                    bytes += m.len;
                }
                rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR__PARTITION_EOF => {
                    at_end.insert(m.partition);
                }
                e => panic!("batch loop: {e:?}"),
            }
            unsafe { rd::rd_kafka_message_destroy(message) };
        }
    }
    unsafe { rd::rd_kafka_queue_destroy(queue) };
    std::hint::black_box(bytes);
    read.summary();
}

fn peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Publishes `n` unkeyed stock rows to topic `stock`.
pub(crate) async fn fill(config: KafkaConfig, n: u64) {
    let producer = KafkaSink::builder(config).topic("stock").build().unwrap();
    Pipeline::new(StockTicks::new(11).count(n), producer)
        .run()
        .await
        .unwrap();
}

/// Fails unless the mock cluster still holds all `n` records of `stock`:
/// it keeps at most ~5 MiB and 100,000 batches per partition and drops the
/// oldest beyond that, which would make every path read fewer records
/// than the bare loop waits for.
pub(crate) fn assert_mock_kept(config: &KafkaConfig, n: u64) {
    let consumer: BaseConsumer = config
        .client_config()
        .set("group.id", "e2e-watermarks")
        .create()
        .unwrap();
    let kept: i64 = (0..partitions())
        .map(|p| {
            let (low, high) = consumer
                .fetch_watermarks("stock", p, Duration::from_secs(30))
                .unwrap();
            high - low
        })
        .sum();
    assert_eq!(
        kept as u64, n,
        "the mock cluster kept {kept} of the {n} records produced (it keeps about 5 MiB per \
         partition): lower E2E_RECORDS"
    );
}
