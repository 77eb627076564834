//! The world of the `cairn detect` end-to-end tests.
//!
//! Layout:
//! - this file: [`DetectEnv`], one test's world: random topics and groups on the broker, a
//!   [`Workdir`], and a `cairn.toml` per detector instance;
//! - [`batches`]: the fates of the pipeline test's batches;
//! - [`pipeline`]: plays the three apps of a stream exactly (real records, real traces, real
//!   committed offsets), so the truth (which message is lost where) is known exactly;
//! - [`verdicts`]: reads the output topic and compares what came with the truth;
//! - [`reference`](mod@reference): runs the detector core in this process on the same traces and the same
//!   offsets oracle, to prove that the harness's truth is what the core concludes.
//!
//! The stream (`orders`) has three hops: producer `api` writes `local/<t1>`; `enricher`
//! (group g1) reads t1 and writes t2; `indexer` (g2) reads t2 and writes t3; `sink` (g3)
//! reads t3.

pub mod batches;
pub mod pipeline;
pub mod reference;
pub mod verdicts;

use std::path::Path;
use std::time::Duration;

use cairn_core::config::MalformedPolicy;

use crate::config::{CairnToml, ClusterToml, StreamToml, TimingToml};
use crate::kafka::{Sharing, TestKafka};
use crate::metric;
use crate::names::{rand_group, rand_suffix, rand_topic};
use crate::workdir::Workdir;

pub use self::pipeline::{Fate, Pipeline, Stage};
pub use self::verdicts::{VerdictKey, VerdictWatch};
pub use crate::instance::{Instance, free_local_port};
pub use crate::process::DetectProcess;

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

/// One test's world on the broker and on disk. When the test fails, its directory is kept
/// and the detectors' logs are printed (see [`Workdir`]).
pub struct DetectEnv {
    pub kafka: TestKafka,
    pub names: Names,
    pub tracing_partitions: i32,
    workdir: Workdir,
}

impl DetectEnv {
    /// A world on the real broker, shared with the other tests of the binary; fails, naming
    /// `CAIRN_TEST_BROKERS`, without one. `cairn` is the binary under test.
    pub async fn on_real_broker(cairn: &Path, test: &str, tracing_partitions: i32) -> DetectEnv {
        let kafka = TestKafka::real(Sharing::Shared).await;
        DetectEnv::new(cairn, kafka, test, tracing_partitions).await
    }

    /// A world on the real broker that no other test uses meanwhile: for tests that stop
    /// the broker or load it heavily.
    pub async fn on_real_broker_alone(
        cairn: &Path,
        test: &str,
        tracing_partitions: i32,
    ) -> DetectEnv {
        let kafka = TestKafka::real(Sharing::Exclusive).await;
        DetectEnv::new(cairn, kafka, test, tracing_partitions).await
    }

    /// A world on `kafka`, whichever it is.
    pub async fn new(
        cairn: &Path,
        kafka: TestKafka,
        test: &str,
        tracing_partitions: i32,
    ) -> DetectEnv {
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
        let workdir = Workdir::new(test, cairn);
        workdir.note(format!(
            "topics: tracing {}, output {}, data {:?}; groups: cairn {}, apps {:?}",
            names.tracing_topic,
            names.output_topic,
            names.topics,
            names.tracing_group,
            names.groups
        ));
        DetectEnv {
            kafka,
            names,
            tracing_partitions,
            workdir,
        }
    }

    pub fn dir(&self) -> &Path {
        self.workdir.path()
    }

    /// A new verdict topic, for a detector that must not share the test's.
    pub async fn create_output_topic(&self, test: &str) -> String {
        let topic = rand_topic(&format!("{test}-lost"));
        self.kafka.create_topic(&topic, OUTPUT_PARTITIONS).await;
        topic
    }

    /// An instance in the test's tracing group, publishing to the test's output topic.
    pub fn instance(&self, name: &str) -> Instance {
        self.instance_with(name, self.config())
    }

    /// An instance in `tracing_group`, publishing to `output_topic`.
    pub fn instance_in(&self, name: &str, tracing_group: &str, output_topic: &str) -> Instance {
        self.instance_with(
            name,
            self.config()
                .tracing(CLUSTER, &self.names.tracing_topic, tracing_group)
                .output(CLUSTER, output_topic),
        )
    }

    /// An instance with `config` (its HTTP port and store are its own).
    pub fn instance_with(&self, name: &str, config: CairnToml) -> Instance {
        self.workdir.instance(name, config)
    }

    /// The test's `cairn.toml`: one cluster, fast timing, the three-hop stream; a test that
    /// needs another knob changes it and passes it to [`DetectEnv::instance_with`].
    ///
    /// The consumer's session timeout is lowered to the broker's minimum (6 s) through the
    /// cluster's client settings: after a kill -9 the dead member holds its partitions until
    /// its session times out (librdkafka's default is 45 s), and the crash test must fit in a
    /// minute.
    pub fn config(&self) -> CairnToml {
        self.config_with(&Stage::ALL)
    }

    /// [`DetectEnv::config`] with only `stages` of the pipeline in the stream (the api always):
    /// a lineage before a hop was added, as a control plane might serve it.
    pub fn config_with(&self, stages: &[Stage]) -> CairnToml {
        let n = &self.names;
        let [t1, t2, t3] = [0, 1, 2].map(|i| n.location(i));
        let [g1, g2, g3] = &n.groups;
        let ms = Duration::from_millis;
        let secs = Duration::from_secs;
        CairnToml::new(
            ClusterToml::new(CLUSTER, &self.kafka.bootstrap)
                .client("session.timeout.ms", "6000")
                .client("heartbeat.interval.ms", "1000"),
        )
        .tracing(CLUSTER, &n.tracing_topic, &n.tracing_group)
        .output(CLUSTER, &n.output_topic)
        .timing(test_timing())
        .workers(2)
        .on_malformed(MalformedPolicy::Skip)
        .oracle_poll_interval(ms(200))
        .oracle_request_timeout(secs(5))
        .stream(stages.iter().fold(
            StreamToml::new(STREAM).producer(API, &t1),
            |stream, stage| match stage {
                Stage::Enricher => stream.processor(stage.app(), g1, &t1, &t2),
                Stage::Indexer => stream.processor(stage.app(), g2, &t2, &t3),
                Stage::Sink => stream.sink(stage.app(), g3, &t3),
            },
        ))
    }

    /// Starts `cairn detect --config <instance's cairn.toml>`; its logs are reported if the
    /// test fails.
    pub fn spawn(&self, instance: &Instance) -> DetectProcess {
        self.workdir.spawn(instance)
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

/// Waits until `members` between them own all `partitions` tracing partitions, each at least
/// one: proof that a rebalance has settled with every member in it. Fails after `timeout`.
/// The `[timing]` of [`DetectEnv::config`]: checks within a second, messages given up on
/// (stuck) after 20 s. A test whose messages wait longer (an outage) raises `max_wait`.
pub fn test_timing() -> TimingToml {
    let ms = Duration::from_millis;
    let secs = Duration::from_secs;
    TimingToml::default()
        .first_check(ms(300))
        .backoff(ms(200))
        .backoff_max(secs(1))
        .max_wait(secs(20))
        .confirmation_delay(ms(500))
        .dedup_window(secs(2))
        .max_offsets_age(secs(5))
}

pub async fn wait_assignment(members: &[&DetectProcess], partitions: i32, timeout: Duration) {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let mut owned = Vec::new();
        for member in members {
            let scrape = member.metrics().await;
            owned.push((
                member.name.clone(),
                scrape.sum(metric::PARTITIONS_ASSIGNED.name, &[]),
            ));
        }
        let total: f64 = owned.iter().map(|(_, n)| n).sum();
        if total == f64::from(partitions) && owned.iter().all(|(_, n)| *n >= 1.0) {
            eprintln!("tracing partitions owned: {owned:?}");
            return;
        }
        if std::time::Instant::now() >= deadline {
            panic!(
                "the group did not settle within {timeout:?}: {} by member {owned:?}, expected \
                 {partitions} in all and at least one each",
                metric::PARTITIONS_ASSIGNED.name
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
