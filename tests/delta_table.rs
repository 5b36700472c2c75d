//! Delta tables (feature `delta`): what the lake sink commits is read back
//! by an independent reader (the Python `deltalake` package) and by a
//! replay of the `_delta_log` JSON done here; a crash between the Delta
//! commit and the source commit duplicates nothing.
#![cfg(feature = "delta")]

mod common;

use std::collections::BTreeMap;

use common::delta::{expected_rows, read_with_deltalake, replay_log};
use common::trace_events::{count_events, until_events};
use common::{assert_same_rows, numbered_records};
use streamlake::{
    Column, ColumnType, DeltaOptions, Lake, LakeSink, Record, RecordSink, TableFormat,
};

fn columns() -> Vec<Column> {
    [
        ("Index", ColumnType::String),
        ("p", ColumnType::Bigint),
        ("o", ColumnType::Bigint),
        ("pad", ColumnType::String),
    ]
    .into_iter()
    .map(|(name, column_type)| Column {
        name: name.into(),
        column_type,
    })
    .collect()
}

fn delta_sink(lake: &Lake, max_records: usize) -> LakeSink {
    delta_sink_builder(lake, max_records).build().unwrap()
}

/// What [`delta_sink`] builds, to change before building.
fn delta_sink_builder(lake: &Lake, max_records: usize) -> streamlake::LakeSinkBuilder {
    LakeSink::builder(lake.clone())
        .table("stock")
        .partition_by("Index={Index}")
        .max_records_per_object(max_records)
        .table_format(TableFormat::Delta(
            DeltaOptions::new(columns()).writer("group-1"),
        ))
}

/// A [`delta_sink`] that commits one group at a time: a commit per group
/// (several groups waiting for the table go into one commit otherwise).
fn delta_sink_one_commit_at_a_time(lake: &Lake, max_records: usize) -> LakeSink {
    delta_sink_builder(lake, max_records)
        .max_commits_in_flight(1)
        .build()
        .unwrap()
}

/// A record of `t/0` at `offset`.
fn record_at(offset: i64, value: &str) -> Record {
    Record::new(streamlake::Position::new("t", 0, offset), value.to_string())
}

/// Writes and flushes `records`: what the sink refused, in offset order.
async fn write_and_flush(sink: &mut LakeSink, records: Vec<Record>) -> Vec<streamlake::Rejected> {
    let mut rejected = sink.write(records).await.unwrap();
    rejected.extend(sink.flush().await.unwrap());
    rejected.sort_by_key(|r| r.position.offset);
    rejected
}

/// `records` written in `chunk`-sized batches into a Delta sink (objects
/// of at most `max_records`) and flushed.
async fn write_delta(lake: &Lake, records: &[Record], max_records: usize, chunk: usize) {
    let mut sink = delta_sink(lake, max_records);
    for batch in records.chunks(chunk) {
        sink.write(batch.to_vec()).await.unwrap();
    }
    sink.flush().await.unwrap();
}

#[tokio::test]
async fn deltalake_reads_back_every_record_with_the_declared_schema() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path()).unwrap();
    let records = numbered_records(3_000, 3);
    write_delta(&lake, &records, 400, 500).await;

    let table = dir.path().join("stock");
    let read = read_with_deltalake(&table);
    assert_same_rows(&read.rows, &expected_rows(&records), "deltalake's rows");
    assert_eq!(read.partition_columns, ["Index"]);
    assert_eq!(
        read.schema,
        ["Index:string", "p:long", "o:long", "pad:string"]
    );

    let (files, txns) = replay_log(&table);
    assert_eq!(files.values().sum::<u64>(), 3_000);
    let want: BTreeMap<String, i64> = (0..3)
        .map(|p| (format!("streamlake/stock/group-1/t/{p}"), 999))
        .collect();
    assert_eq!(
        txns, want,
        "one txn per source partition, at its last offset"
    );
}

#[tokio::test]
async fn a_crash_after_the_delta_commit_replays_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path()).unwrap();
    let records = numbered_records(2_000, 2);
    // The first run commits to the table, then dies before the source
    // commit: its positions are lost.
    let mut first = delta_sink(&lake, 300);
    first.write(records[..1_200].to_vec()).await.unwrap();
    first.flush().await.unwrap();
    drop(first);

    // The second run is handed everything again, from offset 0.
    let mut second = delta_sink(&lake, 300);
    for chunk in records.chunks(250) {
        second.write(chunk.to_vec()).await.unwrap();
    }
    second.flush().await.unwrap();
    let durable: BTreeMap<_, _> = second
        .take_durable()
        .into_iter()
        .map(|p| (p.partition, p.offset))
        .collect();
    assert_eq!(durable, BTreeMap::from([(0, 999), (1, 999)]));

    let table = dir.path().join("stock");
    let (files, _) = replay_log(&table);
    assert_eq!(files.values().sum::<u64>(), 2_000, "log replayed by hand");
    let read = read_with_deltalake(&table);
    assert_same_rows(&read.rows, &expected_rows(&records), "deltalake's rows");
}

#[test]
fn a_template_with_the_record_time_or_an_undeclared_field_is_refused() {
    let build = |template: &str| {
        LakeSink::builder(Lake::memory())
            .partition_by(template)
            .table_format(TableFormat::Delta(DeltaOptions::new(columns())))
            .build()
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    assert!(build("Index={Index}/year={@year}").contains("record fields only"));
    assert!(build("Market={Market}").contains("\"Market\""));
}

#[tokio::test]
async fn a_store_that_ignores_conditional_writes_is_refused_for_delta() {
    use common::faulty_store::{Faults, FaultyStore};
    use streamlake::object_store::memory::InMemory;
    use streamlake::object_store::path::Path as StorePath;
    let faults = Faults {
        ignore_create: true,
        ..Faults::default()
    };
    let store = FaultyStore::new(std::sync::Arc::new(InMemory::new()), faults, 1);
    // Allowed for loose objects (at-least-once), never for a Delta log.
    let lake = Lake::new(
        std::sync::Arc::new(store),
        StorePath::default(),
        "memory://",
    )
    .allow_unconditional_writes(true);
    let mut sink = delta_sink(&lake, 100);
    // Refused at the first group, before anything is buffered or written.
    let err = sink.write(numbered_records(10, 1)).await.unwrap_err();
    assert!(
        matches!(err, streamlake::Error::Config(_)) && err.to_string().contains("If-None-Match"),
        "{err}"
    );
    assert!(sink.take_durable().is_empty());
}

/// A lake in memory behind a store that counts its Delta log requests.
fn counted_lake() -> (std::sync::Arc<common::faulty_store::FaultyStore>, Lake) {
    use common::faulty_store::{Faults, FaultyStore};
    use streamlake::object_store::memory::InMemory;
    use streamlake::object_store::path::Path as StorePath;
    let store = std::sync::Arc::new(FaultyStore::new(
        std::sync::Arc::new(InMemory::new()),
        Faults::default(),
        1,
    ));
    let lake = Lake::new(store.clone(), StorePath::default(), "memory://");
    (store, lake)
}

/// The sink keeps the `txn` versions it read or wrote while no other
/// writer commits: delta-rs looks one up by reading the log backwards to
/// the partition's last commit (to the last checkpoint for a partition
/// never committed), and the sink asked twice per group, so with many
/// source partitions every group read dozens of log entries.
#[tokio::test]
async fn a_run_reads_each_log_entry_a_bounded_number_of_times() {
    use std::sync::atomic::Ordering;
    let (store, lake) = counted_lake();
    // Sixteen source partitions committing in turn: delta-rs finds a
    // partition's `txn` by reading the log back to that partition's last
    // commit, about sixteen entries each time.
    let records = numbered_records(2_400, 16);
    let mut sink = delta_sink_one_commit_at_a_time(&lake, 10);
    for batch in records.chunks(160) {
        sink.write(batch.to_vec()).await.unwrap();
    }
    sink.flush().await.unwrap();
    let commits = common::objects(&lake, "stock/_delta_log")
        .await
        .keys()
        .filter(|key| key.ends_with(".json"))
        .count() as u64;
    assert!(commits > 50, "{commits} commits");
    let reads = store.delta_log_reads.load(Ordering::Relaxed) - commits;
    assert!(
        reads <= 3 * commits,
        "{reads} reads of log entries for {commits} commits"
    );
}

/// delta-rs cleans up expired log entries after every commit unless told
/// otherwise, and the clean-up lists the whole `_delta_log` first (on S3,
/// a LIST of every log entry, a page per thousand) before it finds
/// nothing old enough to delete. Delta cleans up when it writes a
/// checkpoint; so does the sink: only the commit that writes one (every
/// `delta.checkpointInterval` versions, 100 by default) lists the log.
#[tokio::test]
async fn commits_list_the_whole_log_only_when_they_write_a_checkpoint() {
    use std::sync::atomic::Ordering;
    let (store, lake) = counted_lake();
    let mut sink = delta_sink_one_commit_at_a_time(&lake, 10);
    let records = numbered_records(4_800, 16);
    let (first, rest) = records.split_at(160);
    // Creating and opening the table lists the log (whether it exists).
    write_and_flush(&mut sink, first.to_vec()).await;
    let lists_before = store.delta_log_lists.load(Ordering::Relaxed);
    for batch in rest.chunks(160) {
        sink.write(batch.to_vec()).await.unwrap();
    }
    sink.flush().await.unwrap();
    let lists = store.delta_log_lists.load(Ordering::Relaxed) - lists_before;
    let log = common::objects(&lake, "stock/_delta_log").await;
    let commits = log.keys().filter(|key| key.ends_with(".json")).count();
    let checkpoints = log
        .keys()
        .filter(|key| key.ends_with(".checkpoint.parquet"))
        .count();
    assert!(
        commits > 100 && checkpoints == 1,
        "{commits} commits, {checkpoints} checkpoints"
    );
    assert_eq!(
        lists, 1,
        "listings of the whole log for {commits} commits and one checkpoint"
    );
}

/// While a commit to the log runs, the groups whose files finish
/// uploading wait for the table; the next commit takes all of them, one
/// `txn` per source partition (delta-rs replays the table's file list
/// after every commit, so fewer commits cost less as the table grows).
/// Each partition still becomes durable in offset order, nothing is lost
/// or written twice.
#[tokio::test(flavor = "multi_thread")]
async fn groups_that_wait_for_a_commit_go_into_the_next_one_together() {
    let (store, lake) = counted_lake();
    let mut sink = delta_sink_builder(&lake, 10)
        .max_commits_in_flight(4)
        .build()
        .unwrap();
    // Offsets 0..=20 of four partitions of the topic `grouped`, one Index
    // each (one file per group); the first ten of each make the table and
    // its first commits.
    let records = |offsets: std::ops::RangeInclusive<i64>| -> Vec<Record> {
        let indexes = ["HSI", "NYA", "N225", "GDAXI"];
        offsets
            .flat_map(|o| (0..4).map(move |p| (p, o)))
            .map(|(p, o)| {
                let value = format!(r#"{{"Index":"{}","p":{p},"o":{o},"pad":""}}"#, indexes[p]);
                Record::new(streamlake::Position::new("grouped", p as i32, o), value)
            })
            .collect()
    };
    write_and_flush(&mut sink, records(0..=9)).await;
    let versions_before = log_entries(&lake).await.len();

    // Offset 20 closes each partition's group 10..=19: four commits in
    // flight. The first to reach the log is held there until all four
    // groups wait for the table (a trace event each, after its files are
    // up).
    let mut waiting = count_events(&["grouped/", "..=19 wait for the Delta table"]);
    store.hold_log_entries();
    sink.write(records(10..=20)).await.unwrap();
    store.until_puts_held(1).await;
    until_events(&mut waiting, 4, "groups waiting for the table").await;
    store.release_puts();
    tokio::time::timeout(std::time::Duration::from_secs(60), sink.flush())
        .await
        .expect("the commits released did not end within a minute")
        .unwrap();
    let durable: BTreeMap<i32, i64> = sink
        .take_durable()
        .into_iter()
        .map(|p| (p.partition, p.offset))
        .collect();
    assert_eq!(
        durable,
        BTreeMap::from([(0, 20), (1, 20), (2, 20), (3, 20)])
    );

    let entries = log_entries(&lake).await;
    let holding_19: Vec<usize> = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.txns.values().any(|v| *v == 19))
        .map(|(version, _)| version)
        .collect();
    assert!(
        !holding_19.is_empty() && holding_19.len() <= 2,
        "the four groups ending at offset 19 went into versions {holding_19:?} (of {} after {versions_before})",
        entries.len()
    );
    let records_in_log: u64 = entries.iter().map(|e| e.records).sum();
    assert_eq!(records_in_log, 84, "records the log's add actions count");
    let last: BTreeMap<String, i64> = entries.iter().flat_map(|e| e.txns.clone()).collect();
    assert_eq!(last.len(), 4, "{last:?}");
    assert!(last.values().all(|v| *v == 20), "{last:?}");
}

/// Records of source partition `p` of `t` at `offsets`, Index `HSI`.
fn partition_records(p: i32, offsets: std::ops::RangeInclusive<i64>) -> Vec<Record> {
    offsets
        .map(|o| {
            let value = format!(r#"{{"Index":"HSI","p":{p},"o":{o},"pad":""}}"#);
            Record::new(streamlake::Position::new("t", p, o), value)
        })
        .collect()
}

/// A sink of writer `writer` into the table `stock` of `lake`.
fn writer_sink(lake: &Lake, writer: &str) -> LakeSink {
    LakeSink::builder(lake.clone())
        .table("stock")
        .partition_by("Index={Index}")
        .max_records_per_object(100)
        .table_format(TableFormat::Delta(
            DeltaOptions::new(columns()).writer(writer),
        ))
        .build()
        .unwrap()
}

/// On top of its own last commit the sink writes the next log entry
/// itself (delta-rs's commit would replay the table's file list). When
/// another writer took that version, the entry is not overwritten: the
/// sink reads the table again and commits after it.
#[tokio::test(flavor = "multi_thread")]
async fn a_commit_that_finds_its_version_taken_commits_after_the_other_writer() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path()).unwrap();
    let mut sinks = [writer_sink(&lake, "a"), writer_sink(&lake, "b")];
    let mut all = Vec::new();
    // Sink a's third commit would be version 3 on top of its own 2; b
    // wrote 3 first. b's second likewise finds a's.
    for (writer, offsets) in [
        (0, 0..=9),
        (0, 10..=19),
        (1, 0..=9),
        (0, 20..=29),
        (1, 10..=19),
    ] {
        let records = partition_records(writer as i32, offsets);
        let refused = write_and_flush(&mut sinks[writer], records.clone()).await;
        assert!(refused.is_empty());
        all.extend(records);
    }
    let table = dir.path().join("stock");
    let (files, txns) = replay_log(&table);
    assert_eq!(files.values().sum::<u64>(), 50, "records in the log");
    assert_eq!(
        txns,
        BTreeMap::from([
            ("streamlake/stock/a/t/0".to_string(), 29),
            ("streamlake/stock/b/t/1".to_string(), 19)
        ])
    );
    let read = read_with_deltalake(&table);
    assert_same_rows(&read.rows, &expected_rows(&all), "deltalake's rows");
}

/// A second writer of the same partition (a zombie of the same group)
/// committed offsets this sink is about to commit on top of its own last
/// commit: the lost version sends the sink back to the table, which holds
/// those offsets already, and the commit is refused instead of written
/// twice.
#[tokio::test(flavor = "multi_thread")]
async fn a_zombie_writer_of_the_same_partition_is_found_when_the_version_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path()).unwrap();
    let mut sink = writer_sink(&lake, "a");
    write_and_flush(&mut sink, partition_records(0, 0..=9)).await;
    write_and_flush(&mut sink, partition_records(0, 10..=19)).await;
    let mut zombie = writer_sink(&lake, "a");
    write_and_flush(&mut zombie, partition_records(0, 20..=29)).await;

    sink.write(partition_records(0, 20..=29)).await.unwrap();
    let err = sink.flush().await.unwrap_err();
    assert!(
        matches!(err, streamlake::Error::Conflict { .. }) && err.to_string().contains("owns t/0"),
        "{err}"
    );
    let (files, txns) = replay_log(&dir.path().join("stock"));
    assert_eq!(files.values().sum::<u64>(), 30, "records in the log");
    assert_eq!(txns["streamlake/stock/a/t/0"], 29);
}

/// delta-rs brings its snapshot to every version it commits, reading the
/// new log entry and replaying the table's whole file list. On top of its
/// own last commit the sink writes the next entry itself: with sixteen
/// partitions committing one group at a time, no log entry is read after
/// the first commits (no checkpoint falls in between).
#[tokio::test]
async fn commits_on_top_of_the_sinks_own_read_no_log_entry() {
    use std::sync::atomic::Ordering;
    let (store, lake) = counted_lake();
    let mut sink = delta_sink_one_commit_at_a_time(&lake, 10);
    let records = numbered_records(2_400, 16);
    // Every partition's first group: the table is read for each.
    let (first, rest) = records.split_at(480);
    write_and_flush(&mut sink, first.to_vec()).await;
    let commits_before = log_entries(&lake).await.len();
    let reads_before = store.delta_log_reads.load(Ordering::Relaxed);
    for batch in rest.chunks(160) {
        sink.write(batch.to_vec()).await.unwrap();
    }
    sink.flush().await.unwrap();
    // (Reading the log here reads its entries too.)
    let reads = store.delta_log_reads.load(Ordering::Relaxed) - reads_before;
    let entries = log_entries(&lake).await;
    let commits = entries.len() - commits_before;
    assert!(
        commits > 30 && entries.len() < 99,
        "{commits} commits, {} versions",
        entries.len()
    );
    assert_eq!(reads, 0, "log entries read for {commits} commits");
    let records_in_log: u64 = entries.iter().map(|e| e.records).sum();
    assert_eq!(records_in_log, 2_400);
}

/// A table with features beyond writer version 2 (here the change data
/// feed, writer version 4) may need more in a commit than `add`s and
/// `txn`s: every commit of the sink goes through delta-rs, which reads
/// each new entry back.
#[tokio::test(flavor = "multi_thread")]
async fn a_table_with_writer_features_is_committed_through_delta_rs() {
    use deltalake_core::kernel::{DataType, StructField};
    use deltalake_core::logstore::{StorageConfig, default_logstore};
    use deltalake_core::table::config::TableProperty;
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use streamlake::object_store::path::Path as StorePath;
    use streamlake::object_store::prefix::PrefixStore;
    use streamlake::table::delta::deltalake_core;
    // The table made by delta-rs where the sink will find it: its log
    // store over the same store, as the sink's own is.
    let (store, lake) = counted_lake();
    let root: Arc<dyn streamlake::object_store::ObjectStore> = store.clone();
    let prefixed = Arc::new(PrefixStore::new(root.clone(), StorePath::from("stock")));
    let url = url::Url::parse("streamlake://lake/stock/").unwrap();
    let log_store = default_logstore(prefixed, root, &url, &StorageConfig::default());
    let fields = [
        ("Index", DataType::STRING),
        ("p", DataType::LONG),
        ("o", DataType::LONG),
        ("pad", DataType::STRING),
    ];
    deltalake_core::operations::create::CreateBuilder::new()
        .with_log_store(log_store)
        .with_columns(fields.map(|(name, ty)| StructField::new(name, ty, true)))
        .with_partition_columns(["Index"])
        .with_configuration_property(TableProperty::EnableChangeDataFeed, Some("true"))
        .await
        .unwrap();

    let mut sink = delta_sink_one_commit_at_a_time(&lake, 10);
    let records = numbered_records(960, 16);
    let (first, rest) = records.split_at(160);
    write_and_flush(&mut sink, first.to_vec()).await;
    let commits_before = log_entries(&lake).await.len();
    let reads_before = store.delta_log_reads.load(Ordering::Relaxed);
    write_and_flush(&mut sink, rest.to_vec()).await;
    let reads = store.delta_log_reads.load(Ordering::Relaxed) - reads_before;
    let entries = log_entries(&lake).await;
    let commits = entries.len() - commits_before;
    assert!(commits >= 16, "{commits} commits");
    assert!(
        reads >= commits as u64,
        "{reads} log entries read for {commits} commits"
    );
    let records_in_log: u64 = entries.iter().map(|e| e.records).sum();
    assert_eq!(records_in_log, 960);
}

/// delta-kernel's default engine reads up to 1,000 log files at once,
/// each through a decoder sized for 1,000 rows, and the allocator keeps
/// what they free: 5M records into 256 partitions peaked at 462 MiB. The
/// sink's log store has it read eight at a time (374 MiB). A new sink
/// reads the whole log of a table of 90 versions when it opens it.
#[tokio::test(flavor = "multi_thread")]
async fn the_log_is_read_eight_entries_at_a_time() {
    use common::faulty_store::{Faults, FaultyStore};
    use std::sync::atomic::Ordering;
    use streamlake::object_store::memory::InMemory;
    // Every request takes a moment, so that reads started together overlap.
    let faults = Faults {
        delay: std::time::Duration::from_millis(2),
        ..Faults::default()
    };
    let store = std::sync::Arc::new(FaultyStore::new(
        std::sync::Arc::new(InMemory::new()),
        faults,
        1,
    ));
    let lake = Lake::new(store.clone(), Default::default(), "memory://");
    // One partition, a group per 28 records or so: about 90 versions.
    let records = numbered_records(2_600, 1);
    write_delta(&lake, &records[..2_500], 10, 500).await;
    let versions = log_entries(&lake).await.len();
    assert!((60..99).contains(&versions), "{versions} versions");

    store.most_log_reads_at_once.store(0, Ordering::SeqCst);
    let reads_before = store.delta_log_reads.load(Ordering::SeqCst);
    write_delta(&lake, &records[2_500..], 10, 100).await;
    let reads = store.delta_log_reads.load(Ordering::SeqCst) - reads_before;
    let most = store.most_log_reads_at_once.load(Ordering::SeqCst);
    assert!(reads as usize >= versions, "{reads} log entries read");
    assert!(most <= 8, "{most} log entries read at once");
}

/// A checkpoint is written after its version is committed: when writing
/// it fails, the commit stands (the next interval writes one), as
/// delta-rs's own post-commit checkpoint would leave it, instead of failing
/// every group of a commit that is in the table.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_checkpoint_does_not_fail_the_commit_before_it() {
    let (store, lake) = counted_lake();
    store.fail_checkpoint_writes();
    // One partition, a group per 28 records or so: about 110 versions.
    let records = numbered_records(3_100, 1);
    let mut sink = delta_sink(&lake, 10);
    for batch in records.chunks(100) {
        sink.write(batch.to_vec()).await.unwrap();
    }
    sink.flush().await.unwrap();
    let durable = sink.take_durable();
    assert_eq!(durable.last().map(|p| p.offset), Some(3_099));
    let log = common::objects(&lake, "stock/_delta_log").await;
    assert!(
        !log.keys().any(|k| k.ends_with(".checkpoint.parquet")),
        "a checkpoint was written"
    );
    let entries = log_entries(&lake).await;
    assert!(entries.len() > 100, "{} versions", entries.len());
    let records_in_log: u64 = entries.iter().map(|e| e.records).sum();
    assert_eq!(records_in_log, 3_100);
    assert!(store.failed.load(std::sync::atomic::Ordering::Relaxed) >= 1);
}

/// A sink that found no table creates it with its first commit; another
/// writer may create it first and commit offsets of the same partition
/// (a zombie of the same group). The table's `txn`s are checked after the
/// creation, so the sink's commit is refused instead of adding the same
/// records again.
#[tokio::test(flavor = "multi_thread")]
async fn a_table_created_by_another_writer_first_is_checked_before_the_commit() {
    use common::faulty_store::{Faults, FaultyStore};
    use std::sync::Arc;
    use streamlake::object_store::memory::InMemory;
    let shared = Arc::new(InMemory::new());
    let held = Arc::new(FaultyStore::new(shared.clone(), Faults::default(), 1));
    let inferred = |lake: Lake| {
        LakeSink::builder(lake)
            .table("stock")
            .partition_by("Index={Index}")
            .table_format(TableFormat::Delta(DeltaOptions::inferred().writer("a")))
            .build()
            .unwrap()
    };
    // The sink's creation of the table waits at its first log entry.
    held.hold_log_entries();
    let mut sink = inferred(Lake::new(held.clone(), Default::default(), "memory://"));
    let first = tokio::spawn(async move {
        sink.write(partition_records(0, 0..=9)).await.unwrap();
        sink.flush().await
    });
    held.until_puts_held(1).await;
    // Meanwhile the zombie creates the table and commits the same offsets.
    let zombie_lake = Lake::new(shared.clone(), Default::default(), "memory://");
    let mut zombie = inferred(zombie_lake.clone());
    write_and_flush(&mut zombie, partition_records(0, 0..=9)).await;
    held.release_puts();

    let err = tokio::time::timeout(std::time::Duration::from_secs(60), first)
        .await
        .expect("the sink's commit did not end within a minute of its release")
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(err, streamlake::Error::Conflict { .. }) && err.to_string().contains("owns t/0"),
        "{err}"
    );
    let entries = log_entries(&zombie_lake).await;
    let records_in_log: u64 = entries.iter().map(|e| e.records).sum();
    assert_eq!(records_in_log, 10, "records in the log");
}

/// One entry of a table's `_delta_log`, read here: the records its `add`
/// actions count and its `txn` versions by app id.
struct LogEntry {
    records: u64,
    txns: BTreeMap<String, i64>,
}

/// The log entries of the table `stock` in `lake`, in version order.
async fn log_entries(lake: &Lake) -> Vec<LogEntry> {
    let log = common::objects(lake, "stock/_delta_log").await;
    let mut entries = Vec::new();
    for (key, bytes) in log.iter().filter(|(key, _)| key.ends_with(".json")) {
        let version: usize = key.rsplit('/').next().unwrap()[..20].parse().unwrap();
        assert_eq!(version, entries.len(), "{key}: a version missing before it");
        let mut entry = LogEntry {
            records: 0,
            txns: BTreeMap::new(),
        };
        for line in std::str::from_utf8(bytes).unwrap().lines() {
            let action: serde_json::Value = serde_json::from_str(line).unwrap();
            if let Some(stats) = action["add"]["stats"].as_str() {
                let stats: serde_json::Value = serde_json::from_str(stats).unwrap();
                entry.records += stats["numRecords"].as_u64().unwrap();
            }
            if let Some(txn) = action.get("txn") {
                let app_id = txn["appId"].as_str().unwrap().to_string();
                let previous = entry.txns.insert(app_id, txn["version"].as_i64().unwrap());
                assert!(previous.is_none(), "{key}: two txn actions of one app id");
            }
        }
        entries.push(entry);
    }
    entries
}

/// On a real S3 API (moto, conditional writes honoured): the log goes
/// through the lake's own S3 store, and deltalake reads the table there.
#[cfg(feature = "s3")]
#[tokio::test(flavor = "multi_thread")]
async fn a_table_on_s3_is_read_back_by_deltalake() {
    use common::delta::read_with_deltalake_at;
    let s3 = common::s3::S3Server::start();
    s3.bucket("lake");
    let lake = s3.lake("s3://lake/data");
    let records = numbered_records(2_000, 2);
    write_delta(&lake, &records, 300, 400).await;
    let read = read_with_deltalake_at("s3://lake/data/stock", &s3.env());
    assert_same_rows(
        &read.rows,
        &expected_rows(&records),
        "deltalake's rows from S3",
    );
    assert_eq!(read.partition_columns, ["Index"]);
}

/// The table's data files on disk (relative paths), live or not.
fn files_on_disk(table: &std::path::Path) -> std::collections::BTreeSet<String> {
    let mut found = std::collections::BTreeSet::new();
    for entry in walk(table) {
        let relative = entry
            .strip_prefix(table)
            .unwrap()
            .to_string_lossy()
            .to_string();
        if relative.ends_with(".parquet") && !relative.starts_with("_delta_log") {
            found.insert(relative);
        }
    }
    found
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn optimize_compacts_small_files_and_vacuum_removes_only_what_no_commit_references() {
    use std::time::Duration;
    use streamlake::table::delta::{optimize, vacuum};
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path()).unwrap();
    let records = numbered_records(3_000, 3);
    write_delta(&lake, &records, 100, 300).await;
    let table = dir.path().join("stock");
    let (before, txns) = replay_log(&table);
    assert!(before.len() >= 30, "{} small files", before.len());

    let optimized = optimize(&lake, "stock", 64 << 20).await.unwrap();
    assert_eq!(optimized.files_removed, before.len() as u64);
    let (after, txns_after) = replay_log(&table);
    assert_eq!(after.len(), 3, "one file per Index partition: {after:?}");
    assert_eq!(optimized.files_added, 3);
    assert_eq!(txns_after, txns, "positions unchanged");
    let read = read_with_deltalake(&table);
    assert_same_rows(&read.rows, &expected_rows(&records), "rows after optimize");

    // An attempt that uploaded and died before its commit left an orphan.
    let live = after.keys().next().unwrap().clone();
    let orphan = "Index=HSI/part-00000-00000000000000000000-orphan.parquet";
    std::fs::copy(table.join(&live), table.join(orphan)).unwrap();
    // Young files are kept: a running writer's upload looks the same.
    let kept = vacuum(&lake, "stock", Duration::from_secs(3600))
        .await
        .unwrap();
    assert!(kept.files_deleted.is_empty(), "{:?}", kept.files_deleted);
    let vacuumed = vacuum(&lake, "stock", Duration::ZERO).await.unwrap();
    assert_eq!(
        vacuumed.files_deleted.len(),
        before.len() + 1,
        "{:?}",
        vacuumed.files_deleted
    );
    let on_disk = files_on_disk(&table);
    let live: std::collections::BTreeSet<String> = after.keys().cloned().collect();
    assert_eq!(on_disk, live, "exactly the live files remain");
    let read = read_with_deltalake(&table);
    assert_same_rows(&read.rows, &expected_rows(&records), "rows after vacuum");
}

/// The crawler records a Delta table by its log (sampling none of its
/// files), and SQL over it answers as SQL over the same records landed as
/// a Hive JSON Lines lake.
#[cfg(feature = "sql")]
#[tokio::test(flavor = "multi_thread")]
async fn sql_over_the_delta_table_equals_sql_over_a_hive_lake_of_the_same_records() {
    use streamlake::catalog::{TableKind, crawl};
    use streamlake::sql::{LakeSql, OutputFormat};
    let records = numbered_records(1_500, 3);
    let delta_dir = tempfile::tempdir().unwrap();
    let delta_lake = Lake::local(delta_dir.path()).unwrap();
    write_delta(&delta_lake, &records, 200, records.len()).await;
    let hive_lake = Lake::memory();
    let mut hive = LakeSink::builder(hive_lake.clone())
        .table("stock")
        .partition_by("part={Index}")
        .build()
        .unwrap();
    hive.write(records.clone()).await.unwrap();
    hive.flush().await.unwrap();

    let (catalog, report) = crawl(&delta_lake, "").await.unwrap();
    let table = catalog.table("stock").unwrap();
    assert_eq!(table.kind, TableKind::Delta);
    assert_eq!(
        (report.objects_read, report.skipped.len()),
        (0, 0),
        "{report}"
    );
    assert!(
        table
            .athena_ddl("s3://b")
            .contains("'table_type' = 'DELTA'")
    );

    let query = r#"SELECT "Index", count(*) AS n, sum(o) AS o, sum(p) AS p, max(pad) AS pad
                   FROM stock GROUP BY "Index" ORDER BY "Index""#;
    let mut answers = Vec::new();
    for lake in [&delta_lake, &hive_lake] {
        let (catalog, _) = crawl(lake, "").await.unwrap();
        let sql = LakeSql::open(lake, &catalog).await.unwrap();
        let batches = sql.query(query).await.unwrap();
        answers.push(OutputFormat::Csv.render(&batches).unwrap());
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(
        answers[0].lines().count(),
        4,
        "a header and 3 indexes:\n{}",
        answers[0]
    );
}

/// A quiet source still commits: after the idle timeout with no new
/// record, the table holds the records and their position, while the
/// source stays open.
#[tokio::test(flavor = "multi_thread")]
async fn a_quiet_source_commits_to_the_table_after_the_idle_timeout() {
    use common::channel_source::channel_source;
    use common::process::step_timeout;
    use std::time::{Duration, Instant};
    use streamlake::{Pipeline, Position};
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path()).unwrap();
    let (source, (tx, mut commits, _drained)) = channel_source();
    let idle = Duration::from_millis(500);
    let pipeline = Pipeline::new(source, delta_sink(&lake, 100_000)).idle_timeout(idle);
    let run = tokio::spawn(pipeline.run_until(std::future::pending()));
    let records = numbered_records(50, 1);
    let sent = Instant::now();
    tx.send(records.clone()).unwrap();

    let committed = tokio::time::timeout(step_timeout(), commits.recv())
        .await
        .expect("no commit within the step timeout")
        .unwrap();
    assert!(sent.elapsed() >= idle, "committed before the idle timeout");
    assert_eq!(committed, vec![Position::new("t", 0, 49)]);
    let table = dir.path().join("stock");
    let (files, txns) = replay_log(&table);
    assert_eq!(files.values().sum::<u64>(), 50);
    assert_eq!(txns.values().copied().collect::<Vec<_>>(), [49]);

    drop(tx);
    let stats = run.await.unwrap().unwrap();
    assert_eq!(stats.records_out, 50);
}

/// A new field becomes a new nullable column (one metadata action in the
/// commit that first writes it); a value that does not fit its column is
/// refused to the bad-input policy, naming the record, and the rest land.
#[tokio::test(flavor = "multi_thread")]
async fn a_new_field_becomes_a_column_and_a_type_conflict_goes_to_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path()).unwrap();
    let mut sink = delta_sink(&lake, 100_000);
    let first = numbered_records(20, 1);
    sink.write(first.clone()).await.unwrap();
    assert!(sink.flush().await.unwrap().is_empty());

    let second = vec![
        record_at(20, r#"{"Index":"HSI","p":0,"o":20,"pad":"","Extra":1.5}"#),
        record_at(21, r#"{"Index":"HSI","p":0,"o":"twenty-one","pad":""}"#),
        record_at(22, r#"{"Index":"NYA","p":0,"o":22,"pad":"","Extra":2}"#),
    ];
    let rejected = write_and_flush(&mut sink, second.clone()).await;
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0].position.offset, 21);
    assert!(rejected[0].reason.contains('o'), "{}", rejected[0].reason);

    let read = read_with_deltalake(&dir.path().join("stock"));
    assert_eq!(
        read.schema,
        [
            "Index:string",
            "p:long",
            "o:long",
            "pad:string",
            "Extra:double"
        ]
    );
    let mut want: Vec<Record> = first;
    want.push(second[0].clone());
    want.push(second[2].clone());
    let extras: Vec<f64> = read
        .rows
        .iter()
        .filter_map(|row| serde_json::from_str::<serde_json::Value>(row).unwrap()["Extra"].as_f64())
        .collect();
    assert_eq!(read.rows.len(), want.len());
    assert_eq!(extras.len(), 2, "the two records with Extra: {extras:?}");
    let (_, txns) = replay_log(&dir.path().join("stock"));
    assert_eq!(txns.values().copied().collect::<Vec<_>>(), [22]);
}

/// With no declared columns, the first commit creates the table from its
/// records' fields (the partition field among them).
#[tokio::test(flavor = "multi_thread")]
async fn a_table_without_declared_columns_takes_them_from_the_first_records() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path()).unwrap();
    let mut sink = LakeSink::builder(lake.clone())
        .table("stock")
        .partition_by("Index={Index}")
        .table_format(TableFormat::Delta(DeltaOptions::inferred()))
        .build()
        .unwrap();
    let records = numbered_records(600, 2);
    sink.write(records.clone()).await.unwrap();
    sink.flush().await.unwrap();
    let read = read_with_deltalake(&dir.path().join("stock"));
    assert_eq!(
        read.schema,
        ["Index:string", "o:long", "p:long", "pad:string"]
    );
    assert_eq!(read.partition_columns, ["Index"]);
    assert_same_rows(
        &read.rows,
        &expected_rows(&records),
        "rows of the inferred table",
    );
}

/// Timestamp columns are Delta `timestamp`s (declared, inferred from a new
/// field, and as a partition column) that deltalake reads back as the
/// instants written; a partition value that is not of its column's type is
/// refused to the policy, naming the column, instead of entering the log
/// (where readers would fail on it), and the rest land.
#[tokio::test(flavor = "multi_thread")]
async fn timestamps_are_delta_timestamps_and_a_mistyped_partition_value_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path()).unwrap();
    let columns = vec![
        Column::new("At", ColumnType::Timestamp),
        Column::new("Day", ColumnType::Date),
        Column::new("n", ColumnType::Bigint),
    ];
    let mut sink = LakeSink::builder(lake.clone())
        .table("ticks")
        .partition_by("Day={Day}")
        .table_format(TableFormat::Delta(DeltaOptions::new(columns)))
        .build()
        .unwrap();
    let records = vec![
        record_at(
            0,
            r#"{"At":"2024-01-05T10:00:00.250Z","Day":"2024-01-05","n":1,"Seen":"2024-01-06 11:00"}"#,
        ),
        record_at(1, r#"{"At":"2024-01-05 23:59","Day":"2024-01-05","n":2}"#),
        record_at(
            2,
            r#"{"At":"2024-01-06T00:00:00Z","Day":"yesterday","n":3}"#,
        ),
        record_at(3, r#"{"At":"soon","Day":"2024-01-06","n":4}"#),
        record_at(4, r#"{"At":null,"Day":"2024-01-06","n":5}"#),
    ];
    let rejected = write_and_flush(&mut sink, records).await;
    let offsets: Vec<i64> = rejected.iter().map(|r| r.position.offset).collect();
    assert_eq!(offsets, [2, 3], "{rejected:?}");
    assert!(
        rejected[0]
            .reason
            .contains(r#"partition column Day: "yesterday" is not a date"#),
        "{}",
        rejected[0].reason
    );
    assert!(rejected[1].reason.contains("At"), "{}", rejected[1].reason);

    let read = read_with_deltalake(&dir.path().join("ticks"));
    assert_eq!(
        read.schema,
        ["At:timestamp", "Day:date", "n:long", "Seen:timestamp"]
    );
    assert_eq!(read.partition_columns, ["Day"]);
    let rows: BTreeMap<i64, serde_json::Value> = read
        .rows
        .iter()
        .map(|row| serde_json::from_str::<serde_json::Value>(row).unwrap())
        .map(|row| (row["n"].as_f64().unwrap() as i64, row))
        .collect();
    let shown = |n: i64, field: &str| rows[&n][field].as_str().map(str::to_string);
    assert_eq!(rows.keys().copied().collect::<Vec<_>>(), [1, 2, 5]);
    assert_eq!(
        shown(1, "At").as_deref(),
        Some("2024-01-05 10:00:00.250000+00:00")
    );
    assert_eq!(shown(2, "At").as_deref(), Some("2024-01-05 23:59:00+00:00"));
    assert_eq!(shown(5, "At"), None);
    assert_eq!(
        shown(1, "Seen").as_deref(),
        Some("2024-01-06 11:00:00+00:00")
    );
    assert_eq!(shown(1, "Day").as_deref(), Some("2024-01-05"));
    assert_eq!(shown(5, "Day").as_deref(), Some("2024-01-06"));
}

/// Every 100th version gets a checkpoint (Delta's default
/// `delta.checkpointInterval`), so a reader's log replay stays short; the
/// table read from it holds every record.
#[tokio::test(flavor = "multi_thread")]
async fn a_checkpoint_is_written_at_the_hundredth_version() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path()).unwrap();
    // A group closes when one of its three objects reaches 10 records
    // (28 records): 108 commits after the create (version 0).
    let records = numbered_records(3_000, 1);
    write_delta(&lake, &records, 10, 100).await;
    let log = dir.path().join("stock/_delta_log");
    assert!(
        log.join("00000000000000000099.checkpoint.parquet").exists(),
        "no checkpoint at version 99 in {}",
        log.display()
    );
    let last: serde_json::Value =
        serde_json::from_slice(&std::fs::read(log.join("_last_checkpoint")).unwrap()).unwrap();
    assert_eq!(last["version"], 99, "{last}");
    let read = read_with_deltalake(&dir.path().join("stock"));
    assert_same_rows(
        &read.rows,
        &expected_rows(&records),
        "rows read through the checkpoint",
    );
}

/// Delta compares column names ignoring case: a field that differs from a
/// column (or from another new field) only in case cannot become a column
/// of its own. Such a record is refused to the policy, naming the field,
/// instead of failing every commit of its group again and again (or
/// having that field silently dropped); the rest land.
#[tokio::test(flavor = "multi_thread")]
async fn a_field_differing_from_a_column_only_in_case_is_refused_not_a_failed_commit() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path()).unwrap();
    let mut sink = delta_sink(&lake, 100_000);
    let records = vec![
        record_at(0, r#"{"Index":"HSI","p":0,"o":0,"pad":"","Note":"a"}"#),
        record_at(1, r#"{"Index":"HSI","p":0,"o":1,"pad":"","PAD":"x"}"#),
        record_at(2, r#"{"Index":"HSI","p":0,"o":2,"pad":"","note":"b"}"#),
        record_at(3, r#"{"Index":"NYA","p":0,"o":3,"pad":"","Note":null}"#),
    ];
    let rejected = write_and_flush(&mut sink, records.clone()).await;
    let offsets: Vec<i64> = rejected.iter().map(|r| r.position.offset).collect();
    assert_eq!(offsets, [1, 2], "{rejected:?}");
    assert!(
        rejected[0].reason.contains("PAD") && rejected[0].reason.contains("case"),
        "{}",
        rejected[0].reason
    );
    assert!(
        rejected[1].reason.contains("note"),
        "{}",
        rejected[1].reason
    );

    let read = read_with_deltalake(&dir.path().join("stock"));
    assert_eq!(
        read.schema,
        [
            "Index:string",
            "p:long",
            "o:long",
            "pad:string",
            "Note:string"
        ]
    );
    let want = [records[0].clone(), records[3].clone()];
    assert_same_rows(
        &read.rows,
        &expected_rows(&want),
        "rows without the clashing records",
    );
}

/// A delta-rs log store handed in by the user, counting the commits it
/// writes: the default log store over a file system that honours
/// conditional creates.
#[derive(Debug)]
struct CountingLogStore {
    inner: streamlake::table::delta::deltalake_core::logstore::LogStoreRef,
    commits: std::sync::atomic::AtomicU64,
}

mod counting {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    use bytes::Bytes;
    use delta::DeltaResult;
    use delta::kernel::transaction::TransactionError;
    use delta::logstore::{CommitOrBytes, LogStore, LogStoreConfig};
    use streamlake::object_store::ObjectStore;
    use streamlake::object_store::path::Path;
    use streamlake::table::delta::deltalake_core as delta;

    #[async_trait::async_trait]
    impl LogStore for super::CountingLogStore {
        // The inner store's name: delta-rs hands the default log store the
        // commit's bytes (a conditional put), others a temporary file.
        fn name(&self) -> String {
            self.inner.name()
        }
        async fn read_commit_entry(&self, version: u64) -> DeltaResult<Option<Bytes>> {
            self.inner.read_commit_entry(version).await
        }
        async fn write_commit_entry(
            &self,
            version: u64,
            commit: CommitOrBytes,
            operation: uuid::Uuid,
        ) -> Result<(), TransactionError> {
            self.inner
                .write_commit_entry(version, commit, operation)
                .await?;
            self.commits.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        async fn abort_commit_entry(
            &self,
            version: u64,
            commit: CommitOrBytes,
            operation: uuid::Uuid,
        ) -> Result<(), TransactionError> {
            self.inner
                .abort_commit_entry(version, commit, operation)
                .await
        }
        async fn get_latest_version(&self, start: u64) -> DeltaResult<u64> {
            self.inner.get_latest_version(start).await
        }
        fn object_store(&self, operation: Option<uuid::Uuid>) -> Arc<dyn ObjectStore> {
            self.inner.object_store(operation)
        }
        fn root_object_store(&self, operation: Option<uuid::Uuid>) -> Arc<dyn ObjectStore> {
            self.inner.root_object_store(operation)
        }
        fn config(&self) -> &LogStoreConfig {
            self.inner.config()
        }
        fn log_path(&self) -> &Path {
            self.inner.log_path()
        }
    }
}

/// Where the lake's store ignores conditional creates, a log store the
/// user configures (delta-rs's external locking goes there) lifts the
/// refusal: every commit goes through it, data files through the lake.
#[tokio::test(flavor = "multi_thread")]
async fn a_log_store_of_the_users_commits_where_the_lakes_store_is_refused() {
    use common::faulty_store::{Faults, FaultyStore};
    use std::sync::Arc;
    use streamlake::object_store::local::LocalFileSystem;
    use streamlake::object_store::path::Path as StorePath;
    use streamlake::object_store::prefix::PrefixStore;
    use streamlake::table::delta::deltalake_core::logstore::{StorageConfig, default_logstore};

    let dir = tempfile::tempdir().unwrap();
    let table_dir = dir.path().join("stock");
    std::fs::create_dir_all(&table_dir).unwrap();
    let files = Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
    let faults = Faults {
        ignore_create: true,
        ..Faults::default()
    };
    let store = FaultyStore::new(files, faults, 1);
    let lake = Lake::new(Arc::new(store), StorePath::default(), "faulty://")
        .allow_unconditional_writes(true);
    let root = Arc::new(LocalFileSystem::new());
    let at = StorePath::from_absolute_path(&table_dir).unwrap();
    let url = url::Url::from_directory_path(&table_dir).unwrap();
    let theirs = Arc::new(CountingLogStore {
        inner: default_logstore(
            Arc::new(PrefixStore::new(root.clone(), at)),
            root,
            &url,
            &StorageConfig::default(),
        ),
        commits: Default::default(),
    });
    let mut sink = LakeSink::builder(lake.clone())
        .table("stock")
        .partition_by("Index={Index}")
        .max_records_per_object(100)
        .table_format(TableFormat::Delta(
            DeltaOptions::new(columns()).log_store(theirs.clone()),
        ))
        .build()
        .unwrap();
    let records = numbered_records(900, 1);
    sink.write(records.clone()).await.unwrap();
    assert!(sink.flush().await.unwrap().is_empty());
    let (files, txns) = replay_log(&table_dir);
    assert_eq!(txns.values().copied().collect::<Vec<_>>(), [899]);
    assert_eq!(
        theirs.commits.load(std::sync::atomic::Ordering::Relaxed),
        1 + files.len() as u64 / 3,
        "the create and one commit per group of three files went through the given log store"
    );
    let read = read_with_deltalake(&table_dir);
    assert_same_rows(
        &read.rows,
        &expected_rows(&records),
        "rows committed through the user's log store",
    );
}
