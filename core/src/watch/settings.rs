//! The knobs of one group's evaluation, resolved from `[watch]` and its `[[watch.groups]]`.

use std::time::Duration;

use crate::model::Millis;

/// How one group is judged. Built by `config::WatchConfig::settings_for`; tests build it directly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupSettings {
    /// A committed offset unchanged this long while unread records wait is stuck; lag in time
    /// is sampled once per window to tell a consumer that falls behind.
    pub window: Duration,
    /// How often the shell polls. A read older than two polls is stale, and lag in time must
    /// grow by more than one poll per window to count as falling behind.
    pub poll_interval: Duration,
    /// A partition whose oldest unread record is older than this is lagging.
    pub max_lag: Duration,
    /// Whether the group may open incidents. Its states are reported either way.
    pub incidents: bool,
    /// Points kept per partition for the history (`/api/consumers/{cluster}/{group}/history`).
    pub history_points: usize,
}

impl GroupSettings {
    pub const DEFAULT_WINDOW: Duration = Duration::from_secs(180);
    pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(5);
    pub const DEFAULT_MAX_LAG: Duration = Duration::from_secs(60);
    /// Ten minutes of rounds at the default poll interval.
    pub const DEFAULT_HISTORY_POINTS: usize = 120;

    pub(super) fn window_ms(&self) -> Millis {
        millis(self.window)
    }

    pub(super) fn poll_ms(&self) -> Millis {
        millis(self.poll_interval)
    }

    pub(super) fn max_lag_ms(&self) -> Millis {
        millis(self.max_lag)
    }

    /// Reads older than this are not trusted: one missed poll is tolerated, two are not.
    pub(super) fn stale_after_ms(&self) -> Millis {
        self.poll_ms().saturating_mul(2)
    }
}

impl Default for GroupSettings {
    fn default() -> Self {
        GroupSettings {
            window: Self::DEFAULT_WINDOW,
            poll_interval: Self::DEFAULT_POLL_INTERVAL,
            max_lag: Self::DEFAULT_MAX_LAG,
            incidents: true,
            history_points: Self::DEFAULT_HISTORY_POINTS,
        }
    }
}

fn millis(duration: Duration) -> Millis {
    Millis::try_from(duration.as_millis()).unwrap_or(Millis::MAX)
}
