//! The heartbeat consumer of one cluster: assigns the canary partitions directly (no group
//! membership), starting where the manager says, and feeds every record to the core. Records
//! that are not heartbeats are counted and skipped; the end of a partition tells the core how
//! far the consumer has come.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use cairn_core::canary::Heartbeat;
use cairn_core::config::{CanarySection, ClusterConfig};
use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::view::{ClusterSlot, StartAt};
use crate::clock::now_millis;
use crate::kafka::client::{client_config, set_default};

const POLL: Duration = Duration::from_millis(50);

/// Starts the consumer thread of `slot`'s cluster.
pub fn spawn_consumer(
    cluster: &ClusterConfig,
    section: &CanarySection,
    slot: Arc<ClusterSlot>,
    run: &str,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<JoinHandle<()>> {
    let mut config = client_config(cluster);
    // Never joins or commits: the group id only satisfies librdkafka.
    set_default(&mut config, "group.id", &format!("cairn-canary-{run}"));
    set_default(&mut config, "enable.auto.commit", "false");
    set_default(&mut config, "enable.auto.offset.store", "false");
    set_default(&mut config, "enable.partition.eof", "true");
    set_default(&mut config, "fetch.wait.max.ms", "20");
    set_default(&mut config, "auto.offset.reset", "latest");
    set_default(&mut config, "allow.auto.create.topics", "false");
    let consumer: BaseConsumer<QuietEof> = config.create_with_context(QuietEof)?;
    let topic = section.topic.clone();
    let timeout = section.request_timeout;
    let handle = std::thread::Builder::new()
        .name(format!("canary-consume-{}", slot.name))
        .spawn(move || {
            let mut reader = Reader {
                consumer,
                slot,
                topic,
                timeout,
                seen_version: 0,
                epoch: 0,
                held: BTreeSet::new(),
            };
            while !stop.load(Ordering::Acquire) {
                reader.follow_wanted();
                reader.poll();
            }
        })?;
    Ok(handle)
}

/// The end of a partition is news for the reader, not an error for the log.
pub struct QuietEof;

impl ClientContext for QuietEof {
    fn error(&self, error: KafkaError, reason: &str) {
        let eof = matches!(
            error,
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)
        );
        if !eof {
            tracing::warn!(%error, reason, "canary consumer error");
        }
    }
}

impl ConsumerContext for QuietEof {}

struct Reader {
    consumer: BaseConsumer<QuietEof>,
    slot: Arc<ClusterSlot>,
    topic: String,
    timeout: Duration,
    seen_version: u64,
    epoch: u64,
    held: BTreeSet<i32>,
}

impl Reader {
    /// Takes the partitions the manager added (or everything again after a recreation).
    fn follow_wanted(&mut self) {
        let version = self.slot.wanted_version.load(Ordering::Acquire);
        if version == self.seen_version {
            return;
        }
        let wanted = self.slot.wanted.lock().clone();
        if wanted.epoch != self.epoch {
            if let Err(err) = self.consumer.unassign() {
                self.slot.error("consume", &err);
                return;
            }
            self.held.clear();
            self.slot.sendable.lock().clear();
            self.epoch = wanted.epoch;
        }
        let mut list = TopicPartitionList::new();
        let mut added = Vec::new();
        for (&partition, &start) in &wanted.partitions {
            if self.held.contains(&partition) {
                continue;
            }
            let offset = match start {
                StartAt::Beginning => Offset::Beginning,
                StartAt::End => {
                    match self
                        .consumer
                        .fetch_watermarks(&self.topic, partition, self.timeout)
                    {
                        Ok((_, high)) => Offset::Offset(high),
                        Err(err) => {
                            // Try again at the next loop.
                            self.slot.error("consume", &err);
                            return;
                        }
                    }
                }
            };
            if let Err(err) = list.add_partition_offset(&self.topic, partition, offset) {
                self.slot.error("consume", &err);
                return;
            }
            added.push(partition);
        }
        if !added.is_empty() {
            if let Err(err) = self.consumer.incremental_assign(&list) {
                self.slot.error("consume", &err);
                return;
            }
            self.held.extend(added.iter().copied());
            let mut sendable = self.slot.sendable.lock();
            *sendable = self.held.iter().copied().collect();
        }
        self.seen_version = version;
        self.slot.ready.store(true, Ordering::Release);
    }

    fn poll(&mut self) {
        let Some(result) = self.consumer.poll(POLL) else {
            return;
        };
        match result {
            Ok(message) => {
                let now = now_millis();
                let partition = message.partition();
                let offset = message.offset();
                let mut core = self.slot.core.lock();
                match Heartbeat::decode(message.payload().unwrap_or_default()) {
                    Ok(beat) if beat.partition == partition => core.read(&beat, offset, now),
                    Ok(_) => core.skip_at(partition, offset, "wrong_partition"),
                    Err(err) => core.skip_at(partition, offset, err.reason()),
                }
            }
            Err(KafkaError::PartitionEOF(partition)) => {
                let at = self.consumer.position().ok().and_then(|positions| {
                    positions
                        .find_partition(&self.topic, partition)
                        .map(|e| e.offset())
                });
                if let Some(Offset::Offset(at)) = at {
                    self.slot.core.lock().passed(partition, at);
                }
            }
            Err(err) => self.slot.error("consume", &err),
        }
    }
}
