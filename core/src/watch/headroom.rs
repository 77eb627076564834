//! Retention headroom: how much longer a group can stay as far behind as it is before
//! retention deletes records it has not read. Per partition it is the topic's `retention.ms`
//! minus the age of the oldest unread record; a group's is the smallest of its partitions'.

use super::report::PartitionReport;

/// How long a topic keeps records, from its `retention.ms` and `cleanup.policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retention {
    /// Records are deleted once they are this many milliseconds old.
    Millis(i64),
    /// No deletion by age: `retention.ms = -1`, or a compact-only topic.
    Forever,
}

impl Retention {
    /// From a topic's `retention.ms` and `cleanup.policy` as DescribeConfigs gives them;
    /// `None` when they do not read as Kafka writes them.
    pub fn from_topic_config(retention_ms: &str, cleanup_policy: &str) -> Option<Retention> {
        let deletes = cleanup_policy
            .split(',')
            .any(|policy| policy.trim() == "delete");
        if !deletes {
            return Some(Retention::Forever);
        }
        match retention_ms.trim().parse::<i64>().ok()? {
            ms if ms < 0 => Some(Retention::Forever),
            ms => Some(Retention::Millis(ms)),
        }
    }
}

/// The group's headroom in seconds: the smallest `retention − lag_seconds` over its partitions
/// with a commit on a topic that deletes by age. `None` when one of those has an unknown lag in
/// time or an unknown retention (the smallest cannot be known), or when no partition's records
/// expire by age. Negative once retention has passed the oldest unread record.
pub fn group_headroom(
    partitions: &[PartitionReport],
    retention: impl Fn(&str) -> Option<Retention>,
) -> Option<f64> {
    let mut smallest: Option<f64> = None;
    for partition in partitions.iter().filter(|p| p.committed.get().is_some()) {
        let millis = match retention(&partition.topic)? {
            Retention::Forever => continue,
            Retention::Millis(ms) => ms,
        };
        let headroom = millis as f64 / 1_000.0 - partition.lag_seconds.get()?;
        smallest = Some(smallest.map_or(headroom, |s| s.min(headroom)));
    }
    smallest
}
