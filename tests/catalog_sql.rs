//! Crawler, catalog and SQL over lakes written by the sink: schema and
//! partition discovery, incremental re-crawls, SQL answers checked against
//! values computed here from the input records, and a Parquet lake giving
//! the same answers as a JSON Lines lake.

#![cfg(feature = "sql")]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use streamlake::catalog::{Catalog, ColumnType, Crawler, Format, SchemaConflictPolicy, crawl};
use streamlake::object_store::{ObjectStoreExt, PutPayload};
use streamlake::sql::{LakeSql, OutputFormat};
use streamlake::{
    Compression, CsvEncoder, Lake, LakeSink, ParquetEncoder, Position, Record, RecordSink,
    StockTicks,
};

async fn write(sink: streamlake::LakeSinkBuilder, records: Vec<Record>) {
    let mut sink = sink.build().unwrap();
    let rejected = sink.write(records).await.unwrap();
    assert!(rejected.is_empty(), "{rejected:?}");
    sink.flush().await.unwrap();
}

fn json(record: &Record) -> serde_json::Value {
    serde_json::from_slice(&record.value).unwrap()
}

fn year(record: &Record) -> String {
    json(record)["Date"].as_str().unwrap()[..4].to_string()
}

#[tokio::test]
async fn crawl_finds_tables_schemas_and_partitions_and_persists_them() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path()).unwrap();
    let stock = StockTicks::new(5).rows(5_000);
    write(
        LakeSink::builder(lake.clone())
            .table("stock")
            .partition_by("index={Index}/year={@year}")
            .compression(Compression::gzip()),
        stock.clone(),
    )
    .await;
    // The classic tutorial's first message was junk; a later one has a
    // note with commas and quotes.
    let mut messages = vec![Record::new(
        Position::new("raw", 0, 0),
        r#"{"surnasdasdame": "parasdasdmar"}"#,
    )];
    for (i, r) in stock[..10].iter().enumerate() {
        messages.push(Record::new(
            Position::new("raw", 0, i as i64 + 1),
            r.value.clone(),
        ));
    }
    messages.push(Record::new(
        Position::new("raw", 0, 11),
        r#"{"Index":"HSI","Note":"up, \"a lot\"","Close":null}"#,
    ));
    write(LakeSink::builder(lake.clone()).table("messages"), messages).await;
    write(
        LakeSink::builder(lake.clone())
            .table("stock_csv")
            .partition_by("index={Index}")
            .encoder(CsvEncoder::new()),
        stock[..1000].to_vec(),
    )
    .await;

    let (catalog, report) = crawl(&lake, "").await.unwrap();
    assert_eq!(
        report.new_tables,
        ["messages", "stock", "stock_csv"],
        "{report}"
    );
    assert!(
        report.conflicts.is_empty() && report.bad_records.is_empty(),
        "{report}"
    );

    let table = catalog.table("stock").unwrap();
    assert_eq!(table.format, Format::JsonLines);
    assert_eq!(
        table.compression,
        streamlake::catalog::TableCompression::Gzip
    );
    assert_eq!(table.columns, StockTicks::columns());
    let keys: Vec<(&str, ColumnType)> = table
        .partition_keys
        .iter()
        .map(|k| (k.name.as_str(), k.column_type))
        .collect();
    assert_eq!(
        keys,
        [("index", ColumnType::String), ("year", ColumnType::Bigint)]
    );
    let want: BTreeSet<Vec<String>> = stock
        .iter()
        .map(|r| vec![json(r)["Index"].as_str().unwrap().to_string(), year(r)])
        .collect();
    let got: BTreeSet<Vec<String>> = table.partitions.iter().map(|p| p.values.clone()).collect();
    assert_eq!(got, want);
    // Files and bytes per partition match the objects in the directory.
    for partition in &table.partitions {
        let listed: Vec<_> = std::fs::read_dir(dir.path().join(&partition.location))
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .collect();
        assert_eq!(
            partition.files,
            listed.len() as u64,
            "{}",
            partition.location
        );
        assert_eq!(
            partition.bytes,
            listed.iter().sum::<u64>(),
            "{}",
            partition.location
        );
    }

    let messages = catalog.table("messages").unwrap();
    assert!(messages.partition_keys.is_empty());
    let names: Vec<&str> = messages.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names[0], "surnasdasdame");
    assert_eq!(names.last(), Some(&"Note"));
    assert_eq!(
        messages.column("Note").unwrap().column_type,
        ColumnType::String
    );
    assert_eq!(
        messages.column("Close").unwrap().column_type,
        ColumnType::Double
    );

    let csv = catalog.table("stock_csv").unwrap();
    assert_eq!(csv.format, Format::Csv);
    assert_eq!(csv.columns, StockTicks::columns());

    assert_eq!(Catalog::load(&lake).await.unwrap(), catalog);
    let ddl = table.athena_ddl("s3://bucket/lake");
    assert!(ddl.contains("'mapping.adj_close' = 'Adj Close'"), "{ddl}");
    assert!(
        ddl.contains("PARTITIONED BY (`index` string, `year` bigint)"),
        "{ddl}"
    );
}

async fn put(lake: &Lake, key: &str, text: &str) {
    let key = lake.path(key);
    lake.store()
        .put(&key, PutPayload::from(Bytes::from(text.to_string())))
        .await
        .unwrap();
}

#[tokio::test]
async fn recrawl_reads_only_new_objects_adds_columns_and_applies_the_conflict_policy() {
    let lake = Lake::memory();
    put(&lake, "t/a.jsonl", "{\"a\":1,\"b\":\"x\"}\n").await;
    put(&lake, "u/a.jsonl", "{\"a\":1}\n").await;
    let (_, first) = crawl(&lake, "").await.unwrap();
    assert_eq!(first.objects_read, 2);

    put(&lake, "t/b.jsonl", "{\"a\":1.5,\"c\":true}\nnot json\n").await;
    put(&lake, "u/b.jsonl", "{\"a\":\"one\"}\n").await;
    let crawler = Crawler::new().prefix("t");
    let (catalog, report) = crawler.run(&lake).await.unwrap();
    assert_eq!(report.objects_read, 1, "{report}");
    assert_eq!(report.new_columns, ["t.c (boolean)"]);
    assert_eq!(report.conflicts.len(), 1, "{report}");
    assert!(report.conflicts[0].contains("t.a: catalog has bigint, an object has double"));
    assert_eq!(report.bad_records.len(), 1, "{report}");
    assert!(
        report.bad_records[0].starts_with("t/b.jsonl line 2: "),
        "{report}"
    );
    let t = catalog.table("t").unwrap();
    assert_eq!(t.column("a").unwrap().column_type, ColumnType::Bigint);
    assert_eq!(t.objects.len(), 2);
    // Table `u` is outside the prefix: untouched.
    assert_eq!(catalog.table("u").unwrap().objects.len(), 1);

    let (catalog, report) = Crawler::new()
        .on_schema_conflict(SchemaConflictPolicy::Update)
        .run(&lake)
        .await
        .unwrap();
    assert_eq!(report.objects_read, 1, "only u/b.jsonl is new: {report}");
    assert_eq!(
        catalog.table("u").unwrap().column("a").unwrap().column_type,
        ColumnType::String
    );
    let (_, report) = crawl(&lake, "").await.unwrap();
    assert_eq!(report.objects_read, 0);

    // A table whose objects are gone leaves the stored catalog too.
    for key in ["u/a.jsonl", "u/b.jsonl"] {
        lake.store().delete(&lake.path(key)).await.unwrap();
    }
    let (catalog, _) = crawl(&lake, "").await.unwrap();
    assert!(catalog.table("u").is_none());
    assert_eq!(Catalog::load(&lake).await.unwrap(), catalog);

    // An empty object is no error; a crawl under a prefix inside a table
    // refreshes only that part of it.
    put(&lake, "p/k=1/a.jsonl", "{\"a\":1}\n").await;
    put(&lake, "p/k=2/a.jsonl", "{\"a\":2}\n").await;
    put(&lake, "p/k=2/empty.jsonl", "").await;
    let (catalog, report) = crawl(&lake, "").await.unwrap();
    assert!(report.skipped.is_empty(), "{report}");
    assert_eq!(catalog.table("p").unwrap().objects.len(), 3);
    put(&lake, "p/k=1/b.jsonl", "{\"a\":3}\n").await;
    let (catalog, report) = Crawler::new().prefix("p/k=1").run(&lake).await.unwrap();
    assert_eq!(report.objects_read, 1, "{report}");
    let p = catalog.table("p").unwrap();
    assert_eq!(p.objects.len(), 4, "{:?}", p.objects);
    let files: Vec<(String, u64)> = p
        .partitions
        .iter()
        .map(|p| (p.values[0].clone(), p.files))
        .collect();
    assert_eq!(files, [("1".to_string(), 2), ("2".to_string(), 2)]);
}

/// Rows of a query as JSON objects.
async fn rows(sql: &LakeSql, query: &str) -> Vec<serde_json::Value> {
    let batches = sql.query(query).await.unwrap();
    OutputFormat::JsonLines
        .render(&batches)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Per (index, year): count, sum of Volume, min and max Close, computed
/// from the input records.
fn expected(records: &[Record]) -> BTreeMap<(String, i64), (u64, f64, f64, f64)> {
    let mut out: BTreeMap<(String, i64), (u64, f64, f64, f64)> = BTreeMap::new();
    for r in records {
        let v = json(r);
        let key = (
            v["Index"].as_str().unwrap().to_string(),
            year(r).parse().unwrap(),
        );
        let close = v["Close"].as_f64().unwrap();
        let e = out.entry(key).or_insert((0, 0.0, f64::MAX, f64::MIN));
        e.0 += 1;
        e.1 += v["Volume"].as_f64().unwrap();
        e.2 = e.2.min(close);
        e.3 = e.3.max(close);
    }
    out
}

const PER_PARTITION: &str = r#"SELECT index, year, count(*) AS n, sum("Volume") AS volume,
    min("Close") AS lo, max("Close") AS hi FROM {table} GROUP BY index, year ORDER BY index, year"#;

fn check_per_partition(
    got: &[serde_json::Value],
    want: &BTreeMap<(String, i64), (u64, f64, f64, f64)>,
) {
    assert_eq!(got.len(), want.len());
    for (row, ((index, year), (n, volume, lo, hi))) in got.iter().zip(want) {
        assert_eq!(row["index"], index.as_str());
        assert_eq!(row["year"], *year);
        assert_eq!(row["n"], *n, "{row}");
        let sum = row["volume"].as_f64().unwrap();
        assert!(
            (sum - volume).abs() <= volume.abs() * 1e-9,
            "{row} vs {volume}"
        );
        assert_eq!(row["lo"].as_f64().unwrap(), *lo, "{row}");
        assert_eq!(row["hi"].as_f64().unwrap(), *hi, "{row}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sql_answers_match_values_computed_from_the_input_in_json_lines_and_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path()).unwrap();
    let records = StockTicks::new(11).rows(20_000);
    write(
        LakeSink::builder(lake.clone())
            .table("stock")
            .partition_by("index={Index}/year={@year}"),
        records.clone(),
    )
    .await;
    write(
        LakeSink::builder(lake.clone())
            .table("stock_parquet")
            .partition_by("index={Index}/year={@year}")
            .encoder(ParquetEncoder::new(StockTicks::columns())),
        records.clone(),
    )
    .await;
    let (catalog, report) = crawl(&lake, "").await.unwrap();
    assert!(report.skipped.is_empty(), "{report}");
    let parquet = catalog.table("stock_parquet").unwrap();
    assert_eq!(parquet.format, Format::Parquet);
    assert_eq!(
        parquet.columns,
        StockTicks::columns(),
        "from the Parquet footers"
    );
    let sql = LakeSql::new(&lake, &catalog).unwrap();
    let want = expected(&records);

    for table in ["stock", "stock_parquet"] {
        let got = rows(&sql, &PER_PARTITION.replace("{table}", table)).await;
        check_per_partition(&got, &want);

        // A filter on partition columns: the answer, and the plan reads
        // only that partition's objects.
        let hsi_1991 = want[&("HSI".to_string(), 1991)].0;
        let filtered =
            format!("SELECT count(*) AS n FROM {table} WHERE index = 'HSI' AND year = 1991");
        assert_eq!(rows(&sql, &filtered).await[0]["n"], hsi_1991);
        // (A sum, because Parquet answers count(*) from footer statistics.)
        let scan = format!(
            r#"EXPLAIN SELECT sum("Volume") FROM {table} WHERE index = 'HSI' AND year = 1991"#
        );
        let plan = OutputFormat::Table
            .render(&sql.query(&scan).await.unwrap())
            .unwrap();
        assert!(plan.contains("index=HSI/year=1991"), "{plan}");
        assert!(
            !plan.contains("index=NYA"),
            "partitions not pruned:\n{plan}"
        );
    }
    let total = rows(
        &sql,
        r#"SELECT count(*) AS n, count(DISTINCT "Index") AS i FROM stock_parquet"#,
    )
    .await;
    assert_eq!(total[0]["n"], records.len() as u64);
    assert_eq!(
        total[0]["i"],
        want.keys().map(|k| &k.0).collect::<BTreeSet<_>>().len() as u64
    );
}

#[tokio::test]
async fn lake_query_prints_ddl_and_results_on_stdout_and_reports_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path()).unwrap();
    let records = StockTicks::new(2).rows(500);
    write(
        LakeSink::builder(lake.clone())
            .table("stock")
            .partition_by("index={Index}"),
        records.clone(),
    )
    .await;
    let run = |args: &[&str]| {
        let out = common::process::output(
            "lake_query",
            std::process::Command::new(common::example("lake_query"))
                .arg("--lake")
                .arg(dir.path())
                .args(args),
            common::process::step_timeout(),
        );
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        (String::from_utf8(out.stdout).unwrap(), stderr)
    };
    let (stdout, stderr) = run(&["--crawl", "--ddl", "athena", "--location", "s3://b/l"]);
    assert!(stderr.contains("crawl: "), "{stderr}");
    assert!(
        stdout.starts_with("CREATE EXTERNAL TABLE IF NOT EXISTS `stock`"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ALTER TABLE `stock` ADD IF NOT EXISTS"),
        "{stdout}"
    );
    let (stdout, _) = run(&["--ddl", "glue"]);
    let glue: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(glue["Name"], "stock");
    let (stdout, _) = run(&[
        "--sql",
        "SELECT count(*) AS n FROM stock WHERE index = 'HSI'",
        "--output",
        "csv",
    ]);
    let hsi = records.iter().filter(|r| json(r)["Index"] == "HSI").count();
    assert_eq!(stdout, format!("n\n{hsi}\n"));
}

/// Table locations whose names collide once normalised (`Stock`/`stock`,
/// `a-b`/`a_b`) are reported as conflicts, never merged into one table.
#[tokio::test]
async fn colliding_table_names_are_a_conflict_not_a_merge() {
    let lake = Lake::memory();
    put(&lake, "Stock/a.jsonl", "{\"a\":1}\n").await;
    put(&lake, "stock/b.jsonl", "{\"b\":\"x\"}\n").await;
    put(&lake, "a-b/c.jsonl", "{\"c\":1}\n").await;
    put(&lake, "a_b/d.jsonl", "{\"d\":1}\n").await;
    let (catalog, report) = crawl(&lake, "").await.unwrap();
    assert_eq!(catalog.tables().count(), 2, "{catalog:?}");
    for table in catalog.tables() {
        assert_eq!(
            table.objects.len(),
            1,
            "{} merged: {:?}",
            table.name,
            table.objects
        );
        assert_eq!(
            table.columns.len(),
            1,
            "{} merged: {:?}",
            table.name,
            table.columns
        );
    }
    assert_eq!(report.conflicts.len(), 2, "{report:?}");
    assert!(
        report
            .conflicts
            .iter()
            .any(|c| c.contains("stock") && c.contains("Stock")),
        "{report:?}"
    );
}
