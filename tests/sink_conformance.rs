//! The sink conformance suite, run against every object-store backend this
//! build has: in-memory and local directory.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{assert_same_rows, numbered_records, objects, rows, values};
use streamlake::{
    Compression, Error, Lake, LakeSink, Position, Record, RecordSink, SourcePartition,
};

fn sink(lake: &Lake) -> LakeSink {
    LakeSink::builder(lake.clone())
        .table("stock")
        .partition_by("index={Index}")
        .max_records_per_object(40)
        .build()
        .unwrap()
}

async fn each_backend<F, Fut>(test: F)
where
    F: Fn(Lake) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    test(Lake::memory()).await;
    let dir = tempfile::tempdir().unwrap();
    test(Lake::local(dir.path()).unwrap()).await;
}

/// Every accepted record at or before each reported position must be in
/// the lake when the position is reported.
async fn assert_durable_means_in_lake(lake: &Lake, written: &[Record], durable: &[Position]) {
    let in_lake = rows(lake, "stock").await;
    for position in durable {
        let expected: Vec<_> = written
            .iter()
            .filter(|r| r.position.source_partition() == position.source_partition())
            .filter(|r| r.position.offset <= position.offset)
            .collect();
        for r in expected {
            let value = std::str::from_utf8(&r.value).unwrap();
            assert!(
                in_lake.binary_search(&value.to_string()).is_ok(),
                "{position} reported durable but {} is not in the lake",
                r.position
            );
        }
    }
}

#[tokio::test]
async fn nothing_is_reported_durable_before_it_is() {
    each_backend(|lake| async move {
        let records = numbered_records(1000, 3);
        let mut sink = sink(&lake);
        let mut reported: BTreeMap<SourcePartition, i64> = BTreeMap::new();
        for chunk in records.chunks(37) {
            assert!(sink.write(chunk.to_vec()).await.unwrap().is_empty());
            let durable = sink.take_durable();
            assert_durable_means_in_lake(&lake, &records, &durable).await;
            for p in durable {
                let previous = reported.insert(p.source_partition(), p.offset);
                assert!(
                    previous.is_none_or(|o| o < p.offset),
                    "positions move forward"
                );
            }
        }
        assert!(
            !reported.is_empty(),
            "rotation made some records durable before the flush"
        );
    })
    .await;
}

#[tokio::test]
async fn flush_leaves_nothing_pending() {
    each_backend(|lake| async move {
        let records = numbered_records(500, 2);
        let mut sink = sink(&lake);
        sink.write(records.clone()).await.unwrap();
        sink.take_durable();
        sink.flush().await.unwrap();
        assert_eq!(sink.buffered_bytes(), 0);
        let durable = sink.take_durable();
        assert_eq!(
            durable,
            vec![Position::new("t", 0, 249), Position::new("t", 1, 249)]
        );
        assert_same_rows(
            &rows(&lake, "stock").await,
            &values(&records),
            "after flush",
        );
        assert_eq!(sink.stats().records, 500);
        sink.flush().await.unwrap();
        assert!(
            sink.take_durable().is_empty(),
            "a second flush has nothing to report"
        );
    })
    .await;
}

#[tokio::test]
async fn objects_are_never_visible_half_written() {
    each_backend(|lake| async move {
        let done = Arc::new(AtomicBool::new(false));
        let reader = tokio::spawn({
            let (lake, done) = (lake.clone(), done.clone());
            async move {
                let mut seen = 0;
                while !done.load(Ordering::Relaxed) {
                    // `objects` panics on a truncated gzip stream; `rows` on a
                    // partial last line.
                    seen += objects(&lake, "stock").await.len();
                    rows(&lake, "stock").await;
                    tokio::task::yield_now().await;
                }
                seen
            }
        });
        let mut sink = LakeSink::builder(lake.clone())
            .table("stock")
            .partition_by("index={Index}")
            .compression(Compression::gzip())
            .max_records_per_object(200)
            .build()
            .unwrap();
        let records = numbered_records(20_000, 1);
        for chunk in records.chunks(500) {
            sink.write(chunk.to_vec()).await.unwrap();
            tokio::task::yield_now().await;
        }
        sink.flush().await.unwrap();
        done.store(true, Ordering::Relaxed);
        assert!(
            reader.await.unwrap() > 0,
            "the reader looked at objects while they were written"
        );
        assert_same_rows(
            &rows(&lake, "stock").await,
            &values(&records),
            "after writing",
        );
    })
    .await;
}

#[tokio::test]
async fn replay_rewrites_the_same_objects_even_after_clock_driven_flushes() {
    each_backend(|lake| async move {
        let records = numbered_records(900, 2);
        // First run: two "idle" flushes at arbitrary points between
        // rotations; the first flush is committed, then the process dies
        // before committing anything else.
        let mut first = sink(&lake);
        first.write(records[..130].to_vec()).await.unwrap();
        first.flush().await.unwrap();
        let committed = first.take_durable();
        first.write(records[130..301].to_vec()).await.unwrap();
        first.flush().await.unwrap();
        first.write(records[301..555].to_vec()).await.unwrap();
        let keys_before: Vec<_> = objects(&lake, "stock").await.into_keys().collect();
        drop(first);

        // Replay from the commit, with different batching and no idle
        // flushes: nothing may be duplicated, replaced or conflict.
        let resume_after = |r: &Record| {
            committed
                .iter()
                .find(|p| p.source_partition() == r.position.source_partition())
                .is_none_or(|p| r.position.offset > p.offset)
        };
        let replay: Vec<_> = records
            .iter()
            .filter(|r| resume_after(r))
            .cloned()
            .collect();
        assert!(replay.len() < records.len() && replay.len() > 600);
        let mut second = sink(&lake);
        for chunk in replay.chunks(77) {
            second.write(chunk.to_vec()).await.unwrap();
        }
        second.flush().await.unwrap();
        let keys_after: Vec<_> = objects(&lake, "stock").await.into_keys().collect();
        for key in &keys_before {
            assert!(keys_after.contains(key), "{key} was replaced");
        }
        assert_same_rows(
            &rows(&lake, "stock").await,
            &values(&records),
            "after replay",
        );
    })
    .await;
}

#[tokio::test]
async fn memory_stays_bounded_and_writes_early() {
    each_backend(|lake| async move {
        let cap = 64 * 1024;
        let mut sink = LakeSink::builder(lake.clone())
            .table("stock")
            .partition_by("index={Index}")
            .max_bytes_per_object(16 * 1024)
            .max_buffered_bytes(cap)
            .build()
            .unwrap();
        // 8 partitions so that no single object reaches its own limit first.
        let records = numbered_records(4000, 8);
        let largest = records.iter().map(Record::size_hint).max().unwrap();
        for r in records.clone() {
            sink.write(vec![r]).await.unwrap();
            assert!(
                sink.buffered_bytes() <= cap + largest,
                "{} > cap",
                sink.buffered_bytes()
            );
        }
        sink.flush().await.unwrap();
        assert_same_rows(&rows(&lake, "stock").await, &values(&records), "bounded");
    })
    .await;
}

#[tokio::test]
async fn a_different_object_at_the_same_key_is_a_conflict() {
    each_backend(|lake| async move {
        let records = numbered_records(10, 1);
        let mut first = sink(&lake);
        first.write(records.clone()).await.unwrap();
        first.flush().await.unwrap();
        // Same positions, different content: another writer, or a changed source.
        let changed: Vec<_> = records
            .iter()
            .map(|r| {
                Record::new(
                    r.position.clone(),
                    r.value.slice(..r.value.len() - 1).to_vec(),
                )
            })
            .map(|r| {
                Record::new(
                    r.position.clone(),
                    format!("{}, \"x\":1}}", String::from_utf8_lossy(&r.value)),
                )
            })
            .collect();
        let mut second = sink(&lake);
        // The replay adopts the first run's group boundary and fails when it
        // closes the group, in `write` or at the latest in `flush`.
        let err = match second.write(changed).await {
            Err(e) => e,
            Ok(_) => second.flush().await.unwrap_err(),
        };
        assert!(matches!(err, Error::Conflict { .. }), "{err}");
        assert!(
            second.take_durable().is_empty(),
            "nothing durable after a conflict"
        );
    })
    .await;
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
