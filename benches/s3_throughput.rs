//! Kafka → lake throughput into S3 (a local moto server) beside the same run
//! into a local directory, for JSON Lines with and without gzip. Each run is
//! a fresh consumer group reading the same 100k stock rows from a local
//! tansu broker (sqlite engine) through `KafkaSource` → `LakeSink`
//! (`index={Index}`), committing as objects become durable.
//!
//! `cargo bench --features kafka,s3 --bench s3_throughput` (needs tansu and
//! moto: `scripts/services.sh install`). Prints records/s, MB/s of JSON in,
//! and the S3/local ratio per format.

#[path = "../tests/common/broker.rs"]
#[allow(dead_code)]
mod broker;
#[path = "../tests/common/process.rs"]
#[allow(dead_code)]
mod process;
#[path = "../tests/common/s3.rs"]
#[allow(dead_code)]
mod s3;
#[path = "../tests/common/service.rs"]
#[allow(dead_code)]
mod service;

use std::time::Instant;

use streamlake::kafka::KafkaSource;
use streamlake::{Compression, Lake, LakeSink, RecordSink, SinkStats};

const N: usize = 100_000;

/// Consumes the whole topic into `lake` as group `group`; returns records/s
/// and what the sink wrote.
async fn consume_into(
    broker: &broker::Broker,
    group: &str,
    lake: Lake,
    compression: Compression,
) -> (f64, SinkStats) {
    let mut source = KafkaSource::builder(broker.config())
        .group(group)
        .topic("stock")
        .build()
        .unwrap();
    let mut sink = LakeSink::builder(lake)
        .table("stock")
        .partition_by("index={Index}")
        .compression(compression)
        .build()
        .unwrap();
    let start = Instant::now();
    broker::drain_into(&mut source, &mut sink, N).await;
    (N as f64 / start.elapsed().as_secs_f64(), sink.stats())
}

#[tokio::main]
async fn main() {
    let broker = broker::Broker::start();
    broker.topic("stock", 3).await;
    let rows = broker.produce_stock("stock", N).await;
    let json_mb = rows.iter().map(|r| r.value.len()).sum::<usize>() as f64 / 1e6;
    let s3 = s3::S3Server::start();
    s3.bucket("bench");
    let dir = tempfile::tempdir().unwrap();

    println!(
        "{N} stock rows, {json_mb:.1} MB of JSON, 3 partitions, tansu sqlite; \
         lake partitioned by index, 100k records per object at most"
    );
    for (name, compression) in [
        ("jsonl", Compression::None),
        ("jsonl+gzip", Compression::Gzip(6)),
    ] {
        let local = Lake::local(dir.path().join(name)).unwrap();
        let (local_rate, local_stats) =
            consume_into(&broker, &format!("local-{name}"), local, compression).await;
        let lake = s3.lake(&format!("s3://bench/{name}"));
        let (s3_rate, s3_stats) =
            consume_into(&broker, &format!("s3-{name}"), lake, compression).await;
        assert_eq!(local_stats.records, s3_stats.records);
        for (dest, rate, stats) in [
            ("local", local_rate, local_stats),
            ("s3", s3_rate, s3_stats),
        ] {
            println!(
                "{name:<10} → {dest:<5}: {rate:>8.0} records/s  {:>6.1} MB/s JSON in  \
                 ({} objects, {:.1} MB written)",
                rate * json_mb / N as f64,
                stats.objects,
                stats.bytes as f64 / 1e6
            );
        }
        println!("{name:<10}   s3/local ratio {:.2}", s3_rate / local_rate);
    }

    // The sink alone (rows already in memory), with small objects, shows
    // what the store itself costs once the broker is out of the way.
    println!("sink only, same rows, 2,000 records per object:");
    for (name, compression) in [
        ("jsonl", Compression::None),
        ("jsonl+gzip", Compression::Gzip(6)),
    ] {
        let mut rates = Vec::new();
        for (dest, lake) in [
            (
                "local",
                Lake::local(dir.path().join(format!("sink-{name}"))).unwrap(),
            ),
            ("s3", s3.lake(&format!("s3://bench/sink-{name}"))),
        ] {
            let mut sink = LakeSink::builder(lake)
                .table("stock")
                .partition_by("index={Index}")
                .compression(compression)
                .max_records_per_object(2_000)
                .build()
                .unwrap();
            let start = Instant::now();
            for chunk in rows.chunks(4096) {
                sink.write(chunk.to_vec()).await.unwrap();
            }
            sink.flush().await.unwrap();
            let rate = N as f64 / start.elapsed().as_secs_f64();
            println!(
                "{name:<10} → {dest:<5}: {rate:>8.0} records/s  {:>6.1} MB/s JSON in  ({} objects)",
                rate * json_mb / N as f64,
                sink.stats().objects
            );
            rates.push(rate);
        }
        println!("{name:<10}   s3/local ratio {:.2}", rates[1] / rates[0]);
    }
}
