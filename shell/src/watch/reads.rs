//! One cluster's reads for a round: the consumer groups and their states, the topics and their
//! partitions, a group's committed offsets, a partition's log start and end.
//!
//! Every client here reads with `isolation.level=read_committed`, so a watermark read (a
//! ListOffsets request) answers the last stable offset: the log end a `read_committed`
//! consumer sees. Committed offsets come from [`CommittedReader`], a child process with one
//! admin client that reads any group without joining it.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use cairn_core::watch::{GroupState, GroupStatus};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::committed::{Commit, CommittedReader};
use crate::kafka::offsets::Watermarks;

/// Each partition's watermarks, or the error the broker answered for it.
pub type BatchWatermarks = HashMap<(String, i32), Result<Watermarks, KafkaError>>;

/// A consumer group as ListGroups/DescribeGroups gave it.
#[derive(Clone, Debug, PartialEq)]
pub struct ListedGroup {
    pub name: String,
    pub status: GroupStatus,
}

/// One metadata answer: the topics with their partitions, and the topics the broker named
/// with an error (being created, not authorized, ...), which say nothing of their partitions.
#[derive(Debug, Default)]
pub struct Topics {
    pub listed: BTreeMap<String, Vec<i32>>,
    pub failed: Vec<(String, RDKafkaErrorCode)>,
}

/// The Kafka clients of one cluster's poller.
pub struct ClusterReads {
    base: ClientConfig,
    meta: BaseConsumer,
    /// Every group's committed offsets, through one admin client in a child process.
    committed: CommittedReader,
    pub timeout: Duration,
}

impl ClusterReads {
    /// `base` carries the cluster's settings; `read_committed` is set here.
    pub fn new(base: &ClientConfig, timeout: Duration) -> Result<ClusterReads, KafkaError> {
        let mut base = base.clone();
        base.set("isolation.level", "read_committed");
        let meta = base
            .clone()
            .set("group.id", "cairn-watch-metadata")
            .set("enable.auto.commit", "false")
            .create()?;
        let committed = CommittedReader::new(&base, timeout)?;
        Ok(ClusterReads {
            base,
            meta,
            committed,
            timeout,
        })
    }

    /// The client settings every client of this cluster starts from.
    pub fn base(&self) -> &ClientConfig {
        &self.base
    }

    /// Every consumer group of the cluster with its state and member count.
    pub fn list_groups(&self) -> Result<Vec<ListedGroup>, KafkaError> {
        let list = self.meta.fetch_group_list(None, self.timeout)?;
        Ok(list
            .groups()
            .iter()
            .map(|g| ListedGroup {
                name: g.name().to_owned(),
                status: GroupStatus {
                    state: GroupState::from_kafka(g.state()),
                    members: u32::try_from(g.members().len()).unwrap_or(u32::MAX),
                },
            })
            .collect())
    }

    /// Every topic (internal ones left out) with its partitions, in name order.
    pub fn topics(&self) -> Result<Topics, KafkaError> {
        let metadata = self.meta.fetch_metadata(None, self.timeout)?;
        let mut topics = Topics::default();
        for t in metadata.topics() {
            if t.name().starts_with("__") {
                continue;
            }
            if let Some(err) = t.error() {
                let code = RDKafkaErrorCode::from(err);
                topics.failed.push((t.name().to_owned(), code));
                continue;
            }
            let mut partitions: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
            partitions.sort_unstable();
            topics.listed.insert(t.name().to_owned(), partitions);
        }
        Ok(topics)
    }

    /// The committed offset of each of `partitions` for each of `groups` (per group, in the
    /// order of `partitions`), all asked at once.
    pub fn committed(&self, groups: &[String], partitions: &[(String, i32)]) -> Vec<Vec<Commit>> {
        self.committed.committed(groups, partitions)
    }

    /// Committed offsets reader processes lost since the last call.
    pub fn take_readers_lost(&self) -> u64 {
        self.committed.take_lost()
    }

    /// Log start and the read_committed log end of one partition.
    pub fn watermarks(&self, topic: &str, partition: i32) -> Result<Watermarks, KafkaError> {
        let (log_start, log_end) = self.meta.fetch_watermarks(topic, partition, self.timeout)?;
        Ok(Watermarks { log_start, log_end })
    }

    /// Log start and read_committed log end of many partitions at once: one ListOffsets
    /// request per broker for the starts (timestamp -2, earliest) and one for the ends (-1,
    /// latest), whatever the number of partitions, where [`ClusterReads::watermarks`] costs a
    /// round trip per partition. librdkafka sends these with the client's isolation level, so
    /// the ends are last stable offsets, as with `watermarks`. The outer error is a failed
    /// request; a partition the broker answered with an error has its own.
    pub fn watermarks_of(
        &self,
        partitions: &[(String, i32)],
    ) -> Result<BatchWatermarks, KafkaError> {
        let mut earliest = TopicPartitionList::with_capacity(partitions.len());
        let mut latest = TopicPartitionList::with_capacity(partitions.len());
        for (topic, partition) in partitions {
            earliest.add_partition_offset(topic, *partition, Offset::Beginning)?;
            latest.add_partition_offset(topic, *partition, Offset::End)?;
        }
        let starts = offsets_by_partition(&self.meta.offsets_for_times(earliest, self.timeout)?);
        let ends = offsets_by_partition(&self.meta.offsets_for_times(latest, self.timeout)?);
        Ok(partitions
            .iter()
            .map(|key| {
                let missing = || Err(KafkaError::OffsetFetch(RDKafkaErrorCode::UnknownPartition));
                let start = starts.get(key).cloned().unwrap_or_else(missing);
                let end = ends.get(key).cloned().unwrap_or_else(missing);
                let marks = start
                    .and_then(|log_start| end.map(|log_end| Watermarks { log_start, log_end }));
                (key.clone(), marks)
            })
            .collect())
    }
}

/// The offset or error of each element of a ListOffsets answer.
fn offsets_by_partition(
    answer: &TopicPartitionList,
) -> HashMap<(String, i32), Result<i64, KafkaError>> {
    answer
        .elements()
        .iter()
        .map(|e| {
            let offset = e.error().and_then(|()| match e.offset() {
                Offset::Offset(offset) => Ok(offset),
                _ => Err(KafkaError::OffsetFetch(
                    RDKafkaErrorCode::OffsetNotAvailable,
                )),
            });
            ((e.topic().to_owned(), e.partition()), offset)
        })
        .collect()
}
