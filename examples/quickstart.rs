//! The decision rule's question on its own (`cairn demo` is the full tour): an in-process mock
//! Kafka cluster, a topic with a few messages, a consumer group that has read some of them, and
//! the question the decision rule asks for each message: has the group committed past it?
//!
//! Run: `cargo run --example quickstart`

use std::time::Duration;

use cairn_shell::kafka::offsets::GroupOffsetsReader;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

const TOPIC: &str = "playback";
const GROUP: &str = "router-es";
const TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mock = MockCluster::new(1)?;
    mock.create_topic(TOPIC, 2, 1)?;
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", mock.bootstrap_servers());
    println!(
        "mock Kafka cluster at {}; topic `{TOPIC}` with 2 partitions",
        mock.bootstrap_servers()
    );

    let producer: FutureProducer = config.create()?;
    let mut landed = Vec::new();
    for n in 0..8 {
        let id = format!("msg-{n}");
        let delivery = producer
            .send(
                FutureRecord::to(TOPIC)
                    .key(&id)
                    .payload(&id)
                    .partition(n % 2),
                TIMEOUT,
            )
            .await
            .map_err(|(err, _)| err)?;
        landed.push((id, delivery.partition, delivery.offset));
    }

    // The group has read partition 0 up to offset 3 and partition 1 not at all.
    let group: BaseConsumer = config.clone().set("group.id", GROUP).create()?;
    let mut commit = TopicPartitionList::new();
    commit.add_partition_offset(TOPIC, 0, Offset::Offset(3))?;
    group.assign(&commit)?;
    group.commit(&commit, CommitMode::Sync)?;

    let reader = GroupOffsetsReader::new(&config, GROUP)?;
    let committed = tokio::task::block_in_place(|| reader.committed(TOPIC, &[0, 1], TIMEOUT))?;
    println!("group `{GROUP}` committed offsets: {committed:?} (None = nothing committed)\n");
    println!(
        "{:<8} {:>9} {:>6}  if its `received` trace never comes",
        "message", "partition", "offset"
    );
    for (id, partition, offset) in landed {
        let past = committed
            .iter()
            .find(|(p, _)| *p == partition)
            .and_then(|(_, c)| *c)
            .is_some_and(|c| c > offset);
        let meaning = if past {
            "lost: the group committed past it"
        } else {
            "wait: the group is behind it"
        };
        println!("{id:<8} {partition:>9} {offset:>6}  {meaning}");
    }
    Ok(())
}
