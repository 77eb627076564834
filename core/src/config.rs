//! `cairn.toml`: parsed with `deny_unknown_fields`, then validated into the domain types below.
//!
//! The raw (serde) structs and `validate` live below the domain types; everything after
//! validation can trust its input (names resolve, readers have groups, lineage is acyclic).

use std::time::Duration;

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

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterConfig {
    pub name: String,
    /// Comma-separated `host:port` list, passed to librdkafka as `bootstrap.servers`.
    pub bootstrap: String,
    /// Extra librdkafka client settings (security, timeouts), passed through as given.
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
    pub refresh: Duration,
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
