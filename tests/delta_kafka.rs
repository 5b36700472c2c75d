//! Kafka → Delta table against a real broker (tansu): `kafka_to_lake
//! --table-format delta` killed at random moments, and two group members
//! committing to one table with one killed; the table, read by the Python
//! `deltalake` package and by a replay of its log done here, holds every
//! record exactly once. A kill between the Delta commit and the Kafka
//! commit is among the random moments (the commit to Kafka follows each
//! table commit); `tests/delta_table.rs` makes that moment certain.
#![cfg(all(feature = "kafka", feature = "delta"))]

mod common;

use common::assert_same_rows;
use common::broker::Broker;
use common::delta::{expected_rows, read_with_deltalake, replay_log};
use common::kafka_scenarios::{self as scenarios, Run};

const DELTA: &[&str] = &["--table-format", "delta"];

/// The table holds every record sent, once: by deltalake's rows and by
/// the `numRecords` of the live files in the log.
fn assert_exactly_once(run: &Run) {
    let table = run.lake.join("stock");
    let (files, _) = replay_log(&table);
    assert_eq!(
        files.values().sum::<u64>(),
        run.sent.len() as u64,
        "records in the log's live files {}",
        run.what
    );
    let read = read_with_deltalake(&table);
    assert_same_rows(&read.rows, &expected_rows(&run.sent), &run.what);
    assert_eq!(read.partition_columns, ["Index"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_crash_loop_leaves_every_record_in_the_table_once() {
    let broker = Broker::start();
    let run = scenarios::crash_loop(&broker, DELTA).await;
    assert_exactly_once(&run);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_members_commit_to_one_table_and_a_killed_ones_partitions_are_not_duplicated() {
    let broker = Broker::start();
    let run = scenarios::survivor_takes_over(&broker, DELTA).await;
    assert_exactly_once(&run);
    let (_, txns) = replay_log(&run.lake.join("stock"));
    let partitions: Vec<&str> = txns
        .keys()
        .map(|app| app.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(
        partitions,
        ["0", "1", "2"],
        "one txn per source partition: {txns:?}"
    );
}
