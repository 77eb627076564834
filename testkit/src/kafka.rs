//! The broker a test runs on, in the style of rust-rdkafka's `tests/utils.rs`: the address comes
//! from the environment, and `populate` returns exactly where each message landed so that tests
//! assert on positions, not counts.
//!
//! - [`TestKafka::start`]: the real broker of `CAIRN_TEST_BROKERS` when it is set, else
//!   librdkafka's in-process mock cluster. For tests that mean the same on both.
//! - [`TestKafka::real`]: the real broker, or a failure that names `CAIRN_TEST_BROKERS`. For
//!   tests that prove nothing on the mock; they live in the test binaries gated by the root
//!   package's `real-broker` feature.
//!
//! Tests in one binary run in parallel. A test that stops the broker, or loads it so much that
//! others' deadlines would mean nothing, asks for it with [`Sharing::Exclusive`]: it waits
//! until the tests using the broker are done, and the next ones wait for it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{DefaultProducerContext, FutureProducer, FutureRecord};
use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The bootstrap servers of the real single broker.
pub const BROKERS_ENV: &str = "CAIRN_TEST_BROKERS";
/// How long one Kafka request of a test may take.
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// Where a message landed: (partition, offset).
pub type Position = (i32, i64);

/// How a test uses the real broker while other tests of its binary run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sharing {
    /// Alongside other tests: its own topics and groups are all it touches.
    Shared,
    /// Alone: it stops the broker, or loads it heavily.
    Exclusive,
}

/// Held while a test uses the real broker; see [`Sharing`].
static REAL_BROKER: RwLock<()> = RwLock::const_new(());

/// A Kafka to test against. A mock cluster, and a test's hold on the real broker, last as long
/// as this value.
pub struct TestKafka {
    pub bootstrap: String,
    mock: Option<MockCluster<'static, DefaultProducerContext>>,
    _shared: Option<RwLockReadGuard<'static, ()>>,
    _exclusive: Option<RwLockWriteGuard<'static, ()>>,
}

impl TestKafka {
    /// The real broker of `CAIRN_TEST_BROKERS` when it is set, else a fresh mock cluster.
    pub fn start() -> TestKafka {
        match real_bootstrap() {
            Some(bootstrap) => TestKafka {
                bootstrap,
                mock: None,
                _shared: None,
                _exclusive: None,
            },
            None => TestKafka::mock(),
        }
    }

    /// A fresh single-broker mock cluster, whatever the environment says.
    pub fn mock() -> TestKafka {
        let mock = MockCluster::new(1).expect("start librdkafka's mock cluster");
        TestKafka {
            bootstrap: mock.bootstrap_servers(),
            mock: Some(mock),
            _shared: None,
            _exclusive: None,
        }
    }

    /// The real broker of `CAIRN_TEST_BROKERS`, once `sharing` allows; fails, naming the
    /// variable, when it is not set.
    pub async fn real(sharing: Sharing) -> TestKafka {
        let Some(bootstrap) = real_bootstrap() else {
            panic!(
                "this test needs a real Kafka broker and {BROKERS_ENV} is not set: start one with \
                 `deploy/kafka/kafka.sh start` and set {BROKERS_ENV}=$(deploy/kafka/kafka.sh \
                 bootstrap) (deploy/test-all.sh does both)"
            );
        };
        let (shared, exclusive) = match sharing {
            Sharing::Shared => (Some(REAL_BROKER.read().await), None),
            Sharing::Exclusive => (None, Some(REAL_BROKER.write().await)),
        };
        TestKafka {
            bootstrap,
            mock: None,
            _shared: shared,
            _exclusive: exclusive,
        }
    }

    pub fn is_real(&self) -> bool {
        self.mock.is_none()
    }

    /// Client settings every test client starts from.
    pub fn config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap)
            .set("socket.timeout.ms", "10000")
            .set("message.timeout.ms", "10000");
        config
    }

    /// Waits until the broker serves every partition of `topics` again (each answers a
    /// ListOffsets), as after a restart: the broker answers metadata well before it has loaded
    /// its partitions, and a test client's record sent meanwhile may time out.
    pub async fn wait_serving(&self, topics: &[&str], timeout: Duration) {
        let config = self.config();
        let topics: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
        tokio::task::spawn_blocking(move || wait_serving_blocking(&config, &topics, timeout))
            .await
            .expect("the serving probe panicked");
    }

    /// A topic with `partitions` partitions and one replica.
    pub async fn create_topic(&self, topic: &str, partitions: i32) {
        if let Some(mock) = &self.mock {
            mock.create_topic(topic, partitions, 1)
                .expect("create topic on the mock cluster");
            return;
        }
        create_topics(
            &self.config(),
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            TIMEOUT,
        )
        .await;
    }

    /// Produces `count` messages keyed and valued by their id, spread round-robin over
    /// `partitions`, and returns where each one landed.
    pub async fn populate(
        &self,
        topic: &str,
        partitions: i32,
        count: usize,
    ) -> BTreeMap<Position, String> {
        let producer: FutureProducer = self
            .config()
            .set("acks", "all")
            .create()
            .expect("create producer");
        let mut landed = BTreeMap::new();
        for n in 0..count {
            let id = format!("{topic}-msg-{n}");
            let partition = (n as i32) % partitions;
            let delivery = producer
                .send(
                    FutureRecord::to(topic)
                        .key(&id)
                        .payload(&id)
                        .partition(partition),
                    TIMEOUT,
                )
                .await
                .map_err(|(err, _)| err)
                .expect("produce");
            landed.insert((delivery.partition, delivery.offset), id);
        }
        landed
    }
}

/// `CAIRN_TEST_BROKERS`, when it names something.
pub fn real_bootstrap() -> Option<String> {
    std::env::var(BROKERS_ENV)
        .ok()
        .filter(|bootstrap| !bootstrap.trim().is_empty())
}

/// Creates `topics` through the admin API of the cluster `config` points at, each within
/// `timeout`; each must be new.
pub async fn create_topics(config: &ClientConfig, topics: &[NewTopic<'_>], timeout: Duration) {
    let admin: AdminClient<DefaultClientContext> = config.create().expect("create admin client");
    let results = admin
        .create_topics(
            topics,
            &AdminOptions::new().operation_timeout(Some(timeout)),
        )
        .await
        .expect("create_topics request");
    for result in results {
        if let Err((topic, err)) = result {
            panic!("create topic {topic}: {err}");
        }
    }
}

/// `deploy/kafka/kafka.sh`, the project's script that runs the real brokers.
pub fn kafka_sh_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the testkit lives in the repository")
        .join("deploy/kafka/kafka.sh")
}

fn wait_serving_blocking(config: &ClientConfig, topics: &[String], timeout: Duration) {
    let consumer: rdkafka::consumer::BaseConsumer = config
        .clone()
        .set("group.id", "cairn-test-serving-probe")
        .create()
        .expect("create the serving probe");
    let deadline = std::time::Instant::now() + timeout;
    let request = Duration::from_secs(2);
    loop {
        let Err(last) = unserved(&consumer, topics, request) else {
            return;
        };
        assert!(
            std::time::Instant::now() < deadline,
            "the broker did not serve {topics:?} within {timeout:?}: {last}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// `Err` names the first partition of `topics` the broker does not serve yet.
fn unserved(
    consumer: &rdkafka::consumer::BaseConsumer,
    topics: &[String],
    request: Duration,
) -> Result<(), String> {
    use rdkafka::consumer::Consumer;
    for topic in topics {
        let metadata = consumer
            .fetch_metadata(Some(topic), request)
            .map_err(|err| format!("metadata of {topic}: {err}"))?;
        let partitions = metadata
            .topics()
            .first()
            .map(|t| t.partitions().len())
            .unwrap_or(0);
        if partitions == 0 {
            return Err(format!("{topic} has no partitions in the metadata yet"));
        }
        for partition in 0..partitions as i32 {
            consumer
                .fetch_watermarks(topic, partition, request)
                .map_err(|err| format!("{topic} partition {partition}: {err}"))?;
        }
    }
    Ok(())
}

/// Runs `kafka.sh` with `args` (`stop`, `start`, `kill 2`, ...); fails if it fails. It reads
/// its ports from the same `CAIRN_KAFKA_*` variables as the test's environment.
pub fn kafka_sh(args: &[&str]) {
    let script = kafka_sh_path();
    let status = Command::new(&script)
        .args(args)
        .status()
        .unwrap_or_else(|err| panic!("run {}: {err}", script.display()));
    assert!(
        status.success(),
        "kafka.sh {} failed: {status}",
        args.join(" ")
    );
}

/// A second single-node broker of `kafka.sh`, with its own ports and state directory, for a
/// test that needs a cluster it can stop while the first keeps running (a tracing cluster apart
/// from the data cluster). Its port is `CAIRN_TEST_SECOND_KAFKA_PORT`, default
/// `CAIRN_KAFKA_PORT + 2` (9094 without either), and its controller listens on the next port;
/// its data lives under `target/kafka-second/`.
#[derive(Clone, Debug)]
pub struct SecondBroker {
    pub port: u16,
    state: PathBuf,
}

/// The variable that sets [`SecondBroker`]'s port.
pub const SECOND_BROKER_PORT_ENV: &str = "CAIRN_TEST_SECOND_KAFKA_PORT";

impl SecondBroker {
    pub fn from_env() -> SecondBroker {
        let port_of = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u16>().ok());
        let port = port_of(SECOND_BROKER_PORT_ENV)
            .or_else(|| port_of("CAIRN_KAFKA_PORT").map(|p| p + 2))
            .unwrap_or(9094);
        let state = kafka_sh_path()
            .parent()
            .and_then(Path::parent)
            .and_then(Path::parent)
            .expect("kafka.sh lives in deploy/kafka of the repository")
            .join("target/kafka-second");
        SecondBroker { port, state }
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A [`TestKafka`] on this broker (no hold on the first broker).
    pub fn kafka(&self) -> TestKafka {
        TestKafka {
            bootstrap: self.bootstrap(),
            mock: None,
            _shared: None,
            _exclusive: None,
        }
    }

    /// Runs `kafka.sh <command>` against this broker (`start`, `stop`; both safe to repeat).
    pub fn run(&self, command: &str) {
        let script = kafka_sh_path();
        let status = Command::new(&script)
            .arg(command)
            .env("CAIRN_KAFKA_PORT", self.port.to_string())
            .env("CAIRN_KAFKA_CONTROLLER_PORT", (self.port + 1).to_string())
            .env("CAIRN_KAFKA_STATE", &self.state)
            .env("CAIRN_KAFKA_HEAP", "-Xms128m -Xmx512m")
            // Plaintext only: the first broker's secured listeners are the ones tests use.
            .env("CAIRN_KAFKA_SECURE", "0")
            .status()
            .unwrap_or_else(|err| panic!("run {}: {err}", script.display()));
        assert!(
            status.success(),
            "kafka.sh {command} (second broker on port {}) failed: {status}",
            self.port
        );
    }
}
