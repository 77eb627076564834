//! `[scale]`: the autoscaling advisor's groups, as written and as validated.
//!
//! Each `[[scale.groups]]` entry names one consumer group on one declared cluster and the
//! knobs its sizing uses (see `cairn_core::scale` and docs/scale.md). Every error names the
//! entry and the key; unknown keys are refused.

mod validate;

use std::time::Duration;

use serde::Deserialize;

pub(super) use self::validate::section;
use crate::scale::ScaleSettings;

/// The validated `[scale]` section: the advised groups, in file order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScaleSection {
    pub groups: Vec<ScaleGroup>,
}

/// One advised group and its settings.
#[derive(Clone, Debug, PartialEq)]
pub struct ScaleGroup {
    pub cluster: String,
    pub group: String,
    pub settings: ScaleSettings,
    /// The action hook: run when the recommendation changes. Off (`None`) by default.
    pub hook: Option<ScaleHook>,
}

/// A command run (argv, no shell) each time a group's recommendation changes to a number, by
/// the active instance only; it is killed at `timeout`.
#[derive(Clone, Debug, PartialEq)]
pub struct ScaleHook {
    pub command: Vec<String>,
    pub timeout: Duration,
}

impl ScaleHook {
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
}

impl ScaleSection {
    /// The entry for `group` on `cluster`, if it is advised.
    pub fn group(&self, cluster: &str, group: &str) -> Option<&ScaleGroup> {
        self.groups
            .iter()
            .find(|g| g.cluster == cluster && g.group == group)
    }
}

/// `[scale]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScale {
    #[serde(default)]
    pub groups: Vec<RawScaleGroup>,
}

/// `[[scale.groups]]` as written. Counts are read as signed so that a negative one is
/// refused with the key's name rather than a type error.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScaleGroup {
    pub cluster: String,
    pub group: String,
    #[serde(deserialize_with = "crate::config::duration::deserialize")]
    pub target: Duration,
    #[serde(deserialize_with = "crate::config::duration::deserialize")]
    pub relaunch: Duration,
    pub min_instances: Option<i64>,
    pub max_instances: Option<i64>,
    #[serde(
        default,
        deserialize_with = "crate::config::duration::deserialize_option"
    )]
    pub history: Option<Duration>,
    pub error_limit: Option<f64>,
    #[serde(
        default,
        deserialize_with = "crate::config::duration::deserialize_option"
    )]
    pub cooldown: Option<Duration>,
    pub min_samples: Option<i64>,
    /// The action hook's argv; none: advise only.
    pub command: Option<Vec<String>>,
    #[serde(
        default,
        deserialize_with = "crate::config::duration::deserialize_option"
    )]
    pub command_timeout: Option<Duration>,
}

#[cfg(test)]
mod tests;
