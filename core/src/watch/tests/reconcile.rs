//! Taking over: the book of an instance that stood by, squared with what the incidents topic
//! shows, so that no episode is opened twice and every published open gets its close.
//!
//! The harness plays the instance taking over: its evaluator and book saw every round while
//! it stood by, and its records (`h.incidents`) were not published. What the previous active
//! instance published is written out by hand.

use super::super::incident::{Incident, IncidentKind, Phase, PublishedIncidents, Reconciliation};
use super::*;

/// A group whose consumer read 100 records, committed, and stopped, while 10 records a poll
/// keep coming; returns after two windows, when the harness's own book holds the incident.
fn stuck_for_two_windows(h: &mut Harness) {
    h.produce(0, 100);
    h.catch_up(0);
    h.round();
    for _ in 0..2 * WINDOW / POLL {
        h.produce(0, 10);
        h.poll_after(POLL);
    }
    assert_eq!(h.state(), ConsumerState::Stuck);
}

/// The open record the previous active instance published: the standby's own, made a little
/// earlier (the two instances poll at different moments).
fn published_open(h: &Harness) -> Incident {
    let mut open = h
        .incidents
        .iter()
        .find(|i| i.phase == Phase::Open)
        .expect("the standby concluded an open")
        .clone();
    open.since -= 1_500;
    open.at -= 1_500;
    open
}

fn published(records: &[Incident]) -> PublishedIncidents {
    let mut published = PublishedIncidents::new();
    for record in records {
        published.apply(record.clone());
    }
    published
}

/// The records the harness made after `before` of them: what the new active one publishes.
fn new_records(h: &Harness, before: usize) -> Vec<(Phase, IncidentKind, Millis)> {
    h.incidents[before..]
        .iter()
        .map(|i| (i.phase, i.kind, i.since))
        .collect()
}

fn everywhere(_: &str) -> bool {
    true
}

#[test]
fn an_open_both_sides_know_is_kept_and_closed_once_with_the_published_since() {
    let mut h = Harness::new();
    stuck_for_two_windows(&mut h);
    let open = published_open(&h);
    let outcome = h
        .book
        .reconcile(&published(std::slice::from_ref(&open)), everywhere);
    assert_eq!(
        outcome,
        Reconciliation {
            kept: 1,
            ..Reconciliation::default()
        }
    );
    let before = h.incidents.len();
    for _ in 0..5 {
        h.produce(0, 10);
        h.poll_after(POLL);
    }
    assert_eq!(new_records(&h, before), [], "no second open");
    h.catch_up(0);
    h.poll_after(POLL);
    assert_eq!(
        new_records(&h, before),
        [(Phase::Close, IncidentKind::Stuck, open.since)],
        "the close names the published episode"
    );
}

#[test]
fn a_published_open_the_standby_never_saw_is_adopted_not_reopened() {
    // The standby started after the incident opened: its evaluator has not run a window yet.
    let mut first = Harness::new();
    stuck_for_two_windows(&mut first);
    let open = published_open(&first);

    let mut h = Harness::new();
    h.now = first.now;
    h.parts = first.parts.clone();
    h.round();
    assert!(h.book.open().is_empty());
    let outcome = h
        .book
        .reconcile(&published(std::slice::from_ref(&open)), everywhere);
    assert_eq!(outcome.adopted, 1);
    assert_eq!(h.book.open()[0].partitions[0].committed, Some(100));
    let before = h.incidents.len();
    for _ in 0..2 * WINDOW / POLL {
        h.produce(0, 10);
        h.poll_after(POLL);
    }
    assert_eq!(h.state(), ConsumerState::Stuck, "stuck on its own clock");
    assert_eq!(new_records(&h, before), [], "still the published incident");
    h.commit(0, 150);
    h.poll_after(POLL);
    assert_eq!(
        new_records(&h, before),
        [(Phase::Close, IncidentKind::Stuck, open.since)]
    );
}

#[test]
fn the_close_the_last_active_instance_did_not_publish_goes_out_at_the_next_round() {
    let mut h = Harness::new();
    stuck_for_two_windows(&mut h);
    let open = published_open(&h);
    // The consumer resumed while nobody was active: the standby's book closed it unpublished.
    h.catch_up(0);
    h.poll_after(POLL);
    assert!(h.book.open().is_empty());
    let outcome = h
        .book
        .reconcile(&published(std::slice::from_ref(&open)), everywhere);
    assert_eq!(outcome.adopted, 1);
    let before = h.incidents.len();
    h.poll_after(POLL);
    assert_eq!(
        new_records(&h, before),
        [(Phase::Close, IncidentKind::Stuck, open.since)]
    );
    h.poll_after(POLL);
    assert_eq!(new_records(&h, before).len(), 1, "one close");
}

#[test]
fn an_open_never_published_is_opened_at_the_next_round() {
    let mut h = Harness::new();
    stuck_for_two_windows(&mut h);
    let since = h.p(0).stuck_since.get().expect("stuck");
    let outcome = h.book.reconcile(&PublishedIncidents::new(), everywhere);
    assert_eq!(outcome.dropped, 1);
    let before = h.incidents.len();
    h.produce(0, 10);
    h.poll_after(POLL);
    assert_eq!(
        new_records(&h, before),
        [(Phase::Open, IncidentKind::Stuck, since)],
        "the episode goes out once, from its own stuck clock"
    );
    h.produce(0, 10);
    h.poll_after(POLL);
    assert_eq!(new_records(&h, before).len(), 1, "no repeat");
}

#[test]
fn an_episode_already_closed_on_the_topic_is_not_reopened() {
    let mut h = Harness::new();
    stuck_for_two_windows(&mut h);
    let open = published_open(&h);
    let mut close = open.clone();
    close.phase = Phase::Close;
    close.at += POLL;
    // The last active instance saw the consumer move; this one has not polled since.
    h.catch_up(0);
    let outcome = h.book.reconcile(&published(&[open, close]), everywhere);
    assert_eq!(outcome.dropped, 1);
    let before = h.incidents.len();
    for _ in 0..3 {
        h.poll_after(POLL);
    }
    assert_eq!(new_records(&h, before), [], "neither an open nor a close");
}

#[test]
fn incidents_of_clusters_this_instance_does_not_watch_are_left_alone() {
    let mut h = Harness::new();
    stuck_for_two_windows(&mut h);
    let mut elsewhere = published_open(&h);
    elsewhere.cluster = "other".into();
    let outcome = h
        .book
        .reconcile(&published(&[elsewhere]), |cluster| cluster == "c");
    assert_eq!(
        outcome,
        Reconciliation {
            dropped: 1,
            foreign: 1,
            ..Reconciliation::default()
        }
    );
    assert!(h.book.open().is_empty());
}

#[test]
fn the_topic_folds_to_the_last_episode_of_each_group() {
    let mut h = Harness::new();
    stuck_for_two_windows(&mut h);
    let first = published_open(&h);
    let mut repeat = first.clone();
    repeat.since += 10_000;
    let mut close = first.clone();
    close.phase = Phase::Close;
    let mut second = first.clone();
    second.since += 60_000;
    let mut other = first.clone();
    other.group = "g2".into();

    let p = published(&[first.clone(), repeat]);
    let sinces: Vec<Millis> = p.open().map(|i| i.since).collect();
    assert_eq!(sinces, [first.since], "a repeated open keeps the first");
    let p = published(&[first.clone(), close.clone(), second.clone(), other]);
    let open: Vec<(&str, Millis)> = p.open().map(|i| (i.group.as_str(), i.since)).collect();
    assert_eq!(open, [("g", second.since), ("g2", first.since)]);
    assert_eq!(p.records(), 4);
    let p = published(&[first, close]);
    assert_eq!(p.open().count(), 0);
}
