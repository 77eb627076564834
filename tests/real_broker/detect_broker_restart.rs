//! The broker restarts under `cairn detect` (the promise: never "lose a verdict across a broker
//! restart"): with messages waiting in its state, the single broker is stopped, left down for
//! a while and started again. Detect's consumer loses the broker meanwhile (it then judges
//! nothing until it has read its partitions to their end again), and any checkpoint with
//! something to commit fails; it must keep running, resume, and end with exactly the true
//! verdicts, each once.
//!
//! It stops and starts the broker of `deploy/kafka/kafka.sh`, so it takes the broker alone.

use std::time::Duration;

use cairn_testkit::detect::pipeline::ids;
use cairn_testkit::detect::verdicts::assert_exactly;
use cairn_testkit::detect::{
    DetectEnv, EXIT_TIMEOUT, Fate, GRACE, READY_TIMEOUT, Stage, VERDICT_TIMEOUT, test_timing,
};
use cairn_testkit::kafka::kafka_sh;
use cairn_testkit::metric;

/// Longer than a checkpoint transaction's timeout, so checkpoints really fail meanwhile.
const DOWN_FOR: Duration = Duration::from_secs(12);
/// After the broker is back: a session restart's back-off, a rejoin and a restore.
const AFTER_RESTART: Duration = Duration::from_secs(90);
/// Batch B waits in detect's state through the outage and the restart (which took 25 s on a
/// slow machine): it must not reach `max_wait` meanwhile, or its losses are given up on as
/// stuck instead of found.
const MAX_WAIT: Duration = Duration::from_secs(180);
/// How long the restarted broker may take to serve the test's partitions again.
const SERVING_TIMEOUT: Duration = Duration::from_secs(90);

fn fates() -> Vec<(Fate, usize)> {
    vec![
        (Fate::Delivered, 10),
        (Fate::Skipped(Stage::Enricher), 1),
        (Fate::DroppedInApp(Stage::Indexer), 1),
        (Fate::Skipped(Stage::Sink), 1),
        (Fate::DeliveredTwice(Stage::Sink), 1),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_stops_no_verdict_and_repeats_none() {
    let env = DetectEnv::on_real_broker_alone(crate::cairn(), "detect-broker-restart", 3).await;
    let instance = env.instance_with(
        "steadfast",
        env.config().timing(test_timing().max_wait(MAX_WAIT)),
    );
    let verdicts = env.watch_verdicts();
    let mut detector = env.spawn(&instance);
    detector.wait_ready(READY_TIMEOUT).await;
    let mut pipeline = env.pipeline();

    // A: through and reported. B: past the enricher only, waiting in detect's state.
    let a = pipeline.batch(&fates());
    pipeline.play(&a).await;
    let truth_a = pipeline.truth();
    let seen = verdicts
        .wait_for(
            "batch A before the broker restart",
            &truth_a,
            VERDICT_TIMEOUT,
        )
        .await;
    assert_exactly("batch A before the broker restart", &truth_a, &seen);
    let b = pipeline.batch(&fates());
    let ids_b = ids(&b);
    pipeline.produce(&b).await;
    pipeline.process(Stage::Enricher, &ids_b).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    tokio::task::block_in_place(|| kafka_sh(&["stop"]));
    tokio::time::sleep(DOWN_FOR).await;
    detector.assert_alive("while the broker was down");
    tokio::task::block_in_place(|| kafka_sh(&["start"]));
    // The pipeline's clients give up on a record after 10 s; a broker restarting on a loaded
    // machine may take longer than that to serve its partitions again.
    let names = &env.names;
    let mut topics = vec![names.tracing_topic.as_str(), names.output_topic.as_str()];
    topics.extend(names.topics.iter().map(String::as_str));
    env.kafka.wait_serving(&topics, SERVING_TIMEOUT).await;
    let serving = std::time::Instant::now();

    // B finishes and C goes through once the broker is back.
    pipeline.process(Stage::Indexer, &ids_b).await;
    pipeline.process(Stage::Sink, &ids_b).await;
    let c = pipeline.batch(&fates());
    pipeline.play(&c).await;
    let truth = pipeline.truth();
    verdicts
        .expect_exactly("after the broker restart", &truth, AFTER_RESTART, GRACE)
        .await;
    eprintln!(
        "every verdict in, grace included, {:.1?} after the broker served again",
        serving.elapsed()
    );
    detector.assert_alive("after the broker restart");
    // The outage must have reached detect, or this test proves nothing.
    let scrape = detector.metrics().await;
    let hit = scrape.sum(metric::CHECKPOINT_FAILURES.name, &[])
        + scrape.sum(metric::SESSION_RESTARTS.name, &[])
        + scrape.sum(metric::CONSUMER_ERRORS.name, &[]);
    eprintln!(
        "{}",
        scrape.show(&[
            metric::CHECKPOINT_FAILURES.name,
            metric::SESSION_RESTARTS.name,
            metric::PARTITIONS_RESTORED.name,
            metric::CONSUMER_ERRORS.name,
            metric::STUCK.name,
        ])
    );
    assert!(hit > 0.0, "the broker outage never reached detect");
    assert_eq!(
        scrape.sum(metric::STUCK.name, &[]),
        0.0,
        "messages were given up on as stuck: the outage outlasted max_wait"
    );

    let status = detector.terminate(EXIT_TIMEOUT).await;
    assert!(
        status.success(),
        "cairn detect exited with {status} on SIGTERM\n{}",
        detector.logs()
    );
}
