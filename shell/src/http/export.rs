//! What `/metrics` exports: the detector's counters and latency histograms, the shell's own
//! counters and the offsets oracle's health, each as its [`catalog`] family.
//!
//! Names, kinds, units, help texts and label names are the catalog's; this file only maps what
//! the job counted (the core's [`Metrics`], the [`ShellCounters`], each cluster's
//! [`PollerStats`]) to those families, and [`Exposition`] writes the text.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use cairn_core::metrics::catalog::{self, MetricDef, MetricKind};
use cairn_core::metrics::exposition::{Exposition, Label};
use cairn_core::metrics::{HistogramSample, Metrics, Sample};
use cairn_core::model::{HopRef, Millis};

use crate::lineage::LineageCell;
use crate::observe::{Observatory, ShellCounters};
use crate::oracle::poller::PollerStats;

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
    lineage(&mut out, &observatory.lineage);
    let ready = if observatory.is_ready() { 1.0 } else { 0.0 };
    out.gauge(&catalog::READY, &[], ready);
    out.render()
}

/// The control plane's fetches (all 0 with the file's lineage) and when the lineage in use
/// was applied.
fn lineage(out: &mut Exposition, lineage: &LineageCell) {
    for (outcome, count) in lineage.counters.by_outcome() {
        out.counter(
            &catalog::CONTROL_PLANE_FETCHES,
            &[("outcome", outcome)],
            count,
        );
    }
    let applied_at = lineage
        .current()
        .map_or(0.0, |applied| applied.applied_at as f64 / 1_000.0);
    out.gauge(&catalog::LINEAGE_APPLIED_AT, &[], applied_at);
}

/// Every detector counter and gauge, and every latency histogram in its exported unit.
pub fn detector(out: &mut Exposition, metrics: &Metrics) {
    for sample in metrics.samples() {
        let labels = sample_labels(&sample);
        if sample.def.kind == MetricKind::Gauge {
            // Gauges of the core are counts held now, far below 2^53: exact as f64.
            out.gauge(sample.def, &labels, sample.value as f64);
        } else {
            out.counter(sample.def, &labels, sample.value);
        }
    }
    for h in metrics.histograms() {
        out.histogram(h.def, &histogram_labels(&h), &h.exported());
    }
}

/// A sample's labels in the order its family defines: stream, hop, then the extra one.
fn sample_labels<'a>(sample: &Sample<'a>) -> Vec<Label<'a>> {
    let mut labels = Vec::with_capacity(5);
    if let Some(stream) = sample.stream {
        labels.push(("stream", stream));
    }
    if let Some(hop) = sample.hop {
        push_hop(&mut labels, hop);
    }
    labels.extend(sample.label);
    labels
}

fn histogram_labels<'a>(h: &HistogramSample<'a>) -> Vec<Label<'a>> {
    let mut labels = vec![("stream", h.stream)];
    if let Some(hop) = h.hop {
        push_hop(&mut labels, hop);
    }
    labels
}

fn push_hop<'a>(labels: &mut Vec<Label<'a>>, hop: &'a HopRef) {
    labels.push(("app", &hop.app));
    labels.push(("group", hop.group.as_deref().unwrap_or("")));
    labels.push(("location", &hop.location));
}

/// The shell's unlabelled counters, each with the family it is exported as.
fn shell_counters(shell: &ShellCounters) -> [(&'static MetricDef, &AtomicU64); 9] {
    [
        (&catalog::TRACES_CONSUMED, &shell.traces_consumed),
        (&catalog::VERDICTS_PUBLISHED, &shell.verdicts_published),
        (&catalog::CHECKPOINTS, &shell.checkpoints),
        (&catalog::CHECKPOINT_FAILURES, &shell.checkpoint_failures),
        (&catalog::POSITION_RESETS, &shell.position_resets),
        (&catalog::SNAPSHOT_FAILURES, &shell.snapshot_failures),
        (&catalog::STATE_UNREADABLE, &shell.state_unreadable),
        (&catalog::SESSION_RESTARTS, &shell.session_restarts),
        (&catalog::CONSUMERS_LEFT_OPEN, &shell.consumers_left_open),
    ]
}

fn shell(out: &mut Exposition, shell: &ShellCounters) {
    for (def, counter) in shell_counters(shell) {
        out.counter(def, &[], counter.load(Ordering::Relaxed));
    }
    for (from, counter) in [
        ("local", &shell.restored_local),
        ("changelog", &shell.restored_changelog),
    ] {
        let restored = counter.load(Ordering::Relaxed);
        out.counter(&catalog::PARTITIONS_RESTORED, &[("from", from)], restored);
    }
    let assigned = shell.partitions_assigned.load(Ordering::Relaxed) as f64;
    out.gauge(&catalog::PARTITIONS_ASSIGNED, &[], assigned);
    let errors = shell.consumer_errors.load(Ordering::Relaxed);
    out.counter(&catalog::CONSUMER_ERRORS, &[], errors);
    let failures = shell.look_failures.load(Ordering::Relaxed);
    out.counter(&catalog::LOOK_FAILURES, &[], failures);
    let lag = shell.judging_lag_ms.load(Ordering::Relaxed) as f64 / 1000.0;
    out.gauge(&catalog::JUDGING_LAG, &[], lag);
    let overdue = shell.checks_overdue_ms.load(Ordering::Relaxed) as f64 / 1000.0;
    out.gauge(&catalog::CHECKS_OVERDUE, &[], overdue);
}

fn oracle_cluster(out: &mut Exposition, cluster: &str, stats: &PollerStats, now: Millis) {
    let labels = [("cluster", cluster)];
    let rounds = stats.rounds.load(Ordering::Relaxed);
    out.counter(&catalog::ORACLE_ROUNDS, &labels, rounds);
    for (operation, counter) in [
        ("metadata", &stats.errors_metadata),
        ("watermarks", &stats.errors_watermarks),
        ("committed", &stats.errors_committed),
    ] {
        out.counter(
            &catalog::ORACLE_ERRORS,
            &[("cluster", cluster), ("operation", operation)],
            counter.load(Ordering::Relaxed),
        );
    }
    let last_complete = stats.last_complete_round.load(Ordering::Relaxed);
    let staleness = staleness_seconds(last_complete, now);
    out.gauge(&catalog::ORACLE_STALENESS, &labels, staleness);
}

/// Seconds from `last_complete` to `now`; `+Inf` when no round ever completed (0), so that an
/// alert such as `cairn_oracle_staleness_seconds > 60` fires for a cluster never reached. A
/// clock that stepped back gives 0, not a negative age.
pub fn staleness_seconds(last_complete: Millis, now: Millis) -> f64 {
    let age_ms = if last_complete <= 0 {
        f64::INFINITY
    } else {
        now.saturating_sub(last_complete).max(0) as f64
    };
    catalog::ORACLE_STALENESS.exported(age_ms)
}
