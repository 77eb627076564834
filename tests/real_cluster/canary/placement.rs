//! Done-when 6: a canary topic placed on nodes 1 and 2 only; the canary adds a partition led
//! by node 3 within one management interval, reads it from its first offset and accounts it.

use std::time::{Duration, Instant};

use cairn_testkit::cluster::ThreeNodes;
use cairn_testkit::kafka::{TIMEOUT, create_topics};
use cairn_testkit::names::rand_suffix;
use cairn_testkit::workdir::Workdir;
use rdkafka::admin::{NewTopic, TopicReplication};

use super::{READY_TIMEOUT, assert_exact, canary_config, drained, wait_for};

const MANAGEMENT_INTERVAL: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_extends_a_topic_to_the_broker_that_leads_nothing() {
    let cluster = ThreeNodes::real();
    let dir = Workdir::new("canary-placement", crate::cairn());
    let topic = format!("canary-place-{}", rand_suffix());
    let assignment: [&[i32]; 2] = [&[1, 2], &[2, 1]];
    let new = NewTopic::new(&topic, 2, TopicReplication::Variable(&assignment));
    create_topics(&cluster.config(), &[new], TIMEOUT).await;
    let config = canary_config(&cluster, &topic).management_interval(MANAGEMENT_INTERVAL);
    let instance = dir.canary_instance("canary", &config);
    let started = Instant::now();
    let mut canary = dir.spawn_canary(&instance);
    canary.wait_ready(READY_TIMEOUT).await;
    let r = wait_for(
        &canary,
        MANAGEMENT_INTERVAL * 2,
        "broker 3 leads a partition",
        |r| r.brokers.iter().any(|b| b.id == 3 && !b.leads.is_empty()),
    )
    .await;
    let took = started.elapsed();
    assert_eq!(r.partitions.len(), 3, "{r:#?}");
    assert_eq!(r.topic_changes.get("extended"), Some(&1), "{r:#?}");
    // Heartbeats go through broker 3 too, and are read from the new partition's start.
    let r = wait_for(
        &canary,
        Duration::from_secs(30),
        "broker 3 carries heartbeats",
        |r| {
            r.brokers
                .iter()
                .any(|b| b.id == 3 && b.consumed > 0 && b.acknowledged > 0)
        },
    )
    .await;
    let r2 = drained(&canary).await;
    assert_exact(&r2);
    println!(
        "canary placement: topic on nodes 1-2 extended to node 3 {took:?} after the canary \
         started (management interval {MANAGEMENT_INTERVAL:?}); partitions {}",
        r.partitions.len()
    );
    canary.terminate(Duration::from_secs(20)).await;
}
