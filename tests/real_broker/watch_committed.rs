//! The watch's committed-offsets reader on a real broker: one admin client in a child process
//! (this test's `cairn` binary), every group asked at once, in chunks, each answer exactly the
//! partitions its group committed.

use std::time::Duration;

use cairn_shell::watch::committed::{
    CHUNK, Commit, CommittedReader, Launcher, READER_SUBCOMMAND, set_launcher,
};
use cairn_testkit::kafka::{Sharing, TestKafka};
use cairn_testkit::names::{rand_group, rand_topic};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_group_gets_exactly_its_own_commits() {
    let kafka = TestKafka::real(Sharing::Shared).await;
    let (one, two) = (rand_topic("committed-one"), rand_topic("committed-two"));
    kafka.create_topic(&one, 3).await;
    kafka.create_topic(&two, 1).await;
    let (a, b, idle) = (
        rand_group("committed-a"),
        rand_group("committed-b"),
        rand_group("committed-idle"),
    );
    let commit = |group: &str, offsets: &[(&str, i32, i64)]| {
        let consumer: BaseConsumer = kafka
            .config()
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()
            .expect("a committing consumer");
        let mut list = TopicPartitionList::new();
        for (topic, partition, offset) in offsets {
            list.add_partition_offset(topic, *partition, Offset::Offset(*offset))
                .expect("an offset");
        }
        consumer.commit(&list, CommitMode::Sync).expect("commit");
    };
    commit(&a, &[(&one, 0, 5), (&one, 2, 7), (&two, 0, 1)]);
    commit(&b, &[(&two, 0, 3)]);

    // More partitions than one request carries, so that answers come back in several chunks.
    let many = rand_topic("committed-many");
    let wide = i32::try_from(CHUNK).expect("a small chunk") + 30;
    kafka.create_topic(&many, wide).await;
    commit(&b, &[(&many, 3, 9), (&many, wide - 1, 4)]);

    set_launcher(Launcher {
        program: env!("CARGO_BIN_EXE_cairn").into(),
        args: vec![READER_SUBCOMMAND.into()],
    });
    let reader = CommittedReader::new(&kafka.config(), Duration::from_secs(10)).expect("reader");
    let groups = [a.clone(), b.clone(), idle.clone()];
    let mut partitions: Vec<(String, i32)> = vec![
        (one.clone(), 0),
        (one.clone(), 1),
        (one.clone(), 2),
        (two.clone(), 0),
    ];
    partitions.extend((0..wide).map(|p| (many.clone(), p)));
    let answers = reader.committed(&groups, &partitions);
    assert_eq!(answers.len(), groups.len());
    let committed = |g: usize| -> Vec<(String, i32, i64)> {
        assert_eq!(
            answers[g].len(),
            partitions.len(),
            "an answer per partition"
        );
        partitions
            .iter()
            .zip(&answers[g])
            .filter_map(|((t, p), commit)| match commit {
                Commit::Offset(Some(offset)) => Some((t.clone(), *p, *offset)),
                Commit::Offset(None) => None,
                other => panic!("{}: {t}/{p} answered {other:?}", groups[g]),
            })
            .collect()
    };
    assert_eq!(
        committed(0),
        [
            (one.clone(), 0, 5),
            (one.clone(), 2, 7),
            (two.clone(), 0, 1)
        ]
    );
    assert_eq!(
        committed(1),
        [
            (two.clone(), 0, 3),
            (many.clone(), 3, 9),
            (many.clone(), wide - 1, 4)
        ]
    );
    assert_eq!(
        committed(2),
        [],
        "a group that never committed has no offsets"
    );
}
