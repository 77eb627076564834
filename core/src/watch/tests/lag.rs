//! Lag in time: from the first unread record, interpolated, unknown; odd timestamps.

use super::super::state::{ConsumerState, LagMethod};
use super::*;

#[test]
fn lag_is_now_minus_the_first_unread_records_timestamp() {
    let mut h = Harness::new();
    h.produce_at(0, T0 - 42_000);
    h.produce_at(0, T0 - 1_000);
    h.round();
    assert_eq!(h.p(0).lag_seconds, Some(42.0));
    assert_eq!(h.p(0).lag_method, LagMethod::FirstUnreadRecord);
    h.commit(0, 1);
    h.poll_after(POLL);
    assert_eq!(h.p(0).lag_seconds, Some(6.0));
}

#[test]
fn without_the_fetch_lag_is_interpolated_from_the_log_end_table() {
    let mut h = Harness::new();
    h.fetch = false;
    h.round();
    // 10 records a second, polled every 5 s; the consumer reads nothing for 20 s.
    for _ in 0..4 {
        h.now += POLL;
        h.produce(0, 50);
        h.round();
    }
    let p = h.p(0);
    assert_eq!(p.lag_method, LagMethod::Interpolated);
    assert_eq!(p.lag_records, Some(200));
    // Offset 0 arrived in the first 5 s after T0: interpolated at T0 + 0.1 s.
    assert_eq!(p.lag_seconds, Some(19.9));
}

#[test]
fn a_backlog_older_than_every_point_has_no_known_age_and_counts_as_lagging() {
    let mut h = Harness::new();
    h.fetch = false;
    h.produce(0, 100);
    h.round();
    let p = h.p(0);
    assert_eq!(p.lag_method, LagMethod::Unknown);
    assert_eq!(p.lag_seconds, None);
    assert_eq!(p.lag_records, Some(100));
    assert_eq!(p.state, ConsumerState::Lagging, "not shown to be young");
}

#[test]
fn a_record_without_a_timestamp_falls_back_to_interpolation_and_counts_once() {
    let mut h = Harness::new();
    h.round();
    h.produce_at(0, -1);
    h.produce(0, 9);
    for _ in 0..5 {
        h.poll_after(POLL);
        assert_eq!(h.p(0).lag_method, LagMethod::Interpolated);
    }
    // Appended between T0 and T0 + 5 s, first of ten: at T0 + 0.5 s; now is T0 + 25 s.
    assert_eq!(h.p(0).lag_seconds, Some(24.5));
    assert_eq!(h.timestamps.missing, 1, "the same record, seen every round");
    assert_eq!(h.timestamps.future, 0);
}

#[test]
fn a_record_from_the_future_is_clamped_to_now_and_counts_once() {
    let mut h = Harness::new();
    h.produce_at(0, T0 + 3_600_000);
    h.produce(0, 1);
    for _ in 0..3 {
        h.poll_after(POLL);
        assert_eq!(h.p(0).lag_seconds, Some(0.0));
        assert_eq!(h.p(0).lag_method, LagMethod::FirstUnreadRecord);
    }
    assert_eq!(h.timestamps.future, 1);
    // The next record is another one to count.
    h.commit(0, 1);
    h.part(0).log[1].ts = h.now + 1;
    h.poll_after(0);
    assert_eq!(h.timestamps.future, 2);
}

#[test]
fn a_fetch_that_found_only_markers_holds_until_the_log_grows() {
    let mut h = Harness::new();
    h.produce(0, 3);
    h.marker(0);
    h.commit(0, 3);
    h.round();
    assert_eq!(h.p(0).lag_records, Some(0));
    assert_eq!(h.p(0).lag_method, LagMethod::CaughtUp);
    // Records arrive after the fetch's end; the shell has not fetched again yet.
    let cached = h.observation().partitions[0].first_unread.clone();
    h.produce(0, 5);
    h.now += POLL;
    let mut obs = h.observation();
    obs.partitions[0].first_unread = cached;
    let report = h.evaluator.evaluate(&Round {
        now: h.now,
        groups: vec![obs],
    });
    let p = &report.groups[0].partitions[0];
    assert_eq!(p.lag_records, Some(5), "from where the fetch stopped");
    assert_eq!(p.lag_method, LagMethod::Interpolated);
}
