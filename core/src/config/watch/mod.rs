//! `cairn watch`'s configuration: `[clusters]`, `[http]` and `[watch]` of a cairn.toml, plus
//! the groups of `[[streams]]` when the file has them.
//!
//! [`WatchConfig`] is loaded on its own, so a file without `[tracing]`, `[output]` or
//! `[[streams]]` serves the watch; `Config` (for `cairn detect`) accepts and validates the
//! same `[watch]` section, so one file may serve both jobs. Group names are matched by
//! regular expressions against the whole name. `schemas/cairn.example.toml` documents every key.

mod election;
mod validate;

use std::path::Path;
use std::time::Duration;

use regex::Regex;

pub(super) use self::validate::{check_headers, section, webhook_at};
use super::error::ConfigError;
use super::raw::RawWatchFile;
use super::{ClusterConfig, HttpConfig, Location, RespondSection, ScaleSection};
use crate::watch::GroupSettings;

/// A validated configuration for `cairn watch`. Built by [`WatchConfig::from_toml_str`] (or `load`).
#[derive(Clone, Debug, PartialEq)]
pub struct WatchConfig {
    /// Kafka clusters by name, in file order; every group of each is a candidate.
    pub clusters: Vec<ClusterConfig>,
    pub http: HttpConfig,
    pub watch: WatchSection,
    /// The groups that read a location in `[[streams]]`: always watched, whatever
    /// `include` and `exclude` say. In file order, without repeats.
    pub lineage_groups: Vec<WatchedGroup>,
    /// The first responder: empty when the file has no `[respond]`.
    pub respond: RespondSection,
    /// The autoscaling advisor's groups (`[scale]`); empty when it advises on none.
    pub scale: ScaleSection,
}

/// The validated `[watch]` section.
#[derive(Clone, Debug, PartialEq)]
pub struct WatchSection {
    /// Groups to follow; `None` (the default) follows every group.
    pub include: Option<Vec<GroupPattern>>,
    /// Groups to leave out of `include`'s (lineage groups are never left out).
    pub exclude: Vec<GroupPattern>,
    pub window: Duration,
    pub poll_interval: Duration,
    pub max_lag: Duration,
    /// Per Kafka request of the watch.
    pub request_timeout: Duration,
    pub history_points: usize,
    /// Export lag per partition on `/metrics` too (one series per group and partition).
    pub partition_metrics: bool,
    /// Per-group settings, in file order; every entry that selects a group applies, later
    /// entries over earlier ones.
    pub groups: Vec<GroupOverride>,
    /// Where incident records are published, if anywhere.
    pub incidents_topic: Option<Location>,
    /// Where incident records are POSTed, if anywhere.
    pub webhooks: Vec<Webhook>,
    /// How several instances elect the one that publishes; `None`: this instance always acts.
    pub election: Option<ElectionConfig>,
}

/// Several `cairn watch` instances on one config: the member of `control_group` that owns
/// partition 0 of `control_topic` is the active instance; the others stand by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElectionConfig {
    /// A one-partition topic that carries no records; its owner is the active instance.
    pub control_topic: Location,
    pub control_group: String,
    /// How long the group's coordinator waits for a silent member before handing its role on,
    /// and how long a member cut off from the coordinator keeps believing it is active.
    pub session_timeout: Duration,
}

impl ElectionConfig {
    /// Unless `control_session_timeout` says otherwise (the broker must allow it: its
    /// `group.min.session.timeout.ms` is 6 s by default).
    pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(10);

    /// `<incidents cluster>/<incidents topic>.control`.
    pub fn default_control_topic(incidents: &Location) -> Location {
        Location {
            cluster: incidents.cluster.clone(),
            topic: format!("{}.control", incidents.topic),
        }
    }

    /// `cairn-watch.<incidents topic>`.
    pub fn default_control_group(incidents: &Location) -> String {
        format!("cairn-watch.{}", incidents.topic)
    }

    /// The transactional id of the active instance's incidents producer: one per control
    /// group, so that a new active instance fences the producer of the one before it.
    pub fn transactional_id(&self) -> String {
        format!("{}.incidents", self.control_group)
    }
}

/// A consumer group on a cluster.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WatchedGroup {
    pub cluster: String,
    pub group: String,
}

/// A regular expression that must match a whole group name.
#[derive(Clone, Debug)]
pub struct GroupPattern {
    /// As written in the file.
    source: String,
    /// `^(?:source)$`.
    anchored: Regex,
}

impl GroupPattern {
    /// Compiles a pattern for whole names; the error is the regex crate's own message.
    pub fn new(source: &str) -> Result<GroupPattern, regex::Error> {
        let anchored = Regex::new(&format!("^(?:{source})$"))?;
        Ok(GroupPattern {
            source: source.to_owned(),
            anchored,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the pattern matches all of `group`.
    pub fn matches(&self, group: &str) -> bool {
        self.anchored.is_match(group)
    }
}

impl PartialEq for GroupPattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

/// How a `[[watch.groups]]` entry picks its groups.
#[derive(Clone, Debug, PartialEq)]
pub enum GroupSelector {
    Name(String),
    Pattern(GroupPattern),
}

/// One `[[watch.groups]]` entry: what it selects and what it changes.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupOverride {
    /// Only groups on this cluster; every cluster when `None`.
    pub cluster: Option<String>,
    pub selector: GroupSelector,
    pub window: Option<Duration>,
    pub max_lag: Option<Duration>,
    pub incidents: Option<bool>,
}

impl GroupOverride {
    pub fn selects(&self, cluster: &str, group: &str) -> bool {
        let cluster_ok = self.cluster.as_deref().is_none_or(|c| c == cluster);
        cluster_ok
            && match &self.selector {
                GroupSelector::Name(name) => name == group,
                GroupSelector::Pattern(pattern) => pattern.matches(group),
            }
    }
}

/// One `[[watch.webhooks]]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Webhook {
    pub url: String,
    /// Sent with every POST, in file order (e.g. `Authorization`).
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
}

impl WatchConfig {
    /// Parses and validates the text of a cairn.toml for `cairn watch`.
    pub fn from_toml_str(text: &str) -> Result<WatchConfig, ConfigError> {
        let raw: RawWatchFile = toml::from_str(text).map_err(super::toml_error)?;
        validate::watch_config(raw)
    }

    /// Reads, parses and validates a cairn.toml file for `cairn watch`.
    pub fn load(path: impl AsRef<Path>) -> Result<WatchConfig, ConfigError> {
        Self::from_toml_str(&super::read_file(path.as_ref())?)
    }

    /// Whether `group` on `cluster` is followed: a lineage group, or a group `include`
    /// selects and `exclude` does not. Clusters not declared have no groups to follow.
    pub fn watches(&self, cluster: &str, group: &str) -> bool {
        if self.cluster(cluster).is_none() {
            return false;
        }
        let in_lineage = self
            .lineage_groups
            .iter()
            .any(|g| g.cluster == cluster && g.group == group);
        in_lineage || self.watch.selects(group)
    }

    /// The settings `group` on `cluster` is judged with.
    pub fn settings_for(&self, cluster: &str, group: &str) -> GroupSettings {
        self.watch.settings_for(cluster, group)
    }

    /// The cluster with this name.
    pub fn cluster(&self, name: &str) -> Option<&ClusterConfig> {
        self.clusters.iter().find(|c| c.name == name)
    }
}

impl WatchSection {
    /// Whether `include` and `exclude` select `group`.
    pub fn selects(&self, group: &str) -> bool {
        let included = self
            .include
            .as_ref()
            .is_none_or(|patterns| patterns.iter().any(|p| p.matches(group)));
        included && !self.exclude.iter().any(|p| p.matches(group))
    }

    /// The section's settings with every `[[watch.groups]]` entry that selects the group
    /// applied in file order.
    pub fn settings_for(&self, cluster: &str, group: &str) -> GroupSettings {
        let mut settings = GroupSettings {
            window: self.window,
            poll_interval: self.poll_interval,
            max_lag: self.max_lag,
            incidents: true,
            history_points: self.history_points,
        };
        for entry in self.groups.iter().filter(|o| o.selects(cluster, group)) {
            settings.window = entry.window.unwrap_or(settings.window);
            settings.max_lag = entry.max_lag.unwrap_or(settings.max_lag);
            settings.incidents = entry.incidents.unwrap_or(settings.incidents);
        }
        settings
    }

    /// Per Kafka request, unless `request_timeout` says otherwise.
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
}

impl Webhook {
    /// A receiver that has not answered in this long is given up on for that record.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
}

#[cfg(test)]
mod tests;
