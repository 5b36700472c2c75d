//! The runner's clock-driven flushes: idle timeout and shutdown, each
//! followed by a commit of exactly what became durable.

mod common;

use std::time::Duration;

use async_trait::async_trait;
use common::channel_source::channel_source;
use common::{assert_same_rows, numbered_records, rows, values};
use streamlake::{
    Backlog, BadInputPolicy, Error, Lake, LakeSink, MemorySource, Pipeline, Position, Record,
    RecordSource, SourceEvent, SourcePartition,
};

fn sink(lake: &Lake) -> LakeSink {
    LakeSink::builder(lake.clone())
        .table("stock")
        .partition_by("index={Index}")
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn idle_timeout_flushes_and_commits_while_the_source_stays_open() {
    let lake = Lake::memory();
    let (source, (tx, mut commits, _drained)) = channel_source();
    let pipeline = Pipeline::new(source, sink(&lake)).idle_timeout(Duration::from_secs(30));
    let run = tokio::spawn(pipeline.run_until(std::future::pending()));
    let records = numbered_records(50, 1);
    tx.send(records.clone()).unwrap();

    // Nothing else arrives; the paused clock jumps to the idle deadline.
    let started = tokio::time::Instant::now();
    let committed = commits.recv().await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(30),
        "flushed before the idle timeout"
    );
    assert_eq!(committed, vec![Position::new("t", 0, 49)]);
    assert_same_rows(
        &rows(&lake, "stock").await,
        &values(&records),
        "after idle flush",
    );

    drop(tx);
    let stats = run.await.unwrap().unwrap();
    assert_eq!(stats.records_out, 50);
}

#[tokio::test]
async fn shutdown_flushes_and_commits_what_was_accepted() {
    let lake = Lake::memory();
    let (source, (tx, mut commits, drained)) = channel_source();
    let records = numbered_records(300, 3);
    tx.send(records.clone()).unwrap();
    let stats = Pipeline::new(source, sink(&lake))
        .idle_timeout(Duration::from_secs(3600))
        .run_until(async {
            drained.await.unwrap();
        })
        .await
        .unwrap();
    assert_eq!(stats.records_out, 300);
    let mut last = Vec::new();
    while let Ok(c) = commits.try_recv() {
        last = c;
    }
    assert_eq!(
        last,
        vec![
            Position::new("t", 0, 99),
            Position::new("t", 1, 99),
            Position::new("t", 2, 99)
        ]
    );
    assert_same_rows(
        &rows(&lake, "stock").await,
        &values(&records),
        "after shutdown",
    );
}

/// A source that is always idle and reports a backlog while `lagging` says
/// so: a group member whose topic still lags in partitions it does not own.
struct IdleSource {
    backlog_checks: usize,
    lagging_for: usize,
    /// The first backlog check fails (a group still joining).
    unreadable_first: bool,
}

#[async_trait]
impl RecordSource for IdleSource {
    async fn poll(&mut self, _max: usize) -> streamlake::Result<SourceEvent> {
        tokio::time::sleep(Duration::from_millis(500)).await;
        Ok(SourceEvent::Idle)
    }

    async fn commit(&mut self, _durable: &[Position]) -> streamlake::Result<()> {
        Ok(())
    }

    async fn backlog(&mut self) -> streamlake::Result<Vec<Backlog>> {
        self.backlog_checks += 1;
        if self.unreadable_first && self.backlog_checks == 1 {
            return Err(Error::Unavailable {
                what: "the group coordinator".into(),
                reason: "timed out".into(),
            });
        }
        Ok(if self.backlog_checks <= self.lagging_for {
            vec![Backlog {
                partition: SourcePartition::new("t", 2),
                committed: Some(100),
                end: 250,
            }]
        } else {
            Vec::new()
        })
    }
}

#[tokio::test(start_paused = true)]
async fn stop_when_idle_waits_until_the_source_is_drained() {
    let lake = Lake::memory();
    let source = IdleSource {
        backlog_checks: 0,
        lagging_for: 4,
        unreadable_first: true,
    };
    let started = tokio::time::Instant::now();
    Pipeline::new(source, sink(&lake))
        .stop_when_idle(Duration::from_secs(3))
        .run()
        .await
        .unwrap();
    // Idle after 3 s, unreadable at 3, still lagging at 6, 9 and 12 s;
    // drained at 15 s.
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(15) && waited < Duration::from_secs(17),
        "stopped after {waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_backlog_that_never_drains_fails_naming_its_partitions() {
    let lake = Lake::memory();
    let source = IdleSource {
        backlog_checks: 0,
        lagging_for: usize::MAX,
        unreadable_first: false,
    };
    let err = Pipeline::new(source, sink(&lake))
        .stop_when_idle(Duration::from_secs(3))
        .drain_timeout(Duration::from_secs(60))
        .run()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Stalled { .. }), "{err}");
    assert!(
        err.to_string().contains("t/2 committed to 100 of 250"),
        "{err}"
    );
}

/// The library never prints: a pipeline with progress due every round, a
/// bad record skipped and idle flushes writes nothing to stderr when no
/// observer is set. Run in a child process (this test binary again) so
/// that its stderr is its own.
#[test]
fn a_pipeline_without_an_observer_writes_nothing_to_stderr() {
    const CHILD: &str = "STREAMLAKE_SILENT_PIPELINE_CHILD";
    if std::env::var_os(CHILD).is_some() {
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            let mut records = numbered_records(300, 3);
            records[7] = Record::new(records[7].position.clone(), "not json");
            let stats = Pipeline::new(MemorySource::new(records), sink(&Lake::memory()))
                .progress_every(Some(Duration::ZERO))
                .on_bad_input(BadInputPolicy::Skip)
                .run()
                .await
                .unwrap();
            assert_eq!((stats.records_out, stats.rejected), (299, 1));
        });
        return;
    }
    let out = common::process::output(
        "this test, alone",
        std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "a_pipeline_without_an_observer_writes_nothing_to_stderr",
            ])
            .args(["--nocapture", "--test-threads", "1"])
            .env(CHILD, "1"),
        common::process::step_timeout(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("1 passed"),
        "the child ran no pipeline: {stdout}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "",
        "the pipeline printed"
    );
}
