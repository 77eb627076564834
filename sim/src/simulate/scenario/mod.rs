//! The scenario file: which stream of which cairn.toml to play, how each app behaves and which
//! faults it injects. Parsed with `deny_unknown_fields`, then validated against the stream's
//! lineage so that every mistake names its key. `schemas/scenario.example.toml` documents
//! every key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cairn_core::config::{AppConfig, Config, ConfigError, StreamConfig, parse_duration};
use serde::Deserialize;

/// A scenario that cannot be played, naming the key.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("reading scenario {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("scenario: {0}")]
    Toml(String),
    #[error("scenario: cairn_config = {}: {source}", path.display())]
    CairnConfig {
        path: PathBuf,
        #[source]
        source: Box<ConfigError>,
    },
    #[error("scenario: {key}: {message}")]
    Invalid { key: String, message: String },
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ScenarioError {
    ScenarioError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    cairn_config: PathBuf,
    stream: Option<String>,
    run_id: Option<String>,
    partitions: Option<i32>,
    replication: Option<i32>,
    tracing_replication: Option<i32>,
    #[serde(default)]
    topics: BTreeMap<String, RawTopic>,
    drain_timeout: Option<String>,
    #[serde(default)]
    apps: BTreeMap<String, RawApp>,
    kill_leader: Option<RawKillLeader>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTopic {
    partitions: Option<i32>,
    replication: Option<i32>,
    #[serde(default)]
    config: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApp {
    messages: Option<u64>,
    rate: Option<f64>,
    filter_share: Option<f64>,
    acks: Option<String>,
    #[serde(default)]
    faults: RawFaults,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFaults {
    drop_share: Option<f64>,
    skip_share: Option<f64>,
    duplicate_share: Option<f64>,
    crash_after: Option<u64>,
    stall: Option<RawWindow>,
    intruder: Option<RawWindow>,
    offset_reset_after: Option<u64>,
    hang_after: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    after: u64,
    #[serde(rename = "for")]
    for_: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKillLeader {
    location: String,
    after: u64,
    stale_writes: Option<u64>,
    down_for: String,
    kafka_sh: Option<PathBuf>,
}

/// A validated scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The loaded cairn.toml (its clusters, tracing topic and streams).
    pub config: Config,
    /// The simulated stream, one of `config.streams`.
    pub stream: StreamConfig,
    /// Prefix of every message id; random per run when not given.
    pub run_id: Option<String>,
    /// Topic settings per location (`<cluster>/<topic>`) of the stream.
    pub topics: BTreeMap<String, TopicSpec>,
    /// Replication factor of the tracing topic when the simulator creates it (default 1; a
    /// run that kills a node needs more, or the traces on the dead node are lost with it).
    pub tracing_replication: i32,
    /// How long, after the producers finish, the readers have to catch up.
    pub drain_timeout: Duration,
    /// Behaviour of every app of the stream, by app name (defaults when not in the file).
    pub apps: BTreeMap<String, AppBehaviour>,
    pub kill_leader: Option<KillLeader>,
}

/// How a topic the simulator creates looks.
#[derive(Clone, Debug, PartialEq)]
pub struct TopicSpec {
    pub partitions: i32,
    pub replication: i32,
    /// Topic configs (`retention.ms`, `segment.ms`, `unclean.leader.election.enable`, ...).
    pub config: BTreeMap<String, String>,
}

/// What one app does.
#[derive(Clone, Debug, PartialEq)]
pub struct AppBehaviour {
    /// Producers: how many messages to write.
    pub messages: u64,
    /// Producers: messages per second; 0 means as fast as the broker acknowledges.
    pub rate: f64,
    /// Processors: share of messages read and filtered on purpose (a `filtered` trace).
    pub filter_share: f64,
    /// Writers: the producer's `acks` ("all" by default; "1" for broker-side loss).
    pub acks: String,
    pub faults: Faults,
}

/// The faults one app injects. Shares choose messages by a hash of (app, fault, id), so the
/// choice is deterministic.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Faults {
    /// Processors: read and trace `received`, never write (lost_in_app).
    pub drop_share: f64,
    /// Readers: read without tracing or writing, commit past (committed_past).
    pub skip_share: f64,
    /// Writers: write the message twice.
    pub duplicate_share: f64,
    /// Readers: after this many messages, stop without committing and restart (redelivery).
    pub crash_after: Option<u64>,
    /// Readers: after `after` messages, pause for `duration`, then catch up.
    pub stall: Option<Window>,
    /// Readers: after `after` messages, an untraced consumer joins the app's group for
    /// `duration`, reading and committing what it is given.
    pub intruder: Option<Window>,
    /// Readers: after this many messages, the group's offsets are moved to the log end.
    pub offset_reset_after: Option<u64>,
    /// Readers: after this many messages, stop reading and committing (still a member) until
    /// relaunched through `cairn simulate --control` (a stuck consumer for `cairn watch`).
    pub hang_after: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub after: u64,
    pub duration: Duration,
}

/// Real broker-side loss on partition 0 of `location` (real three-node cluster only, via
/// `kafka_sh`): after the producers wrote `after` messages, pause a follower, let `stale_writes`
/// more writes land on the leader alone, hold the producers until the follower has left the
/// ISR, kill -9 the leader, resume the
/// follower (unclean election makes it the leader), and start the old leader again after
/// `down_for`. See [`super::kill`].
#[derive(Clone, Debug, PartialEq)]
pub struct KillLeader {
    pub location: String,
    pub after: u64,
    pub stale_writes: u64,
    pub down_for: Duration,
    pub kafka_sh: PathBuf,
}

impl Scenario {
    /// Reads and validates a scenario file; `cairn_config` is relative to it.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml_str(&text, path.parent().unwrap_or(Path::new(".")))
    }

    /// Parses and validates scenario text; relative paths are taken from `base_dir`.
    pub fn from_toml_str(text: &str, base_dir: &Path) -> Result<Scenario, ScenarioError> {
        let raw: RawScenario = toml::from_str(text)
            .map_err(|err| ScenarioError::Toml(err.to_string().trim_end().to_owned()))?;
        let config_path = base_dir.join(&raw.cairn_config);
        let config = Config::load(&config_path).map_err(|source| ScenarioError::CairnConfig {
            path: config_path.clone(),
            source: Box::new(source),
        })?;
        validate(raw, config, base_dir)
    }
}

fn validate(raw: RawScenario, config: Config, base_dir: &Path) -> Result<Scenario, ScenarioError> {
    let stream = pick_stream(&config, raw.stream.as_deref())?;
    check_run_id(raw.run_id.as_deref())?;
    let locations = stream_locations(&stream);
    for (location, writers) in &locations {
        if *writers > 1 {
            return Err(invalid(
                "cairn_config",
                format!(
                    "{location} is written by {writers} apps; the simulator expects one writer per location"
                ),
            ));
        }
    }
    let partitions = positive("partitions", raw.partitions.unwrap_or(3))?;
    let replication = positive("replication", raw.replication.unwrap_or(1))?;
    let tracing_replication =
        positive("tracing_replication", raw.tracing_replication.unwrap_or(1))?;
    let topics = topic_specs(raw.topics, &locations, (partitions, replication))?;
    let drain_timeout = duration(
        "drain_timeout",
        raw.drain_timeout.as_deref().unwrap_or("60s"),
    )?;
    let apps = app_behaviours(&stream, raw.apps)?;
    let kill_leader = raw
        .kill_leader
        .map(|k| kill_leader(k, &topics, base_dir))
        .transpose()?;
    Ok(Scenario {
        config,
        stream,
        run_id: raw.run_id,
        topics,
        tracing_replication,
        drain_timeout,
        apps,
        kill_leader,
    })
}

/// The stream to simulate: the one named, or the only one.
fn pick_stream(config: &Config, name: Option<&str>) -> Result<StreamConfig, ScenarioError> {
    match name {
        Some(name) => config.stream(name).cloned().ok_or_else(|| {
            invalid(
                "stream",
                format!("{name:?} is not a [[streams]] name of the cairn_config"),
            )
        }),
        None if config.streams.len() == 1 => Ok(config.streams[0].clone()),
        None => Err(invalid(
            "stream",
            "missing; the cairn_config has several streams, name the one to simulate",
        )),
    }
}

fn check_run_id(run_id: Option<&str>) -> Result<(), ScenarioError> {
    if let Some(run_id) = run_id
        && (run_id.is_empty() || run_id.len() > 64 || run_id.contains(char::is_whitespace))
    {
        return Err(invalid(
            "run_id",
            "expected 1 to 64 characters without spaces",
        ));
    }
    Ok(())
}

/// The settings of every location's topic: the default partitions and replication, then
/// each `[topics."<location>"]`.
fn topic_specs(
    raw_topics: BTreeMap<String, RawTopic>,
    locations: &BTreeMap<String, usize>,
    (partitions, replication): (i32, i32),
) -> Result<BTreeMap<String, TopicSpec>, ScenarioError> {
    let mut topics: BTreeMap<String, TopicSpec> = locations
        .keys()
        .map(|location| {
            let spec = TopicSpec {
                partitions,
                replication,
                config: BTreeMap::new(),
            };
            (location.clone(), spec)
        })
        .collect();
    for (location, topic) in raw_topics {
        let key = format!("topics.\"{location}\"");
        let spec = topics.get_mut(&location).ok_or_else(|| {
            invalid(&key, "not a location of the stream (expected \"<cluster>/<topic>\" read or written by one of its apps)")
        })?;
        if let Some(p) = topic.partitions {
            spec.partitions = positive(&format!("{key}.partitions"), p)?;
        }
        if let Some(r) = topic.replication {
            spec.replication = positive(&format!("{key}.replication"), r)?;
        }
        spec.config = topic.config;
    }
    Ok(topics)
}

/// The behaviour of every app of the stream; an `[apps.<name>]` of no app is a mistake.
fn app_behaviours(
    stream: &StreamConfig,
    mut raw_apps: BTreeMap<String, RawApp>,
) -> Result<BTreeMap<String, AppBehaviour>, ScenarioError> {
    let mut apps = BTreeMap::new();
    for app in &stream.apps {
        let behaviour = raw_apps.remove(&app.app).unwrap_or_default();
        apps.insert(app.app.clone(), app_behaviour(app, behaviour)?);
    }
    if let Some(name) = raw_apps.keys().next() {
        return Err(invalid(
            format!("apps.{name}"),
            format!("not an app of stream `{}`", stream.name),
        ));
    }
    Ok(apps)
}

fn kill_leader(
    k: RawKillLeader,
    topics: &BTreeMap<String, TopicSpec>,
    base_dir: &Path,
) -> Result<KillLeader, ScenarioError> {
    let Some(spec) = topics.get(&k.location) else {
        return Err(invalid(
            "kill_leader.location",
            format!("{:?} is not a location of the stream", k.location),
        ));
    };
    if spec.replication < 2 {
        return Err(invalid(
            "kill_leader.location",
            format!(
                "{:?} has replication {}; a follower to go stale needs at least 2",
                k.location, spec.replication
            ),
        ));
    }
    Ok(KillLeader {
        location: k.location,
        after: k.after,
        stale_writes: k.stale_writes.unwrap_or(100),
        down_for: duration("kill_leader.down_for", &k.down_for)?,
        kafka_sh: base_dir.join(k.kafka_sh.unwrap_or_else(|| "deploy/kafka/kafka.sh".into())),
    })
}

/// Every location of the stream with how many apps write it.
fn stream_locations(stream: &StreamConfig) -> BTreeMap<String, usize> {
    let mut locations = BTreeMap::new();
    for app in &stream.apps {
        if let Some(reads) = &app.reads {
            locations.entry(reads.name()).or_insert(0);
        }
        if let Some(writes) = &app.writes {
            *locations.entry(writes.name()).or_insert(0) += 1;
        }
    }
    locations
}

/// What an app is, for the keys it may take.
struct Role {
    reader: bool,
    processor: bool,
    producer: bool,
    writer: bool,
}

impl Role {
    fn of(app: &AppConfig) -> Role {
        let reader = app.reads.is_some();
        Role {
            reader,
            processor: reader && app.writes.is_some(),
            producer: !reader,
            writer: app.writes.is_some(),
        }
    }
}

fn app_behaviour(app: &AppConfig, raw: RawApp) -> Result<AppBehaviour, ScenarioError> {
    let key = |field: &str| format!("apps.{}.{field}", app.app);
    let role = Role::of(app);
    check_keys_fit_role(app, &role, &raw)?;
    let messages = raw.messages.unwrap_or(if role.producer { 100 } else { 0 });
    let rate = raw.rate.unwrap_or(0.0);
    if !(rate.is_finite() && rate >= 0.0) {
        return Err(invalid(
            key("rate"),
            format!("{rate}, expected messages per second >= 0 (0 = unlimited)"),
        ));
    }
    let acks = raw.acks.unwrap_or_else(|| "all".into());
    if !["all", "-1", "0", "1"].contains(&acks.as_str()) {
        return Err(invalid(
            key("acks"),
            format!("{acks:?}, expected \"all\", \"1\" or \"0\""),
        ));
    }
    Ok(AppBehaviour {
        messages,
        rate,
        filter_share: share(&key("filter_share"), raw.filter_share)?,
        acks,
        faults: faults(&key, raw.faults)?,
    })
}

/// Refuses a key the app's role does not take (a producer's `messages` on a reader, ...).
fn check_keys_fit_role(app: &AppConfig, role: &Role, raw: &RawApp) -> Result<(), ScenarioError> {
    let only = |present: bool, field: &str, who: &str| {
        if present {
            Err(invalid(
                format!("apps.{}.{field}", app.app),
                format!("only {who} take this key, and `{}` is not one", app.app),
            ))
        } else {
            Ok(())
        }
    };
    only(
        !role.producer && (raw.messages.is_some() || raw.rate.is_some()),
        "messages/rate",
        "producers",
    )?;
    only(
        !role.processor && raw.filter_share.is_some(),
        "filter_share",
        "processors",
    )?;
    only(
        !role.writer && raw.acks.is_some(),
        "acks",
        "apps that write",
    )?;
    let f = &raw.faults;
    only(
        !role.processor && f.drop_share.is_some(),
        "faults.drop_share",
        "processors",
    )?;
    only(
        !role.writer && f.duplicate_share.is_some(),
        "faults.duplicate_share",
        "apps that write",
    )?;
    let reader_only = f.skip_share.is_some()
        || f.crash_after.is_some()
        || f.stall.is_some()
        || f.intruder.is_some()
        || f.offset_reset_after.is_some()
        || f.hang_after.is_some();
    only(
        !role.reader && reader_only,
        "faults (skip_share, crash_after, stall, intruder, offset_reset_after, hang_after)",
        "apps that read",
    )
}

/// The faults of one app; `key` names a field of the app's table.
fn faults(key: &impl Fn(&str) -> String, f: RawFaults) -> Result<Faults, ScenarioError> {
    let window = |field: &str, w: Option<RawWindow>| {
        w.map(|w| -> Result<Window, ScenarioError> {
            Ok(Window {
                after: w.after,
                duration: duration(&key(&format!("{field}.for")), &w.for_)?,
            })
        })
        .transpose()
    };
    Ok(Faults {
        drop_share: share(&key("faults.drop_share"), f.drop_share)?,
        skip_share: share(&key("faults.skip_share"), f.skip_share)?,
        duplicate_share: share(&key("faults.duplicate_share"), f.duplicate_share)?,
        crash_after: f.crash_after,
        stall: window("faults.stall", f.stall)?,
        intruder: window("faults.intruder", f.intruder)?,
        offset_reset_after: f.offset_reset_after,
        hang_after: f.hang_after,
    })
}

fn share(key: &str, value: Option<f64>) -> Result<f64, ScenarioError> {
    let value = value.unwrap_or(0.0);
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(invalid(key, format!("{value}, expected a share in [0, 1]")))
    }
}

fn positive(key: &str, value: i32) -> Result<i32, ScenarioError> {
    if value > 0 {
        Ok(value)
    } else {
        Err(invalid(key, format!("{value}, expected a positive number")))
    }
}

fn duration(key: &str, text: &str) -> Result<Duration, ScenarioError> {
    parse_duration(text).map_err(|err| invalid(key, err.to_string()))
}

#[cfg(test)]
mod tests;
