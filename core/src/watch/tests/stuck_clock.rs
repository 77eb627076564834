//! The stuck clock: when it starts, when it declares, when it clears, and everything that
//! must never be called stuck.

use super::super::input::GroupState;
use super::super::state::ConsumerState;
use super::*;

/// Polls until partition 0 is stuck (at most `limit` ms); returns the round's time.
fn first_stuck_round(h: &mut Harness, limit: Millis, produce_per_poll: usize) -> Option<Millis> {
    let start = h.now;
    while h.now - start < limit {
        h.produce(0, produce_per_poll);
        h.poll_after(POLL);
        if h.state() == ConsumerState::Stuck {
            return Some(h.now);
        }
    }
    None
}

#[test]
fn stuck_is_declared_within_a_window_and_one_round_of_the_last_commit() {
    let mut h = Harness::new();
    h.produce(0, 50);
    h.round();
    // The consumer keeps up for a while, then stops committing at 120.
    for _ in 0..10 {
        h.produce(0, 50);
        let committed = h.parts[0].committed.unwrap();
        h.commit(0, committed + 40);
        h.poll_after(POLL);
    }
    let last_commit_seen = h.now;
    assert_eq!(h.p(0).last_commit_at, Some(last_commit_seen));
    let stuck_at = first_stuck_round(&mut h, 4 * WINDOW, 50).expect("declared");
    let delay = stuck_at - last_commit_seen;
    assert!(
        (WINDOW..WINDOW + POLL).contains(&delay),
        "declared {delay} ms after the last commit"
    );
    assert_eq!(h.p(0).stuck_since, Some(last_commit_seen));
    assert_eq!(h.group().summary.stuck_since, Some(last_commit_seen));
}

#[test]
fn the_clock_starts_when_data_first_appears_beyond_an_old_commit() {
    let mut h = Harness::new();
    h.produce(0, 5);
    h.catch_up(0);
    assert_eq!(
        h.polls_for(10 * WINDOW).iter().max(),
        Some(&ConsumerState::Ok)
    );
    h.produce(0, 3);
    h.poll_after(POLL);
    let data_seen = h.now;
    let stuck_at = first_stuck_round(&mut h, 3 * WINDOW, 0).expect("declared");
    assert_eq!(
        stuck_at - data_seen,
        WINDOW,
        "a full window from the data, not the commit"
    );
    assert_eq!(h.p(0).stuck_since, Some(data_seen));
}

#[test]
fn the_first_advance_clears_stuck() {
    let mut h = Harness::new();
    h.produce(0, 20);
    h.round();
    first_stuck_round(&mut h, 2 * WINDOW, 1).expect("declared");
    h.commit(0, 1);
    h.poll_after(POLL);
    let advanced = h.now;
    assert_ne!(h.state(), ConsumerState::Stuck);
    assert_eq!(h.p(0).stuck_since, None);
    assert_eq!(h.p(0).last_commit_at, Some(advanced));
    // And it takes a whole new window to be stuck again.
    let again = first_stuck_round(&mut h, 2 * WINDOW, 1).expect("declared again");
    assert_eq!(again - advanced, WINDOW);
    assert_eq!(h.p(0).stuck_since, Some(advanced));
}

#[test]
fn an_idle_partition_is_never_stuck() {
    let mut h = Harness::new();
    h.produce(0, 100);
    h.catch_up(0);
    let states = h.polls_for(10 * WINDOW);
    assert!(states.iter().all(|s| *s == ConsumerState::Ok), "{states:?}");
}

#[test]
fn a_partition_that_wakes_up_after_idling_gets_a_full_window() {
    let mut h = Harness::new();
    h.catch_up(0);
    h.polls_for(10 * WINDOW);
    h.produce(0, 1);
    // Read and committed after 0.8 of a window.
    let mut states = h.polls_for(WINDOW * 8 / 10);
    h.catch_up(0);
    states.extend(h.polls_for(2 * WINDOW));
    assert!(!states.contains(&ConsumerState::Stuck), "{states:?}");
    assert_eq!(h.state(), ConsumerState::Ok);
}

#[test]
fn a_slow_consumer_that_commits_every_window_is_never_stuck() {
    let mut h = Harness::new();
    h.round();
    let mut states = Vec::new();
    for _ in 0..10 {
        h.produce(0, 1_000);
        states.extend(h.polls_for(WINDOW - POLL));
        let committed = h.parts[0].committed.unwrap();
        h.commit(0, committed + 10);
        states.extend(h.polls_for(POLL));
    }
    assert!(!states.contains(&ConsumerState::Stuck), "{states:?}");
    assert_eq!(
        h.state(),
        ConsumerState::FallingBehind,
        "further behind every window, but moving"
    );
}

#[test]
fn transaction_markers_alone_are_not_a_backlog() {
    for fetch in [true, false] {
        let mut h = Harness::new();
        h.fetch = fetch;
        // Exactly-once: each transaction is records then a commit marker; the consumer
        // commits the offset after the last record it read, the marker's.
        let mut states = Vec::new();
        for _ in 0..5 {
            h.produce(0, 4);
            let after_records = h.parts[0].log_end();
            h.marker(0);
            h.commit(0, after_records);
            states.extend(h.polls_for(POLL));
        }
        states.extend(h.polls_for(10 * WINDOW));
        assert!(
            states.iter().all(|s| *s == ConsumerState::Ok),
            "fetch {fetch}: {states:?}"
        );
        let expected_lag = if fetch { 0 } else { 1 };
        assert_eq!(h.p(0).lag_records, Some(expected_lag), "fetch {fetch}");
    }
}

#[test]
fn a_compacted_topic_whose_consumer_keeps_committing_is_never_stuck() {
    let mut h = Harness::new();
    h.round();
    let mut states = Vec::new();
    for round in 0..200 {
        h.produce(0, 20);
        // Compaction leaves holes; the fetch skips them like markers.
        let hole = h.parts[0].log_end() as usize - 20 + round % 7;
        h.parts[0].log[hole].marker = true;
        if round % 3 == 0 {
            let committed = h.parts[0].committed.unwrap();
            h.commit(0, committed + 45);
        }
        states.extend(h.polls_for(POLL));
    }
    assert!(!states.contains(&ConsumerState::Stuck), "{states:?}");
}

#[test]
fn a_rebalance_longer_than_the_window_is_not_stuck_and_restarts_the_clock() {
    let mut h = Harness::new();
    h.produce(0, 10);
    h.round();
    h.status = Some(status(GroupState::Rebalancing, 3));
    let states = h.polls_for(3 * WINDOW);
    assert_eq!(states[0], ConsumerState::Rebalancing);
    // The records age past max_lag meanwhile: lagging, never stuck.
    assert!(!states.contains(&ConsumerState::Stuck), "{states:?}");
    h.status = Some(stable());
    h.poll_after(POLL);
    let settled = h.now;
    assert_ne!(
        h.state(),
        ConsumerState::Stuck,
        "the new owner gets a full window"
    );
    let stuck_at = first_stuck_round(&mut h, 2 * WINDOW, 0).expect("declared");
    assert_eq!(stuck_at - settled, WINDOW);
}

#[test]
fn a_gap_in_the_data_restarts_the_clock() {
    for gap in [
        Failures {
            committed: true,
            ..Failures::default()
        },
        Failures {
            log_end: true,
            ..Failures::default()
        },
    ] {
        let mut h = Harness::new();
        h.produce(0, 10);
        h.round();
        h.polls_for(WINDOW / 2);
        h.part(0).fail = gap;
        let states = h.polls_for(WINDOW);
        assert!(
            states.iter().all(|s| *s == ConsumerState::Unknown),
            "{gap:?}: {states:?}"
        );
        h.part(0).fail = Failures::default();
        h.poll_after(POLL);
        let back = h.now;
        assert_ne!(h.state(), ConsumerState::Stuck, "{gap:?}: not at once");
        let stuck_at = first_stuck_round(&mut h, 2 * WINDOW, 0).expect("declared");
        assert_eq!(stuck_at - back, WINDOW, "{gap:?}");
    }
    // The same for the group's state.
    let mut h = Harness::new();
    h.produce(0, 10);
    h.round();
    h.polls_for(WINDOW / 2);
    h.status = None;
    let states = h.polls_for(WINDOW);
    assert!(!states.contains(&ConsumerState::Stuck), "{states:?}");
    h.status = Some(stable());
    h.poll_after(POLL);
    assert_ne!(h.state(), ConsumerState::Stuck);
}

#[test]
fn an_empty_group_is_stuck_after_a_window_and_empty_with_backlog_before() {
    let mut h = Harness::new();
    h.produce(0, 10);
    h.round();
    h.status = Some(status(GroupState::Empty, 0));
    let states = h.polls_for(WINDOW);
    assert_eq!(states[0], ConsumerState::EmptyGroupWithBacklog);
    assert_eq!(states.last(), Some(&ConsumerState::Stuck));
    assert_eq!(h.p(0).stuck_since, Some(T0));
}
