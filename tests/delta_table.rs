//! Delta tables (feature `delta`): what the lake sink commits is read back
//! by an independent reader (the Python `deltalake` package) and by a
//! replay of the `_delta_log` JSON done here; a crash between the Delta
//! commit and the source commit duplicates nothing.
#![cfg(feature = "delta")]

mod common;

use std::collections::BTreeMap;

use common::delta::{expected_rows, read_with_deltalake, replay_log};
use common::{assert_same_rows, numbered_records};
use streamlake::{Column, ColumnType, DeltaOptions, Lake, LakeSink, RecordSink, TableFormat};

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
