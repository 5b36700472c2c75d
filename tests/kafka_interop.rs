//! Interoperability with an independent client (kafka-python): what
//! `stock_producer` publishes it reads, and what it publishes
//! `kafka_to_lake` writes into the lake.

#![cfg(feature = "kafka")]

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::broker::Broker;
use common::{assert_same_rows, example, python, rows};
use streamlake::{Lake, StockTicks};

fn client() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/kafka_client.py")
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
    let mut ticks = StockTicks::new(42); // the example's default seed
    let mut want: Vec<String> = (0..500)
        .map(|_| String::from_utf8(ticks.next_row().value.to_vec()).unwrap())
        .collect();
    want.sort();
    assert_same_rows(&got, &want, "read by kafka-python");
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_python_messages_land_in_the_lake() {
    let broker = Broker::start();
    broker.topic("stock", 3).await;
    let mut ticks = StockTicks::new(7);
    let mut lines: Vec<String> = (0..300)
        .map(|_| String::from_utf8(ticks.next_row().value.to_vec()).unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("lines.txt");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let out = common::process::output(
        "kafka-python",
        Command::new(python("kafka"))
            .arg(client())
            .args(["produce", &broker.brokers(), "stock"])
            .stdin(std::fs::File::open(&input).unwrap()),
        common::process::step_timeout(),
    );
    assert!(
        out.status.success(),
        "kafka-python producer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let lake = dir.path().join("lake");
    let out = common::process::output(
        "kafka_to_lake",
        Command::new(example("kafka_to_lake"))
            .args(["--brokers", &broker.brokers(), "--topic", "stock"])
            .args(["--group", "interop"])
            .args(["--lake", lake.to_str().unwrap(), "--exit-when-idle", "3"]),
        common::process::step_timeout(),
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
