//! The stream's topics: created before the run with the scenario's settings, and read in full
//! after it, so the truth knows every copy of every message that really sits in Kafka.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use super::reconcile::Position;
use super::scenario::TopicSpec;

const TIMEOUT: Duration = Duration::from_secs(30);

/// Creates `topic` unless it exists (an existing topic keeps its settings; a warning says so).
pub async fn create(cluster: &ClientConfig, topic: &str, spec: &TopicSpec) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> =
        cluster.create().context("creating an admin client")?;
    let mut new = NewTopic::new(
        topic,
        spec.partitions,
        TopicReplication::Fixed(spec.replication),
    );
    for (key, value) in &spec.config {
        new = new.set(key, value);
    }
    let results = admin
        .create_topics(
            &[new],
            &AdminOptions::new().operation_timeout(Some(TIMEOUT)),
        )
        .await
        .with_context(|| format!("creating topic {topic}"))?;
    for result in results {
        match result {
            Ok(_) => {}
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {
                tracing::warn!(%topic, "topic exists; its partitions and settings are kept as they are");
            }
            Err((name, code)) => anyhow::bail!("creating topic {name}: {code}"),
        }
    }
    Ok(())
}

/// Every record of `topic` whose key starts with `prefix`: id → positions.
pub fn read_all(
    cluster: &ClientConfig,
    topic: &str,
    prefix: &str,
) -> anyhow::Result<BTreeMap<String, BTreeSet<Position>>> {
    let consumer: BaseConsumer = cluster
        .clone()
        .set("group.id", "cairn-simulate-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
        .context("creating a topic reader")?;
    let metadata = consumer.fetch_metadata(Some(topic), TIMEOUT)?;
    let mut list = TopicPartitionList::new();
    let mut remaining: BTreeMap<i32, i64> = BTreeMap::new();
    for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
        let (low, high) = consumer.fetch_watermarks(topic, partition.id(), TIMEOUT)?;
        if high > low {
            list.add_partition_offset(topic, partition.id(), Offset::Offset(low))?;
            remaining.insert(partition.id(), high);
        }
    }
    let mut copies: BTreeMap<String, BTreeSet<Position>> = BTreeMap::new();
    if remaining.is_empty() {
        return Ok(copies);
    }
    consumer.assign(&list)?;
    let deadline = Instant::now() + TIMEOUT;
    while !remaining.is_empty() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "reading {topic} back: partitions {:?} not read to their end within {TIMEOUT:?}",
            remaining.keys().collect::<Vec<_>>()
        );
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message.with_context(|| format!("reading {topic} back"))?;
        let (partition, offset) = (message.partition(), message.offset());
        if let Some(id) = message.key().and_then(|k| std::str::from_utf8(k).ok())
            && id.starts_with(prefix)
        {
            copies
                .entry(id.to_owned())
                .or_default()
                .insert((partition, offset));
        }
        if remaining
            .get(&partition)
            .is_some_and(|&end| offset + 1 >= end)
        {
            remaining.remove(&partition);
        }
    }
    Ok(copies)
}
