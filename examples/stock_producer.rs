//! Publish stock rows to a Kafka topic as JSON, one object per message.
//!
//! ```text
//! cargo run --features kafka --example stock_producer                  # in-process mock cluster
//! cargo run --features kafka --example stock_producer -- --brokers 127.0.0.1:9092 --topic stock \
//!     --csv indexProcessed.csv --rate 500 --key-field Index
//! ```

use clap::Parser;
use streamlake::kafka::{KafkaSink, brokers_or_mock};
use streamlake::{BadInputChoice, CsvSource, Lake, Pipeline, RecordSource, StockTicks};

#[derive(Parser, Debug)]
#[command(about = "Publish stock rows (CSV file or synthetic) to a Kafka topic as JSON")]
struct Args {
    /// Any librdkafka setting, repeatable: -X session.timeout.ms=6000.
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Broker list (default: $KAFKA_BROKERS, else an in-process mock cluster).
    #[arg(long)]
    brokers: Option<String>,
    /// Topic to publish to (it must exist, except on the mock cluster).
    #[arg(long, default_value = "stock")]
    topic: String,
    /// CSV file with a header row (e.g. indexProcessed.csv).
    #[arg(long, conflicts_with = "synthetic")]
    csv: Option<std::path::PathBuf>,
    /// Publish this many synthetic rows (default when no --csv).
    #[arg(long)]
    synthetic: Option<u64>,
    /// Seed for --synthetic.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Messages per second for --synthetic (default: as fast as possible).
    #[arg(long)]
    rate: Option<f64>,
    /// Message key from this JSON field (e.g. Index); default: no key.
    #[arg(long)]
    key_field: Option<String>,
    /// Producer compression: none, gzip, snappy, lz4 or zstd.
    #[arg(long, default_value = "lz4")]
    compression: String,
    /// Rows that cannot be sent: fail or skip.
    #[arg(long, default_value = "fail")]
    on_error: BadInputChoice,
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .init();
    if let Err(e) = run(Args::parse()).await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> streamlake::Result<()> {
    let (config, mock) = brokers_or_mock(args.brokers.clone(), &args.set, &args.topic)?;
    if mock.is_some() {
        eprintln!(
            "no --brokers or KAFKA_BROKERS: publishing to librdkafka's in-process mock cluster \
             at {} (its data is gone when this program exits)",
            config.brokers()
        );
    }
    let mut sink = KafkaSink::builder(config.clone())
        .topic(&args.topic)
        .compression(&args.compression);
    if let Some(field) = &args.key_field {
        sink = sink.key_field(field);
    }
    let source: Box<dyn RecordSource> = match &args.csv {
        Some(path) => Box::new(CsvSource::builder().timestamp_column("Date").open(path)?),
        None => {
            let ticks = StockTicks::new(args.seed).count(args.synthetic.unwrap_or(10_000));
            Box::new(match args.rate {
                Some(rate) => ticks.rate(rate),
                None => ticks,
            })
        }
    };
    let stats = Pipeline::new(source, sink.build()?)
        .on_bad_input(args.on_error.policy(&Lake::memory()))
        .run()
        .await?;
    println!("brokers:  {}", config.brokers());
    println!("topic:    {}", args.topic);
    println!(
        "produced: {} of {} rows ({} bytes)",
        stats.records_out, stats.records_in, stats.bytes
    );
    println!("rejected: {}", stats.rejected);
    println!(
        "time:     {:.2}s ({:.0} rows/s)",
        stats.elapsed.as_secs_f64(),
        stats.records_per_second()
    );
    Ok(())
}
