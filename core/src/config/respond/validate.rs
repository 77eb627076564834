//! From `[respond]` as written to [`RespondSection`]. Every error names the key and the entry
//! (`[[respond.groups]] #2 command: ...`), in file order.

use std::collections::HashSet;

use super::{RespondAction, RespondGroup, RespondSection};
use crate::config::error::ConfigError;
use crate::config::raw::{RawRespond, RawRespondGroup};
use crate::config::validate::{declared_cluster, is_http_url, positive};
use crate::config::watch::{check_headers, webhook_at};
use crate::config::{ClusterConfig, Location, WatchSection, WatchedGroup};

/// Methods an action may use.
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Validates `[respond]` against the clusters and the watch settings that decide which groups
/// get incidents (`lineage` groups are always watched).
pub(in crate::config) fn section(
    raw: RawRespond,
    clusters: &[ClusterConfig],
    watch: &WatchSection,
    lineage: &[WatchedGroup],
) -> Result<RespondSection, ConfigError> {
    let actions_topic = match raw.actions_topic {
        Some(text) => {
            let place = "[respond] actions_topic";
            let Some(location) = Location::parse(&text) else {
                return Err(ConfigError::NotALocation {
                    place: place.into(),
                    found: text,
                });
            };
            declared_cluster(place, location.cluster.clone(), clusters)?;
            Some(location)
        }
        None => None,
    };
    let webhooks = raw
        .webhooks
        .into_iter()
        .enumerate()
        .map(|(i, hook)| webhook_at(format!("[[respond.webhooks]] #{}", i + 1), hook))
        .collect::<Result<Vec<_>, _>>()?;
    let mut seen = HashSet::new();
    let mut groups = Vec::new();
    for (i, entry) in raw.groups.into_iter().enumerate() {
        let place = format!("[[respond.groups]] #{}", i + 1);
        let group = group(&place, entry, clusters, watch, lineage)?;
        if !seen.insert((group.cluster.clone(), group.group.clone())) {
            return Err(ConfigError::DuplicateRespondGroup {
                place,
                cluster: group.cluster,
                group: group.group,
            });
        }
        groups.push(group);
    }
    Ok(RespondSection {
        actions_topic,
        webhooks,
        groups,
    })
}

fn group(
    place: &str,
    raw: RawRespondGroup,
    clusters: &[ClusterConfig],
    watch: &WatchSection,
    lineage: &[WatchedGroup],
) -> Result<RespondGroup, ConfigError> {
    let at = |key: &str| format!("{place} {key}");
    let cluster = declared_cluster(
        &at("cluster"),
        raw.cluster.clone().ok_or_else(|| ConfigError::Missing {
            place: at("cluster"),
            expected: "a cluster declared in [clusters]",
        })?,
        clusters,
    )?;
    let group = match raw.group.clone() {
        Some(group) if !group.trim().is_empty() => group,
        Some(_) => {
            return Err(ConfigError::Empty {
                place: at("group"),
                expected: "the consumer group's name",
            });
        }
        None => {
            return Err(ConfigError::Missing {
                place: at("group"),
                expected: "the consumer group's name",
            });
        }
    };
    let stateless = raw.stateless.ok_or_else(|| ConfigError::Missing {
        place: at("stateless"),
        expected: "true (the group may be relaunched) or false (notify only)",
    })?;
    let in_lineage = lineage
        .iter()
        .any(|g| g.cluster == cluster && g.group == group);
    let why = if !in_lineage && !watch.selects(&group) {
        Some("is not watched ([watch] include/exclude leave it out)")
    } else if !watch.settings_for(&cluster, &group).incidents {
        Some("has `incidents = false` in [[watch.groups]]")
    } else {
        None
    };
    if let Some(why) = why {
        return Err(ConfigError::UnwatchedRespondGroup {
            place: place.to_owned(),
            cluster,
            group,
            why,
        });
    }
    let action = action(place, &raw)?;
    if stateless && action.is_none() {
        return Err(ConfigError::RespondAction {
            place: place.to_owned(),
            problem: "stateless = true needs an action, expected `command` (argv) or `url`",
        });
    }
    let suppress_for = positive(
        &at("suppress_for"),
        raw.suppress_for,
        RespondSection::DEFAULT_SUPPRESS_FOR,
    )?;
    let verify_within = positive(
        &at("verify_within"),
        raw.verify_within,
        watch.settings_for(&cluster, &group).window,
    )?;
    if verify_within > suppress_for {
        return Err(ConfigError::DurationOrder {
            scope: place.to_owned(),
            smaller: "verify_within",
            smaller_value: verify_within,
            relation: "at most",
            larger: "suppress_for",
            larger_value: suppress_for,
        });
    }
    let timeout = positive(&at("timeout"), raw.timeout, RespondSection::DEFAULT_TIMEOUT)?;
    Ok(RespondGroup {
        cluster,
        group,
        stateless,
        action,
        suppress_for,
        verify_within,
        timeout,
    })
}

/// The entry's action, if it has one: `command` or `url` (with `method`, `headers`, `body`).
fn action(place: &str, raw: &RawRespondGroup) -> Result<Option<RespondAction>, ConfigError> {
    let at = |key: &str| format!("{place} {key}");
    match (&raw.command, &raw.url) {
        (Some(_), Some(_)) => Err(ConfigError::RespondAction {
            place: place.to_owned(),
            problem: "both `command` and `url`, expected one action",
        }),
        (Some(argv), None) => {
            for (key, given) in [
                ("method", raw.method.is_some()),
                ("headers", raw.headers.is_some()),
                ("body", raw.body.is_some()),
            ] {
                if given {
                    return Err(ConfigError::RespondAction {
                        place: at(key),
                        problem: "only for an HTTP action, expected `url` with it (or no such key with `command`)",
                    });
                }
            }
            match argv.first() {
                None => Err(ConfigError::Empty {
                    place: at("command"),
                    expected: "the program and its arguments, e.g. [\"/opt/relaunch.sh\", \"orders-sink\"]",
                }),
                Some(program) if program.trim().is_empty() => Err(ConfigError::Empty {
                    place: at("command[0]"),
                    expected: "the program to run",
                }),
                Some(_) => Ok(Some(RespondAction::Command(argv.clone()))),
            }
        }
        (None, Some(url)) => {
            if !is_http_url(url) {
                return Err(ConfigError::BadUrl {
                    place: at("url"),
                    found: url.clone(),
                });
            }
            let method = match &raw.method {
                Some(method) if METHODS.contains(&method.to_ascii_uppercase().as_str()) => {
                    method.to_ascii_uppercase()
                }
                Some(method) => {
                    return Err(ConfigError::BadMethod {
                        place: at("method"),
                        found: method.clone(),
                    });
                }
                None => RespondSection::DEFAULT_METHOD.to_owned(),
            };
            let headers = raw
                .headers
                .as_ref()
                .map(|h| h.0.clone())
                .unwrap_or_default();
            check_headers(&at("headers"), &headers)?;
            Ok(Some(RespondAction::Http {
                url: url.clone(),
                method,
                headers,
                body: raw.body.clone(),
            }))
        }
        (None, None) => {
            for (key, given) in [
                ("method", raw.method.is_some()),
                ("headers", raw.headers.is_some()),
                ("body", raw.body.is_some()),
            ] {
                if given {
                    return Err(ConfigError::RespondAction {
                        place: at(key),
                        problem: "only for an HTTP action, expected `url` with it",
                    });
                }
            }
            Ok(None)
        }
    }
}
