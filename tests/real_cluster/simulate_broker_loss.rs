//! Real broker-side loss, detected: on the three-node cluster, `cairn simulate` writes with
//! `acks=1` to a topic with replication 2 and unclean leader election, makes the follower of
//! partition 0 stale, kills the leader with SIGKILL and brings it back (`[kill_leader]`,
//! `sim/src/simulate/kill.rs`); the real `cairn detect` binary watches the run; `cairn score`
//! grades its verdict topic against the truth. Every message the reconciliation shows
//! missing (acknowledged, then gone from the topic, never read by the group) must get a lost
//! verdict, and nothing else may.
//!
//! `kafka.sh` reads its ports from the same `CAIRN_KAFKA_*` variables as this test's
//! environment.

use std::path::Path;
use std::time::{Duration, Instant};

use cairn_sim::score::thresholds::Thresholds;
use cairn_sim::score::{ScoreOptions, report::Report};
use cairn_sim::simulate::{Scenario, SimulateOptions, SimulateReport, run};
use cairn_sim::truth::Outcome;
use cairn_testkit::cluster::ThreeNodes;
use cairn_testkit::config::{CairnToml, ClusterToml, StreamToml, TimingToml};
use cairn_testkit::detect::READY_TIMEOUT;
use cairn_testkit::kafka::{create_topics, kafka_sh_path};
use cairn_testkit::names::rand_suffix;
use cairn_testkit::workdir::Workdir;
use rdkafka::admin::{NewTopic, TopicReplication};

/// How long the verdicts of a decidable loss may take once the run is over.
const VERDICT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long to watch for verdicts that should not come after recall reached 1.0: longer
/// than first_check + confirmation_delay + an oracle round + a checkpoint.
const GRACE: Duration = Duration::from_secs(6);
/// Killing the lossy topic's leader can take a tracing partition's leader with it. cairn's
/// consumer may then read that partition to its (new leader's) end a moment before the
/// tracers' retried traces land there, so the delay must stay above that moment
/// (docs/decision-rule.md, "Tracer gap reports"): 1 s gave 42 lost verdicts retracted a second
/// later in one run of four.
const CONFIRMATION_DELAY: Duration = Duration::from_secs(3);

/// The stream: `api` writes t1 (the lossy topic); `archiver` reads it and stalls across the
/// fault, so nothing the broker loses reaches it first; `live` reads it as it comes, so it
/// may have read some of the doomed writes before the leader died (delivered, not lost).
fn config(bootstrap: &str, s: &str) -> CairnToml {
    let secs = Duration::from_secs;
    let t1 = format!("local/t1-{s}");
    CairnToml::new(
        ClusterToml::new("local", bootstrap)
            .client("session.timeout.ms", "6000")
            .client("heartbeat.interval.ms", "1000"),
    )
    .tracing("local", &format!("traces-{s}"), &format!("cairn-{s}"))
    .output("local", &format!("lost-{s}"))
    .timing(
        TimingToml::default()
            .first_check(secs(1))
            .backoff(Duration::from_millis(500))
            .backoff_max(secs(2))
            .max_wait(secs(300))
            .confirmation_delay(CONFIRMATION_DELAY)
            .max_offsets_age(secs(20)),
    )
    .oracle_poll_interval(Duration::from_millis(500))
    .oracle_request_timeout(secs(5))
    .stream(
        StreamToml::new("orders")
            .producer("api", &t1)
            .sink("archiver", &format!("archiver-{s}"), &t1)
            .sink("live", &format!("live-{s}"), &t1),
    )
}

fn scenario_text(s: &str, cairn_config: &Path, kafka_sh: &Path) -> String {
    format!(
        r#"
cairn_config = {cairn_config}
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
kafka_sh = {kafka_sh}
"#,
        cairn_config = toml::Value::String(cairn_config.display().to_string()),
        kafka_sh = toml::Value::String(kafka_sh.display().to_string()),
    )
}

/// The detector's tracing and verdict topics, replicated on all three nodes so they outlive
/// the killed one (the changelog follows: detect gives it the cluster's size, up to 3).
async fn create_detector_topics(cluster: &ThreeNodes, s: &str) {
    let (tracing, output) = (format!("traces-{s}"), format!("lost-{s}"));
    let topics = [
        NewTopic::new(&tracing, 3, TopicReplication::Fixed(3)),
        NewTopic::new(&output, 3, TopicReplication::Fixed(3)),
    ];
    create_topics(&cluster.config(), &topics, Duration::from_secs(30)).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_side_loss_is_detected_message_by_message() {
    let _alone = cairn_testkit::cluster::killing_nodes().await;
    let cluster = ThreeNodes::real();
    let bootstrap = cluster.bootstrap();
    let started = Instant::now();
    let dir = Workdir::new("broker-loss", crate::cairn());
    let s = rand_suffix().to_lowercase();
    dir.note(format!("topics and groups end in {s}"));
    let instance = dir.instance("detect", config(&bootstrap, &s));
    create_detector_topics(&cluster, &s).await;
    let mut detect = dir.spawn(&instance);
    detect.wait_ready(READY_TIMEOUT).await;

    let scenario = Scenario::from_toml_str(
        &scenario_text(&s, &instance.config_path, &kafka_sh_path()),
        dir.path(),
    )
    .unwrap();
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
        "a loss without a verdict\n{}\n{}\n{}",
        graded.to_text(),
        detect.logs(),
        detect.stacks()
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
