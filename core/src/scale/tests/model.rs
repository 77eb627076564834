//! The recommendation, modelled: a group of the recommended size, which consumes nothing
//! during the relaunch and then at its measured rate, clears the lag within the target.

use proptest::prelude::*;

use super::super::{Fit, FitKind, Planner, Reason, forecast, instances, required};
use super::{sample, settings};
use crate::scale::ScaleSettings;

/// Seconds until the backlog is gone with `n` instances of `per_instance` records/s, traffic
/// `rate(t)`, nothing consumed during the relaunch; `None` within `limit` seconds.
fn clear_time(
    s: &ScaleSettings,
    lag: f64,
    rate: impl Fn(f64) -> f64,
    n: u32,
    per_instance: f64,
    limit: f64,
) -> Option<f64> {
    let dt = limit / 20_000.0;
    let mut backlog = lag;
    let mut t = 0.0;
    while t < limit {
        let consumed = if t >= s.relaunch.as_secs_f64() {
            f64::from(n) * per_instance
        } else {
            0.0
        };
        backlog += (rate(t) - consumed) * dt;
        t += dt;
        if backlog <= 0.0 {
            return Some(t);
        }
    }
    None
}

/// A whole run through the planner: steady traffic of 1000 records/s, two members that
/// manage 300 records/s each, a backlog that grows; the recommendation clears it in time.
#[test]
fn the_recommended_group_clears_the_lag_within_the_target() {
    let s = settings();
    let mut planner = Planner::new();
    let (rate, per_instance, members) = (1000.0, 300.0, 2u32);
    let mut advice = None;
    for i in 0..=30 {
        let t = f64::from(i) * 2.0;
        let end = (rate * t) as i64 + 20_000;
        let committed = (per_instance * f64::from(members) * t) as i64;
        advice = Some(planner.observe("a", "g", &s, sample(t, end, committed, members)));
    }
    let advice = advice.unwrap();
    assert_eq!(advice.reason, Reason::Planned, "{advice:?}");
    let measured = advice.per_instance_rate.unwrap();
    assert!((measured - per_instance).abs() < 1.0, "{measured}");
    let n = advice.recommendation.unwrap();
    let lag = advice.lag_records.unwrap() as f64;
    let target = s.target.as_secs_f64();
    let took = clear_time(&s, lag, |_| rate, n, per_instance, 2.0 * target)
        .unwrap_or_else(|| panic!("{n} instances do not clear {lag} records: {advice:?}"));
    assert!(took <= target * 1.1, "{n} instances took {took:.1} s");
    let short = clear_time(&s, lag, |_| rate, n - 1, per_instance, target * 0.9);
    assert!(short.is_none(), "{} instances would do: {short:?}", n - 1);
}

/// When the required rate is an exact multiple of one instance's, the group clears the lag
/// at the target itself, within ±10%.
#[test]
fn an_exact_plan_clears_at_the_target() {
    let s = settings();
    // (incoming + lag) / 55 s = 4 × 250 records/s.
    let rate = 500.0;
    let incoming = rate * 60.0;
    let lag = 4.0 * 250.0 * 55.0 - incoming;
    let required_rate = required(&s, incoming, lag);
    let (n, bound) = instances(&s, required_rate, 250.0, 8);
    assert_eq!((n, bound), (4, None));
    let took = clear_time(&s, lag, |_| rate, n, 250.0, 120.0).unwrap();
    assert!((took - 60.0).abs() <= 6.0, "cleared after {took:.2} s");
}

/// The backlog left at `at` seconds with `n` instances (negative: consumed ahead).
fn backlog_at(
    s: &ScaleSettings,
    lag: f64,
    rate: impl Fn(f64) -> f64,
    n: u32,
    per_instance: f64,
    at: f64,
) -> f64 {
    let steps = 20_000;
    let dt = at / f64::from(steps);
    let incoming: f64 = (0..steps)
        .map(|i| rate((f64::from(i) + 0.5) * dt) * dt)
        .sum();
    lag + incoming - f64::from(n) * per_instance * (at - s.relaunch.as_secs_f64()).max(0.0)
}

proptest! {
    /// Linear traffic (rising or falling), any backlog and instance rate: the recommended
    /// group has consumed the backlog and the traffic by the target, and one instance fewer
    /// has not (so the recommendation is the smallest that does), unless a bound set it.
    #[test]
    fn the_recommendation_is_the_smallest_group_that_clears_by_the_target(
        base in 50.0..5_000.0f64,
        slope in -5.0..20.0f64,
        lag in 0.0..500_000.0f64,
        per_instance in 20.0..2_000.0f64,
        target in 30u64..1_800,
        relaunch_share in 0.01..0.5f64,
    ) {
        let mut s = settings();
        s.target = std::time::Duration::from_secs(target);
        s.relaunch = std::time::Duration::from_secs_f64(target as f64 * relaunch_share);
        s.max_instances = 100_000;
        let traffic = Fit { kind: FitKind::Linear, coefficients: vec![base, slope], error: 0.0 };
        let rate = |t: f64| traffic.rate_at(t).max(0.0);
        let t = target as f64;
        let predicted = forecast(&traffic, t);
        let required_rate = required(&s, predicted.incoming_records, lag);
        let (n, bound) = instances(&s, required_rate, per_instance, 100_000);
        prop_assume!(bound.is_none());
        let total = lag + predicted.incoming_records;
        let left = backlog_at(&s, lag, rate, n, per_instance, t);
        prop_assert!(left <= total * 0.01, "{} instances leave {:.0} of {:.0} at the target", n, left, total);
        if n > 1 {
            let left = backlog_at(&s, lag, rate, n - 1, per_instance, t);
            prop_assert!(left > -total * 0.01, "{} instances would do: {:.0} left", n - 1, left);
        }
    }

    /// Steady traffic: the recommended group clears within the target +10%; one instance
    /// fewer does not clear by the target −10%.
    #[test]
    fn steady_traffic_clears_within_the_target(
        rate in 50.0..5_000.0f64,
        lag in 1_000.0..500_000.0f64,
        per_instance in 20.0..2_000.0f64,
        target in 30u64..600,
        relaunch_share in 0.01..0.5f64,
    ) {
        let mut s = settings();
        s.target = std::time::Duration::from_secs(target);
        s.relaunch = std::time::Duration::from_secs_f64(target as f64 * relaunch_share);
        s.max_instances = 100_000;
        let traffic = Fit { kind: FitKind::Linear, coefficients: vec![rate, 0.0], error: 0.0 };
        let t = target as f64;
        let predicted = forecast(&traffic, t);
        let (n, bound) = instances(&s, required(&s, predicted.incoming_records, lag), per_instance, 100_000);
        prop_assume!(bound.is_none());
        let took = clear_time(&s, lag, |_| rate, n, per_instance, 1.1 * t);
        prop_assert!(took.is_some(), "{} instances do not clear by {:.0} s", n, 1.1 * t);
        if n > 1 {
            let short = clear_time(&s, lag, |_| rate, n - 1, per_instance, 0.9 * t);
            prop_assert!(short.is_none(), "{} instances clear by {:?}", n - 1, short);
        }
    }
}
