//! The detector core run in this process on exactly what `cairn detect` would see: every
//! record of the tracing topic, and the offsets oracle polling the same groups. It is the
//! check on the harness itself: the truth the pipeline driver computes must be what the
//! core concludes, field by field, or the end-to-end tests would be asserting the wrong thing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_core::config::Config;
use cairn_core::detector::Detector;
use cairn_core::lineage::Lineage;
use cairn_core::metrics::Metrics;
use cairn_core::model::Verdict;
use cairn_core::trace;
use cairn_shell::clock::now_millis;
use cairn_shell::oracle::{spawn_oracle, watches_from_config};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

use super::CLUSTER;
use crate::kafka::{TIMEOUT, TestKafka};
use crate::names::rand_group;

/// What the core concluded.
pub struct Reference {
    pub verdicts: Vec<Verdict>,
    pub metrics: Metrics,
    /// Trace records read from the tracing topic.
    pub traces: usize,
}

/// Feeds every trace now on `config`'s tracing topic to a fresh core, then ticks it against
/// a live offsets oracle until every message is concluded and dropped from memory (or
/// `timeout` passes, which fails).
pub async fn run_core(kafka: &TestKafka, config: &Config, timeout: Duration) -> Reference {
    let records = tokio::task::block_in_place(|| read_all(kafka, &config.tracing.topic));
    let lineage = Arc::new(Lineage::compile(&config.streams).expect("the test lineage compiles"));
    let mut detector = Detector::without_change_tracking(lineage);
    let oracle = spawn_oracle(
        watches_from_config(config),
        config.oracle.poll_interval,
        config.oracle.request_timeout,
    )
    .expect("start the offsets oracle");
    let deadline = Instant::now() + timeout;
    while oracle
        .board
        .cluster(CLUSTER)
        .is_none_or(|c| c.polled_at == 0)
    {
        assert!(
            Instant::now() < deadline,
            "the oracle made no round in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut verdicts = Vec::new();
    for bytes in &records {
        let trace = trace::decode(bytes).expect("the harness writes valid traces");
        detector.on_trace(&trace, now_millis(), &mut verdicts);
    }
    while detector.next_deadline().is_some() {
        assert!(
            Instant::now() < deadline,
            "the core still holds {} messages after {timeout:?}",
            detector.messages_in_memory()
        );
        detector.on_tick(now_millis(), &oracle.board.view(), &mut verdicts);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    oracle.shutdown();
    Reference {
        verdicts,
        metrics: detector.metrics().clone(),
        traces: records.len(),
    }
}

/// Every record of `topic` up to its current end, partition by partition.
fn read_all(kafka: &TestKafka, topic: &str) -> Vec<Vec<u8>> {
    let consumer: BaseConsumer = kafka
        .config()
        .set("group.id", rand_group("reference"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("create the trace reader");
    let metadata = consumer
        .fetch_metadata(Some(topic), TIMEOUT)
        .expect("tracing topic metadata");
    let partitions: Vec<i32> = metadata.topics()[0]
        .partitions()
        .iter()
        .map(|p| p.id())
        .collect();
    let mut out = Vec::new();
    for partition in partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, TIMEOUT)
            .expect("watermarks");
        if high <= low {
            continue;
        }
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(topic, partition, Offset::Offset(low))
            .expect("offset");
        consumer.assign(&list).expect("assign");
        let deadline = Instant::now() + TIMEOUT;
        let mut next = low;
        while next < high {
            assert!(Instant::now() < deadline, "tracing topic read stalled");
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(message)) => {
                    next = message.offset() + 1;
                    out.push(message.payload().unwrap_or_default().to_vec());
                }
                Some(Err(err)) => panic!("read the tracing topic: {err}"),
                None => {}
            }
        }
    }
    out
}
