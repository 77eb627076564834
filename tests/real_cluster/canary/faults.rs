//! The issue's faults: garbage records on the canary topic are counted and skipped; the topic
//! deleted underneath is recreated and reported, never counted as loss; the process never
//! stops for either.

use std::time::Duration;

use cairn_testkit::cluster::ThreeNodes;
use cairn_testkit::kafka::TIMEOUT;
use cairn_testkit::names::rand_suffix;
use cairn_testkit::workdir::Workdir;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{FutureProducer, FutureRecord};

use super::{READY_TIMEOUT, assert_exact, canary_config, drained, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_skips_garbage_and_survives_its_topic_deleted() {
    let cluster = ThreeNodes::real();
    let dir = Workdir::new("canary-faults", crate::cairn());
    let topic = format!("canary-faults-{}", rand_suffix());
    let instance = dir.canary_instance("canary", &canary_config(&cluster, &topic));
    let mut canary = dir.spawn_canary(&instance);
    canary.wait_ready(READY_TIMEOUT).await;

    let producer: FutureProducer = cluster.config().create().expect("producer");
    for (partition, payload) in [
        (0, &b"not json"[..]),
        (1, b""),
        (
            2,
            br#"{"v":9,"run":"x","instance":"y","partition":2,"seq":0,"produced_at":0}"#,
        ),
    ] {
        let record = FutureRecord::<(), [u8]>::to(&topic)
            .partition(partition)
            .payload(payload);
        producer
            .send(record, TIMEOUT)
            .await
            .expect("garbage written");
    }
    let r = wait_for(&canary, Duration::from_secs(30), "garbage counted", |r| {
        r.skipped.values().sum::<u64>() >= 3
    })
    .await;
    assert_eq!(r.skipped.get("invalid"), Some(&1), "{r:#?}");
    assert_eq!(r.skipped.get("empty"), Some(&1), "{r:#?}");
    assert_eq!(r.skipped.get("version"), Some(&1), "{r:#?}");
    assert_exact(&drained(&canary).await);

    let admin: AdminClient<DefaultClientContext> = cluster.config().create().expect("admin");
    admin
        .delete_topics(&[&topic], &AdminOptions::new())
        .await
        .expect("delete the canary topic");
    let r = wait_for(&canary, Duration::from_secs(60), "topic recreated", |r| {
        r.topic_changes.get("recreated") == Some(&1) && r.partitions.len() == 3
    })
    .await;
    eprintln!("recreated: {:?}", r.topic_changes);
    let consumed = r.consumed;
    let r = wait_for(
        &canary,
        Duration::from_secs(60),
        "heartbeats flow again",
        |r| r.consumed > consumed + 100,
    )
    .await;
    let r = {
        let _ = r;
        drained(&canary).await
    };
    assert_eq!(
        r.lost, 0,
        "a deleted topic is not loss: {:?}",
        r.lost_sequences
    );
    assert_eq!(r.duplicated, 0, "{r:#?}");
    println!(
        "canary faults: 3 garbage records skipped {:?}; topic deleted and recreated {:?}; lost {}",
        r.skipped, r.topic_changes, r.lost
    );
    canary.terminate(Duration::from_secs(20)).await;
}
