//! The tracer's own counters: what it emitted, what the tracing cluster acknowledged, and what
//! it dropped rather than block the application.

use std::sync::atomic::{AtomicU64, Ordering};

use cairn_core::metrics::catalog::{self, MetricDef};
use cairn_core::metrics::exposition::Exposition;

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
    /// Gap record copies the tracing cluster acknowledged (one per tracing partition per report).
    pub gap_records: u64,
    /// Dropped traces (queue full or failed) that delivered gap records reported.
    pub drops_reported: u64,
}

impl TracerStats {
    /// Each counter with the catalog family it is exported as.
    pub fn families(&self) -> [(&'static MetricDef, u64); 7] {
        [
            (&catalog::TRACER_EMITTED, self.emitted),
            (&catalog::TRACER_DELIVERED, self.delivered),
            (&catalog::TRACER_DROPPED_QUEUE_FULL, self.dropped_queue_full),
            (&catalog::TRACER_FAILED, self.failed),
            (&catalog::TRACER_SAMPLED_OUT, self.sampled_out),
            (&catalog::TRACER_GAP_RECORDS, self.gap_records),
            (&catalog::TRACER_DROPS_REPORTED, self.drops_reported),
        ]
    }

    /// Prometheus text exposition, labelled by `app` and `stream` (bounded labels only).
    pub fn to_prometheus(&self, app: &str, stream: &str) -> String {
        let mut out = Exposition::new();
        for (def, value) in self.families() {
            out.counter(def, &[("app", app), ("stream", stream)], value);
        }
        out.render()
    }
}

/// The live counters behind [`TracerStats`].
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub emitted: AtomicU64,
    pub delivered: AtomicU64,
    pub dropped_queue_full: AtomicU64,
    pub failed: AtomicU64,
    pub sampled_out: AtomicU64,
    pub gap_records: AtomicU64,
    pub drops_reported: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add_reported(&self, count: u64) {
        self.drops_reported.fetch_add(count, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> TracerStats {
        TracerStats {
            emitted: self.emitted.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
            dropped_queue_full: self.dropped_queue_full.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            sampled_out: self.sampled_out.load(Ordering::Relaxed),
            gap_records: self.gap_records.load(Ordering::Relaxed),
            drops_reported: self.drops_reported.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use cairn_core::metrics::catalog::Source;

    use super::*;

    #[test]
    fn prometheus_text_names_every_counter_with_bounded_labels() {
        let stats = TracerStats {
            emitted: 5,
            delivered: 3,
            dropped_queue_full: 1,
            failed: 1,
            sampled_out: 7,
            gap_records: 2,
            drops_reported: 1,
        };
        let text = stats.to_prometheus("api", "play\"back");
        let sample = |def: &MetricDef, value| {
            format!(
                "\n{}{{app=\"api\",stream=\"play\\\"back\"}} {value}\n",
                def.name
            )
        };
        assert!(
            text.contains(&sample(&catalog::TRACER_EMITTED, 5)),
            "{text}"
        );
        assert!(
            text.contains(&sample(&catalog::TRACER_DELIVERED, 3)),
            "{text}"
        );
        assert!(text.contains(&sample(&catalog::TRACER_DROPPED_QUEUE_FULL, 1)));
        assert!(text.contains(&sample(&catalog::TRACER_FAILED, 1)));
        assert!(text.contains(&sample(&catalog::TRACER_SAMPLED_OUT, 7)));
        let delivered = catalog::TRACER_DELIVERED.name;
        assert!(text.contains(&format!("# TYPE {delivered} counter\n")));
        assert!(text.contains(&sample(&catalog::TRACER_GAP_RECORDS, 2)));
        assert!(text.contains(&sample(&catalog::TRACER_DROPS_REPORTED, 1)));
        assert_eq!(text.lines().count(), 21, "HELP, TYPE and one sample each");
    }

    #[test]
    fn every_tracer_family_of_the_catalog_is_exported() {
        let exported: Vec<&MetricDef> = TracerStats::default()
            .families()
            .iter()
            .map(|(def, _)| *def)
            .collect();
        let defined: Vec<&MetricDef> = catalog::counted_by(Source::Tracer).collect();
        assert_eq!(exported, defined);
    }
}
