//! Tests of the advisor core: the fits, the forecasts, the plan and its guards.

mod fit;
mod model;
mod planner;
mod props;

use std::time::Duration;

use super::{ScaleSample, ScaleSettings};
use crate::model::Millis;

/// Settings for tests: target 60 s, relaunch 5 s, 1..=16 instances.
pub(super) fn settings() -> ScaleSettings {
    ScaleSettings {
        target: Duration::from_secs(60),
        relaunch: Duration::from_secs(5),
        min_instances: 1,
        max_instances: 16,
        history: Duration::from_secs(600),
        error_limit: ScaleSettings::DEFAULT_ERROR_LIMIT,
        cooldown: Duration::from_secs(10),
        min_samples: 10,
        poll_interval: Duration::from_secs(1),
    }
}

pub(super) const T0: Millis = 1_800_000_000_000;

/// A sample at `seconds` after T0 with everything known.
pub(super) fn sample(seconds: f64, log_end: i64, committed: i64, members: u32) -> ScaleSample {
    ScaleSample {
        at: T0 + (seconds * 1000.0) as Millis,
        log_end: Some(log_end),
        committed: Some(committed),
        lag_records: Some(log_end - committed),
        members: Some(members),
        partitions: 8,
    }
}

/// A small deterministic noise source (xorshift), uniform in [-1, 1].
pub(super) struct Noise(u64);

impl Noise {
    pub(super) fn new(seed: u64) -> Noise {
        Noise(seed.max(1))
    }

    pub(super) fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
}
