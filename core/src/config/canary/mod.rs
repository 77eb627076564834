//! `cairn canary`'s configuration: `[clusters]`, `[http]` and `[canary]` of a cairn.toml.
//!
//! [`CanaryConfig`] is loaded on its own, so a file with only those sections serves the
//! canary; `cairn detect` and `cairn watch` accept and validate the same `[canary]` section,
//! so one file may serve every job. `schemas/cairn.example.toml` documents every key.

mod validate;

use std::path::Path;
use std::time::Duration;

pub(super) use self::validate::section;
use super::error::ConfigError;
use super::raw::RawCanaryFile;
use super::{ClusterConfig, HttpConfig, Location, Webhook};

/// A validated configuration for `cairn canary`.
#[derive(Clone, Debug, PartialEq)]
pub struct CanaryConfig {
    /// The clusters the canary runs on (`[canary] clusters`, or every declared one).
    pub clusters: Vec<ClusterConfig>,
    pub http: HttpConfig,
    pub canary: CanarySection,
}

/// What the producer waits for before a heartbeat counts as acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CanaryAcks {
    /// Every in-sync replica (`acks=all`, idempotent producer).
    All,
    /// The leader only (`acks=1`): a leader lost before replication loses heartbeats.
    Leader,
}

impl CanaryAcks {
    /// The value of librdkafka's `acks`.
    pub fn as_str(self) -> &'static str {
        match self {
            CanaryAcks::All => "all",
            CanaryAcks::Leader => "1",
        }
    }
}

/// What one canary instance does with heartbeats (`[canary] mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CanaryMode {
    /// Writes its own heartbeats and reads them back (the default).
    Both,
    /// Writes heartbeats only; another instance (in `consume` mode) reads them.
    Produce,
    /// Reads every other instance's heartbeats and accounts each writer's sequences.
    Consume,
}

impl CanaryMode {
    pub fn as_str(self) -> &'static str {
        match self {
            CanaryMode::Both => "both",
            CanaryMode::Produce => "produce",
            CanaryMode::Consume => "consume",
        }
    }

    pub fn produces(self) -> bool {
        self != CanaryMode::Consume
    }

    pub fn consumes(self) -> bool {
        self != CanaryMode::Produce
    }
}

/// The validated `[canary]` section.
#[derive(Clone, Debug, PartialEq)]
pub struct CanarySection {
    /// The canary topic's name on every cluster.
    pub topic: String,
    /// Replicas per canary partition (at most the brokers there are).
    pub replication: usize,
    /// Settings of the canary topic when the canary creates it (e.g. `min.insync.replicas`).
    pub topic_config: Vec<(String, String)>,
    pub acks: CanaryAcks,
    /// Heartbeats per second per partition.
    pub rate: u32,
    /// Names this process in its heartbeats; several instances may share a topic.
    pub instance: Option<String>,
    /// How often the topic's placement is checked (created, extended, recreated).
    pub management_interval: Duration,
    /// How often every broker's metadata is compared with the quorum's.
    pub metadata_interval: Duration,
    /// How long a metadata disagreement may last before it is an incident.
    pub grace: Duration,
    /// A send not acknowledged within this fails (and is re-sent, marked).
    pub send_timeout: Duration,
    /// An acknowledged heartbeat unread for this long makes its partition unavailable for
    /// consumption (lag, never loss).
    pub consume_timeout: Duration,
    /// Availability is the share of good outcomes over this window.
    pub availability_window: Duration,
    /// Lost sequences listed by `/api/canary`, per cluster.
    pub lost_sequences_kept: usize,
    /// Per Kafka request of the management and metadata checks.
    pub request_timeout: Duration,
    pub mode: CanaryMode,
    /// Where `metadata_mismatch` records are published, as `cairn watch` publishes its
    /// incidents (`None`: not published to a topic).
    pub incidents_topic: Option<Location>,
    /// Each `metadata_mismatch` record is POSTed to every one of these.
    pub webhooks: Vec<Webhook>,
}

impl CanarySection {
    pub const DEFAULT_TOPIC: &str = "cairn-canary";
    pub const DEFAULT_REPLICATION: usize = 3;
    pub const DEFAULT_RATE: u32 = 10;
    pub const DEFAULT_MANAGEMENT_INTERVAL: Duration = Duration::from_secs(30);
    pub const DEFAULT_METADATA_INTERVAL: Duration = Duration::from_secs(10);
    pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);
    pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(10);
    pub const DEFAULT_CONSUME_TIMEOUT: Duration = Duration::from_secs(10);
    pub const DEFAULT_AVAILABILITY_WINDOW: Duration = Duration::from_secs(30);
    pub const DEFAULT_LOST_SEQUENCES_KEPT: usize = 100;
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
    /// The most heartbeats per second per partition (the perf mode's ceiling).
    pub const MAX_RATE: u32 = 1_000_000;
}

impl CanaryConfig {
    /// Parses and validates the text of a cairn.toml for `cairn canary`.
    pub fn from_toml_str(text: &str) -> Result<CanaryConfig, ConfigError> {
        let raw: RawCanaryFile = toml::from_str(text).map_err(super::toml_error)?;
        let config = validate::canary_config(raw)?;
        refuse_secured(&config.clusters)?;
        Ok(config)
    }

    /// Reads, parses and validates a cairn.toml file for `cairn canary`.
    pub fn load(path: impl AsRef<Path>) -> Result<CanaryConfig, ConfigError> {
        Self::from_toml_str(&super::read_file(path.as_ref())?)
    }
}

/// The canary's per-broker Metadata and DescribeQuorum requests go over its own plain TCP
/// connections (kafka-protocol), which do no SASL or TLS: a secured cluster is refused at load
/// rather than failing later with a broken connection.
fn refuse_secured(clusters: &[ClusterConfig]) -> Result<(), ConfigError> {
    for cluster in clusters {
        let protocol = cluster
            .client
            .iter()
            .rev()
            .find(|(key, _)| key == "security.protocol")
            .map(|(_, value)| value.as_str());
        if let Some(protocol) = protocol.filter(|p| !p.eq_ignore_ascii_case("plaintext")) {
            return Err(ConfigError::SecuredClusterUnsupported {
                cluster: cluster.name.clone(),
                protocol: protocol.to_owned(),
                tool: "cairn canary",
                why: "its per-broker metadata and quorum requests use plain connections",
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
