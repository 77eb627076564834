//! `cairn watch` on a real broker, with a 10 s window and a 1 s poll: a group that stops
//! committing while records keep coming is stuck within a window and two polls of its last
//! commit, opens exactly one incident on the incidents topic and closes it within two polls of
//! its next commit; a group with nothing to read is never stuck; a restart of the watch during
//! an open incident keeps its `stuck_since` and opens nothing twice; a stopped group whose
//! records retention deletes is `expired` with the exact count of records it never read.
//!
//! The group commits through a consumer that never joins it (OffsetCommit of a simple
//! consumer), so the test decides exactly when its committed offset moves.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cairn_core::watch::{Incident, Phase};
use cairn_testkit::config::ClusterToml;
use cairn_testkit::detect::{EXIT_TIMEOUT, READY_TIMEOUT};
use cairn_testkit::kafka::{Sharing, TestKafka, create_topics};
use cairn_testkit::metric;
use cairn_testkit::names::{rand_group, rand_topic};
use cairn_testkit::process::DetectProcess;
use cairn_testkit::watch::{WatchInstance, WatchToml, read_incidents};
use cairn_testkit::workdir::Workdir;
use rdkafka::admin::{NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;

pub(crate) const CLUSTER: &str = "local";
pub(crate) const WINDOW: Duration = Duration::from_secs(10);
pub(crate) const POLL: Duration = Duration::from_secs(1);
/// What a bound measured from outside adds to the watch's own: the round's reads and the
/// test's HTTP polling ([`LOOK_EVERY`]).
pub(crate) const OBSERVATION_SLACK: Duration = Duration::from_secs(1);
pub(crate) const LOOK_EVERY: Duration = Duration::from_millis(250);
pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);

/// One test's broker, topics, group and watch instance.
pub(crate) struct World {
    pub(crate) kafka: TestKafka,
    pub(crate) workdir: Workdir,
    pub(crate) topic: String,
    incidents_topic: String,
    pub(crate) group: String,
    /// The watch config of [`World::spawn_watch`]'s instance, for more instances of it.
    config: WatchToml,
    instance: WatchInstance,
}

impl World {
    pub(crate) async fn start(test: &str) -> World {
        World::start_with(test, &[]).await
    }

    /// A world whose topic has these topic configs.
    pub(crate) async fn start_with(test: &str, topic_config: &[(&str, &str)]) -> World {
        World::start_configured(test, topic_config, |config| config).await
    }

    /// A world whose topic has these topic configs and whose watch config `tweak` adjusts.
    pub(crate) async fn start_configured(
        test: &str,
        topic_config: &[(&str, &str)],
        tweak: impl FnOnce(WatchToml) -> WatchToml,
    ) -> World {
        let kafka = TestKafka::real(Sharing::Shared).await;
        let workdir = Workdir::new(test, crate::cairn());
        let topic = rand_topic(test);
        let incidents_topic = rand_topic(&format!("{test}-incidents"));
        let group = rand_group(test);
        let mut new_topic = NewTopic::new(&topic, 1, TopicReplication::Fixed(1));
        for (key, value) in topic_config {
            new_topic = new_topic.set(key, value);
        }
        create_topics(&kafka.config(), &[new_topic], TIMEOUT).await;
        kafka.create_topic(&incidents_topic, 1).await;
        workdir.note(format!(
            "topic {topic}, incidents {incidents_topic}, group {group}"
        ));
        let config = WatchToml::new(ClusterToml::new(CLUSTER, &kafka.bootstrap))
            .include(&[&group])
            .window(WINDOW)
            .poll_interval(POLL)
            .request_timeout(Duration::from_secs(5))
            .incidents_topic(&format!("{CLUSTER}/{incidents_topic}"));
        let config = tweak(config);
        let instance = workdir.watch_instance("watch", config.clone());
        World {
            kafka,
            workdir,
            topic,
            incidents_topic,
            group,
            config,
            instance,
        }
    }

    /// Another instance on the same config (its own name, store and HTTP port).
    pub(crate) fn another_instance(&self, name: &str) -> WatchInstance {
        self.workdir.watch_instance(name, self.config.clone())
    }

    pub(crate) async fn spawn_watch(&self) -> DetectProcess {
        self.spawn_instance(&self.instance).await
    }

    pub(crate) async fn spawn_instance(&self, instance: &WatchInstance) -> DetectProcess {
        let mut watch = self.workdir.spawn_watch(instance);
        watch.wait_ready(READY_TIMEOUT).await;
        watch
    }

    /// The group's committed offset on partition 0 set to the topic's current end; returns it.
    pub(crate) fn commit_at_end(&self) -> i64 {
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

    /// Writes `count` records at once.
    pub(crate) async fn produce(&self, count: usize) {
        let producer = self.producer();
        for n in 0..count {
            let payload = format!("record-{n}");
            producer
                .send(
                    FutureRecord::<(), _>::to(&self.topic).payload(&payload),
                    TIMEOUT,
                )
                .await
                .map_err(|(err, _)| err)
                .expect("produce");
        }
    }

    /// Writes 10 records a second until the returned flag is set.
    pub(crate) fn keep_producing(&self) -> Arc<AtomicBool> {
        let stop = Arc::new(AtomicBool::new(false));
        let producer = self.producer();
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

    pub(crate) fn producer(&self) -> FutureProducer {
        self.kafka
            .config()
            .set("acks", "all")
            .create()
            .expect("create the producer")
    }

    /// Every incident record of this test's group on the incidents topic, in order (read to
    /// its end under read_committed: the watch writes them in transactions).
    pub(crate) fn incidents(&self) -> Vec<Incident> {
        read_incidents(self.kafka.config(), &self.incidents_topic)
            .into_iter()
            .map(|(key, incident)| {
                assert_eq!(
                    key,
                    format!("{CLUSTER}/{}", incident.group),
                    "keyed by <cluster>/<group>"
                );
                incident
            })
            .filter(|incident| incident.group == self.group)
            .collect()
    }

    /// Waits until the incidents topic holds `opens` open and `closes` close records of the
    /// group.
    pub(crate) async fn wait_incidents(
        &self,
        opens: usize,
        closes: usize,
        within: Duration,
    ) -> Vec<Incident> {
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

/// The group's report from `/api/consumers/{cluster}/{group}`, once the watch has it.
pub(crate) async fn report(watch: &DetectProcess, group: &str) -> Option<Value> {
    let (status, body) = watch
        .get(&format!("/api/consumers/{CLUSTER}/{group}"))
        .await
        .expect("GET the group's report");
    match status {
        200 => Some(serde_json::from_str(&body).expect("JSON")),
        404 => {
            let error: Value = serde_json::from_str(&body).expect("a JSON error");
            assert!(
                error["error"].as_str().unwrap_or_default().contains(group),
                "{body}"
            );
            None
        }
        other => panic!("GET report answered {other}: {body}"),
    }
}

/// Waits until the group's state satisfies `pred`; returns the report and when it was seen.
pub(crate) async fn wait_state(
    watch: &DetectProcess,
    group: &str,
    within: Duration,
    pred: impl Fn(&str) -> bool,
) -> (Value, Instant) {
    let deadline = Instant::now() + within;
    let mut last = None;
    loop {
        if let Some(report) = report(watch, group).await {
            if pred(report["state"].as_str().unwrap_or_default()) {
                return (report, Instant::now());
            }
            last = Some(report);
        }
        assert!(
            Instant::now() < deadline,
            "state not reached within {within:?}; last report: {last:?}"
        );
        tokio::time::sleep(LOOK_EVERY).await;
    }
}

pub(crate) fn now_millis() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after the epoch")
            .as_millis(),
    )
    .expect("fits")
}

/// How many `open` and `close` records `incidents` holds.
pub(crate) fn phases(incidents: &[Incident]) -> (usize, usize) {
    let count = |phase| incidents.iter().filter(|i| i.phase == phase).count();
    (count(Phase::Open), count(Phase::Close))
}

/// Starts the watch, writes, commits at the end, keeps writing; returns when the group is
/// stuck, with its report and the commit's wall time.
async fn stuck_group(world: &World) -> (DetectProcess, Arc<AtomicBool>, Value) {
    let watch = world.spawn_watch().await;
    world.produce(20).await;
    let producing = world.keep_producing();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let committed_at = Instant::now();
    let committed_ms = now_millis();
    let committed = world.commit_at_end();
    let (stuck, seen) = wait_state(&watch, &world.group, WINDOW * 3, |s| s == "stuck").await;
    let took = seen - committed_at;
    eprintln!("stuck seen {took:?} after the last commit");
    assert!(
        took >= WINDOW,
        "stuck {took:?} after the last commit: before a whole window"
    );
    assert!(
        took <= WINDOW + 2 * POLL + OBSERVATION_SLACK,
        "stuck only {took:?} after the last commit"
    );
    let since = stuck["stuck_since"].as_i64().expect("stuck_since is set");
    let poll_ms = i64::try_from(POLL.as_millis()).expect("fits");
    assert!(
        since >= committed_ms && since <= committed_ms + 2 * poll_ms,
        "stuck_since {since} is not the first round after the commit at {committed_ms}"
    );
    let partition = &stuck["partitions"][0];
    assert_eq!(partition["committed"].as_i64(), Some(committed), "{stuck}");
    assert!(
        partition["lag_records"].as_i64().unwrap_or_default() > 0,
        "{stuck}"
    );
    (watch, producing, stuck)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_that_stops_committing_is_stuck_opens_one_incident_and_closes_it() {
    let world = World::start("watch-stuck").await;
    let (mut watch, producing, stuck) = stuck_group(&world).await;
    let since = stuck["stuck_since"].as_i64().expect("stuck_since");

    let incidents = world.wait_incidents(1, 0, TIMEOUT).await;
    assert_eq!(
        incidents[0].since, since,
        "the incident starts when the stuck clock did"
    );
    // A few more rounds of the same stuck group repeat nothing.
    tokio::time::sleep(3 * POLL).await;
    assert_eq!(world.incidents().len(), 1, "one open record, no repeats");

    let committed_at = Instant::now();
    world.commit_at_end();
    let (_, seen) = wait_state(&watch, &world.group, WINDOW, |s| s != "stuck").await;
    let took = seen - committed_at;
    eprintln!("cleared seen {took:?} after the new commit");
    assert!(
        took <= 2 * POLL + OBSERVATION_SLACK,
        "cleared {took:?} after the new commit"
    );
    let incidents = world.wait_incidents(1, 1, TIMEOUT).await;
    assert_eq!(
        incidents[1].since, since,
        "the close repeats the open's since"
    );

    let listed: Value = serde_json::from_str(&watch.get_ok("/api/incidents").await).expect("JSON");
    let ours = listed
        .as_array()
        .expect("a list")
        .iter()
        .filter(|i| i["group"] == world.group.as_str())
        .map(|i| i["incident"].as_str().unwrap_or_default().to_owned())
        .collect::<Vec<_>>();
    assert_eq!(ours, ["close", "open"], "newest first");
    let history: Value = serde_json::from_str(
        &watch
            .get_ok(&format!("/api/consumers/{CLUSTER}/{}/history", world.group))
            .await,
    )
    .expect("JSON");
    assert!(
        history["partitions"][0]["points"]
            .as_array()
            .is_some_and(|p| p.len() > 10)
    );
    let metrics = watch.metrics().await;
    let kind = [("cluster", CLUSTER), ("kind", "stuck")];
    assert_eq!(metrics.sum(metric::WATCH_INCIDENTS_OPENED.name, &kind), 1.0);
    assert_eq!(metrics.sum(metric::WATCH_INCIDENTS_CLOSED.name, &kind), 1.0);
    let ours = [("cluster", CLUSTER), ("group", world.group.as_str())];
    assert_eq!(
        metrics.sum(metric::WATCH_GROUP_STATE.name, &ours),
        1.0,
        "one state at a time"
    );
    assert!(metrics.sum(metric::WATCH_ROUNDS.name, &[("cluster", CLUSTER)]) > 10.0);

    producing.store(true, Ordering::Relaxed);
    watch.terminate(EXIT_TIMEOUT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_partition_is_never_stuck() {
    let world = World::start("watch-idle").await;
    let mut watch = world.spawn_watch().await;
    world.produce(10).await;
    let committed = world.commit_at_end();
    assert_eq!(committed, 10);
    let (_, first_ok) = wait_state(&watch, &world.group, TIMEOUT, |s| s == "ok").await;
    // Two windows and a little more without a new record or a commit.
    while first_ok.elapsed() < 2 * WINDOW + 2 * POLL {
        let report = report(&watch, &world.group)
            .await
            .expect("the group is watched");
        assert_eq!(report["state"], "ok", "{report}");
        assert_eq!(report["lag_records"], 0, "{report}");
        assert!(report["stuck_since"].is_null(), "{report}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        world.incidents().is_empty(),
        "no incident for an idle group"
    );
    watch.terminate(EXIT_TIMEOUT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_during_an_open_incident_keeps_it_and_opens_nothing_twice() {
    let world = World::start("watch-restart").await;
    let (mut watch, producing, stuck) = stuck_group(&world).await;
    let since = stuck["stuck_since"].as_i64().expect("stuck_since");
    world.wait_incidents(1, 0, TIMEOUT).await;

    watch.terminate(EXIT_TIMEOUT).await;
    let mut restarted = world.spawn_watch().await;
    let (again, _) = wait_state(&restarted, &world.group, TIMEOUT, |s| s != "unknown").await;
    assert_eq!(
        again["state"], "stuck",
        "stuck again at the first round: {again}"
    );
    assert_eq!(again["stuck_since"].as_i64(), Some(since), "{again}");
    tokio::time::sleep(3 * POLL).await;
    let incidents = world.incidents();
    assert_eq!(phases(&incidents), (1, 0), "{incidents:?}");
    producing.store(true, Ordering::Relaxed);
    restarted.terminate(EXIT_TIMEOUT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_deleted_before_a_stopped_group_read_them_are_expired_exactly() {
    // Segments roll every 200 ms and go 1.5 s after their last record; the broker of
    // deploy/kafka checks retention every 2 s.
    let world = World::start_with(
        "watch-expired",
        &[("retention.ms", "1500"), ("segment.ms", "200")],
    )
    .await;
    let mut watch = world.spawn_watch().await;
    world.produce(10).await;
    assert_eq!(
        world.commit_at_end(),
        10,
        "the group read 0..10, then stopped"
    );
    world.produce(21).await;
    // Nothing more is written: retention deletes every segment, the active one too once it is
    // older than retention.ms, so all 21 records after the commit go unread.
    let deadline = Instant::now() + Duration::from_secs(40);
    let expired = loop {
        let report = report(&watch, &world.group).await;
        if let Some(report) = report.filter(|r| {
            r["state"] == "expired" && r["partitions"][0]["log_start"].as_i64() == Some(31)
        }) {
            break report;
        }
        assert!(
            Instant::now() < deadline,
            "not expired down to offset 31 in time"
        );
        tokio::time::sleep(LOOK_EVERY).await;
    };
    let partition = &expired["partitions"][0];
    assert_eq!(partition["committed"].as_i64(), Some(10), "{expired}");
    assert_eq!(partition["expired_records"].as_i64(), Some(21), "{expired}");
    assert!(partition["expired_since"].is_i64(), "{expired}");
    let incidents = world.wait_incidents(1, 0, TIMEOUT).await;
    assert_eq!(incidents[0].kind.as_str(), "expired", "{incidents:?}");
    watch.terminate(EXIT_TIMEOUT).await;
}
