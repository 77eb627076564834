//! The tracing consumer's pulse: when its poll loop last went round. A partition counts as read
//! to its end (the EOF rule of the workers) only while the consumer keeps polling: the poll loop
//! can stop for a while (blocked on a worker whose inbox is full, waiting on a slow checkpoint
//! or a rebalance), and meanwhile traces keep landing on partitions whose end it reported
//! before. A worker that judged those partitions on commits seen since would call messages
//! lost whose traces were merely unread. So a worker runs no timer while the pulse is older
//! than [`STALL_AFTER`], and the poll loop, back from such a pause, makes every partition earn
//! its end again (the same path as after losing the tracing cluster).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use cairn_core::model::Millis;

/// How long the poll loop may be away before what it reported counts as stale: well above a
/// poll's own wait (100 ms) and well below any sensible confirmation delay (5 s by default).
pub const STALL_AFTER: Duration = Duration::from_millis(500);

/// Shared by the poll loop (which beats) and the workers (which look).
#[derive(Clone, Debug, Default)]
pub struct Pulse(Arc<AtomicI64>);

impl Pulse {
    pub fn new(now: Millis) -> Pulse {
        Pulse(Arc::new(AtomicI64::new(now)))
    }

    /// A pulse that never goes stale, for a worker fed without a consumer (tests, benches).
    pub fn steady() -> Pulse {
        Pulse::new(Millis::MAX)
    }

    /// The poll loop went round at `now`; returns how long it was away since the last beat.
    pub fn beat(&self, now: Millis) -> Millis {
        now.saturating_sub(self.0.swap(now, Ordering::AcqRel))
    }

    /// Whether the poll loop has been away longer than [`STALL_AFTER`] at `now`.
    pub fn stalled(&self, now: Millis) -> bool {
        now.saturating_sub(self.0.load(Ordering::Acquire)) > stall_after_millis()
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
    fn a_pulse_is_stale_only_past_the_threshold_and_a_beat_says_how_long_it_was_away() {
        let pulse = Pulse::new(1_000);
        assert!(!pulse.stalled(1_000 + stall_after_millis()));
        assert!(pulse.stalled(1_001 + stall_after_millis()));
        assert_eq!(pulse.beat(3_000), 2_000);
        assert!(!pulse.stalled(3_100));
        assert!(!Pulse::steady().stalled(Millis::MAX - 1));
    }
}
