//! The offsets oracle against Kafka: what the pollers publish is exactly what the watched
//! groups committed and what the partitions hold, and it follows them as they move.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cairn_core::config::ClusterConfig;
use cairn_core::offsets::OffsetsView;
use cairn_shell::oracle::{ClusterWatch, OracleView, spawn_oracle};
use cairn_testkit::kafka::TestKafka;
use cairn_testkit::names::{rand_group, rand_topic};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

fn commit(consumer: &BaseConsumer, topic: &str, offsets: &[(i32, i64)]) {
    let mut list = TopicPartitionList::new();
    for &(partition, offset) in offsets {
        list.add_partition_offset(topic, partition, Offset::Offset(offset))
            .expect("offset");
    }
    consumer.commit(&list, CommitMode::Sync).expect("commit");
}

/// Polls the oracle's view until `check` holds, or fails after a generous deadline.
async fn eventually(
    what: &str,
    view: impl Fn() -> OracleView,
    check: impl Fn(&OracleView) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check(&view()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "oracle never showed: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oracle_publishes_committed_offsets_and_watermarks() {
    let kafka = TestKafka::start();
    let topic = rand_topic("oracle");
    kafka.create_topic(&topic, 2).await;
    kafka.populate(&topic, 2, 10).await;
    let (reader_group, silent_group) = (rand_group("oracle-reader"), rand_group("oracle-silent"));

    let watched: BaseConsumer = kafka
        .config()
        .set("group.id", &reader_group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    commit(&watched, &topic, &[(0, 3)]);

    let watch = ClusterWatch {
        cluster: ClusterConfig {
            name: "local".into(),
            bootstrap: kafka.bootstrap.clone(),
            client: vec![],
        },
        topics: BTreeMap::from([(
            topic.clone(),
            BTreeSet::from([reader_group.clone(), silent_group.clone()]),
        )]),
    };
    let oracle = spawn_oracle(
        vec![watch],
        Duration::from_millis(200),
        Duration::from_secs(5),
    )
    .expect("oracle");
    let board = oracle.board.clone();
    let location = format!("local/{topic}");

    eventually(
        "the first commit",
        || board.view(),
        |v| v.committed(&reader_group, &location, 0).is_some(),
    )
    .await;
    let view = board.view();
    assert_eq!(
        view.committed(&reader_group, &location, 0).map(|o| o.value),
        Some(3)
    );
    assert_eq!(
        view.committed(&reader_group, &location, 1),
        None,
        "nothing committed on partition 1"
    );
    assert_eq!(
        view.committed(&silent_group, &location, 0),
        None,
        "a group that never committed"
    );
    for partition in 0..2 {
        assert_eq!(
            view.log_start(&location, partition).map(|o| o.value),
            Some(0)
        );
        assert_eq!(view.log_end(&location, partition).map(|o| o.value), Some(5));
    }
    assert_eq!(view.log_end(&location, 2), None, "no such partition");
    assert!(
        board.cluster("local").expect("published").polled_at > 0,
        "a complete round was recorded"
    );

    commit(&watched, &topic, &[(0, 5), (1, 2)]);
    eventually(
        "the second commit",
        || board.view(),
        |v| {
            v.committed(&reader_group, &location, 0).map(|o| o.value) == Some(5)
                && v.committed(&reader_group, &location, 1).map(|o| o.value) == Some(2)
        },
    )
    .await;
    let stats = oracle.stats.get("local").expect("stats").clone();
    oracle.shutdown();
    assert!(stats.rounds.load(std::sync::atomic::Ordering::Relaxed) >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_cluster_publishes_nothing_and_counts_errors() {
    // Port 1 on loopback refuses connections: a cluster that is down.
    let watch = ClusterWatch {
        cluster: ClusterConfig {
            name: "down".into(),
            bootstrap: "127.0.0.1:1".into(),
            client: vec![],
        },
        topics: BTreeMap::from([("t".to_owned(), BTreeSet::from(["g".to_owned()]))]),
    };
    let oracle = spawn_oracle(
        vec![watch],
        Duration::from_millis(100),
        Duration::from_millis(300),
    )
    .expect("oracle");
    let stats = oracle.stats.get("down").expect("stats").clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while stats.rounds.load(std::sync::atomic::Ordering::Relaxed) < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "poller made no rounds"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let view = oracle.board.view();
    assert_eq!(view.committed("g", "down/t", 0), None);
    assert_eq!(view.log_start("down/t", 0), None);
    assert_eq!(
        oracle.board.cluster("down").expect("published").polled_at,
        0,
        "no round completed"
    );
    assert!(
        stats
            .errors_metadata
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 2
    );
    oracle.shutdown();
}
