//! Crash test: `csv_to_lake` ingesting a 100k-row CSV is killed with SIGKILL
//! at random moments, restarted from its checkpoint each time, and the lake
//! ends with every input row exactly once.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use common::process::{Supervised, step_timeout};
use common::{Rng, assert_same_rows, example, rows, values};
use streamlake::{CsvEncoder, Encoder, Lake, Record, StockTicks};

const ROWS: usize = 100_000;
const KILLS: usize = 12;

fn write_csv(path: &Path, records: &[Record]) {
    let mut out = BytesMut::new();
    CsvEncoder::new().encode(records, &mut out).unwrap();
    std::fs::File::create(path)
        .unwrap()
        .write_all(&out)
        .unwrap();
}

fn spawn(exe: &Path, csv: &Path, lake: &Path, checkpoint: &Path) -> Supervised {
    let mut command = Command::new(exe);
    command
        .args([
            "--csv",
            csv.to_str().unwrap(),
            "--lake",
            lake.to_str().unwrap(),
        ])
        .args(["--checkpoint", checkpoint.to_str().unwrap()])
        .args([
            "--partition-by",
            "index={Index}",
            "--max-records-per-object",
            "100",
        ])
        .args(["--batch-size", "256", "--events", "--quiet"]);
    Supervised::spawn("csv_to_lake", &mut command)
}

#[test]
fn sigkill_at_random_moments_leaves_every_row_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, lake_dir, checkpoint) = (
        dir.path().join("stock.csv"),
        dir.path().join("lake"),
        dir.path().join("checkpoint.json"),
    );
    let mut ticks = StockTicks::new(2024);
    let input: Vec<Record> = (0..ROWS).map(|_| ticks.next_row()).collect();
    write_csv(&csv, &input);

    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("crash test seed {seed} (set CRASH_SEED to repeat)");
    let mut rng = Rng(seed);
    let exe = example("csv_to_lake");

    let mut kills = 0;
    while kills < KILLS {
        let mut child = spawn(&exe, &csv, &lake_dir, &checkpoint);
        // Wait for a random number of commits, then kill at a random moment
        // in the work that follows.
        let commits_before_kill = 1 + rng.below(3);
        let mut seen = 0;
        let running = child.wait_for("commits", step_timeout(), &String::new, |line| {
            seen += u64::from(line.starts_with(r#"{"event":"committed""#));
            seen == commits_before_kill
        });
        if !running {
            let status = child.wait(step_timeout(), &String::new);
            assert!(
                status.success(),
                "child failed: {status}\n{}",
                child.log.recent()
            );
            break;
        }
        std::thread::sleep(Duration::from_micros(rng.below(20_000))); // a random moment, not a wait
        child.kill(); // SIGKILL
        kills += 1;
    }
    assert!(kills >= 10, "only {kills} kills before the ingest finished");

    let mut last = spawn(&exe, &csv, &lake_dir, &checkpoint);
    let status = last.wait(step_timeout(), &String::new);
    assert!(
        status.success(),
        "final run failed: {status}\n{}",
        last.log.recent()
    );

    let lake = Lake::local(&lake_dir).unwrap();
    let got = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(rows(&lake, "stock"));
    assert_same_rows(
        &got,
        &values(&input),
        &format!("after {kills} kills (seed {seed})"),
    );
}
