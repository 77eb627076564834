//! `cairn detect` under the smallest `[detector] max_memory` (1 MiB): the messages it holds
//! while their next hops have not read them cost more than that, so most go to the disk tier.
//! They come back when their traces arrive (or their checks come due), and the verdicts are
//! exactly the true losses: each loss among them reported once, no delivered message called
//! lost. `/metrics` proves that messages really were on disk.

use std::time::Duration;

use cairn_testkit::detect::pipeline::ids;
use cairn_testkit::detect::{
    DetectEnv, EXIT_TIMEOUT, Fate, GRACE, READY_TIMEOUT, Stage, VERDICT_TIMEOUT, test_timing,
};
use cairn_testkit::metric;

/// Enough messages that their states are a few times 1 MiB (~150 bytes each on this stream).
const MESSAGES: usize = 12_000;

/// How long the verdicts may take. A worker that spills nearly every message reads slowly, and
/// its verdicts wait until it has read through their deadlines: on a loaded machine that took
/// more than the usual 20 s. This test is about which verdicts come, not how fast.
const SLOW_VERDICTS: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_tiny_memory_budget_spilled_messages_are_judged_exactly() {
    // Two tracing partitions: a worker slowed by its disk tier falls far behind the consumer,
    // and must judge neither partition past what it has read (`docs/spill.md`, "A slow
    // worker"): no lost verdict beyond the two true losses, and none retracted.
    let env = DetectEnv::on_real_broker(crate::cairn(), "detect-spill", 2).await;
    // Messages wait for the test to play their hops: longer than the usual 20 s on a loaded
    // machine, and none may be given up on meanwhile.
    let config = env
        .config()
        .max_memory("1MiB")
        .timing(test_timing().max_wait(Duration::from_secs(120)));
    let instance = env.instance_with("tiny", config);
    let verdicts = env.watch_verdicts();
    let mut detector = env.spawn(&instance);
    detector.wait_ready(READY_TIMEOUT).await;
    let mut pipeline = env.pipeline();
    let batch = pipeline.batch(&[
        (Fate::Delivered, MESSAGES - 2),
        (Fate::Skipped(Stage::Indexer), 1),
        (Fate::DroppedInApp(Stage::Enricher), 1),
    ]);
    let ids = ids(&batch);

    // Every message is sent and no hop has read one: all wait in the detector, over budget.
    pipeline.produce(&batch).await;
    let on_disk = detector
        .wait_metrics(
            "messages spilled to the disk tier",
            VERDICT_TIMEOUT,
            &[
                metric::MESSAGES_SPILLED.name,
                metric::MESSAGES_IN_MEMORY.name,
            ],
            |m| m.sum(metric::MESSAGES_SPILLED.name, &[]) > 0.0,
        )
        .await
        .sum(metric::MESSAGES_SPILLED.name, &[]);
    eprintln!("{on_disk} of {MESSAGES} messages on the disk tier");

    // Then every hop: the traces of spilled messages bring them back.
    for stage in Stage::ALL {
        pipeline.process(stage, &ids).await;
    }
    let truth = pipeline.truth();
    assert_eq!(truth.len(), 2, "the harness injected two losses");
    verdicts
        .expect_exactly(
            "two losses among spilled messages",
            &truth,
            SLOW_VERDICTS,
            GRACE,
        )
        .await;
    let complete = (MESSAGES - 2) as f64;
    let names = [
        metric::MESSAGES_COMPLETE.name,
        metric::LOST.name,
        metric::RETRACTED.name,
        metric::MESSAGES_SHED.name,
        metric::MESSAGES_SPILLED.name,
    ];
    let scrape = detector
        .wait_metrics(
            "every delivered message seen whole",
            SLOW_VERDICTS,
            &names,
            |m| m.sum(metric::MESSAGES_COMPLETE.name, &[]) >= complete,
        )
        .await;
    assert_eq!(
        scrape.sum(metric::MESSAGES_COMPLETE.name, &[]),
        complete,
        "{}",
        scrape.show(&names)
    );
    assert_eq!(
        scrape.sum(metric::LOST.name, &[]),
        2.0,
        "{}",
        scrape.show(&names)
    );
    assert_eq!(
        scrape.sum(metric::RETRACTED.name, &[]) + scrape.sum(metric::MESSAGES_SHED.name, &[]),
        0.0,
        "nothing retracted, nothing shed (the disk tier has room)\n{}",
        scrape.show(&names)
    );
    let status = detector.terminate(EXIT_TIMEOUT).await;
    assert!(
        status.success(),
        "exit on SIGTERM: {status}\n{}",
        detector.logs()
    );
}
