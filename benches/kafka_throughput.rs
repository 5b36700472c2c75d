//! End-to-end Kafka throughput against local tansu brokers, each streamlake
//! path beside a bare rdkafka loop in the same run. Producing runs on the
//! memory engine; consuming on the sqlite engine, because the memory engine
//! skips records when a consumer resumes a paused partition (which the
//! source does under backpressure):
//!
//! - produce: `KafkaSink` in a `Pipeline` vs a bare `FutureProducer` loop
//!   with the same settings (idempotent, acks=all, lz4, linger 5 ms);
//! - consume: `KafkaSource` → `LakeSink` (local directory, JSON Lines,
//!   `index={Index}`) vs a bare `BaseConsumer` consume-and-discard loop.
//!
//! `cargo bench --features kafka --bench kafka_throughput` (needs tansu:
//! `scripts/services.sh install`). Prints records/s and the ratios.

#[path = "../tests/common/broker.rs"]
#[allow(dead_code)]
mod broker;
#[path = "../tests/common/process.rs"]
#[allow(dead_code)]
mod process;
#[path = "../tests/common/service.rs"]
#[allow(dead_code)]
mod service;

use std::time::Instant;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use streamlake::kafka::{KafkaSink, KafkaSource};
use streamlake::{Lake, LakeSink, MemorySource, Pipeline, Record, StockTicks};

const N: usize = 100_000;

fn rate(n: usize, start: Instant) -> f64 {
    n as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let broker = broker::Broker::start_with("memory://tansu/");
    let mut ticks = StockTicks::new(3);
    let rows: Vec<Record> = (0..N).map(|_| ticks.next_row()).collect();
    let bytes: usize = rows.iter().map(|r| r.value.len()).sum();
    broker.topic("bare", 3).await;
    broker.topic("lake", 3).await;
    let config = broker.config();

    let producer: FutureProducer = config
        .client_config()
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("compression.type", "lz4")
        .create()
        .unwrap();
    let start = Instant::now();
    let mut pending = Vec::with_capacity(N);
    for r in &rows {
        let key = &r.value[10..13]; // part of the index name, like --key-field
        pending.push(
            producer
                .send_result(FutureRecord::to("bare").payload(&r.value[..]).key(key))
                .unwrap(),
        );
    }
    for p in pending {
        p.await.unwrap().unwrap();
    }
    let bare_produce = rate(N, start);

    let sink = KafkaSink::builder(config.clone())
        .topic("lake")
        .key_field("Index")
        .build()
        .unwrap();
    let start = Instant::now();
    Pipeline::new(MemorySource::new(rows.clone()), sink)
        .batch_size(4096)
        .run()
        .await
        .unwrap();
    let lake_produce = rate(N, start);

    // Consumers read from a sqlite-engine broker, filled through KafkaSink.
    let broker = broker::Broker::start_with("sqlite://tansu.db");
    broker.topic("bare", 3).await;
    broker.topic("lake", 3).await;
    let config = broker.config();
    for topic in ["bare", "lake"] {
        let sink = KafkaSink::builder(config.clone())
            .topic(topic)
            .key_field("Index")
            .build()
            .unwrap();
        Pipeline::new(MemorySource::new(rows.clone()), sink)
            .batch_size(4096)
            .run()
            .await
            .unwrap();
    }

    let consumer: BaseConsumer = config
        .client_config()
        .set("group.id", "bare")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&["bare"]).unwrap();
    let start = Instant::now();
    let mut seen = 0;
    while seen < N {
        if let Some(m) = consumer.poll(std::time::Duration::from_millis(100)) {
            m.unwrap();
            seen += 1;
        }
    }
    let bare_consume = rate(N, start);

    let dir = tempfile::tempdir().unwrap();
    let mut source = KafkaSource::builder(config.clone())
        .group("lake")
        .topic("lake")
        .build()
        .unwrap();
    let mut sink = LakeSink::builder(Lake::local(dir.path()).unwrap())
        .table("stock")
        .partition_by("index={Index}")
        .build()
        .unwrap();
    let start = Instant::now();
    broker::drain_into(&mut source, &mut sink, N).await;
    let lake_consume = rate(N, start);

    println!(
        "{N} stock rows, {:.1} MB of JSON, 3 partitions; produce on tansu memory, consume on tansu sqlite",
        bytes as f64 / 1e6
    );
    println!("produce  bare FutureProducer loop : {bare_produce:>9.0} records/s");
    println!(
        "produce  streamlake KafkaSink     : {lake_produce:>9.0} records/s  (ratio {:.2})",
        lake_produce / bare_produce
    );
    println!(
        "consume  bare BaseConsumer discard: {bare_consume:>9.0} records/s  (includes group join)"
    );
    println!(
        "consume  streamlake source → lake : {lake_consume:>9.0} records/s  (ratio {:.2}, includes group join)",
        lake_consume / bare_consume
    );
}
