//! Verdicts published to the lost-messages topic come back keyed by message id and decode to
//! exactly what was published.

mod common;

use std::collections::BTreeMap;

use cairn::kafka::verdicts::{PendingVerdicts, VerdictPublisher};
use cairn_core::model::{Evidence, HopRef, MessageRef, Reason, Verdict, VerdictKind};
use cairn_core::verdict;
use common::{TIMEOUT, TestKafka, rand_group, rand_topic};
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};

fn lost(id: &str, offset: i64, reason: Reason) -> Verdict {
    Verdict {
        verdict: VerdictKind::Lost,
        reason,
        id: id.to_owned(),
        stream: "playback".into(),
        hop: HopRef {
            app: "router".into(),
            group: Some("router".into()),
            location: "fronting/playback".into(),
        },
        message: MessageRef {
            location: "fronting/playback".into(),
            partition: 0,
            offset,
        },
        evidence: Evidence {
            committed: Some(offset + 5),
            log_start: Some(0),
        },
        first_seen: 1_763_800_000_000,
        detected_at: 1_763_800_031_000,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_verdicts_are_acknowledged_and_read_back_exactly() {
    let kafka = TestKafka::start();
    let topic = rand_topic("verdicts");
    kafka.create_topic(&topic, 3).await;
    let publisher = VerdictPublisher::new(&kafka.config(), &topic).expect("publisher");
    let verdicts = vec![
        lost("msg-1", 10, Reason::CommittedPast),
        lost("msg-2", 11, Reason::Expired),
        lost("ünïcode-id", 12, Reason::LostInApp),
    ];
    let mut pending = PendingVerdicts::default();
    for v in &verdicts {
        publisher.publish(v, &mut pending).expect("queued");
    }
    assert_eq!(publisher.confirm(pending).await.expect("acknowledged"), 3);

    let consumer: StreamConsumer = kafka
        .config()
        .set("group.id", rand_group("verdicts"))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&[&topic]).expect("subscribe");
    let mut read = BTreeMap::new();
    while read.len() < verdicts.len() {
        let message = tokio::time::timeout(TIMEOUT, consumer.recv())
            .await
            .expect("in time")
            .expect("consume");
        let key = String::from_utf8(message.key().expect("key").to_vec()).expect("utf-8");
        let decoded =
            verdict::decode(message.payload().expect("payload")).expect("a valid verdict");
        assert_eq!(key, decoded.id, "keyed by message id");
        read.insert(key, decoded);
    }
    for v in verdicts {
        assert_eq!(read.get(&v.id), Some(&v));
    }
}
