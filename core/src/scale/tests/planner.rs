//! The planner's guards: no recommendation without enough fresh data or a measured rate,
//! and a cooldown between changes.

use std::time::Duration;

use super::super::{Planner, Reason, ScaleSample};
use super::{sample, settings};

/// Steady 1000 records/s, two members at 300 records/s each, `rounds` rounds every 2 s.
fn lagging_group(planner: &mut Planner, rounds: u32) -> super::super::Advice {
    let s = settings();
    let mut advice = None;
    for i in 0..rounds {
        let t = f64::from(i) * 2.0;
        let end = (1000.0 * t) as i64 + 20_000;
        let committed = (600.0 * t) as i64;
        advice = Some(planner.observe("a", "g", &s, sample(t, end, committed, 2)));
    }
    advice.unwrap()
}

#[test]
fn fewer_than_k_samples_recommend_nothing() {
    let mut planner = Planner::new();
    let advice = lagging_group(&mut planner, 10);
    assert_eq!(advice.reason, Reason::TooFewSamples, "{advice:?}");
    assert_eq!(advice.recommendation, None);
    assert!(advice.detail.contains("9 rate points") && advice.detail.contains("10 needed"));
    let advice = lagging_group(&mut Planner::new(), 11);
    assert_eq!(advice.reason, Reason::Planned, "{advice:?}");
}

#[test]
fn stale_data_recommends_nothing() {
    let mut planner = Planner::new();
    lagging_group(&mut planner, 20);
    // A round whose log end could not be read, 30 s after the last one that could.
    let unread = ScaleSample {
        log_end: None,
        ..sample(68.0, 0, 0, 2)
    };
    let advice = planner.observe("a", "g", &settings(), unread);
    assert_eq!(advice.reason, Reason::Stale, "{advice:?}");
    assert_eq!(advice.recommendation, None);
    assert!(advice.detail.contains("30.0 s old"), "{}", advice.detail);
}

#[test]
fn a_group_that_never_lagged_has_no_instance_rate() {
    let mut planner = Planner::new();
    let s = settings();
    let mut advice = None;
    for i in 0..20 {
        let t = f64::from(i) * 2.0;
        let end = (1000.0 * t) as i64;
        // Caught up every round: no interval tells what an instance can do.
        advice = Some(planner.observe("a", "g", &s, sample(t, end, end, 2)));
    }
    let advice = advice.unwrap();
    assert_eq!(advice.reason, Reason::RateUnknown, "{advice:?}");
    assert_eq!(
        (advice.recommendation, advice.per_instance_rate),
        (None, None)
    );
    assert!(
        advice.fit.is_some() && advice.forecast.is_some(),
        "the forecast is still shown"
    );
}

#[test]
fn a_stuck_group_is_not_sized() {
    let mut planner = Planner::new();
    let s = settings();
    let mut advice = None;
    for i in 0..20 {
        let t = f64::from(i) * 2.0;
        advice = Some(planner.observe("a", "g", &s, sample(t, (1000.0 * t) as i64 + 5_000, 0, 2)));
    }
    assert_eq!(advice.unwrap().reason, Reason::NotConsuming);
}

#[test]
fn intervals_with_a_membership_change_do_not_measure_the_rate() {
    let mut planner = Planner::new();
    let s = settings();
    let mut advice = None;
    for i in 0..20u32 {
        let t = f64::from(i) * 2.0;
        let members = 1 + i % 2; // changes every round
        let end = (1000.0 * t) as i64 + 20_000;
        advice = Some(planner.observe("a", "g", &s, sample(t, end, (300.0 * t) as i64, members)));
    }
    assert_eq!(advice.unwrap().reason, Reason::RateUnknown);
}

#[test]
fn a_changed_recommendation_waits_for_the_cooldown() {
    let mut s = settings();
    s.cooldown = Duration::from_secs(10);
    let mut planner = Planner::new();
    let mut timeline = Vec::new();
    let mut end = 20_000i64;
    let mut committed = 0i64;
    for i in 0..40u32 {
        let t = f64::from(i) * 2.0;
        // Traffic steps up at 40 s and again at 44 s: the plan grows twice, 4 s apart.
        let rate = match t {
            t if t < 40.0 => 1000,
            t if t < 44.0 => 1500,
            _ => 2500,
        };
        if i > 0 {
            end += rate * 2;
            committed += 600 * 2;
        }
        let wide = ScaleSample {
            partitions: 64,
            ..sample(t, end, committed, 2)
        };
        let advice = planner.observe("a", "g", &s, wide);
        timeline.push((t, advice.recommendation, advice.computed, advice.reason));
    }
    let changes: Vec<f64> = timeline
        .windows(2)
        .filter(|w| w[0].1.is_some() && w[0].1 != w[1].1)
        .map(|w| w[1].0)
        .collect();
    assert!(!changes.is_empty(), "{timeline:?}");
    for pair in changes.windows(2) {
        assert!(
            pair[1] - pair[0] >= 10.0,
            "changes at {changes:?}: {timeline:?}"
        );
    }
    assert!(
        timeline
            .iter()
            .any(|(_, r, c, reason)| *reason == Reason::Cooldown && r != c),
        "the cooldown held a change back: {timeline:?}"
    );
    // Once the cooldown is over, the computed plan is given.
    let last = timeline.last().unwrap();
    assert_eq!(last.1, last.2, "{timeline:?}");
}

#[test]
fn a_log_end_that_goes_back_starts_the_series_again() {
    let mut planner = Planner::new();
    lagging_group(&mut planner, 20);
    let advice = planner.observe("a", "g", &settings(), sample(40.0, 100, 0, 2));
    assert_eq!(advice.reason, Reason::TooFewSamples);
    assert_eq!(advice.samples, 0);
}

/// A slow round followed at once by a quick one: the two samples are 25 ms apart, and the
/// rate between them would be mostly timing noise. The second is skipped.
#[test]
fn a_sample_too_close_to_the_previous_one_is_skipped() {
    let mut planner = Planner::new();
    let before = lagging_group(&mut planner, 20);
    let close = sample(38.025, 20_000 + 38_000 + 500, 22_800, 2);
    let advice = planner.observe("a", "g", &settings(), close);
    assert_eq!(advice.samples, before.samples, "{advice:?}");
    let rate_now = advice.forecast.unwrap().rate_now;
    assert!(
        (rate_now - 1000.0).abs() < 1.0,
        "no burst of 20000 records/s: {rate_now}"
    );
}

/// A sample is stamped with the time its log ends were read, not the round's end, and takes
/// its sums from the judged report.
#[test]
fn a_sample_from_a_round_is_stamped_with_its_log_end_reads() {
    use crate::watch::{
        Evaluator, GroupObservation, GroupSettings, GroupState, GroupStatus, Observed,
        PartitionObservation, Round,
    };
    let now = super::T0;
    fn read<T>(value: T, read_at: i64) -> Option<Observed<T>> {
        Some(Observed { value, read_at })
    }
    let partition = |p: i32, committed: i64, end: i64| PartitionObservation {
        topic: "t".into(),
        partition: p,
        committed: read(Some(committed), now - 900).into(),
        log_start: read(0, now - 700).into(),
        log_end: read(end, now - 700 + i64::from(p)).into(),
        first_unread: None,
    };
    let round = Round {
        now,
        groups: vec![GroupObservation {
            cluster: "a".into(),
            group: "g".into(),
            settings: GroupSettings::default(),
            status: read(
                GroupStatus {
                    state: GroupState::Stable,
                    members: 3,
                },
                now - 950,
            ),
            partitions: vec![partition(0, 10, 50), partition(1, 20, 70)],
        }],
    };
    let report = Evaluator::new().evaluate(&round);
    let sample = ScaleSample::from_round(now, &round.groups[0], &report.groups[0]);
    assert_eq!(sample.at, now - 699, "the latest log-end read");
    assert_eq!((sample.log_end, sample.committed), (Some(120), Some(30)));
    assert_eq!(
        (sample.lag_records, sample.members, sample.partitions),
        (Some(90), Some(3), 2)
    );
}
