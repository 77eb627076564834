//! cairn.toml as written: serde structs that mirror the file, with `deny_unknown_fields` so
//! that a misspelt key is an error (with toml's line number) instead of a silent default.
//! Every optional knob is an `Option` here; defaults are applied in `validate`.

use std::fmt;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub clusters: InFileOrder<RawCluster>,
    pub tracing: RawTracing,
    pub output: RawOutput,
    #[serde(default)]
    pub timing: RawTiming,
    #[serde(default)]
    pub detector: RawDetector,
    #[serde(default)]
    pub oracle: RawOracle,
    #[serde(default)]
    pub http: RawHttp,
    #[serde(default)]
    pub store: RawStore,
    pub control_plane: Option<RawControlPlane>,
    #[serde(default)]
    pub streams: Vec<RawStream>,
    /// `cairn watch`'s section: `cairn detect` validates it and leaves it alone.
    pub watch: Option<RawWatch>,
    /// The first responder of `cairn watch`: validated, and otherwise left alone by detect.
    pub respond: Option<RawRespond>,
    /// The autoscaling advisor's groups (run by `cairn watch`); validated, then left alone.
    pub scale: Option<super::scale::RawScale>,
    /// `cairn canary`'s section: validated, left alone.
    pub canary: Option<RawCanary>,
}

/// The file as `cairn watch` reads it: the same top-level keys as [`RawConfig`], but only
/// `[clusters]`, `[http]` and `[watch]` matter, so `cairn detect`'s own sections are optional
/// (and checked for unknown keys only, except `[[streams]]`, whose groups are watched).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWatchFile {
    #[serde(default)]
    pub clusters: InFileOrder<RawCluster>,
    #[allow(dead_code)] // read by `cairn detect`
    pub tracing: Option<RawTracing>,
    #[allow(dead_code)] // read by `cairn detect`
    pub output: Option<RawOutput>,
    #[serde(default)]
    pub timing: RawTiming,
    #[allow(dead_code)] // read by `cairn detect`
    pub detector: Option<RawDetector>,
    #[serde(default)]
    pub oracle: RawOracle,
    #[serde(default)]
    pub http: RawHttp,
    #[allow(dead_code)] // read by `cairn detect`
    pub store: Option<RawStore>,
    #[allow(dead_code)] // read by `cairn detect`
    pub control_plane: Option<RawControlPlane>,
    #[serde(default)]
    pub streams: Vec<RawStream>,
    #[serde(default)]
    pub watch: RawWatch,
    #[serde(default)]
    pub respond: RawRespond,
    #[serde(default)]
    pub scale: super::scale::RawScale,
    /// `cairn canary`'s section: validated, left alone.
    pub canary: Option<RawCanary>,
}

/// The file as `cairn canary` reads it: only `[clusters]`, `[http]` and `[canary]` matter;
/// the other jobs' sections are accepted (and checked for unknown keys) so one file serves all.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCanaryFile {
    #[serde(default)]
    pub clusters: InFileOrder<RawCluster>,
    #[allow(dead_code)] // read by `cairn detect`
    pub tracing: Option<RawTracing>,
    #[allow(dead_code)] // read by `cairn detect`
    pub output: Option<RawOutput>,
    #[allow(dead_code)] // read by `cairn detect`
    pub timing: Option<RawTiming>,
    #[allow(dead_code)] // read by `cairn detect`
    pub detector: Option<RawDetector>,
    #[allow(dead_code)] // read by `cairn detect`
    pub oracle: Option<RawOracle>,
    #[serde(default)]
    pub http: RawHttp,
    #[allow(dead_code)] // read by `cairn detect`
    pub store: Option<RawStore>,
    #[allow(dead_code)] // read by `cairn detect`
    pub control_plane: Option<RawControlPlane>,
    #[allow(dead_code)] // read by `cairn detect` and `cairn watch`
    pub streams: Option<Vec<RawStream>>,
    #[allow(dead_code)] // read by `cairn watch`
    pub watch: Option<RawWatch>,
    #[allow(dead_code)] // read by `cairn watch`
    pub respond: Option<RawRespond>,
    #[allow(dead_code)] // read by `cairn watch`
    pub scale: Option<super::scale::RawScale>,
    #[serde(default)]
    pub canary: RawCanary,
}

/// `[canary]`: the heartbeat topic, its pace and patience, and the metadata check.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCanary {
    pub clusters: Option<Vec<String>>,
    pub topic: Option<String>,
    pub replication: Option<usize>,
    #[serde(default)]
    pub topic_config: InFileOrder<String>,
    pub acks: Option<String>,
    pub rate: Option<u32>,
    pub instance: Option<String>,
    #[serde(default, deserialize_with = "super::duration::deserialize_option")]
    pub management_interval: Option<Duration>,
    #[serde(default, deserialize_with = "super::duration::deserialize_option")]
    pub metadata_interval: Option<Duration>,
    #[serde(default, deserialize_with = "super::duration::deserialize_option")]
    pub grace: Option<Duration>,
    #[serde(default, deserialize_with = "super::duration::deserialize_option")]
    pub send_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "super::duration::deserialize_option")]
    pub consume_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "super::duration::deserialize_option")]
    pub availability_window: Option<Duration>,
    pub lost_sequences_kept: Option<usize>,
    #[serde(default, deserialize_with = "super::duration::deserialize_option")]
    pub request_timeout: Option<Duration>,
    pub mode: Option<String>,
    pub incidents_topic: Option<String>,
    #[serde(default)]
    pub webhooks: Vec<RawWebhook>,
}

/// `[watch]`: which groups `cairn watch` follows, how patient it is, where incidents go.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWatch {
    /// `None`: every group.
    pub include: Option<Vec<String>>,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default, deserialize_with = "super::duration::deserialize_option")]
    pub window: Option<Duration>,
    #[serde(default, deserialize_with = "super::duration::deserialize_option")]
    pub poll_interval: Option<Duration>,
    #[serde(default, deserialize_with = "super::duration::deserialize_option")]
    pub max_lag: Option<Duration>,
    #[serde(default, deserialize_with = "super::duration::deserialize_option")]
    pub request_timeout: Option<Duration>,
    pub history_points: Option<usize>,
    #[serde(default)]
    pub partition_metrics: bool,
    pub incidents_topic: Option<String>,
    /// Several instances elect one active instance (default: yes when `incidents_topic` is set).
    pub election: Option<bool>,
    pub control_topic: Option<String>,
    pub control_group: Option<String>,
    #[serde(default, deserialize_with = "super::duration::deserialize_option")]
    pub control_session_timeout: Option<Duration>,
    #[serde(default)]
    pub groups: Vec<RawWatchGroup>,
    #[serde(default)]
    pub webhooks: Vec<RawWebhook>,
}

/// `[[watch.groups]]`: settings for the groups it selects.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWatchGroup {
    pub cluster: Option<String>,
    pub group: Option<String>,
    pub group_regex: Option<String>,
    #[serde(default, deserialize_with = "super::duration::deserialize_option")]
    pub window: Option<Duration>,
    #[serde(default, deserialize_with = "super::duration::deserialize_option")]
    pub max_lag: Option<Duration>,
    pub incidents: Option<bool>,
}

/// `[[watch.webhooks]]`: where incident records are POSTed.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWebhook {
    pub url: String,
    #[serde(default)]
    pub headers: InFileOrder<String>,
    #[serde(default, deserialize_with = "super::duration::deserialize_option")]
    pub timeout: Option<Duration>,
}

/// `[respond]`: the first responder `cairn watch` runs on incidents.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRespond {
    pub actions_topic: Option<String>,
    #[serde(default)]
    pub webhooks: Vec<RawWebhook>,
    #[serde(default)]
    pub groups: Vec<RawRespondGroup>,
}

/// `[[respond.groups]]`: how one consumer group's incidents are acted on.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRespondGroup {
    pub cluster: Option<String>,
    pub group: Option<String>,
    pub stateless: Option<bool>,
    pub command: Option<Vec<String>>,
    pub url: Option<String>,
    pub method: Option<String>,
    pub headers: Option<InFileOrder<String>>,
    pub body: Option<String>,
    #[serde(default, deserialize_with = "super::duration::deserialize_option")]
    pub suppress_for: Option<Duration>,
    #[serde(default, deserialize_with = "super::duration::deserialize_option")]
    pub verify_within: Option<Duration>,
    #[serde(default, deserialize_with = "super::duration::deserialize_option")]
    pub timeout: Option<Duration>,
}

/// What an HTTP control plane serves: only the `[[streams]]` part.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStreamsDocument {
    /// The lineage's version as the control plane names it (optional).
    pub version: Option<String>,
    #[serde(default)]
    pub streams: Vec<RawStream>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCluster {
    pub bootstrap: String,
    #[serde(default)]
    pub client: InFileOrder<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTracing {
    pub cluster: String,
    pub topic: String,
    pub group: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOutput {
    pub cluster: String,
    pub topic: String,
}

/// Every knob optional: `[timing]` fills gaps with defaults, `[streams.timing]` with `[timing]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTiming {
    #[serde(default, deserialize_with = "super::duration::deserialize_option")]
    pub first_check: Option<Duration>,
    #[serde(default, deserialize_with = "super::duration::deserialize_option")]
    pub backoff: Option<Duration>,
    #[serde(default, deserialize_with = "super::duration::deserialize_option")]
    pub backoff_max: Option<Duration>,
    #[serde(default, deserialize_with = "super::duration::deserialize_option")]
    pub max_wait: Option<Duration>,
    #[serde(default, deserialize_with = "super::duration::deserialize_option")]
    pub confirmation_delay: Option<Duration>,
    #[serde(default, deserialize_with = "super::duration::deserialize_option")]
    pub dedup_window: Option<Duration>,
    #[serde(default, deserialize_with = "super::duration::deserialize_option")]
    pub max_offsets_age: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDetector {
    pub workers: Option<usize>,
    pub on_malformed: Option<RawMalformedPolicy>,
    #[serde(default, deserialize_with = "super::bytes::deserialize_option")]
    pub max_memory: Option<u64>,
    #[serde(default, deserialize_with = "super::bytes::deserialize_option")]
    pub max_disk: Option<u64>,
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum RawMalformedPolicy {
    Skip,
    Fail,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOracle {
    #[serde(default, deserialize_with = "super::duration::deserialize_option")]
    pub poll_interval: Option<Duration>,
    #[serde(default, deserialize_with = "super::duration::deserialize_option")]
    pub request_timeout: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHttp {
    pub listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStore {
    pub path: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawControlPlane {
    pub url: String,
    #[serde(default, deserialize_with = "super::duration::deserialize_option")]
    pub refresh: Option<Duration>,
    #[serde(default, deserialize_with = "super::duration::deserialize_option")]
    pub timeout: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStream {
    pub name: String,
    pub sample_rate: Option<f64>,
    #[serde(default)]
    pub timing: RawTiming,
    #[serde(default)]
    pub apps: Vec<RawApp>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApp {
    pub app: String,
    pub group: Option<String>,
    pub reads: Option<String>,
    pub writes: Option<String>,
}

/// A TOML table read as a list of entries in the order the deserializer yields them.
#[derive(Clone, Debug)]
pub(super) struct InFileOrder<V>(pub Vec<(String, V)>);

impl<V> Default for InFileOrder<V> {
    fn default() -> Self {
        InFileOrder(Vec::new())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for InFileOrder<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor<V>(PhantomData<V>);

        impl<'de, V: Deserialize<'de>> Visitor<'de> for EntriesVisitor<V> {
            type Value = InFileOrder<V>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, V>()? {
                    entries.push(entry);
                }
                Ok(InFileOrder(entries))
            }
        }

        deserializer.deserialize_map(EntriesVisitor(PhantomData))
    }
}
