//! Publish stock rows to a Kafka topic as JSON, one object per message.
//!
//! ```text
//! cargo run --features kafka --example stock_producer                  # in-process mock cluster
//! cargo run --features kafka --example stock_producer -- --brokers 127.0.0.1:9092 --topic stock \
//!     --csv indexProcessed.csv --rate 500 --key-field Index
//! ```

mod common;

use clap::Parser;
use common::{Progress, Rows, brokers_or_mock, exit_on_error, init_logging};
use streamlake::kafka::KafkaSink;
use streamlake::{BadInputPolicy, Lake, Pipeline};

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
    #[command(flatten)]
    rows: Rows,
    /// Message key from this JSON field (e.g. Index); default: no key.
    #[arg(long)]
    key_field: Option<String>,
    /// Producer compression: none, gzip, snappy, lz4 or zstd.
    #[arg(long, default_value = "lz4")]
    compression: String,
    /// Rows that cannot be sent: fail or skip.
    #[arg(long, default_value = "fail")]
    on_error: String,
}

#[tokio::main]
async fn main() {
    init_logging(false, false);
    exit_on_error(run(Args::parse()).await);
}

async fn run(args: Args) -> streamlake::Result<()> {
    let (config, _mock) = brokers_or_mock(args.brokers.clone(), &args.set, &args.topic)?;
    let mut sink = KafkaSink::builder(config.clone())
        .topic(&args.topic)
        .compression(&args.compression);
    if let Some(field) = &args.key_field {
        sink = sink.key_field(field);
    }
    // Bad rows have no lake to be dead-lettered into: fail or skip.
    let policy = BadInputPolicy::named(&args.on_error, &Lake::memory())?;
    let pipeline =
        Pipeline::new(args.rows.source(10_000, None)?, sink.build()?).on_bad_input(policy);
    let stats = Progress::attach(pipeline, false).run().await?;
    println!("brokers:  {}", config.brokers());
    println!("topic:    {}", args.topic);
    println!(
        "produced: {} of {} rows ({} bytes)",
        stats.records_out, stats.records_in, stats.bytes
    );
    println!("rejected: {}", stats.rejected);
    println!(
        "time:     {:.2}s flowing ({:.0} rows/s)",
        stats.flowing.as_secs_f64(),
        stats.records_per_second()
    );
    Ok(())
}
