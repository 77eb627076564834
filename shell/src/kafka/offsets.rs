//! Reading another consumer group's committed offsets and the watermarks of partitions.
//!
//! A `BaseConsumer` configured with the watched group's `group.id` can send OffsetFetch for
//! that group without subscribing, so it never joins the group, never triggers a rebalance and
//! never commits. That is how cairn learns "has group G read past offset o?" without disturbing G.

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};

/// Errors from reading offsets, by operation.
#[derive(Debug, thiserror::Error)]
pub enum OffsetsError {
    #[error("could not create a consumer for group `{group}`: {source}")]
    Client {
        group: String,
        source: Box<KafkaError>,
    },
    #[error("reading committed offsets of group `{group}` on topic `{topic}` failed: {source}")]
    Committed {
        group: String,
        topic: String,
        source: Box<KafkaError>,
    },
    #[error("reading watermarks of `{topic}` partition {partition} failed: {source}")]
    Watermarks {
        topic: String,
        partition: i32,
        source: Box<KafkaError>,
    },
}

/// Low and high watermark of one partition: the log start and the next offset to be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Watermarks {
    pub log_start: i64,
    pub log_end: i64,
}

/// A passive reader of one consumer group's committed offsets.
pub struct GroupOffsetsReader {
    group: String,
    consumer: BaseConsumer,
}

impl GroupOffsetsReader {
    /// `base` carries the cluster's settings (bootstrap servers, security); the group id and
    /// the settings that keep this client passive are added here.
    pub fn new(base: &ClientConfig, group: &str) -> Result<Self, OffsetsError> {
        let consumer = base
            .clone()
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .create()
            .map_err(|source| OffsetsError::Client {
                group: group.to_owned(),
                source: Box::new(source),
            })?;
        Ok(GroupOffsetsReader {
            group: group.to_owned(),
            consumer,
        })
    }

    pub fn group(&self) -> &str {
        &self.group
    }

    /// The committed offset (the next offset the group will read) of each given partition,
    /// in the order given; `None` where the group has committed nothing.
    pub fn committed(
        &self,
        topic: &str,
        partitions: &[i32],
        timeout: Duration,
    ) -> Result<Vec<(i32, Option<i64>)>, OffsetsError> {
        let mut request = TopicPartitionList::with_capacity(partitions.len());
        for &partition in partitions {
            request.add_partition(topic, partition);
        }
        let answer = self
            .consumer
            .committed_offsets(request, timeout)
            .map_err(|source| OffsetsError::Committed {
                group: self.group.clone(),
                topic: topic.to_owned(),
                source: Box::new(source),
            })?;
        let by_partition = answer.elements_for_topic(topic);
        Ok(partitions
            .iter()
            .map(|&partition| {
                let offset = by_partition
                    .iter()
                    .find(|element| element.partition() == partition)
                    .and_then(|element| match element.offset() {
                        Offset::Offset(offset) => Some(offset),
                        _ => None,
                    });
                (partition, offset)
            })
            .collect())
    }

    /// Log start and end of one partition (any consumer can ask; this one is at hand).
    pub fn watermarks(
        &self,
        topic: &str,
        partition: i32,
        timeout: Duration,
    ) -> Result<Watermarks, OffsetsError> {
        let (log_start, log_end) = self
            .consumer
            .fetch_watermarks(topic, partition, timeout)
            .map_err(|source| OffsetsError::Watermarks {
                topic: topic.to_owned(),
                partition,
                source: Box::new(source),
            })?;
        Ok(Watermarks { log_start, log_end })
    }

    /// The partition count of a topic, from metadata.
    pub fn partitions(&self, topic: &str, timeout: Duration) -> Result<Vec<i32>, KafkaError> {
        let metadata = self.consumer.fetch_metadata(Some(topic), timeout)?;
        Ok(metadata
            .topics()
            .iter()
            .filter(|t| t.name() == topic)
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect())
    }
}
