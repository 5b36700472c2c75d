//! Reading a Delta table back without streamlake: the Python `deltalake`
//! package (delta-rs's own reader, from PyPI) and a replay of the
//! `_delta_log` JSON done here.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use streamlake::Record;

use super::python;

/// The table as the Python `deltalake` package reads it: its rows (as
/// JSON objects with sorted keys, sorted), schema and partition columns.
pub struct Read {
    pub rows: Vec<String>,
    pub schema: Vec<String>,
    pub partition_columns: Vec<String>,
}

pub fn read_with_deltalake(table: &Path) -> Read {
    read_with_deltalake_at(table.to_str().unwrap(), &[])
}

/// [`read_with_deltalake`] of a table at a URL (`s3://bucket/prefix/table`),
/// with `env` (the S3 endpoint and credentials) for the reader.
pub fn read_with_deltalake_at(table: &str, env: &[(&'static str, String)]) -> Read {
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
    print(json.dumps({k: v[i] for k, v in columns.items()}, default=str))
"#;
    let out = Command::new(python("deltalake"))
        .args(["-c", script, table])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "deltalake failed to read {table}: {}",
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
    let mut rows: Vec<String> = lines.map(|line| canonical_row(line.as_bytes())).collect();
    rows.sort();
    Read {
        rows,
        schema: strings(&head["schema"]),
        partition_columns: strings(&head["partition_columns"]),
    }
}

/// The input records as the rows a reader returns, canonical.
pub fn expected_rows(records: &[Record]) -> Vec<String> {
    let mut rows: Vec<String> = records.iter().map(|r| canonical_row(&r.value)).collect();
    rows.sort();
    rows
}

/// A JSON object with its keys sorted and every number as a double
/// (a bigint `7` and a double `7.0` read back alike).
fn canonical_row(json: &[u8]) -> String {
    let row: BTreeMap<String, serde_json::Value> = serde_json::from_slice(json).unwrap();
    let row: BTreeMap<String, serde_json::Value> = row
        .into_iter()
        .map(|(k, v)| match v.as_f64() {
            Some(number) => (k, serde_json::Value::from(number)),
            None => (k, v),
        })
        .collect();
    serde_json::to_string(&row).unwrap()
}

/// Replays `_delta_log/*.json` by hand: the live data files (added, not
/// removed), their total `numRecords`, and the last `txn` version per app.
pub fn replay_log(table: &Path) -> (BTreeMap<String, u64>, BTreeMap<String, i64>) {
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
