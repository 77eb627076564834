//! Test helpers in the style of rust-rdkafka's `tests/utils.rs`: the broker address comes from
//! the environment, every test gets its own random topic and group, and `populate` returns
//! exactly where each message landed so tests can assert on offsets, not counts.
//!
//! `CAIRN_TEST_BROKERS=127.0.0.1:9092` points the tests at a real broker (the README's test
//! command starts one); without it each test starts librdkafka's in-process mock cluster.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use rand::distr::{Alphanumeric, SampleString};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{DefaultProducerContext, FutureProducer, FutureRecord};

pub const BROKERS_ENV: &str = "CAIRN_TEST_BROKERS";
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// Where a message landed: (partition, offset).
pub type Position = (i32, i64);

/// A Kafka to test against: the real broker named by `CAIRN_TEST_BROKERS`, or a mock cluster
/// that lives as long as this value.
pub struct TestKafka {
    pub bootstrap: String,
    mock: Option<MockCluster<'static, DefaultProducerContext>>,
}

impl TestKafka {
    pub fn start() -> TestKafka {
        match std::env::var(BROKERS_ENV) {
            Ok(bootstrap) if !bootstrap.trim().is_empty() => TestKafka {
                bootstrap,
                mock: None,
            },
            _ => {
                let mock = MockCluster::new(1).expect("start librdkafka's mock cluster");
                TestKafka {
                    bootstrap: mock.bootstrap_servers(),
                    mock: Some(mock),
                }
            }
        }
    }

    pub fn is_real(&self) -> bool {
        self.mock.is_none()
    }

    /// Client settings every test client starts from.
    pub fn config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap)
            .set("socket.timeout.ms", "10000")
            .set("message.timeout.ms", "10000");
        config
    }

    pub async fn create_topic(&self, topic: &str, partitions: i32) {
        if let Some(mock) = &self.mock {
            mock.create_topic(topic, partitions, 1)
                .expect("create topic on the mock cluster");
            return;
        }
        let admin: AdminClient<DefaultClientContext> =
            self.config().create().expect("create admin client");
        let results = admin
            .create_topics(
                &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
                &AdminOptions::new().operation_timeout(Some(TIMEOUT)),
            )
            .await
            .expect("create_topics request");
        for result in results {
            result.expect("topic created");
        }
    }

    /// Produces `count` messages keyed and valued by their id, spread round-robin over
    /// `partitions`, and returns where each one landed.
    pub async fn populate(
        &self,
        topic: &str,
        partitions: i32,
        count: usize,
    ) -> BTreeMap<Position, String> {
        let producer: FutureProducer = self
            .config()
            .set("acks", "all")
            .create()
            .expect("create producer");
        let mut landed = BTreeMap::new();
        for n in 0..count {
            let id = format!("{topic}-msg-{n}");
            let partition = (n as i32) % partitions;
            let delivery = producer
                .send(
                    FutureRecord::to(topic)
                        .key(&id)
                        .payload(&id)
                        .partition(partition),
                    TIMEOUT,
                )
                .await
                .map_err(|(err, _)| err)
                .expect("produce");
            landed.insert((delivery.partition, delivery.offset), id);
        }
        landed
    }
}

pub fn rand_suffix() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 10)
}

pub fn rand_topic(test: &str) -> String {
    format!("cairn-test-{test}-{}", rand_suffix())
}

pub fn rand_group(test: &str) -> String {
    format!("cairn-test-{test}-group-{}", rand_suffix())
}
