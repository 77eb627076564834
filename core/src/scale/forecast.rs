//! From a fitted rate to the records expected over the coming catch-up time.

use serde::Serialize;

use super::fit::Fit;

/// Sub-intervals the forecast integral is taken over (trapezoids on the clamped rate).
const STEPS: usize = 64;

/// What the fit forecasts from now on.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Forecast {
    /// The span forecast, in seconds from now (the target catch-up time).
    pub horizon_seconds: f64,
    /// Records expected to arrive over the horizon.
    pub incoming_records: f64,
    /// The forecast rate now and at the end of the horizon, records/s, after clamping.
    pub rate_now: f64,
    pub rate_at_horizon: f64,
    /// Whether the fit went negative or NaN somewhere over the horizon and was clamped to 0.
    pub clamped: bool,
}

/// The records `fit` expects over `[0, horizon_seconds]`, a negative or NaN rate counting as 0.
pub fn forecast(fit: &Fit, horizon_seconds: f64) -> Forecast {
    let mut clamped = false;
    let mut at = |t: f64| {
        let rate = fit.rate_at(t);
        if !rate.is_finite() || rate < 0.0 {
            clamped = true;
            0.0
        } else {
            rate
        }
    };
    let step = horizon_seconds / STEPS as f64;
    let rates: Vec<f64> = (0..=STEPS).map(|i| at(i as f64 * step)).collect();
    let incoming = rates.windows(2).map(|w| (w[0] + w[1]) / 2.0 * step).sum();
    Forecast {
        horizon_seconds,
        incoming_records: incoming,
        rate_now: rates[0],
        rate_at_horizon: rates[STEPS],
        clamped,
    }
}
