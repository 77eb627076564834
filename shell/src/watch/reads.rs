//! One cluster's reads for a round: the consumer groups and their states, the topics and their
//! partitions, a group's committed offsets, a partition's log start and end.
//!
//! Every client here reads with `isolation.level=read_committed`, so a watermark read (a
//! ListOffsets request) answers the last stable offset: the log end a `read_committed`
//! consumer sees. Committed offsets come from [`GroupOffsetsReader`], which never joins the
//! group it reads.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use cairn_core::watch::{GroupState, GroupStatus};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::kafka::offsets::{GroupOffsetsReader, OffsetsError, PartitionCommit, Watermarks};

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
    /// One passive offsets reader per group, kept while the group is watched.
    groups: HashMap<String, GroupOffsetsReader>,
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
        Ok(ClusterReads {
            base,
            meta,
            groups: HashMap::new(),
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

    /// `group`'s committed offsets of `partitions`, in their order.
    pub fn committed(
        &mut self,
        group: &str,
        partitions: &[(String, i32)],
    ) -> Result<Vec<PartitionCommit>, OffsetsError> {
        if !self.groups.contains_key(group) {
            let reader = GroupOffsetsReader::new(&self.base, group)?;
            self.groups.insert(group.to_owned(), reader);
        }
        self.groups[group].committed_in(partitions, self.timeout)
    }

    /// Log start and the read_committed log end of one partition.
    pub fn watermarks(&self, topic: &str, partition: i32) -> Result<Watermarks, KafkaError> {
        let (log_start, log_end) = self.meta.fetch_watermarks(topic, partition, self.timeout)?;
        Ok(Watermarks { log_start, log_end })
    }

    /// Drops the offsets readers of groups no longer watched.
    pub fn retain_groups(&mut self, keep: impl Fn(&str) -> bool) {
        self.groups.retain(|group, _| keep(group));
    }
}
