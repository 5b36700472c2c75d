//! End to end, one table: the bare rdkafka consume loop beside
//! streamlake's Kafka → lake paths (JSON Lines, JSON Lines + gzip,
//! Parquet; local directory and S3 on moto), in the same run on the same
//! data, on librdkafka's in-process mock cluster (where the broker is not
//! the ceiling) and on tansu (sqlite engine); then the bulk path (CSV →
//! partitioned Parquet) beside DuckDB's `COPY ... PARTITION_BY` on the
//! same file, when the test venv has DuckDB (`.venv/bin/pip install
//! duckdb`).
//!
//! ```text
//! cargo bench --features kafka,s3,parquet --bench e2e
//! cargo bench --features kafka,s3,parquet,delta --bench e2e   # with Kafka → Delta
//! E2E_RECORDS=1000000 E2E_TANSU_RECORDS=200000 E2E_CSV_RECORDS=980000 cargo bench ...
//! ```
//!
//! A second baseline row, the bare batch loop, reads with librdkafka's
//! batch consume as streamlake's source does: the tighter bound, shown
//! with its ratio to the first.
//!
//! `E2E_ONLY=local` runs only the paths whose label contains `local` (the
//! bare loop always runs); a count of 0 skips that part (`E2E_RECORDS=0`,
//! `E2E_TANSU_RECORDS=0`, `E2E_CSV_RECORDS=0`);
//! `E2E_WRAP="perf record -g -o /tmp/p.data"` runs every path, the bare
//! loop too, under that command (to profile exactly what is measured, or
//! to run both sides of a ratio with another allocator preloaded; the
//! numbers then include the wrapper).
//!
//! Every path runs in its own process (the release build of the
//! examples), so that its CPU time (user + sys, from `wait4`) and its peak
//! resident memory (its own `VmHWM`, printed in its summary) are its own;
//! a pipeline's summary also gives the most its sink's buffers held
//! (`buffered:`), the last column.
//! Records/s is records over wall time, minus the idle second a consumer
//! waits before it exits: start-up, the group join (about 3 s on the mock
//! cluster, for the bare loop too) and the final flush count. Records/s
//! flowing leaves them out: the bare loop's first to last message, and
//! the time the pipeline reports records flowing (`time:` in its summary:
//! handling records, or waiting for a batch that came). The two compare
//! only where the broker keeps up (the mock cluster): on tansu a
//! pipeline's flowing rate is its own, so no ratio is shown there.
//! `E2E_PARTITIONS` sets the mock topic's partitions (default 64; the mock
//! keeps about 5 MiB per partition, so 5M records need 256).
//!
//! Each part runs in rounds (`E2E_ROUNDS`, default 3): every round runs
//! the baseline and then each path, so that a ratio compares runs minutes
//! apart at most on a machine whose load drifts. A ratio is the median of
//! the rounds' ratios, with their range when there is more than one
//! round; records/s is the round of median wall time, CPU the median,
//! peak RSS the highest of the rounds. Each round's runs are printed to
//! stderr as they end. The lakes of all rounds stay on disk until the run
//! ends (about 175 MB per local path and round at 1M records).
//!
//! Local lakes (and the CSV file) go into a temporary directory under
//! `E2E_LAKE_DIR` (default: the system's temporary directory). Before each
//! round the bench times creating 200 small files there and prints the
//! cost per file: on a filesystem where creating a file is slow (ext4
//! without a journal skips every inode deleted in the last minutes, one
//! lookup each, so a run right after a build or another run pays for
//! their deletions) the local paths pay it for every object and marker.

#[path = "../../tests/common/broker.rs"]
#[allow(dead_code)]
mod broker;
#[path = "../../tests/common/cargo_env.rs"]
mod cargo_env;
#[path = "../../tests/common/process.rs"]
#[allow(dead_code)]
mod process;
#[path = "../../tests/common/s3.rs"]
#[allow(dead_code)]
mod s3;
#[path = "../../tests/common/service.rs"]
#[allow(dead_code)]
mod service;

mod bare;
mod measure;
mod paths;
mod rounds;
mod table;

use std::path::Path;
use std::process::Command;

use streamlake::kafka::MockKafka;

use bare::{assert_mock_kept, bare_loop, fill};
use paths::{build_examples, bulk_paths, kafka_paths, write_csv};
use rounds::{in_rounds, print_creation_costs};
use table::print_table;

/// Partitions of the mock cluster's topic (`E2E_PARTITIONS`, default 64):
/// the mock keeps at most 5 MiB of record batches per partition (it drops
/// the oldest; about 66,000 compressed stock rows), and unkeyed records
/// are spread in batches, not evenly; each consumer counts what it read.
/// 5M records need about 256.
fn partitions() -> i32 {
    count("E2E_PARTITIONS", 64) as i32
}
/// What a consumer waits, idle, before it exits (subtracted from its wall).
const IDLE_EXIT_SECS: f64 = 1.0;

fn count(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Whether the path labelled `label` is selected by `E2E_ONLY`.
fn selected(label: &str) -> bool {
    std::env::var("E2E_ONLY").map_or(true, |only| label.contains(&only))
}

/// A command running `program`, under `E2E_WRAP` when that is set.
fn wrapped_command(program: &Path) -> Command {
    let wrap = std::env::var("E2E_WRAP").unwrap_or_default();
    let mut words = wrap.split_whitespace();
    match words.next() {
        Some(wrapper) => {
            let mut command = Command::new(wrapper);
            command.args(words).arg(program);
            command
        }
        None => Command::new(program),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(mode @ ("--bare" | "--bare-batch")) = args.get(1).map(String::as_str) {
        let batches = mode == "--bare-batch";
        return bare_loop(&args[2], &args[3], args[4].parse().unwrap(), batches);
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let examples = build_examples();
    let dir = match std::env::var_os("E2E_LAKE_DIR") {
        Some(base) => tempfile::tempdir_in(base).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let mut creation_costs = Vec::new();
    let s3 = s3::S3Server::start();
    s3.bucket("lake");
    let mut rows = Vec::new();

    let n = count("E2E_RECORDS", 1_000_000);
    if n > 0 {
        let mock = MockKafka::start().unwrap();
        mock.create_topic("stock", partitions()).unwrap();
        runtime.block_on(fill(mock.config(), n));
        assert_mock_kept(&mock.config(), n);
        let brokers = mock.config().brokers().to_string();
        rows.extend(in_rounds(dir.path(), &mut creation_costs, |round| {
            kafka_paths("mock", &brokers, n, &examples, round, &s3)
        }));
    }

    let n = count("E2E_TANSU_RECORDS", 200_000);
    if n > 0 {
        let tansu = broker::Broker::start();
        runtime.block_on(async {
            tansu.topic("stock", 3).await;
            fill(tansu.config(), n).await;
        });
        rows.extend(in_rounds(dir.path(), &mut creation_costs, |round| {
            kafka_paths("tansu", &tansu.brokers(), n, &examples, round, &s3)
        }));
    }

    let n = count("E2E_CSV_RECORDS", 980_000);
    if n > 0 {
        let csv = dir.path().join("stock.csv");
        write_csv(&csv, n);
        rows.extend(in_rounds(dir.path(), &mut creation_costs, |round| {
            bulk_paths(n, &csv, &examples, &round.dir)
        }));
    }
    print_table(&rows);
    print_creation_costs(dir.path(), creation_costs);
}
