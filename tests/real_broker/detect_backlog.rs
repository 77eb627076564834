//! `cairn detect` starting behind a backlog of its own: a message's `received` trace sits far
//! behind its `sent` trace in the tracing topic, while the consumer's group has long committed
//! past the message. Reading the backlog takes longer than first_check + confirmation_delay,
//! so a detector that decided on what it had read so far would call the message lost (and
//! retract it later: a false alarm). Workers decide only on partitions read to their end, so
//! no verdict may come at all.
//!
//! It writes over half a million traces, so it takes the broker alone.

use std::time::{Duration, Instant};

use cairn_testkit::detect::pipeline::ids;
use cairn_testkit::detect::{DetectEnv, EXIT_TIMEOUT, Fate, GRACE, READY_TIMEOUT, Stage};
use cairn_testkit::metric;
use cairn_testkit::trace::TraceBuilder;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

/// Traces of another stream between the message's hops: enough that reading them takes well
/// over a second (first_check + confirmation_delay in the test config).
const FILLER: usize = 600_000;

fn write_filler(env: &DetectEnv) {
    let producer: ThreadedProducer<DefaultProducerContext> = env
        .kafka
        .config()
        .set("linger.ms", "50")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.messages", "1000000")
        .set("enable.idempotence", "true")
        .create()
        .expect("filler producer");
    for n in 0..FILLER {
        let id = format!("filler-{n}");
        let payload = TraceBuilder::new(id.as_str())
            .stream("elsewhere")
            .location("local/elsewhere")
            .at(0, n as i64)
            .app("other")
            .ts(0)
            .encode();
        let mut record = BaseRecord::to(&env.names.tracing_topic)
            .key(&id)
            .payload(&payload);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, returned)) => {
                    record = returned;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }
    producer
        .flush(Duration::from_secs(60))
        .expect("filler flushed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_of_its_own_raises_no_false_alarm() {
    let env = DetectEnv::on_real_broker_alone(crate::cairn(), "detect-backlog", 1).await;
    let verdicts = env.watch_verdicts();
    let mut pipeline = env.pipeline();
    let batch = pipeline.batch(&[(Fate::Delivered, 5)]);
    let ids = ids(&batch);
    // The sent traces, then the backlog, then every later hop (each committed past).
    pipeline.produce(&batch).await;
    tokio::task::block_in_place(|| write_filler(&env));
    for stage in Stage::ALL {
        pipeline.process(stage, &ids).await;
    }
    assert!(pipeline.truth().is_empty(), "nothing is lost");

    let instance = env.instance("behind");
    let mut detector = env.spawn(&instance);
    detector.wait_ready(READY_TIMEOUT).await;
    let started = Instant::now();
    let total = pipeline.traces_written() + FILLER;
    detector
        .wait_metrics(
            "the backlog read",
            Duration::from_secs(120),
            &[metric::TRACES_CONSUMED.name],
            |scrape| scrape.sum(metric::TRACES_CONSUMED.name, &[]) >= total as f64,
        )
        .await;
    eprintln!("read {total} traces in {:?}", started.elapsed());
    tokio::time::sleep(GRACE).await;
    let scrape = detector.metrics().await;
    let names = [metric::LOST.name, metric::RETRACTED.name];
    assert_eq!(
        scrape.sum(metric::LOST.name, &[]) + scrape.sum(metric::RETRACTED.name, &[]),
        0.0,
        "a message was called lost while its trace waited in the backlog\n{}",
        scrape.show(&names)
    );
    assert_eq!(verdicts.count(), 0, "no verdict is published");
    assert_eq!(
        scrape.sum(metric::MESSAGES_COMPLETE.name, &[]),
        ids.len() as f64,
        "the messages were seen whole\n{}",
        scrape.show(&[metric::MESSAGES_COMPLETE.name])
    );
    let status = detector.terminate(EXIT_TIMEOUT).await;
    assert!(
        status.success(),
        "exit on SIGTERM: {status}\n{}",
        detector.logs()
    );
}
