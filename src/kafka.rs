//! Kafka source and sink (feature `kafka`), on librdkafka through `rdkafka`.
//!
//! ```no_run
//! # async fn demo() -> streamlake::Result<()> {
//! use streamlake::kafka::{KafkaConfig, KafkaSource};
//! use streamlake::{Lake, LakeSink, Pipeline};
//!
//! let config = KafkaConfig::from_env()?; // KAFKA_BROKERS, KAFKA_SASL_PASSWORD, ...
//! let source = KafkaSource::builder(config).group("lake-writer").topic("stock").build()?;
//! let sink = LakeSink::builder(Lake::open("lake")?).table("stock").partition_by("index={Index}").build()?;
//! Pipeline::new(source, sink).run().await?;
//! # Ok(()) }
//! ```

mod admin;
mod config;
mod consumer;
mod group;
mod liveness;
mod message;
mod message_queue;
mod reader;
mod rebalance;
mod sink;
mod source;
mod source_builder;
mod topics;

#[allow(deprecated)]
pub use self::admin::brokers_or_mock;
pub use self::admin::{MockKafka, create_topic};
pub use self::config::KafkaConfig;
pub use self::sink::{KafkaSink, KafkaSinkBuilder};
pub use self::source::KafkaSource;
pub use self::source_builder::{DEFAULT_PREFETCH_BYTES, KafkaSourceBuilder, StartFrom};
/// The `rdkafka` crate this module is built on, so users name the same version.
pub use rdkafka;
