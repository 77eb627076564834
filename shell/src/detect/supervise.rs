//! The restart loop: sessions run one after another until the job is stopped or a session ends
//! with an error that a new session cannot cure ([`Recovery`]).
//!
//! A new session rebuilds its partitions from the last committed checkpoint, as a restarted
//! process would, so nothing is lost or repeated; HTTP and the oracle stay up meanwhile.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::error::{Recovery, SessionError};
use super::session::{self, Shared};
use crate::events::SessionRestarted;
use crate::readiness::SessionPhase;

/// Back-off before a failed session starts again, doubling up to the max.
const RESTART_BACKOFF_MIN: Duration = Duration::from_secs(1);
const RESTART_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A session that ran at least this long before it failed starts the back-off over.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// Runs sessions until `stop`, or until one fails in a way a restart does not cure.
pub(super) fn supervise(shared: &Shared<'_>, stop: &AtomicBool) -> Result<(), SessionError> {
    let mut backoff = Backoff::default();
    let mut subscribed_before = false;
    let outcome = loop {
        let started = Instant::now();
        let err = match session::run(shared, stop, &mut subscribed_before) {
            Ok(()) => break Ok(()),
            Err(err) => err,
        };
        if stop.load(Ordering::Relaxed) || !restarts(err.recovery(), subscribed_before) {
            break Err(err);
        }
        if started.elapsed() > HEALTHY_RUN {
            backoff = Backoff::default();
        }
        let delay = backoff.next_delay();
        shared.observatory.session.set(SessionPhase::Restarting);
        SessionRestarted {
            error: &err,
            restart_in: delay,
        }
        .emit(&shared.observatory.shell);
        if !sleep_unless_stopped(delay, stop) {
            break Err(err);
        }
    };
    shared.observatory.session.set(SessionPhase::Stopping);
    outcome
}

/// Whether a session that ended with this recovery is followed by a new one.
fn restarts(recovery: Recovery, subscribed_before: bool) -> bool {
    match recovery {
        Recovery::Restart => true,
        Recovery::RestartIfSubscribedBefore => subscribed_before,
        Recovery::EndJob => false,
    }
}

/// 1 s, 2 s, 4 s, … up to 30 s.
struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            next: RESTART_BACKOFF_MIN,
        }
    }
}

impl Backoff {
    fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(RESTART_BACKOFF_MAX);
        delay
    }
}

/// Sleeps `total` in short steps; false when `stop` was set meanwhile.
fn sleep_unless_stopped(total: Duration, stop: &AtomicBool) -> bool {
    let resume_at = Instant::now() + total;
    while Instant::now() < resume_at {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_that_never_started_ends_the_job_and_a_later_one_restarts() {
        assert!(restarts(Recovery::Restart, false));
        assert!(restarts(Recovery::Restart, true));
        assert!(!restarts(Recovery::RestartIfSubscribedBefore, false));
        assert!(restarts(Recovery::RestartIfSubscribedBefore, true));
        assert!(!restarts(Recovery::EndJob, false));
        assert!(!restarts(Recovery::EndJob, true));
    }

    #[test]
    fn the_backoff_doubles_from_one_second_to_thirty() {
        let mut backoff = Backoff::default();
        let delays: Vec<u64> = (0..8).map(|_| backoff.next_delay().as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30, 30]);
    }

    #[test]
    fn a_stop_cuts_the_sleep_short() {
        let stop = AtomicBool::new(true);
        let started = Instant::now();
        assert!(!sleep_unless_stopped(Duration::from_secs(30), &stop));
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(sleep_unless_stopped(
            Duration::from_millis(10),
            &AtomicBool::new(false)
        ));
    }
}
