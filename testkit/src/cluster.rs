//! The three-node cluster of the fault tests: the real one started by `deploy/kafka/kafka.sh
//! cluster-start` and named by `CAIRN_TEST_CLUSTER_BROKERS`, or a three-broker mock cluster.
//! A node is taken away with SIGKILL on the real cluster; the mock has no elections, so its
//! partitions led by that node are handed to another, as a controller would.

use rdkafka::ClientConfig;
use rdkafka::admin::{NewTopic, TopicReplication};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

use crate::kafka::{TIMEOUT, create_topics, kafka_sh};

/// Held by a test that kills nodes of the real cluster, so that no other such test of the
/// same binary runs at once (two tests killing nodes would take the cluster below its quorum).
static NODES_KILLED: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Waits until no other test of this binary is killing nodes; hold the guard for the test.
pub async fn killing_nodes() -> tokio::sync::MutexGuard<'static, ()> {
    NODES_KILLED.lock().await
}

/// The bootstrap servers of the real three-node cluster.
pub const CLUSTER_ENV: &str = "CAIRN_TEST_CLUSTER_BROKERS";

/// Partitions (and replicas) of a topic created by [`ThreeNodes::create_topic`].
pub const PARTITIONS: i32 = 3;

pub enum ThreeNodes {
    Real { bootstrap: String },
    Mock(MockCluster<'static, DefaultProducerContext>),
}

impl ThreeNodes {
    /// The real cluster of `CAIRN_TEST_CLUSTER_BROKERS` when it is set, else a fresh mock.
    pub fn start() -> ThreeNodes {
        match real_cluster_bootstrap() {
            Some(bootstrap) => ThreeNodes::Real { bootstrap },
            None => ThreeNodes::Mock(MockCluster::new(3).expect("three-broker mock cluster")),
        }
    }

    /// The real cluster, or a failure that names `CAIRN_TEST_CLUSTER_BROKERS`.
    pub fn real() -> ThreeNodes {
        ThreeNodes::Real {
            bootstrap: real_cluster_bootstrap().unwrap_or_else(|| {
                panic!(
                    "this test needs the real three-node Kafka cluster and {CLUSTER_ENV} is not \
                     set: start it with `deploy/kafka/kafka.sh cluster-start` and set \
                     {CLUSTER_ENV}=$(deploy/kafka/kafka.sh bootstrap cluster) (deploy/test-all.sh \
                     does both)"
                )
            }),
        }
    }

    pub fn bootstrap(&self) -> String {
        match self {
            ThreeNodes::Real { bootstrap } => bootstrap.clone(),
            ThreeNodes::Mock(mock) => mock.bootstrap_servers(),
        }
    }

    /// Client settings: a minute per message, so writes ride out a node's death.
    pub fn config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", self.bootstrap())
            .set("message.timeout.ms", "60000");
        config
    }

    /// A topic of three partitions, each on all three nodes, taking writes with two in sync.
    pub async fn create_topic(&self, topic: &str) {
        if let ThreeNodes::Mock(mock) = self {
            mock.create_topic(topic, PARTITIONS, 3).expect("mock topic");
            return;
        }
        let topic = NewTopic::new(topic, PARTITIONS, TopicReplication::Fixed(3))
            .set("min.insync.replicas", "2");
        create_topics(&self.config(), &[topic], TIMEOUT).await;
    }

    /// Takes node `n` (1..=3) away; on the mock, `topic`'s partitions move to another node.
    pub fn kill(&self, n: i32, topic: &str) {
        match self {
            ThreeNodes::Real { .. } => kafka_sh(&["kill", &n.to_string()]),
            ThreeNodes::Mock(mock) => {
                mock.broker_down(n).expect("broker down");
                for partition in 0..PARTITIONS {
                    mock.partition_leader(topic, partition, Some(if n == 1 { 2 } else { 1 }))
                        .expect("move leader");
                }
            }
        }
    }

    /// Brings node `n` back.
    pub fn restart(&self, n: i32) {
        match self {
            ThreeNodes::Real { .. } => kafka_sh(&["restart", &n.to_string()]),
            ThreeNodes::Mock(mock) => mock.broker_up(n).expect("broker up"),
        }
    }
}

/// `CAIRN_TEST_CLUSTER_BROKERS`, when it names something.
pub fn real_cluster_bootstrap() -> Option<String> {
    std::env::var(CLUSTER_ENV)
        .ok()
        .filter(|bootstrap| !bootstrap.trim().is_empty())
}
