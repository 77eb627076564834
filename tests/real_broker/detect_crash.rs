//! kill -9 `cairn detect` mid-run and restart it: no verdict is lost and
//! none is repeated.
//!
//! Before the kill: batch A1 is played and all its verdicts are out; batch A2 is played just
//! before the kill, so its losses are being confirmed (or published) when the process dies;
//! batch B has reached t2 only, so the detector holds its messages in state, waiting on the
//! indexer. While the detector is down the indexer and the sink finish B and batch C is
//! played. After the restart the output topic must hold exactly the truth, each verdict once.

use std::time::Duration;

use cairn_testkit::detect::pipeline::ids;
use cairn_testkit::detect::verdicts::assert_exactly;
use cairn_testkit::detect::{
    DetectEnv, EXIT_TIMEOUT, Fate, GRACE, READY_TIMEOUT, Stage, VERDICT_TIMEOUT,
};

/// A loss at every hop, duplicates, and messages that go through.
fn fates() -> Vec<(Fate, usize)> {
    vec![
        (Fate::Delivered, 10),
        (Fate::Skipped(Stage::Enricher), 1),
        (Fate::DroppedInApp(Stage::Enricher), 1),
        (Fate::Skipped(Stage::Indexer), 1),
        (Fate::DroppedInApp(Stage::Indexer), 1),
        (Fate::Skipped(Stage::Sink), 1),
        (Fate::WrittenTwice, 1),
        (Fate::DeliveredTwice(Stage::Sink), 1),
    ]
}

/// How long after batch A2's commits the process is killed: past first_check (300 ms), inside
/// the confirmation delay (500 ms) of the losses decided first, before the next checkpoint.
const KILL_AFTER: Duration = Duration::from_millis(700);

/// After a kill -9 the dead member holds its partitions until its session times out (6 s in
/// the test config): the restarted detector gets them only then.
const AFTER_RESTART: Duration = Duration::from_secs(40);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_and_restart_loses_and_repeats_no_verdict() {
    let env = DetectEnv::on_real_broker(crate::cairn(), "detect-crash", 3).await;
    let instance = env.instance("crashy");
    let verdicts = env.watch_verdicts();
    let mut detector = env.spawn(&instance);
    detector.wait_ready(READY_TIMEOUT).await;
    let mut pipeline = env.pipeline();

    // A1: all the way through, and its verdicts out.
    let a1 = pipeline.batch(&fates());
    pipeline.play(&a1).await;
    let truth_a1 = pipeline.truth();
    assert_eq!(truth_a1.len(), 5);
    let seen = verdicts
        .wait_for("batch A1 before the crash", &truth_a1, VERDICT_TIMEOUT)
        .await;
    assert_exactly("batch A1 before the crash", &truth_a1, &seen);

    // A2: decidable just now; B: in the detector's state, waiting on the indexer.
    let a2 = pipeline.batch(&fates());
    pipeline.play(&a2).await;
    let b = pipeline.batch(&fates());
    let ids_b = ids(&b);
    pipeline.produce(&b).await;
    pipeline.process(Stage::Enricher, &ids_b).await;
    tokio::time::sleep(KILL_AFTER).await;
    detector.kill9();
    eprintln!(
        "killed with {} of {} verdicts out",
        verdicts.count(),
        pipeline.truth().len()
    );

    // While it is down: the indexer and the sink finish B, and C goes all the way through.
    pipeline.process(Stage::Indexer, &ids_b).await;
    pipeline.process(Stage::Sink, &ids_b).await;
    let c = pipeline.batch(&fates());
    pipeline.play(&c).await;
    let truth = pipeline.truth();
    assert_eq!(truth.len(), 20);

    let mut restarted = env.spawn(&instance);
    restarted.wait_ready(READY_TIMEOUT).await;
    verdicts
        .expect_exactly("after kill -9 and restart", &truth, AFTER_RESTART, GRACE)
        .await;

    let status = restarted.terminate(EXIT_TIMEOUT).await;
    assert!(
        status.success(),
        "cairn detect exited with {status} on SIGTERM\n{}",
        restarted.logs()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_exactly("after SIGTERM", &truth, &verdicts.seen());
}
