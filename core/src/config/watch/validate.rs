//! From `[watch]` as written to [`WatchSection`], and from a whole file to [`WatchConfig`].
//! Every error names the key (and the entry, for lists), in file order.

use std::collections::HashSet;
use std::time::Duration;

use super::election::RawElection;
use super::{
    GroupOverride, GroupPattern, GroupSelector, WatchConfig, WatchSection, WatchedGroup, Webhook,
};
use crate::config::error::ConfigError;
use crate::config::raw::{RawWatch, RawWatchFile, RawWatchGroup, RawWebhook};
use crate::config::validate::{
    clusters, declared_cluster, http, is_http_url, positive, streams, timing,
};
use crate::config::{ClusterConfig, Location, OracleConfig, Timing};
use crate::watch::GroupSettings;

pub(in crate::config) fn watch_config(raw: RawWatchFile) -> Result<WatchConfig, ConfigError> {
    let clusters = clusters(raw.clusters.0)?;
    let http = http(raw.http)?;
    let watch = section(raw.watch, &clusters)?;
    // A file serving `cairn canary` too must be valid for it.
    if let Some(canary) = raw.canary {
        crate::config::canary::section(canary, &clusters)?;
    }
    // `[[streams]]` is optional here, but when present it is the same lineage `cairn detect`
    // runs, validated by the same rules (which read `[timing]` and `[oracle]`).
    let poll_interval = positive(
        "[oracle] poll_interval",
        raw.oracle.poll_interval,
        OracleConfig::DEFAULT_POLL_INTERVAL,
    )?;
    let defaults = timing("[timing]", &raw.timing, Timing::default(), poll_interval)?;
    let streams = streams(raw.streams, &clusters, &defaults, poll_interval)?;
    let mut seen = HashSet::new();
    let lineage_groups: Vec<WatchedGroup> = streams
        .iter()
        .flat_map(|s| &s.apps)
        .filter_map(|app| {
            let (group, reads) = (app.group.as_ref()?, app.reads.as_ref()?);
            Some(WatchedGroup {
                cluster: reads.cluster.clone(),
                group: group.clone(),
            })
        })
        .filter(|g| seen.insert(g.clone()))
        .collect();
    let respond = crate::config::respond::section(raw.respond, &clusters, &watch, &lineage_groups)?;
    let mut config = WatchConfig {
        clusters,
        http,
        watch,
        lineage_groups,
        respond,
        scale: Default::default(),
    };
    config.scale = crate::config::scale::section(
        raw.scale,
        &config.clusters,
        config.watch.poll_interval,
        &|cluster, group| config.watches(cluster, group),
    )?;
    Ok(config)
}

/// Validates `[watch]` against already validated clusters. Shared with `cairn detect`'s
/// loader, which checks the section of a file serving both jobs.
pub(in crate::config) fn section(
    raw: RawWatch,
    clusters: &[ClusterConfig],
) -> Result<WatchSection, ConfigError> {
    let include = match raw.include {
        Some(patterns) => Some(patterns_at("[watch] include", patterns)?),
        None => None,
    };
    let exclude = patterns_at("[watch] exclude", raw.exclude)?;
    let poll_interval = positive(
        "[watch] poll_interval",
        raw.poll_interval,
        GroupSettings::DEFAULT_POLL_INTERVAL,
    )?;
    let window = window(
        "[watch]",
        raw.window,
        GroupSettings::DEFAULT_WINDOW,
        poll_interval,
    )?;
    let max_lag = positive(
        "[watch] max_lag",
        raw.max_lag,
        GroupSettings::DEFAULT_MAX_LAG,
    )?;
    let request_timeout = positive(
        "[watch] request_timeout",
        raw.request_timeout,
        WatchSection::DEFAULT_REQUEST_TIMEOUT,
    )?;
    let history_points = raw
        .history_points
        .unwrap_or(GroupSettings::DEFAULT_HISTORY_POINTS);
    if history_points == 0 {
        return Err(ConfigError::OutOfRange {
            place: "[watch] history_points".into(),
            found: "0".into(),
            expected: "at least 1 point per partition",
        });
    }
    let incidents_topic = match raw.incidents_topic {
        Some(text) => Some(incidents_topic(text, clusters)?),
        None => None,
    };
    let election = super::election::election(
        RawElection {
            election: raw.election,
            control_topic: raw.control_topic,
            control_group: raw.control_group,
            control_session_timeout: raw.control_session_timeout,
        },
        incidents_topic.as_ref(),
        clusters,
    )?;
    let groups = raw
        .groups
        .into_iter()
        .enumerate()
        .map(|(i, entry)| group_override(i + 1, entry, clusters, poll_interval))
        .collect::<Result<Vec<_>, _>>()?;
    let webhooks = raw
        .webhooks
        .into_iter()
        .enumerate()
        .map(|(i, hook)| webhook(i + 1, hook))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(WatchSection {
        include,
        exclude,
        window,
        poll_interval,
        max_lag,
        request_timeout,
        history_points,
        partition_metrics: raw.partition_metrics,
        groups,
        incidents_topic,
        webhooks,
        election,
    })
}

fn patterns_at(key: &str, sources: Vec<String>) -> Result<Vec<GroupPattern>, ConfigError> {
    sources
        .into_iter()
        .enumerate()
        .map(|(i, source)| pattern(&format!("{key}[{i}]"), source))
        .collect()
}

fn pattern(place: &str, source: String) -> Result<GroupPattern, ConfigError> {
    GroupPattern::new(&source).map_err(|err| ConfigError::BadRegex {
        place: place.to_owned(),
        detail: regex_detail(&err),
        found: source,
    })
}

/// The regex crate's message is a multi-line picture; its last line says what is wrong.
fn regex_detail(err: &regex::Error) -> String {
    let text = err.to_string();
    let last = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    last.trim().trim_start_matches("error: ").to_owned()
}

/// A stuck window must span more than one poll, or one late round would declare it.
fn window(
    scope: &str,
    value: Option<Duration>,
    default: Duration,
    poll_interval: Duration,
) -> Result<Duration, ConfigError> {
    let window = positive(&format!("{scope} window"), value, default)?;
    if window <= poll_interval {
        return Err(ConfigError::DurationOrder {
            scope: scope.to_owned(),
            smaller: "[watch] poll_interval",
            smaller_value: poll_interval,
            relation: "less than",
            larger: "window",
            larger_value: window,
        });
    }
    Ok(window)
}

fn incidents_topic(text: String, clusters: &[ClusterConfig]) -> Result<Location, ConfigError> {
    let Some(location) = Location::parse(&text) else {
        return Err(ConfigError::BadIncidentsTopic { found: text });
    };
    declared_cluster(
        "[watch] incidents_topic",
        location.cluster.clone(),
        clusters,
    )?;
    Ok(location)
}

fn group_override(
    number: usize,
    raw: RawWatchGroup,
    clusters: &[ClusterConfig],
    poll_interval: Duration,
) -> Result<GroupOverride, ConfigError> {
    let place = format!("[[watch.groups]] #{number}");
    let selector = match (raw.group, raw.group_regex) {
        (Some(name), None) if !name.trim().is_empty() => GroupSelector::Name(name),
        (None, Some(source)) => {
            GroupSelector::Pattern(pattern(&format!("{place} group_regex"), source)?)
        }
        _ => return Err(ConfigError::GroupSelector { place }),
    };
    let cluster = match raw.cluster {
        Some(cluster) => Some(declared_cluster(
            &format!("{place} cluster"),
            cluster,
            clusters,
        )?),
        None => None,
    };
    if raw.window.is_none() && raw.max_lag.is_none() && raw.incidents.is_none() {
        return Err(ConfigError::EmptyOverride { place });
    }
    let window = match raw.window {
        Some(value) => Some(window(&place, Some(value), value, poll_interval)?),
        None => None,
    };
    let max_lag = match raw.max_lag {
        Some(value) => Some(positive(&format!("{place} max_lag"), Some(value), value)?),
        None => None,
    };
    Ok(GroupOverride {
        cluster,
        selector,
        window,
        max_lag,
        incidents: raw.incidents,
    })
}

fn webhook(number: usize, raw: RawWebhook) -> Result<Webhook, ConfigError> {
    webhook_at(format!("[[watch.webhooks]] #{number}"), raw)
}

/// A webhook entry whose errors name `place` (shared with `[[respond.webhooks]]`).
pub(in crate::config) fn webhook_at(
    place: String,
    raw: RawWebhook,
) -> Result<Webhook, ConfigError> {
    if !is_http_url(&raw.url) {
        return Err(ConfigError::BadUrl {
            place: format!("{place} url"),
            found: raw.url,
        });
    }
    check_headers(&format!("{place} headers"), &raw.headers.0)?;
    Ok(Webhook {
        url: raw.url,
        headers: raw.headers.0,
        timeout: positive(
            &format!("{place} timeout"),
            raw.timeout,
            Webhook::DEFAULT_TIMEOUT,
        )?,
    })
}

/// Headers that can be sent as written: valid names, no line breaks in values.
pub(in crate::config) fn check_headers(
    place: &str,
    headers: &[(String, String)],
) -> Result<(), ConfigError> {
    for (name, value) in headers {
        let problem = if name.is_empty() || !name.bytes().all(is_token_byte) {
            Some("not a header name, expected letters, digits and !#$%&'*+-.^_`|~")
        } else if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
            Some("the value holds a line break or NUL, which would split the request")
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(ConfigError::BadHeader {
                place: place.to_owned(),
                name: name.clone(),
                problem,
            });
        }
    }
    Ok(())
}

/// RFC 9110's `tchar`: what a header name is made of.
pub(in crate::config) fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
