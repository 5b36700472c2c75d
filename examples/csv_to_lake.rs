//! Load stock rows (a CSV file, or synthetic ticks) into a partitioned lake.
//!
//! ```text
//! cargo run --example csv_to_lake                       # 100,000 synthetic rows into ./lake
//! cargo run --example csv_to_lake -- --csv indexProcessed.csv --lake /tmp/lake --format csv
//! ```

mod common;

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use common::{Progress, Rows, exit_on_error, init_logging, print_summary};
use streamlake::{BadInputPolicy, Compression, Format, Lake, LakeSink, Pipeline, StockTicks};

#[derive(Parser, Debug)]
#[command(about = "Load stock rows from a CSV file (or synthetic ticks) into a partitioned lake")]
struct Args {
    #[command(flatten)]
    rows: Rows,
    /// Lake location: s3://bucket/prefix (feature s3), a directory, file:///dir or memory://.
    #[arg(long, default_value = "lake")]
    lake: String,
    /// Table name: the first level under the lake.
    #[arg(long, default_value = "stock")]
    table: String,
    /// Object format: jsonl, csv or parquet (feature parquet).
    #[arg(long, default_value = "jsonl")]
    format: Format,
    /// Whole-object compression: none, gzip or zstd.
    #[arg(long, default_value = "none")]
    compression: Compression,
    /// Hive partition template over fields ({Index}) and record time ({@year}, {@date}, ...).
    #[arg(long, default_value = "index={Index}/year={@year}")]
    partition_by: String,
    /// What to do with bad rows: fail, skip or dead-letter (to _errors/ in the lake).
    #[arg(long, default_value = "fail")]
    on_error: String,
    /// Checkpoint file for --csv: resume from it, and update it as rows become durable.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Rotate objects after this many records.
    #[arg(long, default_value_t = 100_000)]
    max_records_per_object: usize,
    /// Cap on the memory open objects hold (MiB); past it the largest
    /// group is written early.
    #[arg(long, default_value_t = 256)]
    max_buffered_mib: usize,
    /// Rows pulled per batch.
    #[arg(long, default_value_t = 1024)]
    batch_size: usize,
    /// Flush after this many seconds without input.
    #[arg(long, default_value_t = 5.0)]
    idle_timeout: f64,
    /// Print every pipeline event (committed, rejected) as one JSON line
    /// on stdout.
    #[arg(long)]
    events: bool,
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
    init_logging(args.verbose, args.quiet);
    exit_on_error(run(args).await);
}

async fn run(args: Args) -> streamlake::Result<()> {
    let lake = Lake::open(&args.lake)?;
    lake.check().await?;
    lake.check_writes().await?;
    let sink = LakeSink::builder(lake.clone())
        .table(&args.table)
        .partition_by(&args.partition_by)
        .encoder_arc(args.format.encoder(&StockTicks::columns())?)
        .compression(args.compression)
        .max_records_per_object(args.max_records_per_object)
        .max_buffered_bytes(args.max_buffered_mib << 20)
        .build()?;
    let source = args.rows.source(100_000, args.checkpoint.as_deref())?;
    let pipeline = Pipeline::new(source, sink)
        .batch_size(args.batch_size)
        .idle_timeout(Duration::from_secs_f64(args.idle_timeout))
        .on_bad_input(BadInputPolicy::named(&args.on_error, &lake)?);
    let pipeline = if args.quiet && !args.events {
        pipeline
    } else {
        Progress::attach(pipeline, args.events)
    };
    let stats = pipeline.run().await?;
    print_summary(&lake, &args.table, &stats);
    Ok(())
}
