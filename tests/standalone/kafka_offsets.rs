//! The primitive the detector is built on: another group's committed offsets and the log
//! start/end of every partition, read by a client that never joins that group.

use std::time::Duration;

use cairn_shell::kafka::offsets::{GroupOffsetsReader, Watermarks};
use cairn_testkit::kafka::{TIMEOUT, TestKafka};
use cairn_testkit::names::{rand_group, rand_topic};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_another_groups_committed_offsets_and_watermarks() {
    let kafka = TestKafka::start();
    let topic = rand_topic("offsets");
    kafka.create_topic(&topic, 3).await;
    let landed = kafka.populate(&topic, 3, 30).await;
    for partition in 0..3 {
        let last = landed
            .keys()
            .filter(|(p, _)| *p == partition)
            .map(|(_, o)| *o)
            .max();
        assert_eq!(last, Some(9), "ten messages per partition");
    }

    // The watched group commits 4 on partition 0, 10 on partition 1 and nothing on partition 2.
    let group = rand_group("offsets");
    let watched: BaseConsumer = kafka
        .config()
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("create watched consumer");
    let mut commit = TopicPartitionList::new();
    commit
        .add_partition_offset(&topic, 0, Offset::Offset(4))
        .expect("offset");
    commit
        .add_partition_offset(&topic, 1, Offset::Offset(10))
        .expect("offset");
    watched.assign(&commit).expect("assign");
    watched.commit(&commit, CommitMode::Sync).expect("commit");

    let reader = GroupOffsetsReader::new(&kafka.config(), &group).expect("reader");
    let partitions =
        tokio::task::block_in_place(|| reader.partitions(&topic, TIMEOUT)).expect("metadata");
    assert_eq!(partitions.len(), 3);
    let committed = tokio::task::block_in_place(|| reader.committed(&topic, &[0, 1, 2], TIMEOUT))
        .expect("committed");
    assert_eq!(committed, vec![(0, Some(4)), (1, Some(10)), (2, None)]);

    for partition in 0..3 {
        let marks = tokio::task::block_in_place(|| reader.watermarks(&topic, partition, TIMEOUT))
            .expect("watermarks");
        assert_eq!(
            marks,
            Watermarks {
                log_start: 0,
                log_end: 10
            },
            "partition {partition}"
        );
    }

    // Moving the watched group on is seen at the next read: the reader caches nothing.
    let mut later = TopicPartitionList::new();
    later
        .add_partition_offset(&topic, 2, Offset::Offset(7))
        .expect("offset");
    watched.commit(&later, CommitMode::Sync).expect("commit");
    let committed = tokio::task::block_in_place(|| reader.committed(&topic, &[2, 0], TIMEOUT))
        .expect("committed");
    assert_eq!(committed, vec![(2, Some(7)), (0, Some(4))]);

    if kafka.is_real() {
        // Retention moves the log start; deleting records is how a test makes that happen now.
        delete_records_before(&kafka, &topic, 1, 6).await;
        let marks = tokio::task::block_in_place(|| reader.watermarks(&topic, 1, TIMEOUT))
            .expect("watermarks");
        assert_eq!(
            marks,
            Watermarks {
                log_start: 6,
                log_end: 10
            }
        );
    }

    // The reader never joined the watched group, so it never moved its offsets either.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let committed = tokio::task::block_in_place(|| reader.committed(&topic, &[0, 1, 2], TIMEOUT))
        .expect("committed");
    assert_eq!(committed, vec![(0, Some(4)), (1, Some(10)), (2, Some(7))]);
}

async fn delete_records_before(kafka: &TestKafka, topic: &str, partition: i32, offset: i64) {
    use rdkafka::admin::{AdminClient, AdminOptions};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> = kafka.config().create().expect("admin client");
    let mut before = TopicPartitionList::new();
    before
        .add_partition_offset(topic, partition, Offset::Offset(offset))
        .expect("offset");
    let result = admin
        .delete_records(
            &before,
            &AdminOptions::new().operation_timeout(Some(TIMEOUT)),
        )
        .await
        .expect("delete_records request");
    for element in result.elements() {
        element.error().expect("records deleted");
    }
}
