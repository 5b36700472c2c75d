//! The whole stock pipeline in one process: stock rows → Kafka producer →
//! topic → consumer group → lake, then a summary of what landed where.
//!
//! ```text
//! cargo run --all-features --example stock_pipeline            # mock cluster + ./lake
//! KAFKA_BROKERS=127.0.0.1:9092 AWS_REGION=eu-west-1 \
//!     cargo run --all-features --example stock_pipeline -- --lake s3://my-bucket/stock \
//!     --csv indexProcessed.csv
//! ```

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Parser;
use common::{Progress, Rows, TableFormatArg, brokers_or_mock, exit_on_error, init_logging};
use futures::TryStreamExt;
use streamlake::kafka::{KafkaSink, KafkaSource};
use streamlake::object_store::ObjectStore;
use streamlake::{BadInputPolicy, Compression, Format, Lake, LakeSink, Pipeline, StockTicks};

#[derive(Parser, Debug)]
#[command(about = "Stock rows -> Kafka -> consumer group -> lake, with a summary")]
struct Args {
    /// Any librdkafka setting for both clients, repeatable: -X security.protocol=ssl.
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Broker list (default: $KAFKA_BROKERS, else an in-process mock cluster).
    #[arg(long)]
    brokers: Option<String>,
    /// Topic (it must exist on real brokers; the mock cluster gets one with 3 partitions).
    #[arg(long, default_value = "stock")]
    topic: String,
    /// Consumer group of the lake writer.
    #[arg(long, default_value = "stock-pipeline")]
    group: String,
    /// Lake location: s3://bucket/prefix, a directory, file:///dir or memory://.
    #[arg(long, default_value = "lake")]
    lake: String,
    /// Table name: the first level under the lake.
    #[arg(long, default_value = "stock")]
    table: String,
    #[command(flatten)]
    rows: Rows,
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
    /// Hive partition template over fields ({Index}) and record time
    /// ({@year}, {@date}, ...). Default: index={Index}/year={@year}; with
    /// --table-format delta, Index={Index} (fields only).
    #[arg(long)]
    partition_by: Option<String>,
    /// The consumer stops once no record arrived for this many seconds.
    #[arg(long, default_value_t = 3.0)]
    exit_when_idle: f64,
    /// What to do with bad rows and messages: fail, skip or dead-letter.
    #[arg(long, default_value = "fail")]
    on_error: String,
    #[command(flatten)]
    glue: common::glue::GlueArgs,
}

#[tokio::main]
async fn main() {
    init_logging(false, false);
    exit_on_error(run(Args::parse()).await);
}

async fn run(args: Args) -> streamlake::Result<()> {
    let (config, _mock) = brokers_or_mock(args.brokers.clone(), &args.set, &args.topic)?;
    let lake = Lake::open(&args.lake)?;
    lake.check().await?;
    lake.check_writes().await?;
    eprintln!("lake: {lake}");
    let policy = || BadInputPolicy::named(&args.on_error, &lake);

    // Consumer first, in the group before rows arrive: it stops once idle
    // and drained, and an empty topic is drained.
    let mut source = KafkaSource::builder(config.clone())
        .group(&args.group)
        .topic(&args.topic)
        .build()?;
    source.wait_for_assignment(Duration::from_secs(120)).await?;
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
        .build()?;
    let consumer = Pipeline::new(source, sink)
        .on_bad_input(policy()?)
        .stop_when_idle(Duration::from_secs_f64(args.exit_when_idle));
    let consumer = Progress::attach(consumer, false).run();

    let producer_sink = KafkaSink::builder(config.clone())
        .topic(&args.topic)
        .key_field("Index")
        .build()?;
    let producer = Pipeline::new(args.rows.source(10_000, None)?, producer_sink)
        .on_bad_input(policy()?)
        .run();

    let (produced, consumed) = tokio::join!(producer, consumer);
    let (produced, consumed) = (produced?, consumed?);
    registration.finish().await;

    println!("brokers:   {}", config.brokers());
    println!("topic:     {}", args.topic);
    println!(
        "produced:  {} rows ({} rejected)",
        produced.records_out, produced.rejected
    );
    println!(
        "consumed:  {} records ({} rejected)",
        consumed.records_in, consumed.rejected
    );
    println!(
        "written:   {} records in {} objects, {} bytes",
        consumed.records_out, consumed.objects, consumed.bytes
    );
    println!(
        "time:      {:.2}s flowing ({:.0} records/s), {:.2}s in all",
        consumed.flowing.as_secs_f64(),
        consumed.records_per_second(),
        consumed.elapsed.as_secs_f64()
    );
    println!("lake:      {lake}/{}", args.table);
    print_layout(&lake, &args.table).await?;
    #[cfg(feature = "sql")]
    crawl_and_query(&lake, &args.table).await?;
    Ok(())
}

/// The Glue crawler + Athena step: crawl the lake into its catalog and
/// answer one question with SQL.
#[cfg(feature = "sql")]
async fn crawl_and_query(lake: &Lake, table: &str) -> streamlake::Result<()> {
    use streamlake::catalog::crawl;
    use streamlake::sql::{LakeSql, OutputFormat};

    let (catalog, report) = crawl(lake, table).await?;
    eprintln!("{report}");
    let name = catalog
        .tables()
        .find(|t| t.location == table)
        .map(|t| t.name.clone())
        .ok_or_else(|| streamlake::Error::Config(format!("no table {table} in {lake}")))?;
    let query = format!(
        r#"SELECT "Index", count(*) AS rows, round(avg("CloseUSD"), 2) AS avg_close_usd
           FROM {name} GROUP BY "Index" ORDER BY "Index""#
    );
    let batches = LakeSql::open(lake, &catalog).await?.query(&query).await?;
    println!("rows and average CloseUSD per index (SQL over the crawled lake):");
    print!("{}", OutputFormat::Table.render(&batches)?);
    Ok(())
}

/// Objects and bytes per partition directory of the table.
async fn print_layout(lake: &Lake, table: &str) -> streamlake::Result<()> {
    let prefix = lake.path(table);
    let store: &dyn ObjectStore = lake.store().as_ref();
    let objects: Vec<_> =
        store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| streamlake::Error::Store {
                operation: "list",
                key: prefix.to_string(),
                source: e,
            })?;
    let mut dirs: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for meta in &objects {
        let key = meta.location.as_ref();
        let relative = key.strip_prefix(prefix.as_ref()).unwrap_or(key);
        let dir = relative
            .trim_start_matches('/')
            .rsplit_once('/')
            .map_or("", |(dir, _)| dir);
        let entry = dirs.entry(dir.to_string()).or_default();
        entry.0 += 1;
        entry.1 += meta.size;
    }
    const SHOWN: usize = 20;
    for (dir, (count, bytes)) in dirs.iter().take(SHOWN) {
        println!("  {dir}/  {count} objects, {bytes} bytes");
    }
    if dirs.len() > SHOWN {
        println!("  ... {} more partitions", dirs.len() - SHOWN);
    }
    Ok(())
}
