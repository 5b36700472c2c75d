//! Kafka → Delta table against a real broker (tansu): `kafka_to_lake
//! --table-format delta` killed at random moments, and two group members
//! committing to one table with one killed; the table, read by the Python
//! `deltalake` package and by a replay of its log done here, holds every
//! record exactly once. A kill between the Delta commit and the Kafka
//! commit is among the random moments (the commit to Kafka follows each
//! table commit); `tests/delta_table.rs` makes that moment certain for the
//! sink, and a member of a group with nothing committed (as if every Kafka
//! commit had been lost) shows that the source starts after the table's
//! positions instead of reading those records again.
#![cfg(all(feature = "kafka", feature = "delta"))]

mod common;

use common::assert_same_rows;
use common::broker::Broker;
use common::delta::{expected_rows, read_with_deltalake, replay_log};
use common::kafka_scenarios::{self as scenarios, Run};
use common::process::{step_timeout, within};
use std::time::Duration;
use streamlake::kafka::KafkaSource;
use streamlake::{DeltaOptions, Lake, LakeSink, Pipeline, PipelineStats, StockTicks, TableFormat};

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

/// One in-process member of `group` writing `topic` into the Delta table
/// `stock` with the `txn` writer id `writer`, until the group has
/// committed every partition to its end.
async fn drain_into_delta(
    broker: &Broker,
    lake: &Lake,
    group: &str,
    writer: &str,
) -> PipelineStats {
    let source = KafkaSource::builder(broker.config())
        .group(group)
        .topic("resume")
        .build()
        .unwrap();
    let sink = LakeSink::builder(lake.clone())
        .table("stock")
        .partition_by("Index={Index}")
        .table_format(TableFormat::Delta(
            DeltaOptions::new(StockTicks::columns()).writer(writer),
        ))
        .build()
        .unwrap();
    let run = Pipeline::new(source, sink)
        .stop_when_idle(Duration::from_secs(1))
        .run();
    let diagnose = || broker.diagnose(group, "resume", 2);
    within(
        &format!("group {group} draining"),
        step_timeout(),
        diagnose,
        run,
    )
    .await
    .unwrap()
}

/// The table's `txn` positions are ahead of the group's committed offsets
/// (here: a group that never committed, the extreme of a crash between the
/// Delta commit and the Kafka commit): the member starts after them, reads
/// only what the table does not hold, and commits the positions to Kafka
/// so that the group counts as drained even when nothing new arrived.
#[tokio::test(flavor = "multi_thread")]
async fn a_member_starts_after_the_tables_positions_when_the_group_is_behind_them() {
    let broker = Broker::start();
    broker.topic("resume", 2).await;
    let mut sent = broker.produce_stock("resume", 600).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path()).unwrap();

    let first = drain_into_delta(&broker, &lake, "first", "lake-writer").await;
    assert_eq!(first.records_in, 600);

    sent.extend(broker.produce_stock_seeded("resume", 250, 7).await);
    let second = drain_into_delta(&broker, &lake, "second", "lake-writer").await;
    assert_eq!(
        second.records_in, 250,
        "a member of a group that committed nothing reads only the records the table does \
         not hold"
    );

    // Nothing new: the positions alone are committed, and the group drains.
    let third = drain_into_delta(&broker, &lake, "third", "lake-writer").await;
    assert_eq!(third.records_in, 0);

    let table = dir.path().join("stock");
    let (files, txns) = replay_log(&table);
    assert_eq!(
        files.values().sum::<u64>(),
        850,
        "records in the log's live files"
    );
    assert_eq!(txns.len(), 2, "one txn per partition: {txns:?}");
    let read = read_with_deltalake(&table);
    assert_same_rows(
        &read.rows,
        &expected_rows(&sent),
        "the table after three groups",
    );
}
