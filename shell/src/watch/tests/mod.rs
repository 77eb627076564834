//! The watch's shell without Kafka: rounds judged as the poller judges them, then what HTTP,
//! `/metrics`, the incident store and the webhooks make of them.

mod faults;
mod leader;
mod publish;
mod respond;
mod scale;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use cairn_core::metrics::catalog;
use cairn_core::watch::{
    Evaluator, GroupObservation, GroupSettings, GroupState, GroupStatus, Observed,
    PartitionObservation, Phase, Round,
};
use parking_lot::Mutex;
use tokio::sync::mpsc;
use tower::ServiceExt;

use super::book::BookStore;
use super::http::router;
use super::leader::LeaderHandle;
use super::poller::{SharedBook, judge, round_done};
use super::publish::Outgoing;
use super::view::WatchView;

pub(super) const CLUSTER: &str = "c";
pub(super) const GROUP: &str = "g";

/// A group on one partition with `committed` and a log end of `end`, read at `now`.
fn round(now: i64, committed: i64, end: i64) -> Round {
    Round {
        now,
        groups: vec![GroupObservation {
            cluster: CLUSTER.into(),
            group: GROUP.into(),
            settings: GroupSettings {
                window: Duration::from_secs(3),
                poll_interval: Duration::from_secs(1),
                ..GroupSettings::default()
            },
            status: at(
                now,
                GroupStatus {
                    state: GroupState::Empty,
                    members: 0,
                },
            ),
            partitions: vec![PartitionObservation {
                topic: "t".into(),
                partition: 0,
                committed: at(now, Some(committed)).into(),
                log_start: at(now, 0).into(),
                log_end: at(now, end).into(),
                first_unread: None,
            }],
        }],
    }
}

/// A read made at `now`.
pub(super) fn at<T>(now: i64, value: T) -> Option<Observed<T>> {
    Some(Observed {
        value,
        read_at: now,
    })
}

pub(super) struct Fixture {
    pub(super) view: Arc<WatchView>,
    pub(super) book: Mutex<SharedBook>,
    pub(super) sent: mpsc::Receiver<Outgoing>,
    pub(super) publish: mpsc::Sender<Outgoing>,
    _dir: tempfile::TempDir,
}

impl Fixture {
    pub(super) fn new() -> Fixture {
        Fixture::with_leader(LeaderHandle::single())
    }

    /// A fixture whose instance's role `leader` decides.
    pub(super) fn with_leader(leader: LeaderHandle) -> Fixture {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut store = BookStore::open(&dir.path().join("store")).expect("open the store");
        let book = store.load().expect("an empty book");
        let (publish, sent) = mpsc::channel(16);
        Fixture {
            view: Arc::new(
                WatchView::new(vec![(CLUSTER.into(), Evaluator::new())]).with_leader(leader),
            ),
            book: Mutex::new(SharedBook { book, store }),
            sent,
            publish,
            _dir: dir,
        }
    }

    /// Judges rounds a second apart from `start`, the group stuck on `committed` while the log grows.
    pub(super) fn stall(&mut self, start: i64, committed: i64, rounds: i64) {
        for n in 0..rounds {
            let r = round(start + n * 1_000, committed, committed + 10 + n);
            judge(CLUSTER, r, &self.view, &self.book, &self.publish);
            let cluster = self.view.cluster(CLUSTER).expect("the cluster's view");
            round_done(cluster, Duration::from_millis(1));
        }
    }

    pub(super) async fn get(&self, path: &str) -> (StatusCode, String) {
        let response = router(self.view.clone())
            .oneshot(Request::get(path).body(Body::empty()).expect("a request"))
            .await
            .expect("an answer");
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("a body");
        (status, String::from_utf8(body.to_vec()).expect("utf-8"))
    }
}

#[tokio::test]
async fn before_the_first_round_it_is_not_ready_and_knows_no_group() {
    let fixture = Fixture::new();
    let (status, body) = fixture.get("/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains(CLUSTER), "{body}");
    let (status, body) = fixture.get("/api/consumers/c/g").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let error: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert!(
        error["error"].as_str().expect("a message").contains("`g`"),
        "{body}"
    );
    assert_eq!(fixture.get("/healthz").await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_stalled_group_is_reported_stuck_and_its_incident_goes_out_once() {
    let mut fixture = Fixture::new();
    fixture.stall(1_000_000, 100, 6);
    assert_eq!(fixture.get("/readyz").await.0, StatusCode::OK);

    let (status, body) = fixture.get("/api/consumers/c/g").await;
    assert_eq!(status, StatusCode::OK);
    let report: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(report["state"], "stuck", "{body}");
    assert_eq!(report["stuck_since"], 1_000_000, "{body}");
    assert_eq!(report["partitions"][0]["committed"], 100, "{body}");

    let (_, list) = fixture.get("/api/consumers").await;
    let list: serde_json::Value = serde_json::from_str(&list).expect("JSON");
    assert_eq!(list[0]["group"], GROUP);
    assert!(list[0].get("partitions").is_none(), "a summary: {list}");

    let sent = fixture.sent.try_recv().expect("an incident record");
    assert_eq!(
        sent.term, 1,
        "the one term of an instance without an election"
    );
    let sent = sent.incident;
    assert_eq!((sent.phase, sent.since), (Phase::Open, 1_000_000));
    assert!(
        fixture.sent.try_recv().is_err(),
        "one record for one incident"
    );

    let (_, incidents) = fixture.get("/api/incidents").await;
    let incidents: serde_json::Value = serde_json::from_str(&incidents).expect("JSON");
    assert_eq!(incidents[0]["incident"], "open", "{incidents}");
    assert_eq!(incidents.as_array().map(Vec::len), Some(1));

    let (_, history) = fixture.get("/api/consumers/c/g/history").await;
    let history: serde_json::Value = serde_json::from_str(&history).expect("JSON");
    assert_eq!(
        history["partitions"][0]["points"].as_array().map(Vec::len),
        Some(6)
    );

    let (_, metrics) = fixture.get("/metrics").await;
    let state = catalog::WATCH_GROUP_STATE.name;
    for line in [
        format!("{state}{{cluster=\"c\",group=\"g\",state=\"stuck\"}} 1"),
        format!("{state}{{cluster=\"c\",group=\"g\",state=\"ok\"}} 0"),
        format!(
            "{}{{cluster=\"c\",kind=\"stuck\"}} 1",
            catalog::WATCH_INCIDENTS_OPENED.name
        ),
        format!("{}{{cluster=\"c\"}} 6", catalog::WATCH_ROUNDS.name),
        format!("{} 0", catalog::WATCH_WEBHOOK_FAILURES.name),
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
}

#[tokio::test]
async fn the_stored_book_resumes_an_open_incident_after_a_restart() {
    let mut fixture = Fixture::new();
    fixture.stall(1_000_000, 100, 6);
    assert!(fixture.sent.try_recv().is_ok());
    let dir = fixture._dir.path().join("store");
    drop(fixture.book.into_inner());

    let mut store = BookStore::open(&dir).expect("reopen the store");
    let book = store.load().expect("the stored book");
    assert_eq!(book.open().len(), 1);
    let mut evaluator = Evaluator::new();
    evaluator.resume(&book);
    let view = Arc::new(WatchView::new(vec![(CLUSTER.into(), evaluator)]));
    let shared = Mutex::new(SharedBook { book, store });
    let (publish, mut sent) = mpsc::channel(16);
    judge(
        CLUSTER,
        round(1_010_000, 100, 130),
        &view,
        &shared,
        &publish,
    );
    let report = view.clusters[0].latest.lock().clone().expect("a report");
    let group = report.group(CLUSTER, GROUP).expect("the group");
    assert_eq!(group.summary.stuck_since, Some(1_000_000));
    assert!(sent.try_recv().is_err(), "no second open");
}

#[tokio::test]
async fn the_status_page_shows_the_role_the_stuck_group_and_its_incident() {
    let fixture = Fixture::new();
    let (status, page) = fixture.get("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("not ready: no round completed yet on: c"),
        "{page}"
    );

    let mut fixture = fixture;
    fixture.stall(1_000_000, 100, 6);
    let (status, page) = fixture.get("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<p class=\"ready\">ready</p>"), "{page}");
    assert!(page.contains("<dd>active since"), "{page}");
    assert!(
        page.contains("<td>c</td><td>g</td><td>stuck</td>"),
        "the group's row: {page}"
    );
    assert!(
        page.contains("<td>open</td><td>stuck</td><td>c</td><td>g</td>"),
        "the incident's row: {page}"
    );
    assert!(page.contains("<a href=\"/api/consumers\">"), "{page}");
}
