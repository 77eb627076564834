//! The building blocks on their own: the log end table, the lag trend, the unread judge.

use super::super::end_table::{END_POINTS, EndTable, EndWentBack};
use super::super::input::FirstUnread;
use super::super::trend::Trend;
use super::super::unread::Unread;
use super::T0;

#[test]
fn interpolation_is_exact_for_a_steady_producer() {
    // 10 records per second, a point every 5 s: record k was appended at (k + 1) / 10 s.
    let mut table = EndTable::default();
    for i in 0..20 {
        table.push(i * 50, T0 + i * 5_000).unwrap();
    }
    for offset in [0, 1, 49, 50, 333, 899, 949] {
        assert_eq!(
            table.appended_at(offset),
            Some(T0 + (offset + 1) * 100),
            "offset {offset}"
        );
    }
    assert_eq!(
        table.appended_at(950),
        None,
        "not appended by the newest point"
    );
}

#[test]
fn an_offset_older_than_the_table_has_no_time() {
    let mut table = EndTable::default();
    table.push(100, T0).unwrap();
    table.push(150, T0 + 5_000).unwrap();
    assert_eq!(
        table.appended_at(99),
        None,
        "appended before the first point"
    );
    assert_eq!(table.appended_at(100), Some(T0 + 100));
}

#[test]
fn a_quiet_run_keeps_its_first_and_last_point() {
    let mut table = EndTable::default();
    table.push(10, T0).unwrap();
    for i in 1..=100 {
        table.push(10, T0 + i * 1_000).unwrap();
    }
    assert_eq!(table.points().len(), 2);
    table.push(12, T0 + 101_000).unwrap();
    // Offsets 10 and 11 arrived after the quiet run ended at T0 + 100 s.
    assert_eq!(table.appended_at(10), Some(T0 + 100_500));
    assert_eq!(table.appended_at(11), Some(T0 + 101_000));
}

#[test]
fn the_table_stays_bounded_and_dense_where_it_is_recent() {
    let mut table = EndTable::default();
    let rounds = 10_000;
    for i in 0..rounds {
        table.push(i * 10, T0 + i * 5_000).unwrap();
    }
    let points = table.points();
    assert_eq!(points.len(), END_POINTS);
    assert_eq!(points[0].at, T0, "the oldest point stays");
    let now = T0 + (rounds - 1) * 5_000;
    assert_eq!(points[END_POINTS - 1].at, now, "the newest point stays");
    // Recent offsets are interpolated within a few seconds, old ones within a few percent
    // of their age.
    for age_s in [10, 60, 600, 6_000, 40_000] {
        let appended = now - age_s * 1_000;
        let offset = (appended - T0) / 5_000 * 10;
        let estimate = table.appended_at(offset).expect("bracketed");
        let truth = T0 + offset / 10 * 5_000;
        let error = (estimate - truth).abs();
        assert!(
            error <= 5_000 + age_s * 1_000 / 10,
            "age {age_s} s: error {error} ms"
        );
    }
}

#[test]
fn an_end_that_goes_back_is_refused_and_time_that_goes_back_ignored() {
    let mut table = EndTable::default();
    table.push(100, T0).unwrap();
    assert_eq!(table.push(99, T0 + 1_000), Err(EndWentBack));
    table.push(120, T0 - 1_000).unwrap();
    assert_eq!(table.points().len(), 1, "a point from the past is dropped");
}

#[test]
fn the_trend_needs_growth_in_each_of_three_windows() {
    let window = 180_000;
    let mut trend = Trend::default();
    for (k, lag) in [0, 90_000, 180_000, 270_000].into_iter().enumerate() {
        assert!(!trend.growing(5_000), "not before the fourth sample");
        let at = T0 + k as i64 * window + 2_000;
        trend.observe(at, Some(lag), at - 1_000, window);
    }
    assert!(trend.growing(5_000));

    let mut flat = Trend::default();
    for (k, lag) in [1_000, 4_000, 3_000, 6_000].into_iter().enumerate() {
        let at = T0 + k as i64 * window;
        flat.observe(at, Some(lag), at, window);
    }
    assert!(!flat.growing(5_000), "noise within a poll is not growth");

    let mut stuck = Trend::default();
    for (k, lag) in [0, 90_000, 180_000, 270_000].into_iter().enumerate() {
        let at = T0 + k as i64 * window;
        let commit_seen_at = if k == 2 { T0 } else { at };
        stuck.observe(at, Some(lag), commit_seen_at, window);
    }
    assert!(
        !stuck.growing(5_000),
        "a window without a commit is not falling behind"
    );
}

#[test]
fn the_trend_samples_once_per_window_and_restarts_after_a_missed_one() {
    let window = 60_000;
    let mut trend = Trend::default();
    // Samples inside a window are ignored; unknown lags are skipped.
    for t in (0..=180_000).step_by(5_000) {
        let lag = if t == 60_000 { None } else { Some(t * 2) };
        trend.observe(T0 + t, lag, T0 + t, window);
    }
    assert!(trend.growing(5_000), "samples at 0, 65, 120, 180 s");
    // Nothing for two windows: the series starts again.
    trend.observe(T0 + 320_000, Some(1_000_000), T0 + 320_000, window);
    assert!(!trend.growing(5_000));
}

#[test]
fn unread_is_judged_from_the_fetch_that_matches_the_commit() {
    let record = |from, offset| FirstUnread::Record {
        from,
        offset,
        timestamp: T0,
    };
    let none_before = |from, end| FirstUnread::NoneBefore { from, end };
    assert_eq!(Unread::judge(10, 10, None), Unread::Nothing);
    assert_eq!(Unread::judge(12, 10, None), Unread::Nothing);
    assert_eq!(
        Unread::judge(10, 11, None),
        Unread::MaybeMarker { first: 10 }
    );
    assert_eq!(Unread::judge(10, 12, None), Unread::Offsets { first: 10 });
    assert_eq!(
        Unread::judge(10, 12, Some(record(10, 11))),
        Unread::Record {
            offset: 11,
            timestamp: T0
        }
    );
    assert_eq!(
        Unread::judge(10, 12, Some(record(9, 11))),
        Unread::Offsets { first: 10 },
        "a cached answer for another commit says nothing"
    );
    assert_eq!(
        Unread::judge(10, 12, Some(record(10, 12))),
        Unread::Offsets { first: 10 },
        "a record past the log end read means the log end read is older"
    );
    assert_eq!(
        Unread::judge(10, 11, Some(none_before(10, 11))),
        Unread::MarkersOnly
    );
    assert_eq!(
        Unread::judge(10, 14, Some(none_before(10, 11))),
        Unread::Offsets { first: 11 },
        "appended since the fetch"
    );
    assert_eq!(
        Unread::judge(10, 12, Some(none_before(10, 11))),
        Unread::MaybeMarker { first: 11 }
    );
    assert!(Unread::judge(10, 12, None).is_backlog());
    assert!(!Unread::judge(10, 11, None).is_backlog());
    assert_eq!(Unread::MarkersOnly.lag_records(11), 0);
    assert_eq!(Unread::Offsets { first: 10 }.lag_records(14), 4);
}
