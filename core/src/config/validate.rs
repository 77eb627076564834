//! From the file as written ([`raw`](super::raw)) to the domain types: defaults applied,
//! names resolved, lineage checked. Checks run in file order, so one file always gives the
//! same first error.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::error::ConfigError;
use super::raw::{RawApp, RawConfig, RawHttp, RawMalformedPolicy, RawStream, RawTiming};
use super::{
    AppConfig, ClusterConfig, Config, ControlPlaneConfig, DetectorConfig, HttpConfig, Location,
    MalformedPolicy, OracleConfig, OutputConfig, StoreConfig, StreamConfig, Timing, TracingConfig,
    WatchedGroup,
};

/// Client settings cairn derives from other keys, and where to set them instead.
const RESERVED_CLIENT_SETTINGS: [(&str, &str); 2] = [
    ("bootstrap.servers", "the cluster's `bootstrap`"),
    ("group.id", "[tracing] group"),
];

pub(super) fn config(raw: RawConfig) -> Result<Config, ConfigError> {
    let clusters = clusters(raw.clusters.0)?;
    let tracing = TracingConfig {
        cluster: declared_cluster("[tracing] cluster", raw.tracing.cluster, &clusters)?,
        topic: topic("[tracing] topic", raw.tracing.topic)?,
        group: non_empty(
            "[tracing] group",
            raw.tracing.group,
            "cairn's own consumer group",
        )?,
    };
    let output = OutputConfig {
        cluster: declared_cluster("[output] cluster", raw.output.cluster, &clusters)?,
        topic: topic("[output] topic", raw.output.topic)?,
    };
    let oracle = OracleConfig {
        poll_interval: positive(
            "[oracle] poll_interval",
            raw.oracle.poll_interval,
            OracleConfig::DEFAULT_POLL_INTERVAL,
        )?,
        request_timeout: positive(
            "[oracle] request_timeout",
            raw.oracle.request_timeout,
            OracleConfig::DEFAULT_REQUEST_TIMEOUT,
        )?,
    };
    let timing = timing(
        "[timing]",
        &raw.timing,
        Timing::default(),
        oracle.poll_interval,
    )?;
    let detector = DetectorConfig {
        workers: raw.detector.workers.unwrap_or(0),
        on_malformed: match raw.detector.on_malformed {
            None | Some(RawMalformedPolicy::Skip) => MalformedPolicy::Skip,
            Some(RawMalformedPolicy::Fail) => MalformedPolicy::Fail,
        },
        max_memory: at_least("[detector] max_memory", raw.detector.max_memory, 1 << 20)?,
        max_disk: raw.detector.max_disk,
    };
    let http = http(raw.http)?;
    let store = StoreConfig {
        path: match raw.store.path {
            Some(path) if path.as_os_str().is_empty() => {
                return Err(ConfigError::Empty {
                    place: "[store] path".into(),
                    expected: "a directory for cairn's state",
                });
            }
            Some(path) => path,
            None => StoreConfig::DEFAULT_PATH.into(),
        },
    };
    let control_plane = match raw.control_plane {
        None => None,
        Some(cp) => Some(ControlPlaneConfig {
            url: control_plane_url(cp.url)?,
            refresh: positive(
                "[control_plane] refresh",
                cp.refresh,
                ControlPlaneConfig::DEFAULT_REFRESH,
            )?,
            timeout: positive(
                "[control_plane] timeout",
                cp.timeout,
                ControlPlaneConfig::DEFAULT_TIMEOUT,
            )?,
        }),
    };
    // One source for the lineage: a merge would leave no single version to report, and a
    // stream defined in both places would have two owners.
    if control_plane.is_some() && !raw.streams.is_empty() {
        return Err(ConfigError::StreamsAndControlPlane);
    }
    // `cairn watch` reads this section; a file serving both jobs must be valid for both.
    let watch = super::watch::section(raw.watch.unwrap_or_default(), &clusters)?;
    if let Some(scale) = raw.scale {
        super::scale::section(scale, &clusters, watch.poll_interval, &|_, _| true)?;
    }
    // Likewise `cairn canary`'s section.
    if let Some(canary) = raw.canary {
        super::canary::section(canary, &clusters)?;
    }
    if raw.streams.is_empty() && control_plane.is_none() {
        return Err(ConfigError::NoStreams);
    }
    let streams = streams(raw.streams, &clusters, &timing, oracle.poll_interval)?;
    if let Some(respond) = raw.respond {
        let lineage: Vec<WatchedGroup> = streams
            .iter()
            .flat_map(|s| &s.apps)
            .filter_map(|app| {
                Some(WatchedGroup {
                    cluster: app.reads.as_ref()?.cluster.clone(),
                    group: app.group.clone()?,
                })
            })
            .collect();
        super::respond::section(respond, &clusters, &watch, &lineage)?;
    }
    Ok(Config {
        clusters,
        tracing,
        output,
        timing,
        streams,
        detector,
        oracle,
        http,
        store,
        control_plane,
    })
}

pub(super) fn clusters(
    raw: Vec<(String, super::raw::RawCluster)>,
) -> Result<Vec<ClusterConfig>, ConfigError> {
    if raw.is_empty() {
        return Err(ConfigError::NoClusters);
    }
    raw.into_iter()
        .map(|(name, cluster)| {
            if !is_kafka_name(&name) {
                return Err(ConfigError::BadClusterName { name });
            }
            let bootstrap = non_empty(
                &format!("[clusters.{name}] bootstrap"),
                cluster.bootstrap,
                "host:port[,host:port...]",
            )?;
            if let Some((key, instead)) = RESERVED_CLIENT_SETTINGS
                .iter()
                .find(|(key, _)| cluster.client.0.iter().any(|(k, _)| k == key))
            {
                return Err(ConfigError::ReservedClientSetting {
                    cluster: name,
                    key: (*key).to_owned(),
                    instead,
                });
            }
            Ok(ClusterConfig {
                name,
                bootstrap,
                client: cluster.client.0,
            })
        })
        .collect()
}

/// Validates `[[streams]]` against already validated clusters and timing defaults. Shared by
/// the file and the control plane, which serves only this part.
pub(super) fn streams(
    raw: Vec<RawStream>,
    clusters: &[ClusterConfig],
    defaults: &Timing,
    poll_interval: Duration,
) -> Result<Vec<StreamConfig>, ConfigError> {
    let mut names = HashSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for stream in raw {
        let name = non_empty(
            "[[streams]] name",
            stream.name,
            "the stream name traces carry",
        )?;
        if !names.insert(name.clone()) {
            return Err(ConfigError::DuplicateStream { stream: name });
        }
        let sample_rate = stream.sample_rate.unwrap_or(1.0);
        // Written so that NaN fails too.
        if !(sample_rate > 0.0 && sample_rate <= 1.0) {
            return Err(ConfigError::SampleRate {
                stream: name,
                found: sample_rate,
            });
        }
        let scope = format!("stream `{name}`, [streams.timing]");
        let timing = timing(&scope, &stream.timing, *defaults, poll_interval)?;
        let apps = stream
            .apps
            .into_iter()
            .map(|app| self::app(&name, app, clusters))
            .collect::<Result<Vec<_>, _>>()?;
        check_lineage(&name, &apps)?;
        out.push(StreamConfig {
            name,
            timing,
            sample_rate,
            apps,
        });
    }
    Ok(out)
}

fn app(stream: &str, raw: RawApp, clusters: &[ClusterConfig]) -> Result<AppConfig, ConfigError> {
    let app = non_empty(
        &format!("stream `{stream}`, app"),
        raw.app,
        "the app name traces carry",
    )?;
    let location =
        |key: &'static str, text: Option<String>| -> Result<Option<Location>, ConfigError> {
            let Some(text) = text else { return Ok(None) };
            let Some(location) = Location::parse(&text) else {
                return Err(ConfigError::BadLocation {
                    stream: stream.to_owned(),
                    app: app.clone(),
                    key,
                    found: text,
                });
            };
            let place = format!("stream `{stream}`, app `{app}`, {key}");
            declared_cluster(&place, location.cluster.clone(), clusters)?;
            Ok(Some(location))
        };
    let reads = location("reads", raw.reads)?;
    let writes = location("writes", raw.writes)?;
    let group = match raw.group {
        Some(group) => Some(non_empty(
            &format!("stream `{stream}`, app `{app}`, group"),
            group,
            "the consumer group the app reads with",
        )?),
        None => None,
    };
    let names = || (stream.to_owned(), app.clone());
    match (&reads, &writes, &group) {
        (None, None, _) => {
            let (stream, app) = names();
            Err(ConfigError::AppWithoutLocations { stream, app })
        }
        (Some(_), _, None) => {
            let (stream, app) = names();
            Err(ConfigError::ReaderWithoutGroup { stream, app })
        }
        (None, _, Some(_)) => {
            let (stream, app) = names();
            Err(ConfigError::GroupWithoutReads { stream, app })
        }
        _ => Ok(AppConfig {
            app,
            group,
            reads,
            writes,
        }),
    }
}

/// Checks that apply to a stream's apps together: unique names, unshared reader groups, every
/// read location written by someone, and no cycles.
fn check_lineage(stream: &str, apps: &[AppConfig]) -> Result<(), ConfigError> {
    if apps.is_empty() {
        return Err(ConfigError::NoApps {
            stream: stream.to_owned(),
        });
    }
    let mut names = HashSet::new();
    let mut readers: HashMap<(&str, &Location), &str> = HashMap::new();
    for app in apps {
        if !names.insert(app.app.as_str()) {
            return Err(ConfigError::DuplicateApp {
                stream: stream.to_owned(),
                app: app.app.clone(),
            });
        }
        if let (Some(group), Some(reads)) = (&app.group, &app.reads)
            && let Some(first) = readers.insert((group, reads), &app.app)
        {
            return Err(ConfigError::SharedReader {
                stream: stream.to_owned(),
                group: group.clone(),
                location: reads.name(),
                first: first.to_owned(),
                second: app.app.clone(),
            });
        }
    }
    let written: HashSet<&Location> = apps.iter().filter_map(|a| a.writes.as_ref()).collect();
    for app in apps {
        if let Some(reads) = &app.reads
            && !written.contains(reads)
        {
            return Err(ConfigError::UnwrittenRead {
                stream: stream.to_owned(),
                app: app.app.clone(),
                location: reads.name(),
            });
        }
    }
    if let Some(path) = find_cycle(apps) {
        return Err(ConfigError::Cycle {
            stream: stream.to_owned(),
            path,
        });
    }
    Ok(())
}

/// A cycle in the graph whose nodes are locations and whose edges are apps (reads → writes),
/// written as `a/x -[app]-> b/y -[app2]-> a/x`.
fn find_cycle(apps: &[AppConfig]) -> Option<String> {
    let mut edges: HashMap<&Location, Vec<(&str, &Location)>> = HashMap::new();
    for app in apps {
        if let (Some(from), Some(to)) = (&app.reads, &app.writes) {
            edges.entry(from).or_default().push((&app.app, to));
        }
    }
    #[derive(Clone, Copy, PartialEq)]
    enum Visit {
        InProgress,
        Done,
    }
    /// Depth-first; `path` holds the edges from the start to `node`.
    fn visit<'a>(
        node: &'a Location,
        edges: &HashMap<&'a Location, Vec<(&'a str, &'a Location)>>,
        state: &mut HashMap<&'a Location, Visit>,
        path: &mut Vec<(&'a Location, &'a str)>,
    ) -> Option<String> {
        state.insert(node, Visit::InProgress);
        for &(app, next) in edges.get(node).into_iter().flatten() {
            path.push((node, app));
            match state.get(next) {
                Some(Visit::InProgress) => {
                    let start = path.iter().position(|(from, _)| *from == next).unwrap_or(0);
                    let mut text = String::new();
                    for (from, app) in &path[start..] {
                        text.push_str(&format!("{} -[{app}]-> ", from.name()));
                    }
                    text.push_str(&next.name());
                    return Some(text);
                }
                Some(Visit::Done) => {}
                None => {
                    if let Some(cycle) = visit(next, edges, state, path) {
                        return Some(cycle);
                    }
                }
            }
            path.pop();
        }
        state.insert(node, Visit::Done);
        None
    }
    let mut state = HashMap::new();
    for app in apps {
        if let Some(start) = &app.reads
            && !state.contains_key(start)
            && let Some(cycle) = visit(start, &edges, &mut state, &mut Vec::new())
        {
            return Some(cycle);
        }
    }
    None
}

/// `base` with the knobs `raw` sets replaced, then checked as a whole.
pub(super) fn timing(
    scope: &str,
    raw: &RawTiming,
    base: Timing,
    poll_interval: Duration,
) -> Result<Timing, ConfigError> {
    let timing = Timing {
        first_check: raw.first_check.unwrap_or(base.first_check),
        backoff: raw.backoff.unwrap_or(base.backoff),
        backoff_max: raw.backoff_max.unwrap_or(base.backoff_max),
        max_wait: raw.max_wait.unwrap_or(base.max_wait),
        confirmation_delay: raw.confirmation_delay.unwrap_or(base.confirmation_delay),
        dedup_window: raw.dedup_window.unwrap_or(base.dedup_window),
        max_offsets_age: raw.max_offsets_age.unwrap_or(base.max_offsets_age),
    };
    let knobs = [
        ("first_check", timing.first_check),
        ("backoff", timing.backoff),
        ("backoff_max", timing.backoff_max),
        ("max_wait", timing.max_wait),
        ("confirmation_delay", timing.confirmation_delay),
        ("dedup_window", timing.dedup_window),
        ("max_offsets_age", timing.max_offsets_age),
    ];
    if let Some((knob, _)) = knobs.iter().find(|(_, value)| value.is_zero()) {
        return Err(ConfigError::ZeroDuration {
            place: format!("{scope} {knob}"),
        });
    }
    let order =
        |smaller: &'static str, smaller_value, relation, larger: &'static str, larger_value| {
            ConfigError::DurationOrder {
                scope: scope.to_owned(),
                smaller,
                smaller_value,
                relation,
                larger,
                larger_value,
            }
        };
    if timing.backoff > timing.backoff_max {
        return Err(order(
            "backoff",
            timing.backoff,
            "at most",
            "backoff_max",
            timing.backoff_max,
        ));
    }
    if timing.first_check >= timing.max_wait {
        return Err(order(
            "first_check",
            timing.first_check,
            "less than",
            "max_wait",
            timing.max_wait,
        ));
    }
    if timing.confirmation_delay >= timing.max_wait {
        return Err(order(
            "confirmation_delay",
            timing.confirmation_delay,
            "less than",
            "max_wait",
            timing.max_wait,
        ));
    }
    // Offsets are refreshed once per poll: a shorter age limit would make every view stale,
    // and the rule would wait forever.
    if poll_interval >= timing.max_offsets_age {
        return Err(order(
            "[oracle] poll_interval",
            poll_interval,
            "less than",
            "max_offsets_age",
            timing.max_offsets_age,
        ));
    }
    Ok(timing)
}

pub(super) fn positive(
    place: &str,
    value: Option<Duration>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    let value = value.unwrap_or(default);
    if value.is_zero() {
        return Err(ConfigError::ZeroDuration {
            place: place.to_owned(),
        });
    }
    Ok(value)
}

/// A byte size that, when given, must be at least `min` (a budget of a few bytes is a typo).
pub(super) fn at_least(
    place: &str,
    value: Option<u64>,
    min: u64,
) -> Result<Option<u64>, ConfigError> {
    match value {
        Some(v) if v < min => Err(ConfigError::TooSmall {
            place: place.to_owned(),
            found: super::bytes::format_bytes(v),
            min: super::bytes::format_bytes(min),
        }),
        other => Ok(other),
    }
}

pub(super) fn non_empty(
    place: &str,
    value: String,
    expected: &'static str,
) -> Result<String, ConfigError> {
    if value.trim().is_empty() {
        return Err(ConfigError::Empty {
            place: place.to_owned(),
            expected,
        });
    }
    Ok(value)
}

pub(super) fn topic(place: &str, value: String) -> Result<String, ConfigError> {
    if is_topic_name(&value) {
        Ok(value)
    } else {
        Err(ConfigError::BadTopic {
            place: place.to_owned(),
            found: value,
        })
    }
}

pub(super) fn declared_cluster(
    place: &str,
    cluster: String,
    clusters: &[ClusterConfig],
) -> Result<String, ConfigError> {
    if clusters.iter().any(|c| c.name == cluster) {
        return Ok(cluster);
    }
    let declared: Vec<&str> = clusters.iter().map(|c| c.name.as_str()).collect();
    Err(ConfigError::UndeclaredCluster {
        place: place.to_owned(),
        cluster,
        declared: declared.join(", "),
    })
}

/// `[http]`: the listen address, or the default.
pub(super) fn http(raw: RawHttp) -> Result<HttpConfig, ConfigError> {
    let listen = listen(
        raw.listen
            .unwrap_or_else(|| HttpConfig::DEFAULT_LISTEN.to_owned()),
    )?;
    Ok(HttpConfig { listen })
}

/// `host:port`, the host possibly a bracketed IPv6 address.
fn listen(value: String) -> Result<String, ConfigError> {
    let well_formed = value
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if well_formed {
        Ok(value)
    } else {
        Err(ConfigError::BadListen { found: value })
    }
}

fn control_plane_url(value: String) -> Result<String, ConfigError> {
    if is_http_url(&value) {
        Ok(value)
    } else {
        Err(ConfigError::BadControlPlaneUrl { found: value })
    }
}

/// `http://` or `https://` and something after it, without whitespace.
pub(super) fn is_http_url(value: &str) -> bool {
    let rest = value
        .strip_prefix("http://")
        .or_else(|| value.strip_prefix("https://"));
    rest.is_some_and(|rest| !rest.is_empty() && !rest.contains(char::is_whitespace))
}

/// Letters, digits, '.', '_', '-': what Kafka allows in a topic name, and what a cluster name
/// needs to sit in a `<cluster>/<topic>` location.
fn is_kafka_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Kafka's topic name rule: a Kafka name of at most 249 characters.
pub(super) fn is_topic_name(name: &str) -> bool {
    name.len() <= 249 && is_kafka_name(name)
}

pub(super) fn is_cluster_name(name: &str) -> bool {
    is_kafka_name(name)
}
