//! What `/api/canary` and `/api/brokers` answer: a cluster's report and its brokers', as the
//! core computed them at one tick.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::follow::FollowCounts;
use super::ledger::Loss;
use crate::model::Millis;

/// The answer of `/api/canary`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CanaryAnswer {
    pub run: String,
    pub instance: String,
    pub clusters: Vec<ClusterReport>,
    /// Every cluster's brokers, each naming its cluster.
    pub brokers: Vec<BrokerReport>,
}

/// The answer of `/api/brokers`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BrokersAnswer {
    pub brokers: Vec<BrokerReport>,
}

/// One cluster's heartbeat accounting. Totals are over the run (and over every generation of
/// the canary topic, if it was recreated).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterReport {
    pub cluster: String,
    pub topic: String,
    pub run: String,
    pub instance: String,
    /// `both`, `produce` or `consume` (`[canary] mode`).
    #[serde(default)]
    pub mode: String,
    /// When this report was made (ms since the epoch).
    pub at: Millis,
    pub produced: u64,
    pub acknowledged: u64,
    pub consumed: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub reordered: u64,
    pub send_failures: u64,
    pub resent: u64,
    pub resent_copies: u64,
    pub abandoned: u64,
    pub late: u64,
    pub unexpected: u64,
    /// Acknowledged sequences not read yet (lag, not loss).
    pub unread: u64,
    /// Of those, the ones older than the consume timeout.
    pub overdue: u64,
    /// Records on the canary topic that were not this run's heartbeats, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// Negative latencies (the reader's clock behind the writer's), clamped to 0.
    pub clock_skew: u64,
    /// Times the canary topic was created, extended or recreated.
    pub topic_changes: BTreeMap<String, u64>,
    pub produce_availability: f64,
    pub consume_availability: f64,
    pub latency_ms: LatencySummary,
    /// The most recent lost sequences, newest last.
    pub lost_sequences: Vec<LostSequence>,
    pub brokers: Vec<BrokerReport>,
    pub partitions: Vec<PartitionReport>,
    /// The KRaft metadata log's quorum at the last consistency check; null before one answered.
    #[serde(default)]
    pub quorum: Option<QuorumSummary>,
    /// Consume mode: every other instance's run this one reads, accounted by sequence.
    #[serde(default)]
    pub sources: Vec<SourceReport>,
}

/// One writer (another instance's run) as a consume-mode instance accounts it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceReport {
    pub instance: String,
    pub run: String,
    /// When its last record was read (ms since the epoch).
    pub last_read: Millis,
    #[serde(flatten)]
    pub counts: FollowCounts,
    /// Skipped sequences not read yet (lag until the horizon, then lost).
    pub unread: u64,
    /// Of those, the ones open for longer than the consume timeout.
    pub overdue: u64,
    /// The most recent lost (partition, sequence), oldest first.
    pub lost_sequences: Vec<(i32, u64)>,
    pub partitions: Vec<SourcePartition>,
}

/// One partition of a followed writer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SourcePartition {
    pub partition: i32,
    /// The first sequence this reader saw; null before one.
    pub first: Option<u64>,
    /// One above the highest sequence read.
    pub next: u64,
    pub open_gaps: u64,
    #[serde(flatten)]
    pub counts: FollowCounts,
}

/// DescribeQuorum's answer, in short.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QuorumSummary {
    pub leader: i32,
    pub leader_epoch: i32,
    pub high_watermark: i64,
    /// (node id, metadata log end offset) of every voter and observer.
    pub replicas: Vec<(i32, i64)>,
    /// When it was read (ms since the epoch).
    pub at: Millis,
}

/// End-to-end latency of first sends, in milliseconds (HDR, 1%).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub count: u64,
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

/// A sequence declared lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LostSequence {
    pub partition: i32,
    pub sequence: u64,
    pub offset: i64,
    /// The partition's leader when the sequence was sent (-1: unknown).
    pub leader: i32,
    /// When the loss was declared (ms since the epoch).
    pub detected_at: Millis,
}

impl LostSequence {
    pub fn new(partition: i32, loss: Loss, detected_at: Millis) -> LostSequence {
        LostSequence {
            partition,
            sequence: loss.sequence,
            offset: loss.offset,
            leader: loss.leader,
            detected_at,
        }
    }
}

/// One broker of a cluster, as the canary sees it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BrokerReport {
    pub cluster: String,
    pub id: i32,
    /// `host:port` from the cluster's metadata; empty before it was seen.
    pub address: String,
    /// In the cluster's latest broker list.
    pub live: bool,
    /// Canary partitions it leads now.
    pub leads: Vec<i32>,
    pub produced: u64,
    pub acknowledged: u64,
    pub send_failures: u64,
    pub consumed: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub produce_availability: f64,
    pub consume_availability: f64,
    pub latency_p99_ms: u64,
    /// False while a metadata mismatch about this broker is held (see `metadata`).
    pub metadata_consistent: bool,
}

/// One canary partition.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PartitionReport {
    pub partition: i32,
    /// -1 while it has no leader.
    pub leader: i32,
    pub produced: u64,
    pub acknowledged: u64,
    pub consumed: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub reordered: u64,
    pub unread: u64,
    /// The consumer's next offset; null before it read or reached the end.
    pub position: Option<i64>,
}
