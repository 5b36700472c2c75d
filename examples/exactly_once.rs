//! Kafka → lake, exactly once: a consumer-group member commits only the
//! offsets whose records are durable in the lake, so a second run resumes
//! where the first left off and adds nothing twice.
//! `cargo run --features kafka --example exactly_once` (an in-process
//! mock cluster; no set-up)

use std::time::Duration;

use streamlake::kafka::{KafkaSink, KafkaSource, MockKafka};
use streamlake::{Lake, LakeSink, Pipeline, StockTicks};

#[tokio::main]
async fn main() -> streamlake::Result<()> {
    let kafka = MockKafka::start()?;
    kafka.create_topic("stock", 3)?;
    let lake = Lake::memory();

    for run in 1..=2 {
        // Each run publishes 1,000 rows, then drains the topic into the lake.
        let producer = KafkaSink::builder(kafka.config())
            .topic("stock")
            .key_field("Index")
            .build()?;
        let rows = StockTicks::new(run).count(1_000);
        Pipeline::new(rows, producer).run().await?;

        let source = KafkaSource::builder(kafka.config())
            .group("lake-writer")
            .topic("stock")
            .build()?;
        let sink = LakeSink::builder(lake.clone())
            .table("stock")
            .partition_by("index={Index}")
            .build()?;
        let stats = Pipeline::new(source, sink)
            .stop_when_idle(Duration::from_secs(1)) // idle, and every partition committed to its end
            .run()
            .await?;
        println!(
            "run {run}: read {} records, wrote {} in {} objects",
            stats.records_in, stats.records_out, stats.objects
        );
    }
    Ok(())
}
