//! `cairn detect` on a three-hop pipeline whose truth is exact.
//!
//! The test plays the apps itself (`cairn_testkit::detect::pipeline`): it writes the records
//! and the traces and moves each app's committed offsets, injecting drops at every hop,
//! duplicates, and a consumer that stays behind for five seconds and then catches up. The
//! detector must report exactly the true losses, none about the messages the late consumer
//! has not yet committed past, count the duplicates, and exit 0 on SIGTERM.
//!
//! `detect_harness::harness_truth_agrees_with_the_core` (in the `standalone` binary) checks
//! on the same batches that this truth is what the core concludes.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use cairn_testkit::detect::batches::{fates_a, fates_b};
use cairn_testkit::detect::pipeline::ids;
use cairn_testkit::detect::verdicts::{assert_exactly, count_reason};
use cairn_testkit::detect::{
    API, DetectEnv, DetectProcess, EXIT_TIMEOUT, Fate, GRACE, Pipeline, READY_TIMEOUT, STREAM,
    Stage, VERDICT_TIMEOUT, VerdictKey, VerdictWatch,
};
use cairn_testkit::metric;
use cairn_testkit::prom::{Scrape, mentions};

/// How long the late consumer stays behind.
const BEHIND: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hop_pipeline_reports_exactly_the_true_losses() {
    let env = DetectEnv::on_real_broker(crate::cairn(), "detect-pipeline", 3).await;
    let instance = env.instance("solo");
    let verdicts = env.watch_verdicts();
    let mut detector = env.spawn(&instance);
    detector.wait_ready(READY_TIMEOUT).await;
    let mut pipeline = env.pipeline();

    let (batch_a, truth_a) = play_batch_a(&mut pipeline).await;
    let (ids_b, behind_since) = leave_the_indexer_behind_on_batch_b(&mut pipeline, &truth_a).await;
    let all_seen = (batch_a.len() + ids_b.len()) as f64;
    expect_only_batch_a_while_behind(
        &verdicts,
        &detector,
        &truth_a,
        &ids_b,
        all_seen,
        behind_since,
    )
    .await;
    let truth = catch_up_and_expect_batch_b(&mut pipeline, &verdicts, &ids_b).await;
    assert_counters_match_truth(&pipeline, &detector, &truth, all_seen).await;
    assert_api_shows_the_losses(&detector, &truth).await;
    terminate_and_expect_nothing_more(&mut detector, &verdicts, &truth).await;
}

/// Batch A goes all the way through; returns it and its truth.
async fn play_batch_a(pipeline: &mut Pipeline) -> (Vec<(String, Fate)>, BTreeSet<VerdictKey>) {
    let batch_a = pipeline.batch(&fates_a());
    pipeline.play(&batch_a).await;
    let truth_a = pipeline.truth();
    assert_eq!(
        truth_a.len(),
        10,
        "the harness injected ten losses in batch A"
    );
    (batch_a, truth_a)
}

/// Batch B reaches t2; the indexer stays behind: no commit past it, no traces from it.
/// Returns batch B's ids and when the indexer fell behind.
async fn leave_the_indexer_behind_on_batch_b(
    pipeline: &mut Pipeline,
    truth_a: &BTreeSet<VerdictKey>,
) -> (Vec<String>, Instant) {
    let batch_b = pipeline.batch(&fates_b());
    let ids_b = ids(&batch_b);
    pipeline.produce(&batch_b).await;
    pipeline.process(Stage::Enricher, &ids_b).await;
    let behind_since = Instant::now();
    assert_eq!(&pipeline.truth(), truth_a, "nothing in batch B is lost yet");
    (ids_b, behind_since)
}

/// Meanwhile batch A's losses come out, exactly, and for [`BEHIND`] nothing about batch B,
/// though the detector has seen every message.
async fn expect_only_batch_a_while_behind(
    verdicts: &VerdictWatch,
    detector: &DetectProcess,
    truth_a: &BTreeSet<VerdictKey>,
    ids_b: &[String],
    all_seen: f64,
    behind_since: Instant,
) {
    verdicts
        .expect_exactly(
            "batch A, indexer behind on batch B",
            truth_a,
            VERDICT_TIMEOUT,
            GRACE,
        )
        .await;
    detector
        .wait_metrics(
            "every message seen while the indexer is behind",
            VERDICT_TIMEOUT,
            &[metric::MESSAGES_SEEN.name],
            |m| m.sum(metric::MESSAGES_SEEN.name, &[("stream", STREAM)]) >= all_seen,
        )
        .await;
    tokio::time::sleep(BEHIND.saturating_sub(behind_since.elapsed())).await;
    let early: Vec<String> = verdicts
        .seen()
        .iter()
        .filter(|s| ids_b.contains(&s.verdict.id))
        .map(|s| VerdictKey::from(&s.verdict).to_string())
        .collect();
    assert!(
        early.is_empty(),
        "verdicts about messages whose consumer is only behind ({:?} behind):\n{}",
        behind_since.elapsed(),
        early.join("\n")
    );
}

/// The indexer catches up (its traces arrive late), then the sink reads batch B: batch B's
/// losses come out, none before the catch-up. Returns the whole truth.
async fn catch_up_and_expect_batch_b(
    pipeline: &mut Pipeline,
    verdicts: &VerdictWatch,
    ids_b: &[String],
) -> BTreeSet<VerdictKey> {
    let caught_up = Instant::now();
    pipeline.process(Stage::Indexer, ids_b).await;
    pipeline.process(Stage::Sink, ids_b).await;
    let truth = pipeline.truth();
    assert_eq!(truth.len(), 13, "three more losses in batch B");
    let seen = verdicts
        .expect_exactly(
            "after the indexer caught up",
            &truth,
            VERDICT_TIMEOUT,
            GRACE,
        )
        .await;
    for s in seen.iter().filter(|s| ids_b.contains(&s.verdict.id)) {
        assert!(
            s.at >= caught_up,
            "{} came before the indexer caught up",
            VerdictKey::from(&s.verdict)
        );
    }
    truth
}

/// Metrics: duplicates per kind and hop, losses per reason, every message seen, none stuck.
async fn assert_counters_match_truth(
    pipeline: &Pipeline,
    detector: &DetectProcess,
    truth: &BTreeSet<VerdictKey>,
    all_seen: f64,
) {
    let (written_twice, delivered_twice) = pipeline.duplicates();
    assert_eq!((written_twice, delivered_twice), (2, 6));
    let expected_lost = [
        ("committed_past", count_reason(truth, "committed_past")),
        ("lost_in_app", count_reason(truth, "lost_in_app")),
        ("expired", 0),
    ];
    let check = |m: &Scrape| {
        let dup = |kind: &str| {
            m.sum(
                metric::DUPLICATES.name,
                &[("stream", STREAM), ("kind", kind)],
            )
        };
        let dup_at = |kind: &str, app: &str| {
            m.sum_where(metric::DUPLICATES.name, |l| {
                l.get("kind").is_some_and(|k| k == kind) && mentions(l, app)
            })
        };
        dup("written_twice") == written_twice as f64
            && dup("delivered_twice") == delivered_twice as f64
            && dup_at("written_twice", API) == 2.0
            && dup_at("delivered_twice", Stage::Enricher.app()) == 2.0
            && dup_at("delivered_twice", Stage::Indexer.app()) == 2.0
            && dup_at("delivered_twice", Stage::Sink.app()) == 2.0
            && expected_lost.iter().all(|(reason, n)| {
                m.sum(metric::LOST.name, &[("stream", STREAM), ("reason", reason)]) == *n as f64
            })
            && m.sum(metric::MESSAGES_SEEN.name, &[("stream", STREAM)]) == all_seen
            && m.sum(metric::STUCK.name, &[]) == 0.0
            && m.sum(metric::RETRACTED.name, &[]) == 0.0
    };
    detector
        .wait_metrics(
            "duplicates, losses and messages counted",
            VERDICT_TIMEOUT,
            &[
                metric::DUPLICATES.name,
                metric::LOST.name,
                metric::MESSAGES_SEEN.name,
                metric::STUCK.name,
                metric::RETRACTED.name,
            ],
            check,
        )
        .await;
}

/// The JSON face: per-stream counters and the recent verdicts, every true loss among them.
async fn assert_api_shows_the_losses(detector: &DetectProcess, truth: &BTreeSet<VerdictKey>) {
    let streams = detector.get_ok("/api/streams").await;
    let parsed: serde_json::Value = serde_json::from_str(&streams).expect("/api/streams is JSON");
    assert!(
        parsed.to_string().contains(&format!("\"{STREAM}\"")),
        "/api/streams does not name stream {STREAM}: {streams}"
    );
    let lost = detector
        .get_ok(&format!("/api/lost?stream={STREAM}&limit=1000"))
        .await;
    let parsed: serde_json::Value = serde_json::from_str(&lost).expect("/api/lost is JSON");
    let text = parsed.to_string();
    for key in truth {
        assert!(
            text.contains(&format!("\"{}\"", key.id)),
            "/api/lost does not show {key}: {lost}"
        );
    }
    detector.get_ok("/healthz").await;
}

/// SIGTERM: flush, commit, exit 0, and nothing more on the topic.
async fn terminate_and_expect_nothing_more(
    detector: &mut DetectProcess,
    verdicts: &VerdictWatch,
    truth: &BTreeSet<VerdictKey>,
) {
    let status = detector.terminate(EXIT_TIMEOUT).await;
    assert!(
        status.success(),
        "cairn detect exited with {status} on SIGTERM\n{}",
        detector.logs()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_exactly("after SIGTERM", truth, &verdicts.seen());
}
