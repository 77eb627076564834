//! What the running job shows the outside: merged detector metrics, recent verdicts, the shell's
//! own counters and health. The job writes it; the HTTP face only reads it.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64};

use arc_swap::ArcSwap;
use cairn_core::metrics::Metrics;
use cairn_core::model::Verdict;
use parking_lot::Mutex;

use crate::lineage::LineageCell;
use crate::oracle::poller::PollerStats;
use crate::readiness::{NotReady, SessionStatus, readiness};

/// How many recent verdicts `/api/lost` can show.
pub const RECENT_VERDICTS: usize = 1_000;

/// Counters of the I/O shell (the core counts its own in [`Metrics`]).
#[derive(Debug, Default)]
pub struct ShellCounters {
    /// Records read from the tracing topic.
    pub traces_consumed: AtomicU64,
    /// Verdicts acknowledged by the output cluster.
    pub verdicts_published: AtomicU64,
    /// Checkpoints completed (state durable, offsets committed).
    pub checkpoints: AtomicU64,
    /// Checkpoints that failed and will be retried; nothing is committed past them.
    pub checkpoint_failures: AtomicU64,
    /// Tracing partitions whose committed position was missing or out of range, so consumption
    /// started at the log start instead (logged each time; never a silent skip).
    pub position_resets: AtomicU64,
    /// Tracing partitions whose state was restored from the local store / from the changelog.
    pub restored_local: AtomicU64,
    pub restored_changelog: AtomicU64,
    /// Local snapshots that could not be written, or were found unusable on assign (the
    /// changelog was read instead; nothing is lost, a restore is only slower).
    pub snapshot_failures: AtomicU64,
    pub state_unreadable: AtomicU64,
    /// Tracing partitions owned by this instance now.
    pub partitions_assigned: AtomicI64,
    /// Sessions of the job started again after a failure (a checkpoint that could not commit,
    /// a restore that could not read): each resumes from the last checkpoint.
    pub session_restarts: AtomicU64,
    /// Tracing consumers of ended sessions that did not close in time and were left open.
    pub consumers_left_open: AtomicU64,
    /// Consumer errors other than the ones above (logged with their cause).
    pub consumer_errors: AtomicU64,
    /// Asks of the tracing partitions' log ends that failed (see `detect::looks`).
    pub look_failures: AtomicU64,
    /// How far behind now the owned tracing partitions are judged, at the last checkpoint:
    /// the largest now − read-through time, in milliseconds (see `detect::frontier`).
    pub judging_lag_ms: AtomicI64,
    /// How long the earliest check not yet run has been due, at the last checkpoint: the
    /// largest over the owned partitions, in milliseconds (`Detector::checks_overdue`).
    pub checks_overdue_ms: AtomicI64,
}

/// Shared between the job (writer) and HTTP (reader).
pub struct Observatory {
    /// Detector metrics merged over all workers and partitions, replaced every refresh.
    pub metrics: ArcSwap<Metrics>,
    recent: Mutex<VecDeque<Verdict>>,
    pub shell: ShellCounters,
    /// Offsets oracle pollers by cluster name.
    pub oracle: Mutex<HashMap<String, Arc<PollerStats>>>,
    /// Where the detect session is in its life; with the oracle's rounds it decides readiness.
    pub session: SessionStatus,
    /// The lineage in use, where it came from, and how its control plane answers.
    pub lineage: Arc<LineageCell>,
}

impl Default for Observatory {
    fn default() -> Self {
        Observatory {
            metrics: ArcSwap::from_pointee(Metrics::default()),
            recent: Mutex::new(VecDeque::with_capacity(RECENT_VERDICTS)),
            shell: ShellCounters::default(),
            oracle: Mutex::new(HashMap::new()),
            session: SessionStatus::default(),
            lineage: Arc::new(LineageCell::default()),
        }
    }
}

impl Observatory {
    /// An observatory showing `lineage`.
    pub fn with_lineage(lineage: Arc<LineageCell>) -> Self {
        Observatory {
            lineage,
            ..Observatory::default()
        }
    }

    /// Remembers a published verdict for `/api/lost`, forgetting the oldest past the limit.
    pub fn record_verdict(&self, verdict: &Verdict) {
        let mut recent = self.recent.lock();
        if recent.len() == RECENT_VERDICTS {
            recent.pop_front();
        }
        recent.push_back(verdict.clone());
    }

    /// Up to `limit` most recent verdicts, newest first, optionally of one stream.
    pub fn recent_verdicts(&self, stream: Option<&str>, limit: usize) -> Vec<Verdict> {
        self.recent
            .lock()
            .iter()
            .rev()
            .filter(|v| stream.is_none_or(|s| v.stream == s))
            .take(limit)
            .cloned()
            .collect()
    }

    /// Whether the job can be trusted to judge, or why not (see [`crate::readiness`]).
    pub fn readiness(&self) -> Result<(), NotReady> {
        readiness(
            self.session.get(),
            &self.oracle.lock(),
            self.lineage.waiting(),
        )
    }

    pub fn is_ready(&self) -> bool {
        self.readiness().is_ok()
    }
}
