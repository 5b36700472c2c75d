//! Creating topics, and an in-process mock cluster for demos.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::types::RDKafkaErrorCode;

use super::KafkaConfig;
use crate::error::{Error, Result};

/// Creates `topic` with `partitions` partitions (replication factor 1) if it
/// does not exist yet.
pub async fn create_topic(config: &KafkaConfig, topic: &str, partitions: i32) -> Result<()> {
    let brokers = config.brokers();
    let admin: AdminClient<DefaultClientContext> =
        config.client_config().create().map_err(|e| Error::Kafka {
            context: format!("connecting to {brokers}"),
            source: e,
        })?;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let results = admin
        .create_topics([&new], &options)
        .await
        .map_err(|e| Error::Kafka {
            context: format!("creating topic {topic} on {brokers}"),
            source: e,
        })?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(Error::Config(format!(
                    "cannot create topic {name} on {brokers}: {code}"
                )));
            }
        }
    }
    Ok(())
}

/// librdkafka's in-process mock cluster: a Kafka-API broker living inside
/// this process, for demos that need no set-up. Its data is gone when it is
/// dropped. It keeps only the newest ~5 MiB of each partition (librdkafka's
/// fixed limit): older records are dropped as if by retention, so a
/// consumer that starts later reads only the rest (about 59,000 demo stock
/// rows per partition fit: of 200,000 rows on 3 partitions, 167,914 were
/// left).
pub struct MockKafka {
    cluster: MockCluster<'static, DefaultProducerContext>,
}

impl MockKafka {
    /// Starts a one-broker mock cluster.
    pub fn start() -> Result<Self> {
        let cluster = MockCluster::new(1).map_err(|e| Error::Kafka {
            context: "starting the mock cluster".into(),
            source: e,
        })?;
        Ok(Self { cluster })
    }

    /// Settings for clients of this cluster.
    pub fn config(&self) -> KafkaConfig {
        KafkaConfig::new(self.cluster.bootstrap_servers())
    }

    /// Creates a topic.
    pub fn create_topic(&self, topic: &str, partitions: i32) -> Result<()> {
        self.cluster
            .create_topic(topic, partitions, 1)
            .map_err(|e| Error::Kafka {
                context: format!("creating mock topic {topic}"),
                source: e,
            })
    }
}

/// Where a zero-set-up program's clients connect: the given brokers (else
/// `$KAFKA_BROKERS`) with `settings` (`key=value`) applied, or, when neither
/// names brokers, a fresh mock cluster with `topic` (3 partitions). Keep the
/// returned `MockKafka` alive as long as the clients run.
#[deprecated(note = "an example helper; see examples/common/mod.rs for a copy to adapt")]
pub fn brokers_or_mock(
    brokers: Option<String>,
    settings: &[String],
    topic: &str,
) -> Result<(KafkaConfig, Option<MockKafka>)> {
    match brokers.or_else(|| std::env::var("KAFKA_BROKERS").ok()) {
        Some(brokers) => Ok((
            KafkaConfig::new(brokers).set_all(settings.iter().map(String::as_str))?,
            None,
        )),
        None => {
            let mock = MockKafka::start()?;
            mock.create_topic(topic, 3)?;
            Ok((mock.config(), Some(mock)))
        }
    }
}

impl std::fmt::Debug for MockKafka {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockKafka")
            .field("brokers", &self.cluster.bootstrap_servers())
            .finish()
    }
}
