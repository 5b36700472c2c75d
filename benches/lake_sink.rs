//! Local-directory lake sink throughput over 100k stock rows partitioned by
//! index, beside two baselines in the same run: what a script does (parse
//! each row with serde_json, group by `Index`, write one file per index), and
//! the floor (write the already grouped bytes with `std::fs::write`).
//!
//! `cargo bench --bench lake_sink`

use std::collections::BTreeMap;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use streamlake::{Lake, LakeSink, Record, RecordSink, StockTicks};

const ROWS: usize = 100_000;

fn lake_sink(c: &mut Criterion) {
    let mut ticks = StockTicks::new(1);
    let records: Vec<Record> = (0..ROWS).map(|_| ticks.next_row()).collect();
    // The baseline's input: the same rows already grouped per index.
    let mut by_index: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for r in &records {
        let v: serde_json::Value = serde_json::from_slice(&r.value).unwrap();
        let file = by_index
            .entry(v["Index"].as_str().unwrap().to_string())
            .or_default();
        file.extend_from_slice(&r.value);
        file.push(b'\n');
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut group = c.benchmark_group("local_lake_100k_stock_rows");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ROWS as u64));

    group.bench_function("baseline_fs_write_same_bytes", |b| {
        b.iter_batched(
            || tempfile::tempdir().unwrap(),
            |dir| {
                for (index, bytes) in &by_index {
                    let sub = dir.path().join(format!("index={index}"));
                    std::fs::create_dir_all(&sub).unwrap();
                    std::fs::write(sub.join("part.jsonl"), bytes).unwrap();
                }
                dir
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("baseline_parse_group_write", |b| {
        b.iter_batched(
            || tempfile::tempdir().unwrap(),
            |dir| {
                let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
                for r in &records {
                    let v: serde_json::Value = serde_json::from_slice(&r.value).unwrap();
                    let file = files
                        .entry(v["Index"].as_str().unwrap().to_string())
                        .or_default();
                    serde_json::to_writer(&mut *file, &v).unwrap();
                    file.push(b'\n');
                }
                for (index, bytes) in &files {
                    let sub = dir.path().join(format!("index={index}"));
                    std::fs::create_dir_all(&sub).unwrap();
                    std::fs::write(sub.join("part.jsonl"), bytes).unwrap();
                }
                dir
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("lake_sink_jsonl", |b| {
        b.iter_batched(
            || (tempfile::tempdir().unwrap(), records.clone()),
            |(dir, records)| {
                runtime.block_on(async {
                    let lake = Lake::local(dir.path()).unwrap();
                    let mut sink = LakeSink::builder(lake)
                        .table("stock")
                        .partition_by("index={Index}")
                        .build()
                        .unwrap();
                    for chunk in records.chunks(1024) {
                        sink.write(chunk.to_vec()).await.unwrap();
                    }
                    sink.flush().await.unwrap();
                });
                dir
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, lake_sink);
criterion_main!(benches);
