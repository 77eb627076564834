//! From `[canary]` as written to [`CanarySection`]; every error names the key.

use super::{CanaryAcks, CanaryConfig, CanaryMode, CanarySection};
use crate::config::error::ConfigError;
use crate::config::raw::{RawCanary, RawCanaryFile};
use crate::config::validate::{clusters, declared_cluster, http, non_empty, positive, topic};
use crate::config::watch::webhook_at;
use crate::config::{ClusterConfig, Location};

pub(in crate::config) fn canary_config(raw: RawCanaryFile) -> Result<CanaryConfig, ConfigError> {
    let declared = clusters(raw.clusters.0)?;
    let http = http(raw.http)?;
    let chosen = raw.canary.clusters.clone();
    let canary = section(raw.canary, &declared)?;
    let clusters = match chosen {
        Some(names) => declared
            .into_iter()
            .filter(|c| names.contains(&c.name))
            .collect(),
        None => declared,
    };
    Ok(CanaryConfig {
        clusters,
        http,
        canary,
    })
}

/// Validates `[canary]` against already validated clusters. Shared with the loaders of
/// `cairn detect` and `cairn watch`, which check the section of a file serving every job.
pub(in crate::config) fn section(
    raw: RawCanary,
    declared: &[ClusterConfig],
) -> Result<CanarySection, ConfigError> {
    if let Some(names) = &raw.clusters {
        if names.is_empty() {
            return Err(ConfigError::Empty {
                place: "[canary] clusters".into(),
                expected: "at least one cluster name (or no key: every cluster)",
            });
        }
        for name in names {
            declared_cluster("[canary] clusters", name.clone(), declared)?;
        }
    }
    let topic = topic(
        "[canary] topic",
        raw.topic
            .unwrap_or_else(|| CanarySection::DEFAULT_TOPIC.to_owned()),
    )?;
    let replication = raw
        .replication
        .unwrap_or(CanarySection::DEFAULT_REPLICATION);
    if !(1..=16).contains(&replication) {
        return Err(ConfigError::OutOfRange {
            place: "[canary] replication".into(),
            found: replication.to_string(),
            expected: "1 to 16 replicas",
        });
    }
    let acks = match raw.acks.as_deref() {
        None | Some("all") | Some("-1") => CanaryAcks::All,
        Some("1") => CanaryAcks::Leader,
        Some(other) => {
            return Err(ConfigError::OutOfRange {
                place: "[canary] acks".into(),
                found: other.to_owned(),
                expected: "\"all\" or \"1\"",
            });
        }
    };
    let rate = raw.rate.unwrap_or(CanarySection::DEFAULT_RATE);
    if !(1..=CanarySection::MAX_RATE).contains(&rate) {
        return Err(ConfigError::OutOfRange {
            place: "[canary] rate".into(),
            found: rate.to_string(),
            expected: "1 to 1000000 heartbeats per second per partition",
        });
    }
    let instance = match raw.instance {
        Some(name) => Some(non_empty(
            "[canary] instance",
            name,
            "a name for this canary process",
        )?),
        None => None,
    };
    let lost_sequences_kept = raw
        .lost_sequences_kept
        .unwrap_or(CanarySection::DEFAULT_LOST_SEQUENCES_KEPT);
    if lost_sequences_kept > 100_000 {
        return Err(ConfigError::OutOfRange {
            place: "[canary] lost_sequences_kept".into(),
            found: lost_sequences_kept.to_string(),
            expected: "at most 100000",
        });
    }
    let mode = match raw.mode.as_deref() {
        None | Some("both") => CanaryMode::Both,
        Some("produce") => CanaryMode::Produce,
        Some("consume") => CanaryMode::Consume,
        Some(other) => {
            return Err(ConfigError::OutOfRange {
                place: "[canary] mode".into(),
                found: format!("{other:?}"),
                expected: "\"both\", \"produce\" or \"consume\"",
            });
        }
    };
    let incidents_topic = match raw.incidents_topic {
        Some(text) => {
            let Some(location) = Location::parse(&text) else {
                return Err(ConfigError::NotALocation {
                    place: "[canary] incidents_topic".into(),
                    found: text,
                });
            };
            declared_cluster(
                "[canary] incidents_topic",
                location.cluster.clone(),
                declared,
            )?;
            Some(location)
        }
        None => None,
    };
    let webhooks = raw
        .webhooks
        .into_iter()
        .enumerate()
        .map(|(i, hook)| webhook_at(format!("[[canary.webhooks]] #{}", i + 1), hook))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CanarySection {
        mode,
        incidents_topic,
        webhooks,
        topic,
        replication,
        topic_config: raw.topic_config.0,
        acks,
        rate,
        instance,
        management_interval: positive(
            "[canary] management_interval",
            raw.management_interval,
            CanarySection::DEFAULT_MANAGEMENT_INTERVAL,
        )?,
        metadata_interval: positive(
            "[canary] metadata_interval",
            raw.metadata_interval,
            CanarySection::DEFAULT_METADATA_INTERVAL,
        )?,
        grace: positive("[canary] grace", raw.grace, CanarySection::DEFAULT_GRACE)?,
        send_timeout: positive(
            "[canary] send_timeout",
            raw.send_timeout,
            CanarySection::DEFAULT_SEND_TIMEOUT,
        )?,
        consume_timeout: positive(
            "[canary] consume_timeout",
            raw.consume_timeout,
            CanarySection::DEFAULT_CONSUME_TIMEOUT,
        )?,
        availability_window: positive(
            "[canary] availability_window",
            raw.availability_window,
            CanarySection::DEFAULT_AVAILABILITY_WINDOW,
        )?,
        lost_sequences_kept,
        request_timeout: positive(
            "[canary] request_timeout",
            raw.request_timeout,
            CanarySection::DEFAULT_REQUEST_TIMEOUT,
        )?,
    })
}
