//! What the evaluator keeps compact: the history's runs give back every round's point, and a
//! partition's log (its end table, whether it went back) is kept once for all its groups.

use super::super::history::HistoryPoint;
use super::super::input::Round;
use super::super::state::{ConsumerState, LagMethod};
use super::{Harness, POLL, WINDOW};

/// The point a round's report gives partition `i`.
fn point_of(h: &Harness, i: usize) -> HistoryPoint {
    let p = h.p(i);
    HistoryPoint {
        at: h.now,
        state: p.state,
        committed: p.committed.get(),
        log_end: p.log_end.get(),
        lag_records: p.lag_records.get(),
        lag_seconds: p.lag_seconds.get(),
    }
}

#[test]
fn the_history_gives_back_the_point_of_every_round_it_keeps() {
    for kept in [1, 3, 8, 500] {
        let mut h = Harness::new();
        h.settings.history_points = kept;
        h.parts.push(super::Part::new("t", 1));
        let mut seen: Vec<Vec<HistoryPoint>> = vec![Vec::new(), Vec::new()];
        for round in 0..120 {
            // Partition 0 alternates: busy and committing, idle, stopped (its lag grows
            // every round); partition 1 is written once and never read.
            match (round / 20) % 3 {
                0 => {
                    h.produce(0, 3);
                    let end = h.parts[0].log_end();
                    h.commit(0, end - 2);
                }
                1 => {}
                _ => h.produce(0, 1),
            }
            if round == 5 {
                h.produce(1, 4);
            }
            h.fetch = round % 7 != 3;
            h.part(1).fail.log_end = round % 11 == 4;
            h.poll_after(POLL);
            for (i, points) in seen.iter_mut().enumerate() {
                points.push(point_of(&h, i));
            }
        }
        let history = h.evaluator.history("c", "g").expect("the group's history");
        for (i, points) in seen.iter().enumerate() {
            let want = &points[points.len().saturating_sub(kept)..];
            assert_eq!(
                history.partitions[i].points, want,
                "partition {i}, {kept} points kept"
            );
        }
    }
}

#[test]
fn a_partition_that_does_not_change_is_kept_as_one_run_whatever_the_rounds() {
    let mut h = Harness::new();
    h.settings.history_points = 1_000;
    h.produce(0, 10);
    h.commit(0, 4);
    h.poll_after(POLL);
    // Stopped: state and offsets stay, the lag in time grows with the clock.
    let polls = h.polls_for(2 * WINDOW);
    assert_eq!(polls.last(), Some(&ConsumerState::Stuck));
    let points = &h.evaluator.history("c", "g").unwrap().partitions[0].points;
    assert_eq!(points.len(), 1 + (2 * WINDOW / POLL) as usize);
    let last = points.last().unwrap();
    assert_eq!(
        last.lag_seconds,
        h.p(0).lag_seconds,
        "the lag grew with the clock"
    );
    assert!(last.lag_seconds > points[0].lag_seconds);
}

/// A round with the harness's group and a second group `g2` on the same partitions,
/// committed at `g2_committed` on partition 0.
fn two_groups(h: &Harness, g2_committed: i64) -> Round {
    let first = h.observation();
    let mut second = first.clone();
    second.group = "g2".into();
    if let Some(mut c) = second.partitions[0].committed.get() {
        c.value = Some(g2_committed);
        second.partitions[0].committed = Some(c).into();
    }
    second.partitions[0].first_unread = None;
    Round {
        now: h.now,
        groups: vec![first, second],
    }
}

#[test]
fn groups_on_one_partition_share_its_log() {
    let mut h = Harness::new();
    // The first group alone, while the log grows: its partition's end table fills.
    for _ in 0..10 {
        h.produce(0, 5);
        h.poll_after(POLL);
    }
    // A second group joins, 20 records behind: the log's table already brackets its first
    // unread offset, so its lag in time is known at its first round.
    h.now += POLL;
    let report = h.evaluator.evaluate(&two_groups(&h, 30));
    let joined = &report.groups[1].partitions[0];
    assert_eq!(joined.lag_method, LagMethod::Interpolated);
    let lag = joined.lag_seconds.get().expect("a lag in time");
    assert!((lag - 20.0).abs() <= 5.0, "about four polls old: {lag}");

    // The log goes back (topic recreated): said once, and both groups start again.
    h.parts[0].log.truncate(2);
    h.now += POLL;
    let report = h.evaluator.evaluate(&two_groups(&h, 1));
    assert_eq!(report.logs_went_back, [("t".to_owned(), 0)]);
    for group in ["g", "g2"] {
        let history = h.evaluator.history("c", group).unwrap();
        assert_eq!(
            history.partitions[0].points.len(),
            1,
            "{group} started again"
        );
    }
    h.now += POLL;
    let report = h.evaluator.evaluate(&two_groups(&h, 1));
    assert!(report.logs_went_back.is_empty());
}
