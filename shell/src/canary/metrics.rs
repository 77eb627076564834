//! `/metrics` of the canary: the `cairn_canary_*` families, from each cluster's latest report
//! and core.

use cairn_core::metrics::catalog::{
    CANARY_ACKNOWLEDGED, CANARY_CLOCK_SKEW, CANARY_CONSUME_AVAILABILITY, CANARY_CONSUMED,
    CANARY_DUPLICATED, CANARY_ERRORS, CANARY_INCIDENTS_OPENED, CANARY_LATENCY, CANARY_LOST,
    CANARY_METADATA_CONSISTENT, CANARY_PRODUCE_AVAILABILITY, CANARY_PRODUCED, CANARY_SEND_FAILURES,
    CANARY_SKIPPED, CANARY_TOPIC_CHANGES,
};
use cairn_core::metrics::exposition::Exposition;

use super::view::CanaryView;

/// The Prometheus text of everything the canary exports.
pub fn render(view: &CanaryView) -> String {
    let mut out = Exposition::new();
    for slot in &view.clusters {
        let cluster = slot.name.as_str();
        if let Some(report) = slot.latest.lock().as_ref() {
            for b in &report.brokers {
                let id = b.id.to_string();
                let labels = [("cluster", cluster), ("broker", id.as_str())];
                out.counter(&CANARY_PRODUCED, &labels, b.produced);
                out.counter(&CANARY_ACKNOWLEDGED, &labels, b.acknowledged);
                out.counter(&CANARY_SEND_FAILURES, &labels, b.send_failures);
                out.counter(&CANARY_CONSUMED, &labels, b.consumed);
                out.counter(&CANARY_LOST, &labels, b.lost);
                out.counter(&CANARY_DUPLICATED, &labels, b.duplicated);
                out.gauge(
                    &CANARY_PRODUCE_AVAILABILITY,
                    &labels,
                    b.produce_availability,
                );
                out.gauge(
                    &CANARY_CONSUME_AVAILABILITY,
                    &labels,
                    b.consume_availability,
                );
                let consistent = if b.metadata_consistent { 1.0 } else { 0.0 };
                out.gauge(&CANARY_METADATA_CONSISTENT, &labels, consistent);
            }
            for (reason, n) in &report.skipped {
                out.counter(
                    &CANARY_SKIPPED,
                    &[("cluster", cluster), ("reason", reason)],
                    *n,
                );
            }
            for (kind, n) in &report.topic_changes {
                out.counter(
                    &CANARY_TOPIC_CHANGES,
                    &[("cluster", cluster), ("kind", kind)],
                    *n,
                );
            }
            out.counter(
                &CANARY_CLOCK_SKEW,
                &[("cluster", cluster)],
                report.clock_skew,
            );
        }
        for (id, histogram) in slot.core.lock().latency_histograms(&CANARY_LATENCY) {
            let id = id.to_string();
            out.histogram(
                &CANARY_LATENCY,
                &[("cluster", cluster), ("broker", id.as_str())],
                &histogram,
            );
        }
        for (kind, n) in slot.opened.lock().iter() {
            let labels = [("cluster", cluster), ("kind", *kind)];
            out.counter(&CANARY_INCIDENTS_OPENED, &labels, *n);
        }
        for (operation, n) in slot.errors.lock().iter() {
            out.counter(
                &CANARY_ERRORS,
                &[("cluster", cluster), ("operation", operation)],
                *n,
            );
        }
    }
    out.render()
}
