//! What the advisor concludes for one group, in the JSON shape of `GET /api/scale`.

use serde::Serialize;

use super::fit::{Fit, FitKind};
use super::forecast::Forecast;
use crate::model::Millis;

/// One group's advice at one round.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Advice {
    pub cluster: String,
    pub group: String,
    /// The round's time, ms since the epoch.
    pub at: Millis,
    /// Instances to run; null when nothing can be recommended (see `reason`).
    pub recommendation: Option<u32>,
    /// What the plan computed this round, before the cooldown held it back.
    pub computed: Option<u32>,
    pub reason: Reason,
    /// The reason in words, with the figures behind it.
    pub detail: String,
    pub fit: Option<FitReport>,
    pub forecast: Option<Forecast>,
    pub lag_records: Option<i64>,
    pub members: Option<u32>,
    /// Records/s one member consumed while the group was lagging; null when never measured.
    pub per_instance_rate: Option<f64>,
    /// (forecast incoming + lag) / (target − relaunch), records/s.
    pub required_rate: Option<f64>,
    pub partitions: u32,
    /// Rate points in the history window.
    pub samples: usize,
}

impl Advice {
    /// The advice on a group the watch did not list at `at`: nothing to go on.
    pub fn not_seen(cluster: &str, group: &str, at: Millis) -> Advice {
        Advice {
            cluster: cluster.to_owned(),
            group: group.to_owned(),
            at,
            recommendation: None,
            computed: None,
            reason: Reason::NotSeen,
            detail: "the watch has not listed the group on its cluster: it has no members and no \
                     committed offsets yet"
                .into(),
            fit: None,
            forecast: None,
            lag_records: None,
            members: None,
            per_instance_rate: None,
            required_rate: None,
            partitions: 0,
            samples: 0,
        }
    }
}

/// Why the advice is what it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// A recommendation from the current plan.
    Planned,
    /// The plan changed, but the previous recommendation stands until the cooldown ends.
    Cooldown,
    /// Fewer rate points than `min_samples` in the history window.
    TooFewSamples,
    /// The newest usable sample is older than two polls.
    Stale,
    /// The group's lag in records is unknown this round.
    LagUnknown,
    /// The group has not lagged (with the same members) long enough to measure one
    /// instance's rate.
    RateUnknown,
    /// The group consumed nothing while it lagged: more instances would not help (stuck?).
    NotConsuming,
    /// The watch has not listed the group on its cluster this round.
    NotSeen,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Planned => "planned",
            Reason::Cooldown => "cooldown",
            Reason::TooFewSamples => "too_few_samples",
            Reason::Stale => "stale",
            Reason::LagUnknown => "lag_unknown",
            Reason::RateUnknown => "rate_unknown",
            Reason::NotConsuming => "not_consuming",
            Reason::NotSeen => "not_seen",
        }
    }
}

/// The fit a forecast used.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FitReport {
    pub kind: FitKind,
    /// rate(t) = c0 + c1·t (+ c2·t²), t in seconds from now, records/s.
    pub coefficients: Vec<f64>,
    /// The chosen fit's forecast error (see `Fit::error`), as a share of the mean rate.
    pub error: f64,
    /// When `kind` is linear: the quadratic's error that exceeded the limit (null when the
    /// quadratic could not be fitted at all).
    pub quadratic_error: Option<f64>,
}

impl FitReport {
    pub(super) fn new(fit: &Fit, rejected_quadratic_error: Option<f64>) -> FitReport {
        FitReport {
            kind: fit.kind,
            coefficients: fit.coefficients.clone(),
            error: fit.error,
            quadratic_error: rejected_quadratic_error.filter(|e| e.is_finite()),
        }
    }
}
