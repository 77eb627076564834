//! The changelog topic: every tracing partition's per-message state, written in the same Kafka
//! transaction as the tracing offsets it corresponds to, so whichever instance owns a partition
//! next can rebuild exactly the state the committed position stands for.
//!
//! The topic is `<group>-<tracing topic>-changelog`. Partition p of the changelog mirrors
//! partition p of the tracing topic. Keys are the state
//! keys (`stream \0 id`); a removed message is a tombstone. The topic is compacted, so reading it
//! costs the live state, not its history.

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

/// The changelog topic of one detector group on one tracing topic. It is named after both:
/// two groups reading the same tracing topic (say, two deployments) keep separate state.
pub fn changelog_topic(group: &str, tracing_topic: &str) -> String {
    format!("{group}-{tracing_topic}-changelog")
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
    group: &str,
    tracing_topic: &str,
    timeout: Duration,
) -> Result<String, ChangelogError> {
    let topic = changelog_topic(group, tracing_topic);
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

/// The key of the record that carries, in each checkpoint's transaction, the tracing offset the
/// partition's state stands for. State keys contain a NUL between stream and id; this one starts
/// with a NUL, so it cannot collide with any of them.
pub const POSITION_KEY: &str = "\u{0}position";

/// The state of one changelog partition, as of its last committed checkpoint.
#[derive(Debug, Default)]
pub struct PartitionState {
    /// State key → encoded state.
    pub messages: HashMap<String, Vec<u8>>,
    /// The tracing offset this state stands for, when a checkpoint was ever committed.
    pub position: Option<i64>,
}

/// Encodes the tracing offset for the [`POSITION_KEY`] record.
pub fn encode_position(next_offset: i64) -> [u8; 8] {
    next_offset.to_be_bytes()
}

/// Reads one changelog partition to its end.
///
/// "The end" is the high watermark seen before reading, reached by the consumer's position:
/// records of a transaction whose commit markers are still being written are only delivered
/// once the commit lands, so stopping at the first end-of-partition could miss the last
/// checkpoint of the previous owner.
pub fn read_partition(
    base: &ClientConfig,
    topic: &str,
    partition: i32,
    timeout: Duration,
) -> Result<PartitionState, ChangelogError> {
    let consumer: BaseConsumer = base
        .clone()
        .set("group.id", "cairn-changelog-reader")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .map_err(kafka(topic, "client"))?;
    let mut state = PartitionState::default();
    let (low, high) = consumer
        .fetch_watermarks(topic, partition, timeout)
        .map_err(kafka(topic, "watermarks"))?;
    if low >= high {
        return Ok(state); // nothing was ever checkpointed for this partition
    }
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, partition, Offset::Beginning)
        .map_err(kafka(topic, "assign"))?;
    consumer
        .assign(&assignment)
        .map_err(kafka(topic, "assign"))?;
    let deadline = std::time::Instant::now() + timeout * 6;
    while position(&consumer, topic, partition) < high {
        if std::time::Instant::now() > deadline {
            return Err(kafka(topic, "read to the end")(KafkaError::Canceled));
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                let Some(key) = message.key().and_then(|k| std::str::from_utf8(k).ok()) else {
                    continue;
                };
                if key == POSITION_KEY {
                    let bytes = message.payload().and_then(|p| <[u8; 8]>::try_from(p).ok());
                    state.position = bytes.map(i64::from_be_bytes).or(state.position);
                    continue;
                }
                match message.payload() {
                    Some(value) => state.messages.insert(key.to_owned(), value.to_vec()),
                    None => state.messages.remove(key),
                };
            }
            // A broker that is down or moving leadership: librdkafka retries by itself, and the
            // deadline bounds how long this waits for it.
            Some(Err(err)) => {
                tracing::debug!(%topic, partition, error = %err, "changelog read: retrying")
            }
            None => {}
        }
    }
    Ok(state)
}

/// The consumer's next offset in the partition (0 before the first fetch).
fn position(consumer: &BaseConsumer, topic: &str, partition: i32) -> i64 {
    let Ok(list) = consumer.position() else {
        return 0;
    };
    match list.find_partition(topic, partition).map(|e| e.offset()) {
        Some(Offset::Offset(offset)) => offset,
        _ => 0,
    }
}
