//! When `cairn detect` can be trusted to judge, decided in one place.
//!
//! Ready means a lineage is in use (a control plane may not have served one yet: then the
//! job does not consume and says so), and both: the session runs (it has joined its consumer group and restored the tracing
//! partitions it was given), and the offsets oracle has completed a round on every cluster the
//! lineage names. Before that first round every decision would only wait; while a session
//! restarts, nothing is consumed. `/readyz` and `cairn_ready` both read [`readiness`], and its
//! [`NotReady`] says why not.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::oracle::poller::PollerStats;

/// Where the session of the detect job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum SessionPhase {
    /// No session has subscribed yet.
    Starting = 0,
    /// Subscribed; the group has not assigned partitions yet, or they are being restored.
    Joining = 1,
    /// Partitions assigned and restored (possibly none: a group may have more members than
    /// partitions); traces flow.
    Running = 2,
    /// The last session failed; a new one starts after a back-off.
    Restarting = 3,
    /// The job is shutting down.
    Stopping = 4,
}

impl SessionPhase {
    fn from_u8(value: u8) -> SessionPhase {
        match value {
            1 => SessionPhase::Joining,
            2 => SessionPhase::Running,
            3 => SessionPhase::Restarting,
            4 => SessionPhase::Stopping,
            _ => SessionPhase::Starting,
        }
    }

    /// What a session in this phase is busy with, for a not-ready answer.
    fn doing(self) -> &'static str {
        match self {
            SessionPhase::Starting | SessionPhase::Joining => {
                "joining the consumer group and restoring state"
            }
            SessionPhase::Running => "running",
            SessionPhase::Restarting => "the session failed and restarts from the last checkpoint",
            SessionPhase::Stopping => "stopping",
        }
    }
}

/// The session's phase, written by the job and read by the HTTP face.
#[derive(Debug)]
pub struct SessionStatus(AtomicU8);

impl Default for SessionStatus {
    fn default() -> Self {
        SessionStatus(AtomicU8::new(SessionPhase::Starting as u8))
    }
}

impl SessionStatus {
    pub fn set(&self, phase: SessionPhase) {
        self.0.store(phase as u8, Ordering::Relaxed);
    }

    pub fn get(&self) -> SessionPhase {
        SessionPhase::from_u8(self.0.load(Ordering::Relaxed))
    }

    /// Moves to `to` only from `from`: a step of the session (say, its first assignment) must
    /// not undo a later one (a restart or a shutdown that began meanwhile).
    pub fn advance(&self, from: SessionPhase, to: SessionPhase) -> bool {
        self.0
            .compare_exchange(from as u8, to as u8, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }
}

/// Why the job is not ready: what the session is doing, and the clusters the oracle has not
/// completed a round on yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotReady {
    /// `None` when the session runs.
    pub session: Option<SessionPhase>,
    /// Sorted cluster names.
    pub oracle_waiting: Vec<String>,
    /// What the job waits for instead of a lineage (a control plane that has not answered
    /// with a valid one yet); `None` once one is in use.
    pub lineage_waiting: Option<String>,
}

impl fmt::Display for NotReady {
    /// The body of a 503 from `/readyz`, e.g. `not ready: waiting for a complete offsets oracle
    /// round on b`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not ready: ")?;
        if let Some(lineage) = &self.lineage_waiting {
            // Nothing else matters before there is a lineage: the session does not start.
            return f.write_str(lineage);
        }
        if !self.oracle_waiting.is_empty() {
            write!(
                f,
                "waiting for a complete offsets oracle round on {}",
                self.oracle_waiting.join(", ")
            )?;
            if self.session.is_some() {
                f.write_str("; ")?;
            }
        }
        if let Some(phase) = self.session {
            f.write_str(phase.doing())?;
        }
        Ok(())
    }
}

/// Ready when the session runs and every cluster's poller has completed a round.
pub fn readiness(
    session: SessionPhase,
    oracle: &HashMap<String, Arc<PollerStats>>,
    lineage_waiting: Option<String>,
) -> Result<(), NotReady> {
    let mut oracle_waiting: Vec<String> = oracle
        .iter()
        .filter(|(_, stats)| stats.last_complete_round.load(Ordering::Relaxed) <= 0)
        .map(|(cluster, _)| cluster.clone())
        .collect();
    oracle_waiting.sort();
    let session = (session != SessionPhase::Running).then_some(session);
    if session.is_none() && oracle_waiting.is_empty() && lineage_waiting.is_none() {
        return Ok(());
    }
    Err(NotReady {
        session,
        oracle_waiting,
        lineage_waiting,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oracle(rounds: &[(&str, i64)]) -> HashMap<String, Arc<PollerStats>> {
        rounds
            .iter()
            .map(|&(cluster, last_complete_round)| {
                let stats = PollerStats::default();
                stats
                    .last_complete_round
                    .store(last_complete_round, Ordering::Relaxed);
                (cluster.to_owned(), Arc::new(stats))
            })
            .collect()
    }

    #[test]
    fn ready_only_when_the_session_runs_and_every_cluster_was_polled() {
        let polled = oracle(&[("a", 5), ("b", 7)]);
        assert_eq!(readiness(SessionPhase::Running, &polled, None), Ok(()));
        for phase in [
            SessionPhase::Starting,
            SessionPhase::Joining,
            SessionPhase::Restarting,
            SessionPhase::Stopping,
        ] {
            let not_ready = readiness(phase, &polled, None).expect_err("the session does not run");
            assert_eq!(not_ready.session, Some(phase));
            assert!(not_ready.oracle_waiting.is_empty());
        }
        let half = oracle(&[("b", 0), ("a", 5), ("c", 0)]);
        assert_eq!(
            readiness(SessionPhase::Running, &half, None),
            Err(NotReady {
                session: None,
                oracle_waiting: vec!["b".into(), "c".into()],
                lineage_waiting: None,
            })
        );
    }

    #[test]
    fn the_reason_names_the_clusters_and_the_session() {
        let waiting = oracle(&[("slow", 0), ("fast", 3)]);
        let both = readiness(SessionPhase::Joining, &waiting, None).expect_err("not ready");
        assert_eq!(
            both.to_string(),
            "not ready: waiting for a complete offsets oracle round on slow; joining the \
             consumer group and restoring state"
        );
        let oracle_only = readiness(SessionPhase::Running, &waiting, None).expect_err("not ready");
        assert_eq!(
            oracle_only.to_string(),
            "not ready: waiting for a complete offsets oracle round on slow"
        );
        let restarting =
            readiness(SessionPhase::Restarting, &oracle(&[]), None).expect_err("not ready");
        assert_eq!(
            restarting.to_string(),
            "not ready: the session failed and restarts from the last checkpoint"
        );
    }

    #[test]
    fn without_a_lineage_the_reason_is_the_control_plane_alone() {
        let waiting = Some("waiting for the first lineage from the control plane http://cp/ (last attempt: answered HTTP 503, expected 2xx)".to_owned());
        let not_ready = readiness(SessionPhase::Starting, &oracle(&[("a", 0)]), waiting)
            .expect_err("no lineage");
        assert_eq!(
            not_ready.to_string(),
            "not ready: waiting for the first lineage from the control plane http://cp/ \
             (last attempt: answered HTTP 503, expected 2xx)"
        );
        let polled = oracle(&[("a", 5)]);
        assert!(readiness(SessionPhase::Running, &polled, Some("x".into())).is_err());
    }

    #[test]
    fn a_status_remembers_its_phase() {
        let status = SessionStatus::default();
        assert_eq!(status.get(), SessionPhase::Starting);
        for phase in [
            SessionPhase::Joining,
            SessionPhase::Running,
            SessionPhase::Restarting,
            SessionPhase::Stopping,
            SessionPhase::Starting,
        ] {
            status.set(phase);
            assert_eq!(status.get(), phase);
        }
        status.set(SessionPhase::Stopping);
        assert!(!status.advance(SessionPhase::Joining, SessionPhase::Running));
        assert_eq!(status.get(), SessionPhase::Stopping);
        status.set(SessionPhase::Joining);
        assert!(status.advance(SessionPhase::Joining, SessionPhase::Running));
        assert_eq!(status.get(), SessionPhase::Running);
    }
}
