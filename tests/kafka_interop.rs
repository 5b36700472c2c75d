//! Interoperability with an independent client (kafka-python): what
//! `stock_producer` publishes it reads, and what it publishes
//! `kafka_to_lake` writes into the lake.

#![cfg(feature = "kafka")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::broker::Broker;
use common::process::{step_timeout, within};
use common::{assert_same_rows, example, python, rows};
use streamlake::kafka::KafkaSource;
use streamlake::{BadInputPolicy, Lake, LakeSink, Pipeline, Position, StockTicks};

fn client() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/kafka_client.py")
}

/// `n` stock rows of `seed` as JSON lines.
fn stock_lines(seed: u64, n: usize) -> Vec<String> {
    let mut ticks = StockTicks::new(seed);
    (0..n)
        .map(|_| String::from_utf8(ticks.next_row().value.to_vec()).unwrap())
        .collect()
}

/// Publishes `lines` to topic `stock` with kafka-python (`extra`: its
/// further arguments).
fn produce_with_kafka_python(broker: &Broker, dir: &Path, lines: &[String], extra: &[&str]) {
    let input = dir.join("lines.txt");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let out = common::process::output(
        "kafka-python",
        Command::new(python("kafka"))
            .arg(client())
            .args(["produce", &broker.brokers(), "stock"])
            .args(extra)
            .stdin(std::fs::File::open(&input).unwrap()),
        common::process::step_timeout(),
    );
    assert!(
        out.status.success(),
        "kafka-python producer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `kafka_to_lake` on topic `stock` into the local `lake`, until idle.
fn kafka_to_lake(broker: &Broker, lake: &Path, args: &[&str]) -> Output {
    common::process::output(
        "kafka_to_lake",
        Command::new(example("kafka_to_lake"))
            .args(["--brokers", &broker.brokers(), "--topic", "stock"])
            .args(["--lake", lake.to_str().unwrap()])
            .args(args),
        common::process::step_timeout(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn stock_producer_messages_are_read_by_kafka_python() {
    let broker = Broker::start();
    broker.topic("stock", 3).await;
    let out = common::process::output(
        "stock_producer",
        Command::new(example("stock_producer")).args([
            "--brokers",
            &broker.brokers(),
            "--topic",
            "stock",
            "--synthetic",
            "500",
            "--key-field",
            "Index",
        ]),
        common::process::step_timeout(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = common::process::output(
        "kafka-python",
        Command::new(python("kafka")).arg(client()).args([
            "consume",
            &broker.brokers(),
            "stock",
            "500",
        ]),
        common::process::step_timeout(),
    );
    assert!(
        out.status.success(),
        "kafka-python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut got: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    got.sort();
    let mut want = stock_lines(42, 500); // the example's default seed
    want.sort();
    assert_same_rows(&got, &want, "read by kafka-python");
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_python_messages_land_in_the_lake() {
    let broker = Broker::start();
    broker.topic("stock", 3).await;
    let mut lines = stock_lines(7, 300);
    let dir = tempfile::tempdir().unwrap();
    produce_with_kafka_python(&broker, dir.path(), &lines, &[]);

    let lake = dir.path().join("lake");
    let out = kafka_to_lake(
        &broker,
        &lake,
        &["--group", "interop", "--exit-when-idle", "3"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lines.sort();
    assert_same_rows(
        &rows(&Lake::local(&lake).unwrap(), "stock").await,
        &lines,
        "written by kafka_to_lake",
    );
}

/// A library pipeline, `KafkaSource` (reading headers) → `LakeSink`, from
/// topic `stock` until idle.
async fn lake_from_kafka(
    broker: &Broker,
    group: &str,
    lake: &Lake,
    policy: BadInputPolicy,
) -> streamlake::Result<streamlake::PipelineStats> {
    let source = KafkaSource::builder(broker.config())
        .group(group)
        .topic("stock")
        .build()
        .unwrap();
    let sink = LakeSink::builder(lake.clone())
        .table("stock")
        .partition_by("index={Index}")
        .build()
        .unwrap();
    let run = Pipeline::new(source, sink)
        .on_bad_input(policy)
        .stop_when_idle(Duration::from_secs(2))
        .run();
    let diagnose = || broker.diagnose(group, "stock", 1);
    within(group, step_timeout(), diagnose, run).await
}

/// A header key that is not UTF-8 (kafka-python can send one, as can any
/// non-Java producer) used to panic the consumer's polling thread: the run
/// then idled and exited 0 with nothing written. Now a source reading
/// headers sends the message to the bad-input policy, named by
/// topic/partition/offset, and every other record lands; `kafka_to_lake`
/// does not read headers (the lake keeps values only), so it lands every
/// record.
#[tokio::test(flavor = "multi_thread")]
async fn a_header_key_that_is_not_utf8_goes_through_the_policy() {
    let broker = Broker::start();
    broker.topic("stock", 1).await;
    let lines = stock_lines(9, 200);
    let dir = tempfile::tempdir().unwrap();
    // The message at offset 100 gets a header whose key is not UTF-8.
    produce_with_kafka_python(&broker, dir.path(), &lines, &["100"]);

    // fail: stops naming the message, without a panic.
    let err = lake_from_kafka(&broker, "fail", &Lake::memory(), BadInputPolicy::Fail)
        .await
        .unwrap_err();
    assert_eq!(err.position(), Some(&Position::new("stock", 0, 100)));
    assert!(err.to_string().contains("not UTF-8"), "{err}");
    // dead-letter: the bad message is kept with its reason, all others land.
    let lake = Lake::memory();
    let policy = BadInputPolicy::dead_letter_to(&lake);
    lake_from_kafka(&broker, "dead-letter", &lake, policy)
        .await
        .unwrap();
    let mut want = lines.clone();
    want.remove(100);
    want.sort();
    assert_same_rows(&rows(&lake, "stock").await, &want, "the good records");
    let letters = common::objects(&lake, "_errors").await;
    let letter: serde_json::Value =
        serde_json::from_slice(&letters["_errors/stock+0+00000000000000000100.json"]).unwrap();
    assert_eq!(letter["raw"], lines[100].as_str());
    assert!(
        letter["reason"].as_str().unwrap().contains("not UTF-8"),
        "{letter}"
    );

    // kafka_to_lake reads no headers: the message lands like the others.
    let lake = dir.path().join("lake");
    let args = [
        "--group",
        "headers",
        "--on-error",
        "fail",
        "--exit-when-idle",
        "2",
    ];
    let done = kafka_to_lake(&broker, &lake, &args);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let mut all = lines.clone();
    all.sort();
    let lake = Lake::local(&lake).unwrap();
    assert_same_rows(&rows(&lake, "stock").await, &all, "every record");
}
