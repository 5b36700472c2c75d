//! Load stock rows (a CSV file, or synthetic ticks) into a partitioned lake.
//!
//! ```text
//! cargo run --example csv_to_lake                       # 100,000 synthetic rows into ./lake
//! cargo run --example csv_to_lake -- --csv indexProcessed.csv --lake /tmp/lake --format csv
//! ```

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use streamlake::{
    BadInputChoice, Compression, CsvSource, Lake, LakeSink, Pipeline, RecordSource, StockTicks,
    encoder_for,
};

#[derive(Parser, Debug)]
#[command(about = "Load stock rows from a CSV file (or synthetic ticks) into a partitioned lake")]
struct Args {
    /// CSV file with a header row (e.g. indexProcessed.csv).
    #[arg(long, conflicts_with = "synthetic")]
    csv: Option<PathBuf>,
    /// Generate this many synthetic stock rows instead (default when no --csv).
    #[arg(long)]
    synthetic: Option<u64>,
    /// Rows per second for --synthetic (default: as fast as possible).
    #[arg(long)]
    rate: Option<f64>,
    /// Seed for --synthetic.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Lake location: s3://bucket/prefix (feature s3), a directory, file:///dir or memory://.
    #[arg(long, default_value = "lake")]
    lake: String,
    /// Table name: the first level under the lake.
    #[arg(long, default_value = "stock")]
    table: String,
    /// Object format: jsonl, csv or parquet (feature parquet).
    #[arg(long, default_value = "jsonl")]
    format: String,
    /// Whole-object compression: none, gzip or zstd.
    #[arg(long, default_value = "none")]
    compression: Compression,
    /// Hive partition template over fields ({Index}) and record time ({@year}, {@date}, ...).
    #[arg(long, default_value = "index={Index}/year={@year}")]
    partition_by: String,
    /// CSV column that holds the record time ("" for none).
    #[arg(long, default_value = "Date")]
    timestamp_column: String,
    /// What to do with bad rows: fail, skip or dead-letter (to _errors/ in the lake).
    #[arg(long, default_value = "fail")]
    on_error: BadInputChoice,
    /// Checkpoint file for --csv: resume from it, and update it as rows become durable.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Rotate objects after this many records.
    #[arg(long, default_value_t = 100_000)]
    max_records_per_object: usize,
    /// Rows pulled per batch.
    #[arg(long, default_value_t = 1024)]
    batch_size: usize,
    /// Flush after this many seconds without input.
    #[arg(long, default_value_t = 5.0)]
    idle_timeout: f64,
    /// Log every commit (debug level).
    #[arg(short, long)]
    verbose: bool,
    /// No progress lines.
    #[arg(short, long)]
    quiet: bool,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let level = match (args.verbose, args.quiet) {
        (true, _) => tracing::Level::DEBUG,
        (false, true) => tracing::Level::WARN,
        _ => tracing::Level::INFO,
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .init();
    if let Err(e) = run(args).await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> streamlake::Result<()> {
    let lake = Lake::open(&args.lake)?;
    lake.check().await?;
    let sink = LakeSink::builder(lake.clone())
        .table(&args.table)
        .partition_by(&args.partition_by)
        .encoder_arc(encoder_for(&args.format, &StockTicks::columns())?)
        .compression(args.compression)
        .max_records_per_object(args.max_records_per_object)
        .build()?;
    let source: Box<dyn RecordSource> = match &args.csv {
        Some(path) => {
            let mut builder = CsvSource::builder();
            if !args.timestamp_column.is_empty() {
                builder = builder.timestamp_column(&args.timestamp_column);
            }
            if let Some(checkpoint) = &args.checkpoint {
                builder = builder.checkpoint(checkpoint);
            }
            Box::new(builder.open(path)?)
        }
        None => {
            let ticks = StockTicks::new(args.seed).count(args.synthetic.unwrap_or(100_000));
            Box::new(match args.rate {
                Some(rate) => ticks.rate(rate),
                None => ticks,
            })
        }
    };
    let mut pipeline = Pipeline::new(source, sink)
        .batch_size(args.batch_size)
        .idle_timeout(Duration::from_secs_f64(args.idle_timeout))
        .on_bad_input(args.on_error.policy(&lake));
    if args.quiet {
        pipeline = pipeline.quiet();
    }
    let stats = pipeline.run().await?;
    println!("lake:     {lake}/{}", args.table);
    println!(
        "records:  {} read, {} written",
        stats.records_in, stats.records_out
    );
    println!("objects:  {} ({} bytes)", stats.objects, stats.bytes);
    println!(
        "rejected: {} ({} dead-lettered)",
        stats.rejected, stats.dead_lettered
    );
    println!(
        "time:     {:.2}s ({:.0} records/s)",
        stats.elapsed.as_secs_f64(),
        stats.records_per_second()
    );
    Ok(())
}
