//! What `/metrics` says about the fixture, number by number.

use cairn_core::metrics::catalog::{self, MetricDef};

use super::format::{Family, parse};
use super::*;
use crate::http::export::{self, staleness_seconds};

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

/// The name of one of a histogram family's series: `_bucket`, `_sum` or `_count`.
fn series(def: &MetricDef, suffix: &str) -> String {
    format!("{}{suffix}", def.name)
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
    assert_eq!(value(&p, catalog::MESSAGES_SEEN.name, &s), 8.0);
    assert_eq!(value(&p, catalog::MESSAGES_COMPLETE.name, &s), 5.0);
    assert_eq!(value(&p, catalog::MESSAGES_IN_MEMORY.name, &s), 0.0);
    assert_eq!(
        value(&p, catalog::MESSAGES_SEEN.name, &[("stream", "idle")]),
        0.0
    );
    assert_eq!(
        value(
            &p,
            catalog::TRACES_REJECTED.name,
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
        value(&p, catalog::TRACES_SEEN.name, &producer),
        7.0,
        "id-gap's sent never came"
    );
    assert_eq!(value(&p, catalog::TRACES_SEEN.name, &router_reads), 8.0);
    assert_eq!(value(&p, catalog::TRACES_SEEN.name, &router_writes), 7.0);
    assert_eq!(value(&p, catalog::TRACES_SEEN.name, &audit), 6.0);
    assert_eq!(
        value(&p, catalog::TRACES_SEEN.name, &sink),
        8.0,
        "id-dup twice"
    );

    let lost = catalog::LOST.name;
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
    let dup = catalog::DUPLICATES.name;
    assert_eq!(
        value(&p, dup, &with(&sink, ("kind", "delivered_twice"))),
        1.0
    );
    assert_eq!(value(&p, dup, &with(&sink, ("kind", "written_twice"))), 0.0);
    assert_eq!(value(&p, catalog::RETRACTED.name, &audit), 1.0);
    assert_eq!(value(&p, catalog::STUCK.name, &audit), 1.0);
    assert_eq!(value(&p, catalog::TRACE_GAPS.name, &producer), 1.0);
    assert_eq!(value(&p, catalog::CLOCK_SKEW.name, &router_reads), 0.0);
    assert_eq!(value(&p, catalog::END_TO_END_CLOCK_SKEW.name, &s), 0.0);
}

#[test]
fn latency_histograms_are_in_seconds_and_cumulative() {
    let f = fixture();
    let p = page(&f);
    let router = hop("router", "g-router", "c/l0");
    let hop_latency = |suffix| series(&catalog::HOP_LATENCY, suffix);
    let bucket = |le| value(&p, &hop_latency("_bucket"), &with(&router, ("le", le)));
    // Six receptions 10 ms after their sent trace, one (id-slow) 2 s after; id-gap has no sent.
    assert_eq!(bucket("0.005"), 0.0);
    assert_eq!(bucket("0.01"), 6.0, "10 ms is inside le=0.01");
    assert_eq!(bucket("1"), 6.0);
    assert_eq!(bucket("2.5"), 7.0);
    assert_eq!(bucket("3600"), 7.0);
    assert_eq!(bucket("+Inf"), 7.0);
    assert_eq!(value(&p, &hop_latency("_count"), &router), 7.0);
    // 6 × 10 ms exactly, and 2000 ms as the middle of its 8 ms wide HDR bucket [2000, 2007].
    assert_eq!(value(&p, &hop_latency("_sum"), &router), 2.064);
    let write_hop_series = p
        .iter()
        .flat_map(|f| &f.samples)
        .filter(|s| s.name.starts_with(catalog::HOP_LATENCY.name))
        .filter(|s| {
            s.labels
                .contains(&("location".to_owned(), "c/l1".to_owned()))
        })
        .filter(|s| s.labels.contains(&("app".to_owned(), "router".to_owned())))
        .count();
    assert_eq!(write_hop_series, 0, "write hops have no latency");

    // End to end: id-gap 15 ms (from the router's sent), id-fast and id-dup 35 ms, id-slow
    // 7 s, id-retracted 9 s (the audit's late trace).
    let end_to_end = |suffix| series(&catalog::END_TO_END_LATENCY, suffix);
    let e2e = |le| value(&p, &end_to_end("_bucket"), &[("stream", "s"), ("le", le)]);
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
    let count = end_to_end("_count");
    assert_eq!(value(&p, &count, &[("stream", "s")]), 5.0);
    assert_eq!(value(&p, &count, &[("stream", "idle")]), 0.0);
}

#[test]
fn shell_oracle_and_readiness_metrics() {
    let f = fixture();
    let p = page(&f);
    assert_eq!(value(&p, catalog::TRACES_CONSUMED.name, &[]), 1_234.0);
    assert_eq!(value(&p, catalog::VERDICTS_PUBLISHED.name, &[]), 4.0);
    assert_eq!(value(&p, catalog::CHECKPOINTS.name, &[]), 17.0);
    assert_eq!(value(&p, catalog::CHECKPOINT_FAILURES.name, &[]), 1.0);
    assert_eq!(value(&p, catalog::POSITION_RESETS.name, &[]), 2.0);
    assert_eq!(
        value(&p, catalog::PARTITIONS_RESTORED.name, &[("from", "local")]),
        3.0
    );
    assert_eq!(
        value(
            &p,
            catalog::PARTITIONS_RESTORED.name,
            &[("from", "changelog")]
        ),
        5.0
    );
    assert_eq!(value(&p, catalog::PARTITIONS_ASSIGNED.name, &[]), 6.0);
    assert_eq!(value(&p, catalog::CONSUMER_ERRORS.name, &[]), 7.0);
    assert_eq!(value(&p, catalog::LOOK_FAILURES.name, &[]), 8.0);
    assert_eq!(value(&p, catalog::JUDGING_LAG.name, &[]), 2.5);
    assert_eq!(value(&p, catalog::CHECKS_OVERDUE.name, &[]), 1.25);
    assert_eq!(
        value(&p, catalog::ORACLE_ROUNDS.name, &[("cluster", "c")]),
        12.0
    );
    assert_eq!(
        value(&p, catalog::ORACLE_ROUNDS.name, &[("cluster", "d")]),
        3.0
    );
    let errors = |cluster, operation| {
        value(
            &p,
            catalog::ORACLE_ERRORS.name,
            &[("cluster", cluster), ("operation", operation)],
        )
    };
    assert_eq!(errors("c", "watermarks"), 2.0);
    assert_eq!(errors("c", "metadata"), 0.0);
    assert_eq!(errors("d", "metadata"), 3.0);
    assert_eq!(errors("d", "committed"), 0.0);
    assert_eq!(
        value(&p, catalog::ORACLE_STALENESS.name, &[("cluster", "c")]),
        1.5
    );
    assert_eq!(
        value(&p, catalog::ORACLE_STALENESS.name, &[("cluster", "d")]),
        f64::INFINITY,
        "never completed a round"
    );
    assert_eq!(value(&p, catalog::READY.name, &[]), 0.0);
    f.observatory
        .session
        .set(crate::readiness::SessionPhase::Running);
    assert_eq!(
        value(&page(&f), catalog::READY.name, &[]),
        0.0,
        "the oracle has not completed a round on d"
    );
    f.observatory.oracle.lock()["d"]
        .last_complete_round
        .store(NOW, Ordering::Relaxed);
    assert_eq!(value(&page(&f), catalog::READY.name, &[]), 1.0);
}

#[tokio::test]
async fn the_endpoint_serves_the_page_with_the_format_version() {
    let f = fixture();
    let (status, content_type, body) = get(f.router(), "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    let families = parse(&body).expect("a valid page");
    assert_eq!(
        value(&families, catalog::MESSAGES_SEEN.name, &[("stream", "s")]),
        8.0
    );
}

#[test]
fn an_empty_observatory_still_exports_the_shell_families() {
    let observatory = Observatory::default();
    let families = parse(&export::render(&observatory, NOW)).expect("a valid page");
    assert_eq!(value(&families, catalog::TRACES_CONSUMED.name, &[]), 0.0);
    assert_eq!(value(&families, catalog::READY.name, &[]), 0.0);
    for oracle in [
        catalog::ORACLE_ROUNDS,
        catalog::ORACLE_ERRORS,
        catalog::ORACLE_STALENESS,
    ] {
        assert!(families.iter().all(|f| f.name != oracle.name));
    }
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
