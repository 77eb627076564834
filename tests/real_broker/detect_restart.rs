//! A graceful restart resumes from the local snapshot (on assign it resumes from local
//! state where it matches the committed position): SIGTERM `cairn detect` while it holds
//! messages that wait on a consumer, start it again on the same store, and every partition is
//! restored from the snapshot, not the changelog; no verdict is lost and none is repeated.

use std::time::Duration;

use cairn_testkit::detect::pipeline::ids;
use cairn_testkit::detect::verdicts::assert_exactly;
use cairn_testkit::detect::{
    DetectEnv, EXIT_TIMEOUT, Fate, GRACE, READY_TIMEOUT, Stage, VERDICT_TIMEOUT,
};
use cairn_testkit::metric;

const PARTITIONS: i32 = 3;

fn fates() -> Vec<(Fate, usize)> {
    vec![
        (Fate::Delivered, 10),
        (Fate::Skipped(Stage::Enricher), 1),
        (Fate::DroppedInApp(Stage::Indexer), 1),
        (Fate::Skipped(Stage::Sink), 1),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_restart_resumes_from_the_local_snapshot() {
    let env = DetectEnv::on_real_broker(crate::cairn(), "detect-restart", PARTITIONS).await;
    let instance = env.instance("steady");
    let verdicts = env.watch_verdicts();
    let mut detector = env.spawn(&instance);
    detector.wait_ready(READY_TIMEOUT).await;
    let mut pipeline = env.pipeline();

    // A: all the way through, verdicts out. B: past the enricher only, so the detector holds
    // its messages in state when it stops.
    let a = pipeline.batch(&fates());
    pipeline.play(&a).await;
    let truth_a = pipeline.truth();
    let seen = verdicts
        .wait_for("batch A before the restart", &truth_a, VERDICT_TIMEOUT)
        .await;
    assert_exactly("batch A before the restart", &truth_a, &seen);
    let b = pipeline.batch(&fates());
    let ids_b = ids(&b);
    pipeline.produce(&b).await;
    pipeline.process(Stage::Enricher, &ids_b).await;
    detector
        .wait_metrics(
            "B's traces consumed",
            Duration::from_secs(30),
            &[metric::MESSAGES_SEEN.name],
            |scrape| scrape.sum(metric::MESSAGES_SEEN.name, &[]) >= pipeline.message_count() as f64,
        )
        .await;

    let status = detector.terminate(EXIT_TIMEOUT).await;
    assert!(
        status.success(),
        "exit on SIGTERM: {status}\n{}",
        detector.logs()
    );

    let mut restarted = env.spawn(&instance);
    restarted.wait_ready(READY_TIMEOUT).await;
    // Metrics are published with each checkpoint: wait for one that shows the restore.
    let restored = restarted
        .wait_metrics(
            "partitions restored with B's waiting messages",
            Duration::from_secs(60),
            &[
                metric::PARTITIONS_RESTORED.name,
                metric::MESSAGES_IN_MEMORY.name,
                metric::SNAPSHOT_FAILURES.name,
            ],
            |scrape| {
                scrape.sum(metric::PARTITIONS_RESTORED.name, &[]) >= f64::from(PARTITIONS)
                    && scrape.sum(metric::MESSAGES_IN_MEMORY.name, &[]) > 0.0
            },
        )
        .await;
    assert_eq!(
        restored.sum(metric::PARTITIONS_RESTORED.name, &[("from", "local")]),
        f64::from(PARTITIONS),
        "every partition comes back from the local snapshot\n{}",
        restored.show(&[
            metric::PARTITIONS_RESTORED.name,
            metric::SNAPSHOT_FAILURES.name
        ])
    );

    // B finishes, C goes through; the restored state decides B without repeating A.
    pipeline.process(Stage::Indexer, &ids_b).await;
    pipeline.process(Stage::Sink, &ids_b).await;
    let c = pipeline.batch(&fates());
    pipeline.play(&c).await;
    let truth = pipeline.truth();
    verdicts
        .expect_exactly("after the restart", &truth, VERDICT_TIMEOUT, GRACE)
        .await;
    let status = restarted.terminate(EXIT_TIMEOUT).await;
    assert!(
        status.success(),
        "exit on SIGTERM: {status}\n{}",
        restarted.logs()
    );
}

/// A message state in the changelog that does not decode is skipped and counted, and the rest
/// of its partition is restored: the job does not end its session over it (which would fail
/// the same way at every restart and watch nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_changelog_state_is_skipped_and_counted() {
    use rdkafka::producer::{FutureProducer, FutureRecord};

    let env = DetectEnv::on_real_broker(crate::cairn(), "detect-bad-state", PARTITIONS).await;
    let first = env.instance("first");
    let verdicts = env.watch_verdicts();
    let mut detector = env.spawn(&first);
    detector.wait_ready(READY_TIMEOUT).await;
    let mut pipeline = env.pipeline();

    // B waits on the indexer when the first instance stops: its state is in the changelog.
    let b = pipeline.batch(&fates());
    let ids_b = ids(&b);
    pipeline.produce(&b).await;
    pipeline.process(Stage::Enricher, &ids_b).await;
    detector
        .wait_metrics(
            "B's traces consumed",
            Duration::from_secs(30),
            &[metric::MESSAGES_SEEN.name],
            |scrape| scrape.sum(metric::MESSAGES_SEEN.name, &[]) >= pipeline.message_count() as f64,
        )
        .await;
    let status = detector.terminate(EXIT_TIMEOUT).await;
    assert!(
        status.success(),
        "exit on SIGTERM: {status}\n{}",
        detector.logs()
    );

    // A state nobody can decode, for a message of partition 0 of the tracing topic.
    let changelog = format!(
        "{}-{}-changelog",
        env.names.tracing_group, env.names.tracing_topic
    );
    let producer: FutureProducer = env.kafka.config().create().expect("a producer");
    let key = format!("{}\u{0}not-a-real-state", cairn_testkit::detect::STREAM);
    producer
        .send(
            FutureRecord::to(&changelog)
                .key(&key)
                .payload(&b"\xff\xfe not a state"[..])
                .partition(0),
            Duration::from_secs(10),
        )
        .await
        .expect("write the bad state");

    // A second instance with a store of its own restores every partition from the changelog.
    let second = env.instance("second");
    let mut restarted = env.spawn(&second);
    restarted.wait_ready(READY_TIMEOUT).await;
    let restored = restarted
        .wait_metrics(
            "partitions restored from the changelog",
            Duration::from_secs(60),
            &[
                metric::PARTITIONS_RESTORED.name,
                metric::STATE_UNREADABLE.name,
                metric::SESSION_RESTARTS.name,
            ],
            |scrape| scrape.sum(metric::PARTITIONS_RESTORED.name, &[]) >= f64::from(PARTITIONS),
        )
        .await;
    let show = restored.show(&[
        metric::PARTITIONS_RESTORED.name,
        metric::STATE_UNREADABLE.name,
        metric::SESSION_RESTARTS.name,
    ]);
    assert_eq!(
        restored.sum(metric::STATE_UNREADABLE.name, &[]),
        1.0,
        "the bad state is counted once\n{show}"
    );
    assert_eq!(
        restored.sum(metric::SESSION_RESTARTS.name, &[]),
        0.0,
        "no session restart over it\n{show}"
    );

    // The good states came back: B finishes and its verdicts are exact.
    pipeline.process(Stage::Indexer, &ids_b).await;
    pipeline.process(Stage::Sink, &ids_b).await;
    let truth = pipeline.truth();
    verdicts
        .expect_exactly("after the restore", &truth, VERDICT_TIMEOUT, GRACE)
        .await;
    let status = restarted.terminate(EXIT_TIMEOUT).await;
    assert!(
        status.success(),
        "exit on SIGTERM: {status}\n{}",
        restarted.logs()
    );
}
