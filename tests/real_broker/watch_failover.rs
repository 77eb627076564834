//! Two `cairn watch` instances on one config, on a real broker: one is active and publishes,
//! the other stands by. A group stops committing: exactly one `open` on the incidents topic.
//! The active instance is SIGKILLed mid-incident; the standby takes over within a bounded time
//! (the control group's session timeout and a few heartbeats), reconciles with the topic and
//! opens nothing again; the group resumes: exactly one `close`, naming the same episode.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cairn_core::watch::{Incident, Phase};
use cairn_testkit::config::ClusterToml;
use cairn_testkit::detect::{EXIT_TIMEOUT, READY_TIMEOUT};
use cairn_testkit::kafka::{Sharing, TestKafka};
use cairn_testkit::metric;
use cairn_testkit::names::{rand_group, rand_topic};
use cairn_testkit::process::DetectProcess;
use cairn_testkit::watch::{WatchInstance, WatchToml, read_incidents};
use cairn_testkit::workdir::Workdir;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;

const CLUSTER: &str = "local";
const WINDOW: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_secs(1);
/// The broker's smallest session timeout (`group.min.session.timeout.ms`).
const SESSION: Duration = Duration::from_secs(6);
/// Takeover after a SIGKILL: the session expires, the standby hears of the rebalance at its
/// next heartbeat (a third of the session), rejoins, fences the producer and reads the
/// incidents topic. Generous for a loaded machine; the measured figure is printed.
const TAKEOVER_BOUND: Duration = Duration::from_secs(30);
const TIMEOUT: Duration = Duration::from_secs(20);

struct World {
    kafka: TestKafka,
    workdir: Workdir,
    topic: String,
    incidents_topic: String,
    group: String,
    instances: [WatchInstance; 2],
}

impl World {
    async fn start() -> World {
        let kafka = TestKafka::real(Sharing::Shared).await;
        let workdir = Workdir::new("watch-failover", crate::cairn());
        let topic = rand_topic("watch-failover");
        let incidents_topic = rand_topic("watch-failover-incidents");
        let group = rand_group("watch-failover");
        kafka.create_topic(&topic, 1).await;
        kafka.create_topic(&incidents_topic, 1).await;
        workdir.note(format!(
            "topic {topic}, incidents {incidents_topic}, group {group}"
        ));
        let config = WatchToml::new(ClusterToml::new(CLUSTER, &kafka.bootstrap))
            .include(&[&group])
            .window(WINDOW)
            .poll_interval(POLL)
            .request_timeout(Duration::from_secs(5))
            .incidents_topic(&format!("{CLUSTER}/{incidents_topic}"))
            .control_session_timeout(SESSION);
        let instances = [
            workdir.watch_instance("watch-a", config.clone()),
            workdir.watch_instance("watch-b", config),
        ];
        World {
            kafka,
            workdir,
            topic,
            incidents_topic,
            group,
            instances,
        }
    }

    async fn spawn(&self, i: usize) -> DetectProcess {
        let mut watch = self.workdir.spawn_watch(&self.instances[i]);
        watch.wait_ready(READY_TIMEOUT).await;
        watch
    }

    /// The group's committed offset on partition 0 set to the topic's current end.
    fn commit_at_end(&self) -> i64 {
        let consumer: BaseConsumer = self
            .kafka
            .config()
            .set("group.id", &self.group)
            .set("enable.auto.commit", "false")
            .create()
            .expect("create the committing consumer");
        let (_, end) = consumer
            .fetch_watermarks(&self.topic, 0, TIMEOUT)
            .expect("watermarks");
        let mut offsets = TopicPartitionList::new();
        offsets
            .add_partition_offset(&self.topic, 0, Offset::Offset(end))
            .expect("an offset");
        consumer
            .commit(&offsets, CommitMode::Sync)
            .expect("commit the group's offset");
        end
    }

    /// Writes 10 records a second until the returned flag is set.
    fn keep_producing(&self) -> Arc<AtomicBool> {
        let stop = Arc::new(AtomicBool::new(false));
        let producer: FutureProducer = self
            .kafka
            .config()
            .set("acks", "all")
            .create()
            .expect("create the producer");
        let topic = self.topic.clone();
        let flag = stop.clone();
        tokio::spawn(async move {
            let mut n = 0u64;
            while !flag.load(Ordering::Relaxed) {
                let payload = format!("record-{n}");
                let _ = producer
                    .send(FutureRecord::<(), _>::to(&topic).payload(&payload), TIMEOUT)
                    .await;
                n += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        stop
    }

    /// This test's group's records on the incidents topic.
    fn incidents(&self) -> Vec<Incident> {
        read_incidents(self.kafka.config(), &self.incidents_topic)
            .into_iter()
            .map(|(key, incident)| {
                assert_eq!(
                    key,
                    format!("{CLUSTER}/{}", incident.group),
                    "keyed by group"
                );
                incident
            })
            .filter(|i| i.group == self.group)
            .collect()
    }

    /// Waits until the topic holds `opens` open and `closes` close records of the group.
    async fn wait_incidents(&self, opens: usize, closes: usize, within: Duration) -> Vec<Incident> {
        let deadline = Instant::now() + within;
        loop {
            let incidents = self.incidents();
            if phases(&incidents) == (opens, closes) {
                return incidents;
            }
            assert!(
                Instant::now() < deadline,
                "expected {opens} open and {closes} close records within {within:?}: {incidents:?}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

fn phases(incidents: &[Incident]) -> (usize, usize) {
    let count = |phase| incidents.iter().filter(|i| i.phase == phase).count();
    (count(Phase::Open), count(Phase::Close))
}

/// `/api/watch` of an instance.
async fn role(watch: &DetectProcess) -> Value {
    serde_json::from_str(&watch.get_ok("/api/watch").await).expect("JSON")
}

/// Waits until the instance's role is `want`; returns when it saw it.
async fn wait_role(watch: &DetectProcess, want: &str, within: Duration) -> Instant {
    let deadline = Instant::now() + within;
    loop {
        let role = role(watch).await;
        if role["role"] == want {
            return Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "'{}' not {want} within {within:?}: {role}",
            watch.name
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the group's state on this instance is `want`.
async fn wait_state(watch: &DetectProcess, group: &str, want: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let (status, body) = watch
            .get(&format!("/api/consumers/{CLUSTER}/{group}"))
            .await
            .expect("GET the group's report");
        if status == 200 {
            let report: Value = serde_json::from_str(&body).expect("JSON");
            if report["state"] == want {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "'{}': {group} not {want} within {within:?}: {body}",
            watch.name
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standby_takes_over_a_killed_active_instance_without_a_second_open() {
    let world = World::start().await;
    let mut a = world.spawn(0).await;
    wait_role(&a, "active", TIMEOUT).await;
    let mut b = world.spawn(1).await;
    // B joins the group; the partition stays with A.
    tokio::time::sleep(2 * SESSION / 3).await;
    let b_role = role(&b).await;
    assert_eq!(b_role["role"], "standby", "{b_role}");
    assert_eq!(role(&a).await["role"], "active");

    let producing = world.keep_producing();
    tokio::time::sleep(Duration::from_secs(1)).await;
    world.commit_at_end();
    let incidents = world.wait_incidents(1, 0, WINDOW + TIMEOUT).await;
    let open = incidents[0].clone();
    // Both judge the group; only A published.
    wait_state(&b, &world.group, "stuck", TIMEOUT).await;
    let metrics = b.metrics().await;
    assert_eq!(metrics.sum(metric::WATCH_ACTIVE.name, &[]), 0.0);
    assert_eq!(
        metrics.sum(
            metric::WATCH_INCIDENTS_OPENED.name,
            &[("cluster", CLUSTER), ("kind", "stuck")]
        ),
        0.0,
        "the standby opened nothing"
    );

    let killed = Instant::now();
    a.kill9();
    let took_over = wait_role(&b, "active", TAKEOVER_BOUND).await - killed;
    eprintln!("the standby took over {took_over:?} after the SIGKILL (session {SESSION:?})");
    assert!(
        took_over >= SESSION / 2,
        "took over {took_over:?} after the kill: before the dead instance's session could expire"
    );
    let b_role = role(&b).await;
    assert_eq!(b_role["term"], 1, "{b_role}");
    assert_eq!(b.metrics().await.sum(metric::WATCH_ACTIVE.name, &[]), 1.0);
    // Several rounds of the still-stuck group: the new active instance opens nothing.
    tokio::time::sleep(4 * POLL).await;
    assert_eq!(phases(&world.incidents()), (1, 0), "never a second open");

    world.commit_at_end();
    let incidents = world.wait_incidents(1, 1, TIMEOUT).await;
    let close = &incidents[1];
    assert_eq!(close.phase, Phase::Close);
    assert_eq!(
        (close.kind, close.since),
        (open.kind, open.since),
        "the close names the episode the dead instance opened"
    );
    tokio::time::sleep(3 * POLL).await;
    assert_eq!(phases(&world.incidents()), (1, 1), "one close");

    producing.store(true, Ordering::Relaxed);
    b.terminate(EXIT_TIMEOUT).await;
}

/// Sends `signal` (`STOP`, `CONT`) to a process.
fn signal(watch: &DetectProcess, signal: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(watch.pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {}", watch.pid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_active_instance_that_wakes_up_deposed_publishes_nothing() {
    let world = World::start().await;
    let mut a = world.spawn(0).await;
    wait_role(&a, "active", TIMEOUT).await;
    let mut b = world.spawn(1).await;
    let producing = world.keep_producing();
    tokio::time::sleep(Duration::from_secs(1)).await;
    world.commit_at_end();
    world.wait_incidents(1, 0, WINDOW + TIMEOUT).await;
    wait_state(&b, &world.group, "stuck", TIMEOUT).await;

    // A freezes: it still believes it is active when it wakes up.
    signal(&a, "STOP");
    wait_role(&b, "active", TAKEOVER_BOUND).await;
    world.commit_at_end();
    world.wait_incidents(1, 1, TIMEOUT).await;
    signal(&a, "CONT");
    // A's own book closes the incident at its next round; its producer was fenced by B, so the
    // close goes nowhere, and A stands by.
    wait_role(&a, "standby", SESSION + TIMEOUT).await;
    tokio::time::sleep(3 * POLL).await;
    assert_eq!(
        phases(&world.incidents()),
        (1, 1),
        "the deposed instance added nothing"
    );
    let a_role = role(&a).await;
    eprintln!("the woken instance: {a_role}");
    assert_eq!(role(&b).await["role"], "active");

    producing.store(true, Ordering::Relaxed);
    a.terminate(EXIT_TIMEOUT).await;
    b.terminate(EXIT_TIMEOUT).await;
}
