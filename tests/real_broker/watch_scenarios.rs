//! Scenarios 3, 4 and 5 of `cairn watch` (docs/watch.md) on a real broker, with a 10 s window
//! and a 1 s poll:
//! - a consumer that reads 5 records a second of the 10 written, committing every 2 s, is
//!   never stuck, is `falling_behind` within three windows of the first known lag, and its
//!   `lag_seconds` stays within 2 s of the true age of the record at its committed offset;
//! - a caught-up `read_committed` consumer of a transactional producer, committing the offset
//!   after each transaction's last record (so the commit marker stays unread), shows a lag of 0
//!   records and is never stuck;
//! - a consumer of a compacted topic (compaction really runs: the test sees offsets removed)
//!   that keeps committing is never stuck.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cairn_testkit::detect::EXIT_TIMEOUT;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;

use super::watch::{
    LOOK_EVERY, OBSERVATION_SLACK, POLL, TIMEOUT, WINDOW, World, now_millis, report, wait_state,
};

/// Commits `offset` on partition 0 of `topic` for the consumer's group.
fn commit(consumer: &BaseConsumer, topic: &str, offset: i64) {
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset(topic, 0, Offset::Offset(offset))
        .expect("an offset");
    consumer
        .commit(&offsets, CommitMode::Sync)
        .expect("commit the group's offset");
}

/// A member of the test's group (subscribed, so the group is `stable` with one member) that
/// commits only what the test tells it to.
fn member(world: &World, extra: &[(&str, &str)]) -> BaseConsumer {
    let mut config = world.kafka.config();
    config
        .set("group.id", &world.group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest");
    for (key, value) in extra {
        config.set(*key, *value);
    }
    let consumer: BaseConsumer = config.create().expect("create the group's member");
    consumer.subscribe(&[&world.topic]).expect("subscribe");
    let deadline = Instant::now() + TIMEOUT;
    while consumer.assignment().map(|a| a.count()).unwrap_or(0) == 0 {
        assert!(Instant::now() < deadline, "the member got no partition");
        consumer.poll(Duration::from_millis(100));
    }
    consumer
}

/// Writes 10 records a second, each stamped with the time it is sent; the stamps are kept by
/// offset. Stops when the returned flag is set.
fn produce_stamped(
    world: &World,
    key_space: Option<u64>,
) -> (Arc<AtomicBool>, Arc<Mutex<BTreeMap<i64, i64>>>) {
    let stop = Arc::new(AtomicBool::new(false));
    let stamps = Arc::new(Mutex::new(BTreeMap::new()));
    let producer = world.producer();
    let topic = world.topic.clone();
    let (flag, kept) = (stop.clone(), stamps.clone());
    tokio::spawn(async move {
        let mut n = 0u64;
        let mut next = tokio::time::Instant::now();
        while !flag.load(Ordering::Relaxed) {
            let stamp = now_millis();
            let payload = format!("record-{n}");
            let key = key_space
                .map(|k| format!("key-{}", n % k))
                .unwrap_or_default();
            let mut record = FutureRecord::to(&topic).payload(&payload).timestamp(stamp);
            if key_space.is_some() {
                record = record.key(&key);
            }
            if let Ok(delivery) = producer.send(record, TIMEOUT).await {
                kept.lock().expect("stamps").insert(delivery.offset, stamp);
            }
            n += 1;
            next += Duration::from_millis(100);
            tokio::time::sleep_until(next).await;
        }
    });
    (stop, stamps)
}

/// The report's only partition.
fn partition(report: &Value) -> &Value {
    &report["partitions"][0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_3_a_half_speed_consumer_falls_behind_is_never_stuck_and_its_lag_is_true() {
    let world = World::start("watch-half-speed").await;
    let mut watch = world.spawn_watch().await;
    let (producing, stamps) = produce_stamped(&world, None);

    // The member commits 10 records further every 2 s: half of what is written.
    let committed = Arc::new(AtomicI64::new(0));
    let consuming = Arc::new(AtomicBool::new(true));
    let member = {
        let (world_topic, committed, consuming) =
            (world.topic.clone(), committed.clone(), consuming.clone());
        let consumer = member(&world, &[]);
        std::thread::spawn(move || {
            commit(&consumer, &world_topic, 0);
            let mut next_commit = Instant::now() + Duration::from_secs(2);
            while consuming.load(Ordering::Relaxed) {
                consumer.poll(Duration::from_millis(100));
                if Instant::now() >= next_commit {
                    let target = committed.load(Ordering::Relaxed) + 10;
                    commit(&consumer, &world_topic, target);
                    committed.store(target, Ordering::Relaxed);
                    next_commit += Duration::from_secs(2);
                }
            }
        })
    };

    let mut first_known: Option<Instant> = None;
    let mut falling_behind_after = None;
    let mut compared = 0;
    let mut worst_error = 0.0f64;
    let started = Instant::now();
    while started.elapsed() < 4 * WINDOW {
        tokio::time::sleep(LOOK_EVERY * 2).await;
        let Some(report) = report(&watch, &world.group).await else {
            continue;
        };
        // What the test knows at the moment it read the report.
        let now = now_millis();
        let ours = committed.load(Ordering::Relaxed);
        let state = report["state"].as_str().unwrap_or_default().to_owned();
        assert_ne!(
            state, "stuck",
            "a consumer that commits is never stuck: {report}"
        );
        let Some(lag) = partition(&report)["lag_seconds"].as_f64() else {
            continue;
        };
        let first = *first_known.get_or_insert_with(Instant::now);
        let Some(stamp) = stamps.lock().expect("stamps").get(&ours).copied() else {
            continue;
        };
        let truth = (now - stamp) as f64 / 1000.0;
        let error = lag - truth;
        worst_error = worst_error.max(error.abs());
        assert!(
            error.abs() <= 2.0,
            "lag_seconds {lag} vs the true age {truth} of the record at offset {ours} \
             ({}): {report}",
            partition(&report)["lag_method"]
        );
        compared += 1;
        if state == "falling_behind" && falling_behind_after.is_none() {
            falling_behind_after = Some(first.elapsed());
        }
    }
    eprintln!(
        "falling_behind after {falling_behind_after:?} from the first known lag; {compared} \
         lag comparisons, worst error {worst_error:.2} s"
    );
    let after = falling_behind_after.expect("never reported falling_behind");
    assert!(
        after <= 3 * WINDOW + 2 * POLL + OBSERVATION_SLACK,
        "falling_behind only {after:?} after the first known lag"
    );
    assert!(compared >= 40, "only {compared} lag comparisons");
    assert!(world.incidents().is_empty(), "no incident");

    consuming.store(false, Ordering::Relaxed);
    producing.store(true, Ordering::Relaxed);
    member.join().expect("the member thread");
    watch.terminate(EXIT_TIMEOUT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_4_a_caught_up_read_committed_consumer_of_transactions_has_no_lag_and_is_never_stuck()
 {
    let world = World::start("watch-transactions").await;
    let mut watch = world.spawn_watch().await;
    let producer: FutureProducer = world
        .kafka
        .config()
        .set("transactional.id", format!("{}-tx", world.group))
        .create()
        .expect("create the transactional producer");
    producer
        .init_transactions(TIMEOUT)
        .expect("init transactions");
    let consumer = member(&world, &[("isolation.level", "read_committed")]);

    let mut last_read = -1;
    let mut checked = 0;
    let started = Instant::now();
    // A transaction of 5 records, read, committed after its last record (the commit marker
    // stays unread), then a pause that lets at least one round see it.
    while started.elapsed() < 3 * WINDOW {
        producer.begin_transaction().expect("begin");
        for n in 0..5 {
            let payload = format!("record-{n}");
            producer
                .send(
                    FutureRecord::<(), _>::to(&world.topic).payload(&payload),
                    TIMEOUT,
                )
                .await
                .map_err(|(err, _)| err)
                .expect("produce in the transaction");
        }
        producer.commit_transaction(TIMEOUT).expect("commit");
        // Offsets count the markers too: read the transaction's five records.
        let mut read = 0;
        let deadline = Instant::now() + TIMEOUT;
        while read < 5 {
            assert!(Instant::now() < deadline, "the transaction was not read");
            if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
                last_read = message.offset();
                read += 1;
            }
        }
        commit(&consumer, &world.topic, last_read + 1);
        tokio::time::sleep(2 * POLL + OBSERVATION_SLACK).await;

        let report = report(&watch, &world.group)
            .await
            .expect("the group is watched");
        let p = partition(&report);
        assert_eq!(report["state"], "ok", "{report}");
        assert_eq!(p["committed"].as_i64(), Some(last_read + 1), "{report}");
        assert_eq!(
            p["log_end"].as_i64(),
            Some(last_read + 2),
            "one commit marker past the commit: {report}"
        );
        assert_eq!(p["lag_records"], 0, "the marker is no record: {report}");
        assert_eq!(p["lag_seconds"], 0.0, "{report}");
        checked += 1;
    }
    // Caught up, nothing more written: the marker waits for good, and is still no backlog.
    let (_, quiet_from) = wait_state(&watch, &world.group, TIMEOUT, |s| s == "ok").await;
    while quiet_from.elapsed() < WINDOW + 3 * POLL {
        let report = report(&watch, &world.group).await.expect("watched");
        assert_eq!(report["state"], "ok", "{report}");
        assert_eq!(report["lag_records"], 0, "{report}");
        assert!(report["stuck_since"].is_null(), "{report}");
        consumer.poll(Duration::from_millis(0));
        tokio::time::sleep(LOOK_EVERY * 2).await;
    }
    eprintln!("{checked} transactions checked at lag 0 with the marker unread");
    assert!(checked >= 5, "only {checked} transactions");
    assert!(world.incidents().is_empty(), "no incident");
    watch.terminate(EXIT_TIMEOUT).await;
}

/// Whether `topic` partition 0 has lost offsets below `end` to compaction: reads it from the
/// start and looks for a jump.
fn compacted_below(world: &World, end: i64) -> bool {
    let consumer: BaseConsumer = world
        .kafka
        .config()
        .set("group.id", format!("{}-reader", world.group))
        .set("enable.auto.commit", "false")
        .create()
        .expect("create the reader");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(&world.topic, 0, Offset::Beginning)
        .expect("an offset");
    consumer.assign(&assignment).expect("assign");
    let mut expected = 0;
    let deadline = Instant::now() + TIMEOUT;
    while expected < end && Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            if message.offset() != expected {
                return true;
            }
            expected += 1;
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_5_a_compacted_topic_whose_consumer_keeps_committing_is_never_stuck() {
    // Segments roll every second and are cleaned as soon as the cleaner looks at them.
    let world = World::start_with(
        "watch-compacted",
        &[
            ("cleanup.policy", "compact"),
            ("segment.ms", "1000"),
            ("min.cleanable.dirty.ratio", "0.01"),
            ("min.compaction.lag.ms", "0"),
            ("delete.retention.ms", "1000"),
        ],
    )
    .await;
    let mut watch = world.spawn_watch().await;
    // Five keys written over and over: almost everything becomes compactable.
    let (producing, stamps) = produce_stamped(&world, Some(5));
    let consumer = member(&world, &[]);
    // Every 2 s the group commits where the log ended 2 s before: records always wait
    // (so a stop would be stuck), and the commit often lands on an offset compaction removed.
    let mut previous_end = 0;
    let started = Instant::now();
    let mut next_commit = Instant::now();
    let mut compacted = false;
    let mut looks = 0;
    while started.elapsed() < 3 * WINDOW || !compacted {
        assert!(
            started.elapsed() < 8 * WINDOW,
            "the broker did not compact the topic in time"
        );
        if Instant::now() >= next_commit {
            commit(&consumer, &world.topic, previous_end);
            previous_end = stamps
                .lock()
                .expect("stamps")
                .last_key_value()
                .map_or(0, |(offset, _)| offset + 1);
            next_commit += Duration::from_secs(2);
            if !compacted && started.elapsed() > WINDOW {
                compacted = compacted_below(&world, previous_end);
            }
        }
        consumer.poll(Duration::from_millis(0));
        if let Some(report) = report(&watch, &world.group).await {
            assert_ne!(report["state"], "stuck", "{report}");
            assert!(report["stuck_since"].is_null(), "{report}");
            looks += 1;
        }
        tokio::time::sleep(LOOK_EVERY * 2).await;
    }
    eprintln!(
        "compaction seen within {:?}; {looks} looks, never stuck",
        started.elapsed()
    );
    assert!(world.incidents().is_empty(), "no incident");
    producing.store(true, Ordering::Relaxed);
    watch.terminate(EXIT_TIMEOUT).await;
}
