//! What the consumer knows of one owned tracing partition, shared by the dispatcher (which
//! routes its records), the partition's worker (which judges it) and the end watch (which
//! compares it with the log end). A worker judges a partition only while it is read to its
//! end: the consumer reported its end, no record was routed to it since, and the end watch
//! last saw no record in the log past what was routed. The last part catches traces the
//! consumer has not fetched or polled yet (its queue is full behind a slow worker), which no
//! end-of-partition event can tell.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use parking_lot::Mutex;

#[derive(Debug)]
pub struct Lane {
    /// Records routed to the worker so far.
    routed: AtomicU64,
    /// The next offset past what the consumer has routed or reached the end at.
    read_to: AtomicI64,
    /// Whether the end watch last saw the log end past `read_to` (true until it first looks).
    behind: AtomicBool,
}

/// The lanes of the owned partitions, by partition, for the end watch.
pub type Lanes = Arc<Mutex<HashMap<i32, Arc<Lane>>>>;

impl Lane {
    /// A lane of a partition consumed from `next_offset`.
    pub fn new(next_offset: i64) -> Lane {
        Lane {
            routed: AtomicU64::new(0),
            read_to: AtomicI64::new(next_offset),
            behind: AtomicBool::new(true),
        }
    }

    /// The record at `offset` was routed to the worker.
    pub fn routed_record(&self, offset: i64) {
        self.routed.fetch_add(1, Ordering::AcqRel);
        self.read_to.fetch_max(offset + 1, Ordering::AcqRel);
    }

    /// The consumer reached the partition's end at `position` (past control records too).
    pub fn reached(&self, position: i64) {
        self.read_to.fetch_max(position, Ordering::AcqRel);
    }

    pub fn routed(&self) -> u64 {
        self.routed.load(Ordering::Acquire)
    }

    pub fn read_to(&self) -> i64 {
        self.read_to.load(Ordering::Acquire)
    }

    /// What the end watch saw: the log ends at `log_end` (`None`: it could not tell).
    pub fn saw_log_end(&self, log_end: Option<i64>) {
        let behind = log_end.is_none_or(|end| end > self.read_to());
        self.behind.store(behind, Ordering::Release);
    }

    pub fn behind(&self) -> bool {
        self.behind.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lane_is_behind_until_the_log_end_is_no_further_than_what_was_routed() {
        let lane = Lane::new(10);
        assert!(lane.behind(), "not looked at yet");
        lane.saw_log_end(Some(10));
        assert!(!lane.behind());
        lane.saw_log_end(Some(12));
        assert!(lane.behind(), "two records not routed yet");
        lane.routed_record(10);
        lane.routed_record(11);
        assert_eq!((lane.routed(), lane.read_to()), (2, 12));
        lane.saw_log_end(Some(12));
        assert!(!lane.behind());
        lane.saw_log_end(None);
        assert!(lane.behind(), "an unanswered look proves nothing");
        // A transaction marker past the last record: the end the consumer reached covers it.
        lane.reached(13);
        lane.saw_log_end(Some(13));
        assert!(!lane.behind());
    }
}
