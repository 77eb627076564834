use super::*;
use crate::lineage::HopIx;
use crate::lineage::tests::{app, stream};

fn lineage() -> Lineage {
    Lineage::compile(&[stream(
        "s",
        vec![
            app("p", None, None, Some("c/a")),
            app("q", Some("g"), Some("c/a"), None),
        ],
    )])
    .unwrap()
}

#[test]
fn counts_are_readable_by_name_and_label() {
    let mut m = Metrics::for_lineage(&lineage());
    let s = m.stream(StreamId(0)).unwrap();
    s.count_seen();
    s.hop(HopIx(1)).count_lost(Reason::Expired);
    s.hop(HopIx(1))
        .count_duplicate(DuplicateKind::DeliveredTwice);
    m.count_rejected(Rejection::UnknownApp);
    m.count_malformed("not_json");
    assert_eq!(m.total(catalog::LOST.name, Some("expired")), 1);
    assert_eq!(m.total(catalog::LOST.name, Some("committed_past")), 0);
    assert_eq!(m.total(catalog::DUPLICATES.name, None), 1);
    assert_eq!(m.total(catalog::MESSAGES_IN_MEMORY.name, None), 1);
    assert_eq!(
        m.total(catalog::TRACES_REJECTED.name, Some("unknown_app")),
        1
    );
    assert_eq!(m.malformed("not_json"), 1);
    let lost = m
        .samples()
        .into_iter()
        .find(|s| s.def == &catalog::LOST && s.value == 1)
        .unwrap();
    assert_eq!(lost.hop.map(|h| h.app.as_str()), Some("q"));
    assert_eq!(lost.stream, Some("s"));
}

#[test]
fn negative_latency_is_clamped_and_counted() {
    let mut m = Metrics::for_lineage(&lineage());
    let s = m.stream(StreamId(0)).unwrap();
    s.hop(HopIx(1)).record_latency(-5);
    s.hop(HopIx(1)).record_latency(40);
    s.count_complete(Some(-1));
    let hop = &m.streams()[0].hops()[1];
    assert_eq!(hop.clock_skew(), 1);
    let latency = hop.latency().unwrap();
    assert_eq!((latency.len(), latency.min(), latency.max()), (2, 0, 40));
    assert_eq!(m.streams()[0].end_to_end_clock_skew(), 1);
    assert_eq!(m.streams()[0].end_to_end().max(), 0);
}

#[test]
fn merge_sums_counters_and_histograms_by_name() {
    let l = lineage();
    let mut a = Metrics::for_lineage(&l);
    let mut b = Metrics::for_lineage(&l);
    for m in [&mut a, &mut b] {
        let s = m.stream(StreamId(0)).unwrap();
        s.count_seen();
        s.hop(HopIx(1)).record_latency(10);
        s.hop(HopIx(1)).count_stuck();
    }
    b.count_malformed("bad");
    a.merge(&b);
    assert_eq!(a.total(catalog::MESSAGES_SEEN.name, None), 2);
    assert_eq!(a.total(catalog::STUCK.name, None), 2);
    assert_eq!(a.malformed("bad"), 1);
    assert_eq!(a.streams()[0].hops()[1].latency().unwrap().len(), 2);
    assert_eq!(a.histograms().len(), 2, "end to end and the one read hop");
    // A stream only the other side knows is adopted whole.
    let other = Lineage::compile(&[stream("t", vec![app("p", None, None, Some("c/a"))])]).unwrap();
    a.merge(&Metrics::for_lineage(&other));
    assert!(a.stream_by_name("t").is_some());
}

#[test]
fn a_retired_detector_adds_its_counters_but_not_the_messages_it_held() {
    let l = lineage();
    let mut live = Metrics::for_lineage(&l);
    let mut retired = Metrics::for_lineage(&l);
    live.stream(StreamId(0)).unwrap().count_seen();
    for _ in 0..3 {
        retired.stream(StreamId(0)).unwrap().count_seen();
    }
    let mut total = live.clone();
    total.merge_retired(&retired);
    assert_eq!(total.total(catalog::MESSAGES_SEEN.name, None), 4);
    assert_eq!(total.streams()[0].messages_in_memory(), 1);
    // A stream only the retired side knew arrives without its gauge too.
    let mut empty = Metrics::default();
    empty.merge_retired(&retired);
    assert_eq!(empty.streams()[0].messages_seen(), 3);
    assert_eq!(empty.streams()[0].messages_in_memory(), 0);
}

/// The label names a sample writes: its stream, its hop's, then its extra label.
fn label_names(stream: bool, hop: bool, extra: Option<&'static str>) -> Vec<&'static str> {
    let mut names = Vec::new();
    if stream {
        names.push("stream");
    }
    if hop {
        names.extend(["app", "group", "location"]);
    }
    names.extend(extra);
    names
}

#[test]
fn every_sample_fits_its_catalog_family_and_every_detector_family_is_sampled() {
    let mut m = Metrics::for_lineage(&lineage());
    m.count_malformed("not_json");
    let mut sampled = Vec::new();
    for s in m.samples() {
        assert_ne!(s.def.kind, catalog::MetricKind::Histogram, "{}", s.def.name);
        let labels = label_names(s.stream.is_some(), s.hop.is_some(), s.label.map(|l| l.0));
        assert_eq!(labels, s.def.labels, "{}", s.def.name);
        sampled.push(s.def);
    }
    for h in m.histograms() {
        assert_eq!(h.def.kind, catalog::MetricKind::Histogram, "{}", h.def.name);
        assert_eq!(label_names(true, h.hop.is_some(), None), h.def.labels);
        sampled.push(h.def);
    }
    for def in catalog::counted_by(catalog::Source::Detector) {
        assert!(sampled.contains(&def), "{} is never sampled", def.name);
    }
    assert!(
        sampled
            .iter()
            .all(|d| d.source == catalog::Source::Detector)
    );
}

#[test]
fn histograms_export_in_seconds_what_they_recorded_in_milliseconds() {
    let mut m = Metrics::for_lineage(&lineage());
    m.stream(StreamId(0))
        .unwrap()
        .hop(HopIx(1))
        .record_latency(2_064);
    let hop = m
        .histograms()
        .into_iter()
        .find(|h| h.def == &catalog::HOP_LATENCY)
        .expect("the read hop has a latency histogram");
    let value = hop.exported();
    assert_eq!(value.count, 1);
    assert!((value.sum - 2.064).abs() < 2.064 * 0.01, "{}", value.sum);
    assert_eq!(value.buckets.first().map(|b| b.0), Some(0.005));
}
