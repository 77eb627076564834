//! Unit tests of lineage compilation and trace resolution; helpers shared with other tests.

use std::borrow::Cow;

use super::*;
use crate::config::{AppConfig, Location, StreamConfig};

pub(crate) fn timing() -> Timing {
    Timing {
        first_check: Duration::from_secs(5),
        backoff: Duration::from_secs(1),
        backoff_max: Duration::from_secs(8),
        max_wait: Duration::from_secs(120),
        confirmation_delay: Duration::from_secs(3),
        dedup_window: Duration::from_secs(60),
        max_offsets_age: Duration::from_secs(10),
    }
}

pub(crate) fn loc(name: &str) -> Location {
    let (cluster, topic) = name.split_once('/').unwrap_or(("c", name));
    Location {
        cluster: cluster.to_owned(),
        topic: topic.to_owned(),
    }
}

pub(crate) fn app(
    name: &str,
    group: Option<&str>,
    reads: Option<&str>,
    writes: Option<&str>,
) -> AppConfig {
    AppConfig {
        app: name.to_owned(),
        group: group.map(str::to_owned),
        reads: reads.map(loc),
        writes: writes.map(loc),
    }
}

pub(crate) fn stream(name: &str, apps: Vec<AppConfig>) -> StreamConfig {
    StreamConfig {
        name: name.to_owned(),
        timing: timing(),
        sample_rate: 1.0,
        apps,
    }
}

/// producer → a/in → router (g-router) → b/out → sink (g-sink) and audit (g-audit).
fn two_cluster_fan_out() -> StreamConfig {
    stream(
        "s",
        vec![
            app("producer", None, None, Some("a/in")),
            app("router", Some("g-router"), Some("a/in"), Some("b/out")),
            app("sink", Some("g-sink"), Some("b/out"), None),
            app("audit", Some("g-audit"), Some("b/out"), None),
        ],
    )
}

fn trace<'a>(kind: Kind, app: &'a str, location: &'a str, group: Option<&'a str>) -> Trace<'a> {
    Trace {
        id: Cow::Borrowed("m1"),
        stream: Cow::Borrowed("s"),
        kind,
        location: Cow::Borrowed(location),
        partition: 0,
        offset: 0,
        app: Cow::Borrowed(app),
        group: group.map(Cow::Borrowed),
        ts: 0,
    }
}

#[test]
fn interns_names_once_across_streams() {
    let a = stream("a", vec![app("p", None, None, Some("c/t"))]);
    let b = stream(
        "b",
        vec![
            app("p", None, None, Some("c/t")),
            app("q", Some("g"), Some("c/t"), None),
        ],
    );
    let lineage = Lineage::compile(&[a, b]).unwrap();
    let ta = lineage.stream(StreamId(0)).unwrap();
    let tb = lineage.stream(StreamId(1)).unwrap();
    assert_eq!(
        ta.locations()[0].id,
        tb.locations()[0].id,
        "one global id per location"
    );
    assert_eq!(ta.apps()[0].id, tb.apps()[0].id);
    assert_eq!(lineage.location_name(ta.locations()[0].id), Some("c/t"));
    assert_eq!(lineage.stream_id("b"), Some(StreamId(1)));
    assert_eq!(
        lineage.group_id("g").and_then(|g| lineage.group_name(g)),
        Some("g")
    );
}

#[test]
fn fan_out_expects_every_group_and_the_processor_write() {
    let lineage = Lineage::compile(&[two_cluster_fan_out()]).unwrap();
    let plan = &lineage.streams()[0];
    let loc = |n| plan.location_ix(n).unwrap();
    let app = |n| plan.app_ix(n).unwrap();
    let expected = plan.expected_from(loc("a/in"), &[]);
    let mut want = vec![
        Expected::Received {
            app: app("router"),
            location: loc("a/in"),
        },
        Expected::Sent {
            app: app("router"),
            location: loc("b/out"),
        },
        Expected::Received {
            app: app("sink"),
            location: loc("b/out"),
        },
        Expected::Received {
            app: app("audit"),
            location: loc("b/out"),
        },
    ];
    want.sort_unstable();
    assert_eq!(expected, want);
}

#[test]
fn filter_prunes_only_that_processors_branch() {
    // a/in is read by two processors; `left` filters, `right` does not.
    let config = stream(
        "s",
        vec![
            app("producer", None, None, Some("a/in")),
            app("left", Some("g-left"), Some("a/in"), Some("a/left")),
            app("right", Some("g-right"), Some("a/in"), Some("a/right")),
            app("left-sink", Some("g-ls"), Some("a/left"), None),
            app("right-sink", Some("g-rs"), Some("a/right"), None),
        ],
    );
    let lineage = Lineage::compile(&[config]).unwrap();
    let plan = &lineage.streams()[0];
    let app = |n| plan.app_ix(n).unwrap();
    let expected = plan.expected_from(plan.location_ix("a/in").unwrap(), &[app("left")]);
    assert!(expected.contains(&Expected::Received {
        app: app("left"),
        location: plan.location_ix("a/in").unwrap()
    }));
    assert!(
        !expected
            .iter()
            .any(|e| matches!(e, Expected::Sent { app: a, .. } if *a == app("left")))
    );
    assert!(
        !expected
            .iter()
            .any(|e| matches!(e, Expected::Received { app: a, .. } if *a == app("left-sink")))
    );
    assert!(expected.contains(&Expected::Received {
        app: app("right-sink"),
        location: plan.location_ix("a/right").unwrap()
    }));
}

#[test]
fn chains_of_any_length_and_merges() {
    // Two producers merge into l0; a chain of four processors follows.
    let mut apps = vec![
        app("p1", None, None, Some("c/l0")),
        app("p2", None, None, Some("c/l0")),
    ];
    for i in 0..4 {
        let (r, w) = (format!("c/l{i}"), format!("c/l{}", i + 1));
        apps.push(app(
            &format!("x{i}"),
            Some(&format!("g{i}")),
            Some(&r),
            Some(&w),
        ));
    }
    apps.push(app("sink", Some("gs"), Some("c/l4"), None));
    let lineage = Lineage::compile(&[stream("s", apps)]).unwrap();
    let plan = &lineage.streams()[0];
    let l0 = plan.location_ix("c/l0").unwrap();
    assert_eq!(
        plan.location(l0).writers.len(),
        2,
        "merge: two writers of l0"
    );
    let expected = plan.expected_from(l0, &[]);
    assert_eq!(
        expected.len(),
        4 * 2 + 1,
        "four processors (received + sent) and the sink"
    );
    // A filter in the middle of the chain cuts everything after it.
    let cut = plan.expected_from(l0, &[plan.app_ix("x1").unwrap()]);
    assert_eq!(cut.len(), 3, "x0 received + sent, x1 received");
}

#[test]
fn resolves_traces_and_rejects_with_bounded_reasons() {
    let lineage = Lineage::compile(&[two_cluster_fan_out()]).unwrap();
    let ok = lineage
        .resolve(&trace(Kind::Received, "router", "a/in", Some("g-router")))
        .unwrap();
    assert_eq!(ok.kind, Kind::Received);
    assert_eq!(lineage.streams()[0].app(ok.app).name, "router");
    assert!(
        lineage
            .resolve(&trace(Kind::Sent, "router", "b/out", None))
            .is_ok()
    );
    assert!(
        lineage
            .resolve(&trace(Kind::Filtered, "router", "a/in", None))
            .is_ok()
    );

    let cases = [
        (
            trace(Kind::Sent, "nobody", "a/in", None),
            Rejection::UnknownApp,
        ),
        (
            trace(Kind::Sent, "router", "z/z", None),
            Rejection::UnknownLocation,
        ),
        (
            trace(Kind::Sent, "router", "a/in", None),
            Rejection::UnexpectedHop,
        ),
        (
            trace(Kind::Received, "router", "b/out", Some("g-router")),
            Rejection::UnexpectedHop,
        ),
        (
            trace(Kind::Received, "router", "a/in", None),
            Rejection::MissingGroup,
        ),
        (
            trace(Kind::Received, "router", "a/in", Some("g-sink")),
            Rejection::UnknownGroup,
        ),
    ];
    for (t, want) in cases {
        assert_eq!(lineage.resolve(&t), Err(want), "{t:?}");
    }
    let mut other = trace(Kind::Sent, "producer", "a/in", None);
    other.stream = Cow::Borrowed("nope");
    assert_eq!(lineage.resolve(&other), Err(Rejection::UnknownStream));
}

#[test]
fn hops_name_app_group_and_location() {
    let lineage = Lineage::compile(&[two_cluster_fan_out()]).unwrap();
    let plan = &lineage.streams()[0];
    let router = plan.app(plan.app_ix("router").unwrap());
    let read = plan.hop(router.read_hop.unwrap());
    let write = plan.hop(router.write_hop.unwrap());
    assert_eq!(
        (read.role, read.hop_ref.location.as_str()),
        (HopRole::Read, "a/in")
    );
    assert_eq!(
        (write.role, write.hop_ref.location.as_str()),
        (HopRole::Write, "b/out")
    );
    assert_eq!(write.hop_ref.group.as_deref(), Some("g-router"));
    let out = plan.location(plan.location_ix("b/out").unwrap());
    assert_eq!(out.gap_hop, router.write_hop);
    assert_eq!(plan.readers().len(), 3);
    assert_eq!(lineage.watched_groups().len(), 3);
}

#[test]
fn rejects_ambiguous_configs() {
    let dup_stream = Lineage::compile(&[two_cluster_fan_out(), two_cluster_fan_out()]);
    assert!(matches!(dup_stream, Err(LineageError::DuplicateStream(_))));
    let dup_app = stream(
        "s",
        vec![
            app("p", None, None, Some("c/a")),
            app("p", None, None, Some("c/b")),
        ],
    );
    assert!(matches!(
        Lineage::compile(&[dup_app]),
        Err(LineageError::DuplicateApp { .. })
    ));
    let shared = stream(
        "s",
        vec![
            app("x", Some("g"), Some("c/a"), None),
            app("y", Some("g"), Some("c/a"), None),
        ],
    );
    assert!(matches!(
        Lineage::compile(&[shared]),
        Err(LineageError::SharedGroup { .. })
    ));
    let no_group = stream("s", vec![app("x", None, Some("c/a"), None)]);
    assert!(matches!(
        Lineage::compile(&[no_group]),
        Err(LineageError::ReaderWithoutGroup { .. })
    ));
}

#[test]
fn timing_is_converted_to_positive_millis() {
    let mut t = timing();
    t.backoff = Duration::ZERO;
    let ms = TimingMs::from(&t);
    assert_eq!(ms.backoff, 1);
    assert_eq!(ms.first_check, 5_000);
    assert_eq!(ms.backoff_max, 8_000);
}
