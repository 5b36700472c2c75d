//! Bad input under each policy: fail names the record, skip counts it,
//! dead-letter keeps its original bytes; no good row is lost in any case.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{assert_same_rows, objects, rows};
use streamlake::{
    BadInputPolicy, CsvSource, Error, Lake, LakeSink, MemorySource, Pipeline, Position, Record,
};

const HEADER: &str = "Index,Date,Open,High,Low,Close,Adj Close,Volume,CloseUSD\n";

/// (line, raw bytes) of every row, good and bad.
fn csv_lines() -> Vec<(i64, Vec<u8>)> {
    let lines: Vec<&[u8]> = vec![
        b"HSI,1987-01-05,1,2,0.5,1.5,1.5,0.0,0.2",
        b"HSI,1987-01-06,1,2", // too few cells
        b"NYA,1987-01-07,1,2,0.5,1.5,1.5,0.0,1.5",
        b"HSI,not-a-date,1,2,0.5,1.5,1.5,0.0,0.2", // bad timestamp
        b"HSI,1987-01-08,\"1,2,0.5,1.5,1.5,0.0,0.2", // unbalanced quote
        b"NYA,1987-01-09,1,2,0.5,1.5,1.5,0.0,1.5",
        b"\xff\xfe,1987-01-10,1,2,0.5,1.5,1.5,0.0,1.5", // not UTF-8
        b",1987-01-11,1,2,0.5,1.5,1.5,0.0,1.5",         // no partition value
        b"N225,1987-01-12,1,2,0.5,1.5,1.5,0.0,0.01",
    ];
    lines
        .into_iter()
        .enumerate()
        .map(|(i, l)| (i as i64 + 2, l.to_vec()))
        .collect()
}

const BAD_LINES: [i64; 5] = [3, 5, 6, 8, 9];

fn good_rows() -> Vec<String> {
    let mut rows = vec![
        r#"{"Index":"HSI","Date":"1987-01-05","Open":1,"High":2,"Low":0.5,"Close":1.5,"Adj Close":1.5,"Volume":0.0,"CloseUSD":0.2}"#.to_string(),
        r#"{"Index":"NYA","Date":"1987-01-07","Open":1,"High":2,"Low":0.5,"Close":1.5,"Adj Close":1.5,"Volume":0.0,"CloseUSD":1.5}"#.to_string(),
        r#"{"Index":"NYA","Date":"1987-01-09","Open":1,"High":2,"Low":0.5,"Close":1.5,"Adj Close":1.5,"Volume":0.0,"CloseUSD":1.5}"#.to_string(),
        r#"{"Index":"N225","Date":"1987-01-12","Open":1,"High":2,"Low":0.5,"Close":1.5,"Adj Close":1.5,"Volume":0.0,"CloseUSD":0.01}"#.to_string(),
    ];
    rows.sort();
    rows
}

fn write_csv(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("bad.csv");
    let mut bytes = HEADER.as_bytes().to_vec();
    for (_, line) in csv_lines() {
        bytes.extend_from_slice(&line);
        bytes.push(b'\n');
    }
    std::fs::write(&path, bytes).unwrap();
    path
}

async fn ingest(
    csv: &Path,
    lake: &Lake,
    policy: BadInputPolicy,
) -> streamlake::Result<streamlake::PipelineStats> {
    let source = CsvSource::builder()
        .timestamp_column("Date")
        .checkpoint(csv.with_extension("checkpoint"))
        .open(csv)?;
    let sink = LakeSink::builder(lake.clone())
        .table("stock")
        .partition_by("index={Index}")
        .build()?;
    Pipeline::new(source, sink)
        .batch_size(3)
        .on_bad_input(policy)
        .run()
        .await
}

#[tokio::test]
async fn fail_stops_at_the_first_bad_row_naming_file_and_line_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write_csv(dir.path());
    let lake = Lake::local(dir.path().join("lake")).unwrap();
    let err = ingest(&csv, &lake, BadInputPolicy::Fail).await.unwrap_err();
    let Error::BadInput { position, reason } = &err else {
        panic!("{err}")
    };
    assert_eq!(position, &Position::new("bad.csv", 0, 3));
    assert!(
        reason.contains("bad.csv line 3") && reason.contains("4 cells"),
        "{reason}"
    );
    assert!(err.to_string().contains("bad.csv/0@3"), "{err}");

    // Rerunning with `skip` after the failure resumes from the checkpoint
    // and still delivers every good row exactly once.
    let stats = ingest(&csv, &lake, BadInputPolicy::Skip).await.unwrap();
    assert_eq!(stats.rejected, BAD_LINES.len() as u64);
    assert_same_rows(
        &rows(&lake, "stock").await,
        &good_rows(),
        "after fail, then skip",
    );
}

#[tokio::test]
async fn skip_counts_bad_rows_and_keeps_every_good_one() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write_csv(dir.path());
    let lake = Lake::local(dir.path().join("lake")).unwrap();
    let stats = ingest(&csv, &lake, BadInputPolicy::Skip).await.unwrap();
    assert_eq!(stats.records_in, csv_lines().len() as u64);
    assert_eq!(stats.rejected, BAD_LINES.len() as u64);
    assert_eq!(stats.records_out, 4);
    assert_same_rows(&rows(&lake, "stock").await, &good_rows(), "skip");
    assert!(objects(&lake, "_errors").await.is_empty());
}

#[tokio::test]
async fn dead_letter_keeps_the_original_bytes_and_reason_of_each_bad_row() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write_csv(dir.path());
    let lake = Lake::local(dir.path().join("lake")).unwrap();
    let stats = ingest(&csv, &lake, BadInputPolicy::dead_letter_to(&lake))
        .await
        .unwrap();
    assert_eq!(stats.dead_lettered, BAD_LINES.len() as u64);
    assert_same_rows(&rows(&lake, "stock").await, &good_rows(), "dead-letter");

    let letters = objects(&lake, "_errors").await;
    assert_eq!(letters.len(), BAD_LINES.len(), "{:?}", letters.keys());
    for (line, raw) in csv_lines()
        .into_iter()
        .filter(|(l, _)| BAD_LINES.contains(l))
    {
        let key = format!("_errors/bad.csv+0+{line:020}.json");
        let entry: serde_json::Value = serde_json::from_slice(&letters[&key]).unwrap();
        assert_eq!(entry["offset"], line);
        match std::str::from_utf8(&raw) {
            // Rejected by the sink (no partition value): the dead letter
            // holds the record value the sink was given.
            Ok(_) if line == 9 => assert_eq!(
                entry["raw"],
                r#"{"Index":null,"Date":"1987-01-11","Open":1,"High":2,"Low":0.5,"Close":1.5,"Adj Close":1.5,"Volume":0.0,"CloseUSD":1.5}"#
            ),
            // Rejected by the source: the original line.
            Ok(text) => assert_eq!(entry["raw"], text, "{key}"),
            Err(_) => {
                let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
                assert_eq!(entry["raw_hex"], hex, "{key}");
            }
        }
        let reason = entry["reason"].as_str().unwrap();
        assert!(
            reason.contains(&format!("line {line}")) || reason.contains("partition field"),
            "{key}: {reason}"
        );
    }
}

#[tokio::test]
async fn non_json_values_name_stream_partition_and_offset() {
    let records = vec![
        Record::new(Position::new("stock", 2, 6), r#"{"Index":"HSI"}"#),
        Record::new(Position::new("stock", 2, 7), "not json"),
        Record::new(
            Position::new("stock", 2, 8),
            r#"{"surnasdasdame": "parasdasdmar"}"#,
        ),
        Record::new(Position::new("stock", 2, 9), r#"{"Index":"NYA"}"#),
    ];
    let sink = |lake: &Lake| {
        LakeSink::builder(lake.clone())
            .table("stock")
            .partition_by("index={Index}")
            .build()
            .unwrap()
    };

    let lake = Lake::memory();
    let source = MemorySource::new(records.clone());
    let err = Pipeline::new(source, sink(&lake)).run().await.unwrap_err();
    assert_eq!(err.position(), Some(&Position::new("stock", 2, 7)));
    assert!(err.to_string().contains("stock/2@7") && err.to_string().contains("not a JSON object"));

    let lake = Lake::memory();
    let source = MemorySource::new(records);
    let committed = source.committed();
    let stats = Pipeline::new(source, sink(&lake))
        .on_bad_input(BadInputPolicy::dead_letter_to(&lake))
        .run()
        .await
        .unwrap();
    assert_eq!((stats.records_out, stats.dead_lettered), (2, 2));
    let letters = objects(&lake, "_errors").await;
    let letter: serde_json::Value =
        serde_json::from_slice(&letters["_errors/stock+2+00000000000000000007.json"]).unwrap();
    assert_eq!(letter["raw"], "not json");
    let junk: serde_json::Value =
        serde_json::from_slice(&letters["_errors/stock+2+00000000000000000008.json"]).unwrap();
    assert!(
        junk["reason"]
            .as_str()
            .unwrap()
            .contains("\"Index\" is missing")
    );
    assert_eq!(
        committed.lock().unwrap().last(),
        Some(&Position::new("stock", 2, 9))
    );
}

/// Runs `records` into `sink` with the dead-letter policy (letters in
/// `lake`); asserts the records written and dead-lettered.
async fn dead_letter_run(lake: &Lake, records: Vec<Record>, sink: LakeSink, want: (u64, u64)) {
    let stats = Pipeline::new(MemorySource::new(records), sink)
        .on_bad_input(BadInputPolicy::dead_letter_to(lake))
        .run()
        .await
        .unwrap();
    assert_eq!((stats.records_out, stats.dead_lettered), want, "{stats:?}");
}

/// The JSON Lines encoder copies values through, so routing checks each
/// value whole: broken anywhere (after the partition field, inside a
/// nested value, two objects in one value, a string that is not UTF-8) it
/// is refused naming its record, and the good records of its object land
/// byte for byte.
#[tokio::test]
async fn a_json_lines_value_broken_anywhere_is_refused_and_the_rest_land() {
    let at = |offset| Position::new("stock", 1, offset);
    let broken: [&[u8]; 8] = [
        br#"{"Index":"HSI","Open":12x}"#,
        br#"{"Index":"HSI","Open":1} {"Index":"HSI","Open":2}"#,
        br#"{"Index":"HSI","Open":"#,
        br#"{"Index":"HSI","Open":{"a":[1,]}}"#,
        br#"{"Index":"HSI","Open":"bad \q escape"}"#,
        b"{\"Index\":\"HSI\",\"Open\":\"tab\tinside\"}",
        b"{\"Index\":\"HSI\",\"Open\":\"\xff\xfe\"}",
        b"{\"Index\":\"HSI\",\"\xc3\":1}",
    ];
    let good = [
        r#"{"Index":"HSI","Open":1}"#,
        r#" { "Index" : "HSI" , "Open" : {"a":[1,"}"],"b":null} , "s":"\u00e9\"" } "#,
    ];
    let mut records = vec![Record::new(at(0), good[0])];
    for (i, value) in broken.iter().enumerate() {
        records.push(Record::new(at(1 + i as i64), value.to_vec()));
    }
    records.push(Record::new(at(9), good[1]));
    let lake = Lake::memory();
    let sink = LakeSink::builder(lake.clone())
        .table("stock")
        .partition_by("index={Index}")
        .build()
        .unwrap();
    dead_letter_run(&lake, records, sink, (2, broken.len() as u64)).await;
    let letters = objects(&lake, "_errors").await;
    for i in 0..broken.len() {
        let key = format!("_errors/stock+1+{:020}.json", 1 + i);
        assert!(letters.contains_key(&key), "{key} not dead-lettered");
    }
    let landed: Vec<u8> = objects(&lake, "stock")
        .await
        .into_values()
        .flatten()
        .collect();
    assert_eq!(landed, format!("{}\n{}\n", good[0], good[1]).into_bytes());
}

/// The Parquet encoder decodes every value whole, so routing reads only
/// the partition field: a value broken elsewhere (after the field, two
/// objects in one value, an object cut short) is still refused, by the
/// encoder, naming its record, and the good records of its object land.
#[cfg(feature = "parquet")]
#[tokio::test]
async fn a_value_broken_after_its_partition_field_is_refused_by_the_parquet_encoder() {
    use streamlake::ParquetEncoder;
    use streamlake::schema::{Column, ColumnType};

    let at = |offset| Position::new("stock", 1, offset);
    let broken = [
        r#"{"Index":"HSI","Open":12x}"#,
        r#"{"Index":"HSI","Open":1} {"Index":"HSI","Open":2}"#,
        r#"{"Index":"HSI","Open":"#,
        r#"{"Index":"HSI","Open":1}]"#,
    ];
    let mut records = vec![Record::new(at(0), r#"{"Index":"HSI","Open":1}"#)];
    for (i, value) in broken.iter().enumerate() {
        records.push(Record::new(at(1 + i as i64), value.to_string()));
    }
    records.push(Record::new(at(5), r#"{"Index":"HSI","Open":5}"#));
    let lake = Lake::memory();
    let sink = LakeSink::builder(lake.clone())
        .table("stock")
        .partition_by("index={Index}")
        .encoder(ParquetEncoder::new(vec![
            Column::new("Index", ColumnType::String),
            Column::new("Open", ColumnType::Bigint),
        ]))
        .build()
        .unwrap();
    dead_letter_run(&lake, records, sink, (2, 4)).await;
    let letters = objects(&lake, "_errors").await;
    for (i, value) in broken.iter().enumerate() {
        let key = format!("_errors/stock+1+{:020}.json", 1 + i);
        let letter: serde_json::Value = serde_json::from_slice(&letters[&key]).unwrap();
        assert_eq!(letter["raw"], *value, "{key}");
    }
}

/// Reads `csv` into a memory lake with the dead-letter policy and `source`
/// options; returns the lake.
async fn dead_letter_all(csv: &Path, builder: streamlake::CsvSourceBuilder) -> Lake {
    let lake = Lake::memory();
    let source = builder.open(csv).unwrap();
    let sink = LakeSink::builder(lake.clone())
        .table("stock")
        .build()
        .unwrap();
    Pipeline::new(source, sink)
        .on_bad_input(BadInputPolicy::dead_letter_to(&lake))
        .run()
        .await
        .unwrap();
    lake
}

/// The dead letters of a lake: line → (raw, reason).
async fn letters(lake: &Lake) -> BTreeMap<i64, (String, String)> {
    objects(lake, "_errors")
        .await
        .into_values()
        .map(|bytes| {
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            let raw = v["raw"].as_str().unwrap().to_string();
            let reason = v["reason"].as_str().unwrap().to_string();
            (v["offset"].as_i64().unwrap(), (raw, reason))
        })
        .collect()
}

/// A well-formed row over two lines (a quoted newline) refused for its
/// content is rejected whole: its continuation line is not read as a row.
#[tokio::test]
async fn a_multi_line_row_refused_for_its_content_is_rejected_whole() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("multi.csv");
    std::fs::write(
        &csv,
        format!(
            "{HEADER}HSI,1987-01-05,1,2,0.5,1.5,1.5,0.0,0.2\n\
             \"HSI\nNYA\",1987-01-06,1,2,0.5,x,1.5,0.0,0.2\n\
             NYA,1987-01-07,1,2,0.5,1.5,1.5,0.0,0.2\n"
        ),
    )
    .unwrap();
    let declared = CsvSource::builder().columns(streamlake::StockTicks::columns());
    let lake = dead_letter_all(&csv, declared).await;
    let rows = rows(&lake, "stock").await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    let letters = letters(&lake).await;
    let (raw, reason) = &letters[&3];
    assert_eq!(raw, "\"HSI\nNYA\",1987-01-06,1,2,0.5,x,1.5,0.0,0.2");
    assert!(
        reason.contains("line 3") && reason.contains("\"Close\""),
        "{reason}"
    );
    assert_eq!(letters.len(), 1, "{letters:?}");
}

/// Text where the column holds numbers (the stock file's `Close`) is bad
/// input naming file, line and column; a whole-number column meeting a
/// fraction widens instead. (Types are inferred from the first row here,
/// as from the first 1,000 rows of a real file.)
#[tokio::test]
async fn a_word_in_a_number_column_is_bad_input_and_numbers_widen() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("typed.csv");
    std::fs::write(
        &csv,
        format!(
            "{HEADER}N225,2001-01-01,1,2,3,4,5,6,7\n\
             N225,2001-01-02,1,2,3,x,5,6,7\n\
             N225,2001-01-03,1,2,3,4.5,5,6,7\n"
        ),
    )
    .unwrap();
    let source = CsvSource::builder().infer_rows(1).open(&csv).unwrap();
    let sink = LakeSink::builder(Lake::memory())
        .table("stock")
        .build()
        .unwrap();
    let err = Pipeline::new(source, sink).run().await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("typed.csv line 3") && text.contains("\"Close\"") && text.contains("\"x\""),
        "{text}"
    );
    let lake = dead_letter_all(&csv, CsvSource::builder().infer_rows(1)).await;
    let mut got = rows(&lake, "stock").await;
    got.sort();
    assert_eq!(got.len(), 2);
    assert!(got[1].contains(r#""Close":4.5"#), "{got:?}");
    // Declared types win over what the first rows suggest.
    let source = CsvSource::builder()
        .columns(vec![streamlake::Column::new(
            "Close",
            streamlake::ColumnType::String,
        )])
        .open(&csv)
        .unwrap();
    let close = source
        .column_types()
        .into_iter()
        .find(|c| c.name == "Close")
        .unwrap();
    assert_eq!(close.column_type, streamlake::ColumnType::String);
}

/// One stray quote near the start of a large file: the parser would buffer
/// the rest of the file as one record. Past the record-size cap only the
/// quote's line is rejected, and every row after it is read.
#[tokio::test]
async fn a_stray_quote_cannot_make_one_record_of_the_rest_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("stray.csv");
    let mut text = format!("{HEADER}HSI,1987-01-05,\"1,2,0.5,1.5,1.5,0.0,0.2\n");
    for i in 0..2_000 {
        text.push_str(&format!("NYA,1987-01-06,{i},2,0.5,1.5,1.5,0.0,0.2\n"));
    }
    std::fs::write(&csv, text).unwrap();
    let builder = CsvSource::builder().max_record_bytes(4096);
    let lake = dead_letter_all(&csv, builder).await;
    assert_eq!(rows(&lake, "stock").await.len(), 2_000);
    let letters = letters(&lake).await;
    assert_eq!(letters.keys().copied().collect::<Vec<_>>(), [2]);
    assert!(
        letters[&2].1.contains("longer than 4096"),
        "{:?}",
        letters[&2]
    );
}

/// A checkpoint is tied to the file it was written for: reused for another
/// file at the same path, it is refused instead of skipping rows.
#[tokio::test]
async fn a_checkpoint_reused_for_another_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write_csv(dir.path());
    ingest(&csv, &Lake::memory(), BadInputPolicy::Skip)
        .await
        .unwrap();
    // Same name, other rows; then the same file grown by a row: resumes.
    let original = std::fs::read(&csv).unwrap();
    std::fs::write(
        &csv,
        format!("{HEADER}NYA,1999-01-01,1,2,0.5,1.5,1.5,0.0,0.2\n"),
    )
    .unwrap();
    let err = ingest(&csv, &Lake::memory(), BadInputPolicy::Skip)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Config(_)) && err.to_string().contains("does not belong"),
        "{err}"
    );
    let mut grown = original;
    grown.extend_from_slice(b"NYA,1999-01-01,1,2,0.5,1.5,1.5,0.0,0.2\n");
    std::fs::write(&csv, grown).unwrap();
    let stats = ingest(&csv, &Lake::memory(), BadInputPolicy::Skip)
        .await
        .unwrap();
    assert_eq!(stats.records_out, 1, "only the new row");
}
