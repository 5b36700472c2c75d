//! The sink conformance suite: functions each taking a fresh, empty
//! [`Lake`] (the shape of object_store's `integration.rs`), run by
//! `tests/sink_conformance.rs` on the in-memory and local-directory stores
//! and by `tests/s3_lake.rs` on S3 (moto).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::TryStreamExt;
use streamlake::object_store::ObjectStoreExt;

use super::{assert_same_rows, numbered_records, objects, rows, values};
use streamlake::{
    Compression, Error, Lake, LakeSink, Position, Record, RecordSink, SourcePartition,
};

/// Runs every check, each on its own lake from `fresh` (given the check's
/// name, e.g. for a prefix of its own).
pub async fn run_all(mut fresh: impl FnMut(&str) -> Lake) {
    eprintln!("conformance: nothing_is_reported_durable_before_it_is");
    nothing_is_reported_durable_before_it_is(fresh("nothing_is_reported_durable_before_it_is"))
        .await;
    eprintln!("conformance: flush_leaves_nothing_pending");
    flush_leaves_nothing_pending(fresh("flush_leaves_nothing_pending")).await;
    eprintln!("conformance: objects_are_never_visible_half_written");
    objects_are_never_visible_half_written(fresh("objects_are_never_visible_half_written")).await;
    eprintln!("conformance: replay_rewrites_the_same_objects_even_after_clock_driven_flushes");
    replay_rewrites_the_same_objects_even_after_clock_driven_flushes(fresh(
        "replay_rewrites_the_same_objects_even_after_clock_driven_flushes",
    ))
    .await;
    eprintln!("conformance: a_replayed_group_already_in_the_lake_is_passed_over");
    a_replayed_group_already_in_the_lake_is_passed_over(fresh(
        "a_replayed_group_already_in_the_lake_is_passed_over",
    ))
    .await;
    eprintln!("conformance: a_replay_rebuilds_only_the_objects_missing_from_the_lake");
    a_replay_rebuilds_only_the_objects_missing_from_the_lake(fresh(
        "a_replay_rebuilds_only_the_objects_missing_from_the_lake",
    ))
    .await;
    eprintln!("conformance: memory_stays_bounded_and_writes_early");
    memory_stays_bounded_and_writes_early(fresh("memory_stays_bounded_and_writes_early")).await;
    eprintln!("conformance: a_different_object_at_the_same_key_is_a_conflict");
    a_different_object_at_the_same_key_is_a_conflict(fresh(
        "a_different_object_at_the_same_key_is_a_conflict",
    ))
    .await;
}

pub fn sink(lake: &Lake) -> LakeSink {
    LakeSink::builder(lake.clone())
        .table("stock")
        .partition_by("index={Index}")
        .max_records_per_object(40)
        .build()
        .unwrap()
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

/// Positions are reported only once every record up to them is in the lake,
/// and move forward.
pub async fn nothing_is_reported_durable_before_it_is(lake: Lake) {
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
}

/// A flush makes everything durable, and a second one has nothing to report.
pub async fn flush_leaves_nothing_pending(lake: Lake) {
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
}

/// A reader listing the lake while it is written never sees a partial object.
pub async fn objects_are_never_visible_half_written(lake: Lake) {
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
    let records = numbered_records(4_000, 1);
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
}

/// A replay from the last commit, batched differently, rewrites exactly the
/// objects the first run wrote, even where it flushed by the clock.
pub async fn replay_rewrites_the_same_objects_even_after_clock_driven_flushes(lake: Lake) {
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
}

/// The last offset of each source partition in `records`.
fn last_offsets(records: &[Record]) -> BTreeMap<SourcePartition, i64> {
    let mut last = BTreeMap::new();
    for r in records {
        last.insert(r.position.source_partition(), r.position.offset);
    }
    last
}

/// A replay of groups whose objects are all in the lake (the commit was
/// lost, not the writes) holds none of their records in memory, writes
/// nothing, and still reports them durable.
pub async fn a_replayed_group_already_in_the_lake_is_passed_over(lake: Lake) {
    let records = numbered_records(600, 2);
    let mut first = sink(&lake);
    first.write(records.clone()).await.unwrap();
    first.flush().await.unwrap();
    let before = objects(&lake, "stock").await;
    drop(first);

    let mut second = sink(&lake);
    for chunk in records.chunks(50) {
        second.write(chunk.to_vec()).await.unwrap();
        assert_eq!(second.buffered_bytes(), 0, "a written group was buffered");
    }
    second.flush().await.unwrap();
    assert_eq!(second.stats().objects, 0, "nothing is written again");
    let durable: BTreeMap<_, _> = second
        .take_durable()
        .into_iter()
        .map(|p| (p.source_partition(), p.offset))
        .collect();
    assert_eq!(durable, last_offsets(&records));
    assert_eq!(objects(&lake, "stock").await, before);
}

/// A replay after a crash between a group's uploads buffers and writes
/// only the objects missing from the lake.
pub async fn a_replay_rebuilds_only_the_objects_missing_from_the_lake(lake: Lake) {
    let records = numbered_records(600, 2);
    let mut first = sink(&lake);
    first.write(records.clone()).await.unwrap();
    first.flush().await.unwrap();
    drop(first);
    let (lost, lost_rows) = objects(&lake, "stock").await.into_iter().nth(3).unwrap();
    lake.store().delete(&lost.as_str().into()).await.unwrap();

    let mut second = sink(&lake);
    for chunk in records.chunks(50) {
        second.write(chunk.to_vec()).await.unwrap();
    }
    second.flush().await.unwrap();
    let peak = second.stats().peak_buffered_bytes;
    assert_eq!(second.stats().objects, 1, "only {lost} is written again");
    let lost_records = String::from_utf8(lost_rows).unwrap().lines().count();
    // A record counts its memory and the room encoding it takes (its
    // value's bytes for JSON Lines); its list may hold as much again.
    let largest = records
        .iter()
        .map(|r| r.size_hint() + r.value.len() + 1)
        .max()
        .unwrap();
    assert!(
        peak <= 2 * lost_records * largest,
        "buffered {peak} bytes to rebuild {lost_records} records"
    );
    assert_same_rows(&rows(&lake, "stock").await, &values(&records), "rebuilt");
}

/// Buffered memory stays under the cap: groups are written early.
pub async fn memory_stays_bounded_and_writes_early(lake: Lake) {
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
    // Within a write the cap is passed by at most one record's growth: its
    // value, its slot, and the chunk it doubles (objects of 16 KiB here).
    let peak = sink.stats().peak_buffered_bytes;
    assert!(
        peak <= cap + 16 * 1024,
        "peaked at {peak} bytes, over the cap"
    );
    assert!(
        peak > cap / 2,
        "peaked at {peak} bytes: the cap was never near"
    );
    assert_same_rows(&rows(&lake, "stock").await, &values(&records), "bounded");
}

/// Different content where an object exists is a conflict, and nothing of
/// that group is reported durable.
pub async fn a_different_object_at_the_same_key_is_a_conflict(lake: Lake) {
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
    // Without its marker the group is not known as written (with one, a
    // replay would pass over objects already in the lake).
    let store = lake.store();
    let markers: Vec<_> = store
        .list(Some(&lake.path("_streamlake/groups/stock")))
        .try_collect()
        .await
        .unwrap();
    assert!(!markers.is_empty());
    for marker in markers {
        store.delete(&marker.location).await.unwrap();
    }
    let mut second = sink(&lake);
    // The second run writes the same group and fails when it closes it,
    // in `write` or at the latest in `flush`.
    let err = match second.write(changed).await {
        Err(e) => e,
        Ok(_) => second.flush().await.unwrap_err(),
    };
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
    assert!(
        second.take_durable().is_empty(),
        "nothing durable after a conflict"
    );
}
