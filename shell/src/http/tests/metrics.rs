//! What `/metrics` says about the fixture, number by number.

use cairn_core::metrics::{Metrics, names};
use hdrhistogram::Histogram;

use super::format::{Family, parse};
use super::*;
use crate::http::export::{self, LATENCY_BUCKETS_MS, seconds_histogram, staleness_seconds};

/// The value of the one sample called `name` whose labels are exactly `labels`.
fn value(families: &[Family], name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut want: Vec<(String, String)> = labels
        .iter()
        .map(|&(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    want.sort();
    let found: Vec<f64> = families
        .iter()
        .flat_map(|f| &f.samples)
        .filter(|s| s.name == name)
        .filter(|s| {
            let mut got = s.labels.clone();
            got.sort();
            got == want
        })
        .map(|s| s.value)
        .collect();
    assert_eq!(found.len(), 1, "{name}{labels:?}: {found:?}");
    found[0]
}

fn page(f: &Fixture) -> Vec<Family> {
    parse(&export::render(&f.observatory, NOW)).expect("a valid page")
}

fn hop<'a>(app: &'a str, group: &'a str, location: &'a str) -> [(&'a str, &'a str); 4] {
    [
        ("stream", "s"),
        ("app", app),
        ("group", group),
        ("location", location),
    ]
}

fn with<'a>(labels: &[(&'a str, &'a str)], extra: (&'a str, &'a str)) -> Vec<(&'a str, &'a str)> {
    labels.iter().copied().chain([extra]).collect()
}

#[test]
fn detector_counters_are_the_detectors() {
    let f = fixture();
    let p = page(&f);
    let s = [("stream", "s")];
    assert_eq!(value(&p, "cairn_messages_seen_total", &s), 8.0);
    assert_eq!(value(&p, "cairn_messages_complete_total", &s), 5.0);
    assert_eq!(value(&p, "cairn_messages_in_memory", &s), 0.0);
    assert_eq!(
        value(&p, "cairn_messages_seen_total", &[("stream", "idle")]),
        0.0
    );
    assert_eq!(
        value(
            &p,
            "cairn_traces_rejected_total",
            &[("reason", "unknown_app")]
        ),
        0.0
    );

    let producer = hop("producer", "", "c/l0");
    let router_reads = hop("router", "g-router", "c/l0");
    let router_writes = hop("router", "g-router", "c/l1");
    let audit = hop("audit", "g-audit", "c/l0");
    let sink = hop("sink", "g-sink", "c/l1");
    assert_eq!(
        value(&p, "cairn_traces_seen_total", &producer),
        7.0,
        "id-gap's sent never came"
    );
    assert_eq!(value(&p, "cairn_traces_seen_total", &router_reads), 8.0);
    assert_eq!(value(&p, "cairn_traces_seen_total", &router_writes), 7.0);
    assert_eq!(value(&p, "cairn_traces_seen_total", &audit), 6.0);
    assert_eq!(
        value(&p, "cairn_traces_seen_total", &sink),
        8.0,
        "id-dup twice"
    );

    let lost = "cairn_lost_total";
    assert_eq!(
        value(&p, lost, &with(&audit, ("reason", "committed_past"))),
        2.0
    );
    assert_eq!(value(&p, lost, &with(&audit, ("reason", "expired"))), 0.0);
    assert_eq!(
        value(&p, lost, &with(&router_writes, ("reason", "lost_in_app"))),
        1.0
    );
    assert_eq!(
        value(&p, lost, &with(&sink, ("reason", "committed_past"))),
        0.0,
        "first hop only"
    );
    let dup = "cairn_duplicates_total";
    assert_eq!(
        value(&p, dup, &with(&sink, ("kind", "delivered_twice"))),
        1.0
    );
    assert_eq!(value(&p, dup, &with(&sink, ("kind", "written_twice"))), 0.0);
    assert_eq!(value(&p, "cairn_retracted_total", &audit), 1.0);
    assert_eq!(value(&p, "cairn_stuck_total", &audit), 1.0);
    assert_eq!(value(&p, "cairn_trace_gaps_total", &producer), 1.0);
    assert_eq!(value(&p, "cairn_clock_skew_total", &router_reads), 0.0);
    assert_eq!(value(&p, "cairn_end_to_end_clock_skew_total", &s), 0.0);
}

#[test]
fn latency_histograms_are_in_seconds_and_cumulative() {
    let f = fixture();
    let p = page(&f);
    let router = hop("router", "g-router", "c/l0");
    let bucket = |le| {
        value(
            &p,
            "cairn_hop_latency_seconds_bucket",
            &with(&router, ("le", le)),
        )
    };
    // Six receptions 10 ms after their sent trace, one (id-slow) 2 s after; id-gap has no sent.
    assert_eq!(bucket("0.005"), 0.0);
    assert_eq!(bucket("0.01"), 6.0, "10 ms is inside le=0.01");
    assert_eq!(bucket("1"), 6.0);
    assert_eq!(bucket("2.5"), 7.0);
    assert_eq!(bucket("3600"), 7.0);
    assert_eq!(bucket("+Inf"), 7.0);
    assert_eq!(value(&p, "cairn_hop_latency_seconds_count", &router), 7.0);
    // 6 × 10 ms exactly, and 2000 ms as the middle of its 8 ms wide HDR bucket [2000, 2007].
    assert_eq!(value(&p, "cairn_hop_latency_seconds_sum", &router), 2.064);
    let write_hop_series = p
        .iter()
        .flat_map(|f| &f.samples)
        .filter(|s| s.name.starts_with("cairn_hop_latency_seconds"))
        .filter(|s| {
            s.labels
                .contains(&("location".to_owned(), "c/l1".to_owned()))
        })
        .filter(|s| s.labels.contains(&("app".to_owned(), "router".to_owned())))
        .count();
    assert_eq!(write_hop_series, 0, "write hops have no latency");

    // End to end: id-gap 15 ms (from the router's sent), id-fast and id-dup 35 ms, id-slow
    // 7 s, id-retracted 9 s (the audit's late trace).
    let e2e = |le| {
        value(
            &p,
            "cairn_end_to_end_latency_seconds_bucket",
            &[("stream", "s"), ("le", le)],
        )
    };
    assert_eq!(
        [
            e2e("0.01"),
            e2e("0.025"),
            e2e("0.05"),
            e2e("5"),
            e2e("10"),
            e2e("+Inf")
        ],
        [0.0, 1.0, 3.0, 3.0, 5.0, 5.0]
    );
    assert_eq!(
        value(
            &p,
            "cairn_end_to_end_latency_seconds_count",
            &[("stream", "s")]
        ),
        5.0
    );
    assert_eq!(
        value(
            &p,
            "cairn_end_to_end_latency_seconds_count",
            &[("stream", "idle")]
        ),
        0.0
    );
}

#[test]
fn shell_oracle_and_readiness_metrics() {
    let f = fixture();
    let p = page(&f);
    assert_eq!(value(&p, "cairn_traces_consumed_total", &[]), 1_234.0);
    assert_eq!(value(&p, "cairn_verdicts_published_total", &[]), 4.0);
    assert_eq!(value(&p, "cairn_checkpoints_total", &[]), 17.0);
    assert_eq!(value(&p, "cairn_checkpoint_failures_total", &[]), 1.0);
    assert_eq!(value(&p, "cairn_position_resets_total", &[]), 2.0);
    assert_eq!(
        value(&p, "cairn_partitions_restored_total", &[("from", "local")]),
        3.0
    );
    assert_eq!(
        value(
            &p,
            "cairn_partitions_restored_total",
            &[("from", "changelog")]
        ),
        5.0
    );
    assert_eq!(value(&p, "cairn_partitions_assigned", &[]), 6.0);
    assert_eq!(value(&p, "cairn_consumer_errors_total", &[]), 7.0);
    assert_eq!(
        value(&p, "cairn_oracle_rounds_total", &[("cluster", "c")]),
        12.0
    );
    assert_eq!(
        value(&p, "cairn_oracle_rounds_total", &[("cluster", "d")]),
        3.0
    );
    let errors = |cluster, operation| {
        value(
            &p,
            "cairn_oracle_errors_total",
            &[("cluster", cluster), ("operation", operation)],
        )
    };
    assert_eq!(errors("c", "watermarks"), 2.0);
    assert_eq!(errors("c", "metadata"), 0.0);
    assert_eq!(errors("d", "metadata"), 3.0);
    assert_eq!(errors("d", "committed"), 0.0);
    assert_eq!(
        value(&p, "cairn_oracle_staleness_seconds", &[("cluster", "c")]),
        1.5
    );
    assert_eq!(
        value(&p, "cairn_oracle_staleness_seconds", &[("cluster", "d")]),
        f64::INFINITY,
        "never completed a round"
    );
    assert_eq!(value(&p, "cairn_ready", &[]), 0.0);
    f.observatory
        .session
        .set(crate::readiness::SessionPhase::Running);
    assert_eq!(
        value(&page(&f), "cairn_ready", &[]),
        0.0,
        "the oracle has not completed a round on d"
    );
    f.observatory.oracle.lock()["d"]
        .last_complete_round
        .store(NOW, Ordering::Relaxed);
    assert_eq!(value(&page(&f), "cairn_ready", &[]), 1.0);
}

#[tokio::test]
async fn the_endpoint_serves_the_page_with_the_format_version() {
    let f = fixture();
    let (status, content_type, body) = get(f.router(), "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    let families = parse(&body).expect("a valid page");
    assert_eq!(
        value(&families, "cairn_messages_seen_total", &[("stream", "s")]),
        8.0
    );
}

#[test]
fn an_empty_observatory_still_exports_the_shell_families() {
    let observatory = Observatory::default();
    let families = parse(&export::render(&observatory, NOW)).expect("a valid page");
    assert_eq!(value(&families, "cairn_traces_consumed_total", &[]), 0.0);
    assert_eq!(value(&families, "cairn_ready", &[]), 0.0);
    assert!(
        families
            .iter()
            .all(|f| !f.name.starts_with("cairn_oracle_"))
    );
}

#[test]
fn every_core_metric_has_its_own_help_and_latencies_are_in_seconds() {
    let f = fixture();
    let metrics: Arc<Metrics> = f.observatory.metrics.load_full();
    let generic = export::detector_help("cairn_not_a_metric_total");
    for sample in metrics.samples() {
        assert_ne!(
            export::detector_help(sample.name),
            generic,
            "{}",
            sample.name
        );
    }
    assert_ne!(export::detector_help(names::TRACES_MALFORMED), generic);
    for h in metrics.histograms() {
        let (name, _) = export::histogram_name(h.name);
        assert!(
            name.ends_with("_seconds") && !name.contains("_ms"),
            "{name}"
        );
    }
}

#[test]
fn buckets_convert_milliseconds_to_seconds_at_their_bounds() {
    let mut h = Histogram::<u64>::new_with_bounds(1, cairn_core::metrics::HISTOGRAM_MAX_MS, 2)
        .expect("valid bounds");
    for ms in [0, 5, 6, 250, 3_600_000, 5_000_000] {
        h.record(ms).expect("in range");
    }
    let v = seconds_histogram(&h);
    assert_eq!(v.count, 6);
    assert_eq!(v.buckets.len(), LATENCY_BUCKETS_MS.len());
    let at = |le: f64| v.buckets.iter().find(|b| b.0 == le).expect("a bound").1;
    assert_eq!(at(0.005), 2, "0 and 5 ms: a bound is inclusive");
    assert_eq!(at(0.01), 3);
    assert_eq!(at(0.25), 4);
    assert_eq!(at(1800.0), 4);
    assert_eq!(at(3600.0), 5);
    // 5 000 000 ms is above the last bound: only in +Inf (= count).
    assert_eq!(v.buckets.last().map(|b| b.1), Some(5));
    assert!((v.sum - 8_600.261).abs() < 8_600.261 * 0.01, "{}", v.sum);
    let empty =
        seconds_histogram(&Histogram::<u64>::new_with_bounds(1, 1_000, 2).expect("valid bounds"));
    assert_eq!((empty.count, empty.sum), (0, 0.0));
    assert!(empty.buckets.iter().all(|b| b.1 == 0));
}

#[test]
fn staleness_is_infinite_before_the_first_round_and_never_negative() {
    assert_eq!(staleness_seconds(0, NOW), f64::INFINITY);
    assert_eq!(staleness_seconds(NOW - 2_250, NOW), 2.25);
    assert_eq!(
        staleness_seconds(NOW + 5_000, NOW),
        0.0,
        "the clock stepped back"
    );
}
