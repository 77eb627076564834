//! From `[scale]` as written to [`ScaleSection`]. Every error names the entry and the key.

use std::collections::HashSet;
use std::time::Duration;

use super::{RawScale, RawScaleGroup, ScaleGroup, ScaleHook, ScaleSection};
use crate::config::ClusterConfig;
use crate::config::error::ConfigError;
use crate::config::validate::{declared_cluster, non_empty, positive};
use crate::scale::ScaleSettings;

/// Validates `[scale]` against the declared clusters. `poll_interval` is the watch's, whose
/// rounds feed the advisor; `watched` says whether the watch follows a group at all.
pub(in crate::config) fn section(
    raw: RawScale,
    clusters: &[ClusterConfig],
    poll_interval: Duration,
    watched: &dyn Fn(&str, &str) -> bool,
) -> Result<ScaleSection, ConfigError> {
    let mut seen = HashSet::new();
    let mut groups = Vec::new();
    for (i, entry) in raw.groups.into_iter().enumerate() {
        let place = format!("[[scale.groups]] #{}", i + 1);
        let group = group(&place, entry, clusters, poll_interval)?;
        if !watched(&group.cluster, &group.group) {
            return Err(ConfigError::OutOfRange {
                place: format!("{place} group"),
                found: format!("`{}` on cluster `{}`", group.group, group.cluster),
                expected: "a group that [watch] follows (see its include and exclude)",
            });
        }
        if !seen.insert((group.cluster.clone(), group.group.clone())) {
            return Err(ConfigError::OutOfRange {
                place: format!("{place} group"),
                found: format!("`{}` on cluster `{}` again", group.group, group.cluster),
                expected: "one entry per cluster and group",
            });
        }
        groups.push(group);
    }
    Ok(ScaleSection { groups })
}

fn group(
    place: &str,
    raw: RawScaleGroup,
    clusters: &[ClusterConfig],
    poll_interval: Duration,
) -> Result<ScaleGroup, ConfigError> {
    let cluster = declared_cluster(&format!("{place} cluster"), raw.cluster, clusters)?;
    let group = non_empty(
        &format!("{place} group"),
        raw.group,
        "a consumer group name",
    )?;
    let target = positive(&format!("{place} target"), Some(raw.target), raw.target)?;
    if target <= raw.relaunch {
        return Err(ConfigError::DurationOrder {
            scope: place.to_owned(),
            smaller: "relaunch",
            smaller_value: raw.relaunch,
            relation: "less than",
            larger: "target",
            larger_value: target,
        });
    }
    let min_instances = count(
        &format!("{place} min_instances"),
        raw.min_instances,
        ScaleSettings::DEFAULT_MIN_INSTANCES,
        0,
        "a count of instances, 0 or more",
    )?;
    // Unset: no bound but the partition count, which the advisor applies every round.
    let max_instances = count(
        &format!("{place} max_instances"),
        raw.max_instances,
        u32::MAX,
        1,
        "a count of instances, 1 or more",
    )?;
    if min_instances > max_instances {
        return Err(ConfigError::OutOfRange {
            place: format!("{place} min_instances"),
            found: format!("{min_instances} with max_instances = {max_instances}"),
            expected: "min_instances at most max_instances",
        });
    }
    let min_samples = count(
        &format!("{place} min_samples"),
        raw.min_samples,
        ScaleSettings::DEFAULT_MIN_SAMPLES as u32,
        ScaleSettings::LEAST_MIN_SAMPLES as u32,
        "at least 5 rate points (a quadratic fitted on the older ones must forecast the newer)",
    )? as usize;
    let history = positive(
        &format!("{place} history"),
        raw.history,
        ScaleSettings::DEFAULT_HISTORY,
    )?;
    // The window must hold min_samples rate points, i.e. min_samples + 1 polls.
    let needed = poll_interval.saturating_mul(min_samples as u32 + 1);
    if history < needed {
        return Err(ConfigError::DurationOrder {
            scope: place.to_owned(),
            smaller: "(min_samples + 1) × [watch] poll_interval",
            smaller_value: needed,
            relation: "at most",
            larger: "history",
            larger_value: history,
        });
    }
    // The window is kept in memory and fitted every round: bound it.
    let most = poll_interval.saturating_mul(ScaleSettings::MOST_HISTORY_POLLS);
    if history > most {
        return Err(ConfigError::DurationOrder {
            scope: place.to_owned(),
            smaller: "history",
            smaller_value: history,
            relation: "at most",
            larger: "10000 × [watch] poll_interval",
            larger_value: most,
        });
    }
    let error_limit = raw
        .error_limit
        .unwrap_or(ScaleSettings::DEFAULT_ERROR_LIMIT);
    if !error_limit.is_finite() || error_limit <= 0.0 {
        return Err(ConfigError::OutOfRange {
            place: format!("{place} error_limit"),
            found: error_limit.to_string(),
            expected: "a positive share of the traffic, e.g. 0.25",
        });
    }
    let twice_relaunch = raw.relaunch.saturating_mul(2);
    let cooldown = raw.cooldown.unwrap_or(twice_relaunch);
    if cooldown < twice_relaunch {
        return Err(ConfigError::DurationOrder {
            scope: place.to_owned(),
            smaller: "2 × relaunch",
            smaller_value: twice_relaunch,
            relation: "at most",
            larger: "cooldown",
            larger_value: cooldown,
        });
    }
    let hook = hook(place, raw.command, raw.command_timeout)?;
    Ok(ScaleGroup {
        cluster,
        group,
        hook,
        settings: ScaleSettings {
            target,
            relaunch: raw.relaunch,
            min_instances,
            max_instances,
            history,
            error_limit,
            cooldown,
            min_samples,
            poll_interval,
        },
    })
}

/// The action hook: `command` (a non-empty argv) and its `command_timeout`.
fn hook(
    place: &str,
    command: Option<Vec<String>>,
    timeout: Option<Duration>,
) -> Result<Option<ScaleHook>, ConfigError> {
    let Some(command) = command else {
        if timeout.is_some() {
            return Err(ConfigError::OutOfRange {
                place: format!("{place} command_timeout"),
                found: "a timeout without a command".into(),
                expected: "`command` set as well (the hook it bounds)",
            });
        }
        return Ok(None);
    };
    if command
        .first()
        .is_none_or(|program| program.trim().is_empty())
    {
        return Err(ConfigError::OutOfRange {
            place: format!("{place} command"),
            found: format!("{command:?}"),
            expected: "an argv whose first element is the program to run",
        });
    }
    let timeout = positive(
        &format!("{place} command_timeout"),
        timeout,
        ScaleHook::DEFAULT_TIMEOUT,
    )?;
    Ok(Some(ScaleHook { command, timeout }))
}

/// A count in `[least, u32::MAX]`, or `default`.
fn count(
    place: &str,
    value: Option<i64>,
    default: u32,
    least: u32,
    expected: &'static str,
) -> Result<u32, ConfigError> {
    let Some(value) = value else {
        return Ok(default);
    };
    match u32::try_from(value) {
        Ok(n) if n >= least => Ok(n),
        _ => Err(ConfigError::OutOfRange {
            place: place.to_owned(),
            found: value.to_string(),
            expected,
        }),
    }
}
