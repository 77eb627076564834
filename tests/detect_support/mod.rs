//! Helpers for the end-to-end tests of `cairn detect`.
//!
//! Layout:
//! - this file: [`DetectEnv`], one test's world: random topics and groups on the broker, a
//!   temporary directory, and a `cairn.toml` per detector instance;
//! - [`pipeline`]: plays the three apps of a stream exactly (real records, real traces, real
//!   committed offsets), so the truth (which message is lost where) is known exactly;
//! - [`process`]: spawns `cairn detect`, waits for `/readyz`, SIGTERM and kill -9, HTTP;
//! - [`verdicts`]: reads the output topic and compares what came with the truth;
//! - [`prometheus`]: reads `/metrics`;
//! - [`reference`]: runs the detector core in this process on the same traces and the same
//!   offsets oracle, to prove that the harness's truth is what the core concludes.
//!
//! The stream (`orders`) has three hops: producer `api` writes `local/<t1>`; `enricher`
//! (group g1) reads t1 and writes t2; `indexer` (g2) reads t2 and writes t3; `sink` (g3)
//! reads t3.
//!
//! When a test panics, [`DetectEnv`] keeps its directory and prints where the detectors'
//! logs are, with their last lines.
#![allow(dead_code)]

pub mod pipeline;
pub mod process;
pub mod prometheus;
pub mod reference;
pub mod verdicts;

use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cairn_core::config::Config;
use parking_lot::Mutex;
use tempfile::TempDir;

use crate::common::{TestKafka, rand_group, rand_suffix, rand_topic};

// Each test file uses some of these.
#[allow(unused_imports)]
pub use self::pipeline::{Fate, Pipeline, Stage};
#[allow(unused_imports)]
pub use self::process::DetectProcess;
#[allow(unused_imports)]
pub use self::verdicts::{VerdictKey, VerdictWatch};

/// The one cluster of the test config.
pub const CLUSTER: &str = "local";
/// The stream every test plays.
pub const STREAM: &str = "orders";
/// The producer app.
pub const API: &str = "api";
/// Partitions of each of the pipeline's data topics t1, t2, t3.
pub const DATA_PARTITIONS: i32 = 2;
/// Partitions of every verdict topic.
pub const OUTPUT_PARTITIONS: i32 = 3;
/// How long a detector may take from spawn to `/readyz` 200 (joining the group, a first
/// oracle round; after a kill -9 also the old member's session timeout of 6 s).
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a detector may take to exit after SIGTERM.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a true loss may take to show up on the output topic once it is decidable:
/// first_check + confirmation_delay + oracle polls + a checkpoint, with room for a slow machine.
pub const VERDICT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long to watch for verdicts that should not come: longer than first_check +
/// confirmation_delay + backoff_max + an oracle round, so a wrong one would have come by then.
pub const GRACE: Duration = Duration::from_secs(3);

/// The names of one test's topics and groups, all random.
#[derive(Clone, Debug)]
pub struct Names {
    pub tracing_topic: String,
    /// cairn's own consumer group on the tracing topic.
    pub tracing_group: String,
    pub output_topic: String,
    /// The pipeline's data topics t1, t2, t3.
    pub topics: [String; 3],
    /// The groups of enricher, indexer and sink (g1, g2, g3).
    pub groups: [String; 3],
}

impl Names {
    /// `local/<t1>` for `index` 0, and so on.
    pub fn location(&self, index: usize) -> String {
        format!("{CLUSTER}/{}", self.topics[index])
    }
}

/// One detector instance's files and addresses.
#[derive(Clone, Debug)]
pub struct Instance {
    pub name: String,
    pub config_path: PathBuf,
    pub config_text: String,
    pub http: SocketAddr,
    pub store: PathBuf,
    pub tracing_group: String,
    pub output_topic: String,
    /// Where this instance's log files go.
    pub dir: PathBuf,
}

impl Instance {
    /// The config as cairn's own loader reads it.
    pub fn config(&self) -> Config {
        Config::from_toml_str(&self.config_text).expect("the test config is valid")
    }
}

/// One test's world on the broker and on disk.
pub struct DetectEnv {
    pub kafka: TestKafka,
    pub names: Names,
    pub tracing_partitions: i32,
    dir: Option<TempDir>,
    /// Every log file a spawned detector writes, for the failure report.
    logs: Arc<Mutex<Vec<PathBuf>>>,
    spawned: AtomicUsize,
}

impl DetectEnv {
    /// A world on the real broker, or `None` (the test is skipped, saying why) on
    /// librdkafka's mock cluster: the project keeps the mock cluster for the demo and fast
    /// tests, "not a substitute for the real broker in end-to-end tests".
    pub async fn on_real_broker(test: &str, tracing_partitions: i32) -> Option<DetectEnv> {
        let kafka = TestKafka::start();
        if !kafka.is_real() {
            eprintln!(
                "skipped: `cairn detect` end-to-end tests need a real broker; start one with \
                 `deploy/kafka/kafka.sh start` and set CAIRN_TEST_BROKERS=127.0.0.1:9092 \
                 (deploy/test-all.sh does both)"
            );
            return None;
        }
        Some(DetectEnv::new(kafka, test, tracing_partitions).await)
    }

    /// A world on `kafka`, whichever it is.
    pub async fn new(kafka: TestKafka, test: &str, tracing_partitions: i32) -> DetectEnv {
        let names = Names {
            tracing_topic: rand_topic(&format!("{test}-traces")),
            tracing_group: rand_group(&format!("{test}-cairn")),
            output_topic: rand_topic(&format!("{test}-lost")),
            topics: [1, 2, 3].map(|n| rand_topic(&format!("{test}-t{n}"))),
            groups: [1, 2, 3].map(|n| rand_group(&format!("{test}-g{n}"))),
        };
        kafka
            .create_topic(&names.tracing_topic, tracing_partitions)
            .await;
        kafka
            .create_topic(&names.output_topic, OUTPUT_PARTITIONS)
            .await;
        for topic in &names.topics {
            kafka.create_topic(topic, DATA_PARTITIONS).await;
        }
        let dir = tempfile::Builder::new()
            .prefix(&format!("cairn-{test}-"))
            .tempdir()
            .expect("create a temporary directory");
        DetectEnv {
            kafka,
            names,
            tracing_partitions,
            dir: Some(dir),
            logs: Arc::new(Mutex::new(Vec::new())),
            spawned: AtomicUsize::new(0),
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir
            .as_ref()
            .expect("the directory lives as long as the env")
            .path()
    }

    /// A new verdict topic, for a detector that must not share the test's.
    pub async fn create_output_topic(&self, test: &str) -> String {
        let topic = rand_topic(&format!("{test}-lost"));
        self.kafka.create_topic(&topic, OUTPUT_PARTITIONS).await;
        topic
    }

    /// An instance in the test's tracing group, publishing to the test's output topic.
    pub fn instance(&self, name: &str) -> Instance {
        self.instance_in(
            name,
            &self.names.tracing_group.clone(),
            &self.names.output_topic.clone(),
        )
    }

    /// An instance with its own store and HTTP port in `tracing_group`, publishing to
    /// `output_topic`; its `cairn.toml` is written and checked with cairn's own loader.
    pub fn instance_in(&self, name: &str, tracing_group: &str, output_topic: &str) -> Instance {
        let dir = self.dir().join(name);
        fs::create_dir_all(&dir).expect("create the instance directory");
        let http = free_local_port();
        let store = dir.join("store");
        let config_text = config_toml(&ConfigParams {
            bootstrap: &self.kafka.bootstrap,
            names: &self.names,
            tracing_group,
            output_topic,
            http,
            store: &store,
        });
        if let Err(err) = Config::from_toml_str(&config_text) {
            panic!("the harness wrote an invalid cairn.toml: {err}\n{config_text}");
        }
        let config_path = dir.join("cairn.toml");
        fs::write(&config_path, &config_text).expect("write cairn.toml");
        Instance {
            name: name.to_owned(),
            config_path,
            config_text,
            http,
            store,
            tracing_group: tracing_group.to_owned(),
            output_topic: output_topic.to_owned(),
            dir,
        }
    }

    /// Starts `cairn detect --config <instance's cairn.toml>`; its logs are reported if the
    /// test fails.
    pub fn spawn(&self, instance: &Instance) -> DetectProcess {
        let run = self.spawned.fetch_add(1, Ordering::Relaxed) + 1;
        let process = DetectProcess::spawn(instance, run);
        let mut logs = self.logs.lock();
        logs.push(process.stdout_path.clone());
        logs.push(process.stderr_path.clone());
        process
    }

    /// A driver for the test's pipeline.
    pub fn pipeline(&self) -> Pipeline {
        Pipeline::new(&self.kafka, &self.names, &format!("m-{}", rand_suffix()))
    }

    /// Reads the test's output topic from the beginning, in the background.
    pub fn watch_verdicts(&self) -> VerdictWatch {
        VerdictWatch::start(&self.kafka, &self.names.output_topic, OUTPUT_PARTITIONS)
    }

    /// Reads another verdict topic from the beginning, in the background.
    pub fn watch_verdicts_on(&self, topic: &str) -> VerdictWatch {
        VerdictWatch::start(&self.kafka, topic, OUTPUT_PARTITIONS)
    }
}

impl Drop for DetectEnv {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let Some(dir) = self.dir.take() else { return };
        let kept = dir.keep();
        eprintln!(
            "\n---- detect test failed; its directory is kept: {}",
            kept.display()
        );
        eprintln!(
            "     topics: tracing {}, output {}, data {:?}; groups: cairn {}, apps {:?}",
            self.names.tracing_topic,
            self.names.output_topic,
            self.names.topics,
            self.names.tracing_group,
            self.names.groups
        );
        for path in self.logs.lock().iter() {
            eprintln!("---- {} (last lines):", path.display());
            eprintln!("{}", process::tail(path, 40));
        }
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_local_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address")
}

/// What varies between the configs of one test.
pub struct ConfigParams<'a> {
    pub bootstrap: &'a str,
    pub names: &'a Names,
    pub tracing_group: &'a str,
    pub output_topic: &'a str,
    pub http: SocketAddr,
    pub store: &'a Path,
}

/// The test's `cairn.toml`: one cluster, fast timing, the three-hop stream.
///
/// The consumer's session timeout is lowered to the broker's minimum (6 s) through the
/// cluster's client settings: after a kill -9 the dead member holds its partitions until
/// its session times out (librdkafka's default is 45 s), and the crash test must fit in a
/// minute.
pub fn config_toml(p: &ConfigParams<'_>) -> String {
    let n = p.names;
    let [t1, t2, t3] = [0, 1, 2].map(|i| n.location(i));
    let [g1, g2, g3] = &n.groups;
    let store = toml_string(&p.store.display().to_string());
    format!(
        r#"# written by tests/detect_support for one test run
[clusters.{CLUSTER}]
bootstrap = {bootstrap}

[clusters.{CLUSTER}.client]
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "1000"

[tracing]
cluster = "{CLUSTER}"
topic = {tracing_topic}
group = {tracing_group}

[output]
cluster = "{CLUSTER}"
topic = {output_topic}

[timing]
first_check = "300ms"
backoff = "200ms"
backoff_max = "1s"
max_wait = "20s"
confirmation_delay = "500ms"
dedup_window = "2s"
max_offsets_age = "5s"

[detector]
workers = 2
on_malformed = "skip"

[oracle]
poll_interval = "200ms"
request_timeout = "5s"

[http]
listen = "{http}"

[store]
path = {store}

[[streams]]
name = "{STREAM}"

[[streams.apps]]
app = "{API}"
writes = "{t1}"

[[streams.apps]]
app = "{enricher}"
group = "{g1}"
reads = "{t1}"
writes = "{t2}"

[[streams.apps]]
app = "{indexer}"
group = "{g2}"
reads = "{t2}"
writes = "{t3}"

[[streams.apps]]
app = "{sink}"
group = "{g3}"
reads = "{t3}"
"#,
        bootstrap = toml_string(p.bootstrap),
        tracing_topic = toml_string(&n.tracing_topic),
        tracing_group = toml_string(p.tracing_group),
        output_topic = toml_string(p.output_topic),
        http = p.http,
        enricher = Stage::Enricher.app(),
        indexer = Stage::Indexer.app(),
        sink = Stage::Sink.app(),
    )
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// The gauge of tracing partitions an instance owns now (the job's own metric).
pub const PARTITIONS_ASSIGNED: &str = "cairn_partitions_assigned";

/// Waits until `members` between them own all `partitions` tracing partitions, each at least
/// one: proof that a rebalance has settled with every member in it. Fails after `timeout`.
pub async fn wait_assignment(members: &[&DetectProcess], partitions: i32, timeout: Duration) {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let mut owned = Vec::new();
        for member in members {
            let scrape = member.metrics().await;
            owned.push((member.name.clone(), scrape.sum(PARTITIONS_ASSIGNED, &[])));
        }
        let total: f64 = owned.iter().map(|(_, n)| n).sum();
        if total == f64::from(partitions) && owned.iter().all(|(_, n)| *n >= 1.0) {
            eprintln!("tracing partitions owned: {owned:?}");
            return;
        }
        if std::time::Instant::now() >= deadline {
            panic!(
                "the group did not settle within {timeout:?}: {PARTITIONS_ASSIGNED} by member \
                 {owned:?}, expected {partitions} in all and at least one each"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
