//! The changelog topic: every tracing partition's per-message state, written in the same Kafka
//! transaction as the tracing offsets it corresponds to, so whichever instance owns a partition
//! next can rebuild exactly the state the committed position stands for.
//!
//! Partition p of the changelog mirrors partition p of the tracing topic. Keys are the state
//! keys (`stream \0 id`); a removed message is a tombstone. The topic is compacted, so reading it
//! costs the live state, not its history.

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

/// The changelog topic of a tracing topic.
pub fn changelog_topic(tracing_topic: &str) -> String {
    format!("{tracing_topic}-cairn-changelog")
}

#[derive(Debug, thiserror::Error)]
pub enum ChangelogError {
    #[error("changelog `{topic}`: {operation} failed: {source}")]
    Kafka {
        topic: String,
        operation: &'static str,
        source: Box<KafkaError>,
    },
    #[error("changelog `{topic}` has {found} partitions but the tracing topic has {expected}")]
    Partitions {
        topic: String,
        found: usize,
        expected: usize,
    },
    #[error("tracing topic `{0}` does not exist or has no partitions")]
    NoTracingTopic(String),
}

fn kafka<'a>(
    topic: &'a str,
    operation: &'static str,
) -> impl FnOnce(KafkaError) -> ChangelogError + 'a {
    move |source| ChangelogError::Kafka {
        topic: topic.to_owned(),
        operation,
        source: Box::new(source),
    }
}

fn partition_count(
    consumer: &BaseConsumer,
    topic: &str,
    timeout: Duration,
) -> Result<usize, ChangelogError> {
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(kafka(topic, "metadata"))?;
    Ok(metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map_or(0, |t| t.partitions().len()))
}

/// Creates the changelog (compacted, as many partitions as the tracing topic) when missing,
/// and checks its partition count when present.
pub async fn ensure_changelog(
    base: &ClientConfig,
    tracing_topic: &str,
    timeout: Duration,
) -> Result<String, ChangelogError> {
    let topic = changelog_topic(tracing_topic);
    let probe: BaseConsumer = base.create().map_err(kafka(&topic, "client"))?;
    let expected = partition_count(&probe, tracing_topic, timeout)?;
    if expected == 0 {
        return Err(ChangelogError::NoTracingTopic(tracing_topic.to_owned()));
    }
    let found = partition_count(&probe, &topic, timeout)?;
    if found == 0 {
        let brokers = probe
            .fetch_metadata(None, timeout)
            .map_err(kafka(&topic, "metadata"))?
            .brokers()
            .len();
        let replication = brokers.clamp(1, 3) as i32;
        let admin: AdminClient<DefaultClientContext> =
            base.create().map_err(kafka(&topic, "admin client"))?;
        let new = NewTopic::new(
            &topic,
            expected as i32,
            TopicReplication::Fixed(replication),
        )
        .set("cleanup.policy", "compact");
        let options = AdminOptions::new().operation_timeout(Some(timeout));
        let results = admin
            .create_topics(&[new], &options)
            .await
            .map_err(kafka(&topic, "create"))?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((_, code)) => return Err(kafka(&topic, "create")(KafkaError::AdminOp(code))),
            }
        }
        tracing::info!(
            topic,
            partitions = expected,
            replication,
            "created the changelog topic"
        );
    } else if found != expected {
        return Err(ChangelogError::Partitions {
            topic,
            found,
            expected,
        });
    }
    Ok(topic)
}

/// The live state of one changelog partition: state key → encoded state.
pub fn read_partition(
    base: &ClientConfig,
    topic: &str,
    partition: i32,
    timeout: Duration,
) -> Result<HashMap<String, Vec<u8>>, ChangelogError> {
    let consumer: BaseConsumer = base
        .clone()
        .set("group.id", "cairn-changelog-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        .create()
        .map_err(kafka(topic, "client"))?;
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, partition, Offset::Beginning)
        .map_err(kafka(topic, "assign"))?;
    let mut state = HashMap::new();
    let (low, high) = consumer
        .fetch_watermarks(topic, partition, timeout)
        .map_err(kafka(topic, "watermarks"))?;
    if low >= high {
        return Ok(state); // nothing was ever checkpointed for this partition
    }
    consumer
        .assign(&assignment)
        .map_err(kafka(topic, "assign"))?;
    let deadline = std::time::Instant::now() + timeout * 6;
    loop {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => {
                let Some(key) = message.key().and_then(|k| std::str::from_utf8(k).ok()) else {
                    continue;
                };
                match message.payload() {
                    Some(value) => state.insert(key.to_owned(), value.to_vec()),
                    None => state.remove(key),
                };
            }
            // End of the committed part of the partition: the state is complete.
            Some(Err(KafkaError::PartitionEOF(_))) => return Ok(state),
            Some(Err(err)) => return Err(kafka(topic, "read")(err)),
            None if std::time::Instant::now() > deadline => {
                return Err(kafka(topic, "read")(KafkaError::Canceled));
            }
            None => {}
        }
    }
}
