//! Connection checks: brokers reachable, topics present.

use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::types::RDKafkaErrorCode;

use crate::error::{Error, Result};

/// Fails with a clear error when the brokers do not answer within `timeout`
/// or one of `topics` does not exist.
pub(super) fn check_topics<C: ClientContext + ConsumerContext>(
    client: &BaseConsumer<C>,
    brokers: &str,
    topics: &[&str],
    timeout: Duration,
) -> Result<()> {
    let metadata = client
        .fetch_metadata(None, timeout)
        .map_err(|e| Error::Unavailable {
            what: format!("Kafka brokers {brokers}"),
            reason: format!("no metadata within {timeout:?}: {e}"),
        })?;
    for topic in topics {
        let found = metadata.topics().iter().find(|t| t.name() == *topic);
        match found {
            Some(t) if t.error().is_none() && !t.partitions().is_empty() => {}
            Some(t)
                if t.error().map(RDKafkaErrorCode::from)
                    != Some(RDKafkaErrorCode::UnknownTopicOrPartition) =>
            {
                return Err(Error::Config(format!(
                    "topic {topic:?} on Kafka brokers {brokers} is not usable: {:?}",
                    t.error()
                )));
            }
            _ => {
                return Err(Error::Config(format!(
                    "topic {topic:?} does not exist on Kafka brokers {brokers} (create it first; \
                     topics are not created automatically)"
                )));
            }
        }
    }
    Ok(())
}
