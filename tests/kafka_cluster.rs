//! The three-node cluster used by fault tests: with one node killed (kill -9 on the real
//! cluster, `broker_down` on the mock), replicated topics keep taking writes with `acks=all`,
//! nothing acknowledged is lost, and the node comes back.
//!
//! `CAIRN_TEST_CLUSTER_BROKERS` names the real cluster started by `deploy/kafka/kafka.sh
//! cluster-start`; without it the test runs on a three-broker mock cluster.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use common::{Position, TIMEOUT, rand_group, rand_topic};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{DefaultProducerContext, FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

const CLUSTER_ENV: &str = "CAIRN_TEST_CLUSTER_BROKERS";

enum Cluster {
    Real { bootstrap: String },
    Mock(MockCluster<'static, DefaultProducerContext>),
}

impl Cluster {
    fn start() -> Cluster {
        match std::env::var(CLUSTER_ENV) {
            Ok(bootstrap) if !bootstrap.trim().is_empty() => Cluster::Real { bootstrap },
            _ => Cluster::Mock(MockCluster::new(3).expect("three-broker mock cluster")),
        }
    }

    fn config(&self) -> ClientConfig {
        let bootstrap = match self {
            Cluster::Real { bootstrap } => bootstrap.clone(),
            Cluster::Mock(mock) => mock.bootstrap_servers(),
        };
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", bootstrap)
            .set("message.timeout.ms", "60000");
        config
    }

    async fn create_topic(&self, topic: &str) {
        if let Cluster::Mock(mock) = self {
            mock.create_topic(topic, 3, 3).expect("mock topic");
            return;
        }
        let admin: AdminClient<DefaultClientContext> = self.config().create().expect("admin");
        let topic =
            NewTopic::new(topic, 3, TopicReplication::Fixed(3)).set("min.insync.replicas", "2");
        let options = AdminOptions::new().operation_timeout(Some(TIMEOUT));
        for result in admin
            .create_topics(&[topic], &options)
            .await
            .expect("create_topics")
        {
            result.expect("topic created");
        }
    }

    /// Takes node `n` (1..=3) away: SIGKILL on the real cluster. The mock has no elections,
    /// so its partitions led by the node are handed to node 1, as a controller would.
    fn kill(&self, n: i32, topic: &str) {
        match self {
            Cluster::Real { .. } => kafka_sh(&["kill", &n.to_string()]),
            Cluster::Mock(mock) => {
                mock.broker_down(n).expect("broker down");
                for partition in 0..3 {
                    mock.partition_leader(topic, partition, Some(if n == 1 { 2 } else { 1 }))
                        .expect("move leader");
                }
            }
        }
    }

    fn restart(&self, n: i32) {
        match self {
            Cluster::Real { .. } => kafka_sh(&["restart", &n.to_string()]),
            Cluster::Mock(mock) => mock.broker_up(n).expect("broker up"),
        }
    }
}

fn kafka_sh(args: &[&str]) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/kafka/kafka.sh");
    let status = Command::new(script)
        .args(args)
        .status()
        .expect("run kafka.sh");
    assert!(status.success(), "kafka.sh {} failed", args.join(" "));
}

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
    let cluster = Cluster::start();
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
