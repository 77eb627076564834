//! Tests of the HTTP face, one file per job, around one fixture: a real detector run over a
//! small pipeline, so every number the endpoints show was counted by the core.

mod api;
mod format;
mod metrics;
mod page;
mod serve;

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use cairn_core::config::Config;
use cairn_core::detector::Detector;
use cairn_core::lineage::Lineage;
use cairn_core::model::{Kind, Millis, Trace, Verdict};
use cairn_core::offsets::{Observed, StaticOffsets};
use tower::ServiceExt;

use super::router;
use crate::observe::{Observatory, ShellCounters};
use crate::oracle::poller::PollerStats;
use crate::oracle::snapshot::{ClusterOffsets, OffsetsBoard, TopicOffsets};

/// producer → c/l0 → router (g-router) → c/l1 → sink (g-sink); audit (g-audit) also reads c/l0.
/// A second stream, `idle`, never sees a message.
const CONFIG: &str = r#"
[clusters.c]
bootstrap = "127.0.0.1:9"

[clusters.d]
bootstrap = "127.0.0.1:9"

[tracing]
cluster = "c"
topic = "traces"
group = "cairn"

[output]
cluster = "c"
topic = "lost"

[timing]
first_check = "5s"
backoff = "1s"
backoff_max = "8s"
max_wait = "2m"
confirmation_delay = "3s"
dedup_window = "1m"
max_offsets_age = "30s"

[[streams]]
name = "s"

[[streams.apps]]
app = "producer"
writes = "c/l0"

[[streams.apps]]
app = "router"
group = "g-router"
reads = "c/l0"
writes = "c/l1"

[[streams.apps]]
app = "audit"
group = "g-audit"
reads = "c/l0"

[[streams.apps]]
app = "sink"
group = "g-sink"
reads = "c/l1"

[[streams]]
name = "idle"

[[streams.apps]]
app = "p2"
writes = "d/l2"

[[streams.apps]]
app = "r2"
group = "g2"
reads = "d/l2"
"#;

/// Detector time of the first trace.
const T0: Millis = 1_000_000;
/// The wall clock the `/metrics` tests render at.
const NOW: Millis = 1_763_800_000_000;

/// Every message id the fixture traces: none may appear in a metric label.
const IDS: [&str; 8] = [
    "id-fast",
    "id-slow",
    "id-dup",
    "id-lost-audit",
    "id-lost-router",
    "id-retracted",
    "id-stuck",
    "id-gap",
];

/// A detector fed by hand, ticking every 100 ms with freshly read offsets.
struct Run {
    det: Detector,
    offsets: StaticOffsets,
    verdicts: Vec<Verdict>,
    now: Millis,
}

impl Run {
    fn trace(&mut self, t: Trace<'_>) {
        self.det.on_trace(&t, self.now, &mut self.verdicts);
    }

    fn commit(&mut self, group: &str, location: &str, partition: i32, value: i64) {
        self.offsets
            .set_committed(group, location, partition, value, self.now);
        self.offsets.set_log_start(location, partition, 0, self.now);
    }

    fn run_to(&mut self, at: Millis) {
        while self.now < T0 + at {
            self.now = (self.now + 100).min(T0 + at);
            for o in self
                .offsets
                .committed
                .values_mut()
                .chain(self.offsets.log_start.values_mut())
            {
                o.read_at = self.now;
            }
            self.det
                .on_tick(self.now, &self.offsets, &mut self.verdicts);
        }
    }
}

fn tr<'a>(
    id: &'a str,
    kind: Kind,
    app: &'a str,
    location: &'a str,
    group: Option<&'a str>,
    (partition, offset): (i32, i64),
    ts: Millis,
) -> Trace<'a> {
    Trace {
        id: Cow::Borrowed(id),
        stream: Cow::Borrowed("s"),
        kind,
        location: Cow::Borrowed(location),
        partition,
        offset,
        app: Cow::Borrowed(app),
        group: group.map(Cow::Borrowed),
        ts,
    }
}

/// The traces of one journey at partition `p`, offset `o` on c/l0 (`o + 100` on c/l1), with
/// the router's reception, the audit's, the router's write and the sink's reception at the
/// given milliseconds after the producer's write.
fn journey(
    id: &str,
    (p, o): (i32, i64),
    [router, audit, write, sink]: [Millis; 4],
) -> Vec<Trace<'_>> {
    vec![
        tr(id, Kind::Sent, "producer", "c/l0", None, (p, o), T0),
        tr(
            id,
            Kind::Received,
            "router",
            "c/l0",
            Some("g-router"),
            (p, o),
            T0 + router,
        ),
        tr(
            id,
            Kind::Received,
            "audit",
            "c/l0",
            Some("g-audit"),
            (p, o),
            T0 + audit,
        ),
        tr(
            id,
            Kind::Sent,
            "router",
            "c/l1",
            None,
            (p, o + 100),
            T0 + write,
        ),
        tr(
            id,
            Kind::Received,
            "sink",
            "c/l1",
            Some("g-sink"),
            (p, o + 100),
            T0 + sink,
        ),
    ]
}

const FAST: [Millis; 4] = [10, 12, 20, 35];
const SLOW: [Millis; 4] = [2_000, 300, 2_100, 7_000];

/// What the fixture ran: the observatory the endpoints read, the oracle board, and the
/// verdicts in the order the detector made them.
struct Fixture {
    observatory: Arc<Observatory>,
    board: Arc<OffsetsBoard>,
    verdicts: Vec<Verdict>,
}

impl Fixture {
    fn router(&self) -> Router {
        router(self.observatory.clone(), self.board.clone())
    }
}

fn fixture() -> Fixture {
    let run = detector_run();
    let observatory = Arc::new(Observatory::default());
    observatory
        .metrics
        .store(Arc::new(run.det.metrics().clone()));
    for verdict in &run.verdicts {
        observatory.record_verdict(verdict);
    }
    count_shell(&observatory.shell);
    poll_oracle(&observatory);
    Fixture {
        observatory,
        board: offsets_board(),
        verdicts: run.verdicts,
    }
}

/// The detector over every case the endpoints show, run to well past the max wait.
fn detector_run() -> Run {
    let config = Config::from_toml_str(CONFIG).expect("the fixture config is valid");
    let lineage =
        Arc::new(Lineage::compile(&config.streams).expect("the fixture lineage compiles"));
    let mut run = Run {
        det: Detector::new(lineage),
        offsets: StaticOffsets::default(),
        verdicts: Vec::new(),
        now: T0,
    };
    complete_journeys(&mut run);
    losses(&mut run);
    stuck_and_gap(&mut run);
    run.run_to(10_000);
    // The audit's trace of id-retracted comes after all: the verdict is withdrawn.
    run.trace(tr(
        "id-retracted",
        Kind::Received,
        "audit",
        "c/l0",
        Some("g-audit"),
        (3, 9),
        T0 + 9_000,
    ));
    run.run_to(200_000);
    run
}

/// The journey of `id` without `app`'s `received` trace.
fn without(
    id: &'static str,
    at: (i32, i64),
    app: &'static str,
) -> impl Iterator<Item = Trace<'static>> {
    journey(id, at, FAST)
        .into_iter()
        .filter(move |t| t.app != app || t.kind != Kind::Received)
}

/// id-fast, id-slow and id-dup pass every hop; the sink reads id-dup twice.
fn complete_journeys(run: &mut Run) {
    for t in journey("id-fast", (0, 10), FAST) {
        run.trace(t);
    }
    for t in journey("id-slow", (0, 20), SLOW) {
        run.trace(t);
    }
    for t in journey("id-dup", (0, 30), FAST) {
        run.trace(t);
    }
    run.trace(tr(
        "id-dup",
        Kind::Received,
        "sink",
        "c/l1",
        Some("g-sink"),
        (0, 130),
        T0 + 50,
    ));
}

/// The audit committed past id-lost-audit and id-retracted without tracing them; the router
/// read id-lost-router, committed past it, and never wrote it.
fn losses(run: &mut Run) {
    for t in without("id-lost-audit", (1, 5), "audit") {
        run.trace(t);
    }
    for t in without("id-retracted", (3, 9), "audit") {
        run.trace(t);
    }
    run.commit("g-audit", "c/l0", 1, 6);
    run.commit("g-audit", "c/l0", 3, 10);
    for t in journey("id-lost-router", (2, 7), FAST).into_iter().take(3) {
        run.trace(t);
    }
    run.commit("g-router", "c/l0", 2, 8);
}

/// The audit is behind id-stuck for good; the producer's trace of id-gap never came,
/// everything after it did.
fn stuck_and_gap(run: &mut Run) {
    for t in without("id-stuck", (4, 3), "audit") {
        run.trace(t);
    }
    run.commit("g-audit", "c/l0", 4, 3);
    for t in journey("id-gap", (5, 1), FAST).into_iter().skip(1) {
        run.trace(t);
    }
}

/// Distinct values for every shell counter, so a mix-up shows.
fn count_shell(shell: &ShellCounters) {
    shell.traces_consumed.store(1_234, Ordering::Relaxed);
    shell.verdicts_published.store(4, Ordering::Relaxed);
    shell.checkpoints.store(17, Ordering::Relaxed);
    shell.checkpoint_failures.store(1, Ordering::Relaxed);
    shell.position_resets.store(2, Ordering::Relaxed);
    shell.restored_local.store(3, Ordering::Relaxed);
    shell.restored_changelog.store(5, Ordering::Relaxed);
    shell.partitions_assigned.store(6, Ordering::Relaxed);
    shell.consumer_errors.store(7, Ordering::Relaxed);
    shell.look_failures.store(8, Ordering::Relaxed);
    shell.judging_lag_ms.store(2_500, Ordering::Relaxed);
    shell.checks_overdue_ms.store(1_250, Ordering::Relaxed);
}

/// Cluster `c` completed a round 1.5 s before [`NOW`] with two watermark errors on the way;
/// cluster `d` was never reached.
fn poll_oracle(observatory: &Observatory) {
    let reached = PollerStats::default();
    reached.rounds.store(12, Ordering::Relaxed);
    reached.errors_watermarks.store(2, Ordering::Relaxed);
    reached
        .last_complete_round
        .store(NOW - 1_500, Ordering::Relaxed);
    let unreachable = PollerStats::default();
    unreachable.rounds.store(3, Ordering::Relaxed);
    unreachable.errors_metadata.store(3, Ordering::Relaxed);
    let mut oracle = observatory.oracle.lock();
    oracle.insert("c".into(), Arc::new(reached));
    oracle.insert("d".into(), Arc::new(unreachable));
}

/// What the oracle read of c/l0 1.5 s before [`NOW`]; nothing of cluster `d`.
fn offsets_board() -> Arc<OffsetsBoard> {
    let board = Arc::new(OffsetsBoard::new(["c", "d"]));
    let at = |value| {
        Some(Observed {
            value,
            read_at: NOW - 1_500,
        })
    };
    let mut l0 = TopicOffsets {
        log_start: vec![at(0), at(2)],
        log_end: vec![at(40), at(9)],
        ..TopicOffsets::default()
    };
    l0.committed.insert("g-audit".into(), vec![at(31), None]);
    l0.committed.insert("g-router".into(), vec![at(40), at(6)]);
    let mut c = ClusterOffsets {
        polled_at: NOW - 1_500,
        ..ClusterOffsets::default()
    };
    c.topics.insert("l0".into(), l0);
    board.publish("c", c);
    board
}

/// GETs `uri` from `router`: the status, the content type and the body as text.
async fn get(router: Router, uri: &str) -> (StatusCode, String, String) {
    let request = Request::get(uri)
        .body(Body::empty())
        .expect("a valid request");
    let response = router
        .oneshot(request)
        .await
        .expect("the router is infallible");
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().expect("ascii content type").to_owned())
        .unwrap_or_default();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("the body reads");
    (
        status,
        content_type,
        String::from_utf8(body.to_vec()).expect("utf-8 body"),
    )
}

/// GETs `uri` and parses the body as JSON, checking the status and the content type.
async fn get_json(router: Router, uri: &str, status: StatusCode) -> serde_json::Value {
    let (got, content_type, body) = get(router, uri).await;
    assert_eq!(got, status, "{uri}: {body}");
    assert_eq!(content_type, "application/json", "{uri}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{uri}: {e}: {body}"))
}
