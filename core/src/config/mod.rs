//! `cairn.toml`: parsed with `deny_unknown_fields`, then validated into the domain types below.
//!
//! Everything after validation can trust its input: names resolve, readers have groups,
//! every read location has a writer, lineage is acyclic, timing knobs are positive and
//! ordered. `schemas/cairn.example.toml` documents every key.
//!
//! Layout: [`raw`] mirrors the file, [`validate`] turns it into the types here,
//! [`duration`] reads `"10s"`-style durations, [`error`] says what went wrong, and
//! `watch` holds `cairn watch`'s own loader and its `[watch]` section, `respond` its `[respond]`
//! section (the first responder), `scale` the autoscaling advisor's `[scale]` section (which
//! `cairn watch` runs too), and [`secrets`] which client settings hold a secret and how they are shown.

mod bytes;
mod canary;
mod duration;
mod error;
mod raw;
mod respond;
mod scale;
pub mod secrets;
mod validate;
mod watch;

use std::path::Path;
use std::time::Duration;

pub use self::bytes::{ByteSizeError, format_bytes, parse_bytes};
pub use self::canary::{CanaryAcks, CanaryConfig, CanaryMode, CanarySection};
pub use self::duration::{DurationError, format_duration, parse_duration};
pub use self::error::ConfigError;
pub use self::respond::{RespondAction, RespondGroup, RespondSection};
pub use self::scale::{ScaleGroup, ScaleHook, ScaleSection};
pub use self::watch::{
    ElectionConfig, GroupOverride, GroupPattern, GroupSelector, WatchConfig, WatchSection,
    WatchedGroup, Webhook,
};

/// A validated configuration. Built only by [`Config::from_toml_str`] (or `load`).
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Kafka clusters by name, in file order.
    pub clusters: Vec<ClusterConfig>,
    pub tracing: TracingConfig,
    pub output: OutputConfig,
    /// Defaults for every stream; a stream may override any of them.
    pub timing: Timing,
    pub streams: Vec<StreamConfig>,
    pub detector: DetectorConfig,
    pub oracle: OracleConfig,
    pub http: HttpConfig,
    pub store: StoreConfig,
    pub control_plane: Option<ControlPlaneConfig>,
}

/// `Debug` is written by hand in [`secrets`]: it redacts secret client settings.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    pub name: String,
    /// Comma-separated `host:port` list, passed to librdkafka as `bootstrap.servers`.
    pub bootstrap: String,
    /// Extra librdkafka client settings (security, timeouts), passed through as given. Print
    /// them only through [`secrets::ShownSettings`]: some hold secrets.
    pub client: Vec<(String, String)>,
}

/// Where traces come from and which consumer group cairn itself uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TracingConfig {
    pub cluster: String,
    pub topic: String,
    pub group: String,
}

/// Where lost-message verdicts go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputConfig {
    pub cluster: String,
    pub topic: String,
}

/// The timing knobs of the decision rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// How long after a message's first trace its expectations are first checked.
    pub first_check: Duration,
    /// The first re-check interval while a consumer is behind; doubles up to `backoff_max`.
    pub backoff: Duration,
    pub backoff_max: Duration,
    /// After this long without a conclusion the message is reported stuck, never lost.
    pub max_wait: Duration,
    /// A lost condition must hold this long before it becomes a verdict (traces in flight).
    pub confirmation_delay: Duration,
    /// How long a complete (or concluded) message is kept to catch late duplicates.
    pub dedup_window: Duration,
    /// Offsets read longer ago than this are stale: the rule waits instead of deciding.
    pub max_offsets_age: Duration,
}

/// What to do with a trace record that does not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MalformedPolicy {
    /// Log it, count it, go on (the default).
    Skip,
    /// Stop the job: for pipelines where a malformed trace means a broken emitter.
    Fail,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DetectorConfig {
    /// Worker threads that own shards of message ids; 0 means one per core.
    pub workers: usize,
    pub on_malformed: MalformedPolicy,
    /// `max_memory`: bytes of message state the detector keeps in memory before it spills
    /// to disk. `None`: the shell derives it from the machine (a quarter of its memory).
    pub max_memory: Option<u64>,
    /// `max_disk`: bytes of spilled state the disk tier may hold before messages are shed.
    /// `None`: the shell derives it (half the free space where the store lives).
    pub max_disk: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OracleConfig {
    /// How often committed offsets and watermarks are polled, per cluster.
    pub poll_interval: Duration,
    pub request_timeout: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpConfig {
    /// `host:port` for /metrics, /api, /healthz, /readyz.
    pub listen: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// The sled directory (one per instance).
    pub path: std::path::PathBuf,
}

/// An HTTP endpoint serving the `[[streams]]` part of the config as TOML, re-read periodically.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlPlaneConfig {
    pub url: String,
    /// How often the document is fetched again.
    pub refresh: Duration,
    /// How long one fetch may take, from connecting to the last byte of the body.
    pub timeout: Duration,
}

/// The streams a control plane served, validated, with the version the document names.
#[derive(Clone, Debug, PartialEq)]
pub struct ServedStreams {
    /// This configuration with its streams replaced by the served ones.
    pub config: Config,
    /// The document's top-level `version`, when it has one.
    pub version: Option<String>,
    /// `sha256:<hex>` of the document's bytes: tells two documents apart whatever they say.
    pub hash: String,
}

/// `sha256:<hex>` of `text`: the identity of a served lineage document.
pub fn content_hash(text: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(text.as_bytes());
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// A location: `<cluster>/<topic>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    pub cluster: String,
    pub topic: String,
}

impl Location {
    /// The `<cluster>/<topic>` form used in traces and verdicts.
    pub fn name(&self) -> String {
        format!("{}/{}", self.cluster, self.topic)
    }
}

/// One stream: a DAG of apps and locations.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamConfig {
    pub name: String,
    pub timing: Timing,
    /// Share of message ids that are traced (consistent hash of the id), in (0, 1].
    pub sample_rate: f64,
    pub apps: Vec<AppConfig>,
}

/// One app of a stream. A producer only writes; a processor reads and writes; a sink only reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppConfig {
    pub app: String,
    /// The consumer group the app reads with; present exactly when `reads` is.
    pub group: Option<String>,
    pub reads: Option<Location>,
    pub writes: Option<Location>,
}

impl Config {
    /// Parses and validates the text of a cairn.toml.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        let raw: raw::RawConfig = toml::from_str(text).map_err(toml_error)?;
        validate::config(raw)
    }

    /// Reads, parses and validates a cairn.toml file.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        Self::from_toml_str(&read_file(path.as_ref())?)
    }

    /// This configuration with its streams replaced by the `[[streams]]` of `text`, as served by
    /// the control plane. The new streams are validated against this file's clusters and timing.
    pub fn with_streams_from_toml(&self, text: &str) -> Result<Config, ConfigError> {
        Ok(self.with_served_streams(text)?.config)
    }

    /// [`Config::with_streams_from_toml`], keeping the document's own `version` too. A
    /// document is validated exactly like the `[[streams]]` of a file (the same code), and
    /// besides `[[streams]]` it may hold only `version`.
    pub fn with_served_streams(&self, text: &str) -> Result<ServedStreams, ConfigError> {
        let raw: raw::RawStreamsDocument = toml::from_str(text).map_err(toml_error)?;
        let version = match raw.version {
            Some(v) if v.trim().is_empty() => {
                return Err(ConfigError::Empty {
                    place: "the served document's version".into(),
                    expected: "a version name, or no `version` key",
                });
            }
            other => other,
        };
        // An empty document is far more often a broken control plane than a wish to watch
        // nothing: refused, so the last good lineage stays.
        if raw.streams.is_empty() {
            return Err(ConfigError::NoServedStreams);
        }
        let streams = validate::streams(
            raw.streams,
            &self.clusters,
            &self.timing,
            self.oracle.poll_interval,
        )?;
        Ok(ServedStreams {
            config: Config {
                streams,
                ..self.clone()
            },
            version,
            hash: content_hash(text),
        })
    }

    /// The stream with this name.
    pub fn stream(&self, name: &str) -> Option<&StreamConfig> {
        self.streams.iter().find(|s| s.name == name)
    }

    /// The cluster with this name.
    pub fn cluster(&self, name: &str) -> Option<&ClusterConfig> {
        self.clusters.iter().find(|c| c.name == name)
    }
}

/// The text of a configuration file; a failed read names the path.
fn read_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })
}

fn toml_error(err: toml::de::Error) -> ConfigError {
    ConfigError::Toml {
        // toml quotes the offending line, which may be a secret client setting.
        message: secrets::redact_toml_error(err.to_string().trim_end()),
    }
}

impl Default for Timing {
    /// Defaults for a production pipeline: check soon, back off to a minute, give up after an
    /// hour, and never call a message lost on offsets older than 30 seconds.
    fn default() -> Self {
        Timing {
            first_check: Duration::from_secs(10),
            backoff: Duration::from_secs(5),
            backoff_max: Duration::from_secs(60),
            max_wait: Duration::from_secs(3600),
            confirmation_delay: Duration::from_secs(5),
            dedup_window: Duration::from_secs(600),
            max_offsets_age: Duration::from_secs(30),
        }
    }
}

impl Default for DetectorConfig {
    /// One worker per core; malformed traces are skipped and counted.
    fn default() -> Self {
        DetectorConfig {
            workers: 0,
            on_malformed: MalformedPolicy::Skip,
            max_memory: None,
            max_disk: None,
        }
    }
}

impl OracleConfig {
    /// Offsets a few seconds old are fresh enough to decide on and cheap to keep polling.
    pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(5);
    /// Per Kafka admin request.
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
}

impl HttpConfig {
    /// Loopback only by default: exposing metrics and the API is a deliberate choice.
    pub const DEFAULT_LISTEN: &str = "127.0.0.1:9464";
}

impl StoreConfig {
    /// Relative to the working directory.
    pub const DEFAULT_PATH: &str = "cairn-data";
}

impl ControlPlaneConfig {
    /// How often the served streams are re-read.
    pub const DEFAULT_REFRESH: Duration = Duration::from_secs(30);
    /// Per fetch: a control plane slower than this is treated as failing.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
}

impl Location {
    /// Reads `<cluster>/<topic>`, both legal Kafka names (letters, digits, '.', '_', '-').
    pub fn parse(text: &str) -> Option<Location> {
        let (cluster, topic) = text.split_once('/')?;
        (validate::is_cluster_name(cluster) && validate::is_topic_name(topic)).then(|| Location {
            cluster: cluster.to_owned(),
            topic: topic.to_owned(),
        })
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.cluster, self.topic)
    }
}

#[cfg(test)]
mod tests;
