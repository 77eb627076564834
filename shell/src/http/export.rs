//! What `/metrics` exports: the detector's counters and latency histograms, the shell's own
//! counters and the offsets oracle's health, as Prometheus families.
//!
//! Every name starts with `cairn_` and every counter ends in `_total`. Labels are bounded:
//! `stream`, and for a hop `app`, `group` (empty for a producer) and `location`, all from the
//! config; `reason`, `kind`, `from` and `operation` from fixed lists; `cluster` from the config.
//! Never a message id.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use cairn_core::metrics::{Metrics, SampleKind, names};
use cairn_core::model::{HopRef, Millis};
use hdrhistogram::Histogram;

use super::prometheus::{Exposition, HistogramValue, Label};
use crate::observe::{Observatory, ShellCounters};
use crate::oracle::poller::PollerStats;

/// Shell and oracle metric names, as exported (the detector's are in [`names`]).
pub mod shell_names {
    pub const TRACES_CONSUMED: &str = "cairn_traces_consumed_total";
    pub const VERDICTS_PUBLISHED: &str = "cairn_verdicts_published_total";
    pub const CHECKPOINTS: &str = "cairn_checkpoints_total";
    pub const CHECKPOINT_FAILURES: &str = "cairn_checkpoint_failures_total";
    pub const POSITION_RESETS: &str = "cairn_position_resets_total";
    pub const SNAPSHOT_FAILURES: &str = "cairn_snapshot_failures_total";
    pub const SESSION_RESTARTS: &str = "cairn_session_restarts_total";
    /// Label `from`: `local` or `changelog`.
    pub const PARTITIONS_RESTORED: &str = "cairn_partitions_restored_total";
    /// A gauge.
    pub const PARTITIONS_ASSIGNED: &str = "cairn_partitions_assigned";
    pub const CONSUMER_ERRORS: &str = "cairn_consumer_errors_total";
    /// Label `cluster`.
    pub const ORACLE_ROUNDS: &str = "cairn_oracle_rounds_total";
    /// Labels `cluster`, `operation`: `metadata`, `watermarks` or `committed`.
    pub const ORACLE_ERRORS: &str = "cairn_oracle_errors_total";
    /// A gauge, label `cluster`: seconds since the last complete round, `+Inf` before the first.
    pub const ORACLE_STALENESS: &str = "cairn_oracle_staleness_seconds";
    /// A gauge: 1 when `/readyz` answers 200.
    pub const READY: &str = "cairn_ready";
    /// Histograms in seconds (the core keeps milliseconds under `_ms` names).
    pub const HOP_LATENCY: &str = "cairn_hop_latency_seconds";
    pub const END_TO_END_LATENCY: &str = "cairn_end_to_end_latency_seconds";
}

/// Upper bounds of the latency buckets, in milliseconds (exported in seconds: 0.005 … 3600).
pub const LATENCY_BUCKETS_MS: [u64; 18] = [
    5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 120_000, 300_000,
    600_000, 1_800_000, 3_600_000,
];

/// The whole `/metrics` page as of `now` (milliseconds since the epoch, for oracle staleness).
pub fn render(observatory: &Observatory, now: Millis) -> String {
    let mut out = Exposition::new();
    detector(&mut out, &observatory.metrics.load_full());
    shell(&mut out, &observatory.shell);
    let mut oracle: Vec<(String, Arc<PollerStats>)> = observatory
        .oracle
        .lock()
        .iter()
        .map(|(cluster, stats)| (cluster.clone(), stats.clone()))
        .collect();
    oracle.sort_by(|a, b| a.0.cmp(&b.0));
    for (cluster, stats) in &oracle {
        oracle_cluster(&mut out, cluster, stats, now);
    }
    out.gauge(
        shell_names::READY,
        "1 when the job has joined its group and the offsets oracle has completed a round, else 0.",
        &[],
        if observatory.is_ready() { 1.0 } else { 0.0 },
    );
    out.render()
}

/// Every detector counter and gauge, and every latency histogram in seconds.
pub fn detector(out: &mut Exposition, metrics: &Metrics) {
    for sample in metrics.samples() {
        let mut labels = Vec::with_capacity(5);
        if let Some(stream) = sample.stream {
            labels.push(("stream", stream));
        }
        if let Some(hop) = sample.hop {
            push_hop(&mut labels, hop);
        }
        labels.extend(sample.label);
        let help = detector_help(sample.name);
        match sample.kind {
            SampleKind::Counter => out.counter(sample.name, help, &labels, sample.value),
            // Gauges of the core are counts held now, far below 2^53: exact as f64.
            SampleKind::Gauge => out.gauge(sample.name, help, &labels, sample.value as f64),
        }
    }
    for h in metrics.histograms() {
        let mut labels = vec![("stream", h.stream)];
        if let Some(hop) = h.hop {
            push_hop(&mut labels, hop);
        }
        let (name, help) = histogram_name(h.name);
        out.histogram(&name, help, &labels, &seconds_histogram(h.histogram));
    }
}

fn push_hop<'a>(labels: &mut Vec<Label<'a>>, hop: &'a HopRef) {
    labels.push(("app", &hop.app));
    labels.push(("group", hop.group.as_deref().unwrap_or("")));
    labels.push(("location", &hop.location));
}

/// The help text of a detector metric. A name added to the core without one here still
/// exports, with a generic text; a test keeps this list complete.
pub fn detector_help(name: &str) -> &'static str {
    match name {
        names::TRACES_REJECTED => {
            "Traces naming a stream, app, location or group the lineage does not know, by reason."
        }
        names::TRACES_MALFORMED => "Trace records that did not decode and were skipped, by reason.",
        names::MESSAGES_SEEN => "Messages whose first trace was seen.",
        names::MESSAGES_COMPLETE => "Messages all of whose expected traces arrived.",
        names::MESSAGES_IN_MEMORY => "Messages held in the detector's memory now.",
        names::END_TO_END_CLOCK_SKEW => {
            "End-to-end latencies that came out negative (clock skew) and were clamped to 0."
        }
        names::TRACES_SEEN => "Traces seen at a hop.",
        names::LOST => "Messages declared lost at a hop, by reason.",
        names::DUPLICATES => "Extra copies of messages at a hop, by kind.",
        names::RETRACTED => {
            "Lost verdicts withdrawn because the missing trace arrived after all (false alarms)."
        }
        names::STUCK => {
            "Expected traces given up on after the stream's max wait, never declared lost."
        }
        names::TRACE_GAPS => {
            "Traces that never came although a later trace proves the message passed (lost traces, not messages)."
        }
        names::CLOCK_SKEW => {
            "Hop latencies that came out negative (clock skew) and were clamped to 0."
        }
        _ => "A counter of the cairn detector.",
    }
}

/// The exported name and help of a core latency histogram (kept in milliseconds, exported in
/// seconds).
pub fn histogram_name(core_name: &str) -> (String, &'static str) {
    match core_name {
        names::HOP_LATENCY => (
            shell_names::HOP_LATENCY.to_owned(),
            "Time from a message's sent trace to a group's received trace at a hop, in seconds.",
        ),
        names::END_TO_END_LATENCY => (
            shell_names::END_TO_END_LATENCY.to_owned(),
            "Time from a complete message's first sent trace to its last trace, in seconds.",
        ),
        other => (
            format!("{}_seconds", other.strip_suffix("_ms").unwrap_or(other)),
            "A latency of the cairn detector, in seconds.",
        ),
    }
}

/// A millisecond HDR histogram as Prometheus buckets in seconds.
///
/// A value counts under a bound when the HDR bucket holding it starts at or below the bound
/// (as `Histogram::count_between(0, bound)`): exact below 256 ms, within 1% above. The sum is
/// the middle of each HDR bucket times its count, so it too is within the histogram's 1%.
pub fn seconds_histogram(histogram: &Histogram<u64>) -> HistogramValue {
    let mut per_bucket = [0u64; LATENCY_BUCKETS_MS.len()];
    let mut sum_ms = 0f64;
    for v in histogram.iter_recorded() {
        let value = v.value_iterated_to();
        let count = v.count_at_value();
        sum_ms += histogram.median_equivalent(value) as f64 * count as f64;
        let lowest = histogram.lowest_equivalent(value);
        if let Some(ix) = LATENCY_BUCKETS_MS.iter().position(|&le| lowest <= le) {
            per_bucket[ix] += count;
        }
    }
    let mut cumulative = 0;
    let buckets = LATENCY_BUCKETS_MS
        .iter()
        .zip(per_bucket)
        .map(|(&le, n)| {
            cumulative += n;
            (le as f64 / 1_000.0, cumulative)
        })
        .collect();
    HistogramValue {
        buckets,
        sum: sum_ms / 1_000.0,
        count: histogram.len(),
    }
}

fn shell(out: &mut Exposition, shell: &ShellCounters) {
    let counters = [
        (
            shell_names::TRACES_CONSUMED,
            "Records read from the tracing topic.",
            &shell.traces_consumed,
        ),
        (
            shell_names::VERDICTS_PUBLISHED,
            "Verdicts acknowledged by the output cluster.",
            &shell.verdicts_published,
        ),
        (
            shell_names::CHECKPOINTS,
            "Checkpoints completed: state durable and tracing offsets committed.",
            &shell.checkpoints,
        ),
        (
            shell_names::CHECKPOINT_FAILURES,
            "Checkpoints that failed and will be retried; nothing is committed past them.",
            &shell.checkpoint_failures,
        ),
        (
            shell_names::POSITION_RESETS,
            "Tracing partitions whose committed position was missing or out of range, read from the log start instead.",
            &shell.position_resets,
        ),
        (
            shell_names::SNAPSHOT_FAILURES,
            "Local snapshots not written or found unusable; the changelog was read instead.",
            &shell.snapshot_failures,
        ),
        (
            shell_names::SESSION_RESTARTS,
            "Times the job started again from the last checkpoint after a failure.",
            &shell.session_restarts,
        ),
    ];
    for (name, help, counter) in counters {
        out.counter(name, help, &[], counter.load(Ordering::Relaxed));
    }
    let restored = "Tracing partitions whose detector state was restored, by source.";
    for (from, counter) in [
        ("local", &shell.restored_local),
        ("changelog", &shell.restored_changelog),
    ] {
        out.counter(
            shell_names::PARTITIONS_RESTORED,
            restored,
            &[("from", from)],
            counter.load(Ordering::Relaxed),
        );
    }
    out.gauge(
        shell_names::PARTITIONS_ASSIGNED,
        "Tracing partitions owned by this instance now.",
        &[],
        shell.partitions_assigned.load(Ordering::Relaxed) as f64,
    );
    out.counter(
        shell_names::CONSUMER_ERRORS,
        "Errors of the tracing consumer other than position resets and checkpoint failures.",
        &[],
        shell.consumer_errors.load(Ordering::Relaxed),
    );
}

fn oracle_cluster(out: &mut Exposition, cluster: &str, stats: &PollerStats, now: Millis) {
    let labels = [("cluster", cluster)];
    out.counter(
        shell_names::ORACLE_ROUNDS,
        "Poll rounds of the offsets oracle (committed offsets and watermarks), complete or not.",
        &labels,
        stats.rounds.load(Ordering::Relaxed),
    );
    for (operation, counter) in [
        ("metadata", &stats.errors_metadata),
        ("watermarks", &stats.errors_watermarks),
        ("committed", &stats.errors_committed),
    ] {
        out.counter(
            shell_names::ORACLE_ERRORS,
            "Failed reads of the offsets oracle, by operation; the previous value is kept and turns stale.",
            &[("cluster", cluster), ("operation", operation)],
            counter.load(Ordering::Relaxed),
        );
    }
    out.gauge(
        shell_names::ORACLE_STALENESS,
        "Seconds since the offsets oracle last completed a round with every read successful; +Inf before the first.",
        &labels,
        staleness_seconds(stats.last_complete_round.load(Ordering::Relaxed), now),
    );
}

/// Seconds from `last_complete` to `now`; `+Inf` when no round ever completed (0), so that an
/// alert such as `cairn_oracle_staleness_seconds > 60` fires for a cluster never reached. A
/// clock that stepped back gives 0, not a negative age.
pub fn staleness_seconds(last_complete: Millis, now: Millis) -> f64 {
    if last_complete <= 0 {
        f64::INFINITY
    } else {
        now.saturating_sub(last_complete).max(0) as f64 / 1_000.0
    }
}
