//! What a diff says about streams, apps, settings and the groups to poll.

use std::time::Duration;

use super::*;
use crate::config::StreamConfig;
use crate::lineage::tests::{app, stream};

fn lineage(streams: Vec<StreamConfig>) -> Lineage {
    Lineage::compile(&streams).expect("a valid lineage")
}

/// producer → c/t1 → enricher (g1) → c/t2 → sink (g2).
fn chain() -> StreamConfig {
    stream(
        "orders",
        vec![
            app("api", None, None, Some("c/t1")),
            app("enricher", Some("g1"), Some("c/t1"), Some("c/t2")),
            app("sink", Some("g2"), Some("c/t2"), None),
        ],
    )
}

fn with_app(mut s: StreamConfig, extra: crate::config::AppConfig) -> StreamConfig {
    s.apps.push(extra);
    s
}

#[test]
fn the_same_lineage_has_no_diff() {
    let diff = LineageDiff::between(&lineage(vec![chain()]), &lineage(vec![chain()]));
    assert!(diff.is_empty(), "{diff:?}");
    assert_eq!(diff.summary(), "no change");
    assert!(diff.groups_added.is_empty() && diff.groups_removed.is_empty());
}

#[test]
fn streams_added_and_removed_by_name() {
    let other = stream("clicks", vec![app("web", None, None, Some("c/clicks"))]);
    let old = lineage(vec![chain()]);
    let new = lineage(vec![other]);
    let diff = LineageDiff::between(&old, &new);
    assert_eq!(diff.added_streams, ["clicks"]);
    assert_eq!(diff.removed_streams, ["orders"]);
    assert!(diff.changed_streams.is_empty());
    assert_eq!(
        diff.groups_removed,
        [
            ("g1".to_owned(), "c/t1".to_owned()),
            ("g2".to_owned(), "c/t2".to_owned())
        ]
    );
    assert_eq!(diff.summary(), "+stream clicks; -stream orders");
}

#[test]
fn a_hop_added_is_an_app_added_and_a_group_to_poll() {
    let old = lineage(vec![chain()]);
    let new = lineage(vec![with_app(
        chain(),
        app("audit", Some("g3"), Some("c/t2"), None),
    )]);
    let diff = LineageDiff::between(&old, &new);
    let change = diff.stream("orders").expect("orders changed");
    assert_eq!(change.apps_added, ["audit"]);
    assert!(change.apps_removed.is_empty());
    assert!(!change.settings_changed);
    assert!(change.keeps("sink") && !change.keeps("audit"));
    assert_eq!(diff.groups_added, [("g3".to_owned(), "c/t2".to_owned())]);
    assert!(diff.groups_removed.is_empty());
    assert_eq!(diff.summary(), "orders: +app audit");
    assert!(!old.streams()[0].same_shape(&new.streams()[0]));
}

#[test]
fn an_app_that_reads_elsewhere_or_as_another_group_is_removed_and_added() {
    let mut moved = chain();
    moved.apps[2] = app("sink", Some("g2-new"), Some("c/t2"), None);
    let diff = LineageDiff::between(&lineage(vec![chain()]), &lineage(vec![moved]));
    let change = diff.stream("orders").expect("changed");
    assert_eq!(change.apps_added, ["sink"]);
    assert_eq!(change.apps_removed, ["sink"]);
    assert!(!change.keeps("sink") && !change.still_has("sink"));
    assert!(change.keeps("enricher") && change.still_has("enricher"));
    assert_eq!(
        diff.groups_added,
        [("g2-new".to_owned(), "c/t2".to_owned())]
    );
    assert_eq!(diff.groups_removed, [("g2".to_owned(), "c/t2".to_owned())]);
    assert_eq!(diff.summary(), "orders: +app sink, -app sink");
}

#[test]
fn timing_alone_changes_settings_not_shape() {
    let mut slower = chain();
    slower.timing.max_wait = Duration::from_secs(999);
    let (old, new) = (lineage(vec![chain()]), lineage(vec![slower]));
    let diff = LineageDiff::between(&old, &new);
    let change = diff.stream("orders").expect("changed");
    assert!(change.settings_changed);
    assert!(change.apps_added.is_empty() && change.apps_removed.is_empty());
    assert!(old.streams()[0].same_shape(&new.streams()[0]));
    assert_eq!(diff.summary(), "orders: settings");
}

#[test]
fn apps_reordered_are_the_same_apps_but_not_the_same_shape() {
    let mut reordered = chain();
    reordered.apps.swap(1, 2);
    let (old, new) = (lineage(vec![chain()]), lineage(vec![reordered]));
    let diff = LineageDiff::between(&old, &new);
    assert!(diff.is_empty(), "{diff:?}");
    // Slots are numbered in config order, so messages must be moved slot by slot.
    assert!(!old.streams()[0].same_shape(&new.streams()[0]));
}
