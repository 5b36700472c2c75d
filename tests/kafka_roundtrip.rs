//! KafkaSink → real broker → KafkaSource: records come back identical, and
//! a consumer that committed resumes with no gap and no duplicate.

#![cfg(feature = "kafka")]

mod common;

use std::time::Duration;

use common::broker::Broker;
use streamlake::kafka::{KafkaSink, KafkaSource};
use streamlake::{Headers, MemorySource, Pipeline, Position, Record, RecordSource, SourceEvent};

fn records(n: i64) -> Vec<Record> {
    (0..n)
        .map(|i| {
            Record::new(
                Position::new("input", 0, i),
                format!(r#"{{"Index":"HSI","n":{i}}}"#),
            )
            .with_key(format!("key-{i}"))
            .with_timestamp(1_700_000_000_000 + i)
            .with_headers(
                Headers::new()
                    .with("source", "test")
                    .with("n", i.to_string()),
            )
        })
        .collect()
}

async fn produce(broker: &Broker, topic: &str, records: Vec<Record>) {
    let sink = KafkaSink::builder(broker.config())
        .topic(topic)
        .build()
        .unwrap();
    let stats = Pipeline::new(MemorySource::new(records.clone()), sink)
        .run()
        .await
        .unwrap();
    assert_eq!(stats.records_out, records.len() as u64);
}

/// Polls until `n` records arrived; fails after the step deadline.
async fn consume(source: &mut KafkaSource, n: usize) -> Vec<Record> {
    let mut got = Vec::new();
    let all = async {
        while got.len() < n {
            match source.poll(1024).await.unwrap() {
                SourceEvent::Records { records, .. } => got.extend(records),
                SourceEvent::Idle | SourceEvent::Assigned(_) | SourceEvent::Revoked(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    };
    let timeout = common::process::step_timeout();
    if tokio::time::timeout(timeout, all).await.is_err() {
        panic!(
            "only {} of {n} records arrived within {timeout:?}",
            got.len()
        );
    }
    got
}

#[tokio::test(flavor = "multi_thread")]
async fn records_round_trip_with_keys_headers_and_timestamps() {
    let broker = Broker::start();
    broker.topic("roundtrip", 1).await;
    let sent = records(200);
    produce(&broker, "roundtrip", sent.clone()).await;

    let mut source = KafkaSource::builder(broker.config())
        .group("g1")
        .topic("roundtrip")
        .build()
        .unwrap();
    let got = consume(&mut source, sent.len()).await;
    assert_eq!(got.len(), sent.len());
    for (i, (sent, got)) in sent.iter().zip(&got).enumerate() {
        assert_eq!(got.value, sent.value, "record {i}");
        assert_eq!(got.key, sent.key, "record {i}");
        assert_eq!(got.headers, sent.headers, "record {i}");
        assert_eq!(got.timestamp, sent.timestamp, "record {i}");
        assert_eq!(got.position, Position::new("roundtrip", 0, i as i64));
    }
}

/// A source on several topics names each record by the topic it came
/// from (the consumer keeps the last message's topic name and must notice
/// every change).
#[tokio::test(flavor = "multi_thread")]
async fn a_source_on_several_topics_names_each_record_by_its_own_topic() {
    let broker = Broker::start();
    let topics = ["prices-a", "prices-b", "prices-c"];
    for topic in topics {
        broker.topic(topic, 2).await;
        let sent = (0..300)
            .map(|i| {
                Record::new(
                    Position::new("input", 0, i),
                    format!(r#"{{"topic":"{topic}"}}"#),
                )
            })
            .collect::<Vec<_>>();
        produce(&broker, topic, sent).await;
    }
    let mut source = KafkaSource::builder(broker.config())
        .group("g1")
        .topic("prices-a")
        .topic("prices-b")
        .topic("prices-c")
        .build()
        .unwrap();
    let got = consume(&mut source, 900).await;
    let switches = got
        .windows(2)
        .filter(|w| w[0].position.stream != w[1].position.stream)
        .count();
    for record in &got {
        let named = format!(r#"{{"topic":"{}"}}"#, record.position.stream);
        assert_eq!(record.value, named.as_bytes(), "{}", record.position);
    }
    for topic in topics {
        let from = got.iter().filter(|r| &*r.position.stream == topic).count();
        assert_eq!(from, 300, "records from {topic}");
    }
    assert!(switches >= 2, "the records came in runs of one topic each");
}

/// A source told not to read headers hands over the same records with
/// empty headers.
#[tokio::test(flavor = "multi_thread")]
async fn a_source_not_reading_headers_hands_over_records_without_them() {
    let broker = Broker::start();
    broker.topic("no-headers", 1).await;
    let sent = records(50);
    produce(&broker, "no-headers", sent.clone()).await;

    let mut source = KafkaSource::builder(broker.config())
        .group("g1")
        .topic("no-headers")
        .read_headers(false)
        .build()
        .unwrap();
    let got = consume(&mut source, sent.len()).await;
    for (i, (sent, got)) in sent.iter().zip(&got).enumerate() {
        assert!(!sent.headers.is_empty());
        assert!(got.headers.is_empty(), "record {i}: {:?}", got.headers);
        assert_eq!(
            (&got.value, &got.key, got.timestamp),
            (&sent.value, &sent.key, sent.timestamp),
            "record {i}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_consumer_resumes_after_its_commit_with_no_gap_and_no_duplicate() {
    let broker = Broker::start();
    broker.topic("resume", 2).await;
    let sent = records(300);
    produce(&broker, "resume", sent.clone()).await;

    // First member: read everything, commit only part of partition 0 and 1.
    let mut first = KafkaSource::builder(broker.config())
        .group("g")
        .topic("resume")
        .build()
        .unwrap();
    let got = consume(&mut first, 300).await;
    let cut = |p: i32| {
        got.iter()
            .filter(|r| r.position.partition == p)
            .nth(40)
            .unwrap()
            .position
            .clone()
    };
    first.commit(&[cut(0), cut(1)]).await.unwrap();
    drop(first);

    // Second member of the same group: continues right after the commit.
    let mut second = KafkaSource::builder(broker.config())
        .group("g")
        .topic("resume")
        .build()
        .unwrap();
    let rest = consume(&mut second, 300 - 82).await;
    let mut values: Vec<_> = got
        .iter()
        .filter(|r| r.position.offset <= 40)
        .chain(&rest)
        .map(|r| r.value.clone())
        .collect();
    values.sort();
    let mut want: Vec<_> = sent.iter().map(|r| r.value.clone()).collect();
    want.sort();
    assert_eq!(
        values, want,
        "every record exactly once across the two members"
    );
    tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            if let SourceEvent::Records { records, .. } = second.poll(10).await.unwrap() {
                panic!("duplicate delivery: {:?}", records[0].position);
            }
        }
    })
    .await
    .unwrap_err();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_topic_and_a_dead_broker_are_clear_errors() {
    let broker = Broker::start();
    let err = KafkaSource::builder(broker.config())
        .group("g")
        .topic("nope")
        .build()
        .unwrap_err();
    assert!(
        err.to_string().contains("\"nope\" does not exist")
            && err.to_string().contains(&broker.brokers()),
        "{err}"
    );
    let err = KafkaSink::builder(broker.config())
        .topic("nope")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("\"nope\" does not exist"), "{err}");
    drop(broker);

    let dead = streamlake::kafka::KafkaConfig::new("127.0.0.1:1");
    let err = KafkaSource::builder(dead)
        .group("g")
        .topic("t")
        .connect_timeout(Duration::from_secs(2))
        .build()
        .unwrap_err();
    assert!(
        err.to_string().contains("127.0.0.1:1") && err.is_retryable(),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_left_without_partitions_while_they_lag_is_found_stuck_and_rejoins() {
    let broker = Broker::start();
    broker.topic("held", 1).await;
    produce(&broker, "held", records(100)).await;
    // A member that holds the only partition and never commits: alive, but
    // nobody makes progress on the partition.
    let hog = common::broker::Hog::join(&broker, "stuck", "held");

    let mut source = KafkaSource::builder(broker.config())
        .group("stuck")
        .topic("held")
        .stall_window(Some(Duration::from_secs(2)))
        .build()
        .unwrap();
    let found = async {
        while source.stalls_detected() == 0 {
            if let SourceEvent::Records { records, .. } = source.poll(1024).await.unwrap() {
                panic!(
                    "got {:?} while the hog holds the partition",
                    records[0].position
                );
            }
        }
    };
    common::process::within(
        "the liveness guard finding the member stuck",
        common::process::step_timeout(),
        || broker.diagnose("stuck", "held", 1),
        found,
    )
    .await;

    // The hog leaves (once the rejoin's rebalance is over, see
    // `wait_formed`): the member that rejoined gets the partition and reads
    // it all.
    broker.wait_formed("stuck", 2);
    drop(hog);
    let got = consume(&mut source, 100).await;
    assert_eq!(got.len(), 100);
}
