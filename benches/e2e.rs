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
//! `E2E_ONLY=local` runs only the paths whose label contains `local` (the
//! bare loop always runs); a count of 0 skips that part (`E2E_RECORDS=0`,
//! `E2E_TANSU_RECORDS=0`, `E2E_CSV_RECORDS=0`);
//! `E2E_WRAP="perf record -g -o /tmp/p.data"` runs every streamlake path
//! under that command (to profile exactly what is measured; the numbers
//! then include the wrapper).
//!
//! Every path runs in its own process (the release build of the
//! examples), so that its CPU time (user + sys, from `wait4`) and its peak
//! resident memory (its own `VmHWM`, printed in its summary) are its own.
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

#[path = "../tests/common/broker.rs"]
#[allow(dead_code)]
mod broker;
#[path = "../tests/common/cargo_env.rs"]
mod cargo_env;
#[path = "../tests/common/process.rs"]
#[allow(dead_code)]
mod process;
#[path = "../tests/common/s3.rs"]
#[allow(dead_code)]
mod s3;
#[path = "../tests/common/service.rs"]
#[allow(dead_code)]
mod service;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use streamlake::kafka::{KafkaConfig, KafkaSink, MockKafka};
use streamlake::{Pipeline, StockTicks};

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

/// One round of a part: its name (in lake and group names) and its
/// directory for local lakes, under `dir`.
struct Round {
    name: String,
    dir: PathBuf,
}

/// Runs `round` in `E2E_ROUNDS` rounds; one row per path, summarized
/// over the rounds. The rounds' lakes stay until the end of the run
/// (deleting thousands of files between rounds changes what the next
/// round's file creations cost).
fn in_rounds(
    dir: &Path,
    creation_costs: &mut Vec<f64>,
    mut round: impl FnMut(&Round) -> Vec<Row>,
) -> Vec<Row> {
    let rounds: Vec<Vec<Row>> = (0..count("E2E_ROUNDS", 3).max(1))
        .map(|r| {
            let name = format!("r{r}");
            let round_dir = dir.join(&name);
            std::fs::create_dir_all(&round_dir).unwrap();
            let cost = file_creation_micros(&round_dir);
            eprintln!("round {r}: creating a file in the lake directory: {cost:.0} µs");
            creation_costs.push(cost);
            let rows = round(&Round {
                name,
                dir: round_dir,
            });
            for row in &rows {
                let flowing = row.flowing.map_or("-".into(), |s| format!("{s:.2} s"));
                eprintln!(
                    "round {r}: {} {}: {:.2} s wall ({flowing} flowing), {:.2} s CPU, {} MiB",
                    row.broker, row.path, row.wall, row.cpu, row.peak_mib
                );
            }
            rows
        })
        .collect();
    summarize(rounds)
}

/// Microseconds to create (and write 100 bytes to) one file under `dir`,
/// timed over 200 files in a new directory there; the files stay until
/// the run ends, like the lakes.
fn file_creation_micros(dir: &Path) -> f64 {
    static PROBES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let probe = dir.join(format!("file-creation-probe-{n}"));
    let started = Instant::now();
    std::fs::create_dir(&probe).unwrap();
    for i in 0..200 {
        std::fs::write(probe.join(format!("{i}.jsonl")), [b'x'; 100]).unwrap();
    }
    started.elapsed().as_secs_f64() * 1e6 / 200.0
}

/// The file creation costs measured before the rounds, under the table.
fn print_creation_costs(dir: &Path, mut costs: Vec<f64>) {
    costs.sort_by(f64::total_cmp);
    if let (Some(low), Some(high)) = (costs.first(), costs.last()) {
        println!();
        println!(
            "Creating a file in the lake directory ({}) took {low:.0}–{high:.0} µs \
             before the rounds (every local object and marker pays it).",
            dir.parent().unwrap_or(dir).display()
        );
    }
}

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
fn streamlake_command(program: &Path) -> Command {
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
    if args.get(1).map(String::as_str) == Some("--bare") {
        return bare_loop(&args[2], &args[3], args[4].parse().unwrap());
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

/// The bare loop, as a child: consume `topic` to the end of every
/// partition (at most `n` messages) and discard it, then print what it
/// read and its peak memory like the examples' summaries.
fn bare_loop(brokers: &str, topic: &str, n: u64) {
    let consumer: BaseConsumer = KafkaConfig::new(brokers)
        .client_config()
        .set("group.id", format!("bare-{}", std::process::id()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut at_end = std::collections::BTreeSet::new();
    let mut seen = 0u64;
    let mut flowing: Option<(Instant, Instant)> = None;
    while seen < n {
        assert!(
            Instant::now() < deadline,
            "bare loop: {seen} of {n} after 600 s"
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(_)) => {
                seen += 1;
                let now = Instant::now();
                flowing.get_or_insert((now, now)).1 = now;
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
                // Asked only at an end of partition: the assignment is a
                // call into librdkafka, not free per message.
                let assigned = consumer.assignment().map_or(0, |a| a.count());
                if at_end.len() == assigned {
                    break;
                }
            }
            Some(Err(e)) => panic!("bare loop: {e}"),
            None => {}
        }
    }
    println!("records:  {seen} read");
    let flowing = flowing.map_or(0.0, |(first, last)| (last - first).as_secs_f64());
    println!("time:     {flowing:.3}s flowing");
    println!("memory:   {} MiB peak resident", peak_kib() / 1024);
}

fn peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Publishes `n` unkeyed stock rows to topic `stock`.
async fn fill(config: KafkaConfig, n: u64) {
    let producer = KafkaSink::builder(config).topic("stock").build().unwrap();
    Pipeline::new(StockTicks::new(11).count(n), producer)
        .run()
        .await
        .unwrap();
}

/// Fails unless the mock cluster still holds all `n` records of `stock`:
/// it keeps at most ~5 MiB and 100,000 batches per partition and drops the
/// oldest beyond that, which would make every path read fewer records
/// than the bare loop waits for.
fn assert_mock_kept(config: &KafkaConfig, n: u64) {
    let consumer: BaseConsumer = config
        .client_config()
        .set("group.id", "e2e-watermarks")
        .create()
        .unwrap();
    let kept: i64 = (0..partitions())
        .map(|p| {
            let (low, high) = consumer
                .fetch_watermarks("stock", p, Duration::from_secs(30))
                .unwrap();
            high - low
        })
        .sum();
    assert_eq!(
        kept as u64, n,
        "the mock cluster kept {kept} of the {n} records produced (it keeps about 5 MiB per \
         partition): lower E2E_RECORDS"
    );
}

/// The release builds of the two example programs.
struct Examples {
    kafka_to_lake: PathBuf,
    csv_to_lake: PathBuf,
}

fn build_examples() -> Examples {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = cargo_env::without_package_vars(&mut Command::new(cargo))
        .args([
            "build",
            "--release",
            "--quiet",
            "--features",
            if cfg!(feature = "delta") {
                "kafka,s3,parquet,delta"
            } else {
                "kafka,s3,parquet"
            },
        ])
        .args(["--example", "kafka_to_lake", "--example", "csv_to_lake"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap();
    assert!(status.success(), "building the examples failed");
    let exe = std::env::current_exe().unwrap();
    let release = exe.parent().unwrap().parent().unwrap();
    Examples {
        kafka_to_lake: release.join("examples/kafka_to_lake"),
        csv_to_lake: release.join("examples/csv_to_lake"),
    }
}

/// One measured run.
struct Row {
    broker: &'static str,
    path: String,
    records: u64,
    wall: f64,
    /// Seconds from the first record to the last, when known.
    flowing: Option<f64>,
    cpu: f64,
    peak_mib: u64,
    /// The row this one is compared with.
    baseline: bool,
    /// Records/s as a ratio to the baseline's, one per round, sorted.
    ratios: Vec<f64>,
    /// The same for records/s flowing (on the mock cluster only).
    flowing_ratios: Vec<f64>,
}

impl Row {
    fn rate(&self) -> f64 {
        self.records as f64 / self.wall
    }

    fn flowing_rate(&self) -> Option<f64> {
        self.flowing.map(|s| self.records as f64 / s.max(0.001))
    }
}

/// One row per path from the rows of every round (the same paths in the
/// same order): the round of median wall time, the median CPU, the
/// highest peak memory, and each round's ratios to its own baseline.
fn summarize(rounds: Vec<Vec<Row>>) -> Vec<Row> {
    let ratios = |i: usize, rate: fn(&Row) -> Option<f64>| -> Vec<f64> {
        let mut ratios: Vec<f64> = (rounds.iter())
            .filter_map(|rows| {
                let base = rows.iter().find(|row| row.baseline)?;
                Some(rate(&rows[i])? / rate(base)?)
            })
            .collect();
        ratios.sort_by(f64::total_cmp);
        ratios
    };
    let median = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let paths = rounds[0].len();
    (0..paths)
        .map(|i| {
            let runs: Vec<&Row> = rounds.iter().map(|rows| &rows[i]).collect();
            let wall = median(runs.iter().map(|row| row.wall).collect());
            let typical = runs.iter().find(|row| row.wall == wall).unwrap();
            Row {
                broker: typical.broker,
                path: typical.path.clone(),
                cpu: median(runs.iter().map(|row| row.cpu).collect()),
                peak_mib: runs.iter().map(|row| row.peak_mib).max().unwrap(),
                ratios: ratios(i, |row| Some(row.rate())),
                flowing_ratios: ratios(i, Row::flowing_rate),
                ..**typical
            }
        })
        .collect()
}

/// Runs `command` to its end: wall seconds, CPU seconds of the child, and
/// the peak memory (MiB) and records read that its summary prints.
// The child is reaped by `wait4` (for its CPU time), which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn measure(command: &mut Command) -> Measured {
    let start = Instant::now();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let stdout = process::read_to_end_aside(child.stdout.take().unwrap());
    let stderr = process::read_to_end_aside(child.stderr.take().unwrap());
    // wait4, not Child::wait: it gives the child's own CPU time.
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed().as_secs_f64();
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    let text = String::from_utf8_lossy(&stdout);
    assert!(
        rc == pid && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{command:?} failed: {text}\n{}",
        String::from_utf8_lossy(&stderr)
    );
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let cpu = seconds(usage.ru_utime) + seconds(usage.ru_stime);
    let first_word_after = |label: &str| -> Option<&str> {
        text.lines()
            .find_map(|l| l.strip_prefix(label))
            .and_then(|rest| rest.split_whitespace().next())
    };
    let number = |label: &str| first_word_after(label).and_then(|w| w.parse().ok());
    let flowing = first_word_after("time:").and_then(|w| w.strip_suffix('s')?.parse().ok());
    Measured {
        wall,
        cpu,
        peak_mib: number("memory:").unwrap_or(0),
        records: number("records:").unwrap_or(0),
        flowing,
    }
}

/// What [`measure`] found.
struct Measured {
    wall: f64,
    cpu: f64,
    peak_mib: u64,
    records: u64,
    /// Seconds records were flowing, as the program reports them.
    flowing: Option<f64>,
}

impl Measured {
    /// The row of a path, its wall time less `idle` seconds.
    fn row(self, broker: &'static str, path: String, idle: f64, baseline: bool) -> Row {
        Row {
            broker,
            path,
            records: self.records,
            wall: (self.wall - idle).max(0.001),
            flowing: self.flowing,
            cpu: self.cpu,
            peak_mib: self.peak_mib,
            baseline,
            ratios: Vec::new(),
            flowing_ratios: Vec::new(),
        }
    }
}

fn kafka_paths(
    broker: &'static str,
    brokers: &str,
    n: u64,
    examples: &Examples,
    round: &Round,
    s3: &s3::S3Server,
) -> Vec<Row> {
    let mut rows = Vec::new();
    let bare = std::env::current_exe().unwrap();
    let bare_run = measure(Command::new(&bare).args(["--bare", brokers, "stock", &n.to_string()]));
    rows.push(bare_run.row(broker, "bare rdkafka consume loop".into(), 0.0, true));
    let mut paths = vec![
        ("local", "jsonl", "none"),
        ("local", "jsonl", "gzip"),
        ("local", "parquet", "none"),
        ("s3", "jsonl", "none"),
        ("s3", "jsonl", "gzip"),
        ("s3", "parquet", "none"),
    ];
    if cfg!(feature = "delta") {
        paths.extend([("local", "delta", "none"), ("s3", "delta", "none")]);
    }
    for (k, (store, format, compression)) in paths.into_iter().enumerate() {
        let label = match (format, compression) {
            ("delta", _) => format!("kafka_to_lake → {store}, Delta table"),
            (_, "none") => format!("kafka_to_lake → {store}, {format}"),
            (_, c) => format!("kafka_to_lake → {store}, {format} + {c}"),
        };
        if !selected(&label) {
            continue;
        }
        let name = format!("{broker}-{}-{k}", round.name);
        let lake = match store {
            "local" => round.dir.join(&name).display().to_string(),
            _ => format!("s3://lake/{name}"),
        };
        let mut command = streamlake_command(&examples.kafka_to_lake);
        command
            .args(["--brokers", brokers, "--topic", "stock"])
            .args(["--group", &name, "--lake", &lake])
            .args(match format {
                "delta" => ["--table-format", "delta", "--partition-by", "Index={Index}"],
                _ => ["--format", format, "--partition-by", "index={Index}"],
            })
            .args(["--compression", compression])
            .args(["--exit-when-idle", &IDLE_EXIT_SECS.to_string()])
            .envs(s3.env());
        rows.push(measure(&mut command).row(broker, label, IDLE_EXIT_SECS, false));
    }
    rows
}

/// CSV → Parquet partitioned by `Index`: DuckDB (when installed) first, as
/// the baseline, then `csv_to_lake`.
fn bulk_paths(n: u64, csv: &Path, examples: &Examples, dir: &Path) -> Vec<Row> {
    let mut rows = Vec::new();
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let has_duckdb = Command::new(&python)
        .args(["-c", "import duckdb"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if has_duckdb {
        let out = dir.join("duckdb");
        let script = format!(
            "import duckdb\n\
             duckdb.sql(\"COPY (SELECT * FROM read_csv('{}')) TO '{}' (FORMAT parquet, PARTITION_BY (\\\"Index\\\"))\")\n\
             peak = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]\n\
             print(f'memory:   {{int(peak) // 1024}} MiB peak resident')",
            csv.display(),
            out.display()
        );
        let duckdb = Measured {
            records: n,
            ..measure(Command::new(&python).args(["-c", &script]))
        };
        let path = "DuckDB COPY ... PARTITION_BY (Index), parquet";
        rows.push(duckdb.row("bulk", path.into(), 0.0, true));
    } else {
        eprintln!(
            "no DuckDB in {}: the bulk path runs without its baseline",
            python.display()
        );
    }
    let lake = dir.join("bulk-lake");
    let measured = measure(
        streamlake_command(&examples.csv_to_lake)
            .args([
                "--csv",
                csv.to_str().unwrap(),
                "--lake",
                lake.to_str().unwrap(),
            ])
            .args(["--format", "parquet", "--partition-by", "index={Index}"])
            .args(["--schema", "stock"]),
    );
    let path = "csv_to_lake --format parquet";
    rows.push(measured.row("bulk", path.into(), 0.0, false));
    rows
}

/// `n` synthetic stock rows as CSV with the dataset's header.
fn write_csv(path: &Path, n: u64) {
    let columns: Vec<String> = StockTicks::columns()
        .iter()
        .map(|c| c.name.clone())
        .collect();
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(out, "{}", columns.join(",")).unwrap();
    let mut ticks = StockTicks::new(5);
    for _ in 0..n {
        let row: serde_json::Value = serde_json::from_slice(&ticks.next_row().value).unwrap();
        let cells: Vec<String> = columns
            .iter()
            .map(|c| match &row[c] {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        writeln!(out, "{}", cells.join(",")).unwrap();
    }
    out.flush().unwrap();
}

/// One table: per path, records/s over the wall time (start-up, group
/// join and the final flush included) and over the time records were
/// flowing, each as a ratio to its baseline.
fn print_table(rows: &[Row]) {
    println!();
    println!(
        "| broker | path | records | records/s | ratio to baseline | records/s flowing | ratio flowing | CPU s per 1M records | peak RSS MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for row in rows {
        // A pipeline's flowing time leaves out its waits for records that
        // had not arrived: on a broker slower than the pipeline (tansu)
        // that is the pipeline's own rate, not the bare loop's span.
        let ratio_flowing = match row.broker {
            "mock" => ratio_text(&row.flowing_ratios),
            _ => "-".into(),
        };
        let flowing = row.flowing_rate().map_or("-".into(), |f| format!("{f:.0}"));
        println!(
            "| {} | {} | {} | {:.0} | {} | {} | {} | {:.2} | {} |",
            row.broker,
            row.path,
            row.records,
            row.rate(),
            ratio_text(&row.ratios),
            flowing,
            ratio_flowing,
            row.cpu / row.records as f64 * 1e6,
            row.peak_mib
        );
    }
}

/// The median of sorted `ratios`, with their range when they differ.
fn ratio_text(ratios: &[f64]) -> String {
    let (Some(first), Some(last)) = (ratios.first(), ratios.last()) else {
        return "-".into();
    };
    let median = ratios[ratios.len() / 2];
    match first == last {
        true => format!("{median:.2}"),
        false => format!("{median:.2} ({first:.2}–{last:.2})"),
    }
}
