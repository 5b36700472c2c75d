//! Consume a Kafka topic as a consumer-group member and write it into a lake.
//!
//! ```text
//! cargo run --features kafka --example kafka_to_lake                   # mock cluster, demo data
//! cargo run --features kafka --example kafka_to_lake -- --brokers 127.0.0.1:9092 --topic stock \
//!     --group lake-writer --lake /tmp/lake --exit-when-idle 10
//! cargo run --all-features --example kafka_to_lake -- --brokers 127.0.0.1:9092 \
//!     --lake s3://my-bucket/lake --glue-database analytics   # registered as it lands
//! ```

mod common;

use std::time::Duration;

use clap::Parser;
use common::{
    Progress, TableFormatArg, brokers_or_mock, exit_on_error, init_logging, print_summary,
    serve_metrics,
};
use streamlake::kafka::{KafkaSink, KafkaSource};
use streamlake::{BadInputPolicy, Compression, Format, Lake, LakeSink, Pipeline, StockTicks};

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
    format: Format,
    /// Whole-object compression: none, gzip or zstd.
    #[arg(long, default_value = "none")]
    compression: Compression,
    /// How groups are committed: hive (loose objects) or delta (a Delta
    /// table of Parquet files: --format and --compression do not apply;
    /// feature delta).
    #[arg(long, value_enum, default_value = "hive")]
    table_format: TableFormatArg,
    /// With --table-format delta, once the run ends: compact each
    /// partition's files into files of about this many MiB (Delta optimize).
    #[arg(long, value_name = "MIB")]
    optimize: Option<u64>,
    /// With --table-format delta, once the run ends: delete files no
    /// commit references that are older than this many hours (Delta
    /// vacuum; Delta's default retention is 168).
    #[arg(long, value_name = "HOURS")]
    vacuum: Option<f64>,
    /// Hive partition template over fields ({Index}) and record time
    /// ({@year}, {@date}, ...). Default: index={Index}/year={@year}; with
    /// --table-format delta, Index={Index} (fields only).
    #[arg(long)]
    partition_by: Option<String>,
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
    on_error: String,
    #[command(flatten)]
    glue: common::glue::GlueArgs,
    /// Cap on the memory open objects hold (MiB); past it the largest
    /// group is written early. librdkafka's prefetch queue and its largest
    /// fetch response each get a sixteenth of it (at least 1 MiB).
    #[arg(long, default_value_t = 256)]
    max_buffered_mib: usize,
    /// Closed groups committed at once while the pipeline fills others
    /// (one per Kafka partition at most).
    #[arg(long, default_value_t = 4)]
    commits_in_flight: usize,
    /// Rows of demo data to publish first when running on the mock cluster
    /// (3 partitions; it keeps only the newest ~5 MiB of each, about 59,000
    /// rows: beyond that the oldest rows are dropped before they are read).
    #[arg(long, default_value_t = 10_000)]
    demo_records: u64,
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9000).
    #[arg(long, value_name = "ADDR")]
    metrics_addr: Option<std::net::SocketAddr>,
    /// Print every pipeline event (assigned, revoked, committed, rejected)
    /// as one JSON line on stdout.
    #[arg(long)]
    events: bool,
    /// Log every commit (debug level).
    #[arg(short, long)]
    verbose: bool,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    init_logging(args.verbose, false);
    exit_on_error(run(args).await);
}

async fn run(mut args: Args) -> streamlake::Result<()> {
    if let Some(addr) = args.metrics_addr {
        serve_metrics(addr)?;
    }
    let (config, mock) = brokers_or_mock(args.brokers.clone(), &args.set, &args.topic)?;
    if mock.is_some() {
        eprintln!("publishing {} demo rows first", args.demo_records);
        let demo = StockTicks::new(42).count(args.demo_records);
        let producer = KafkaSink::builder(config.clone())
            .topic(&args.topic)
            .key_field("Index")
            .build()?;
        Pipeline::new(demo, producer).run().await?;
        args.exit_when_idle.get_or_insert(2.0);
    }
    let lake = Lake::open(&args.lake)?;
    lake.check().await?;
    lake.check_writes().await?;
    let assignment_timeout = (args.exit_when_idle.is_some() && args.assignment_timeout > 0.0)
        .then(|| Duration::from_secs_f64(args.assignment_timeout));
    let source = KafkaSource::builder(config)
        .group(&args.group)
        .topic(&args.topic)
        .assignment_timeout(assignment_timeout)
        .prefetch_bytes((args.max_buffered_mib << 20) / 16)
        // The lake keeps values only.
        .read_headers(false)
        .stall_window((args.stall_window > 0.0).then(|| Duration::from_secs_f64(args.stall_window)))
        .build()?;
    let registration = common::glue::Registration::start(&args.glue, &lake).await?;
    let format = args.table_format;
    let partition_by = args.partition_by.as_deref();
    let sink = registration
        .attach(LakeSink::builder(lake.clone()))
        .table(&args.table)
        .table_format(format.table_format(StockTicks::columns(), &args.group)?)
        .partition_by(partition_by.unwrap_or(format.default_partitions()))
        .encoder_arc(args.format.encoder(&StockTicks::columns())?)
        .compression(args.compression)
        .max_records_per_object(args.max_records_per_object)
        .max_buffered_bytes(args.max_buffered_mib << 20)
        .max_commits_in_flight(args.commits_in_flight)
        .build()?;
    let mut pipeline = Pipeline::new(source, sink)
        .idle_timeout(Duration::from_secs_f64(args.idle_timeout))
        .on_bad_input(BadInputPolicy::named(&args.on_error, &lake)?);
    if let Some(secs) = args.exit_when_idle {
        pipeline = pipeline
            .stop_when_idle(Duration::from_secs_f64(secs))
            .drain_timeout(Duration::from_secs_f64(args.drain_timeout));
    }
    let stats = Progress::attach(pipeline, args.events).run().await?;
    registration.finish().await;
    print_summary(&lake, &args.table, &stats);
    common::maintain_delta(format, &lake, &args.table, args.optimize, args.vacuum).await?;
    Ok(())
}
