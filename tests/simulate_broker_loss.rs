//! Real broker-side loss, detected: on the three-node cluster, `cairn simulate` writes with
//! `acks=1` to a topic with replication 2 and unclean leader election, makes the follower of
//! partition 0 stale, kills the leader with SIGKILL and brings it back (`[kill_leader]`,
//! `src/simulate/kill.rs`); the real `cairn detect` binary watches the run; `cairn score`
//! grades its verdict topic against the truth. Every message the reconciliation shows
//! missing (acknowledged, then gone from the topic, never read by the group) must get a lost
//! verdict, and nothing else may.
//!
//! Needs `CAIRN_TEST_CLUSTER_BROKERS` (`deploy/kafka/kafka.sh cluster-start`; the script's
//! ports come from the same `CAIRN_KAFKA_*` variables as this test's); skipped without it.

mod common;
mod detect_support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cairn_sim::score::thresholds::Thresholds;
use cairn_sim::score::{ScoreOptions, report::Report};
use cairn_sim::simulate::{Scenario, SimulateOptions, SimulateReport, run};
use cairn_sim::truth::Outcome;
use common::rand_suffix;
use detect_support::{DetectProcess, Instance, READY_TIMEOUT, free_local_port};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;

const CLUSTER_ENV: &str = "CAIRN_TEST_CLUSTER_BROKERS";
/// How long the verdicts of a decidable loss may take once the run is over.
const VERDICT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long to watch for verdicts that should not come after recall reached 1.0: longer
/// than first_check + confirmation_delay + an oracle round + a checkpoint.
const GRACE: Duration = Duration::from_secs(4);

/// The stream: `api` writes t1 (the lossy topic); `archiver` reads it and stalls across the
/// fault, so nothing the broker loses reaches it first; `live` reads it as it comes, so it
/// may have read some of the doomed writes before the leader died (delivered, not lost).
fn write_config(dir: &Path, bootstrap: &str, s: &str) -> Instance {
    let http = free_local_port();
    let store = dir.join("store");
    let text = format!(
        r#"[clusters.local]
bootstrap = "{bootstrap}"
[clusters.local.client]
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "1000"
[tracing]
cluster = "local"
topic = "traces-{s}"
group = "cairn-{s}"
[output]
cluster = "local"
topic = "lost-{s}"
[timing]
first_check = "1s"
backoff = "500ms"
backoff_max = "2s"
max_wait = "5m"
confirmation_delay = "1s"
max_offsets_age = "20s"
[oracle]
poll_interval = "500ms"
request_timeout = "5s"
[http]
listen = "{http}"
[store]
path = "{store}"
[[streams]]
name = "orders"
[[streams.apps]]
app = "api"
writes = "local/t1-{s}"
[[streams.apps]]
app = "archiver"
group = "archiver-{s}"
reads = "local/t1-{s}"
[[streams.apps]]
app = "live"
group = "live-{s}"
reads = "local/t1-{s}"
"#,
        store = store.display(),
    );
    let config_path = dir.join("cairn.toml");
    std::fs::write(&config_path, &text).unwrap();
    let detect_dir = dir.join("detect");
    std::fs::create_dir_all(&detect_dir).unwrap();
    Instance {
        name: "detect".into(),
        config_path,
        config_text: text,
        http,
        store,
        tracing_group: format!("cairn-{s}"),
        output_topic: format!("lost-{s}"),
        dir: detect_dir,
    }
}

fn scenario_text(s: &str, kafka_sh: &Path) -> String {
    format!(
        r#"
cairn_config = "cairn.toml"
run_id = "r{s}"
partitions = 1
tracing_replication = 3
drain_timeout = "60s"
[topics."local/t1-{s}"]
replication = 2
config = {{ "unclean.leader.election.enable" = "true", "min.insync.replicas" = "1" }}
[apps.api]
messages = 2000
rate = 100
acks = "1"
[apps.archiver.faults]
stall = {{ after = 50, for = "25s" }}
[kill_leader]
location = "local/t1-{s}"
after = 100
stale_writes = 100
down_for = "2s"
kafka_sh = "{kafka_sh}"
"#,
        kafka_sh = kafka_sh.display()
    )
}

/// The detector's tracing and verdict topics, replicated on all three nodes so they outlive
/// the killed one (the changelog follows: detect gives it the cluster's size, up to 3).
async fn create_detector_topics(bootstrap: &str, s: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let (tracing, output) = (format!("traces-{s}"), format!("lost-{s}"));
    let topics = [
        NewTopic::new(&tracing, 3, TopicReplication::Fixed(3)),
        NewTopic::new(&output, 3, TopicReplication::Fixed(3)),
    ];
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in admin.create_topics(&topics, &options).await.unwrap() {
        result.expect("topic created");
    }
}

fn score(truth: &Path, bootstrap: &str, s: &str) -> Report {
    cairn_sim::score::run(&ScoreOptions {
        truth: truth.to_owned(),
        verdicts: format!("kafka://{bootstrap}/lost-{s}"),
        metrics: None,
        thresholds: Thresholds::default(),
        timeout: Duration::from_secs(30),
    })
    .expect("score the verdict topic")
}

/// The test's directory (truth, ledgers, the detector's logs), kept when the test fails.
struct KeptOnPanic(Option<tempfile::TempDir>);

impl KeptOnPanic {
    fn path(&self) -> &Path {
        self.0.as_ref().expect("kept until drop").path()
    }
}

impl Drop for KeptOnPanic {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take()
            && std::thread::panicking()
        {
            eprintln!(
                "---- test failed; its directory is kept: {}",
                dir.keep().display()
            );
        }
    }
}

fn kafka_sh() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kafka/kafka.sh")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_side_loss_is_detected_message_by_message() {
    let bootstrap = match std::env::var(CLUSTER_ENV) {
        Ok(b) if !b.trim().is_empty() => b,
        _ => {
            println!(
                "skipped: set {CLUSTER_ENV} to the three-node cluster of \
                 `deploy/kafka/kafka.sh cluster-start` (deploy/test-all.sh does)"
            );
            return;
        }
    };
    let started = Instant::now();
    let dir = KeptOnPanic(Some(
        tempfile::Builder::new()
            .prefix("cairn-broker-loss-")
            .tempdir()
            .unwrap(),
    ));
    let s = rand_suffix().to_lowercase();
    let instance = write_config(dir.path(), &bootstrap, &s);
    create_detector_topics(&bootstrap, &s).await;
    let mut detect = DetectProcess::spawn(&instance, 1);
    detect.wait_ready(READY_TIMEOUT).await;

    let scenario = Scenario::from_toml_str(&scenario_text(&s, &kafka_sh()), dir.path()).unwrap();
    let out = dir.path().join("out");
    let report: SimulateReport = tokio::task::block_in_place(|| {
        run(
            &scenario,
            &SimulateOptions {
                out: out.clone(),
                ..Default::default()
            },
        )
    })
    .unwrap_or_else(|err| panic!("simulate: {err:#}\n{}", detect.logs()));
    println!("{}", report.summary());
    detect.assert_alive("after the simulation");

    // What the reconciliation shows missing: acknowledged (in the producer's ledger), gone
    // from the topic read in full, and never read by the group.
    let lost: Vec<_> = report
        .truth
        .iter()
        .filter(|r| r.outcome == Outcome::Lost)
        .collect();
    assert!(
        lost.iter().any(|r| r.hop.app == "archiver"),
        "the fault lost no acknowledged write; the test proves nothing\n{}",
        report.summary()
    );
    assert_eq!(
        report.undecided,
        0,
        "every loss must be decidable (a group committed past it)\n{}",
        report.summary()
    );
    assert!(
        lost.iter()
            .all(|r| r.reason.map(|r| r.as_str()) == Some("committed_past")),
        "broker-side loss is committed_past at each reader\n{}",
        report.summary()
    );

    // Every loss gets a lost verdict; then nothing more comes that should not.
    let deadline = Instant::now() + VERDICT_TIMEOUT;
    let mut graded = score(&report.truth_path, &bootstrap, &s);
    while graded.scores.overall.missed > 0 && Instant::now() < deadline {
        detect.assert_alive("waiting for verdicts");
        tokio::time::sleep(Duration::from_millis(500)).await;
        graded = tokio::task::block_in_place(|| score(&report.truth_path, &bootstrap, &s));
    }
    tokio::time::sleep(GRACE).await;
    graded = tokio::task::block_in_place(|| score(&report.truth_path, &bootstrap, &s));
    println!("{}", graded.to_text());
    let overall = &graded.scores.overall;
    assert_eq!(overall.lost_true, lost.len() as u64);
    assert_eq!(
        overall.recall,
        Some(1.0),
        "a loss without a verdict\n{}\n{}",
        graded.to_text(),
        detect.logs()
    );
    assert_eq!(
        overall.false_alarms,
        0,
        "{}\n{}",
        graded.to_text(),
        detect.logs()
    );
    assert_eq!(overall.wrong_reason, 0, "{}", graded.to_text());
    detect.assert_alive("at the end");
    let status = detect.terminate(Duration::from_secs(20)).await;
    assert!(status.success(), "detect exited with {status}");
    println!("broker-loss test took {:?}", started.elapsed());
}
