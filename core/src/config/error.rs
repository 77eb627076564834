//! Why a cairn.toml was refused. Each message names the place (stream, app, key) and says
//! what was expected, so that the fix is obvious from the log line alone.

use std::path::PathBuf;
use std::time::Duration;

use super::duration::format_duration;

/// A configuration that cannot be used, found at load time rather than at the first message.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// TOML syntax, an unknown or missing key, a value of the wrong type or an unreadable
    /// duration. toml's own message, which shows the line.
    #[error("{message}")]
    Toml { message: String },
    /// No `[clusters.<name>]` table.
    #[error(
        "no [clusters.<name>] declared: expected at least one Kafka cluster with a `bootstrap`"
    )]
    NoClusters,
    /// A cluster name that could not appear in a `<cluster>/<topic>` location.
    #[error("[clusters.{name}]: bad cluster name, expected letters, digits, '.', '_' or '-'")]
    BadClusterName { name: String },
    /// A client setting that cairn sets itself, from another key.
    #[error("[clusters.{cluster}.client]: `{key}` is set by cairn; use {instead} instead")]
    ReservedClientSetting {
        cluster: String,
        key: String,
        instead: &'static str,
    },
    /// A name or value that must not be empty.
    #[error("{place}: empty, expected {expected}")]
    Empty {
        place: String,
        expected: &'static str,
    },
    /// A topic name Kafka would refuse.
    #[error(
        "{place}: {found:?} is not a Kafka topic name, expected 1 to 249 letters, digits, '.', '_' or '-'"
    )]
    BadTopic { place: String, found: String },
    /// A cluster name used but not declared.
    #[error("{place}: cluster `{cluster}` is not declared, expected one of: {declared}")]
    UndeclaredCluster {
        place: String,
        cluster: String,
        declared: String,
    },
    /// A `reads` or `writes` that is not `<cluster>/<topic>`.
    #[error(
        "stream `{stream}`, app `{app}`: {key} = {found:?} is not a location, expected \"<cluster>/<topic>\""
    )]
    BadLocation {
        stream: String,
        app: String,
        key: &'static str,
        found: String,
    },
    /// An app that reads without saying as which consumer group.
    #[error(
        "stream `{stream}`, app `{app}`: reads a location but has no `group`, expected the consumer group it reads with"
    )]
    ReaderWithoutGroup { stream: String, app: String },
    /// A group on an app that reads nothing.
    #[error(
        "stream `{stream}`, app `{app}`: has a `group` but no `reads`, expected the location the group reads"
    )]
    GroupWithoutReads { stream: String, app: String },
    /// An app that neither reads nor writes: it cannot take part in the lineage.
    #[error("stream `{stream}`, app `{app}`: neither `reads` nor `writes`, expected at least one")]
    AppWithoutLocations { stream: String, app: String },
    /// Two apps of one stream with one name: traces could not tell them apart.
    #[error("stream `{stream}`: app `{app}` is declared twice, expected unique app names")]
    DuplicateApp { stream: String, app: String },
    /// Two apps reading one location as one group: Kafka splits the partitions between them,
    /// and cairn could not tell which of them owed a trace.
    #[error(
        "stream `{stream}`: apps `{first}` and `{second}` both read {location} as group `{group}`, expected one app per group and location"
    )]
    SharedReader {
        stream: String,
        group: String,
        location: String,
        first: String,
        second: String,
    },
    /// A stream without apps.
    #[error("stream `{stream}`: no [[streams.apps]], expected at least one app")]
    NoApps { stream: String },
    /// Two streams with one name.
    #[error("stream `{stream}` is declared twice, expected unique stream names")]
    DuplicateStream { stream: String },
    /// A location that an app reads but that no app of the stream writes: nothing could
    /// ever say that a message was sent there.
    #[error(
        "stream `{stream}`, app `{app}`: reads {location}, which no app of the stream writes; expected a producer (an app with `writes = \"{location}\"`)"
    )]
    UnwrittenRead {
        stream: String,
        app: String,
        location: String,
    },
    /// Apps that feed each other in a loop: a message would be expected forever.
    #[error(
        "stream `{stream}`: the lineage has a cycle ({path}), expected apps to form a DAG from reads to writes"
    )]
    Cycle { stream: String, path: String },
    /// `sample_rate` outside (0, 1].
    #[error(
        "stream `{stream}`: sample_rate = {found}, expected a share in (0, 1], e.g. 0.01 for 1%"
    )]
    SampleRate { stream: String, found: f64 },
    /// A byte size below what the key can work with.
    #[error("{place}: {found} is too small, expected at least {min}")]
    TooSmall {
        place: String,
        found: String,
        min: String,
    },
    /// A duration that must be positive is zero.
    #[error("{place}: zero, expected a positive duration")]
    ZeroDuration { place: String },
    /// Two durations in the wrong order.
    #[error("{scope}: {smaller} ({}) must be {relation} {larger} ({})", format_duration(*smaller_value), format_duration(*larger_value))]
    DurationOrder {
        scope: String,
        smaller: &'static str,
        smaller_value: Duration,
        relation: &'static str,
        larger: &'static str,
        larger_value: Duration,
    },
    /// `http.listen` is not `host:port`.
    #[error("[http]: listen = {found:?}, expected host:port, e.g. \"127.0.0.1:9464\"")]
    BadListen { found: String },
    /// `control_plane.url` is not an http(s) URL.
    #[error("[control_plane]: url = {found:?}, expected an http:// or https:// URL")]
    BadControlPlaneUrl { found: String },
    /// The lineage would come from two places.
    #[error(
        "[control_plane] and [[streams]] are both set: the lineage comes from one place; remove the [[streams]] (serve them from the control plane) or the [control_plane]"
    )]
    StreamsAndControlPlane,
    /// A control plane served a document without streams.
    #[error("the served document has no [[streams]]: expected at least one stream to watch")]
    NoServedStreams,
    /// Nothing to watch.
    #[error("no [[streams]] and no [control_plane]: expected at least one stream to watch")]
    NoStreams,
    /// A group pattern of `[watch]` that does not compile.
    #[error(
        "{place}: {found:?} is not a regular expression ({detail}); expected a pattern for the whole group name, e.g. \"billing-.*\""
    )]
    BadRegex {
        place: String,
        found: String,
        detail: String,
    },
    /// A `[[watch.groups]]` entry that selects by neither or both of name and pattern.
    #[error("{place}: expected exactly one of `group` (a name) or `group_regex` (a pattern)")]
    GroupSelector { place: String },
    /// A `[[watch.groups]]` entry that sets nothing.
    #[error("{place}: sets nothing, expected at least one of `window`, `max_lag`, `incidents`")]
    EmptyOverride { place: String },
    /// `[watch] incidents_topic` is not `<cluster>/<topic>`.
    #[error(
        "[watch] incidents_topic = {found:?} is not a location, expected \"<cluster>/<topic>\""
    )]
    BadIncidentsTopic { found: String },
    /// An election key of `[watch]` that cannot take effect as written.
    #[error("[watch] {key}: {problem}")]
    Election { key: &'static str, problem: String },
    /// A URL that must be http:// or https://.
    #[error("{place}: {found:?} is not a URL, expected an http:// or https:// URL")]
    BadUrl { place: String, found: String },
    /// A webhook header that could not be sent as given.
    #[error("{place}: header {name:?}: {problem}")]
    BadHeader {
        place: String,
        name: String,
        problem: &'static str,
    },
    /// A count outside what it may be.
    #[error("{place}: {found}, expected {expected}")]
    OutOfRange {
        place: String,
        found: String,
        expected: &'static str,
    },
    /// A key that must be given.
    #[error("{place}: missing, expected {expected}")]
    Missing {
        place: String,
        expected: &'static str,
    },
    /// A key that must be `<cluster>/<topic>`.
    #[error("{place} = {found:?} is not a location, expected \"<cluster>/<topic>\"")]
    NotALocation { place: String, found: String },
    /// A `[[respond.groups]]` entry whose action keys do not fit together.
    #[error("{place}: {problem}")]
    RespondAction {
        place: String,
        problem: &'static str,
    },
    /// Two `[[respond.groups]]` entries for one group.
    #[error(
        "{place}: group `{group}` on cluster `{cluster}` already has an entry, expected one entry per group"
    )]
    DuplicateRespondGroup {
        place: String,
        cluster: String,
        group: String,
    },
    /// A responder entry for a group the watch never opens incidents for.
    #[error(
        "{place}: group `{group}` on cluster `{cluster}` {why}, so the responder would never act on it"
    )]
    UnwatchedRespondGroup {
        place: String,
        cluster: String,
        group: String,
        why: &'static str,
    },
    /// An HTTP method that is not one cairn sends.
    #[error("{place}: {found:?}, expected one of GET, POST, PUT, PATCH, DELETE")]
    BadMethod { place: String, found: String },
    /// A secured cluster (SASL or TLS) given to a tool that cannot connect to one.
    #[error(
        "[clusters.{cluster}.client]: security.protocol = {protocol:?}, but {tool} cannot connect through SASL or TLS ({why}); point it at a PLAINTEXT listener of the cluster"
    )]
    SecuredClusterUnsupported {
        cluster: String,
        protocol: String,
        tool: &'static str,
        why: &'static str,
    },
}
