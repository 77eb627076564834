//! `cairn detect` on a three-hop pipeline whose truth is exact.
//!
//! The test plays the apps itself (tests/detect_support/pipeline.rs): it writes the records
//! and the traces and moves each app's committed offsets, injecting drops at every hop,
//! duplicates, and a consumer that stays behind for five seconds and then catches up. The
//! detector must report exactly the true losses, none about the messages the late consumer
//! has not yet committed past, count the duplicates, and exit 0 on SIGTERM.
//!
//! Needs a real broker (CAIRN_TEST_BROKERS); on the mock cluster the end-to-end test says it
//! is skipped. `harness_truth_agrees_with_the_core` checks the harness itself, on either.

mod common;
mod detect_support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use cairn_core::metrics::names;
use cairn_core::model::VerdictKind;
use common::TestKafka;
use detect_support::pipeline::ids;
use detect_support::prometheus::{Scrape, mentions};
use detect_support::verdicts::assert_exactly;
use detect_support::{
    DetectEnv, EXIT_TIMEOUT, Fate, GRACE, Pipeline, READY_TIMEOUT, STREAM, Stage, VERDICT_TIMEOUT,
    VerdictKey,
};

/// How long the late consumer stays behind.
const BEHIND: Duration = Duration::from_secs(5);

/// Batch A: every kind of loss at every hop, duplicates, and messages that go through.
fn fates_a() -> Vec<(Fate, usize)> {
    vec![
        (Fate::Delivered, 14),
        (Fate::Skipped(Stage::Enricher), 2),
        (Fate::DroppedInApp(Stage::Enricher), 2),
        (Fate::Skipped(Stage::Indexer), 2),
        (Fate::DroppedInApp(Stage::Indexer), 2),
        (Fate::Skipped(Stage::Sink), 2),
        (Fate::WrittenTwice, 2),
        (Fate::DeliveredTwice(Stage::Indexer), 2),
        (Fate::DeliveredTwice(Stage::Sink), 1),
    ]
}

/// Batch B: played while the indexer is behind; its losses are at and after the indexer,
/// so none of them is decidable until the indexer catches up.
fn fates_b() -> Vec<(Fate, usize)> {
    vec![
        (Fate::Delivered, 12),
        (Fate::Skipped(Stage::Indexer), 1),
        (Fate::DroppedInApp(Stage::Indexer), 1),
        (Fate::Skipped(Stage::Sink), 1),
        (Fate::DeliveredTwice(Stage::Sink), 1),
    ]
}

/// Lost verdicts of `truth` with `reason`.
fn count_reason(truth: &BTreeSet<VerdictKey>, reason: &str) -> u64 {
    truth.iter().filter(|k| k.reason == reason).count() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hop_pipeline_reports_exactly_the_true_losses() {
    let Some(env) = DetectEnv::on_real_broker("detect-pipeline", 3).await else {
        return;
    };
    let instance = env.instance("solo");
    let verdicts = env.watch_verdicts();
    let mut detector = env.spawn(&instance);
    detector.wait_ready(READY_TIMEOUT).await;
    let mut pipeline = env.pipeline();

    // Batch A goes all the way through.
    let batch_a = pipeline.batch(&fates_a());
    pipeline.play(&batch_a).await;
    let truth_a = pipeline.truth();
    assert_eq!(
        truth_a.len(),
        10,
        "the harness injected ten losses in batch A"
    );

    // Batch B reaches t2; the indexer stays behind: no commit past it, no traces from it.
    let batch_b = pipeline.batch(&fates_b());
    let ids_b = ids(&batch_b);
    pipeline.produce(&batch_b).await;
    pipeline.process(Stage::Enricher, &ids_b).await;
    let behind_since = Instant::now();
    assert_eq!(pipeline.truth(), truth_a, "nothing in batch B is lost yet");

    // Meanwhile batch A's losses come out, exactly.
    verdicts
        .expect_exactly(
            "batch A, indexer behind on batch B",
            &truth_a,
            VERDICT_TIMEOUT,
            GRACE,
        )
        .await;
    let all_seen = (batch_a.len() + batch_b.len()) as f64;
    detector
        .wait_metrics(
            "every message seen while the indexer is behind",
            VERDICT_TIMEOUT,
            &[names::MESSAGES_SEEN],
            |m| m.sum(names::MESSAGES_SEEN, &[("stream", STREAM)]) >= all_seen,
        )
        .await;
    tokio::time::sleep(BEHIND.saturating_sub(behind_since.elapsed())).await;
    let about_b = |seen: &[detect_support::verdicts::Seen]| {
        seen.iter()
            .filter(|s| ids_b.contains(&s.verdict.id))
            .map(|s| VerdictKey::from(&s.verdict).to_string())
            .collect::<Vec<_>>()
    };
    let early = about_b(&verdicts.seen());
    assert!(
        early.is_empty(),
        "verdicts about messages whose consumer is only behind ({:?} behind):\n{}",
        behind_since.elapsed(),
        early.join("\n")
    );

    // The indexer catches up (its traces arrive late), then the sink reads batch B.
    let caught_up = Instant::now();
    pipeline.process(Stage::Indexer, &ids_b).await;
    pipeline.process(Stage::Sink, &ids_b).await;
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

    // Metrics: duplicates per kind and hop, losses per reason, every message seen, none stuck.
    let (written_twice, delivered_twice) = pipeline.duplicates();
    assert_eq!((written_twice, delivered_twice), (2, 6));
    let expected_lost = [
        ("committed_past", count_reason(&truth, "committed_past")),
        ("lost_in_app", count_reason(&truth, "lost_in_app")),
        ("expired", 0),
    ];
    let check = |m: &Scrape| {
        let dup = |kind: &str| m.sum(names::DUPLICATES, &[("stream", STREAM), ("kind", kind)]);
        let dup_at = |kind: &str, app: &str| {
            m.sum_where(names::DUPLICATES, |l| {
                l.get("kind").is_some_and(|k| k == kind) && mentions(l, app)
            })
        };
        dup("written_twice") == written_twice as f64
            && dup("delivered_twice") == delivered_twice as f64
            && dup_at("written_twice", detect_support::API) == 2.0
            && dup_at("delivered_twice", Stage::Enricher.app()) == 2.0
            && dup_at("delivered_twice", Stage::Indexer.app()) == 2.0
            && dup_at("delivered_twice", Stage::Sink.app()) == 2.0
            && expected_lost.iter().all(|(reason, n)| {
                m.sum(names::LOST, &[("stream", STREAM), ("reason", reason)]) == *n as f64
            })
            && m.sum(names::MESSAGES_SEEN, &[("stream", STREAM)]) == all_seen
            && m.sum(names::STUCK, &[]) == 0.0
            && m.sum(names::RETRACTED, &[]) == 0.0
    };
    detector
        .wait_metrics(
            "duplicates, losses and messages counted",
            VERDICT_TIMEOUT,
            &[
                names::DUPLICATES,
                names::LOST,
                names::MESSAGES_SEEN,
                names::STUCK,
                names::RETRACTED,
            ],
            check,
        )
        .await;

    // The JSON face: per-stream counters and the recent verdicts.
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
    for key in &truth {
        assert!(
            text.contains(&format!("\"{}\"", key.id)),
            "/api/lost does not show {key}: {lost}"
        );
    }
    detector.get_ok("/healthz").await;

    // SIGTERM: flush, commit, exit 0, and nothing more on the topic.
    let status = detector.terminate(EXIT_TIMEOUT).await;
    assert!(
        status.success(),
        "cairn detect exited with {status} on SIGTERM\n{}",
        detector.logs()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_exactly("after SIGTERM", &truth, &verdicts.seen());
}

/// The harness's truth is what the detector core concludes from the same traces and the
/// same committed offsets: verdict by verdict, duplicates and losses by count. Runs on the
/// mock cluster too; needs no `cairn detect`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harness_truth_agrees_with_the_core() {
    let env = DetectEnv::new(TestKafka::start(), "detect-harness", 3).await;
    let instance = env.instance("reference");
    let mut pipeline: Pipeline = env.pipeline();
    let batch_a = pipeline.batch(&fates_a());
    pipeline.play(&batch_a).await;
    let batch_b = pipeline.batch(&fates_b());
    pipeline.play(&batch_b).await;
    let truth = pipeline.truth();
    assert_eq!(truth.len(), 13);

    let core = detect_support::reference::run_core(
        &env.kafka,
        &instance.config(),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(core.traces, pipeline.traces_written());
    let got: BTreeSet<VerdictKey> = core.verdicts.iter().map(VerdictKey::from).collect();
    assert!(
        core.verdicts.iter().all(|v| v.verdict == VerdictKind::Lost),
        "no retraction expected"
    );
    assert_eq!(
        core.verdicts.len(),
        got.len(),
        "the core repeated a verdict"
    );
    assert_eq!(
        got, truth,
        "the harness's truth is not what the core concludes"
    );

    let (written_twice, delivered_twice) = pipeline.duplicates();
    let m = &core.metrics;
    assert_eq!(
        m.total(names::DUPLICATES, Some("written_twice")),
        written_twice
    );
    assert_eq!(
        m.total(names::DUPLICATES, Some("delivered_twice")),
        delivered_twice
    );
    assert_eq!(
        m.total(names::LOST, Some("committed_past")),
        count_reason(&truth, "committed_past")
    );
    assert_eq!(
        m.total(names::LOST, Some("lost_in_app")),
        count_reason(&truth, "lost_in_app")
    );
    assert_eq!(
        m.total(names::MESSAGES_SEEN, None),
        pipeline.message_count() as u64
    );
    assert_eq!(m.total(names::STUCK, None), 0);
    assert_eq!(m.total(names::TRACE_GAPS, None), 0);
}

#[test]
fn prometheus_reader_parses_the_text_format() {
    let text = "# HELP cairn_lost_total Lost.\n# TYPE cairn_lost_total counter\n\
        cairn_lost_total{stream=\"orders\",app=\"sink\",reason=\"committed_past\"} 2\n\
        cairn_lost_total{stream=\"orders\",hop=\"a \\\"q\\\"\",reason=\"expired\"} 1 1700000000000\n\
        cairn_up 1\n";
    let scrape = Scrape::parse(text).expect("parses");
    assert_eq!(scrape.samples.len(), 3);
    assert_eq!(scrape.sum("cairn_lost_total", &[]), 3.0);
    assert_eq!(
        scrape.sum("cairn_lost_total", &[("reason", "committed_past")]),
        2.0
    );
    assert_eq!(scrape.samples[1].labels["hop"], "a \"q\"");
    assert_eq!(
        scrape.sum_where("cairn_lost_total", |l| mentions(l, "sink")),
        2.0
    );
    assert_eq!(scrape.sum("cairn_up", &[]), 1.0);
    assert!(Scrape::parse("cairn_x{a=\"1\" 2").is_err());
}
