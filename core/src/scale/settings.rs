//! One group's advisor knobs, resolved from a `[[scale.groups]]` entry.

use std::time::Duration;

use crate::model::Millis;

/// How one group is sized. Built by the config loader (which refuses impossible values);
/// tests build it directly.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScaleSettings {
    /// The backlog must be gone this long after the recommendation is applied.
    pub target: Duration,
    /// What applying a recommendation costs: time in which new instances start and the group
    /// rebalances, and nothing is consumed.
    pub relaunch: Duration,
    pub min_instances: u32,
    /// Never recommended above this, nor above the group's partition count.
    pub max_instances: u32,
    /// The traffic series the fit reads: samples older than this are dropped.
    pub history: Duration,
    /// The quadratic fit's error (see [`super::Fit::error`]) above which the linear one is used.
    pub error_limit: f64,
    /// A changed recommendation waits this long after the previous change.
    pub cooldown: Duration,
    /// Rate points needed in the history before anything is recommended.
    pub min_samples: usize,
    /// How often the watch polls (`[watch] poll_interval`): the newest usable sample must be
    /// younger than two polls, and a sample less than half a poll after the one before is
    /// skipped.
    pub poll_interval: Duration,
}

impl ScaleSettings {
    pub const DEFAULT_HISTORY: Duration = Duration::from_secs(30 * 60);
    pub const DEFAULT_ERROR_LIMIT: f64 = 0.25;
    pub const DEFAULT_MIN_SAMPLES: usize = 10;
    pub const DEFAULT_MIN_INSTANCES: u32 = 1;
    /// The history window holds at most this many polls: it is kept and fitted every round.
    pub const MOST_HISTORY_POLLS: u32 = 10_000;
    /// Fewer points than this leave too few to fit on and to forecast for a fair error.
    pub const LEAST_MIN_SAMPLES: usize = 5;

    pub(super) fn ms(d: Duration) -> Millis {
        i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
    }

    /// Data older than two polls is stale.
    pub fn stale_after_ms(&self) -> Millis {
        Self::ms(self.poll_interval).saturating_mul(2)
    }

    /// A round stamps its samples when it ends, so two rounds can end much closer together
    /// than a poll (a slow round followed by a quick one); the rate between them is mostly
    /// timing noise. Samples closer than half a poll to the previous one are skipped.
    pub fn min_spacing_ms(&self) -> Millis {
        Self::ms(self.poll_interval) / 2
    }

    /// The time left to consume in once a recommendation is applied, in seconds.
    pub fn working_seconds(&self) -> f64 {
        (self.target.as_secs_f64() - self.relaunch.as_secs_f64()).max(f64::MIN_POSITIVE)
    }
}
