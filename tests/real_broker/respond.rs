//! `cairn watch`'s first responder on a real broker, with a 10 s window and a 1 s poll, acting
//! on readers of a running `cairn simulate` hung through its control directory:
//! - a stateless reader that hangs is relaunched exactly once (by `touch <control>/<app>.relaunch`)
//!   within a window and 5 s of the hang, and its incident closes; hung again within
//!   `suppress_for`, it gets no second relaunch but one escalation; a stateful reader in the
//!   same run gets one notice and never a relaunch. The actions topic, `/api/actions` and
//!   `/metrics` agree;
//! - the watch killed with SIGKILL right after it relaunched, and started again on its store,
//!   runs nothing a second time and escalates the still-stuck group once `verify_within` passes.

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
        let mut config = WatchToml::new(ClusterToml::new(CLUSTER, &self.kafka.bootstrap))
            .include(&[&self.group("sink"), &self.group("ledger")])
            .window(WINDOW)
            .poll_interval(POLL)
            .request_timeout(Duration::from_secs(5))
            .actions_topic(&format!("{CLUSTER}/{}", self.actions_topic));
        for entry in respond {
            config = config.respond(entry);
        }
        self.workdir.watch_instance("watch", config)
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
