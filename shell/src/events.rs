//! What the detect job reports about itself: each event is a struct holding its evidence, and
//! its `emit` writes one structured log line and bumps its counter, so the log and the metric
//! of an event cannot drift apart (after Vector's internal events).
//!
//! Counters never carry an error's text or a message id: the text goes to the log line, the
//! counter at most gets a fixed reason.

use std::fmt::Display;
use std::sync::atomic::Ordering;
use std::time::Duration;

use cairn_core::config::MalformedPolicy;
use cairn_core::metrics::Metrics;
use cairn_core::model::{Gap, Millis};
use cairn_core::trace::TraceError;
use rdkafka::error::KafkaError;

use crate::log_limit::{Admit, LogLimiter};
use crate::observe::ShellCounters;

/// A checkpoint (or one attempt of its transaction) failed; nothing is committed past it.
pub struct CheckpointFailed<'a> {
    pub error: &'a dyn Display,
    pub then: AfterCheckpointFailure<'a>,
}

/// What happens after a checkpoint failed.
pub enum AfterCheckpointFailure<'a> {
    /// The transaction was aborted and runs again after `retry_in`.
    Retry { retry_in: Duration },
    /// The final checkpoint of partitions leaving this instance: their next owner resumes from
    /// the previous checkpoint.
    NextOwnerResumes { partitions: &'a [i32] },
    /// The session stops; the next one resumes from the last committed checkpoint.
    SessionStops,
}

impl CheckpointFailed<'_> {
    pub fn emit(&self, counters: &ShellCounters) {
        counters.checkpoint_failures.fetch_add(1, Ordering::Relaxed);
        let error = self.error;
        match self.then {
            AfterCheckpointFailure::Retry { retry_in } => tracing::warn!(
                %error,
                ?retry_in,
                "checkpoint transaction failed and was aborted; trying it again"
            ),
            AfterCheckpointFailure::NextOwnerResumes { partitions } => tracing::warn!(
                %error,
                ?partitions,
                "final checkpoint of revoked partitions failed; their next owner resumes from the previous one"
            ),
            AfterCheckpointFailure::SessionStops => tracing::error!(
                %error,
                "checkpoint failed; the session stops and the next one resumes from the last committed checkpoint"
            ),
        }
    }
}

/// A tracing partition starts at the log start instead of a committed position.
pub struct PositionReset<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub cause: ResetCause,
}

pub enum ResetCause {
    /// The group never committed a position for the partition.
    NoCommittedPosition,
    /// Retention removed the committed position: `log_start - committed` traces expired unread.
    BeforeLogStart { committed: i64, log_start: i64 },
}

impl PositionReset<'_> {
    pub fn emit(&self, counters: &ShellCounters) {
        counters.position_resets.fetch_add(1, Ordering::Relaxed);
        let (topic, partition) = (self.topic, self.partition);
        match self.cause {
            ResetCause::NoCommittedPosition => tracing::warn!(
                topic,
                partition,
                "no committed position; consuming from the log start"
            ),
            ResetCause::BeforeLogStart {
                committed,
                log_start,
            } => tracing::warn!(
                topic,
                partition,
                committed,
                log_start,
                expired_unread = log_start - committed,
                "committed position is before the log start; traces expired unread, consuming from the log start"
            ),
        }
    }
}

/// A local snapshot could not be written, or was found unusable on assign. Nothing is lost:
/// the changelog is read instead, only more slowly.
pub struct SnapshotUnusable<'a> {
    pub partition: i32,
    pub error: &'a dyn Display,
    pub when: SnapshotStage,
}

pub enum SnapshotStage {
    /// Writing it, as the partition left this instance.
    Write,
    /// Reading it, as the partition was assigned here.
    Restore,
}

impl SnapshotUnusable<'_> {
    pub fn emit(&self, counters: &ShellCounters) {
        counters.snapshot_failures.fetch_add(1, Ordering::Relaxed);
        let (partition, error) = (self.partition, self.error);
        match self.when {
            SnapshotStage::Write => tracing::warn!(
                partition,
                %error,
                "local snapshot not written; the next assign here reads the changelog"
            ),
            SnapshotStage::Restore => tracing::warn!(
                partition,
                %error,
                "local snapshot unusable; reading the changelog"
            ),
        }
    }
}

/// A message's state in the changelog did not decode as a tracing partition was restored. The
/// entry is skipped so the partition (and every other message in it) is watched again; ending
/// the session instead would fail the same way on every restart and watch nothing.
pub struct StateUnreadable<'a> {
    pub partition: i32,
    pub key: &'a str,
    pub error: &'a dyn Display,
}

impl StateUnreadable<'_> {
    pub fn emit(&self, counters: &ShellCounters) {
        counters.state_unreadable.fetch_add(1, Ordering::Relaxed);
        tracing::error!(
            partition = self.partition,
            key = %self.key,
            error = %self.error,
            "a message state in the changelog did not decode; skipped, that message is no longer watched"
        );
    }
}

/// An error the tracing consumer reported while polling (librdkafka retries by itself).
pub struct ConsumerError<'a> {
    pub error: &'a KafkaError,
}

impl ConsumerError<'_> {
    pub fn emit(&self, counters: &ShellCounters) {
        counters.consumer_errors.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(error = %self.error, "tracing consumer error");
    }
}

/// A session failed for a reason a restart cures; a new one starts after `restart_in`.
pub struct SessionRestarted<'a> {
    pub error: &'a dyn Display,
    pub restart_in: Duration,
}

impl SessionRestarted<'_> {
    pub fn emit(&self, counters: &ShellCounters) {
        counters.session_restarts.fetch_add(1, Ordering::Relaxed);
        tracing::error!(
            error = %self.error,
            restart_in = ?self.restart_in,
            "the session stopped; starting it again from the last checkpoint"
        );
    }
}

/// A session's tracing consumer did not close within `waited`: it is left open, so that the
/// next session can start.
pub struct ConsumerLeftOpen {
    pub waited: Duration,
}

impl ConsumerLeftOpen {
    pub fn emit(&self, counters: &ShellCounters) {
        counters.consumers_left_open.fetch_add(1, Ordering::Relaxed);
        tracing::error!(
            waited = ?self.waited,
            "the tracing consumer did not close in time; it is left open and the next session \
             starts (the group drops the old member once max.poll.interval.ms passes)"
        );
    }
}

/// Malformed-trace log lines per kind and interval before the rest are only counted.
pub const MALFORMED_LINES_PER_INTERVAL: u32 = 5;
/// The interval of [`MALFORMED_LINES_PER_INTERVAL`].
pub const MALFORMED_LOG_INTERVAL_MS: i64 = 10_000;

/// One limiter for every worker: a storm is one storm, whichever partitions it hits.
static MALFORMED_LOG: std::sync::LazyLock<parking_lot::Mutex<LogLimiter>> =
    std::sync::LazyLock::new(|| {
        parking_lot::Mutex::new(LogLimiter::new(
            MALFORMED_LOG_INTERVAL_MS,
            MALFORMED_LINES_PER_INTERVAL,
        ))
    });

/// Writes the "N more skipped" line of every kind whose storm has quieted (workers call it
/// on their ticks).
pub fn report_skipped_malformed(now: Millis) {
    for (kind, skipped) in MALFORMED_LOG.lock().due_summaries(now) {
        tracing::warn!(
            kind,
            skipped,
            interval_ms = MALFORMED_LOG_INTERVAL_MS,
            "{skipped} more malformed trace records of this kind skipped without a log line (all counted in cairn_traces_malformed_total)"
        );
    }
}

/// A tracing record that is not a valid trace. It is counted by the core's metrics of the
/// partition's detector, under the error's fixed kind, every time; its log line is rate
/// limited per kind ([`MALFORMED_LINES_PER_INTERVAL`] per [`MALFORMED_LOG_INTERVAL_MS`]).
pub struct MalformedTrace<'a> {
    pub partition: i32,
    pub offset: i64,
    pub error: &'a TraceError,
    pub policy: MalformedPolicy,
}

impl MalformedTrace<'_> {
    pub fn emit(&self, metrics: &mut Metrics) {
        self.emit_at(metrics, crate::clock::now_millis());
    }

    /// [`MalformedTrace::emit`] at detector time `now`.
    pub fn emit_at(&self, metrics: &mut Metrics, now: Millis) {
        let kind = self.error.kind_label();
        metrics.count_malformed(kind);
        let (partition, offset, error) = (self.partition, self.offset, self.error);
        match self.policy {
            MalformedPolicy::Skip => {
                let Admit::Log { skipped } = MALFORMED_LOG.lock().admit(kind, now) else {
                    return;
                };
                if skipped > 0 {
                    tracing::warn!(
                        kind,
                        skipped,
                        "{skipped} more malformed trace records of this kind were skipped without a log line"
                    );
                }
                tracing::warn!(partition, offset, %error, "skipped a malformed trace record");
            }
            MalformedPolicy::Fail => tracing::error!(
                partition,
                offset,
                %error,
                "malformed trace record; stopping the job (on_malformed = \"fail\")"
            ),
        }
    }
}

/// A tracer's gap report arrived. The core counts it (`cairn_dropped_traces_reported_total`,
/// then `cairn_unknown_total` for what it covers); one line per report, from its copy 0 (the
/// other copies, one per tracing partition, say the same).
pub struct TracerGap<'a> {
    pub gap: &'a Gap,
}

impl TracerGap<'_> {
    pub fn emit(&self) {
        let gap = self.gap;
        if gap.copy != 0 {
            return;
        }
        tracing::info!(
            stream = %gap.stream,
            app = %gap.app,
            group = gap.group.as_deref().unwrap_or(""),
            location = %gap.location,
            partition = gap.partition,
            dropped = gap.dropped.as_str(),
            count = gap.count,
            ranges = gap.ranges.len(),
            "a tracer reported traces it dropped; what they cover is unknown, not lost"
        );
    }
}

/// Messages shed by one spill round: over the worker's memory share with the disk tier at
/// `max_disk`. They are counted per stream in `cairn_messages_shed_total` by the detector that
/// shed them; this is their log line, at most one per second per worker thread.
pub struct MessagesShed {
    pub partition: i32,
    pub shed: u64,
    pub disk_used: u64,
    pub max_disk: u64,
}

impl MessagesShed {
    pub fn emit(&self) {
        use std::cell::Cell;
        use std::time::Instant;
        thread_local! {
            static LAST: Cell<Option<Instant>> = const { Cell::new(None) };
            static SINCE: Cell<u64> = const { Cell::new(0) };
        }
        let now = Instant::now();
        let shed = SINCE.with(|s| s.get()) + self.shed;
        let due = LAST.with(|l| {
            l.get()
                .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1))
        });
        if !due {
            SINCE.with(|s| s.set(shed));
            return;
        }
        LAST.with(|l| l.set(Some(now)));
        SINCE.with(|s| s.set(0));
        tracing::warn!(
            tracing_partition = self.partition,
            shed,
            disk_used = self.disk_used,
            max_disk = self.max_disk,
            "messages shed: memory budget reached and the disk tier is full; they are no longer watched and never judged (cairn_messages_shed_total)"
        );
    }
}

/// A worker's detector state stays above its share of `[detector] max_memory` after a spill
/// round: the index of the messages on disk (~28 bytes each) and the shed messages remembered
/// cannot leave memory, so past about share ÷ 28 B messages on disk the budget is not kept
/// (`docs/spill.md`). At most one line a minute per worker thread.
pub struct StateOverBudget {
    pub used: u64,
    pub share: u64,
}

impl StateOverBudget {
    pub fn emit(&self) {
        use std::cell::Cell;
        use std::time::Instant;
        thread_local! {
            static LAST: Cell<Option<Instant>> = const { Cell::new(None) };
        }
        let now = Instant::now();
        let due = LAST.with(|l| {
            l.get()
                .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(60))
        });
        if !due {
            return;
        }
        LAST.with(|l| l.set(Some(now)));
        tracing::warn!(
            used_bytes = self.used,
            share_bytes = self.share,
            "the detector's state stays over its share of max_memory after spilling: the index of \
             the messages on disk (~28 bytes each) cannot leave memory; raise [detector] \
             max_memory to at least 28 bytes per message that may be on disk"
        );
    }
}

/// The control plane gave no document (no answer, an HTTP error, a timeout): the lineage in
/// use stays.
pub struct LineageFetchFailed<'a> {
    pub url: &'a str,
    pub error: &'a dyn Display,
    /// The version of the lineage kept, if there is one yet.
    pub keeps: Option<&'a str>,
}

impl LineageFetchFailed<'_> {
    pub fn emit(&self, counters: &crate::lineage::FetchCounters) {
        counters.failed.fetch_add(1, Ordering::Relaxed);
        let (url, error) = (self.url, self.error);
        match self.keeps {
            Some(version) => tracing::warn!(
                url,
                %error,
                keeps = version,
                "control plane fetch failed; keeping the last good lineage"
            ),
            None => tracing::warn!(
                url,
                %error,
                "control plane fetch failed and no lineage was ever received; not consuming until one is"
            ),
        }
    }
}

/// The control plane served a document that does not validate: the lineage in use stays.
pub struct LineageInvalid<'a> {
    pub url: &'a str,
    /// The validation error, which names the line or the field.
    pub error: &'a dyn Display,
    pub keeps: Option<&'a str>,
}

impl LineageInvalid<'_> {
    pub fn emit(&self, counters: &crate::lineage::FetchCounters) {
        counters.invalid.fetch_add(1, Ordering::Relaxed);
        let (url, error) = (self.url, self.error);
        tracing::error!(
            url,
            %error,
            keeps = self.keeps.unwrap_or("(none yet)"),
            "control plane served an invalid lineage; keeping the last good one"
        );
    }
}

/// A new lineage from the control plane is in use.
pub struct LineageApplied<'a> {
    pub applied: &'a crate::lineage::Applied,
    /// What changed from the lineage before, `None` for the first.
    pub diff: Option<&'a cairn_core::lineage::LineageDiff>,
}

impl LineageApplied<'_> {
    pub fn emit(&self, counters: &crate::lineage::FetchCounters) {
        counters.applied.fetch_add(1, Ordering::Relaxed);
        let applied = self.applied;
        let streams: Vec<&str> = applied
            .lineage
            .streams()
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        tracing::info!(
            version = %applied.version,
            generation = applied.generation,
            hash = applied.hash.as_deref().unwrap_or(""),
            ?streams,
            change = %self.diff.map_or_else(|| "first lineage".to_owned(), |d| d.summary()),
            "lineage applied; messages in flight keep the plan they started with"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(counter: &std::sync::atomic::AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    #[test]
    fn each_event_bumps_only_its_own_counter() {
        let counters = ShellCounters::default();
        let error = KafkaError::Canceled;
        CheckpointFailed {
            error: &error,
            then: AfterCheckpointFailure::SessionStops,
        }
        .emit(&counters);
        CheckpointFailed {
            error: &error,
            then: AfterCheckpointFailure::NextOwnerResumes { partitions: &[1] },
        }
        .emit(&counters);
        PositionReset {
            topic: "t",
            partition: 0,
            cause: ResetCause::BeforeLogStart {
                committed: 3,
                log_start: 9,
            },
        }
        .emit(&counters);
        SnapshotUnusable {
            partition: 2,
            error: &error,
            when: SnapshotStage::Restore,
        }
        .emit(&counters);
        ConsumerError { error: &error }.emit(&counters);
        ConsumerError { error: &error }.emit(&counters);
        ConsumerError { error: &error }.emit(&counters);
        SessionRestarted {
            error: &error,
            restart_in: Duration::from_secs(1),
        }
        .emit(&counters);
        assert_eq!(load(&counters.checkpoint_failures), 2);
        assert_eq!(load(&counters.position_resets), 1);
        assert_eq!(load(&counters.snapshot_failures), 1);
        StateUnreadable {
            partition: 2,
            key: "2/m-1",
            error: &error,
        }
        .emit(&counters);
        assert_eq!(load(&counters.state_unreadable), 1);
        assert_eq!(load(&counters.consumer_errors), 3);
        assert_eq!(load(&counters.session_restarts), 1);
        assert_eq!(load(&counters.traces_consumed), 0);
    }

    #[test]
    fn a_malformed_trace_is_counted_under_its_kind_not_its_text() {
        let mut metrics = Metrics::default();
        let error = cairn_core::trace::decode(b"{not json").expect_err("not a trace");
        for policy in [MalformedPolicy::Skip, MalformedPolicy::Fail] {
            MalformedTrace {
                partition: 0,
                offset: 7,
                error: &error,
                policy,
            }
            .emit(&mut metrics);
        }
        assert_eq!(metrics.malformed(error.kind_label()), 2);
        assert_eq!(metrics.malformed(&error.to_string()), 0);
    }

    #[test]
    fn every_malformed_record_is_counted_though_few_are_logged() {
        let mut metrics = Metrics::default();
        let error = TraceError::NotAnObject { found: "a number" };
        for n in 0..1_000 {
            MalformedTrace {
                partition: 0,
                offset: n,
                error: &error,
                policy: MalformedPolicy::Skip,
            }
            .emit_at(&mut metrics, 42);
        }
        assert_eq!(
            metrics.total(
                cairn_core::metrics::catalog::TRACES_MALFORMED.name,
                Some("not_an_object")
            ),
            1_000
        );
        // The shared limiter let at most its allowance through in this window.
        let next = MALFORMED_LOG.lock().admit("not_an_object", 42);
        assert_eq!(next, Admit::Skip);
    }
}
