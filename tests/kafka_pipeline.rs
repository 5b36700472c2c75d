//! Kafka → lake against a real broker: bad input, a SIGKILL crash loop,
//! consumer-group scale-out with a killed member, and a broker restart.

#![cfg(feature = "kafka")]

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::broker::Broker;
use common::lake_writer::{LakeWriter, drain, follow, wait_for_commits};
use common::{Rng, assert_same_rows, objects, rows, values};
use streamlake::kafka::{KafkaSink, KafkaSource};
use streamlake::{BadInputPolicy, Error, Lake, LakeSink, MemorySource, Pipeline, Position, Record};

async fn lake_rows(lake: &Path) -> Vec<String> {
    rows(&Lake::local(lake).unwrap(), "stock").await
}

#[tokio::test(flavor = "multi_thread")]
async fn non_json_messages_go_through_the_policy_naming_topic_partition_offset() {
    let broker = Broker::start();
    broker.topic("raw", 1).await;
    let values = [r#"{"Index":"HSI"}"#, "not json", r#"{"Index":"NYA"}"#];
    let records = values
        .iter()
        .enumerate()
        .map(|(i, v)| Record::new(Position::new("in", 0, i as i64), *v));
    let sink = KafkaSink::builder(broker.config())
        .topic("raw")
        .build()
        .unwrap();
    Pipeline::new(MemorySource::new(records), sink)
        .quiet()
        .run()
        .await
        .unwrap();

    let lake_sink = |lake: &Lake| {
        LakeSink::builder(lake.clone())
            .table("raw")
            .partition_by("index={Index}")
            .build()
            .unwrap()
    };
    let source = || {
        KafkaSource::builder(broker.config())
            .group("bad")
            .topic("raw")
            .build()
            .unwrap()
    };
    let lake = Lake::memory();
    let err = Pipeline::new(source(), lake_sink(&lake))
        .stop_when_idle(Duration::from_secs(2))
        .quiet()
        .run()
        .await
        .unwrap_err();
    let Error::BadInput { position, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(position, &Position::new("raw", 0, 1), "{err}");
    assert!(err.to_string().contains("raw/0@1"), "{err}");

    // Nothing was committed by the failed run: dead-lettering now sees all three.
    let stats = Pipeline::new(source(), lake_sink(&lake))
        .on_bad_input(BadInputPolicy::dead_letter_to(&lake))
        .stop_when_idle(Duration::from_secs(2))
        .quiet()
        .run()
        .await
        .unwrap();
    assert_eq!(
        (stats.records_in, stats.records_out, stats.dead_lettered),
        (3, 2, 1)
    );
    let letters = objects(&lake, "_errors").await;
    let letter: serde_json::Value =
        serde_json::from_slice(&letters["_errors/raw+0+00000000000000000001.json"]).unwrap();
    assert_eq!(letter["raw"], "not json");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_crash_loop_leaves_every_record_exactly_once() {
    let broker = Broker::start();
    broker.topic("stock", 3).await;
    let sent = broker.produce_stock("stock", 100_000).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let writer = LakeWriter::new(&broker, lake.to_str().unwrap());
    // Each restart joins as a new member and gets the partitions once the
    // group has expired the killed one (6 s session).
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("kafka crash loop seed {seed}");
    let mut rng = Rng(seed);
    let mut kills = 0;
    while kills < 10 {
        let mut child = writer.spawn(&[]);
        let (running, stderr) = wait_for_commits(&mut child, 1 + rng.below(3) as usize);
        assert!(
            running,
            "kafka_to_lake ended before it was killed: {:?}",
            child.wait()
        );
        std::thread::sleep(Duration::from_micros(rng.below(20_000))); // a random moment, not a wait
        child.kill().unwrap();
        child.wait().unwrap();
        drain(stderr);
        kills += 1;
    }
    writer.finish(&[]);
    assert_same_rows(
        &lake_rows(&lake).await,
        &values(&sent),
        &format!("after {kills} kills"),
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_members_split_partitions_and_the_survivor_takes_over_a_killed_one() {
    let broker = Broker::start();
    broker.topic("stock", 3).await;
    let sent = broker.produce_stock("stock", 30_000).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let writer = LakeWriter::new(&broker, lake.to_str().unwrap());

    let mut a = writer.spawn(&["--exit-when-idle", "20"]);
    let mut a_log = BufReader::new(a.stderr.take().unwrap());
    let mut owned = BTreeSet::new();
    let a_running = follow(&mut a_log, &mut owned, |line, _| line.contains("committed"));
    let mut b = writer.spawn(&[]);
    let (b_running, b_log) = wait_for_commits(&mut b, 2);
    assert!(a_running && b_running, "both members committed");
    b.kill().unwrap(); // SIGKILL mid-run
    b.wait().unwrap();
    drain(b_log);
    // The survivor is assigned every partition once the group drops the
    // dead member (its session times out after 6 s).
    // A first gave B some of its partitions (B committed), then gets them
    // all back.
    let mut gave_some = false;
    assert!(
        follow(&mut a_log, &mut owned, |line, owned| {
            gave_some |= owned.len() < 3;
            gave_some && line.contains("assigned") && owned.len() == 3
        }),
        "the survivor exited owning only partitions {owned:?} (gave some to B: {gave_some})"
    );
    drain(a_log);
    let status = a.wait().unwrap();
    assert!(status.success(), "survivor failed: {status}");
    assert_same_rows(
        &lake_rows(&lake).await,
        &values(&sent),
        "after the survivor took over",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broker_restart_mid_run_loses_nothing() {
    let mut broker = Broker::start();
    broker.topic("stock", 3).await;
    let sent = broker.produce_stock("stock", 30_000).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let writer = LakeWriter::new(&broker, lake.to_str().unwrap());

    let mut child = writer.spawn(&["--exit-when-idle", "10"]);
    let (running, mut log) = wait_for_commits(&mut child, 2);
    assert!(running);
    broker.kill();
    // The pipeline reports the outage (librdkafka's transport errors) ...
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            log.read_line(&mut line).unwrap() > 0,
            "kafka_to_lake ended during the outage"
        );
        if line.contains("kafka brokers unreachable") {
            break;
        }
    }
    broker.restart();
    drain(log);
    // ... retries, and finishes with nothing lost.
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "kafka_to_lake failed after the restart: {status}"
    );
    assert_same_rows(
        &lake_rows(&lake).await,
        &values(&sent),
        "after a broker restart",
    );
}
