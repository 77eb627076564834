//! `cairn detect` with its lineage from a control plane (`docs/control-plane.md`), on the
//! three-hop pipeline whose truth is exact.
//!
//! The control plane (testkit's `LineageServer`) first fails, so the detector waits and says
//! why; then it serves the stream without the sink hop (v1). Batch A goes all the way through
//! (the sink reads and loses some, unwatched); batch B is in flight when the sink hop is added
//! (v2); an invalid document is served next and must change nothing; batch C is played under
//! v2. The verdicts must be exactly: A's and B's losses before the sink, and all of C's — a
//! message keeps the plan it started with, so B's sink losses are never judged.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use cairn_testkit::control_plane::{LineageServer, Serve};
use cairn_testkit::detect::batches::{fates_a, fates_b};
use cairn_testkit::detect::pipeline::ids;
use cairn_testkit::detect::verdicts::assert_exactly;
use cairn_testkit::detect::{
    DetectEnv, DetectProcess, EXIT_TIMEOUT, GRACE, READY_TIMEOUT, STREAM, Stage, VERDICT_TIMEOUT,
    VerdictKey,
};
use cairn_testkit::metric;

/// How often the detector fetches the lineage.
const REFRESH: Duration = Duration::from_millis(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hop_added_mid_run_is_judged_only_for_messages_planned_with_it() {
    let env = DetectEnv::on_real_broker(crate::cairn(), "detect-plane", 3).await;
    let v1 = env
        .config_with(&[Stage::Enricher, Stage::Indexer])
        .streams_document(Some("v1"));
    let v2 = env.config().streams_document(Some("v2"));
    let server = LineageServer::start(Serve::Status(503)).await;
    let instance = env.instance_with(
        "solo",
        env.config()
            .without_streams()
            .control_plane(server.url(), Some(REFRESH))
            .control_plane_timeout(Duration::from_secs(2)),
    );
    let verdicts = env.watch_verdicts();
    let mut detector = env.spawn(&instance);

    waits_for_its_first_lineage_and_says_why(&detector, &server).await;
    server.serve(Serve::document(v1));
    detector.wait_ready(READY_TIMEOUT).await;
    wait_version(&detector, "v1").await;
    let mut pipeline = env.pipeline();

    // A: all the way through under v1; the sink's losses are not the lineage's business.
    let batch_a = pipeline.batch(&fates_a());
    pipeline.play(&batch_a).await;
    // B: written and read by the enricher before the change.
    let batch_b = pipeline.batch(&fates_b());
    let ids_b = ids(&batch_b);
    pipeline.produce(&batch_b).await;
    pipeline.process(Stage::Enricher, &ids_b).await;
    let seen = (batch_a.len() + batch_b.len()) as f64;
    detector
        .wait_metrics(
            "every message of A and B seen before the sink hop is added",
            VERDICT_TIMEOUT,
            &[metric::MESSAGES_SEEN.name],
            |m| m.sum(metric::MESSAGES_SEEN.name, &[("stream", STREAM)]) >= seen,
        )
        .await;

    server.serve(Serve::document(v2.clone()));
    wait_version(&detector, "v2").await;
    pipeline.process(Stage::Indexer, &ids_b).await;
    pipeline.process(Stage::Sink, &ids_b).await;

    // A document the file's validation refuses changes nothing.
    server.serve(Serve::document(v2.replace("reads = ", "reeds = ")));
    wait_invalid(&detector).await;
    assert_eq!(lineage_field(&detector, "version").await, "\"v2\"");
    // Served again, the same bytes are recognised: not applied a second time.
    server.serve(Serve::document(v2.clone()));

    // C: played entirely under v2; its sink losses are judged.
    let batch_c = pipeline.batch(&fates_a());
    pipeline.play(&batch_c).await;

    let before_sink = |ids: &[String]| -> BTreeSet<VerdictKey> {
        pipeline
            .truth_of(ids)
            .into_iter()
            .filter(|k| k.hop_app != Stage::Sink.app())
            .collect()
    };
    let mut truth = before_sink(&ids(&batch_a));
    truth.extend(before_sink(&ids_b));
    let truth_c = pipeline.truth_of(&ids(&batch_c));
    assert!(
        truth_c.iter().any(|k| k.hop_app == Stage::Sink.app()),
        "batch C loses messages at the sink"
    );
    assert!(
        pipeline
            .truth_of(&ids_b)
            .iter()
            .any(|k| k.hop_app == Stage::Sink.app()),
        "batch B loses a message at the sink, which must not be judged"
    );
    truth.extend(truth_c);
    verdicts
        .expect_exactly(
            "A, B and C across the lineage change",
            &truth,
            VERDICT_TIMEOUT,
            GRACE,
        )
        .await;
    fetches_counted(&detector).await;

    let status = detector.terminate(EXIT_TIMEOUT).await;
    assert!(status.success(), "exit {status}\n{}", detector.logs());
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_exactly("after SIGTERM", &truth, &verdicts.seen());
}

/// The same rule across a restart: batch A is in flight when the detector stops; the sink hop
/// is added while it is down; the restarted detector restores A with the plan A started with
/// (the sink is not judged for it) and judges batch B, played after, at the sink too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lineage_changed_while_down_restores_each_message_with_its_own_plan() {
    let env = DetectEnv::on_real_broker(crate::cairn(), "detect-plane-restart", 3).await;
    let v1 = env
        .config_with(&[Stage::Enricher, Stage::Indexer])
        .streams_document(Some("v1"));
    let v2 = env.config().streams_document(Some("v2"));
    let server = LineageServer::start(Serve::document(v1)).await;
    let instance = env.instance_with(
        "solo",
        env.config()
            .without_streams()
            .control_plane(server.url(), Some(REFRESH))
            .control_plane_timeout(Duration::from_secs(2)),
    );
    let verdicts = env.watch_verdicts();
    let mut detector = env.spawn(&instance);
    detector.wait_ready(READY_TIMEOUT).await;
    wait_version(&detector, "v1").await;
    let mut pipeline = env.pipeline();

    let batch_a = pipeline.batch(&fates_a());
    let ids_a = ids(&batch_a);
    pipeline.produce(&batch_a).await;
    pipeline.process(Stage::Enricher, &ids_a).await;
    detector
        .wait_metrics(
            "batch A seen before the stop",
            VERDICT_TIMEOUT,
            &[metric::MESSAGES_SEEN.name],
            |m| m.sum(metric::MESSAGES_SEEN.name, &[("stream", STREAM)]) >= ids_a.len() as f64,
        )
        .await;
    let status = detector.terminate(EXIT_TIMEOUT).await;
    assert!(status.success(), "exit {status}\n{}", detector.logs());

    server.serve(Serve::document(v2));
    let mut detector = env.spawn(&instance);
    detector.wait_ready(READY_TIMEOUT).await;
    wait_version(&detector, "v2").await;
    pipeline.process(Stage::Indexer, &ids_a).await;
    pipeline.process(Stage::Sink, &ids_a).await;
    let batch_b = pipeline.batch(&fates_a());
    pipeline.play(&batch_b).await;

    let mut truth: BTreeSet<VerdictKey> = pipeline
        .truth_of(&ids_a)
        .into_iter()
        .filter(|k| k.hop_app != Stage::Sink.app())
        .collect();
    let truth_b = pipeline.truth_of(&ids(&batch_b));
    assert!(truth_b.iter().any(|k| k.hop_app == Stage::Sink.app()));
    truth.extend(truth_b);
    verdicts
        .expect_exactly(
            "A planned before the restart, B after it",
            &truth,
            VERDICT_TIMEOUT,
            GRACE,
        )
        .await;
    let status = detector.terminate(EXIT_TIMEOUT).await;
    assert!(status.success(), "exit {status}\n{}", detector.logs());
}

/// Not ready, naming the control plane and its error, and no lineage in `/api/streams`.
async fn waits_for_its_first_lineage_and_says_why(
    detector: &DetectProcess,
    server: &LineageServer,
) {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        detector.assert_alive("waiting for the first lineage");
        if let Ok((503, body)) = detector.get("/readyz").await
            && body.contains("waiting for the first lineage")
            && body.contains("503")
        {
            assert!(body.contains(server.url()), "{body}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz never said it waits for a lineage"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(lineage_field(detector, "version").await, "null");
}

async fn lineage_field(detector: &DetectProcess, field: &str) -> String {
    let body = detector.get_ok("/api/streams").await;
    let parsed: serde_json::Value = serde_json::from_str(&body).expect("/api/streams is JSON");
    parsed["lineage"][field].to_string()
}

async fn wait_version(detector: &DetectProcess, version: &str) {
    let deadline = Instant::now() + VERDICT_TIMEOUT;
    while lineage_field(detector, "version").await != format!("\"{version}\"") {
        assert!(Instant::now() < deadline, "lineage {version} never applied");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_invalid(detector: &DetectProcess) {
    detector
        .wait_metrics(
            "the invalid document counted",
            VERDICT_TIMEOUT,
            &[metric::CONTROL_PLANE_FETCHES.name],
            |m| {
                m.sum(
                    metric::CONTROL_PLANE_FETCHES.name,
                    &[("outcome", "invalid")],
                ) >= 1.0
            },
        )
        .await;
}

async fn fetches_counted(detector: &DetectProcess) {
    let m = detector.metrics().await;
    let outcome = |o: &str| m.sum(metric::CONTROL_PLANE_FETCHES.name, &[("outcome", o)]);
    assert_eq!(outcome("applied"), 2.0, "v1 and v2");
    assert!(outcome("failed") >= 1.0, "the 503s before v1");
    assert!(outcome("unchanged") >= 1.0, "v2 fetched again");
    assert!(outcome("invalid") >= 1.0);
    assert_eq!(
        m.sum(metric::LINEAGE_UNWATCHED.name, &[]),
        0.0,
        "nothing was removed"
    );
}
