//! The actions topic read back from its start to its current end, without joining a group:
//! what every instance did, for an instance that becomes active.

use std::time::{Duration, Instant};

use cairn_core::respond::ActionRecord;
use cairn_core::respond::record::decode;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// Every action record on `topic`, partition by partition in offset order (a group's records
/// share a partition, so they come in the order they were written). Records that do not decode
/// are skipped with a log line; a topic not read to its end within `timeout` is an error.
pub fn read_actions(
    client: ClientConfig,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<ActionRecord>, KafkaError> {
    let consumer: BaseConsumer = client
        .clone()
        .set("group.id", "cairn-watch-actions-history")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .create()?;
    let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
    let mut ends = Vec::new();
    let mut assignment = TopicPartitionList::new();
    for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
        let (low, high) = consumer.fetch_watermarks(topic, partition.id(), timeout)?;
        if high > low {
            assignment.add_partition_offset(topic, partition.id(), Offset::Offset(low))?;
            ends.push((partition.id(), high));
        }
    }
    let mut records = Vec::new();
    if ends.is_empty() {
        return Ok(records);
    }
    consumer.assign(&assignment)?;
    let deadline = Instant::now() + timeout;
    let mut next: Vec<(i32, i64, i64)> = ends.iter().map(|&(p, high)| (p, 0, high)).collect();
    while next.iter().any(|&(_, at, high)| at < high) {
        if Instant::now() > deadline {
            return Err(KafkaError::MessageConsumption(
                rdkafka::types::RDKafkaErrorCode::OperationTimedOut,
            ));
        }
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message?;
        if let Some(entry) = next.iter_mut().find(|(p, _, _)| *p == message.partition()) {
            entry.1 = message.offset() + 1;
        }
        match message.payload().map(decode) {
            Some(Ok(record)) => records.push(record),
            Some(Err(err)) => tracing::warn!(
                partition = message.partition(),
                offset = message.offset(),
                error = %err,
                "record on the actions topic skipped"
            ),
            None => {}
        }
    }
    Ok(records)
}
