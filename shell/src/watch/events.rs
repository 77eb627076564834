//! What the watch reports about itself: each event logs one structured line and bumps its
//! counter together (as `crate::events` does for detect). Labels are bounded: an operation, a
//! reason from [`ReadReason`], a kind of topic change; never an error text or a group name.

use std::fmt::Display;
use std::sync::atomic::Ordering;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use super::view::WatchCounters;
use crate::kafka::offsets::OffsetsError;

/// Why a read failed, as a bounded label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadReason {
    /// The group coordinator is still loading its offsets (after a broker start or a move).
    CoordinatorLoading,
    /// No coordinator, or the broker asked is no longer it (it moved, its broker died).
    CoordinatorUnavailable,
    /// The cluster refused the watch's principal (group, topic or cluster ACLs, or SASL).
    Authorization,
    /// No answer in time.
    Timeout,
    /// The topic or partition does not exist (deleted under the read).
    UnknownTopic,
    /// No broker could be reached.
    BrokerDown,
    Other,
}

impl ReadReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ReadReason::CoordinatorLoading => "coordinator_loading",
            ReadReason::CoordinatorUnavailable => "coordinator_unavailable",
            ReadReason::Authorization => "authorization",
            ReadReason::Timeout => "timeout",
            ReadReason::UnknownTopic => "unknown_topic",
            ReadReason::BrokerDown => "broker_down",
            ReadReason::Other => "other",
        }
    }

    pub fn of_code(code: Option<RDKafkaErrorCode>) -> ReadReason {
        use RDKafkaErrorCode as C;
        match code {
            Some(C::CoordinatorLoadInProgress) => ReadReason::CoordinatorLoading,
            Some(C::CoordinatorNotAvailable | C::NotCoordinator) => {
                ReadReason::CoordinatorUnavailable
            }
            Some(
                C::GroupAuthorizationFailed
                | C::TopicAuthorizationFailed
                | C::ClusterAuthorizationFailed
                | C::Authentication
                | C::SaslAuthenticationFailed,
            ) => ReadReason::Authorization,
            Some(C::OperationTimedOut | C::RequestTimedOut | C::TimedOutQueue) => {
                ReadReason::Timeout
            }
            Some(C::UnknownTopicOrPartition | C::UnknownTopic | C::UnknownPartition) => {
                ReadReason::UnknownTopic
            }
            Some(C::AllBrokersDown | C::BrokerTransportFailure) => ReadReason::BrokerDown,
            _ => ReadReason::Other,
        }
    }

    pub fn of_kafka(error: &KafkaError) -> ReadReason {
        ReadReason::of_code(error.rdkafka_error_code())
    }

    pub fn of_offsets(error: &OffsetsError) -> ReadReason {
        match error {
            OffsetsError::Client { source, .. }
            | OffsetsError::Committed { source, .. }
            | OffsetsError::Watermarks { source, .. } => ReadReason::of_kafka(source),
        }
    }
}

/// A read of a round failed; what it should have read is unknown this round.
pub struct ReadFailed<'a> {
    pub cluster: &'a str,
    /// `groups`, `metadata`, `committed`, `watermarks`, `first_unread` or `retention`.
    pub operation: &'static str,
    pub reason: ReadReason,
    pub error: &'a dyn Display,
}

impl ReadFailed<'_> {
    pub fn emit(&self, counters: &WatchCounters) {
        let reason = self.reason.as_str();
        WatchCounters::add3(
            &counters.read_errors,
            self.cluster,
            self.operation,
            reason,
            1,
        );
        tracing::warn!(cluster = self.cluster, operation = self.operation, reason, error = %self.error, "watch read failed; its values are unknown this round");
    }
}

/// A topic a watched group has commits on changed under it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopicChange {
    /// Gone from the metadata: its partitions leave the group's report this round.
    Deleted,
    /// Back under a name the watch saw deleted.
    Recreated,
    /// More partitions than before: the new ones join the group's report.
    PartitionsAdded,
    /// A partition's log start or end went below what was seen (recreated between two rounds,
    /// or truncated): what the watch learnt about it starts again.
    LogWentBack,
}

impl TopicChange {
    pub fn as_str(self) -> &'static str {
        match self {
            TopicChange::Deleted => "deleted",
            TopicChange::Recreated => "recreated",
            TopicChange::PartitionsAdded => "partitions_added",
            TopicChange::LogWentBack => "log_went_back",
        }
    }
}

/// A topic change seen by one cluster's round.
pub struct TopicChanged<'a> {
    pub cluster: &'a str,
    pub topic: &'a str,
    pub change: TopicChange,
    /// Partitions before and after (for `partitions_added`), or affected partitions.
    pub detail: &'a dyn Display,
}

impl TopicChanged<'_> {
    pub fn emit(&self, counters: &WatchCounters) {
        let change = self.change.as_str();
        WatchCounters::add(&counters.topic_changes, self.cluster, change, 1);
        tracing::warn!(cluster = self.cluster, topic = self.topic, change, detail = %self.detail, "watched topic changed");
    }
}

/// First unread records whose timestamps could not be used as they were.
pub struct OddTimestamps<'a> {
    pub cluster: &'a str,
    /// Timestamp -1: the lag in time was interpolated instead.
    pub missing: u64,
    /// Timestamp later than the round: clamped to a lag of 0.
    pub future: u64,
}

impl OddTimestamps<'_> {
    pub fn emit(&self, counters: &WatchCounters) {
        if self.missing == 0 && self.future == 0 {
            return;
        }
        WatchCounters::add(
            &counters.odd_timestamps,
            self.cluster,
            "missing",
            self.missing,
        );
        WatchCounters::add(
            &counters.odd_timestamps,
            self.cluster,
            "future",
            self.future,
        );
        tracing::warn!(
            cluster = self.cluster,
            missing = self.missing,
            future = self.future,
            "first unread records with odd timestamps: lag in time interpolated (missing) or clamped to now (future)"
        );
    }
}

/// A group has been rebalancing for longer than its window: nobody can commit, so the stuck
/// clock does not run; it gets a full window once the rebalance ends.
pub struct LongRebalance<'a> {
    pub cluster: &'a str,
    pub group: &'a str,
    pub for_seconds: f64,
}

impl LongRebalance<'_> {
    pub fn emit(&self, counters: &WatchCounters) {
        *counters
            .long_rebalances
            .lock()
            .entry(self.cluster.to_owned())
            .or_default() += 1;
        tracing::warn!(
            cluster = self.cluster,
            group = self.group,
            for_seconds = self.for_seconds,
            "rebalance longer than the window; stuck is not judged until it ends"
        );
    }
}

/// A webhook did not take an incident record after every retry.
pub struct WebhookFailed<'a> {
    pub url: &'a str,
    pub attempts: u32,
    pub error: &'a dyn Display,
}

impl WebhookFailed<'_> {
    pub fn emit(&self, counters: &WatchCounters) {
        counters.webhook_failures.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(url = self.url, attempts = self.attempts, error = %self.error, "incident webhook failed");
    }
}

/// The incident topic did not take an incident record.
pub struct PublishFailed<'a> {
    pub cluster: &'a str,
    pub group: &'a str,
    pub error: &'a dyn Display,
}

impl PublishFailed<'_> {
    pub fn emit(&self) {
        tracing::error!(cluster = self.cluster, group = self.group, error = %self.error, "incident record not published");
    }
}

/// An incident record left unpublished on purpose (this instance stopped acting).
pub struct NotPublished<'a> {
    pub incident: &'a cairn_core::watch::Incident,
    pub reason: &'static str,
}

impl NotPublished<'_> {
    pub fn emit(&self) {
        tracing::info!(
            cluster = self.incident.cluster,
            group = self.incident.group,
            phase = ?self.incident.phase,
            reason = self.reason,
            "incident record not published"
        );
    }
}
