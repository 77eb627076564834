//! The last resort against a session that cannot end: every step of ending one is bounded,
//! but they wait on librdkafka and the tracing cluster. A detector that hangs there would
//! stay up and silent, judging nothing, which is worse than stopping: past the limit the
//! process exits with an error, and whatever supervises it (systemd, Kubernetes) starts it
//! again from the last committed checkpoint.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Armed while something must finish within a limit; disarmed when dropped.
pub struct Watchdog {
    disarm: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    /// Exits the process with status 1 unless dropped within `limit`.
    pub fn arm(limit: Duration, doing: &'static str) -> Watchdog {
        let (disarm, disarmed) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("cairn-watchdog".into())
            .spawn(move || {
                if let Err(mpsc::RecvTimeoutError::Timeout) = disarmed.recv_timeout(limit) {
                    tracing::error!(
                        ?limit,
                        "{doing} did not finish in time; exiting so that a supervisor starts \
                         cairn again from its last checkpoint"
                    );
                    std::process::exit(1);
                }
            })
            .ok();
        Watchdog {
            disarm: Some(disarm),
            thread,
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.disarm.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_watchdog_dropped_in_time_lets_the_process_live_and_stops_at_once() {
        let started = Instant::now();
        let watchdog = Watchdog::arm(Duration::from_secs(60), "a test");
        drop(watchdog);
        // Dropping returns as soon as the thread saw the disarm, not after the limit.
        assert!(started.elapsed() < Duration::from_secs(30));
    }
}
