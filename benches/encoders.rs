//! Encoder throughput over 100k stock rows, beside hand-written serde
//! baselines (what a script would do) in the same run.
//!
//! `cargo bench --bench encoders`

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde::{Deserialize, Serialize};
use streamlake::{Compression, CsvEncoder, Encoder, JsonLinesEncoder, Record, StockTicks};

const ROWS: usize = 100_000;

#[derive(Serialize, Deserialize)]
struct StockRow {
    #[serde(rename = "Index")]
    index: String,
    #[serde(rename = "Date")]
    date: String,
    #[serde(rename = "Open")]
    open: f64,
    #[serde(rename = "High")]
    high: f64,
    #[serde(rename = "Low")]
    low: f64,
    #[serde(rename = "Close")]
    close: f64,
    #[serde(rename = "Adj Close")]
    adj_close: f64,
    #[serde(rename = "Volume")]
    volume: f64,
    #[serde(rename = "CloseUSD")]
    close_usd: f64,
}

fn rows() -> (Vec<Record>, Vec<StockRow>, u64) {
    let mut ticks = StockTicks::new(1);
    let records: Vec<Record> = (0..ROWS).map(|_| ticks.next_row()).collect();
    let structs = records
        .iter()
        .map(|r| serde_json::from_slice(&r.value).unwrap())
        .collect();
    let bytes = records.iter().map(|r| r.value.len() as u64 + 1).sum();
    (records, structs, bytes)
}

fn encoders(c: &mut Criterion) {
    let (records, structs, bytes) = rows();
    let mut group = c.benchmark_group("encode_100k_stock_rows");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ROWS as u64));
    eprintln!("input: {ROWS} rows, {bytes} bytes of JSON Lines");

    group.bench_function("baseline_serde_json_to_writer", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(bytes as usize);
            for row in &structs {
                serde_json::to_writer(&mut out, row).unwrap();
                out.push(b'\n');
            }
            out
        })
    });
    group.bench_function("jsonl", |b| {
        b.iter(|| {
            let mut out = BytesMut::new();
            JsonLinesEncoder::new().encode(&records, &mut out).unwrap();
            out
        })
    });
    group.bench_function("baseline_csv_serialize", |b| {
        b.iter(|| {
            let mut writer = csv::Writer::from_writer(Vec::with_capacity(bytes as usize));
            for row in &structs {
                writer.serialize(row).unwrap();
            }
            writer.into_inner().unwrap()
        })
    });
    group.bench_function("csv", |b| {
        b.iter(|| {
            let mut out = BytesMut::new();
            CsvEncoder::new().encode(&records, &mut out).unwrap();
            out
        })
    });
    for (name, compression) in [
        ("jsonl_gzip", Compression::gzip()),
        ("jsonl_zstd", Compression::zstd()),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut encoded = BytesMut::new();
                JsonLinesEncoder::new()
                    .encode(&records, &mut encoded)
                    .unwrap();
                let mut out = BytesMut::new();
                compression.compress(&encoded, &mut out).unwrap();
                out
            })
        });
    }
    group.finish();
}

criterion_group!(benches, encoders);
criterion_main!(benches);
