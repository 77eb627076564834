//! The tracer's own counters: what it emitted, what the tracing cluster acknowledged, and what
//! it dropped rather than block the application.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of one tracer's counters (all clones of a tracer share them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TracerStats {
    /// Traces handed to the producer's queue.
    pub emitted: u64,
    /// Traces the tracing cluster acknowledged.
    pub delivered: u64,
    /// Traces dropped because the queue was full (the cluster is slow or down).
    pub dropped_queue_full: u64,
    /// Traces that were queued but not delivered (timed out, refused), or refused at enqueue
    /// for a reason other than a full queue.
    pub failed: u64,
    /// Calls for messages that the stream's sample rate leaves untraced.
    pub sampled_out: u64,
}

impl TracerStats {
    /// Prometheus text exposition, labelled by `app` and `stream` (bounded labels only).
    pub fn to_prometheus(&self, app: &str, stream: &str) -> String {
        let labels = format!(
            "app=\"{}\",stream=\"{}\"",
            escape_label(app),
            escape_label(stream)
        );
        let mut out = String::new();
        for (name, help, value) in [
            (
                "emitted",
                "Traces queued for the tracing topic.",
                self.emitted,
            ),
            (
                "delivered",
                "Traces acknowledged by the tracing cluster.",
                self.delivered,
            ),
            (
                "dropped_queue_full",
                "Traces dropped because the tracer's queue was full.",
                self.dropped_queue_full,
            ),
            ("failed", "Traces that could not be delivered.", self.failed),
            (
                "sampled_out",
                "Messages not traced because of the stream's sample rate.",
                self.sampled_out,
            ),
        ] {
            let metric = format!("cairn_tracer_{name}_total");
            // Writing to a String cannot fail.
            let _ = writeln!(out, "# HELP {metric} {help}");
            let _ = writeln!(out, "# TYPE {metric} counter");
            let _ = writeln!(out, "{metric}{{{labels}}} {value}");
        }
        out
    }
}

/// Prometheus label values escape backslash, double quote and newline.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The live counters behind [`TracerStats`].
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub emitted: AtomicU64,
    pub delivered: AtomicU64,
    pub dropped_queue_full: AtomicU64,
    pub failed: AtomicU64,
    pub sampled_out: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> TracerStats {
        TracerStats {
            emitted: self.emitted.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
            dropped_queue_full: self.dropped_queue_full.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            sampled_out: self.sampled_out.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_names_every_counter_with_bounded_labels() {
        let stats = TracerStats {
            emitted: 5,
            delivered: 3,
            dropped_queue_full: 1,
            failed: 1,
            sampled_out: 7,
        };
        let text = stats.to_prometheus("api", "play\"back");
        assert!(
            text.contains("cairn_tracer_emitted_total{app=\"api\",stream=\"play\\\"back\"} 5"),
            "{text}"
        );
        assert!(text.contains("# TYPE cairn_tracer_delivered_total counter"));
        assert!(text.contains(
            "cairn_tracer_dropped_queue_full_total{app=\"api\",stream=\"play\\\"back\"} 1"
        ));
        assert!(
            text.contains("cairn_tracer_sampled_out_total{app=\"api\",stream=\"play\\\"back\"} 7")
        );
        assert_eq!(text.lines().count(), 15);
    }
}
