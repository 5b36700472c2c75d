//! [`KafkaSink`]: an idempotent producer that reports records durable only
//! once the broker acknowledged them.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;

use super::KafkaConfig;
use crate::error::{Error, Result};
use crate::record::{Position, Record, SourcePartition};
use crate::rejected::Rejected;
use crate::sink::{DurablePositions, RecordSink, SinkStats};
use crate::value::{JsonFields, is_container, scalar_text};

/// Publishes records to one topic.
///
/// - The idempotent producer is on by default (`enable.idempotence=true`,
///   `acks=all`): broker retries never duplicate a message.
/// - A record is reported durable only after the broker acknowledged it,
///   and every earlier record of the batch too.
/// - A full local queue is handled by waiting for acknowledgements, never
///   by dropping.
/// - The message key is the record key, or the value of a top-level JSON
///   field ([`key_field`](KafkaSinkBuilder::key_field), e.g. `Index`); a
///   record without that field goes to the bad-input policy. Headers and
///   timestamps are kept.
pub struct KafkaSink {
    producer: FutureProducer,
    topic: String,
    key_field: Option<String>,
    durable: DurablePositions,
    stats: SinkStats,
}

/// Options for a [`KafkaSink`].
#[derive(Debug, Clone)]
pub struct KafkaSinkBuilder {
    config: KafkaConfig,
    topic: Option<String>,
    key_field: Option<String>,
    compression: String,
    connect_timeout: Duration,
}

impl KafkaSink {
    /// Options for a sink writing to the brokers in `config`.
    pub fn builder(config: KafkaConfig) -> KafkaSinkBuilder {
        KafkaSinkBuilder {
            config,
            topic: None,
            key_field: None,
            compression: "lz4".into(),
            connect_timeout: Duration::from_secs(10),
        }
    }

    fn key<'a>(&self, record: &'a Record) -> Result<Option<std::borrow::Cow<'a, [u8]>>, String> {
        let Some(field) = &self.key_field else {
            return Ok(record.key.as_deref().map(std::borrow::Cow::Borrowed));
        };
        let fields = JsonFields::parse_keeping(&record.value, |name| name == field)?;
        let raw = fields
            .get(field)
            .ok_or_else(|| format!("key field {field:?} is missing"))?;
        if is_container(raw) {
            return Err(format!("key field {field:?} is not a scalar"));
        }
        let text = scalar_text(raw).ok_or_else(|| format!("key field {field:?} is null"))?;
        Ok(Some(std::borrow::Cow::Owned(
            text.into_owned().into_bytes(),
        )))
    }
}

impl KafkaSinkBuilder {
    /// Destination topic (required; it must exist).
    pub fn topic(mut self, topic: impl Into<String>) -> Self {
        self.topic = Some(topic.into());
        self
    }

    /// Take the message key from this top-level JSON field of the value.
    pub fn key_field(mut self, field: impl Into<String>) -> Self {
        self.key_field = Some(field.into());
        self
    }

    /// `compression.type`: none, gzip, snappy, lz4 (default) or zstd.
    pub fn compression(mut self, codec: impl Into<String>) -> Self {
        self.compression = codec.into();
        self
    }

    /// Checks that the brokers answer and the topic exists, then builds.
    pub fn build(self) -> Result<KafkaSink> {
        let topic = self
            .topic
            .ok_or_else(|| Error::Config("a Kafka sink needs a topic".into()))?;
        let brokers = self.config.brokers().to_string();
        let mut client = self.config.client_config_with(&[
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("linger.ms", "5"),
        ]);
        client.set("compression.type", &self.compression);
        // Metadata through a short-lived consumer: the producer has no
        // topic check of its own.
        let probe: rdkafka::consumer::BaseConsumer =
            self.config
                .client_config()
                .create()
                .map_err(|e| Error::Kafka {
                    context: format!("connecting to {brokers}"),
                    source: e,
                })?;
        super::topics::check_topics(&probe, &brokers, &[&topic], self.connect_timeout)?;
        let producer: FutureProducer = client.create().map_err(|e| Error::Kafka {
            context: format!("creating a producer for {brokers}"),
            source: e,
        })?;
        Ok(KafkaSink {
            producer,
            topic,
            key_field: self.key_field,
            durable: DurablePositions::default(),
            stats: SinkStats::default(),
        })
    }
}

#[async_trait]
impl RecordSink for KafkaSink {
    async fn write(&mut self, records: Vec<Record>) -> Result<Vec<Rejected>> {
        let mut rejected = Vec::new();
        let mut in_flight = std::collections::VecDeque::with_capacity(records.len());
        let mut last: BTreeMap<SourcePartition, i64> = BTreeMap::new();
        let mut settled = Settled::default();
        for record in &records {
            let key = match self.key(record) {
                Ok(key) => key,
                Err(reason) => {
                    rejected.push(Rejected::new(
                        record.position.clone(),
                        record.value.clone(),
                        reason,
                    ));
                    last.insert(record.position.source_partition(), record.position.offset);
                    continue;
                }
            };
            let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
            for h in record.headers.iter() {
                headers = headers.insert(Header {
                    key: &h.key,
                    value: h.value.as_deref(),
                });
            }
            let mut message = FutureRecord::to(&self.topic)
                .payload(&record.value[..])
                .headers(headers);
            if let Some(key) = key.as_deref() {
                message = message.key(key);
            }
            if let Some(ts) = record.timestamp {
                message = message.timestamp(ts);
            }
            loop {
                match self.producer.send_result(message) {
                    Ok(delivery) => {
                        in_flight.push_back((delivery, record.value.len()));
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        // Wait for the oldest acknowledgement, then retry.
                        message = back;
                        match in_flight.pop_front() {
                            Some((oldest, size)) => {
                                settle(oldest, &self.topic).await?;
                                settled.add(size);
                            }
                            None => tokio::time::sleep(Duration::from_millis(10)).await,
                        }
                    }
                    Err((e, _)) => {
                        return Err(Error::Kafka {
                            context: format!("producing to {}", self.topic),
                            source: e,
                        });
                    }
                }
            }
            last.insert(record.position.source_partition(), record.position.offset);
        }
        while let Some((delivery, size)) = in_flight.pop_front() {
            settle(delivery, &self.topic).await?;
            settled.add(size);
        }
        self.stats.objects += settled.messages;
        self.stats.bytes += settled.bytes;
        self.stats.records += (records.len() - rejected.len()) as u64;
        for (sp, offset) in last {
            self.durable.advance(sp, offset);
        }
        Ok(rejected)
    }

    async fn flush(&mut self) -> Result<Vec<Rejected>> {
        Ok(Vec::new()) // `write` returns only after every record was acknowledged
    }

    fn take_durable(&mut self) -> Vec<Position> {
        self.durable.take()
    }

    async fn discard(&mut self, partitions: &[SourcePartition]) -> Result<()> {
        self.durable.forget(partitions);
        Ok(())
    }

    fn stats(&self) -> SinkStats {
        self.stats
    }
}

/// Acknowledged messages and their bytes.
#[derive(Default)]
struct Settled {
    messages: u64,
    bytes: u64,
}

impl Settled {
    fn add(&mut self, size: usize) {
        self.messages += 1;
        self.bytes += size as u64;
    }
}

/// Waits for one acknowledgement.
async fn settle(delivery: rdkafka::producer::DeliveryFuture, topic: &str) -> Result<()> {
    match delivery.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((e, _))) => Err(Error::Kafka {
            context: format!("delivering to {topic}"),
            source: e,
        }),
        Err(_) => Err(Error::Unavailable {
            what: format!("topic {topic}"),
            reason: "the producer shut down before the delivery was confirmed".into(),
        }),
    }
}

impl std::fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSink")
            .field("topic", &self.topic)
            .finish()
    }
}
