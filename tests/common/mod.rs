//! Helpers shared by the integration tests: reading a lake back with
//! nothing but the object store and the compression codecs.

#![allow(dead_code)]

#[cfg(feature = "kafka")]
pub mod broker;
pub mod cargo_env;
pub mod channel_source;
pub mod conformance;
#[cfg(feature = "delta")]
pub mod delta;
#[cfg(feature = "s3")]
pub mod fault_proxy;
pub mod faulty_store;
#[cfg(feature = "kafka")]
pub mod kafka_scenarios;
#[cfg(feature = "kafka")]
pub mod lake_writer;
pub mod process;
#[cfg(feature = "s3")]
pub mod s3;
pub mod service;
pub mod trace_events;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use futures::TryStreamExt;
use streamlake::object_store::{ObjectStore, ObjectStoreExt};
use streamlake::{Compression, Lake, Position, Record};

/// Every object under `prefix` (relative to the lake root), key → bytes
/// after decompression.
pub async fn objects(lake: &Lake, prefix: &str) -> BTreeMap<String, Vec<u8>> {
    let store: &dyn ObjectStore = lake.store().as_ref();
    let prefix = lake.path(prefix);
    let metas: Vec<_> = store.list(Some(&prefix)).try_collect().await.unwrap();
    let mut out = BTreeMap::new();
    for meta in metas {
        let key = meta.location.to_string();
        let bytes = store
            .get(&meta.location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let plain = Compression::from_file_name(&key)
            .decompress(&bytes)
            .unwrap_or_else(|e| panic!("{key} does not decompress: {e}"));
        out.insert(key, plain);
    }
    out
}

/// The JSON Lines rows of every object of `table`, sorted (a multiset).
pub async fn rows(lake: &Lake, table: &str) -> Vec<String> {
    let mut rows = Vec::new();
    for (key, bytes) in objects(lake, table).await {
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.ends_with('\n'), "{key} is not whole");
        for line in text.lines() {
            serde_json::from_str::<serde_json::Value>(line)
                .unwrap_or_else(|e| panic!("{key}: line {line:?} is not JSON: {e}"));
            rows.push(line.to_string());
        }
    }
    rows.sort();
    rows
}

/// The values of records, sorted (a multiset).
pub fn values(records: &[Record]) -> Vec<String> {
    let mut v: Vec<_> = records
        .iter()
        .map(|r| String::from_utf8(r.value.to_vec()).unwrap())
        .collect();
    v.sort();
    v
}

/// `n` stock-like records on `partitions` partitions of stream `t`, each
/// value naming its own position, so a row found in the lake says which
/// record it is.
pub fn numbered_records(n: i64, partitions: i32) -> Vec<Record> {
    (0..n)
        .map(|i| {
            let partition = (i % i64::from(partitions)) as i32;
            let offset = i / i64::from(partitions);
            let index = ["HSI", "NYA", "N225"][(i % 3) as usize];
            Record::new(
                Position::new("t", partition, offset),
                format!(
                    r#"{{"Index":"{index}","p":{partition},"o":{offset},"pad":"{}"}}"#,
                    "x".repeat((i % 50) as usize)
                ),
            )
            .with_timestamp(i * 1000)
        })
        .collect()
}

/// Asserts two sorted multisets are equal, printing only the difference.
pub fn assert_same_rows(got: &[String], want: &[String], what: &str) {
    if got == want {
        return;
    }
    let (g, w) = (count(got), count(want));
    #[allow(clippy::items_after_statements)]
    fn count(rows: &[String]) -> BTreeMap<&str, i64> {
        let mut m = BTreeMap::new();
        for r in rows {
            *m.entry(r.as_str()).or_default() += 1;
        }
        m
    }
    let missing: Vec<_> = w
        .iter()
        .filter(|(k, n)| g.get(*k).copied().unwrap_or(0) < **n)
        .map(|(k, _)| *k)
        .collect();
    let extra: Vec<_> = g
        .iter()
        .filter(|(k, n)| w.get(*k).copied().unwrap_or(0) < **n)
        .map(|(k, _)| *k)
        .collect();
    panic!(
        "{what}: {} rows, expected {}; {} missing (first {:?}), {} duplicated or unexpected (first {:?})",
        got.len(),
        want.len(),
        missing.len(),
        missing.first(),
        extra.len(),
        extra.first()
    );
}

/// The example binary, built (or found up to date) by the same cargo that
/// runs this test, so the child always runs the code under test.
pub fn example(name: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = cargo_env::without_package_vars(&mut Command::new(cargo))
        .args(["build", "--quiet", "--all-features", "--example", name])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("running cargo to build the example");
    assert!(status.success(), "building example {name} failed");
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test` (which builds examples)",
        path.display()
    );
    path
}

/// The test virtualenv's Python, checked to import `module`.
pub fn python(module: &str) -> PathBuf {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let ok = Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{} with {module} is missing: run `scripts/services.sh install`",
        python.display()
    );
    python
}

/// xorshift64*: random kill points, reproducible from the printed seed.
pub struct Rng(pub u64);
impl Rng {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}
