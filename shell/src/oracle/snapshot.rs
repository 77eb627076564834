//! Snapshots of offsets, published per cluster and read without locks.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use cairn_core::model::Millis;
use cairn_core::offsets::{Observed, OffsetsView};

/// Offsets of one topic: watermarks per partition and committed offsets per watching group.
#[derive(Clone, Debug, Default)]
pub struct TopicOffsets {
    /// Indexed by partition.
    pub log_start: Vec<Option<Observed<i64>>>,
    pub log_end: Vec<Option<Observed<i64>>>,
    /// Group id → committed offset by partition (`None`: nothing committed, or not read yet).
    pub committed: HashMap<String, Vec<Option<Observed<i64>>>>,
}

/// Everything known about one cluster after one poll round.
#[derive(Clone, Debug, Default)]
pub struct ClusterOffsets {
    /// Topic name → offsets.
    pub topics: HashMap<String, TopicOffsets>,
    /// When the last round that reached the cluster completed (0: never).
    pub polled_at: Millis,
}

/// The latest snapshot of every cluster; each poller swaps in its own cluster's entry.
pub struct OffsetsBoard {
    clusters: HashMap<String, ArcSwap<ClusterOffsets>>,
}

impl OffsetsBoard {
    pub fn new<'a>(clusters: impl IntoIterator<Item = &'a str>) -> Self {
        let clusters = clusters
            .into_iter()
            .map(|name| {
                (
                    name.to_owned(),
                    ArcSwap::from_pointee(ClusterOffsets::default()),
                )
            })
            .collect();
        OffsetsBoard { clusters }
    }

    pub fn publish(&self, cluster: &str, offsets: ClusterOffsets) {
        if let Some(slot) = self.clusters.get(cluster) {
            slot.store(Arc::new(offsets));
        }
    }

    pub fn cluster(&self, cluster: &str) -> Option<Arc<ClusterOffsets>> {
        self.clusters.get(cluster).map(|slot| slot.load_full())
    }

    /// A consistent view for one detector tick: each cluster's snapshot as of now.
    pub fn view(&self) -> OracleView {
        OracleView {
            clusters: self
                .clusters
                .iter()
                .map(|(name, slot)| (name.clone(), slot.load_full()))
                .collect(),
        }
    }
}

/// Snapshots held for the duration of a tick; implements the core's [`OffsetsView`].
pub struct OracleView {
    clusters: HashMap<String, Arc<ClusterOffsets>>,
}

impl OracleView {
    fn topic(&self, location: &str) -> Option<&TopicOffsets> {
        let (cluster, topic) = location.split_once('/')?;
        self.clusters.get(cluster)?.topics.get(topic)
    }
}

fn at(values: &[Option<Observed<i64>>], partition: i32) -> Option<Observed<i64>> {
    usize::try_from(partition)
        .ok()
        .and_then(|p| values.get(p).copied().flatten())
}

impl OffsetsView for OracleView {
    fn committed(&self, group: &str, location: &str, partition: i32) -> Option<Observed<i64>> {
        at(self.topic(location)?.committed.get(group)?, partition)
    }

    fn log_start(&self, location: &str, partition: i32) -> Option<Observed<i64>> {
        at(&self.topic(location)?.log_start, partition)
    }

    fn log_end(&self, location: &str, partition: i32) -> Option<Observed<i64>> {
        at(&self.topic(location)?.log_end, partition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observed(value: i64) -> Option<Observed<i64>> {
        Some(Observed {
            value,
            read_at: 1_000,
        })
    }

    #[test]
    fn view_resolves_cluster_topic_group_and_partition() {
        let board = OffsetsBoard::new(["fronting", "consumer"]);
        let mut topic = TopicOffsets {
            log_start: vec![observed(0), observed(5)],
            log_end: vec![observed(10), observed(20)],
            ..TopicOffsets::default()
        };
        topic
            .committed
            .insert("router".into(), vec![observed(7), None]);
        let mut cluster = ClusterOffsets {
            polled_at: 1_000,
            ..Default::default()
        };
        cluster.topics.insert("playback".into(), topic);
        board.publish("fronting", cluster);

        let view = board.view();
        assert_eq!(
            view.committed("router", "fronting/playback", 0),
            observed(7)
        );
        assert_eq!(view.committed("router", "fronting/playback", 1), None);
        assert_eq!(view.committed("router", "fronting/playback", 2), None);
        assert_eq!(view.committed("router", "fronting/playback", -1), None);
        assert_eq!(view.committed("other", "fronting/playback", 0), None);
        assert_eq!(view.committed("router", "consumer/playback", 0), None);
        assert_eq!(view.log_start("fronting/playback", 1), observed(5));
        assert_eq!(view.log_end("fronting/playback", 0), observed(10));
        assert_eq!(view.log_end("no-slash", 0), None);
    }

    #[test]
    fn a_view_keeps_its_snapshot_while_a_newer_one_is_published() {
        let board = OffsetsBoard::new(["c"]);
        let mut first = ClusterOffsets::default();
        first.topics.insert(
            "t".into(),
            TopicOffsets {
                log_end: vec![observed(1)],
                ..Default::default()
            },
        );
        board.publish("c", first);
        let view = board.view();
        board.publish("c", ClusterOffsets::default());
        assert_eq!(view.log_end("c/t", 0), observed(1));
        assert_eq!(board.view().log_end("c/t", 0), None);
    }

    #[test]
    fn unknown_clusters_are_not_published() {
        let board = OffsetsBoard::new(["c"]);
        board.publish("elsewhere", ClusterOffsets::default());
        assert!(board.cluster("elsewhere").is_none());
    }
}
