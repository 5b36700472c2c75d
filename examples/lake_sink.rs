//! The lake sink on its own: records in, objects out, and which positions
//! are durable. `cargo run --example lake_sink`

use streamlake::{Lake, LakeSink, Position, Record, RecordSink};

#[tokio::main]
async fn main() -> streamlake::Result<()> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let lake = Lake::local(dir.path())?;
    let mut sink = LakeSink::builder(lake.clone())
        .table("stock")
        .partition_by("index={Index}")
        .max_records_per_object(2)
        .build()?;

    // Three records of one Kafka partition; the third fills an object.
    let rows = [
        r#"{"Index":"HSI","Close":1.5}"#,
        r#"{"Index":"NYA","Close":2.5}"#,
        r#"{"Index":"HSI","Close":3.5}"#,
    ];
    let records = rows
        .iter()
        .enumerate()
        .map(|(offset, row)| Record::new(Position::new("stock", 0, offset as i64), *row));
    let rejected = sink.write(records.collect()).await?;
    assert!(rejected.is_empty());
    // Nothing is durable until a group of objects is written...
    println!("durable before flush: {:?}", sink.take_durable());
    // ... by rotation, or by a flush (idle timeout, shutdown).
    sink.flush().await?;
    for position in sink.take_durable() {
        println!("durable: {position} (commit the next offset to the source)");
    }
    for entry in walk(dir.path()) {
        println!("object: {entry}");
    }
    Ok(())
}

/// Every file under `dir`, relative to it.
fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)
        .expect("a readable directory")
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() {
            let name = entry.file_name().to_string_lossy().into_owned();
            files.extend(walk(&path).into_iter().map(|f| format!("{name}/{f}")));
        } else {
            files.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    files.sort();
    files
}
