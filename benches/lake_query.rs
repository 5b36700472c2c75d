//! Query and crawl times on a local lake (release build):
//!
//! - a group-by over 1,000,000 stock rows, the same rows in a JSON Lines
//!   table and a Parquet table (both partitioned by index), median of 5;
//! - crawling a lake of 10,000 small objects in 100 partitions: the first
//!   crawl, a re-crawl with nothing new, and a re-crawl after 100 new
//!   objects.
//!
//! `cargo bench --features sql --bench lake_query`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use streamlake::catalog::Crawler;
use streamlake::object_store::{ObjectStoreExt, PutPayload};
use streamlake::sql::LakeSql;
use streamlake::{Lake, LakeSink, ParquetEncoder, RecordSink, StockTicks};

const ROWS: u64 = 1_000_000;
const OBJECTS: usize = 10_000;

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Median time of the group-by, the number of groups, the table's bytes.
async fn query_times(lake: &Lake, sql: &LakeSql, table: &str) -> (Duration, usize, u64) {
    let query = format!(
        r#"SELECT index, count(*) AS n, avg("CloseUSD") AS avg_close, max("High") AS high
           FROM {table} GROUP BY index ORDER BY index"#
    );
    let mut times = Vec::new();
    let mut groups = 0;
    for _ in 0..5 {
        let start = Instant::now();
        let batches = sql.query(&query).await.unwrap();
        times.push(start.elapsed());
        groups = batches.iter().map(|b| b.num_rows()).sum::<usize>();
    }
    let bytes = Crawler::new()
        .prefix(table)
        .run(lake)
        .await
        .unwrap()
        .0
        .table(table)
        .unwrap()
        .bytes();
    (median(times), groups, bytes)
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path()).unwrap();
    let records = StockTicks::new(1).rows(ROWS as usize);
    let json_mb = records.iter().map(|r| r.value.len()).sum::<usize>() as f64 / 1e6;
    for (table, parquet) in [("stock_jsonl", false), ("stock_parquet", true)] {
        let mut sink = LakeSink::builder(lake.clone())
            .table(table)
            .partition_by("index={Index}")
            .max_records_per_object(250_000);
        if parquet {
            sink = sink.encoder(ParquetEncoder::new(StockTicks::columns()));
        }
        let mut sink = sink.build().unwrap();
        for chunk in records.chunks(100_000) {
            sink.write(chunk.to_vec()).await.unwrap();
        }
        sink.flush().await.unwrap();
    }
    let (catalog, _) = Crawler::new().run(&lake).await.unwrap();
    let sql = LakeSql::new(&lake, &catalog).unwrap();
    let (jsonl, groups, jsonl_bytes) = query_times(&lake, &sql, "stock_jsonl").await;
    let (parquet, _, parquet_bytes) = query_times(&lake, &sql, "stock_parquet").await;
    println!(
        "group-by over {ROWS} stock rows ({json_mb:.0} MB of JSON), {groups} groups, median of 5:"
    );
    println!(
        "  JSON Lines: {:>8.1} ms  ({:.0} MB on disk)",
        jsonl.as_secs_f64() * 1e3,
        jsonl_bytes as f64 / 1e6
    );
    println!(
        "  Parquet:    {:>8.1} ms  ({:.0} MB on disk, snappy)  JSON Lines / Parquet = {:.1}x",
        parquet.as_secs_f64() * 1e3,
        parquet_bytes as f64 / 1e6,
        jsonl.as_secs_f64() / parquet.as_secs_f64()
    );

    // A lake of many small objects.
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path()).unwrap();
    let put = |i: usize| {
        let lake = lake.clone();
        async move {
            let key = lake.path(&format!("many/part={}/obj-{i:06}.jsonl", i % 100));
            let body = format!("{{\"id\":{i},\"v\":{}.5,\"s\":\"x{i}\"}}\n", i % 7).repeat(5);
            lake.store()
                .put(&key, PutPayload::from(Bytes::from(body)))
                .await
                .unwrap();
        }
    };
    for i in 0..OBJECTS {
        put(i).await;
    }
    let start = Instant::now();
    let (catalog, report) = Crawler::new().run(&lake).await.unwrap();
    let first = start.elapsed();
    assert_eq!(report.objects_read, OBJECTS);
    assert_eq!(catalog.table("many").unwrap().partitions.len(), 100);
    let start = Instant::now();
    let (_, report) = Crawler::new().run(&lake).await.unwrap();
    let again = start.elapsed();
    assert_eq!(report.objects_read, 0);
    for i in OBJECTS..OBJECTS + 100 {
        put(i).await;
    }
    let start = Instant::now();
    let (_, report) = Crawler::new().run(&lake).await.unwrap();
    let more = start.elapsed();
    assert_eq!(report.objects_read, 100);
    println!("crawl of {OBJECTS} objects in 100 partitions (local directory):");
    println!(
        "  first crawl:        {:>8.1} ms  ({:.0} objects/s)",
        first.as_secs_f64() * 1e3,
        OBJECTS as f64 / first.as_secs_f64()
    );
    println!(
        "  re-crawl, nothing new: {:>5.1} ms",
        again.as_secs_f64() * 1e3
    );
    println!("  re-crawl, 100 new:  {:>8.1} ms", more.as_secs_f64() * 1e3);
}
