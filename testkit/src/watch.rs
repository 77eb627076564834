//! One `cairn watch` instance: a directory with its `cairn.toml` (`[clusters]`, `[http]` and a
//! `[watch]` section, checked with cairn's own `WatchConfig` loader before it is written), a
//! store and a free HTTP port; and the process that runs it (the same handle as detect's).

use std::ffi::OsString;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cairn_core::config::{WatchConfig, format_duration};
use cairn_core::watch::Incident;
use cairn_core::watch::incident::decode;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use toml::{Table, Value};

use crate::config::ClusterToml;
use crate::instance::free_local_port;
use crate::kafka::TIMEOUT;
use crate::process::DetectProcess;

/// The text of a `cairn.toml` for `cairn watch`; unset keys keep cairn's defaults.
#[derive(Clone, Debug)]
pub struct WatchToml {
    clusters: Vec<ClusterToml>,
    include: Option<Vec<String>>,
    window: Option<Duration>,
    poll_interval: Option<Duration>,
    request_timeout: Option<Duration>,
    incidents_topic: Option<String>,
    control_session_timeout: Option<Duration>,
    partition_metrics: bool,
    actions_topic: Option<String>,
    respond: Vec<RespondToml>,
    scale_groups: Vec<ScaleGroupToml>,
}

/// One `[[respond.groups]]` entry; unset durations keep cairn's defaults.
#[derive(Clone, Debug)]
pub struct RespondToml {
    pub cluster: String,
    pub group: String,
    pub stateless: bool,
    /// The relaunch command (argv); none for a stateful group.
    pub command: Option<Vec<String>>,
    pub suppress_for: Option<Duration>,
    pub verify_within: Option<Duration>,
    pub timeout: Option<Duration>,
}

impl RespondToml {
    /// A stateless group relaunched by `command`.
    pub fn stateless(cluster: &str, group: &str, command: &[&str]) -> RespondToml {
        RespondToml {
            cluster: cluster.to_owned(),
            group: group.to_owned(),
            stateless: true,
            command: Some(command.iter().map(|c| (*c).to_owned()).collect()),
            suppress_for: None,
            verify_within: None,
            timeout: None,
        }
    }

    /// A stateful group: notified, never relaunched.
    pub fn stateful(cluster: &str, group: &str) -> RespondToml {
        RespondToml {
            stateless: false,
            command: None,
            ..RespondToml::stateless(cluster, group, &[])
        }
    }

    fn table(&self) -> Table {
        let mut t = Table::new();
        t.insert("cluster".into(), Value::String(self.cluster.clone()));
        t.insert("group".into(), Value::String(self.group.clone()));
        t.insert("stateless".into(), Value::Boolean(self.stateless));
        if let Some(command) = &self.command {
            let argv = command.iter().cloned().map(Value::String).collect();
            t.insert("command".into(), Value::Array(argv));
        }
        for (key, value) in [
            ("suppress_for", self.suppress_for),
            ("verify_within", self.verify_within),
            ("timeout", self.timeout),
        ] {
            if let Some(value) = value {
                t.insert(key.into(), Value::String(format_duration(value)));
            }
        }
        t
    }
}

/// One `[[scale.groups]]` entry: the advisor's knobs for one group; unset ones keep cairn's defaults.
#[derive(Clone, Debug)]
pub struct ScaleGroupToml {
    pub cluster: String,
    pub group: String,
    pub target: Duration,
    pub relaunch: Duration,
    pub min_instances: Option<u32>,
    pub max_instances: Option<u32>,
    pub history: Option<Duration>,
    pub error_limit: Option<f64>,
    pub cooldown: Option<Duration>,
    pub min_samples: Option<u32>,
}

impl ScaleGroupToml {
    pub fn new(cluster: &str, group: &str, target: Duration, relaunch: Duration) -> Self {
        ScaleGroupToml {
            cluster: cluster.to_owned(),
            group: group.to_owned(),
            target,
            relaunch,
            min_instances: None,
            max_instances: None,
            history: None,
            error_limit: None,
            cooldown: None,
            min_samples: None,
        }
    }

    fn table(&self) -> Table {
        let mut table = Table::new();
        table.insert("cluster".into(), Value::String(self.cluster.clone()));
        table.insert("group".into(), Value::String(self.group.clone()));
        for (key, value) in [
            ("target", Some(self.target)),
            ("relaunch", Some(self.relaunch)),
            ("history", self.history),
            ("cooldown", self.cooldown),
        ] {
            if let Some(value) = value {
                table.insert(key.into(), Value::String(format_duration(value)));
            }
        }
        for (key, value) in [
            ("min_instances", self.min_instances),
            ("max_instances", self.max_instances),
            ("min_samples", self.min_samples),
        ] {
            if let Some(value) = value {
                table.insert(key.into(), Value::Integer(i64::from(value)));
            }
        }
        if let Some(limit) = self.error_limit {
            table.insert("error_limit".into(), Value::Float(limit));
        }
        table
    }
}

impl WatchToml {
    pub fn new(cluster: ClusterToml) -> WatchToml {
        WatchToml {
            clusters: vec![cluster],
            include: None,
            window: None,
            poll_interval: None,
            request_timeout: None,
            incidents_topic: None,
            control_session_timeout: None,
            partition_metrics: false,
            actions_topic: None,
            respond: Vec::new(),
            scale_groups: Vec::new(),
        }
    }

    /// Adds a `[[scale.groups]]` entry.
    pub fn scale_group(mut self, entry: ScaleGroupToml) -> WatchToml {
        self.scale_groups.push(entry);
        self
    }

    /// `[watch] partition_metrics = true`: lag gauges per partition too.
    pub fn partition_metrics(mut self) -> WatchToml {
        self.partition_metrics = true;
        self
    }

    /// A `[[respond.groups]]` entry.
    pub fn respond(mut self, entry: RespondToml) -> WatchToml {
        self.respond.push(entry);
        self
    }

    /// `[respond] actions_topic` as `<cluster>/<topic>`.
    pub fn actions_topic(mut self, location: &str) -> WatchToml {
        self.actions_topic = Some(location.to_owned());
        self
    }

    /// `[watch] include`: the patterns of the groups to watch.
    pub fn include(mut self, patterns: &[&str]) -> WatchToml {
        self.include = Some(patterns.iter().map(|p| (*p).to_owned()).collect());
        self
    }

    pub fn window(mut self, value: Duration) -> WatchToml {
        self.window = Some(value);
        self
    }

    pub fn poll_interval(mut self, value: Duration) -> WatchToml {
        self.poll_interval = Some(value);
        self
    }

    pub fn request_timeout(mut self, value: Duration) -> WatchToml {
        self.request_timeout = Some(value);
        self
    }

    /// `[watch] incidents_topic` as `<cluster>/<topic>`.
    pub fn incidents_topic(mut self, location: &str) -> WatchToml {
        self.incidents_topic = Some(location.to_owned());
        self
    }

    /// `[watch] control_session_timeout`: how soon a standby takes over from a silent active
    /// instance (the broker's minimum is 6 s).
    pub fn control_session_timeout(mut self, value: Duration) -> WatchToml {
        self.control_session_timeout = Some(value);
        self
    }

    /// The file with `[http] listen` set to `listen`.
    pub fn to_toml(&self, listen: SocketAddr) -> String {
        let mut root = Table::new();
        let clusters = self
            .clusters
            .iter()
            .map(|c| {
                let (name, table) = c.table();
                (name, Value::Table(table))
            })
            .collect();
        root.insert("clusters".into(), Value::Table(clusters));
        let mut http = Table::new();
        http.insert("listen".into(), Value::String(listen.to_string()));
        root.insert("http".into(), Value::Table(http));
        let mut watch = Table::new();
        if let Some(include) = &self.include {
            let patterns = include.iter().cloned().map(Value::String).collect();
            watch.insert("include".into(), Value::Array(patterns));
        }
        for (key, value) in [
            ("window", self.window),
            ("poll_interval", self.poll_interval),
            ("request_timeout", self.request_timeout),
            ("control_session_timeout", self.control_session_timeout),
        ] {
            if let Some(value) = value {
                watch.insert(key.into(), Value::String(format_duration(value)));
            }
        }
        if let Some(topic) = &self.incidents_topic {
            watch.insert("incidents_topic".into(), Value::String(topic.clone()));
        }
        if self.partition_metrics {
            watch.insert("partition_metrics".into(), Value::Boolean(true));
        }
        root.insert("watch".into(), Value::Table(watch));
        if !self.respond.is_empty() || self.actions_topic.is_some() {
            let mut respond = Table::new();
            if let Some(topic) = &self.actions_topic {
                respond.insert("actions_topic".into(), Value::String(topic.clone()));
            }
            let groups = self
                .respond
                .iter()
                .map(|g| Value::Table(g.table()))
                .collect();
            respond.insert("groups".into(), Value::Array(groups));
            root.insert("respond".into(), Value::Table(respond));
        }
        if !self.scale_groups.is_empty() {
            let groups = self
                .scale_groups
                .iter()
                .map(|g| Value::Table(g.table()))
                .collect();
            let mut scale = Table::new();
            scale.insert("groups".into(), Value::Array(groups));
            root.insert("scale".into(), Value::Table(scale));
        }
        toml::to_string(&root).expect("a TOML table always serializes")
    }
}

/// A `cairn watch` instance's files and address.
#[derive(Clone, Debug)]
pub struct WatchInstance {
    pub name: String,
    pub config_path: PathBuf,
    pub http: SocketAddr,
    /// `--store`: the same directory on every run, so a restart finds its incident book.
    pub store: PathBuf,
    pub dir: PathBuf,
}

impl WatchInstance {
    /// Writes `config`, with a free HTTP port, to `<parent>/<name>/cairn.toml`.
    pub fn write(parent: &Path, name: &str, config: WatchToml) -> WatchInstance {
        let dir = parent.join(name);
        fs::create_dir_all(&dir).expect("create the instance directory");
        let http = free_local_port();
        let text = config.to_toml(http);
        if let Err(err) = WatchConfig::from_toml_str(&text) {
            panic!("the test wrote an invalid cairn.toml for watch: {err}\n{text}");
        }
        let config_path = dir.join("cairn.toml");
        fs::write(&config_path, &text).expect("write cairn.toml");
        WatchInstance {
            name: name.to_owned(),
            config_path,
            http,
            store: dir.join("store"),
            dir,
        }
    }

    /// `<cairn> watch --config <cairn.toml> --store <store>`, run number `run`.
    pub fn spawn(&self, cairn: &Path, run: usize) -> DetectProcess {
        let args = [
            OsString::from("watch"),
            OsString::from("--config"),
            self.config_path.clone().into_os_string(),
            OsString::from("--store"),
            self.store.clone().into_os_string(),
        ];
        DetectProcess::spawn_args(cairn, &self.name, &self.dir, self.http, &args, run)
    }
}

/// Every incident record on `topic` (all partitions, `read_committed`: what a transaction of
/// the watch committed), in partition then offset order, each with its key; a record that is
/// not an incident fails the test.
pub fn read_incidents(mut config: ClientConfig, topic: &str) -> Vec<(String, Incident)> {
    let consumer: BaseConsumer = config
        .set("group.id", "cairn-testkit-incidents-reader")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .create()
        .expect("create the incidents reader");
    let metadata = consumer
        .fetch_metadata(Some(topic), TIMEOUT)
        .expect("metadata of the incidents topic");
    let mut records = Vec::new();
    for partition in metadata.topics()[0].partitions() {
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(topic, partition.id(), Offset::Beginning)
            .expect("an offset");
        consumer.assign(&assignment).expect("assign");
        let deadline = Instant::now() + TIMEOUT;
        // The end-of-partition event comes at the last stable offset.
        loop {
            assert!(
                Instant::now() < deadline,
                "incidents topic {topic} not read to its end"
            );
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(message)) => {
                    let key =
                        String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned();
                    let incident =
                        decode(message.payload().unwrap_or_default()).unwrap_or_else(|e| {
                            panic!("not an incident record at {}: {e}", message.offset())
                        });
                    records.push((key, incident));
                }
                Some(Err(KafkaError::PartitionEOF(_))) => break,
                Some(Err(err)) => panic!("reading the incidents topic {topic}: {err}"),
                None => {}
            }
        }
    }
    records
}
