//! Faults of `cairn watch` (docs/watch.md) on a real broker: topics a watched group reads are
//! grown, deleted and recreated under it, and its first unread records carry timestamps it
//! cannot use as they are. Each change shows in the group's report within a round or two, is
//! counted in `cairn_watch_topic_changes_total` / `cairn_watch_odd_timestamps_total` and said
//! in a log line, and none of it is a stuck group or an incident.

use std::time::{Duration, Instant};

use cairn_testkit::detect::EXIT_TIMEOUT;
use cairn_testkit::metric;
use cairn_testkit::names::rand_topic;
use cairn_testkit::process::DetectProcess;
use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::FutureRecord;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;

use super::watch::{CLUSTER, LOOK_EVERY, OBSERVATION_SLACK, POLL, TIMEOUT, World, report};

/// Commits `offset` on `topic`/`partition` for the world's group, from outside the group.
fn commit_on(world: &World, topic: &str, partition: i32, offset: i64) {
    let consumer: BaseConsumer = world
        .kafka
        .config()
        .set("group.id", &world.group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("create the committing consumer");
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset(topic, partition, Offset::Offset(offset))
        .expect("an offset");
    consumer
        .commit(&offsets, CommitMode::Sync)
        .expect("commit the group's offset");
}

/// Log text without its colour escapes (`ESC [ ... m`).
fn plain(logs: &str) -> String {
    let mut out = String::with_capacity(logs.len());
    let mut chars = logs.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for skipped in chars.by_ref() {
                if skipped == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The (topic, partition) pairs of a report.
fn partitions(report: &Value) -> Vec<(String, i64)> {
    report["partitions"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    (
                        p["topic"].as_str().unwrap_or_default().to_owned(),
                        p["partition"].as_i64().unwrap_or(-1),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until the group's report satisfies `pred`, checking every report on the way is not
/// stuck; returns it and how long it took.
async fn wait_report(
    watch: &DetectProcess,
    group: &str,
    within: Duration,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> (Value, Duration) {
    let started = Instant::now();
    let mut last = None;
    loop {
        if let Some(report) = report(watch, group).await {
            assert_ne!(report["state"], "stuck", "{report}");
            if pred(&report) {
                return (report, started.elapsed());
            }
            last = Some(report);
        }
        assert!(
            started.elapsed() < within,
            "{what}: not seen within {within:?}; last report: {last:?}"
        );
        tokio::time::sleep(LOOK_EVERY).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_grown_deleted_and_recreated_under_a_group_are_followed_and_counted() {
    let world = World::start("watch-topics").await;
    let other = rand_topic("watch-topics-other");
    world.kafka.create_topic(&other, 1).await;
    commit_on(&world, &world.topic, 0, 0);
    commit_on(&world, &other, 0, 0);
    let mut watch = world.spawn_watch().await;
    let admin: AdminClient<DefaultClientContext> =
        world.kafka.config().create().expect("an admin client");
    let options = AdminOptions::new().operation_timeout(Some(TIMEOUT));
    // A round that was already under way when the change landed, then the next one.
    let one_round = 2 * POLL + OBSERVATION_SLACK;

    wait_report(&watch, &world.group, TIMEOUT, "both topics", |r| {
        partitions(r).len() == 2 && r["state"] == "ok"
    })
    .await;

    admin
        .create_partitions(&[NewPartitions::new(&world.topic, 3)], &options)
        .await
        .expect("create partitions")
        .into_iter()
        .for_each(|r| {
            r.expect("partitions added");
        });
    let (grown, took) = wait_report(&watch, &world.group, TIMEOUT, "added partitions", |r| {
        partitions(r).len() == 4
    })
    .await;
    eprintln!("added partitions reported after {took:?}");
    assert!(
        took <= one_round,
        "added partitions seen only after {took:?}"
    );
    let new_one = grown["partitions"]
        .as_array()
        .and_then(|ps| {
            ps.iter()
                .find(|p| p["topic"] == world.topic.as_str() && p["partition"] == 2)
        })
        .expect("partition 2 is reported");
    assert_eq!(new_one["state"], "no_commit", "{grown}");

    admin
        .delete_topics(&[&other], &options)
        .await
        .expect("delete the topic")
        .into_iter()
        .for_each(|r| {
            r.expect("deleted");
        });
    let (_, took) = wait_report(&watch, &world.group, TIMEOUT, "the deletion", |r| {
        partitions(r).iter().all(|(t, _)| t != &other)
    })
    .await;
    eprintln!("deleted topic dropped from the report after {took:?}");
    assert!(
        took <= one_round,
        "deleted topic still reported {took:?} after"
    );

    world.kafka.create_topic(&other, 1).await;
    commit_on(&world, &other, 0, 0);
    let (back, _) = wait_report(&watch, &world.group, TIMEOUT, "the recreated topic", |r| {
        partitions(r).iter().any(|(t, _)| t == &other)
    })
    .await;
    let recreated = back["partitions"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["topic"] == other.as_str()))
        .expect("the recreated topic");
    assert_eq!(recreated["log_end"], 0, "a new log: {back}");

    let metrics = watch.metrics().await;
    for change in ["partitions_added", "deleted", "recreated"] {
        let labels = [("cluster", CLUSTER), ("change", change)];
        assert_eq!(
            metrics.sum(metric::WATCH_TOPIC_CHANGES.name, &labels),
            1.0,
            "{change}"
        );
    }
    watch.terminate(EXIT_TIMEOUT).await;
    let logs = plain(&watch.logs());
    for change in ["partitions_added", "deleted", "recreated"] {
        assert!(
            logs.lines().any(|l| l.contains("watched topic changed")
                && l.contains(&format!("change=\"{change}\""))),
            "a log line for {change}"
        );
    }
    assert!(world.incidents().is_empty(), "no incident");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_unread_record_from_the_future_is_clamped_and_counted_once() {
    let world = World::start("watch-timestamps").await;
    let producer = world.producer();
    let send = |timestamp: i64| {
        let producer = producer.clone();
        let topic = world.topic.clone();
        async move {
            producer
                .send(
                    FutureRecord::<(), _>::to(&topic)
                        .payload("odd")
                        .timestamp(timestamp),
                    TIMEOUT,
                )
                .await
                .map_err(|(err, _)| err)
                .expect("produce")
        }
    };
    // Ten minutes ahead, three times.
    let future = super::watch::now_millis() + 600_000;
    for _ in 0..3 {
        send(future).await;
    }
    commit_on(&world, &world.topic, 0, 0);
    let mut watch = world.spawn_watch().await;
    let (clamped, _) = wait_report(&watch, &world.group, TIMEOUT, "a clamped lag", |r| {
        r["partitions"][0]["lag_method"] == "first_unread_record"
    })
    .await;
    assert_eq!(clamped["lag_seconds"], 0.0, "clamped to now: {clamped}");
    assert_eq!(clamped["lag_records"], 3, "{clamped}");
    tokio::time::sleep(3 * POLL).await;
    let labels = |kind| [("cluster", CLUSTER), ("kind", kind)];
    let metrics = watch.metrics().await;
    assert_eq!(
        metrics.sum(metric::WATCH_ODD_TIMESTAMPS.name, &labels("future")),
        1.0,
        "the first unread record counted once, not once per round"
    );
    watch.terminate(EXIT_TIMEOUT).await;
    assert!(
        plain(&watch.logs())
            .lines()
            .any(|l| l.contains("odd timestamps") && l.contains("future=1")),
        "a log line"
    );
}
