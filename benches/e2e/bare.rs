//! The baseline: rdkafka's bare consume loop, and the mock cluster's
//! topic it and every path read.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use streamlake::kafka::{KafkaConfig, KafkaSink};
use streamlake::{Pipeline, StockTicks};

use crate::partitions;

/// The bare loop, as a child: consume `topic` to the end of every
/// partition (at most `n` messages) and discard it, then print what it
/// read and its peak memory like the examples' summaries.
pub(crate) fn bare_loop(brokers: &str, topic: &str, n: u64) {
    let consumer: BaseConsumer = KafkaConfig::new(brokers)
        .client_config()
        .set("group.id", format!("bare-{}", std::process::id()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut at_end = std::collections::BTreeSet::new();
    let mut seen = 0u64;
    let mut flowing: Option<(Instant, Instant)> = None;
    while seen < n {
        assert!(
            Instant::now() < deadline,
            "bare loop: {seen} of {n} after 600 s"
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(_)) => {
                seen += 1;
                let now = Instant::now();
                flowing.get_or_insert((now, now)).1 = now;
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
                // Asked only at an end of partition: the assignment is a
                // call into librdkafka, not free per message.
                let assigned = consumer.assignment().map_or(0, |a| a.count());
                if at_end.len() == assigned {
                    break;
                }
            }
            Some(Err(e)) => panic!("bare loop: {e}"),
            None => {}
        }
    }
    println!("records:  {seen} read");
    let flowing = flowing.map_or(0.0, |(first, last)| (last - first).as_secs_f64());
    println!("time:     {flowing:.3}s flowing");
    println!("memory:   {} MiB peak resident", peak_kib() / 1024);
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
