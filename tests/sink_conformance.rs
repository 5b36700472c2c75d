//! The sink conformance suite (`tests/common/conformance.rs`) on the
//! in-memory and local-directory stores, and what only a local directory
//! can show.

mod common;

use common::conformance::{run_all, sink};
use common::{assert_same_rows, numbered_records, rows, values};
use streamlake::{Error, Lake, Position, RecordSink};

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
