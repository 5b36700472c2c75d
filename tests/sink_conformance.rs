//! The sink conformance suite (`tests/common/conformance.rs`) on the
//! in-memory and local-directory stores, and what only a local directory
//! can show.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use common::conformance::{run_all, sink};
use common::faulty_store::{Faults, FaultyStore};
use common::{assert_same_rows, numbered_records, rows, values};
use streamlake::object_store::ObjectStore;
use streamlake::object_store::memory::InMemory;
use streamlake::{
    Error, Lake, LakeSink, Pipeline, Position, Record, RecordSink, RecordSource, SourceEvent,
    SourcePartition,
};

#[tokio::test]
async fn the_conformance_suite_passes_in_memory() {
    run_all(|_| Lake::memory()).await;
}

#[tokio::test]
async fn the_conformance_suite_passes_on_a_local_directory() {
    let dir = tempfile::tempdir().unwrap();
    run_all(|name| Lake::local(dir.path().join(name)).unwrap()).await;
}

#[tokio::test]
async fn a_failed_write_keeps_the_group_buffered_for_a_retry() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path()).unwrap();
    // A plain file where the partition directory must go makes the put fail.
    std::fs::create_dir_all(dir.path().join("stock")).unwrap();
    let blocker = dir.path().join("stock/index=NYA");
    std::fs::write(&blocker, b"in the way").unwrap();

    let records = numbered_records(30, 1);
    let mut sink = sink(&lake);
    sink.write(records.clone()).await.unwrap();
    let err = sink.flush().await.unwrap_err();
    assert!(matches!(err, Error::Store { .. }), "{err}");
    assert!(
        sink.take_durable().is_empty(),
        "nothing durable after a failed write"
    );
    assert!(sink.buffered_bytes() > 0, "the group is still buffered");

    std::fs::remove_file(&blocker).unwrap();
    sink.flush().await.unwrap();
    assert_eq!(sink.take_durable(), vec![Position::new("t", 0, 29)]);
    assert_eq!(sink.buffered_bytes(), 0);
    assert_same_rows(
        &rows(&lake, "stock").await,
        &values(&records),
        "after the retry",
    );
}

/// A lake over a store wrapped to misbehave.
fn faulty(faults: Faults, seed: u64) -> (Lake, Arc<FaultyStore>) {
    let store = Arc::new(FaultyStore::new(Arc::new(InMemory::new()), faults, seed));
    let lake = Lake::new(store.clone(), Default::default(), "memory://faulty");
    (lake, store)
}

#[tokio::test]
async fn the_conformance_suite_passes_on_a_slow_store() {
    let faults = Faults {
        delay: Duration::from_millis(1),
        ..Faults::default()
    };
    run_all(|_| faulty(faults, 1).0).await;
}

/// Commits run beside the pipeline: `write` returns while the groups it
/// closed are still uploading (here: held at the store), nothing is
/// reported durable until they are in the lake, and then in offset order.
#[tokio::test]
async fn uploads_overlap_with_filling_other_groups() {
    let (lake, store) = faulty(Faults::default(), 1);
    lake.check_writes().await.unwrap(); // the probe's puts go through
    let mut sink = sink(&lake);
    store.hold_puts_after(0);
    // 41 records per partition: each of the 3 partitions closes one group
    // of 40 (one commit in flight each) and opens the next.
    let records = numbered_records(123, 3);
    let written = tokio::time::timeout(Duration::from_secs(60), sink.write(records.clone()))
        .await
        .expect("write waited for uploads held at the store");
    assert!(written.unwrap().is_empty());
    store.until_puts_held(3).await;
    assert!(
        sink.take_durable().is_empty(),
        "nothing is durable while its upload is held"
    );
    // More records join the open groups while the uploads are held.
    let more = numbered_records(150, 3).split_off(123);
    sink.write(more).await.unwrap();
    store.release_puts();
    sink.flush().await.unwrap();
    let durable = sink.take_durable();
    assert_eq!(
        durable,
        vec![
            Position::new("t", 0, 49),
            Position::new("t", 1, 49),
            Position::new("t", 2, 49)
        ]
    );
    assert_same_rows(
        &rows(&lake, "stock").await,
        &values(&numbered_records(150, 3)),
        "after the held uploads went through",
    );
}

/// A group closed by rotation becomes durable once its commit ends, with
/// no further write or flush: a quiet source still gets its commits.
#[tokio::test]
async fn a_closed_group_is_reported_durable_without_another_write() {
    let lake = Lake::memory();
    let mut sink = sink(&lake);
    // 41 records in each of 3 partitions: each closes a group of 40.
    assert!(
        sink.write(numbered_records(123, 3))
            .await
            .unwrap()
            .is_empty()
    );
    let mut durable = BTreeMap::new();
    for _ in 0..10_000 {
        for p in sink.take_durable() {
            durable.insert(p.source_partition(), p.offset);
        }
        if durable.len() == 3 {
            break;
        }
        tokio::task::yield_now().await; // lets the commit tasks run
    }
    assert_eq!(durable.into_values().collect::<Vec<_>>(), [39, 39, 39]);
}

/// A crash while groups are uploading (some objects and markers in the
/// lake, others not) is replayed from the last committed position into
/// exactly the records, each once.
#[tokio::test]
async fn a_crash_mid_upload_replays_exactly() {
    for let_through in [0, 1, 2, 5, 20, 45] {
        let (lake, store) = faulty(Faults::default(), 1);
        let records = bucketed_records(750, 3);
        let mut first = many_objects_per_group(&lake);
        let mut committed: BTreeMap<SourcePartition, i64> = BTreeMap::new();
        assert!(
            first
                .write(records[..300].to_vec())
                .await
                .unwrap()
                .is_empty()
        );
        first.flush().await.unwrap();
        for p in first.take_durable() {
            committed.insert(p.source_partition(), p.offset);
        }
        // Each partition closes one group of about 50 objects, held
        // after `let_through` puts.
        store.hold_puts_after(let_through);
        assert!(
            first
                .write(records[300..].to_vec())
                .await
                .unwrap()
                .is_empty()
        );
        store.until_puts_held(1).await;
        for p in first.take_durable() {
            committed.insert(p.source_partition(), p.offset);
        }
        drop(first); // the crash: the commits in flight stop where they are
        store.release_puts();

        let mut second = many_objects_per_group(&lake);
        let replay: Vec<Record> = records
            .iter()
            .filter(|r| {
                committed
                    .get(&r.position.source_partition())
                    .is_none_or(|&o| r.position.offset > o)
            })
            .cloned()
            .collect();
        for chunk in replay.chunks(77) {
            second.write(chunk.to_vec()).await.unwrap();
        }
        second.flush().await.unwrap();
        assert_same_rows(
            &rows(&lake, "stock").await,
            &values(&records),
            &format!("replayed after a crash with {let_through} puts let through"),
        );
    }
}

/// Records of `partitions` source partitions, each in one of 50 buckets.
fn bucketed_records(n: i64, partitions: i32) -> Vec<Record> {
    (0..n)
        .map(|i| {
            let (partition, offset) = ((i % i64::from(partitions)) as i32, i / 3);
            Record::new(
                Position::new("t", partition, offset),
                format!(r#"{{"Index":"HSI","bucket":{},"o":{offset}}}"#, i % 50),
            )
        })
        .collect()
}

/// Groups spread over up to 50 partition paths (the records' buckets),
/// closing when one path reaches 3 records.
fn many_objects_per_group(lake: &Lake) -> LakeSink {
    LakeSink::builder(lake.clone())
        .table("stock")
        .partition_by("index={Index}/bucket={bucket}")
        .max_records_per_object(2)
        .build()
        .unwrap()
}

/// A store that overwrites on `PutMode::Create`, or refuses it, is refused
/// at the first write; allowed, it passes the suite (checked, then
/// written: at-least-once only under a concurrent writer).
#[tokio::test]
async fn a_store_without_conditional_creates_is_refused_unless_allowed() {
    for faults in [
        Faults {
            ignore_create: true,
            ..Faults::default()
        },
        Faults {
            refuse_create: true,
            ..Faults::default()
        },
    ] {
        let (lake, _) = faulty(faults, 1);
        let err = lake.check_writes().await.unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{faults:?}: {err}");
        let mut sink = sink(&lake);
        sink.write(numbered_records(10, 1)).await.unwrap();
        assert!(matches!(sink.flush().await, Err(Error::Config(_))));
        run_all(|_| faulty(faults, 1).0.allow_unconditional_writes(true)).await;
    }
}

/// A source that resumes after what was committed, as a consumer group
/// or a checkpointed file does.
struct Resumable {
    records: Vec<Record>,
    committed: Arc<Mutex<BTreeMap<SourcePartition, i64>>>,
    next: usize,
}

#[async_trait]
impl RecordSource for Resumable {
    async fn poll(&mut self, max: usize) -> streamlake::Result<SourceEvent> {
        let committed = self.committed.lock().unwrap().clone();
        let batch: Vec<Record> = self.records[self.next..]
            .iter()
            .filter(|r| {
                committed
                    .get(&r.position.source_partition())
                    .is_none_or(|c| r.position.offset > *c)
            })
            .take(max)
            .cloned()
            .collect();
        if batch.is_empty() {
            return Ok(SourceEvent::End);
        }
        let last = &batch[batch.len() - 1].position;
        self.next = self
            .records
            .iter()
            .position(|r| &r.position == last)
            .unwrap()
            + 1;
        Ok(SourceEvent::Records {
            records: batch,
            rejected: Vec::new(),
        })
    }

    async fn commit(&mut self, durable: &[Position]) -> streamlake::Result<()> {
        let mut committed = self.committed.lock().unwrap();
        for p in durable {
            committed.insert(p.source_partition(), p.offset);
        }
        Ok(())
    }
}

/// Requests fail at random (a flaky store); each failure ends the run, and
/// each restart resumes from the commit: the lake ends with every record
/// exactly once.
#[tokio::test]
async fn runs_failing_at_random_store_requests_and_restarting_end_exactly_once() {
    let records = numbered_records(3_000, 3);
    let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let committed = Arc::new(Mutex::new(BTreeMap::new()));
    let mut failures = 0;
    for seed in 1.. {
        let faults = Faults {
            fail_per_mille: 20,
            ..Faults::default()
        };
        let store = Arc::new(FaultyStore::new(inner.clone(), faults, seed));
        let lake = Lake::new(store, Default::default(), "memory://flaky");
        let source = Resumable {
            records: records.clone(),
            committed: committed.clone(),
            next: 0,
        };
        match Pipeline::new(source, sink(&lake))
            .batch_size(97)
            .run()
            .await
        {
            Ok(_) => break,
            Err(e) => {
                assert!(matches!(e, Error::Store { .. }), "{e}");
                failures += 1;
            }
        }
        assert!(seed < 1_000, "no run finished");
    }
    assert!(
        failures >= 3,
        "only {failures} runs failed: the faults were not exercised"
    );
    let lake = Lake::new(inner, Default::default(), "memory://");
    assert_same_rows(
        &rows(&lake, "stock").await,
        &values(&records),
        &format!("after {failures} failed runs"),
    );
}

/// A partition value too long for the store (a 300-byte `Index` is past a
/// local file name's 255 bytes) used to become a store error after the
/// group's marker existed, so every restart met it again. It is bad input
/// now, found before anything of it is written.
#[tokio::test]
async fn a_partition_value_too_long_for_the_store_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path()).unwrap();
    let mut records = numbered_records(20, 1);
    let long = "x".repeat(300);
    records[7] = Record::new(
        records[7].position.clone(),
        format!(r#"{{"Index":"{long}"}}"#),
    );
    let mut sink = sink(&lake);
    let rejected = sink.write(records.clone()).await.unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].position, records[7].position);
    assert!(rejected[0].reason.contains("255"), "{}", rejected[0].reason);
    sink.flush().await.unwrap();
    assert_eq!(sink.take_durable(), vec![Position::new("t", 0, 19)]);
    let mut want = records.clone();
    want.remove(7);
    assert_same_rows(&rows(&lake, "stock").await, &values(&want), "the rest");
}

/// A group whose records the encoder refuses writes its marker all the
/// same: a replay meets the same boundary instead of a conflict.
#[cfg(feature = "parquet")]
#[tokio::test]
async fn a_group_the_encoder_refuses_whole_still_records_its_boundary() {
    use streamlake::{Column, ColumnType, ParquetEncoder};
    let lake = Lake::memory();
    let parquet = || {
        LakeSink::builder(lake.clone())
            .table("stock")
            .encoder(ParquetEncoder::new(vec![Column::new(
                "n",
                ColumnType::Bigint,
            )]))
            .build()
            .unwrap()
    };
    let record = |offset: i64, n: &str| {
        Record::new(Position::new("t", 0, offset), format!(r#"{{"n":{n}}}"#))
    };
    let bad: Vec<Record> = (0..5).map(|o| record(o, "\"word\"")).collect();
    let good: Vec<Record> = (5..15).map(|o| record(o, &o.to_string())).collect();
    // First run: the refused group closes by the clock at 4, the next at
    // 9; it dies before committing anything.
    let mut first = parquet();
    assert_eq!(first.write(bad.clone()).await.unwrap().len(), 0);
    assert_eq!(first.flush().await.unwrap().len(), 5);
    first.write(good[..5].to_vec()).await.unwrap();
    first.flush().await.unwrap();
    drop(first);
    // The replay reads it all in one batch: the same boundaries, no conflict.
    let mut replay = parquet();
    let all: Vec<Record> = bad.iter().chain(&good).cloned().collect();
    let refused = replay.write(all).await.unwrap();
    let refused = refused.len() + replay.flush().await.unwrap().len();
    assert_eq!(refused, 5);
    assert_eq!(replay.take_durable(), vec![Position::new("t", 0, 14)]);
}

/// A topic or value whose name starts with `_` or `.` would be hidden from
/// crawlers, Athena and Hive; such names are escaped, and the crawler finds
/// every object.
#[tokio::test]
async fn names_starting_with_underscore_or_dot_stay_visible() {
    let lake = Lake::memory();
    let mut sink = LakeSink::builder(lake.clone())
        .table("audit")
        .partition_by("{Index}")
        .build()
        .unwrap();
    let records: Vec<Record> = [("_audit", ".x"), ("_audit", ".."), (".hidden", "_y")]
        .iter()
        .enumerate()
        .map(|(i, (topic, index))| {
            Record::new(
                Position::new(*topic, 0, i as i64),
                format!(r#"{{"Index":"{index}"}}"#),
            )
        })
        .collect();
    sink.write(records).await.unwrap();
    sink.flush().await.unwrap();
    let keys: Vec<String> = common::objects(&lake, "audit").await.into_keys().collect();
    assert_eq!(
        keys,
        [
            "audit/%2E./%5Faudit+0+00000000000000000001.jsonl",
            "audit/%2Ex/%5Faudit+0+00000000000000000000.jsonl",
            "audit/%5Fy/%2Ehidden+0+00000000000000000002.jsonl",
        ]
    );
    let (catalog, _) = streamlake::catalog::crawl(&lake, "").await.unwrap();
    let found: usize = catalog.tables().map(|t| t.objects.len()).sum();
    assert_eq!(found, 3, "{catalog:?}");
}

/// A source that goes backwards (re-delivers without a revoke) would
/// write records twice: the sink refuses it.
#[tokio::test]
async fn offsets_going_backwards_are_refused() {
    let lake = Lake::memory();
    let mut sink = sink(&lake);
    let records = numbered_records(10, 1);
    sink.write(records.clone()).await.unwrap();
    let err = sink.write(records[3..4].to_vec()).await.unwrap_err();
    assert!(err.to_string().contains("went backwards"), "{err}");
    // After a revoke the partition may start over.
    sink.discard(&[SourcePartition::new("t", 0)]).await.unwrap();
    sink.write(records[3..].to_vec()).await.unwrap();
}

/// Outside a Tokio runtime the sink says so, as an error, instead of
/// panicking, and keeps the group.
#[test]
fn without_a_tokio_runtime_a_closing_group_is_an_error_not_a_panic() {
    let lake = Lake::memory();
    let mut sink = sink(&lake);
    let err = futures::executor::block_on(sink.write(numbered_records(123, 3))).unwrap_err();
    assert!(err.to_string().contains("Tokio runtime"), "{err}");
    assert!(sink.take_durable().is_empty());
    assert!(sink.buffered_bytes() > 0, "the group is kept");
}
