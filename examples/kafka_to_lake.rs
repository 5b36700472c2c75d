//! Consume a Kafka topic as a consumer-group member and write it into a lake.
//!
//! ```text
//! cargo run --features kafka --example kafka_to_lake                   # mock cluster, demo data
//! cargo run --features kafka --example kafka_to_lake -- --brokers 127.0.0.1:9092 --topic stock \
//!     --group lake-writer --lake /tmp/lake --exit-when-idle 10
//! ```

use std::time::Duration;

use clap::Parser;
use streamlake::kafka::{KafkaSink, KafkaSource, brokers_or_mock};
use streamlake::{BadInputChoice, Compression, Lake, LakeSink, Pipeline, StockTicks, encoder_for};

#[derive(Parser, Debug)]
#[command(about = "Consume a Kafka topic into a partitioned lake, committing only durable offsets")]
struct Args {
    /// Any librdkafka setting, repeatable: -X session.timeout.ms=6000.
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Broker list (default: $KAFKA_BROKERS, else an in-process mock cluster with demo data).
    #[arg(long)]
    brokers: Option<String>,
    /// Topic to consume.
    #[arg(long, default_value = "stock")]
    topic: String,
    /// Consumer group id.
    #[arg(long, default_value = "streamlake")]
    group: String,
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
    /// Rotate objects after this many records.
    #[arg(long, default_value_t = 100_000)]
    max_records_per_object: usize,
    /// Flush after this many seconds without records.
    #[arg(long, default_value_t = 5.0)]
    idle_timeout: f64,
    /// Flush, commit and exit once no record arrived for this many seconds
    /// and the group's committed offsets reached the end of every partition.
    #[arg(long)]
    exit_when_idle: Option<f64>,
    /// With --exit-when-idle: fail (naming the group) when this member holds
    /// no partition for this many seconds (0: wait forever).
    #[arg(long, default_value_t = 300.0)]
    assignment_timeout: f64,
    /// Liveness guard: rejoin the group when this member held no partition
    /// for this many seconds while others lagged and nobody committed them
    /// (0: off).
    #[arg(long, default_value_t = 60.0)]
    stall_window: f64,
    /// With --exit-when-idle: fail (naming the lagging partitions) when the
    /// topic has not drained this many seconds after the pipeline went idle.
    #[arg(long, default_value_t = 300.0)]
    drain_timeout: f64,
    /// What to do with bad messages: fail, skip or dead-letter (to _errors/ in the lake).
    #[arg(long, default_value = "fail")]
    on_error: BadInputChoice,
    /// Rows of demo data to publish first when running on the mock cluster.
    #[arg(long, default_value_t = 10_000)]
    demo_records: u64,
    /// Log every commit (debug level).
    #[arg(short, long)]
    verbose: bool,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let level = if args.verbose {
        tracing::Level::DEBUG
    } else {
        tracing::Level::INFO
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

async fn run(mut args: Args) -> streamlake::Result<()> {
    let (config, mock) = brokers_or_mock(args.brokers.clone(), &args.set, &args.topic)?;
    if mock.is_some() {
        eprintln!(
            "no --brokers or KAFKA_BROKERS: using librdkafka's in-process mock cluster at {} \
             with {} demo rows",
            config.brokers(),
            args.demo_records
        );
        let demo = StockTicks::new(42).count(args.demo_records);
        let producer = KafkaSink::builder(config.clone())
            .topic(&args.topic)
            .key_field("Index")
            .build()?;
        Pipeline::new(demo, producer).quiet().run().await?;
        args.exit_when_idle.get_or_insert(2.0);
    }
    let lake = Lake::open(&args.lake)?;
    lake.check().await?;
    let assignment_timeout = (args.exit_when_idle.is_some() && args.assignment_timeout > 0.0)
        .then(|| Duration::from_secs_f64(args.assignment_timeout));
    let source = KafkaSource::builder(config)
        .group(&args.group)
        .topic(&args.topic)
        .assignment_timeout(assignment_timeout)
        .stall_window((args.stall_window > 0.0).then(|| Duration::from_secs_f64(args.stall_window)))
        .build()?;
    let sink = LakeSink::builder(lake.clone())
        .table(&args.table)
        .partition_by(&args.partition_by)
        .encoder_arc(encoder_for(&args.format, &StockTicks::columns())?)
        .compression(args.compression)
        .max_records_per_object(args.max_records_per_object)
        .build()?;
    let mut pipeline = Pipeline::new(source, sink)
        .idle_timeout(Duration::from_secs_f64(args.idle_timeout))
        .on_bad_input(args.on_error.policy(&lake));
    if let Some(secs) = args.exit_when_idle {
        pipeline = pipeline
            .stop_when_idle(Duration::from_secs_f64(secs))
            .drain_timeout(Duration::from_secs_f64(args.drain_timeout));
    }
    let stats = pipeline.run().await?;
    println!("lake:     {lake}/{}", args.table);
    println!(
        "records:  {} consumed, {} written",
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
