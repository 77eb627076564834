//! The fits and the forecast, on traffic whose truth is known.

use std::f64::consts::PI;

use super::super::{FitKind, Planner, choose, fit, forecast};
use super::{Noise, sample, settings};

/// r(t) = 500 + 2t + 0.01t² records/s and its integral, t in seconds.
fn quadratic_rate(t: f64) -> f64 {
    500.0 + 2.0 * t + 0.01 * t * t
}

fn quadratic_total(t: f64) -> f64 {
    500.0 * t + t * t + 0.01 * t * t * t / 3.0
}

#[test]
fn exact_points_give_back_the_polynomial() {
    let points: Vec<(f64, f64)> = (0..20)
        .map(|i| {
            let t = -190.0 + 10.0 * f64::from(i);
            (t, 3.0 - 0.5 * t + 0.002 * t * t)
        })
        .collect();
    let fitted = fit(&points, FitKind::Quadratic, 60.0).expect("fits");
    for (got, want) in fitted.coefficients.iter().zip([3.0, -0.5, 0.002]) {
        assert!((got - want).abs() < 1e-9, "{:?}", fitted.coefficients);
    }
    assert!(fitted.error < 1e-9, "{}", fitted.error);
}

#[test]
fn too_few_or_degenerate_points_fit_nothing() {
    assert!(
        fit(
            &[(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)],
            FitKind::Quadratic,
            1.0
        )
        .is_none()
    );
    assert!(fit(&[(1.0, 1.0); 6], FitKind::Linear, 1.0).is_none());
    assert!(
        fit(
            &[(0.0, 1.0), (1.0, f64::NAN), (2.0, 3.0), (3.0, 4.0)],
            FitKind::Linear,
            1.0
        )
        .is_none()
    );
}

#[test]
fn exact_quadratic_traffic_is_forecast_within_one_percent() {
    let mut planner = Planner::new();
    let s = settings();
    let mut advice = None;
    // Ten minutes of samples every 10 s, then forecast the next minute.
    for i in 0..=60 {
        let t = f64::from(i) * 10.0;
        let end = quadratic_total(t) as i64;
        advice = Some(planner.observe("a", "g", &s, sample(t, end, end, 2)));
    }
    let advice = advice.unwrap();
    let fit = advice.fit.expect("a fit");
    assert_eq!(fit.kind, FitKind::Quadratic, "{fit:?}");
    let predicted = advice.forecast.expect("a forecast");
    let truth = quadratic_total(660.0) - quadratic_total(600.0);
    let error = (predicted.incoming_records - truth).abs() / truth;
    assert!(
        error < 0.01,
        "forecast {} vs {truth}: {:.3}% off",
        predicted.incoming_records,
        error * 100.0
    );
    let rate_error =
        (predicted.rate_at_horizon - quadratic_rate(660.0)).abs() / quadratic_rate(660.0);
    assert!(rate_error < 0.01, "{predicted:?}");
}

/// A daily sinusoid with ±10% noise per 30 s sample; the forecast of the next 15 minutes
/// from the last hour, taken every 30 minutes over a whole day.
#[test]
fn noisy_daily_sinusoid_is_forecast_15_minutes_ahead_within_15_percent_mape() {
    const DAY: f64 = 86_400.0;
    const STEP: f64 = 30.0;
    let rate = |t: f64| 1000.0 + 600.0 * (2.0 * PI * t / DAY).sin();
    let mut s = settings();
    s.target = std::time::Duration::from_secs(15 * 60);
    s.history = std::time::Duration::from_secs(3600);
    let mut noise = Noise::new(7);
    let mut planner = Planner::new();
    // The log end, noisy, and the true mean rate of each step for the truth.
    let steps = (DAY + 2.0 * 3600.0) as usize / STEP as usize;
    let mut end = 0.0;
    let mut ends = Vec::with_capacity(steps + 1);
    ends.push(0.0);
    for i in 0..steps {
        let t = i as f64 * STEP;
        end += rate(t + STEP / 2.0) * STEP * (1.0 + 0.10 * noise.next());
        ends.push(end);
    }
    let truth = |from: f64, span: f64| {
        // Exact integral of the clean rate.
        let integral = |t: f64| 1000.0 * t - 600.0 * DAY / (2.0 * PI) * (2.0 * PI * t / DAY).cos();
        integral(from + span) - integral(from)
    };
    let mut errors = Vec::new();
    for (i, end) in ends.iter().enumerate() {
        let t = i as f64 * STEP;
        let advice = planner.observe("a", "g", &s, sample(t, *end as i64, *end as i64, 1));
        let origin = t - 3600.0;
        if (3600.0..=DAY + 3600.0).contains(&t) && (origin as i64) % 1800 == 0 {
            let predicted = advice.forecast.expect("a forecast after an hour");
            let want = truth(t, 900.0);
            errors.push((predicted.incoming_records - want).abs() / want);
        }
    }
    assert!(errors.len() >= 48, "{} forecasts", errors.len());
    let mape = errors.iter().sum::<f64>() / errors.len() as f64;
    assert!(
        mape <= 0.15,
        "MAPE {:.2}% over {} forecasts",
        mape * 100.0,
        errors.len()
    );
    println!(
        "noisy daily sinusoid: 15-minute MAPE {:.2}% over {} forecasts",
        mape * 100.0,
        errors.len()
    );
}

/// Flat traffic that turns into a burst in its last samples: the quadratic bends hard to
/// follow the burst, its forecast error is large, and the linear fit is used.
#[test]
fn a_diverging_quadratic_falls_back_to_linear_and_says_so() {
    let mut points: Vec<(f64, f64)> = (0..30)
        .map(|i| (-300.0 + 10.0 * f64::from(i), 1000.0))
        .collect();
    points.push((-5.0, 4000.0));
    points.push((0.0, 200.0));
    let quadratic = fit(&points, FitKind::Quadratic, 60.0).unwrap();
    let chosen = choose(&points, 0.25, 60.0).unwrap();
    assert_eq!(chosen.fit.kind, FitKind::Linear);
    let rejected = chosen
        .rejected_quadratic_error
        .expect("the quadratic's error is reported");
    assert!(
        rejected > 0.25 && rejected == quadratic.error,
        "{rejected} {quadratic:?}"
    );
    // The quadratic extrapolates far from anything seen; the linear stays near the data.
    let horizon = 600.0;
    let q = forecast(&quadratic, horizon);
    let l = forecast(&chosen.fit, horizon);
    let seen = 1000.0 * horizon;
    assert!(
        (l.incoming_records - seen).abs() < (q.incoming_records - seen).abs(),
        "linear {l:?} quadratic {q:?}"
    );
}

#[test]
fn the_planner_reports_the_fallback() {
    let mut planner = Planner::new();
    let s = settings();
    let mut end = 0i64;
    let mut advice = None;
    for i in 0..=30 {
        let rate = match i {
            29 => 6000,
            30 => 100,
            _ => 1000,
        };
        end += rate * 10;
        advice = Some(planner.observe("a", "g", &s, sample(f64::from(i) * 10.0, end, end, 1)));
    }
    let fit = advice.unwrap().fit.expect("a fit");
    assert_eq!(fit.kind, FitKind::Linear);
    assert!(
        fit.quadratic_error.is_some_and(|e| e > s.error_limit),
        "{fit:?}"
    );
    assert_eq!(fit.coefficients.len(), 2);
}

#[test]
fn falling_traffic_is_clamped_to_zero_and_counted() {
    let mut planner = Planner::new();
    let s = settings();
    let mut advice = None;
    // 1000 records/s falling by 5 per second: it reaches 0 before the horizon ends.
    for i in 0..=20 {
        let t = f64::from(i) * 10.0;
        let end = (1000.0 * t - 2.5 * t * t) as i64;
        advice = Some(planner.observe("a", "g", &s, sample(t, end, end, 1)));
    }
    let predicted = advice.unwrap().forecast.unwrap();
    assert!(
        predicted.clamped && predicted.rate_at_horizon == 0.0,
        "{predicted:?}"
    );
    assert!(predicted.incoming_records >= 0.0);
    assert!(planner.clamped_forecasts() >= 1);
}

/// Traffic that ramps from 150 to 300 records/s and levels off, seen through a two-minute
/// window every second, forecast a minute ahead: a quadratic over the bend would forecast the
/// traffic falling away; fitted on the older points it fails to forecast the newer ones or
/// swings when they are added, so the linear fit is used until the bend leaves the window.
/// Once the window is full (docs/scale.md: a window shorter than twice the horizon is a
/// known weak spot), no forecast falls below 90% of the traffic to come.
#[test]
fn a_ramp_that_levels_off_is_not_forecast_to_fall_away() {
    let rate = |t: f64| 150.0 + 150.0 * ((t - 10.0) / 20.0).clamp(0.0, 1.0);
    let mut s = settings();
    s.history = std::time::Duration::from_secs(120);
    let mut planner = Planner::new();
    let mut end = 0.0;
    let mut worst: f64 = f64::INFINITY;
    for i in 0..=240 {
        let t = f64::from(i);
        end += rate(t - 0.5);
        let advice = planner.observe("a", "g", &s, sample(t, end as i64, end as i64, 1));
        if let (Some(f), true) = (advice.forecast, t >= 120.0) {
            worst = worst.min(f.incoming_records / (300.0 * 60.0));
        }
    }
    assert!(
        worst >= 0.9,
        "a forecast of {:.0}% of the traffic to come",
        worst * 100.0
    );
}
