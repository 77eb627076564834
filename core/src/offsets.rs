//! The read-only view of Kafka offsets that the decision rule consults.
//!
//! The shell fills it by polling every cluster; the core only reads it. An offset the
//! view does not know, or knows only from too long ago, means "wait", never "lost".

use crate::model::Millis;

/// A value read from Kafka and the detector time at which it was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Observed<T> {
    pub value: T,
    pub read_at: Millis,
}

/// Committed offsets of consumer groups and watermarks of partitions, by name.
///
/// `location` is `<cluster>/<topic>` exactly as in cairn.toml. A committed offset is the
/// next offset the group will read (Kafka's convention).
pub trait OffsetsView {
    fn committed(&self, group: &str, location: &str, partition: i32) -> Option<Observed<i64>>;
    fn log_start(&self, location: &str, partition: i32) -> Option<Observed<i64>>;
    fn log_end(&self, location: &str, partition: i32) -> Option<Observed<i64>>;
}

/// An offsets view held in plain maps: for tests, and for shells that rebuild a snapshot per poll.
#[derive(Clone, Debug, Default)]
pub struct StaticOffsets {
    pub committed: std::collections::HashMap<(String, String, i32), Observed<i64>>,
    pub log_start: std::collections::HashMap<(String, i32), Observed<i64>>,
    pub log_end: std::collections::HashMap<(String, i32), Observed<i64>>,
}

impl StaticOffsets {
    pub fn set_committed(
        &mut self,
        group: &str,
        location: &str,
        partition: i32,
        value: i64,
        read_at: Millis,
    ) {
        self.committed.insert(
            (group.to_owned(), location.to_owned(), partition),
            Observed { value, read_at },
        );
    }

    pub fn set_log_start(&mut self, location: &str, partition: i32, value: i64, read_at: Millis) {
        self.log_start.insert(
            (location.to_owned(), partition),
            Observed { value, read_at },
        );
    }

    pub fn set_log_end(&mut self, location: &str, partition: i32, value: i64, read_at: Millis) {
        self.log_end.insert(
            (location.to_owned(), partition),
            Observed { value, read_at },
        );
    }
}

impl OffsetsView for StaticOffsets {
    fn committed(&self, group: &str, location: &str, partition: i32) -> Option<Observed<i64>> {
        // The tuple key forces an allocation per lookup; fine for tests and timer checks,
        // which run per due message, not per trace.
        self.committed
            .get(&(group.to_owned(), location.to_owned(), partition))
            .copied()
    }

    fn log_start(&self, location: &str, partition: i32) -> Option<Observed<i64>> {
        self.log_start
            .get(&(location.to_owned(), partition))
            .copied()
    }

    fn log_end(&self, location: &str, partition: i32) -> Option<Observed<i64>> {
        self.log_end.get(&(location.to_owned(), partition)).copied()
    }
}
