//! Least-squares polynomial fits of a rate series, and the error that chooses between them.
//!
//! The fit is solved with nalgebra's QR decomposition on times scaled to [-1, 0], not with
//! the normal equations: squaring the design matrix squares its condition number, and a
//! quadratic in raw seconds over an hour spans seven orders of magnitude. The thin Q factor
//! also gives each point's leverage for free, which the leave-one-out error needs.

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
    /// Root mean square of the leave-one-out residuals over the mean absolute rate: how far
    /// off the fit is, as a share of the traffic, on points it did not see.
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

/// Fits a polynomial of `kind`'s degree to `points` (t seconds, rate). `None` when there are
/// too few points to judge a fit of that degree (leave-one-out needs one more than its
/// coefficients) or the times do not spread enough to fix the coefficients.
pub fn fit(points: &[(f64, f64)], kind: FitKind) -> Option<Fit> {
    let terms = kind.degree() + 1;
    if points.len() <= terms || points.iter().any(|(t, r)| !t.is_finite() || !r.is_finite()) {
        return None;
    }
    // Scale times to [-1, 0] (or [0, 1]) so that the columns are of one size.
    let scale = points.iter().map(|(t, _)| t.abs()).fold(0.0_f64, f64::max);
    if scale == 0.0 {
        return None;
    }
    let n = points.len();
    let design = DMatrix::from_fn(n, terms, |i, j| (points[i].0 / scale).powi(j as i32));
    let rates = DVector::from_iterator(n, points.iter().map(|(_, r)| *r));
    let qr = design.clone().qr();
    let r = qr.r();
    // A (near) zero on R's diagonal: the times cannot tell the terms apart.
    let largest = r.diagonal().iter().map(|d| d.abs()).fold(0.0, f64::max);
    if r.diagonal().iter().any(|d| d.abs() <= largest * 1e-10) {
        return None;
    }
    let scaled = r.solve_upper_triangular(&(qr.q().transpose() * &rates))?;
    let q = qr.q();
    let fitted = &design * &scaled;
    let mut press = 0.0;
    for i in 0..n {
        let leverage: f64 = q.row(i).iter().map(|v| v * v).sum();
        // A point that alone fixes the fit (leverage 1) tells nothing about its error.
        let residual = (rates[i] - fitted[i]) / (1.0 - leverage).max(1e-9);
        press += residual * residual;
    }
    let mean_rate = rates.iter().map(|r| r.abs()).sum::<f64>() / n as f64;
    let rmse = (press / n as f64).sqrt();
    let error = if mean_rate > 0.0 {
        rmse / mean_rate
    } else if rmse == 0.0 {
        0.0
    } else {
        f64::INFINITY
    };
    let coefficients = scaled
        .iter()
        .enumerate()
        .map(|(j, c)| c / scale.powi(j as i32))
        .collect();
    Some(Fit {
        kind,
        coefficients,
        error,
    })
}

/// The quadratic fit when its error is within `error_limit`, else the linear one; the
/// quadratic is returned beside it either way, for the report.
pub fn choose(points: &[(f64, f64)], error_limit: f64) -> Option<Chosen> {
    let quadratic = fit(points, FitKind::Quadratic);
    match quadratic {
        Some(q) if q.error <= error_limit => Some(Chosen {
            fit: q,
            rejected_quadratic_error: None,
        }),
        other => {
            let linear = fit(points, FitKind::Linear)?;
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
