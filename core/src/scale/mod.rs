//! The autoscaling advisor's pure core: from the log ends and committed offsets the watch
//! reads of a consumer group each round, how many instances clear its backlog in time.
//!
//! Each round the shell passes a [`ScaleSample`] per advised group; [`Planner::observe`]
//! keeps the incoming-rate series over the history window, fits it (quadratic least squares,
//! linear when the quadratic's error is over the limit), forecasts the records arriving over
//! the target catch-up time, and sizes the group:
//! required rate = (forecast incoming + lag) / (target − relaunch),
//! instances = ⌈required rate / one instance's rate⌉, clamped to [min, min(max, partitions)].
//! No clock, no I/O: time is the sample's. `docs/scale.md` explains the model and its limits.
//!
//! Layout:
//! - [`settings`]: one group's knobs.
//! - [`sample`]: one round of one group, summed over its partitions.
//! - [`fit`]: least-squares fits and the forecast error that picks one.
//! - [`forecast`]: the records a fit expects over the horizon, negative rates clamped.
//! - [`planner`]: the per-group memory, the sizing and the cooldown.
//! - [`advice`]: what a round concludes, in `/api/scale`'s JSON shape.

pub mod advice;
pub mod fit;
pub mod forecast;
pub mod planner;
pub mod sample;
pub mod settings;

pub use advice::{Advice, FitReport, Reason};
pub use fit::{Chosen, Fit, FitKind, choose, fit};
pub use forecast::{Forecast, forecast};
pub use planner::{Planner, instances, required};
pub use sample::ScaleSample;
pub use settings::ScaleSettings;

#[cfg(test)]
mod tests;
