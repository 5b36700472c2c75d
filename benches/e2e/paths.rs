//! The paths measured: the examples' release builds on the Kafka topics,
//! and the bulk load beside DuckDB.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use streamlake::StockTicks;

use crate::measure::{Measured, measure};
use crate::rounds::Round;
use crate::table::Row;
use crate::{IDLE_EXIT_SECS, cargo_env, s3, selected, wrapped_command};

/// The release builds of the two example programs.
pub(crate) struct Examples {
    pub(crate) kafka_to_lake: PathBuf,
    pub(crate) csv_to_lake: PathBuf,
}

pub(crate) fn build_examples() -> Examples {
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

pub(crate) fn kafka_paths(
    broker: &'static str,
    brokers: &str,
    n: u64,
    examples: &Examples,
    round: &Round,
    s3: &s3::S3Server,
) -> Vec<Row> {
    let mut rows = Vec::new();
    let bare = std::env::current_exe().unwrap();
    let bare_run =
        measure(wrapped_command(&bare).args(["--bare", brokers, "stock", &n.to_string()]));
    rows.push(bare_run.row(broker, "bare rdkafka consume loop".into(), 0.0, true));
    let label = "bare librdkafka batch loop";
    if selected(label) {
        let args = ["--bare-batch", brokers, "stock", &n.to_string()];
        let batch_run = measure(wrapped_command(&bare).args(args));
        rows.push(batch_run.row(broker, label.into(), 0.0, false));
    }
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
        let mut command = wrapped_command(&examples.kafka_to_lake);
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
pub(crate) fn bulk_paths(n: u64, csv: &Path, examples: &Examples, dir: &Path) -> Vec<Row> {
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
        wrapped_command(&examples.csv_to_lake)
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
pub(crate) fn write_csv(path: &Path, n: u64) {
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
