//! Least-squares polynomial fits of a rate series, and the error that chooses between them.
//!
//! The fit is solved with nalgebra's QR decomposition on times scaled to [-1, 1], not with
//! the normal equations: squaring the design matrix squares its condition number, and a
//! quadratic in raw seconds over an hour spans seven orders of magnitude.

use nalgebra::{DMatrix, DVector};
use serde::Serialize;

/// Which polynomial was fitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FitKind {
    Quadratic,
    Linear,
}

impl FitKind {
    pub fn degree(self) -> usize {
        match self {
            FitKind::Quadratic => 2,
            FitKind::Linear => 1,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FitKind::Quadratic => "quadratic",
            FitKind::Linear => "linear",
        }
    }
}

/// A fitted rate: `rate(t) = coefficients[0] + coefficients[1]·t (+ coefficients[2]·t²)`,
/// `t` in seconds from the origin the points were given relative to (the newest sample).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fit {
    pub kind: FitKind,
    /// Constant term first, in records/s, records/s², records/s³.
    pub coefficients: Vec<f64>,
    /// How far off a fit of this kind, made on the older points, was on the newest ones (as
    /// far back as the horizon, at most half the window): root mean square, as a share of
    /// the mean absolute rate.
    pub error: f64,
}

impl Fit {
    /// The fitted rate at `t` seconds from the origin (may be negative or NaN: the caller clamps).
    pub fn rate_at(&self, t: f64) -> f64 {
        self.coefficients
            .iter()
            .rev()
            .fold(0.0, |acc, c| acc * t + c)
    }
}

/// Fits a polynomial of `kind`'s degree to `points` (t seconds, rate), oldest first. `None`
/// when there are too few points to fit and judge it, or the times do not spread enough to
/// fix the coefficients.
///
/// The error is a forecast error, since forecasting is what the fit is for: the same kind of
/// fit, made only on the points older than `horizon` seconds before the newest (at most half
/// the window back), forecasts the newer ones; the root mean square of its misses, over the
/// mean absolute rate, is the error. An in-sample error cannot tell a quadratic that follows
/// the traffic from one bent by a burst or a bend at the edge of the window, which then runs
/// away over the horizon; a fit that had to forecast as far ahead can. The error also counts
/// how far the mean forecast rate over the horizon moved when the newer points were added
/// (whichever is larger): a fit that swings with the newest data does not know the trend.
pub fn fit(points: &[(f64, f64)], kind: FitKind, horizon: f64) -> Option<Fit> {
    let terms = kind.degree() + 1;
    if points.iter().any(|(t, r)| !t.is_finite() || !r.is_finite()) {
        return None;
    }
    let (first, last) = (points.first()?.0, points.last()?.0);
    let cut = last - horizon.min((last - first) / 2.0).max(0.0);
    let older_count = points.iter().filter(|(t, _)| *t <= cut).count();
    let (older, newer) = points.split_at(older_count.min(points.len() - 1));
    let coefficients = solve(points, terms)?;
    let trained = solve(older, terms)?;
    let rate = |c: &[f64], t: f64| c.iter().rev().fold(0.0, |acc, c| acc * t + c);
    let squared: f64 = newer
        .iter()
        .map(|(t, r)| (rate(&trained, *t) - r).powi(2))
        .sum();
    let rmse = (squared / newer.len() as f64).sqrt();
    // How much the forecast over the horizon moves when the newest points are added: a fit
    // that follows the traffic barely moves; one bent by the edge of the window swings.
    let mean_ahead = |c: &[f64]| {
        let steps = 16;
        (0..=steps)
            .map(|i| rate(c, horizon * f64::from(i) / f64::from(steps)))
            .sum::<f64>()
            / f64::from(steps + 1)
    };
    let swing = (mean_ahead(&coefficients) - mean_ahead(&trained)).abs();
    let miss = rmse.max(swing);
    let mean_rate = points.iter().map(|(_, r)| r.abs()).sum::<f64>() / points.len() as f64;
    let error = if mean_rate > 0.0 {
        miss / mean_rate
    } else if miss == 0.0 {
        0.0
    } else {
        f64::INFINITY
    };
    Some(Fit {
        kind,
        coefficients,
        error,
    })
}

/// Least-squares coefficients of a polynomial with `terms` terms, in per-second units;
/// `None` with fewer points than terms or times that cannot tell the terms apart.
fn solve(points: &[(f64, f64)], terms: usize) -> Option<Vec<f64>> {
    if points.len() < terms {
        return None;
    }
    // Scale times to at most 1 in size so that the columns are of one size.
    let scale = points.iter().map(|(t, _)| t.abs()).fold(0.0_f64, f64::max);
    if scale == 0.0 {
        return None;
    }
    let n = points.len();
    let design = DMatrix::from_fn(n, terms, |i, j| (points[i].0 / scale).powi(j as i32));
    let rates = DVector::from_iterator(n, points.iter().map(|(_, r)| *r));
    let qr = design.qr();
    let r = qr.r();
    // A (near) zero on R's diagonal: the times cannot tell the terms apart.
    let largest = r.diagonal().iter().map(|d| d.abs()).fold(0.0, f64::max);
    if r.diagonal().iter().any(|d| d.abs() <= largest * 1e-10) {
        return None;
    }
    let scaled = r.solve_upper_triangular(&(qr.q().transpose() * &rates))?;
    Some(
        scaled
            .iter()
            .enumerate()
            .map(|(j, c)| c / scale.powi(j as i32))
            .collect(),
    )
}

/// The quadratic fit when its error forecasting `horizon` seconds is within `error_limit`,
/// else the linear one, with the quadratic's error.
pub fn choose(points: &[(f64, f64)], error_limit: f64, horizon: f64) -> Option<Chosen> {
    let quadratic = fit(points, FitKind::Quadratic, horizon);
    match quadratic {
        Some(q) if q.error <= error_limit => Some(Chosen {
            fit: q,
            rejected_quadratic_error: None,
        }),
        other => {
            let linear = fit(points, FitKind::Linear, horizon)?;
            Some(Chosen {
                fit: linear,
                rejected_quadratic_error: Some(other.map_or(f64::NAN, |q| q.error)),
            })
        }
    }
}

/// The fit a forecast uses, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Chosen {
    pub fit: Fit,
    /// When the linear fit was chosen: the quadratic's error (NaN when it could not be fitted).
    pub rejected_quadratic_error: Option<f64>,
}
