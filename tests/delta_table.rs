//! Delta tables (feature `delta`): what the lake sink commits is read back
//! by an independent reader (the Python `deltalake` package) and by a
//! replay of the `_delta_log` JSON done here; a crash between the Delta
//! commit and the source commit duplicates nothing.
#![cfg(feature = "delta")]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::{assert_same_rows, numbered_records, python};
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
    LakeSink::builder(lake.clone())
        .table("stock")
        .partition_by("Index={Index}")
        .max_records_per_object(max_records)
        .table_format(TableFormat::Delta(
            DeltaOptions::new(columns()).writer("group-1"),
        ))
        .build()
        .unwrap()
}

/// The table as the Python `deltalake` package reads it: its rows (as
/// JSON objects with sorted keys, sorted), schema and partition columns.
struct Read {
    rows: Vec<String>,
    schema: Vec<String>,
    partition_columns: Vec<String>,
}

fn read_with_deltalake(table: &Path) -> Read {
    let script = r#"
import json, sys
from deltalake import DeltaTable, QueryBuilder
t = DeltaTable(sys.argv[1])
print(json.dumps({"schema": [f"{f.name}:{f.type.type}" for f in t.schema().fields],
                  "partition_columns": t.metadata().partition_columns}))
batches = QueryBuilder().register("t", t).execute("SELECT * FROM t").read_all()
columns = {name: batches.column(name).to_pylist() for name in batches.schema.names}
n = batches.num_rows
for i in range(n):
    print(json.dumps({k: v[i] for k, v in columns.items()}, sort_keys=True, separators=(",", ":")))
"#;
    let out = Command::new(python("deltalake"))
        .args(["-c", script, table.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "deltalake failed to read {}: {}",
        table.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let head: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let mut rows: Vec<String> = lines.map(str::to_string).collect();
    rows.sort();
    Read {
        rows,
        schema: strings(&head["schema"]),
        partition_columns: strings(&head["partition_columns"]),
    }
}

/// The input records as the rows a reader returns.
fn expected_rows(records: &[Record]) -> Vec<String> {
    let mut rows: Vec<String> = records
        .iter()
        .map(|r| {
            let v: BTreeMap<String, serde_json::Value> = serde_json::from_slice(&r.value).unwrap();
            serde_json::to_string(&v).unwrap()
        })
        .collect();
    rows.sort();
    rows
}

/// Replays `_delta_log/*.json` by hand: the live data files (added, not
/// removed), their total `numRecords`, and the last `txn` version per app.
fn replay_log(table: &Path) -> (BTreeMap<String, u64>, BTreeMap<String, i64>) {
    let mut entries: Vec<_> = std::fs::read_dir(table.join("_delta_log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    entries.sort();
    let (mut files, mut txns) = (BTreeMap::new(), BTreeMap::new());
    for entry in entries {
        for line in std::fs::read_to_string(entry).unwrap().lines() {
            let action: serde_json::Value = serde_json::from_str(line).unwrap();
            if let Some(add) = action.get("add") {
                let stats: serde_json::Value =
                    serde_json::from_str(add["stats"].as_str().unwrap()).unwrap();
                let path = add["path"].as_str().unwrap().to_string();
                files.insert(path, stats["numRecords"].as_u64().unwrap());
            } else if let Some(remove) = action.get("remove") {
                files.remove(remove["path"].as_str().unwrap());
            } else if let Some(txn) = action.get("txn") {
                let app = txn["appId"].as_str().unwrap().to_string();
                txns.insert(app, txn["version"].as_i64().unwrap());
            }
        }
    }
    (files, txns)
}

#[tokio::test]
async fn deltalake_reads_back_every_record_with_the_declared_schema() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path()).unwrap();
    let records = numbered_records(3_000, 3);
    let mut sink = delta_sink(&lake, 400);
    for chunk in records.chunks(500) {
        sink.write(chunk.to_vec()).await.unwrap();
    }
    sink.flush().await.unwrap();

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
