//! Produce and consume through Kafka: every message comes back at exactly the position the
//! producer was told, with its payload intact.

use std::collections::BTreeMap;
use std::time::Duration;

use cairn_testkit::kafka::{TIMEOUT, TestKafka};
use cairn_testkit::names::{rand_group, rand_topic};
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};

#[tokio::test]
async fn produce_and_consume_round_trip() {
    let kafka = TestKafka::start();
    let topic = rand_topic("roundtrip");
    kafka.create_topic(&topic, 3).await;
    let sent = kafka.populate(&topic, 3, 30).await;
    assert_eq!(sent.len(), 30, "every message has its own position");

    let consumer: StreamConsumer = kafka
        .config()
        .set("group.id", rand_group("roundtrip"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("create consumer");
    consumer.subscribe(&[&topic]).expect("subscribe");

    let mut received = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + TIMEOUT * 2;
    while received.len() < sent.len() {
        let next = tokio::time::timeout_at(deadline, consumer.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "only {} of {} messages came back",
                    received.len(),
                    sent.len()
                )
            })
            .expect("consume");
        let payload = String::from_utf8(next.payload().expect("payload").to_vec()).expect("utf-8");
        let key = String::from_utf8(next.key().expect("key").to_vec()).expect("utf-8");
        assert_eq!(key, payload, "key and payload are the id");
        let previous = received.insert((next.partition(), next.offset()), payload);
        assert!(
            previous.is_none(),
            "position {:?} delivered twice",
            (next.partition(), next.offset())
        );
    }
    assert_eq!(received, sent);

    // Nothing beyond what was produced.
    let extra = tokio::time::timeout(Duration::from_millis(500), consumer.recv()).await;
    assert!(
        extra.is_err(),
        "a message that was never produced came back"
    );
}
