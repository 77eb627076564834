//! The responder without Kafka: commands get the incident and are killed at their timeout
//! with everything they started, output is bounded, HTTP actions send their rendered body,
//! and the running responder acts once per incident, across a restart of its store too.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use cairn_core::config::WatchConfig;
use cairn_core::respond::{ActionKind, ActionRecord, Outcome, Reason, Via};
use cairn_core::watch::incident::{Evidence, OpenIncident};
use cairn_core::watch::{Evaluator, GroupState, Incident, IncidentKind, Phase};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::watch::respond::execute::{call_http, post_webhooks, run_command};
use crate::watch::respond::{always_active, spawn_responder};
use crate::watch::view::WatchView;

fn argv(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|p| (*p).to_owned()).collect()
}

#[tokio::test]
async fn a_command_gets_the_incident_on_stdin_and_in_its_environment() {
    let env = vec![("CAIRN_GROUP".to_owned(), "orders".to_owned())];
    let done = run_command(
        &argv(&["sh", "-c", "printf '%s:' \"$CAIRN_GROUP\"; cat"]),
        &env,
        b"{\"v\":1}".to_vec(),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(done.outcome, Outcome::Ok, "{done:?}");
    assert_eq!(done.via, Via::Command);
    assert_eq!(done.exit_code, Some(0));
    assert_eq!(done.output, "orders:{\"v\":1}");
    assert!(!done.output_truncated);
    assert_eq!(done.error, None);
}

#[tokio::test]
async fn a_failing_command_keeps_its_exit_code_and_its_stderr() {
    let done = run_command(
        &argv(&["sh", "-c", "echo no such service >&2; exit 3"]),
        &[],
        Vec::new(),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(done.outcome, Outcome::Failed);
    assert_eq!(done.exit_code, Some(3));
    assert_eq!(done.cause, Some("exit"));
    assert_eq!(done.output, "no such service\n");
    assert!(done.error.as_deref().unwrap_or_default().contains('3'));
}

#[tokio::test]
async fn a_command_that_cannot_start_is_a_failure_not_a_crash() {
    let done = run_command(
        &argv(&["/nonexistent/relaunch"]),
        &[],
        Vec::new(),
        Duration::from_secs(1),
    )
    .await;
    assert_eq!(done.outcome, Outcome::Failed);
    assert_eq!(done.cause, Some("spawn"));
    assert_eq!(done.exit_code, None);
}

#[tokio::test]
async fn a_hanging_command_is_killed_at_its_timeout_with_what_it_started() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let pid_file = dir.path().join("child.pid");
    let script = format!(
        "sleep 60 & echo $! > {}; echo started; wait",
        pid_file.display()
    );
    let done = run_command(
        &argv(&["sh", "-c", &script]),
        &[],
        Vec::new(),
        Duration::from_millis(500),
    )
    .await;
    assert_eq!(done.outcome, Outcome::TimedOut, "{done:?}");
    assert_eq!(done.cause, Some("timeout"));
    assert_eq!(done.exit_code, None);
    assert_eq!(done.output, "started\n");
    assert!(done.duration >= Duration::from_millis(500));
    let child = std::fs::read_to_string(&pid_file).expect("the pid");
    let proc = Path::new("/proc").join(child.trim());
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    // Killed processes linger as zombies until reaped by init; gone or a zombie is dead.
    while proc.exists() && !is_zombie(&proc) {
        assert!(
            std::time::Instant::now() < deadline,
            "the command's own child survived the timeout"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn is_zombie(proc: &Path) -> bool {
    std::fs::read_to_string(proc.join("stat"))
        .map(|stat| stat.split(") ").nth(1).is_some_and(|s| s.starts_with('Z')))
        .unwrap_or(true)
}

#[tokio::test]
async fn output_is_bounded() {
    let done = run_command(
        &argv(&["sh", "-c", "head -c 100000 /dev/zero | tr '\\0' x"]),
        &[],
        Vec::new(),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(done.outcome, Outcome::Ok);
    assert_eq!(done.output.len(), 4096);
    assert!(done.output_truncated);
}

/// A receiver on a free port answering `status`; every body it got is sent on.
async fn receiver(status: StatusCode) -> (String, mpsc::UnboundedReceiver<Vec<u8>>) {
    let (got, bodies) = mpsc::unbounded_channel();
    let app = Router::new().route(
        "/hook",
        post(move |body: axum::body::Bytes| {
            let got = got.clone();
            async move {
                let _ = got.send(body.to_vec());
                (status, "answer")
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("an address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), bodies)
}

#[tokio::test]
async fn an_http_action_sends_its_body_and_an_error_status_is_a_failure() {
    let http = reqwest::Client::new();
    let (url, mut bodies) = receiver(StatusCode::ACCEPTED).await;
    let done = call_http(
        &http,
        "POST",
        &url,
        &[],
        "restart me".into(),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(done.outcome, Outcome::Ok, "{done:?}");
    assert_eq!((done.via, done.http_status), (Via::Http, Some(202)));
    assert_eq!(done.output, "answer");
    assert_eq!(bodies.recv().await.expect("a body"), b"restart me");

    let (url, _) = receiver(StatusCode::SERVICE_UNAVAILABLE).await;
    let done = call_http(
        &http,
        "POST",
        &url,
        &[],
        String::new(),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(done.outcome, Outcome::Failed);
    assert_eq!(done.cause, Some("status"));
    assert_eq!(done.http_status, Some(503));

    let done = call_http(
        &http,
        "POST",
        "http://127.0.0.1:9/",
        &[],
        String::new(),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(done.outcome, Outcome::Failed);
    assert_eq!(done.cause, Some("transport"));

    let done = post_webhooks(&http, &[], b"{}".to_vec()).await;
    assert_eq!((done.outcome, done.via), (Outcome::Recorded, Via::None));
}

const GROUP: &str = "g";

fn no_book() -> crate::watch::respond::OpenIncidents {
    Arc::new(Vec::new)
}

fn responder_config(dir: &Path, hook: &str) -> WatchConfig {
    let log = dir.join("relaunches");
    let text = format!(
        r#"[clusters.c]
bootstrap = "127.0.0.1:9"
[http]
listen = "127.0.0.1:0"
[watch]
window = "10s"
poll_interval = "1s"
[[respond.webhooks]]
url = "{hook}"
timeout = "1s"
[[respond.groups]]
cluster = "c"
group = "{GROUP}"
stateless = true
command = ["sh", "-c", "echo $CAIRN_OPENED_AT >> {log}"]
verify_within = "1s"
suppress_for = "1h"
[[respond.groups]]
cluster = "c"
group = "ledger"
stateless = false
"#,
        log = log.display()
    );
    WatchConfig::from_toml_str(&text).expect("a valid config")
}

fn open_record(group: &str, opened_at: i64) -> Incident {
    Incident {
        phase: Phase::Open,
        kind: IncidentKind::Stuck,
        cluster: "c".into(),
        group: group.into(),
        since: opened_at - 10_000,
        at: opened_at,
        evidence: Evidence {
            group_state: GroupState::Stable,
            members: Some(1),
            partitions: Vec::new(),
            gone: Vec::new(),
        },
    }
}

async fn wait_actions(view: &WatchView, count: usize) -> Vec<ActionRecord> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let actions = view.actions.recent(100);
        if actions.len() >= count {
            return actions;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected {count} actions: {actions:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_responder_acts_once_per_incident_and_not_again_after_a_restart() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (hook, mut pages) = receiver(StatusCode::OK).await;
    let config = responder_config(dir.path(), &hook);
    let db = sled::open(dir.path().join("store")).expect("sled");
    let view = Arc::new(WatchView::new(vec![("c".into(), Evaluator::new())]));
    let responder = spawn_responder(
        &config,
        db.clone(),
        no_book(),
        view.clone(),
        always_active(),
    )
    .expect("starts")
    .expect("groups are configured");
    let opened_at = 1_763_800_000_000;
    let open = open_record(GROUP, opened_at);
    responder
        .incidents
        .send(open.clone())
        .await
        .expect("queued");
    responder
        .incidents
        .send(open.clone())
        .await
        .expect("queued");
    responder
        .incidents
        .send(open_record("ledger", opened_at))
        .await
        .expect("queued");
    let actions = wait_actions(&view, 2).await;
    let relaunch = actions
        .iter()
        .find(|a| a.action == ActionKind::Relaunch)
        .expect("a relaunch");
    assert_eq!(relaunch.outcome, Outcome::Ok, "{relaunch:?}");
    assert_eq!(relaunch.incident.opened_at, opened_at);
    let notice = actions
        .iter()
        .find(|a| a.action == ActionKind::Notify)
        .expect("a notice for the stateful group");
    assert_eq!(
        (notice.group.as_str(), notice.via),
        ("ledger", Via::Webhook)
    );
    let paged: ActionRecord =
        serde_json::from_slice(&pages.recv().await.expect("the notice is POSTed")).expect("JSON");
    assert_eq!(
        (paged.action, paged.reason),
        (ActionKind::Notify, Reason::Stateful)
    );
    // The incident stays open past verify_within (1 s): escalated once.
    let actions = wait_actions(&view, 3).await;
    assert_eq!(
        (actions[0].action, actions[0].reason),
        (ActionKind::Escalate, Reason::StillStuck),
        "{actions:?}"
    );
    drop(responder.incidents);
    responder
        .task
        .await
        .expect("the responder ends with its queue");

    // A restart with the incident still open in the watch's book: nothing is run again.
    let view = Arc::new(WatchView::new(vec![("c".into(), Evaluator::new())]));
    let book = [OpenIncident {
        cluster: "c".into(),
        group: GROUP.into(),
        kind: IncidentKind::Stuck,
        since: opened_at - 10_000,
        opened_at,
        partitions: Vec::new(),
    }];
    let restarted = spawn_responder(
        &config,
        db,
        Arc::new(move || book.to_vec()),
        view.clone(),
        always_active(),
    )
    .expect("starts")
    .expect("groups are configured");
    assert_eq!(
        view.actions.recent(100).len(),
        3,
        "the records came back from the store"
    );
    restarted.incidents.send(open).await.expect("queued");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(view.actions.recent(100).len(), 3, "no new action");
    let relaunches = std::fs::read_to_string(dir.path().join("relaunches")).expect("the log");
    assert_eq!(
        relaunches.lines().collect::<Vec<_>>(),
        [opened_at.to_string()]
    );
    drop(restarted.incidents);
    restarted.task.await.expect("ends");
}

#[tokio::test]
async fn an_inactive_instance_acts_on_nothing() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (hook, _pages) = receiver(StatusCode::OK).await;
    let config = responder_config(dir.path(), &hook);
    let db = sled::open(dir.path().join("store")).expect("sled");
    let view = Arc::new(WatchView::new(vec![("c".into(), Evaluator::new())]));
    let passive: crate::watch::respond::ActiveFlag = Arc::new(|| false);
    let responder = spawn_responder(&config, db, no_book(), view.clone(), passive)
        .expect("starts")
        .expect("groups are configured");
    responder
        .incidents
        .send(open_record(GROUP, 1_763_800_000_000))
        .await
        .expect("queued");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(view.actions.recent(10).is_empty());
    assert!(!dir.path().join("relaunches").exists());
    drop(responder.incidents);
    responder.task.await.expect("ends");
}
