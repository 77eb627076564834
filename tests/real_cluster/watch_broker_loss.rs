//! Scenario 7 of `cairn watch` (docs/watch.md) on the real three-node cluster: node 1 (the
//! first of every bootstrap list) is killed with SIGKILL for 30 s while records keep coming
//! and a group keeps reading and committing. The running watch never calls the group stuck
//! and answers every `/metrics` scrape with 200; a second watch started while the node is
//! down (all three nodes in its bootstrap servers, the dead one first) comes up and reports
//! the group.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cairn_testkit::cluster::{ThreeNodes, killing_nodes};
use cairn_testkit::config::ClusterToml;
use cairn_testkit::detect::{EXIT_TIMEOUT, READY_TIMEOUT};
use cairn_testkit::names::rand_suffix;
use cairn_testkit::process::DetectProcess;
use cairn_testkit::watch::WatchToml;
use cairn_testkit::workdir::Workdir;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::Value;

const CLUSTER: &str = "local";
const WINDOW: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_secs(1);
const OUTAGE: Duration = Duration::from_secs(30);
const KILLED: i32 = 1;

/// The group's report, or `None` while the watch does not list it yet.
async fn report(watch: &DetectProcess, group: &str) -> Option<Value> {
    let (status, body) = watch
        .get(&format!("/api/consumers/{CLUSTER}/{group}"))
        .await
        .expect("GET the group's report");
    (status == 200).then(|| serde_json::from_str(&body).expect("JSON"))
}

/// Checks one look at a watch: `/metrics` answers 200 and the group is not stuck. Returns
/// the group's state when the watch lists it.
async fn look(watch: &DetectProcess, group: &str, during: &str) -> Option<String> {
    let (status, body) = watch.get("/metrics").await.expect("GET /metrics");
    assert_eq!(status, 200, "/metrics {during}: {body}");
    let report = report(watch, group).await?;
    assert_ne!(report["state"], "stuck", "{during}: {report}");
    assert!(report["stuck_since"].is_null(), "{during}: {report}");
    Some(report["state"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_down_for_thirty_seconds_makes_no_stuck_group_and_a_watch_starts_without_it() {
    let _alone = killing_nodes().await;
    let cluster = ThreeNodes::real();
    let s = rand_suffix();
    let topic = format!("watch-loss-{s}");
    let group = format!("watch-loss-{s}");
    cluster.create_topic(&topic).await;
    let workdir = Workdir::new("watch-broker-loss", crate::cairn());
    workdir.note(format!("topic {topic}, group {group}"));
    let config = WatchToml::new(ClusterToml::new(CLUSTER, &cluster.bootstrap()))
        .include(&[&group])
        .window(WINDOW)
        .poll_interval(POLL)
        .request_timeout(Duration::from_secs(5));
    let first = workdir.watch_instance("watch", config.clone());
    let second = workdir.watch_instance("watch-started-during-outage", config);

    // 10 records a second, spread over the three partitions.
    let stop = Arc::new(AtomicBool::new(false));
    let producer: FutureProducer = cluster
        .config()
        .set("acks", "all")
        .create()
        .expect("create the producer");
    let producing = {
        let (stop, topic) = (stop.clone(), topic.clone());
        tokio::spawn(async move {
            let mut n = 0i32;
            while !stop.load(Ordering::Relaxed) {
                let payload = format!("record-{n}");
                let record = FutureRecord::<(), _>::to(&topic)
                    .payload(&payload)
                    .partition(n % 3);
                // Not awaited: a write to the dead node's partitions waits for a new leader.
                drop(producer.send_result(record));
                n += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    // The group reads everything and commits its position every second.
    let commits = Arc::new(AtomicU64::new(0));
    let member = {
        let consumer: BaseConsumer = cluster
            .config()
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "1000")
            .create()
            .expect("create the group's member");
        consumer.subscribe(&[&topic]).expect("subscribe");
        let (stop, commits) = (stop.clone(), commits.clone());
        std::thread::spawn(move || {
            let mut next_commit = Instant::now() + Duration::from_secs(1);
            while !stop.load(Ordering::Relaxed) {
                consumer.poll(Duration::from_millis(100));
                if Instant::now() >= next_commit {
                    if consumer.commit_consumer_state(CommitMode::Sync).is_ok() {
                        commits.fetch_add(1, Ordering::Relaxed);
                    }
                    next_commit = Instant::now() + Duration::from_secs(1);
                }
            }
        })
    };

    let mut watch = workdir.spawn_watch(&first);
    watch.wait_ready(READY_TIMEOUT).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while look(&watch, &group, "before the kill").await.as_deref() != Some("ok") {
        assert!(
            Instant::now() < deadline,
            "the group is never ok before the kill"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    cluster.kill(KILLED, &topic);
    let revive = Revive(&cluster);
    let killed_at = Instant::now();
    let commits_before = commits.load(Ordering::Relaxed);
    let mut scrapes = 0;
    let mut states = Vec::new();
    let mut late: Option<(DetectProcess, Option<Duration>)> = None;
    while killed_at.elapsed() < OUTAGE {
        if let Some(state) = look(&watch, &group, "during the outage").await {
            states.push(state);
        }
        scrapes += 1;
        if late.is_none() && killed_at.elapsed() >= Duration::from_secs(3) {
            // All three nodes in its bootstrap servers, the dead one first.
            late = Some((workdir.spawn_watch(&second), None));
        }
        if let Some((started, reported)) = late.as_mut() {
            started.assert_alive("starting while a node is down");
            // Before it listens, a connection is refused; once ready, it is held to the rest.
            let ready = matches!(started.get("/readyz").await, Ok((200, _)));
            if ready
                && reported.is_none()
                && look(started, &group, "a watch started during the outage")
                    .await
                    .is_some()
            {
                *reported = Some(killed_at.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let commits_during = commits.load(Ordering::Relaxed) - commits_before;
    drop(revive);

    let (mut late, reported) = late.expect("the second watch was started");
    eprintln!(
        "outage: {scrapes} scrapes of /metrics, all 200; states seen {:?}; {commits_during} \
         commits; the watch started during the outage reported the group at {reported:?}",
        dedup(&states)
    );
    let reported = reported.expect("the watch started during the outage reported the group");
    assert!(reported < OUTAGE, "{reported:?}");
    assert!(
        (late.try_wait_ready(Duration::from_secs(1)).await).is_ok(),
        "the watch started during the outage is ready"
    );
    assert!(
        commits_during >= 10,
        "the group kept committing during the outage: {commits_during}"
    );
    // A window after the node is back, the group is still never stuck.
    let back = Instant::now();
    while back.elapsed() < WINDOW {
        look(&watch, &group, "after the restart").await;
        look(&late, &group, "after the restart").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    stop.store(true, Ordering::Relaxed);
    producing.await.expect("the producer task");
    member.join().expect("the member thread");
    late.terminate(EXIT_TIMEOUT).await;
    watch.terminate(EXIT_TIMEOUT).await;
}

/// Brings the killed node back when dropped, also when the test fails half-way, so the
/// cluster is whole for the tests after it.
struct Revive<'a>(&'a ThreeNodes);

impl Drop for Revive<'_> {
    fn drop(&mut self) {
        self.0.restart(KILLED);
    }
}

/// The states in order, repeats removed.
fn dedup(states: &[String]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for state in states {
        if out.last() != Some(&state.as_str()) {
            out.push(state);
        }
    }
    out
}
