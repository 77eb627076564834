//! `cairn watch`'s first responder on a real broker, with a 10 s window and a 1 s poll, acting
//! on readers of a running `cairn simulate` hung through its control directory:
//! - a stateless reader that hangs is relaunched exactly once (by `touch <control>/<app>.relaunch`)
//!   within a window and 5 s of the hang, and its incident closes; hung again within
//!   `suppress_for`, it gets no second relaunch but one escalation; a stateful reader in the
//!   same run gets one notice and never a relaunch. The actions topic, `/api/actions` and
//!   `/metrics` agree;
//! - the watch killed with SIGKILL right after it relaunched, and started again on its store,
//!   runs nothing a second time and escalates the still-stuck group once `verify_within` passes;
//! - two responders in one process, as two instances would be, one active and one standby by
//!   their injected active flags: when the standby becomes active it learns from the actions
//!   topic what the other did, relaunches nothing again, and escalates what it must. (The
//!   election that sets the flags in `cairn watch` is not part of this test.)
//! - two `cairn watch` processes that elect one active instance: the active one relaunches the
//!   hung reader and is killed with SIGKILL right after; the standby takes over, learns the
//!   relaunch from the actions topic, and never runs the command again.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cairn_core::respond::record::decode;
use cairn_core::respond::{ActionKind, ActionRecord, Outcome, Reason};
use cairn_testkit::config::{CairnToml, ClusterToml, StreamToml};
use cairn_testkit::detect::{EXIT_TIMEOUT, READY_TIMEOUT};
use cairn_testkit::kafka::{Sharing, TestKafka};
use cairn_testkit::metric;
use cairn_testkit::names::rand_suffix;
use cairn_testkit::process::DetectProcess;
use cairn_testkit::simulate::running::SimulateRun;
use cairn_testkit::watch::{RespondToml, WatchInstance, WatchToml};
use cairn_testkit::workdir::Workdir;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;

const CLUSTER: &str = "local";
const WINDOW: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_secs(1);
/// What the responder may take beyond a window after the hang (the issue's bound).
const ACT_WITHIN: Duration = Duration::from_secs(5);
const LOOK_EVERY: Duration = Duration::from_millis(250);
const TIMEOUT: Duration = Duration::from_secs(10);
/// The simulated run's name (its scenario, control directory and output).
const RUN: &str = "pipeline";

/// One test's broker, simulated pipeline (a producer and two readers of one topic) and watch.
struct World {
    kafka: TestKafka,
    workdir: Workdir,
    suffix: String,
    actions_topic: String,
    pipeline: PathBuf,
}

impl World {
    async fn start(test: &str) -> World {
        let kafka = TestKafka::real(Sharing::Shared).await;
        let workdir = Workdir::new(test, crate::cairn());
        let suffix = rand_suffix().to_lowercase();
        let tracing_topic = format!("{test}-traces-{suffix}");
        let actions_topic = format!("{test}-actions-{suffix}");
        kafka.create_topic(&tracing_topic, 1).await;
        kafka.create_topic(&actions_topic, 1).await;
        let t1 = format!("{CLUSTER}/{test}-t1-{suffix}");
        let pipeline = workdir.path().join("pipeline.toml");
        CairnToml::new(
            ClusterToml::new(CLUSTER, &kafka.bootstrap)
                .client("session.timeout.ms", "6000")
                .client("heartbeat.interval.ms", "1000"),
        )
        .tracing(CLUSTER, &tracing_topic, &format!("cairn-{suffix}"))
        .output(CLUSTER, &format!("{test}-lost-{suffix}"))
        .stream(
            StreamToml::new("respond")
                .producer("api", &t1)
                .sink("sink", &format!("sink-{suffix}"), &t1)
                .sink("ledger", &format!("ledger-{suffix}"), &t1),
        )
        .write_to(&pipeline);
        workdir.note(format!("suffix {suffix}, actions topic {actions_topic}"));
        World {
            kafka,
            workdir,
            suffix,
            actions_topic,
            pipeline,
        }
    }

    fn group(&self, app: &str) -> String {
        format!("{app}-{}", self.suffix)
    }

    fn control(&self) -> PathBuf {
        SimulateRun::control_dir(self.workdir.path(), RUN)
    }

    /// The watch of both readers' groups, with `respond` entries.
    fn watch(&self, respond: Vec<RespondToml>) -> WatchInstance {
        self.workdir
            .watch_instance("watch", self.watch_config(respond))
    }

    /// The config of [`World::watch`].
    fn watch_config(&self, respond: Vec<RespondToml>) -> WatchToml {
        let mut config = WatchToml::new(ClusterToml::new(CLUSTER, &self.kafka.bootstrap))
            .include(&[&self.group("sink"), &self.group("ledger")])
            .window(WINDOW)
            .poll_interval(POLL)
            .request_timeout(Duration::from_secs(5))
            .actions_topic(&format!("{CLUSTER}/{}", self.actions_topic));
        for entry in respond {
            config = config.respond(entry);
        }
        config
    }

    async fn spawn_watch(&self, instance: &WatchInstance) -> DetectProcess {
        let mut watch = self.workdir.spawn_watch(instance);
        watch.wait_ready(READY_TIMEOUT).await;
        watch
    }

    /// `cairn simulate`: 25 messages a second for a minute, read by `sink` and `ledger`.
    fn simulate(&self) -> SimulateRun {
        let scenario = format!(
            r#"cairn_config = {config}
stream = "respond"
run_id = "respond{suffix}"
partitions = 1
drain_timeout = "60s"
[apps.api]
messages = 1500
rate = 25.0
"#,
            config = toml::Value::String(self.pipeline.display().to_string()),
            suffix = self.suffix
        );
        SimulateRun::spawn(crate::cairn(), self.workdir.path(), RUN, &scenario)
    }

    /// Every action record on the actions topic, in order.
    fn published_actions(&self) -> Vec<ActionRecord> {
        let consumer: BaseConsumer = self
            .kafka
            .config()
            .set("group.id", format!("actions-reader-{}", self.suffix))
            .set("enable.auto.commit", "false")
            .create()
            .expect("create the actions reader");
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(&self.actions_topic, 0, Offset::Beginning)
            .expect("an offset");
        consumer.assign(&assignment).expect("assign");
        let (_, end) = consumer
            .fetch_watermarks(&self.actions_topic, 0, TIMEOUT)
            .expect("watermarks");
        let mut records = Vec::new();
        let deadline = Instant::now() + TIMEOUT;
        let mut next = 0;
        while next < end {
            assert!(Instant::now() < deadline, "actions topic not read to {end}");
            if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
                next = message.offset() + 1;
                let record = decode(message.payload().expect("a payload")).expect("an action");
                assert_eq!(
                    message.key(),
                    Some(format!("{CLUSTER}/{}", record.group).as_bytes()),
                    "keyed by <cluster>/<group>"
                );
                records.push(record);
            }
        }
        records
    }
}

/// `/api/actions`, oldest first.
async fn actions(watch: &DetectProcess) -> Vec<ActionRecord> {
    let body = watch.get_ok("/api/actions?limit=1000").await;
    let mut records: Vec<ActionRecord> = serde_json::from_str(&body).expect("action records");
    records.reverse();
    records
}

/// Waits until `/api/actions` holds a record `pred` accepts; returns it.
async fn wait_action(
    watch: &DetectProcess,
    within: Duration,
    what: &str,
    pred: impl Fn(&ActionRecord) -> bool,
) -> ActionRecord {
    let deadline = Instant::now() + within;
    loop {
        let all = actions(watch).await;
        if let Some(found) = all.iter().find(|a| pred(a)) {
            return found.clone();
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {within:?}; actions: {all:?}"
        );
        tokio::time::sleep(LOOK_EVERY).await;
    }
}

/// Waits until the group has committed and is being read (ok or merely behind).
async fn wait_reading(watch: &DetectProcess, group: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = watch
            .get(&format!("/api/consumers/{CLUSTER}/{group}"))
            .await
            .expect("GET the group's report");
        if status == 200 {
            let report: Value = serde_json::from_str(&body).expect("JSON");
            let reading = ["ok", "lagging"].contains(&report["state"].as_str().unwrap_or(""));
            if reading && report["partitions"][0]["committed"].as_i64() > Some(0) {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "group {group} is not being read: {status} {body}"
        );
        tokio::time::sleep(LOOK_EVERY).await;
    }
}

/// Waits until `/api/incidents` holds a close record of the group.
async fn wait_closed(watch: &DetectProcess, group: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let listed: Value =
            serde_json::from_str(&watch.get_ok("/api/incidents").await).expect("JSON");
        let closed = listed
            .as_array()
            .expect("a list")
            .iter()
            .any(|i| i["group"] == group && i["incident"] == "close");
        if closed {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no close of {group} within {within:?}: {listed}"
        );
        tokio::time::sleep(LOOK_EVERY).await;
    }
}

fn now_millis() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after the epoch")
            .as_millis(),
    )
    .expect("fits")
}

fn count(records: &[ActionRecord], group: &str, action: ActionKind) -> usize {
    records
        .iter()
        .filter(|a| a.group == group && a.action == action)
        .count()
}

fn touch(file: &Path) -> Vec<String> {
    vec!["touch".into(), file.display().to_string()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_stateless_reader_is_relaunched_once_then_escalated_and_a_stateful_one_notified() {
    let world = World::start("respond-relaunch").await;
    let (sink, ledger) = (world.group("sink"), world.group("ledger"));
    let relaunch_file = world.control().join("sink.relaunch");
    let mut relaunch = RespondToml::stateless(CLUSTER, &sink, &[]);
    relaunch.command = Some(touch(&relaunch_file));
    let instance = world.watch(vec![relaunch, RespondToml::stateful(CLUSTER, &ledger)]);
    let mut watch = world.spawn_watch(&instance).await;
    let mut run = world.simulate();
    wait_reading(&watch, &sink).await;
    wait_reading(&watch, &ledger).await;

    let hung_at = now_millis();
    run.hang("sink");
    run.hang("ledger");
    let first = wait_action(&watch, WINDOW * 3, "the relaunch", |a| {
        a.group == sink && a.action == ActionKind::Relaunch
    })
    .await;
    let took = first.at - hung_at;
    eprintln!(
        "relaunched {took} ms after the hang ({} ms after the incident opened)",
        first.at - first.incident.opened_at
    );
    assert_eq!(first.outcome, Outcome::Ok, "{first:?}");
    assert_eq!(first.reason, Reason::IncidentOpened);
    assert_eq!(first.exit_code, Some(0));
    let window_ms = i64::try_from(WINDOW.as_millis()).expect("fits");
    let bound_ms = i64::try_from((WINDOW + ACT_WITHIN).as_millis()).expect("fits");
    assert!(
        took >= window_ms,
        "relaunched {took} ms after the hang: before a window"
    );
    assert!(
        took <= bound_ms,
        "relaunched {took} ms after the hang: later than window + 5 s"
    );
    assert!(
        first.at - first.incident.opened_at <= 1_000,
        "acted on the open at once: {first:?}"
    );
    let notice = wait_action(&watch, TIMEOUT, "the notice", |a| a.group == ledger).await;
    assert_eq!(
        (notice.action, notice.reason, notice.outcome),
        (ActionKind::Notify, Reason::Stateful, Outcome::Recorded),
        "no webhooks: the record is the notice"
    );
    // The relaunched reader reads again: its incident closes.
    wait_closed(&watch, &sink, 2 * TIMEOUT).await;

    // Hung again, well within suppress_for (1 h): escalated, not relaunched.
    run.hang("sink");
    let escalation = wait_action(&watch, WINDOW * 3, "the escalation", |a| {
        a.group == sink && a.action == ActionKind::Escalate
    })
    .await;
    assert_eq!(escalation.reason, Reason::StuckAgain, "{escalation:?}");
    assert!(escalation.incident.opened_at > first.incident.opened_at);
    tokio::time::sleep(3 * POLL).await;
    assert!(
        !relaunch_file.exists(),
        "nobody asked for a second relaunch"
    );

    let listed = actions(&watch).await;
    assert_eq!(count(&listed, &sink, ActionKind::Relaunch), 1, "{listed:?}");
    assert_eq!(count(&listed, &sink, ActionKind::Escalate), 1, "{listed:?}");
    assert_eq!(count(&listed, &ledger, ActionKind::Notify), 1, "{listed:?}");
    assert_eq!(
        count(&listed, &ledger, ActionKind::Relaunch),
        0,
        "{listed:?}"
    );
    assert_eq!(listed.len(), 3, "{listed:?}");
    let mut published = world.published_actions();
    let mut shown = listed.clone();
    let order = |a: &ActionRecord| (a.group.clone(), a.action.as_str(), a.at);
    published.sort_by_key(order);
    shown.sort_by_key(order);
    assert_eq!(published, shown, "the actions topic and /api/actions agree");
    let metrics = watch.metrics().await;
    let of = |group: &str, action: &str, outcome: &str| {
        metrics.sum(
            metric::RESPOND_ACTIONS.name,
            &[
                ("cluster", CLUSTER),
                ("group", group),
                ("action", action),
                ("outcome", outcome),
            ],
        )
    };
    assert_eq!(of(&sink, "relaunch", "ok"), 1.0);
    assert_eq!(of(&sink, "escalate", "recorded"), 1.0);
    assert_eq!(of(&ledger, "notify", "recorded"), 1.0);
    assert_eq!(of(&ledger, "relaunch", "ok"), 0.0);

    // Relaunched by hand, both readers catch up and the run ends cleanly.
    run.relaunch("sink");
    run.relaunch("ledger");
    let status = run.wait(Duration::from_secs(120));
    assert!(status.success(), "cairn simulate: {status}\n{}", run.log());
    watch.terminate(EXIT_TIMEOUT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_killed_right_after_it_relaunched_does_not_relaunch_again() {
    let world = World::start("respond-restart").await;
    let sink = world.group("sink");
    // A relaunch that does not help: it only notes that it ran.
    let ran = world.workdir.path().join("relaunches");
    let mut entry = RespondToml::stateless(
        CLUSTER,
        &sink,
        &[
            "sh",
            "-c",
            &format!("echo $CAIRN_OPENED_AT >> {}", ran.display()),
        ],
    );
    let verify = Duration::from_secs(20);
    entry.verify_within = Some(verify);
    let instance = world.watch(vec![entry]);
    let mut watch = world.spawn_watch(&instance).await;
    let run = world.simulate();
    wait_reading(&watch, &sink).await;
    run.hang("sink");
    let relaunch = wait_action(&watch, WINDOW * 3, "the relaunch", |a| {
        a.action == ActionKind::Relaunch
    })
    .await;
    assert_eq!(relaunch.outcome, Outcome::Ok, "{relaunch:?}");
    watch.kill9();

    let mut restarted = world.spawn_watch(&instance).await;
    let restored = actions(&restarted).await;
    assert_eq!(
        restored,
        std::slice::from_ref(&relaunch),
        "the record came back from the store"
    );
    let escalation = wait_action(&restarted, verify + TIMEOUT, "the escalation", |a| {
        a.action == ActionKind::Escalate
    })
    .await;
    assert_eq!(escalation.reason, Reason::StillStuck, "{escalation:?}");
    assert_eq!(escalation.incident, relaunch.incident);
    let verify_ms = i64::try_from(verify.as_millis()).expect("fits");
    assert!(
        escalation.at >= relaunch.at + verify_ms,
        "escalated before verify_within: {escalation:?}"
    );
    tokio::time::sleep(3 * POLL).await;
    let listed = actions(&restarted).await;
    assert_eq!(count(&listed, &sink, ActionKind::Relaunch), 1, "{listed:?}");
    assert_eq!(count(&listed, &sink, ActionKind::Escalate), 1, "{listed:?}");
    let lines = std::fs::read_to_string(&ran).expect("the relaunch ran");
    assert_eq!(
        lines.lines().collect::<Vec<_>>(),
        [relaunch.incident.opened_at.to_string()],
        "the command ran once"
    );
    restarted.terminate(EXIT_TIMEOUT).await;
}

/// Waits until `log` holds `count` records.
async fn wait_log(
    log: &cairn_shell::watch::respond::log::ActionLog,
    count: usize,
    within: Duration,
) -> Vec<ActionRecord> {
    let deadline = Instant::now() + within;
    loop {
        let mut records = log.recent(100);
        if records.len() >= count {
            records.reverse();
            return records;
        }
        assert!(
            Instant::now() < deadline,
            "expected {count} actions within {within:?}: {records:?}"
        );
        tokio::time::sleep(LOOK_EVERY).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_that_becomes_active_repeats_nothing_the_active_one_did() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use cairn_core::config::WatchConfig;
    use cairn_core::watch::incident::{Evidence, OpenIncident};
    use cairn_core::watch::{Evaluator, GroupState, Incident, IncidentKind, Phase};
    use cairn_shell::watch::book::BookStore;
    use cairn_shell::watch::respond::{ActiveFlag, OpenIncidents, spawn_responder};
    use cairn_shell::watch::view::WatchView;
    use std::sync::Mutex;

    let kafka = TestKafka::real(Sharing::Shared).await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let suffix = rand_suffix().to_lowercase();
    let actions_topic = format!("respond-failover-actions-{suffix}");
    kafka.create_topic(&actions_topic, 1).await;
    let ran = dir.path().join("relaunches");
    let verify = Duration::from_secs(5);
    let text = format!(
        r#"[clusters.{CLUSTER}]
bootstrap = "{bootstrap}"
[http]
listen = "127.0.0.1:0"
[watch]
window = "10s"
poll_interval = "1s"
[respond]
actions_topic = "{CLUSTER}/{actions_topic}"
[[respond.groups]]
cluster = "{CLUSTER}"
group = "sink"
stateless = true
command = ["sh", "-c", "echo $CAIRN_OPENED_AT >> {ran}"]
verify_within = "5s"
[[respond.groups]]
cluster = "{CLUSTER}"
group = "ledger"
stateless = false
"#,
        bootstrap = kafka.bootstrap,
        ran = ran.display()
    );
    let config = WatchConfig::from_toml_str(&text).expect("a valid config");
    // What both instances' watches see open.
    let book: Arc<Mutex<Vec<OpenIncident>>> = Arc::new(Mutex::new(Vec::new()));
    let start = |name: &str, active: &Arc<AtomicBool>| {
        let store = BookStore::open(&dir.path().join(name)).expect("a store");
        let view = Arc::new(WatchView::new(vec![(CLUSTER.into(), Evaluator::new())]));
        let flag = active.clone();
        let active: ActiveFlag = Arc::new(move || flag.load(Ordering::Relaxed));
        let shared = book.clone();
        let open: OpenIncidents = Arc::new(move || shared.lock().expect("the book").clone());
        let responder = spawn_responder(&config, store.db(), open, view.clone(), active)
            .expect("starts")
            .expect("groups are configured");
        (responder, view, store)
    };
    let a_active = Arc::new(AtomicBool::new(true));
    let b_active = Arc::new(AtomicBool::new(false));
    let (a, a_view, _a_store) = start("a", &a_active);
    let (b, b_view, _b_store) = start("b", &b_active);

    let record = |group: &str, phase, opened_at: i64| Incident {
        phase,
        kind: IncidentKind::Stuck,
        cluster: CLUSTER.into(),
        group: group.into(),
        since: opened_at - 10_000,
        at: opened_at,
        evidence: Evidence {
            group_state: GroupState::Stable,
            members: Some(1),
            partitions: Vec::new(),
            gone: Vec::new(),
        },
    };
    let opened_at = now_millis();
    for group in ["sink", "ledger"] {
        book.lock().expect("the book").push(OpenIncident {
            cluster: CLUSTER.into(),
            group: group.into(),
            kind: IncidentKind::Stuck,
            since: opened_at - 10_000,
            opened_at,
            partitions: Vec::new(),
        });
        for responder in [&a, &b] {
            responder
                .incidents
                .send(record(group, Phase::Open, opened_at))
                .await
                .expect("queued");
        }
    }
    let by_a = wait_log(&a_view.actions, 2, TIMEOUT).await;
    let kinds = |records: &[ActionRecord]| -> Vec<(String, ActionKind)> {
        records
            .iter()
            .map(|r| (r.group.clone(), r.action))
            .collect()
    };
    let mut got = kinds(&by_a);
    got.sort();
    assert_eq!(
        got,
        [
            ("ledger".to_owned(), ActionKind::Notify),
            ("sink".to_owned(), ActionKind::Relaunch)
        ]
    );
    assert!(
        b_view.actions.recent(10).is_empty(),
        "the standby acts on nothing"
    );

    // The active instance steps down, the standby takes over.
    a_active.store(false, Ordering::Relaxed);
    b_active.store(true, Ordering::Relaxed);
    let by_b = wait_log(&b_view.actions, 1, verify + TIMEOUT).await;
    assert_eq!(
        (by_b[0].group.as_str(), by_b[0].action, by_b[0].reason),
        ("sink", ActionKind::Escalate, Reason::StillStuck),
        "{by_b:?}"
    );
    let relaunch = by_a
        .iter()
        .find(|r| r.action == ActionKind::Relaunch)
        .expect("the relaunch");
    let verify_ms = i64::try_from(verify.as_millis()).expect("fits");
    assert!(by_b[0].at >= relaunch.at + verify_ms, "{by_b:?}");

    // The group recovers and is stuck again within suppress_for of A's relaunch.
    book.lock().expect("the book").retain(|o| o.group != "sink");
    for responder in [&a, &b] {
        responder
            .incidents
            .send(record("sink", Phase::Close, now_millis()))
            .await
            .expect("queued");
    }
    let again = now_millis();
    book.lock().expect("the book").push(OpenIncident {
        cluster: CLUSTER.into(),
        group: "sink".into(),
        kind: IncidentKind::Stuck,
        since: again - 10_000,
        opened_at: again,
        partitions: Vec::new(),
    });
    for responder in [&a, &b] {
        responder
            .incidents
            .send(record("sink", Phase::Open, again))
            .await
            .expect("queued");
    }
    let by_b = wait_log(&b_view.actions, 2, TIMEOUT).await;
    assert_eq!(
        (by_b[1].action, by_b[1].reason),
        (ActionKind::Escalate, Reason::StuckAgain),
        "{by_b:?}"
    );
    tokio::time::sleep(2 * POLL).await;
    assert_eq!(
        a_view.actions.recent(10).len(),
        2,
        "the inactive one did nothing more"
    );
    assert_eq!(
        b_view.actions.recent(10).len(),
        2,
        "{:?}",
        b_view.actions.recent(10)
    );
    let lines = std::fs::read_to_string(&ran).expect("the relaunch ran");
    assert_eq!(lines.lines().count(), 1, "one relaunch in all: {lines}");
    drop((a.incidents, b.incidents));
    a.task.await.expect("a ends");
    b.task.await.expect("b ends");
}

/// `/api/watch`'s `role` of an instance.
async fn role(watch: &DetectProcess) -> String {
    let body: Value = serde_json::from_str(&watch.get_ok("/api/watch").await).expect("JSON");
    body["role"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_elected_instances_relaunch_once_though_the_acting_one_is_killed() {
    const SESSION: Duration = Duration::from_secs(6);
    let world = World::start("respond-two").await;
    let sink = world.group("sink");
    let incidents_topic = format!("respond-two-incidents-{}", world.suffix);
    world.kafka.create_topic(&incidents_topic, 1).await;
    let ran = world.workdir.path().join("relaunches");
    let mut entry = RespondToml::stateless(
        CLUSTER,
        &sink,
        &[
            "sh",
            "-c",
            &format!("echo $CAIRN_OPENED_AT >> {}", ran.display()),
        ],
    );
    let verify = Duration::from_secs(20);
    entry.verify_within = Some(verify);
    let config = world
        .watch_config(vec![entry])
        .incidents_topic(&format!("{CLUSTER}/{incidents_topic}"))
        .control_session_timeout(SESSION);
    let first = world.workdir.watch_instance("watch-a", config.clone());
    let second = world.workdir.watch_instance("watch-b", config);
    let a = world.spawn_watch(&first).await;
    let b = world.spawn_watch(&second).await;
    // One of the two holds the role before anything happens.
    let deadline = Instant::now() + 4 * SESSION;
    let (mut active, mut standby) = loop {
        match (role(&a).await.as_str(), role(&b).await.as_str()) {
            ("active", "standby") => break (a, b),
            ("standby", "active") => break (b, a),
            roles => assert!(
                Instant::now() < deadline,
                "no single active instance: {roles:?}"
            ),
        }
        tokio::time::sleep(LOOK_EVERY).await;
    };

    let run = world.simulate();
    wait_reading(&active, &sink).await;
    run.hang("sink");
    let relaunch = wait_action(&active, WINDOW * 3, "the relaunch", |a| {
        a.action == ActionKind::Relaunch
    })
    .await;
    assert_eq!(relaunch.outcome, Outcome::Ok, "{relaunch:?}");
    active.kill9();

    // The standby takes over once the dead instance's session has expired, learns the relaunch
    // from the actions topic, and escalates the still-stuck group instead of relaunching it.
    let escalation = wait_action(
        &standby,
        verify + 3 * SESSION + TIMEOUT,
        "the escalation by the new active instance",
        |a| a.action == ActionKind::Escalate,
    )
    .await;
    assert_eq!(role(&standby).await, "active");
    assert_eq!(escalation.incident, relaunch.incident, "{escalation:?}");
    tokio::time::sleep(3 * POLL).await;
    let listed = actions(&standby).await;
    assert_eq!(count(&listed, &sink, ActionKind::Relaunch), 0, "{listed:?}");
    let published = world.published_actions();
    assert_eq!(
        count(&published, &sink, ActionKind::Relaunch),
        1,
        "one relaunch on the actions topic: {published:?}"
    );
    let lines = std::fs::read_to_string(&ran).expect("the relaunch ran");
    assert_eq!(
        lines.lines().collect::<Vec<_>>(),
        [relaunch.incident.opened_at.to_string()],
        "the command ran once"
    );
    standby.terminate(EXIT_TIMEOUT).await;
    drop(run);
}
