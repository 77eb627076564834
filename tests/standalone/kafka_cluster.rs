//! The three-node cluster used by fault tests: with one node killed (kill -9 on the real
//! cluster, `broker_down` on the mock), replicated topics keep taking writes with `acks=all`,
//! nothing acknowledged is lost, and the node comes back.
//!
//! `CAIRN_TEST_CLUSTER_BROKERS` names the real cluster started by `deploy/kafka/kafka.sh
//! cluster-start`; without it the test runs on a three-broker mock cluster.

use std::collections::BTreeMap;
use std::time::Duration;

use cairn_testkit::cluster::ThreeNodes;
use cairn_testkit::kafka::{Position, TIMEOUT};
use cairn_testkit::names::{rand_group, rand_topic};
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

async fn produce(
    config: &ClientConfig,
    topic: &str,
    from: usize,
    count: usize,
) -> BTreeMap<Position, String> {
    let producer: FutureProducer = config
        .clone()
        .set("acks", "all")
        .create()
        .expect("producer");
    let mut landed = BTreeMap::new();
    for n in from..from + count {
        let id = format!("msg-{n}");
        let delivery = producer
            .send(
                FutureRecord::to(topic)
                    .key(&id)
                    .payload(&id)
                    .partition((n % 3) as i32),
                Duration::from_secs(60),
            )
            .await
            .map_err(|(err, _)| err)
            .expect("acknowledged by the cluster");
        landed.insert((delivery.partition, delivery.offset), id);
    }
    landed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_loses_no_acknowledged_write_and_comes_back() {
    let cluster = ThreeNodes::start();
    let topic = rand_topic("cluster");
    cluster.create_topic(&topic).await;
    let config = cluster.config();

    let mut acknowledged = produce(&config, &topic, 0, 30).await;
    cluster.kill(2, &topic);
    acknowledged.extend(produce(&config, &topic, 30, 30).await);
    assert_eq!(acknowledged.len(), 60, "every write has its own position");

    // Assigned, not subscribed: reading back must not depend on which node coordinates groups.
    let consumer: StreamConsumer = config
        .clone()
        .set("group.id", rand_group("cluster"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    for partition in 0..3 {
        assignment
            .add_partition_offset(&topic, partition, Offset::Beginning)
            .expect("offset");
    }
    consumer.assign(&assignment).expect("assign");
    let mut read = BTreeMap::new();
    while read.len() < acknowledged.len() {
        let message = match tokio::time::timeout(Duration::from_secs(60), consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("read back only {} of {}", read.len(), acknowledged.len()))
        {
            Ok(message) => message,
            // Connection errors about the killed node are reported, not fatal: read on.
            Err(err) => {
                eprintln!("consumer reported (and recovers from): {err}");
                continue;
            }
        };
        let id = String::from_utf8(message.payload().expect("payload").to_vec()).expect("utf-8");
        read.insert((message.partition(), message.offset()), id);
    }
    assert_eq!(read, acknowledged);

    cluster.restart(2);
    let probe: BaseConsumer = config.clone().create().expect("metadata client");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let brokers = tokio::task::block_in_place(|| probe.fetch_metadata(None, TIMEOUT))
            .map(|m| m.brokers().len())
            .unwrap_or(0);
        if brokers == 3 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "node 2 did not come back ({brokers} brokers)"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
