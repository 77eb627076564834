//! How far, in time, each tracing partition has been read: the frontier up to which its timers
//! may run (`Detector::on_tick_bounded`'s `read_through`).
//!
//! The look thread ([`super::looks`]) asks the tracing cluster a few times a second where each
//! assigned partition ends, and files every answer here as a [`Look`]: the end, and when it was
//! asked. Once a worker has fed its detector every record before a look's end, every trace
//! written to the partition before that look was asked is in: the partition is read through
//! that time. However far the worker, the consumer's queue or the poll loop fall behind, the
//! frontier only moves with what was really read, and a look that fails proves nothing.
//!
//! The frontier also numbers the interruptions the poll loop announces (the tracing cluster
//! was lost): a worker runs no timer between the announcement and the moment the numbered
//! message reaches it.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use cairn_core::model::Millis;
use parking_lot::Mutex;

/// Looks kept per partition for a worker that has not reached them yet: at one look every
/// 200 ms, the last 50 s of them. When full, every other one is dropped, so a worker lagging
/// further still finds looks to reach, only further apart (dropping a look only delays the
/// frontier, never moves it too far).
const MAX_LOOKS: usize = 256;

/// One answer about a partition's log end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Look {
    /// The offset the next record written will take.
    pub end: i64,
    /// When the question was asked: every record written before then is below `end`.
    pub asked_at: Millis,
}

/// Shared by the look thread (which files looks), the poll loop (which announces
/// interruptions) and the workers (which read the frontier).
#[derive(Clone, Debug)]
pub struct Frontier(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    /// Looks not reached yet, per partition, oldest first.
    looks: Mutex<HashMap<i32, VecDeque<Look>>>,
    /// The partitions handed to workers, which the look thread asks about. Kept here rather
    /// than asked of librdkafka: its assignment call waits on the consumer group's thread
    /// without a timeout, and the look thread must never hold up a session's end.
    assigned: Mutex<BTreeSet<i32>>,
    interrupts: AtomicU64,
    /// No consumer in front of the workers: everything fed is everything written.
    everything_read: bool,
}

impl Frontier {
    pub fn new() -> Frontier {
        Frontier::with(false)
    }

    /// A frontier for workers fed directly (tests, benches): a partition is always read
    /// through now.
    pub fn everything_read() -> Frontier {
        Frontier::with(true)
    }

    fn with(everything_read: bool) -> Frontier {
        Frontier(Arc::new(Inner {
            looks: Mutex::new(HashMap::new()),
            assigned: Mutex::new(BTreeSet::new()),
            interrupts: AtomicU64::new(0),
            everything_read,
        }))
    }

    /// `partition` now belongs to a worker of this session.
    pub fn assigned(&self, partition: i32) {
        self.0.assigned.lock().insert(partition);
    }

    /// `partition` left this session.
    pub fn revoked(&self, partition: i32) {
        self.0.assigned.lock().remove(&partition);
    }

    /// The partitions the workers own, in order.
    pub fn assignment(&self) -> Vec<i32> {
        self.0.assigned.lock().iter().copied().collect()
    }

    /// Files what the look thread saw of `partition`.
    pub fn saw(&self, partition: i32, look: Look) {
        let mut looks = self.0.looks.lock();
        let queue = looks.entry(partition).or_default();
        if queue.len() >= MAX_LOOKS {
            let mut n = 0;
            queue.retain(|_| {
                n += 1;
                n % 2 == 0
            });
        }
        queue.push_back(look);
    }

    /// The latest time `partition` is read through, now that every record before
    /// `next_offset` was fed, if a look not reached before says so. Looks reached are
    /// forgotten: the worker keeps the time they gave.
    pub fn reached(&self, partition: i32, next_offset: i64, now: Millis) -> Option<Millis> {
        if self.0.everything_read {
            return Some(now);
        }
        let mut looks = self.0.looks.lock();
        let queue = looks.get_mut(&partition)?;
        let mut through = None;
        while let Some(look) = queue.front().copied() {
            if look.end > next_offset {
                break;
            }
            through = Some(look.asked_at);
            queue.pop_front();
        }
        through
    }

    /// Announces an interruption; returns its number, which the message to the workers carries.
    pub fn interrupt(&self) -> u64 {
        self.0.interrupts.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Interruptions announced so far.
    pub fn interrupts(&self) -> u64 {
        self.0.interrupts.load(Ordering::Acquire)
    }
}

impl Default for Frontier {
    fn default() -> Self {
        Frontier::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn look(end: i64, asked_at: Millis) -> Look {
        Look { end, asked_at }
    }

    #[test]
    fn a_partition_is_read_through_the_latest_look_whose_end_was_fed() {
        let frontier = Frontier::new();
        assert_eq!(
            frontier.reached(0, 100, 5_000),
            None,
            "nothing looked at yet"
        );
        frontier.saw(0, look(10, 1_000));
        frontier.saw(0, look(12, 1_200));
        frontier.saw(0, look(20, 1_400));
        assert_eq!(frontier.reached(0, 9, 5_000), None, "behind every look");
        assert_eq!(frontier.reached(0, 12, 5_000), Some(1_200));
        assert_eq!(
            frontier.reached(0, 12, 5_000),
            None,
            "reached looks are gone"
        );
        assert_eq!(frontier.reached(0, 25, 5_000), Some(1_400));
        assert_eq!(frontier.reached(1, 25, 5_000), None, "another partition");
    }

    #[test]
    fn a_log_end_that_went_back_holds_the_frontier_until_it_is_reached() {
        let frontier = Frontier::new();
        frontier.saw(0, look(30, 1_000));
        // A truncation: the log now ends lower; the older, higher end still has to be reached.
        frontier.saw(0, look(25, 1_200));
        assert_eq!(frontier.reached(0, 26, 5_000), None);
        assert_eq!(frontier.reached(0, 30, 5_000), Some(1_200));
    }

    #[test]
    fn a_full_queue_thins_out_and_a_far_behind_worker_still_moves() {
        let frontier = Frontier::new();
        for n in 0..(MAX_LOOKS as i64 * 4) {
            frontier.saw(0, look(n * 10, n * 200));
        }
        let kept = frontier.0.looks.lock()[&0].len();
        assert!(kept <= MAX_LOOKS, "{kept} looks kept");
        // The worker fed only the first half: looks it would have reached were thinned out,
        // but some within reach remain.
        let half = MAX_LOOKS as i64 * 2;
        let through = frontier.reached(0, half * 10, 1_000_000).expect("moves");
        assert!(through <= half * 200, "never past what was fed: {through}");
        let last = MAX_LOOKS as i64 * 4 - 1;
        assert_eq!(frontier.reached(0, last * 10, 1_000_000), Some(last * 200));
    }

    #[test]
    fn without_a_consumer_everything_fed_is_read_through_now() {
        assert_eq!(Frontier::everything_read().reached(3, 0, 7), Some(7));
    }

    #[test]
    fn interruptions_are_numbered_from_one() {
        let frontier = Frontier::new();
        assert_eq!(frontier.interrupts(), 0);
        assert_eq!(frontier.interrupt(), 1);
        assert_eq!(frontier.clone().interrupt(), 2);
        assert_eq!(frontier.interrupts(), 2);
    }
}
