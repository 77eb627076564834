//! The world of the fault tests that run `cairn simulate`: traced pipelines with real faults on
//! a real broker, the real `cairn detect` binary watching them, and `cairn score` grading
//! detect's verdicts against the simulator's truth.
//!
//! One [`World`] is one cairn.toml with one stream per fault ([`StreamSpec`]), so the score,
//! which is per stream, gives every fault its own precision, recall, false alarms, delay and
//! duplicates. Every stream's scenario runs as its own `cairn simulate` process, all at once;
//! one `cairn detect` watches them all.
//!
//! [`fan_out`] holds the smaller pieces the in-process simulate tests share: a fan-out
//! pipeline's cairn.toml and questions asked of a truth. [`running`] is one `cairn simulate`
//! process a test drives through its control directory (hang and relaunch a reader).

pub mod fan_out;
pub mod running;

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cairn_core::config::MalformedPolicy;
use cairn_sim::score::matching::StreamScore;
use cairn_sim::score::report::Report;
use cairn_sim::score::thresholds::Thresholds;
use cairn_sim::score::{ScoreOptions, run as score};

use crate::config::{CairnToml, ClusterToml, StreamToml, TimingToml};
use crate::instance::Instance;
use crate::kafka::{Sharing, TestKafka};
use crate::names::rand_suffix;
use crate::process::DetectProcess;
use crate::workdir::Workdir;

/// Partitions of the tracing and verdict topics.
pub const TRACING_PARTITIONS: i32 = 3;
/// How long the `cairn simulate` processes may take together.
pub const SIMULATE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long detect may take, after the simulations, to report every true loss and count
/// every duplicate: first_check + confirmation_delay + oracle polls + a checkpoint, with room.
pub const CONVERGE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long to keep watching once the numbers are complete, for verdicts that should not
/// come: longer than first_check + confirmation_delay + backoff_max + an oracle round.
pub const GRACE: Duration = Duration::from_secs(4);

/// The shape of a stream's lineage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `api` writes t1; `reader` (a sink) reads it.
    OneHop,
    /// `api` writes t1; `proc` reads t1 and writes t2; `sink` reads t2.
    TwoHops,
}

/// One stream of the world: its lineage and the scenario that plays it.
#[derive(Clone, Debug)]
pub struct StreamSpec {
    /// The stream's name, also the prefix of its topics and groups.
    pub name: &'static str,
    pub shape: Shape,
    /// The scenario's `[topics]` and `[apps]` tables, with `{t1}` / `{t2}` standing for the
    /// stream's locations.
    pub scenario: &'static str,
}

/// One test's streams, topics, detector and simulations.
pub struct World {
    pub kafka: TestKafka,
    pub suffix: String,
    pub streams: Vec<StreamSpec>,
    pub tracing_topic: String,
    pub output_topic: String,
    pub instance: Instance,
    workdir: Workdir,
}

impl World {
    /// The world on the real broker (the mock cluster cannot create topics through the admin
    /// API as `cairn simulate` does); fails, naming `CAIRN_TEST_BROKERS`, without one.
    pub async fn on_real_broker(
        cairn: &Path,
        sharing: Sharing,
        test: &str,
        streams: Vec<StreamSpec>,
    ) -> World {
        let kafka = TestKafka::real(sharing).await;
        let local = ClusterToml::new(LOCAL, &kafka.bootstrap);
        World::on_clusters(kafka, cairn, test, streams, local, None).await
    }

    /// The world with its clusters given: `data` (named [`LOCAL`]) holds the streams' topics,
    /// `tracing` (when given) the tracing and verdict topics, else `data` does. Both must reach
    /// the real broker's topics (another listener of it, a secured one); topics are created
    /// through its plaintext listener.
    pub async fn on_listeners(
        cairn: &Path,
        sharing: Sharing,
        test: &str,
        streams: Vec<StreamSpec>,
        data: ClusterToml,
        tracing: Option<ClusterToml>,
    ) -> World {
        let kafka = TestKafka::real(sharing).await;
        World::on_clusters(kafka, cairn, test, streams, data, tracing).await
    }

    async fn on_clusters(
        kafka: TestKafka,
        cairn: &Path,
        test: &str,
        streams: Vec<StreamSpec>,
        data: ClusterToml,
        tracing: Option<ClusterToml>,
    ) -> World {
        let suffix = rand_suffix().to_lowercase();
        let tracing_topic = format!("{test}-traces-{suffix}");
        let output_topic = format!("{test}-lost-{suffix}");
        kafka.create_topic(&tracing_topic, TRACING_PARTITIONS).await;
        kafka.create_topic(&output_topic, TRACING_PARTITIONS).await;
        let workdir = Workdir::new(test, cairn);
        workdir.note(format!(
            "topics: tracing {tracing_topic}, output {output_topic}; suffix of the streams' \
             topics and groups: {suffix}"
        ));
        let config = config(
            data,
            tracing,
            &suffix,
            &tracing_topic,
            &output_topic,
            &streams,
        );
        let instance = workdir.instance(&format!("{test}-detect"), config);
        World {
            kafka,
            suffix,
            streams,
            tracing_topic,
            output_topic,
            instance,
            workdir,
        }
    }

    pub fn dir(&self) -> &Path {
        self.workdir.path()
    }

    /// Starts the world's `cairn detect`; its logs are reported if the test fails.
    pub fn spawn_detect(&self) -> DetectProcess {
        self.workdir.spawn(&self.instance)
    }

    /// Writes every stream's scenario and runs them all as `cairn simulate` processes at once;
    /// returns the merged truth file. Fails, with the process's output, if one fails.
    pub fn simulate_all(&self) -> PathBuf {
        let mut children: Vec<(&str, Child, PathBuf)> = Vec::new();
        for spec in &self.streams {
            let text = scenario_toml(spec, &self.suffix, &self.instance.config_path);
            let path = self.dir().join(format!("{}.scenario.toml", spec.name));
            fs::write(&path, text).expect("write a scenario");
            let out = self.dir().join(format!("{}-out", spec.name));
            let log = fs::File::create(self.dir().join(format!("{}.simulate.log", spec.name)))
                .expect("create a simulate log");
            let child = Command::new(self.workdir.cairn())
                .args(["simulate", "--scenario"])
                .arg(&path)
                .arg("--out")
                .arg(&out)
                .env(
                    "RUST_LOG",
                    std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
                )
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("clone a log handle"))
                .stderr(log)
                .spawn()
                .expect("spawn cairn simulate");
            children.push((spec.name, child, out));
        }
        let deadline = Instant::now() + SIMULATE_TIMEOUT;
        let mut truth = String::new();
        for (name, mut child, out) in children {
            let status = loop {
                if let Some(status) = child.try_wait().expect("try_wait") {
                    break status;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    panic!(
                        "cairn simulate of `{name}` did not finish within {SIMULATE_TIMEOUT:?}\n{}",
                        self.simulate_log(name)
                    );
                }
                std::thread::sleep(Duration::from_millis(100));
            };
            let log = self.simulate_log(name);
            assert!(
                status.success(),
                "cairn simulate of `{name}`: {status}\n{log}"
            );
            println!("simulate {name}: {}", log.trim());
            truth.push_str(&fs::read_to_string(out.join("truth.jsonl")).expect("a truth file"));
        }
        let path = self.dir().join("truth.jsonl");
        fs::write(&path, truth).expect("write the merged truth");
        path
    }

    fn simulate_log(&self, name: &str) -> String {
        fs::read_to_string(self.dir().join(format!("{name}.simulate.log"))).unwrap_or_default()
    }

    /// `cairn score` (the library) on the truth, the verdict topic and detect's `/metrics`.
    pub fn score(&self, truth: &Path) -> Report {
        let options = ScoreOptions {
            truth: truth.to_owned(),
            verdicts: format!("kafka://{}/{}", self.kafka.bootstrap, self.output_topic),
            metrics: Some(format!("http://{}/metrics", self.instance.http)),
            thresholds: Thresholds::default(),
            timeout: Duration::from_secs(15),
        };
        // score runs its own runtime for --metrics: keep it off the test's.
        std::thread::scope(|scope| {
            scope
                .spawn(|| score(&options).expect("cairn score"))
                .join()
                .expect("the score thread")
        })
    }

    /// Scores until `complete` says every true loss and duplicate is found (or the deadline
    /// passes), then once more after [`GRACE`], for anything that should not have come.
    pub fn score_when_complete(
        &self,
        truth: &Path,
        detect: &DetectProcess,
        complete: impl Fn(&Report) -> bool,
    ) -> Report {
        let deadline = Instant::now() + CONVERGE_TIMEOUT;
        loop {
            detect.assert_alive("while scoring");
            let report = self.score(truth);
            if complete(&report) {
                break;
            }
            if Instant::now() > deadline {
                println!("not complete within {CONVERGE_TIMEOUT:?}; asserting what came");
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        std::thread::sleep(GRACE);
        detect.assert_alive("after the grace period");
        self.score(truth)
    }
}

/// The score of one stream.
pub fn stream<'a>(report: &'a Report, name: &str) -> &'a StreamScore {
    report
        .scores
        .streams
        .iter()
        .find(|s| s.stream == name)
        .unwrap_or_else(|| panic!("no score for stream `{name}`:\n{}", report.to_text()))
}

/// Extra copies of `kind`, (truth, found).
pub fn duplicates(score: &StreamScore, kind: &str) -> (u64, Option<u64>) {
    score
        .duplicates
        .iter()
        .find(|d| d.kind == kind)
        .map_or((0, Some(0)), |d| (d.truth, d.found))
}

/// One line per stream: what was measured.
pub fn table(report: &Report) -> String {
    let mut text = String::from(
        "stream       lost_true detected precision recall false_alarms wrong_reason delay_p50 delay_p99 dup(truth/found)\n",
    );
    for s in &report.scores.streams {
        let delay = s.delay.map_or(("-".into(), "-".into()), |d| {
            (format!("{}ms", d.p50_ms), format!("{}ms", d.p99_ms))
        });
        let dups: Vec<String> = s
            .duplicates
            .iter()
            .map(|d| format!("{}={}/{:?}", d.kind, d.truth, d.found))
            .collect();
        let _ = writeln!(
            text,
            "{:<12} {:>9} {:>8} {:>9} {:>6} {:>12} {:>12} {:>9} {:>9} {}",
            s.stream,
            s.lost_true,
            s.detected,
            s.precision.map_or("-".into(), |p| format!("{p:.3}")),
            s.recall.map_or("-".into(), |r| format!("{r:.3}")),
            s.false_alarms,
            s.wrong_reason,
            delay.0,
            delay.1,
            dups.join(" "),
        );
    }
    text
}

/// The name of the cluster that holds the streams' topics.
pub const LOCAL: &str = "local";

fn location(stream: &str, n: u8, suffix: &str) -> String {
    format!("{LOCAL}/{stream}-t{n}-{suffix}")
}

/// The world's cairn.toml: one stream per spec, timing short so that the suite is fast.
fn config(
    data: ClusterToml,
    tracing: Option<ClusterToml>,
    s: &str,
    tracing_topic: &str,
    output_topic: &str,
    streams: &[StreamSpec],
) -> CairnToml {
    let ms = Duration::from_millis;
    let secs = Duration::from_secs;
    let quick = |cluster: ClusterToml| {
        cluster
            .client("session.timeout.ms", "6000")
            .client("heartbeat.interval.ms", "1000")
    };
    let tracing_cluster = tracing.as_ref().map_or(LOCAL.to_owned(), ClusterToml::name);
    let mut config = CairnToml::new(quick(data));
    if let Some(tracing) = tracing {
        config = config.cluster(quick(tracing));
    }
    let mut config = config
        .tracing(&tracing_cluster, tracing_topic, &format!("cairn-{s}"))
        .output(&tracing_cluster, output_topic)
        .workers(2)
        .on_malformed(MalformedPolicy::Skip)
        .timing(
            TimingToml::default()
                .first_check(secs(1))
                .backoff(ms(300))
                .backoff_max(secs(1))
                .max_wait(secs(90))
                .confirmation_delay(secs(1))
                .dedup_window(secs(120))
                .max_offsets_age(secs(5)),
        )
        .oracle_poll_interval(ms(500))
        .oracle_request_timeout(secs(5));
    for spec in streams {
        let name = spec.name;
        let t1 = location(name, 1, s);
        let stream = StreamToml::new(name).producer("api", &t1);
        config = config.stream(match spec.shape {
            Shape::OneHop => stream.sink("reader", &format!("{name}-reader-{s}"), &t1),
            Shape::TwoHops => {
                let t2 = location(name, 2, s);
                stream
                    .processor("proc", &format!("{name}-proc-{s}"), &t1, &t2)
                    .sink("sink", &format!("{name}-sink-{s}"), &t2)
            }
        });
    }
    config
}

/// A scenario file for one stream of the world, reading the world's cairn.toml.
fn scenario_toml(spec: &StreamSpec, s: &str, cairn_config: &Path) -> String {
    let body = spec
        .scenario
        .replace("{t1}", &location(spec.name, 1, s))
        .replace("{t2}", &location(spec.name, 2, s));
    format!(
        r#"cairn_config = {cairn_config}
stream = "{name}"
run_id = "{name}{s}"
partitions = 2
drain_timeout = "90s"
{body}
"#,
        cairn_config = toml::Value::String(cairn_config.display().to_string()),
        name = spec.name
    )
}
