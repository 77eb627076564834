//! Why a session of the detect job ended, and whether a new session can cure it.
//!
//! The restart loop ([`super::supervise`]) decides from [`SessionError::recovery`] alone.

use rdkafka::error::KafkaError;

use super::checkpoint::CheckpointError;
use super::restore::RestoreError;
use super::worker::WorkerError;

/// What ends a session. Each message says which step failed and carries its cause's text (the
/// causes are not chained as `source`, so a log line shows each cause once).
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("starting the checkpoint producer: {0}")]
    CheckpointProducer(CheckpointError),
    #[error("starting the checkpoint thread: {0}")]
    CheckpointThread(std::io::Error),
    #[error("starting the worker threads: {0}")]
    Workers(std::io::Error),
    #[error("starting the thread that asks where the tracing partitions end: {0}")]
    LookThread(std::io::Error),
    #[error("creating the tracing consumer: {0}")]
    Consumer(KafkaError),
    #[error("subscribing to the tracing topic `{topic}`: {error}")]
    Subscribe { topic: String, error: KafkaError },
    #[error("checkpoint: {0}")]
    Checkpoint(CheckpointError),
    #[error("restoring tracing partition {partition}: {error}")]
    Restore { partition: i32, error: RestoreError },
    #[error("assigning tracing partitions: {0}")]
    Assign(KafkaError),
    /// `on_malformed = "fail"`, or a state that does not encode.
    #[error(transparent)]
    Worker(#[from] WorkerError),
}

/// What the job does after a session ended with an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recovery {
    /// Start a new session after a back-off: it resumes from the last committed checkpoint,
    /// like a restarted process would (a broker died under a checkpoint, a coordinator moved).
    Restart,
    /// The session could not start. Restart when a session of this job has subscribed before;
    /// otherwise a setting or a cluster is wrong from the start: end the job and say so rather
    /// than retry forever.
    RestartIfSubscribedBefore,
    /// End the job: a new session would fail the same way.
    EndJob,
}

impl SessionError {
    pub fn recovery(&self) -> Recovery {
        match self {
            SessionError::CheckpointProducer(_)
            | SessionError::CheckpointThread(_)
            | SessionError::Workers(_)
            | SessionError::LookThread(_)
            | SessionError::Consumer(_)
            | SessionError::Subscribe { .. } => Recovery::RestartIfSubscribedBefore,
            SessionError::Checkpoint(_)
            | SessionError::Restore { .. }
            | SessionError::Assign(_) => Recovery::Restart,
            // The disk tier is scratch: a new session restores from the last checkpoint.
            SessionError::Worker(WorkerError::Spill(_)) => Recovery::Restart,
            SessionError::Worker(_) => Recovery::EndJob,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_workers_verdict_ends_a_job_that_ran() {
        let malformed = SessionError::from(WorkerError::Malformed {
            partition: 1,
            offset: 2,
            detail: "not JSON".into(),
        });
        assert_eq!(malformed.recovery(), Recovery::EndJob);
        let state = SessionError::from(WorkerError::State("too big".into()));
        assert_eq!(state.recovery(), Recovery::EndJob);
        assert_eq!(
            SessionError::Checkpoint(CheckpointError::NoGroup).recovery(),
            Recovery::Restart
        );
        assert_eq!(
            SessionError::Assign(KafkaError::Canceled).recovery(),
            Recovery::Restart
        );
        assert_eq!(
            SessionError::Subscribe {
                topic: "traces".into(),
                error: KafkaError::Canceled,
            }
            .recovery(),
            Recovery::RestartIfSubscribedBefore
        );
    }

    #[test]
    fn the_message_names_the_step_and_its_cause() {
        let err = SessionError::Checkpoint(CheckpointError::NoGroup);
        assert_eq!(
            err.to_string(),
            "checkpoint: the consumer has no group metadata (not in a group)"
        );
    }
}
