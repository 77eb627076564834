//! `[watch]`'s election keys: several `cairn watch` instances on one config elect one active
//! instance through a consumer group on a one-partition control topic. On by default when
//! `incidents_topic` is set (the topic is also what a new active instance reconciles with);
//! `election = false` runs one instance that always acts.

use std::time::Duration;

use super::ElectionConfig;
use crate::config::error::ConfigError;
use crate::config::validate::{declared_cluster, positive};
use crate::config::{ClusterConfig, Location};

/// The election keys as written.
pub(super) struct RawElection {
    pub election: Option<bool>,
    pub control_topic: Option<String>,
    pub control_group: Option<String>,
    pub control_session_timeout: Option<Duration>,
}

impl RawElection {
    /// The keys that only mean something with an election, by name, when set.
    fn set_keys(&self) -> Vec<&'static str> {
        [
            ("control_topic", self.control_topic.is_some()),
            ("control_group", self.control_group.is_some()),
            (
                "control_session_timeout",
                self.control_session_timeout.is_some(),
            ),
        ]
        .into_iter()
        .filter_map(|(key, set)| set.then_some(key))
        .collect()
    }
}

/// The validated election, or `None` when this instance always acts.
pub(super) fn election(
    raw: RawElection,
    incidents_topic: Option<&Location>,
    clusters: &[ClusterConfig],
) -> Result<Option<ElectionConfig>, ConfigError> {
    let Some(incidents) = incidents_topic else {
        if raw.election == Some(true) {
            return Err(ConfigError::Election {
                key: "election",
                problem: "true needs incidents_topic: a new active instance reconciles with what \
                          the last one published there"
                    .into(),
            });
        }
        if let Some(key) = raw.set_keys().first() {
            return Err(ConfigError::Election {
                key,
                problem: "set without incidents_topic; several instances need an incidents topic"
                    .into(),
            });
        }
        return Ok(None);
    };
    if raw.election == Some(false) {
        if let Some(key) = raw.set_keys().first() {
            return Err(ConfigError::Election {
                key,
                problem: "set while election = false; remove it or the election = false".into(),
            });
        }
        return Ok(None);
    }
    let control_topic = match raw.control_topic {
        Some(text) => {
            let Some(location) = Location::parse(&text) else {
                return Err(ConfigError::Election {
                    key: "control_topic",
                    problem: format!("{text:?} is not a location, expected \"<cluster>/<topic>\""),
                });
            };
            declared_cluster("[watch] control_topic", location.cluster.clone(), clusters)?;
            location
        }
        None => ElectionConfig::default_control_topic(incidents),
    };
    if control_topic == *incidents {
        return Err(ConfigError::Election {
            key: "control_topic",
            problem: format!(
                "{control_topic} is the incidents topic; the control topic must be a topic of its own"
            ),
        });
    }
    let control_group = match raw.control_group {
        Some(group) if group.trim().is_empty() => {
            return Err(ConfigError::Election {
                key: "control_group",
                problem: "empty, expected a consumer group name".into(),
            });
        }
        Some(group) => group,
        None => ElectionConfig::default_control_group(incidents),
    };
    let session_timeout = positive(
        "[watch] control_session_timeout",
        raw.control_session_timeout,
        ElectionConfig::DEFAULT_SESSION_TIMEOUT,
    )?;
    Ok(Some(ElectionConfig {
        control_topic,
        control_group,
        session_timeout,
    }))
}
