//! Kafka → lake against a real broker: bad input, a SIGKILL crash loop,
//! consumer-group scale-out with a killed member, and a broker restart.

#![cfg(feature = "kafka")]

mod common;

use std::path::Path;
use std::time::Duration;

use common::broker::Broker;
use common::kafka_scenarios as scenarios;
use common::lake_writer::LakeWriter;
use common::process::{step_timeout, within};
use common::{assert_same_rows, objects, rows, values};
use streamlake::kafka::{KafkaSink, KafkaSource};
use streamlake::{
    Backlog, BadInputPolicy, Error, Lake, LakeSink, MemorySource, Pipeline, Position, Record,
    RecordSource, SourceEvent,
};

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
    let diagnose = || broker.diagnose("bad", "raw", 1);
    let run = Pipeline::new(source(), lake_sink(&lake))
        .stop_when_idle(Duration::from_secs(2))
        .run();
    let err = within("the failing run", step_timeout(), diagnose, run)
        .await
        .unwrap_err();
    let Error::BadInput { position, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(position, &Position::new("raw", 0, 1), "{err}");
    assert!(err.to_string().contains("raw/0@1"), "{err}");

    // Nothing was committed by the failed run: dead-lettering now sees all three.
    let run = Pipeline::new(source(), lake_sink(&lake))
        .on_bad_input(BadInputPolicy::dead_letter_to(&lake))
        .stop_when_idle(Duration::from_secs(2))
        .run();
    let stats = within("the dead-lettering run", step_timeout(), diagnose, run)
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
    let run = scenarios::crash_loop(&broker, &[]).await;
    assert_same_rows(&lake_rows(&run.lake).await, &values(&run.sent), &run.what);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_members_split_partitions_and_the_survivor_takes_over_a_killed_one() {
    let broker = Broker::start();
    let run = scenarios::survivor_takes_over(&broker, &[]).await;
    assert_same_rows(&lake_rows(&run.lake).await, &values(&run.sent), &run.what);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broker_restart_mid_run_loses_nothing() {
    let broker = Broker::start();
    broker.topic("stock", 3).await;
    let sent = broker.produce_stock("stock", 30_000).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let writer = LakeWriter::new(&broker, lake.to_str().unwrap());

    let mut member = writer.spawn(&["--exit-when-idle", "10"]);
    assert!(member.wait_for_commits(2));
    broker.kill();
    // The pipeline reports the outage (librdkafka's transport errors) ...
    assert!(
        member.process.wait_for(
            "a report of the outage",
            step_timeout(),
            &|| String::new(),
            |line| line.contains("kafka brokers unreachable"),
        ),
        "kafka_to_lake ended during the outage"
    );
    broker.restart();
    // ... retries, and finishes with nothing lost.
    let status = member.wait();
    assert!(
        status.success(),
        "kafka_to_lake failed after the restart: {status}\n{}",
        member.process.log.recent()
    );
    assert_same_rows(
        &lake_rows(&lake).await,
        &values(&sent),
        "after a broker restart",
    );
}

/// A source that reports every backlog the pipeline asked it for.
struct Watched {
    inner: KafkaSource,
    backlogs: tokio::sync::mpsc::UnboundedSender<Vec<Backlog>>,
}

#[async_trait::async_trait]
impl RecordSource for Watched {
    async fn poll(&mut self, max_records: usize) -> streamlake::Result<SourceEvent> {
        self.inner.poll(max_records).await
    }

    async fn commit(&mut self, durable: &[Position]) -> streamlake::Result<()> {
        self.inner.commit(durable).await
    }

    async fn backlog(&mut self) -> streamlake::Result<Vec<Backlog>> {
        let backlog = self.inner.backlog().await?;
        let _ = self.backlogs.send(backlog.clone());
        Ok(backlog)
    }

    async fn resume_after(&mut self, durable: &[Position]) -> streamlake::Result<()> {
        self.inner.resume_after(durable).await
    }
}

/// A drain job whose topic still lags in partitions another member holds
/// (it died and its session has not expired; here: alive, never
/// committing) is idle but not drained: it keeps going, and drains those
/// partitions once they are handed over.
#[tokio::test(flavor = "multi_thread")]
async fn an_idle_member_is_not_drained_while_partitions_it_does_not_own_lag() {
    let broker = Broker::start();
    broker.topic("stock", 3).await;
    let sent = broker.produce_stock("stock", 3_000).await;
    let hog = common::broker::Hog::join(&broker, "drain", "stock");

    let lake = Lake::memory();
    let (tx, mut backlogs) = tokio::sync::mpsc::unbounded_channel();
    let source = Watched {
        inner: KafkaSource::builder(broker.config())
            .group("drain")
            .topic("stock")
            .build()
            .unwrap(),
        backlogs: tx,
    };
    let sink = LakeSink::builder(lake.clone())
        .table("stock")
        .partition_by("index={Index}")
        .build()
        .unwrap();
    let run = tokio::spawn(
        Pipeline::new(source, sink)
            .stop_when_idle(Duration::from_millis(500))
            .run(),
    );
    // Idle and asked, the pipeline saw partitions lag and went on: while it
    // had no partition yet, and (twice) once it held some of its own.
    let diagnose = || broker.diagnose("drain", "stock", 3);
    let mut checks_holding_some = 0;
    while checks_holding_some < 2 {
        let backlog = within("a backlog check", step_timeout(), diagnose, backlogs.recv())
            .await
            .unwrap();
        let held = hog.partitions();
        assert!(!backlog.is_empty(), "drained while the hog holds {held:?}");
        assert!(!run.is_finished(), "stopped with a backlog: {backlog:?}");
        if held.len() < 3 {
            checks_holding_some += 1;
        }
    }

    // The other member leaves: its partitions come over and are drained.
    broker.wait_formed("drain", 2);
    drop(hog);
    within("draining the rest", step_timeout(), diagnose, run)
        .await
        .unwrap()
        .unwrap();
    assert_same_rows(
        &rows(&lake, "stock").await,
        &values(&sent),
        "after the drain",
    );
}

/// tansu 0.6.0 hands a member an empty assignment for good when its
/// follower SyncGroup arrives just after the dead leader's session expired
/// (`scripts/tansu-group-stall-repro.py empty-assignment`; it is what
/// stalled the crash loop on busy machines). The liveness guard gets the
/// member out: it sees the partitions lag with nobody committing, rejoins,
/// and drains them.
#[tokio::test(flavor = "multi_thread")]
async fn a_member_stuck_with_an_empty_assignment_rejoins_and_drains() {
    let broker = Broker::start();
    broker.topic("stock", 3).await;
    broker.produce_stock("stock", 30_000).await;
    let dir = tempfile::tempdir().unwrap();
    let writer = LakeWriter::new(&broker, dir.path().join("lake").to_str().unwrap());
    let mut leader = writer.spawn(&[]);
    assert!(leader.wait_for_commits(1), "the first member ended early");
    leader.kill();
    let lagging = broker.diagnose(common::lake_writer::GROUP, "stock", 3);
    // Construct the broker's race (not a wait for anything): join 3.5 s
    // after the leader's last heartbeat, so that the follower's sync comes
    // after the leader's 6 s session ran out.
    std::thread::sleep(Duration::from_millis(3_500));
    let mut member = KafkaSource::builder(broker.config().set("session.timeout.ms", "6000"))
        .group(common::lake_writer::GROUP)
        .topic("stock")
        .stall_window(Some(Duration::from_secs(3)))
        .build()
        .unwrap();
    let drained = async {
        loop {
            match member.poll(1024).await.unwrap() {
                SourceEvent::Records { records, .. } => {
                    let last: Vec<Position> = records.iter().map(|r| r.position.clone()).collect();
                    member.commit(&last).await.unwrap();
                }
                _ if member.backlog().await.unwrap().is_empty() => break,
                _ => {}
            }
        }
    };
    within(
        "the member draining the topic",
        step_timeout(),
        || writer.diagnose(),
        drained,
    )
    .await;
    assert!(
        member.stalls_detected() >= 1,
        "the broker did not hand out the empty assignment this time (tansu fixed?)\n{lagging}"
    );
}

/// Operators scrape the pipeline's counters and the consumer lag with the
/// Prometheus exporter they already run (`kafka_to_lake --metrics-addr`).
#[tokio::test(flavor = "multi_thread")]
async fn kafka_to_lake_serves_prometheus_metrics() {
    let broker = Broker::start();
    broker.topic("stock", 3).await;
    broker.produce_stock("stock", 3_000).await;
    let dir = tempfile::tempdir().unwrap();
    let writer = LakeWriter::new(&broker, dir.path().join("lake").to_str().unwrap());
    let port = common::service::free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut member = writer.spawn(&["--metrics-addr", &addr]);
    assert!(member.wait_for_commits(1), "kafka_to_lake ended early");
    // librdkafka reports the lag with its statistics, every 5 s.
    let deadline = std::time::Instant::now() + step_timeout();
    loop {
        let body = common::service::http_get(port, "/metrics").unwrap_or_else(|e| e);
        let has = |name: &str| body.lines().any(|l| l.starts_with(name));
        if has("streamlake_records_in_total")
            && has("streamlake_records_durable_total")
            && has("streamlake_commits_total")
            && has("streamlake_kafka_consumer_lag{")
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "metrics at {addr}:\n{body}"
        );
        // Polling the endpoint, bounded by the deadline.
        std::thread::sleep(Duration::from_millis(200));
    }
    member.kill();
}
