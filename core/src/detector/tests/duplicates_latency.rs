//! Duplicates counted once per extra copy, hop and end-to-end latency, clock skew.

use super::*;
use crate::metrics::DuplicateKind;

#[test]
fn a_second_copy_written_elsewhere_counts_once_and_a_retraced_copy_not_at_all() {
    let mut h = Harness::new();
    h.deliver_all("m", 10);
    h.trace(sent("m", "producer", "c/l0", (0, 10), T0));
    assert_eq!(
        h.total(catalog::DUPLICATES.name, Some("written_twice")),
        0,
        "same copy traced twice"
    );
    h.trace(sent("m", "producer", "c/l0", (1, 10), T0));
    h.trace(sent("m", "producer", "c/l0", (1, 10), T0));
    assert_eq!(h.total(catalog::DUPLICATES.name, Some("written_twice")), 1);
    h.trace(sent("m", "producer", "c/l0", (0, 11), T0));
    assert_eq!(
        h.total(catalog::DUPLICATES.name, Some("written_twice")),
        2,
        "a third copy"
    );
    let stream = &h.det.metrics().streams()[0];
    let producer = stream
        .hops()
        .iter()
        .find(|x| x.hop.app == "producer")
        .unwrap();
    assert_eq!(producer.duplicates(DuplicateKind::WrittenTwice), 2);
}

#[test]
fn a_redelivery_counts_even_at_the_same_offset() {
    let mut h = Harness::new();
    h.deliver_all("m", 10);
    h.trace(received("m", "sink", "g-sink", "c/l1", (0, 110), T0 + 50));
    h.trace(received("m", "sink", "g-sink", "c/l1", (0, 110), T0 + 60));
    assert_eq!(
        h.total(catalog::DUPLICATES.name, Some("delivered_twice")),
        2
    );
    h.run_to(200_000);
    assert!(h.verdicts.is_empty());
}

#[test]
fn late_duplicates_count_within_the_dedup_window() {
    let mut h = Harness::new();
    h.deliver_all("m", 10);
    // Complete at the 5 s check, so kept until 65 s.
    h.run_to(64_000);
    h.trace(received("m", "audit", "g-audit", "c/l0", (0, 10), T0));
    assert_eq!(
        h.total(catalog::DUPLICATES.name, Some("delivered_twice")),
        1
    );
    assert_eq!(
        h.total(catalog::MESSAGES_SEEN.name, None),
        1,
        "still the same message"
    );
}

#[test]
fn hop_and_end_to_end_latency_whatever_the_arrival_order() {
    let mut h = Harness::new();
    // Receptions first, sents after: latency is recorded when the pair completes.
    let mut traces = journey("m", 10);
    traces.reverse();
    for t in traces {
        h.trace(t);
    }
    h.run_to(6_000);
    let stream = &h.det.metrics().streams()[0];
    let hop = |app: &str| {
        stream
            .hops()
            .iter()
            .find(|x| x.hop.app == app && x.latency().is_some())
            .unwrap()
    };
    assert_eq!(hop("router").latency().unwrap().max(), 10);
    assert_eq!(hop("audit").latency().unwrap().max(), 12);
    assert_eq!(hop("sink").latency().unwrap().max(), 15);
    assert_eq!(stream.end_to_end().len(), 1);
    assert_eq!(
        stream.end_to_end().max(),
        35,
        "last trace at +35 − first sent at +0"
    );
}

#[test]
fn negative_latency_is_clamped_and_counted_as_clock_skew() {
    let mut h = Harness::new();
    h.trace(sent("m", "producer", "c/l0", (0, 10), T0 + 500));
    h.trace(received(
        "m",
        "router",
        "g-router",
        "c/l0",
        (0, 10),
        T0 + 100,
    ));
    h.trace(received("m", "audit", "g-audit", "c/l0", (0, 10), T0 + 600));
    h.trace(tr(
        "m",
        Kind::Filtered,
        "router",
        "c/l0",
        None,
        (0, 10),
        T0 + 100,
    ));
    assert_eq!(h.total(catalog::CLOCK_SKEW.name, None), 1);
    let stream = &h.det.metrics().streams()[0];
    let router = stream
        .hops()
        .iter()
        .find(|x| x.hop.app == "router" && x.latency().is_some())
        .unwrap();
    assert_eq!(router.latency().unwrap().max(), 0);
}
