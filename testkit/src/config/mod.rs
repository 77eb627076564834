//! A typed builder for the text of a `cairn.toml` (`schemas/cairn.example.toml` documents every
//! key). Tests and the bench describe the file they need; the builder writes valid TOML (strings
//! escaped by the `toml` crate) in the file's usual order, leaving out every key not set so that
//! cairn's defaults apply.
//!
//! ```
//! use std::time::Duration;
//! use cairn_testkit::config::{CairnToml, ClusterToml, StreamToml};
//!
//! let text = CairnToml::new(
//!     ClusterToml::new("local", "127.0.0.1:9092").client("session.timeout.ms", "6000"),
//! )
//! .tracing("local", "traces", "cairn")
//! .output("local", "lost")
//! .oracle_poll_interval(Duration::from_millis(200))
//! .stream(
//!     StreamToml::new("orders")
//!         .producer("api", "local/t1")
//!         .sink("sink", "g1", "local/t1"),
//! )
//! .to_toml();
//! assert!(text.contains("[[streams.apps]]"));
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cairn_core::config::{Config, MalformedPolicy, format_duration};
use toml::{Table, Value};

/// One `[clusters.<name>]`.
#[derive(Clone, Debug)]
pub struct ClusterToml {
    name: String,
    bootstrap: String,
    client: Vec<(String, String)>,
}

impl ClusterToml {
    pub fn new(name: &str, bootstrap: &str) -> ClusterToml {
        ClusterToml {
            name: name.to_owned(),
            bootstrap: bootstrap.to_owned(),
            client: Vec::new(),
        }
    }

    /// Its name and its `[clusters.<name>]` table.
    pub(crate) fn table(&self) -> (String, Table) {
        let mut table = Table::new();
        table.insert("bootstrap".into(), Value::String(self.bootstrap.clone()));
        if !self.client.is_empty() {
            let client = self
                .client
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            table.insert("client".into(), Value::Table(client));
        }
        (self.name.clone(), table)
    }

    /// The cluster's name.
    pub fn name(&self) -> String {
        self.name.clone()
    }

    /// Its bootstrap servers and client settings, for a client built outside cairn.toml (a
    /// tracer).
    pub fn parts(&self) -> (String, Vec<(String, String)>) {
        (self.bootstrap.clone(), self.client.clone())
    }

    /// One librdkafka setting in `[clusters.<name>.client]`.
    pub fn client(mut self, key: &str, value: &str) -> ClusterToml {
        self.client.push((key.to_owned(), value.to_owned()));
        self
    }
}

/// The knobs of `[timing]` (or a stream's `[streams.timing]`); unset ones are left out.
#[derive(Clone, Copy, Debug, Default)]
pub struct TimingToml {
    first_check: Option<Duration>,
    backoff: Option<Duration>,
    backoff_max: Option<Duration>,
    max_wait: Option<Duration>,
    confirmation_delay: Option<Duration>,
    dedup_window: Option<Duration>,
    max_offsets_age: Option<Duration>,
}

impl TimingToml {
    pub fn first_check(mut self, value: Duration) -> TimingToml {
        self.first_check = Some(value);
        self
    }

    pub fn backoff(mut self, value: Duration) -> TimingToml {
        self.backoff = Some(value);
        self
    }

    pub fn backoff_max(mut self, value: Duration) -> TimingToml {
        self.backoff_max = Some(value);
        self
    }

    pub fn max_wait(mut self, value: Duration) -> TimingToml {
        self.max_wait = Some(value);
        self
    }

    pub fn confirmation_delay(mut self, value: Duration) -> TimingToml {
        self.confirmation_delay = Some(value);
        self
    }

    pub fn dedup_window(mut self, value: Duration) -> TimingToml {
        self.dedup_window = Some(value);
        self
    }

    pub fn max_offsets_age(mut self, value: Duration) -> TimingToml {
        self.max_offsets_age = Some(value);
        self
    }

    fn table(&self) -> Table {
        let mut table = Table::new();
        for (key, value) in [
            ("first_check", self.first_check),
            ("backoff", self.backoff),
            ("backoff_max", self.backoff_max),
            ("max_wait", self.max_wait),
            ("confirmation_delay", self.confirmation_delay),
            ("dedup_window", self.dedup_window),
            ("max_offsets_age", self.max_offsets_age),
        ] {
            put(&mut table, key, value.map(duration));
        }
        table
    }
}

/// One `[[streams.apps]]`.
#[derive(Clone, Debug)]
struct AppToml {
    app: String,
    group: Option<String>,
    reads: Option<String>,
    writes: Option<String>,
}

/// One `[[streams]]`: its apps are producers, processors and sinks.
#[derive(Clone, Debug)]
pub struct StreamToml {
    name: String,
    sample_rate: Option<f64>,
    timing: Option<TimingToml>,
    apps: Vec<AppToml>,
}

impl StreamToml {
    pub fn new(name: &str) -> StreamToml {
        StreamToml {
            name: name.to_owned(),
            sample_rate: None,
            timing: None,
            apps: Vec::new(),
        }
    }

    pub fn sample_rate(mut self, rate: f64) -> StreamToml {
        self.sample_rate = Some(rate);
        self
    }

    /// `[streams.timing]`: this stream's overrides of `[timing]`.
    pub fn timing(mut self, timing: TimingToml) -> StreamToml {
        self.timing = Some(timing);
        self
    }

    /// An app that only writes `writes` (`<cluster>/<topic>`).
    pub fn producer(self, app: &str, writes: &str) -> StreamToml {
        self.app(app, None, None, Some(writes))
    }

    /// An app that reads `reads` as consumer `group` and writes `writes`.
    pub fn processor(self, app: &str, group: &str, reads: &str, writes: &str) -> StreamToml {
        self.app(app, Some(group), Some(reads), Some(writes))
    }

    /// An app that reads `reads` as consumer `group` and writes outside Kafka.
    pub fn sink(self, app: &str, group: &str, reads: &str) -> StreamToml {
        self.app(app, Some(group), Some(reads), None)
    }

    fn app(
        mut self,
        app: &str,
        group: Option<&str>,
        reads: Option<&str>,
        writes: Option<&str>,
    ) -> StreamToml {
        self.apps.push(AppToml {
            app: app.to_owned(),
            group: group.map(str::to_owned),
            reads: reads.map(str::to_owned),
            writes: writes.map(str::to_owned),
        });
        self
    }

    fn table(&self) -> Table {
        let mut table = Table::new();
        table.insert("name".into(), Value::String(self.name.clone()));
        put(
            &mut table,
            "sample_rate",
            self.sample_rate.map(Value::Float),
        );
        if let Some(timing) = &self.timing {
            table.insert("timing".into(), Value::Table(timing.table()));
        }
        let apps = self
            .apps
            .iter()
            .map(|a| {
                let mut app = Table::new();
                app.insert("app".into(), Value::String(a.app.clone()));
                put(&mut app, "group", a.group.clone().map(Value::String));
                put(&mut app, "reads", a.reads.clone().map(Value::String));
                put(&mut app, "writes", a.writes.clone().map(Value::String));
                Value::Table(app)
            })
            .collect();
        table.insert("apps".into(), Value::Array(apps));
        table
    }
}

/// A whole `cairn.toml`. `[tracing]` and `[output]` default to the first cluster with the topics
/// `cairn-traces` and `cairn-lost-messages` and the group `cairn`, as in the example file.
#[derive(Clone, Debug)]
pub struct CairnToml {
    clusters: Vec<ClusterToml>,
    tracing: (String, String, String),
    output: (String, String),
    timing: TimingToml,
    workers: Option<usize>,
    on_malformed: Option<MalformedPolicy>,
    max_memory: Option<String>,
    poll_interval: Option<Duration>,
    request_timeout: Option<Duration>,
    listen: Option<String>,
    store: Option<PathBuf>,
    control_plane: Option<(String, Option<Duration>)>,
    control_plane_timeout: Option<Duration>,
    streams: Vec<StreamToml>,
}

impl CairnToml {
    /// A file with one cluster.
    pub fn new(cluster: ClusterToml) -> CairnToml {
        let name = cluster.name.clone();
        CairnToml {
            clusters: vec![cluster],
            tracing: (name.clone(), "cairn-traces".into(), "cairn".into()),
            output: (name, "cairn-lost-messages".into()),
            timing: TimingToml::default(),
            workers: None,
            on_malformed: None,
            max_memory: None,
            poll_interval: None,
            request_timeout: None,
            listen: None,
            store: None,
            control_plane: None,
            control_plane_timeout: None,
            streams: Vec::new(),
        }
    }

    /// Another cluster, after those declared so far.
    pub fn cluster(mut self, cluster: ClusterToml) -> CairnToml {
        self.clusters.push(cluster);
        self
    }

    /// `[tracing]`: where traces come from, and cairn's own consumer group.
    pub fn tracing(mut self, cluster: &str, topic: &str, group: &str) -> CairnToml {
        self.tracing = (cluster.into(), topic.into(), group.into());
        self
    }

    /// `[output]`: where verdicts go.
    pub fn output(mut self, cluster: &str, topic: &str) -> CairnToml {
        self.output = (cluster.into(), topic.into());
        self
    }

    /// `[timing]`.
    pub fn timing(mut self, timing: TimingToml) -> CairnToml {
        self.timing = timing;
        self
    }

    /// `[detector] workers`.
    pub fn workers(mut self, workers: usize) -> CairnToml {
        self.workers = Some(workers);
        self
    }

    /// `[detector] max_memory`: a byte size such as `"1MiB"`.
    pub fn max_memory(mut self, size: &str) -> CairnToml {
        self.max_memory = Some(size.to_owned());
        self
    }

    /// `[detector] on_malformed`.
    pub fn on_malformed(mut self, policy: MalformedPolicy) -> CairnToml {
        self.on_malformed = Some(policy);
        self
    }

    /// `[oracle] poll_interval`.
    pub fn oracle_poll_interval(mut self, value: Duration) -> CairnToml {
        self.poll_interval = Some(value);
        self
    }

    /// `[oracle] request_timeout`.
    pub fn oracle_request_timeout(mut self, value: Duration) -> CairnToml {
        self.request_timeout = Some(value);
        self
    }

    /// `[http] listen`.
    pub fn http(mut self, listen: SocketAddr) -> CairnToml {
        self.listen = Some(listen.to_string());
        self
    }

    /// `[store] path`.
    pub fn store(mut self, path: &Path) -> CairnToml {
        self.store = Some(path.to_owned());
        self
    }

    /// `[control_plane]`: the streams served over HTTP, re-read every `refresh` (or the default).
    pub fn control_plane(mut self, url: &str, refresh: Option<Duration>) -> CairnToml {
        self.control_plane = Some((url.to_owned(), refresh));
        self
    }

    /// `[control_plane] timeout`: how long one fetch may take.
    pub fn control_plane_timeout(mut self, timeout: Duration) -> CairnToml {
        self.control_plane_timeout = Some(timeout);
        self
    }

    /// This file without its `[[streams]]`: what goes with a `[control_plane]` serving them.
    pub fn without_streams(mut self) -> CairnToml {
        self.streams.clear();
        self
    }

    /// The `[[streams]]` of this file as a control plane serves them, with a top-level
    /// `version` when one is given.
    pub fn streams_document(&self, version: Option<&str>) -> String {
        let mut root = Table::new();
        put(
            &mut root,
            "version",
            version.map(|v| Value::String(v.to_owned())),
        );
        let streams = self
            .streams
            .iter()
            .map(|s| Value::Table(s.table()))
            .collect();
        root.insert("streams".into(), Value::Array(streams));
        toml::to_string(&root).expect("a TOML table always serializes")
    }

    /// One `[[streams]]`, after those added so far.
    pub fn stream(mut self, stream: StreamToml) -> CairnToml {
        self.streams.push(stream);
        self
    }

    /// The text of the file.
    pub fn to_toml(&self) -> String {
        toml::to_string(&self.table()).expect("a TOML table always serializes")
    }

    /// The file as cairn's own loader reads it; fails, with the text, if cairn refuses it.
    pub fn to_config(&self) -> Config {
        let text = self.to_toml();
        Config::from_toml_str(&text)
            .unwrap_or_else(|err| panic!("the test wrote an invalid cairn.toml: {err}\n{text}"))
    }

    /// Writes the file to `path`, once cairn's own loader has accepted it.
    pub fn write_to(&self, path: &Path) -> Config {
        let config = self.to_config();
        std::fs::write(path, self.to_toml())
            .unwrap_or_else(|err| panic!("write {}: {err}", path.display()));
        config
    }

    fn table(&self) -> Table {
        let mut root = Table::new();
        let mut clusters = Table::new();
        for cluster in &self.clusters {
            let mut table = Table::new();
            table.insert("bootstrap".into(), Value::String(cluster.bootstrap.clone()));
            if !cluster.client.is_empty() {
                let client = cluster
                    .client
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect();
                table.insert("client".into(), Value::Table(client));
            }
            clusters.insert(cluster.name.clone(), Value::Table(table));
        }
        root.insert("clusters".into(), Value::Table(clusters));
        let (cluster, topic, group) = &self.tracing;
        root.insert(
            "tracing".into(),
            strings(&[("cluster", cluster), ("topic", topic), ("group", group)]),
        );
        let (cluster, topic) = &self.output;
        root.insert(
            "output".into(),
            strings(&[("cluster", cluster), ("topic", topic)]),
        );
        section(&mut root, "timing", self.timing.table());
        let mut detector = Table::new();
        put(
            &mut detector,
            "workers",
            self.workers
                .map(|n| Value::Integer(i64::try_from(n).expect("a sane worker count"))),
        );
        put(
            &mut detector,
            "on_malformed",
            self.on_malformed.map(|p| {
                Value::String(
                    match p {
                        MalformedPolicy::Skip => "skip",
                        MalformedPolicy::Fail => "fail",
                    }
                    .into(),
                )
            }),
        );
        put(
            &mut detector,
            "max_memory",
            self.max_memory.clone().map(Value::String),
        );
        section(&mut root, "detector", detector);
        let mut oracle = Table::new();
        put(
            &mut oracle,
            "poll_interval",
            self.poll_interval.map(duration),
        );
        put(
            &mut oracle,
            "request_timeout",
            self.request_timeout.map(duration),
        );
        section(&mut root, "oracle", oracle);
        let mut http = Table::new();
        put(&mut http, "listen", self.listen.clone().map(Value::String));
        section(&mut root, "http", http);
        let mut store = Table::new();
        put(
            &mut store,
            "path",
            self.store
                .as_ref()
                .map(|p| Value::String(p.display().to_string())),
        );
        section(&mut root, "store", store);
        if let Some((url, refresh)) = &self.control_plane {
            let mut control_plane = Table::new();
            control_plane.insert("url".into(), Value::String(url.clone()));
            put(&mut control_plane, "refresh", refresh.map(duration));
            put(
                &mut control_plane,
                "timeout",
                self.control_plane_timeout.map(duration),
            );
            root.insert("control_plane".into(), Value::Table(control_plane));
        }
        if !self.streams.is_empty() {
            let streams = self
                .streams
                .iter()
                .map(|s| Value::Table(s.table()))
                .collect();
            root.insert("streams".into(), Value::Array(streams));
        }
        root
    }
}

impl fmt::Display for CairnToml {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_toml())
    }
}

/// A duration as cairn.toml writes it: `"300ms"`, `"20s"`, `"5m"`.
fn duration(value: Duration) -> Value {
    Value::String(format_duration(value))
}

fn put(table: &mut Table, key: &str, value: Option<Value>) {
    if let Some(value) = value {
        table.insert(key.to_owned(), value);
    }
}

/// A section that is left out when it has no key.
fn section(root: &mut Table, name: &str, table: Table) {
    if !table.is_empty() {
        root.insert(name.to_owned(), Value::Table(table));
    }
}

fn strings(pairs: &[(&str, &String)]) -> Value {
    Value::Table(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String((*v).clone())))
            .collect(),
    )
}

#[cfg(test)]
mod tests;
