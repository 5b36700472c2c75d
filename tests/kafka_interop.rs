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

/// A header key that is not UTF-8 (kafka-python can send one, as can any
/// non-Java producer) used to panic the consumer's polling thread: the run
/// then idled and exited 0 with nothing written. Now the message goes to
/// the bad-input policy, named by topic/partition/offset, and every other
/// record lands.
#[tokio::test(flavor = "multi_thread")]
async fn a_header_key_that_is_not_utf8_goes_through_the_policy() {
    let broker = Broker::start();
    broker.topic("stock", 1).await;
    let mut ticks = StockTicks::new(9);
    let lines: Vec<String> = (0..200)
        .map(|_| String::from_utf8(ticks.next_row().value.to_vec()).unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("lines.txt");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let out = common::process::output(
        "kafka-python",
        Command::new(python("kafka"))
            .arg(client())
            .args(["produce", &broker.brokers(), "stock", "100"])
            .stdin(std::fs::File::open(&input).unwrap()),
        common::process::step_timeout(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let lake = dir.path().join("lake");
    let run = |policy: &str| {
        common::process::output(
            "kafka_to_lake",
            Command::new(example("kafka_to_lake"))
                .args(["--brokers", &broker.brokers(), "--topic", "stock"])
                .args(["--group", "headers", "--on-error", policy])
                .args(["--lake", lake.to_str().unwrap(), "--exit-when-idle", "2"]),
            common::process::step_timeout(),
        )
    };
    // fail: stops naming the message, without a panic, committing nothing past it.
    let failed = run("fail");
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(failed.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("stock/0@100") && stderr.contains("not UTF-8"),
        "{stderr}"
    );
    // dead-letter: the bad message is kept with its reason, all others land.
    let done = run("dead-letter");
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let lake = Lake::local(&lake).unwrap();
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
}
