//! The check on the detect end-to-end tests' harness: the truth its pipeline driver computes
//! is what the detector core concludes from the same traces and the same committed offsets.
//! It needs no `cairn detect`, so it runs on the mock cluster too; the end-to-end test that
//! relies on it is `detect_pipeline` in the `real_broker` binary.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use cairn_core::model::VerdictKind;
use cairn_testkit::detect::batches::{fates_a, fates_b};
use cairn_testkit::detect::reference::run_core;
use cairn_testkit::detect::verdicts::count_reason;
use cairn_testkit::detect::{DetectEnv, Pipeline, VerdictKey};
use cairn_testkit::kafka::TestKafka;
use cairn_testkit::metric;

/// Verdict by verdict, duplicates and losses by count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harness_truth_agrees_with_the_core() {
    let env = DetectEnv::new(
        Path::new(crate::CAIRN),
        TestKafka::start(),
        "detect-harness",
        3,
    )
    .await;
    let instance = env.instance("reference");
    let mut pipeline: Pipeline = env.pipeline();
    let batch_a = pipeline.batch(&fates_a());
    pipeline.play(&batch_a).await;
    let batch_b = pipeline.batch(&fates_b());
    pipeline.play(&batch_b).await;
    let truth = pipeline.truth();
    assert_eq!(truth.len(), 13);

    let core = run_core(&env.kafka, &instance.config(), Duration::from_secs(30)).await;
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
        m.total(metric::DUPLICATES.name, Some("written_twice")),
        written_twice
    );
    assert_eq!(
        m.total(metric::DUPLICATES.name, Some("delivered_twice")),
        delivered_twice
    );
    assert_eq!(
        m.total(metric::LOST.name, Some("committed_past")),
        count_reason(&truth, "committed_past")
    );
    assert_eq!(
        m.total(metric::LOST.name, Some("lost_in_app")),
        count_reason(&truth, "lost_in_app")
    );
    assert_eq!(
        m.total(metric::MESSAGES_SEEN.name, None),
        pipeline.message_count() as u64
    );
    assert_eq!(m.total(metric::STUCK.name, None), 0);
    assert_eq!(m.total(metric::TRACE_GAPS.name, None), 0);
}
