//! The tracing consumer's pulse: when its poll loop last went round, and how many times it
//! interrupted the workers. A partition counts as read to its end (the EOF rule of the workers)
//! only while the consumer keeps polling: the poll loop can stop for a while (blocked on a
//! worker whose inbox is full, waiting on a slow checkpoint or a rebalance), and meanwhile
//! traces keep landing on partitions whose end it reported before. A worker that judged those
//! partitions on commits seen since would call messages lost whose traces were merely unread.
//!
//! So a worker runs no timer while the pulse is older than [`STALL_AFTER`], nor while an
//! interruption the poll loop announced has not reached it yet; and the poll loop, back from
//! such a pause, interrupts every worker before it beats again: each partition must then reach
//! its end again, as after losing the tracing cluster.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use cairn_core::model::Millis;

/// How long the poll loop may be away before what it reported counts as stale: well above a
/// poll's own wait (100 ms) and well below any sensible confirmation delay (5 s by default).
pub const STALL_AFTER: Duration = Duration::from_millis(500);

/// Shared by the poll loop (which beats and interrupts) and the workers (which look).
#[derive(Clone, Debug)]
pub struct Pulse(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    last_beat: AtomicI64,
    interrupts: AtomicU64,
}

impl Pulse {
    pub fn new(now: Millis) -> Pulse {
        Pulse(Arc::new(Inner {
            last_beat: AtomicI64::new(now),
            interrupts: AtomicU64::new(0),
        }))
    }

    /// A pulse that never goes stale, for a worker fed without a consumer (tests, benches).
    pub fn steady() -> Pulse {
        Pulse::new(Millis::MAX)
    }

    /// How long the poll loop has been away at `now`.
    pub fn away(&self, now: Millis) -> Millis {
        now.saturating_sub(self.0.last_beat.load(Ordering::Acquire))
    }

    /// The poll loop is at work at `now`.
    pub fn beat(&self, now: Millis) {
        self.0.last_beat.store(now, Ordering::Release);
    }

    /// Whether the poll loop has been away longer than [`STALL_AFTER`] at `now`.
    pub fn stalled(&self, now: Millis) -> bool {
        self.away(now) > stall_after_millis()
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

/// [`STALL_AFTER`] in milliseconds.
pub fn stall_after_millis() -> Millis {
    STALL_AFTER.as_millis() as Millis
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pulse_is_stale_only_past_the_threshold() {
        let pulse = Pulse::new(1_000);
        assert!(!pulse.stalled(1_000 + stall_after_millis()));
        assert!(pulse.stalled(1_001 + stall_after_millis()));
        assert_eq!(pulse.away(3_000), 2_000);
        pulse.beat(3_000);
        assert!(!pulse.stalled(3_100));
        assert!(!Pulse::steady().stalled(Millis::MAX - 1));
    }

    #[test]
    fn interruptions_are_numbered_from_one() {
        let pulse = Pulse::new(0);
        assert_eq!(pulse.interrupts(), 0);
        assert_eq!(pulse.interrupt(), 1);
        assert_eq!(pulse.interrupt(), 2);
        assert_eq!(pulse.clone().interrupts(), 2);
    }
}
