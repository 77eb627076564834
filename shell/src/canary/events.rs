//! What the canary logs about itself. Its counts live in the core's report (losses, topic
//! changes) and in the slot's error counts, so each event here only logs, once, structured.

use cairn_core::canary::consistency::MismatchIncident;
use cairn_core::canary::report::LostSequence;
use cairn_core::watch::incident::Phase;

/// Acknowledged heartbeats the consumer passed without reading.
pub struct HeartbeatsLost<'a> {
    pub cluster: &'a str,
    pub lost: &'a [LostSequence],
}

impl HeartbeatsLost<'_> {
    pub fn emit(&self) {
        for loss in self.lost {
            tracing::error!(
                cluster = self.cluster,
                partition = loss.partition,
                sequence = loss.sequence,
                offset = loss.offset,
                leader = loss.leader,
                "canary heartbeat lost: acknowledged, then passed by the consumer unread"
            );
        }
    }
}

/// The canary created, extended or recreated its topic.
pub struct TopicChanged<'a> {
    pub cluster: &'a str,
    pub topic: &'a str,
    /// `created`, `extended` or `recreated`.
    pub kind: &'static str,
    pub partitions: usize,
}

impl TopicChanged<'_> {
    pub fn emit(&self) {
        if self.kind == "recreated" {
            tracing::warn!(
                cluster = self.cluster,
                topic = self.topic,
                partitions = self.partitions,
                "canary topic was deleted underneath and is recreated; what was in flight is dropped, not lost"
            );
        } else {
            tracing::info!(
                cluster = self.cluster,
                topic = self.topic,
                kind = self.kind,
                partitions = self.partitions,
                "canary topic changed"
            );
        }
    }
}

/// A broker's metadata mismatch incident opened or closed.
pub struct MetadataMismatch<'a> {
    pub incident: &'a MismatchIncident,
}

impl MetadataMismatch<'_> {
    pub fn emit(&self) {
        let i = self.incident;
        match i.incident {
            Phase::Open => tracing::error!(
                cluster = %i.cluster,
                broker = i.broker,
                since = i.since,
                partitions_differing = i.evidence.partitions_differing,
                broker_list = ?i.evidence.broker_list,
                log_end_offset = ?i.evidence.log_end_offset,
                high_watermark = ?i.evidence.high_watermark,
                "metadata mismatch: the broker's metadata disagrees with the cluster's beyond grace; restart or replace it"
            ),
            Phase::Close => tracing::info!(
                cluster = %i.cluster,
                broker = i.broker,
                since = i.since,
                "metadata mismatch closed: the broker agrees again"
            ),
        }
    }
}
