//! The modes: a `produce` instance writes heartbeats it never reads; a `consume` instance on
//! the same topic accounts them by sequence, per writer (`instance`, `run`). The test also
//! writes heartbeats of a made-up writer with known holes, a duplicate and a re-send, so the
//! reader's exactness is judged against a truth the test fixed: it must report lost exactly
//! the skipped sequences, once the writer could no longer have filled them.

use std::collections::BTreeSet;
use std::time::Duration;

use cairn_core::canary::Heartbeat;
use cairn_core::canary::report::{ClusterReport, SourceReport};
use cairn_testkit::canary::report;
use cairn_testkit::cluster::ThreeNodes;
use cairn_testkit::kafka::TIMEOUT;
use cairn_testkit::names::rand_suffix;
use cairn_testkit::workdir::Workdir;
use rdkafka::producer::{FutureProducer, FutureRecord};

use super::{READY_TIMEOUT, canary_config, wait_for};

const SEND_TIMEOUT: Duration = Duration::from_secs(2);
const CONSUME_TIMEOUT: Duration = Duration::from_secs(4);
/// The made-up writer's sequences on partition 0, in the order written: 5, 11 and 12 never
/// come, 7 comes twice under one attempt, 15 comes after 16 as a re-send (attempt 1).
const FAKE: &[(u64, u32)] = &[
    (0, 0),
    (1, 0),
    (2, 0),
    (3, 0),
    (4, 0),
    (6, 0),
    (7, 0),
    (7, 0),
    (8, 0),
    (9, 0),
    (10, 0),
    (13, 0),
    (14, 0),
    (16, 0),
    (15, 1),
    (17, 0),
    (18, 0),
    (19, 0),
];

fn source<'a>(r: &'a ClusterReport, instance: &str) -> Option<&'a SourceReport> {
    r.sources.iter().find(|s| s.instance == instance)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consume_instance_accounts_a_produce_instance_exactly() {
    let cluster = ThreeNodes::real();
    let dir = Workdir::new("canary-modes", crate::cairn());
    let topic = format!("canary-modes-{}", rand_suffix());
    let base = canary_config(&cluster, &topic)
        .send_timeout(SEND_TIMEOUT)
        .consume_timeout(CONSUME_TIMEOUT);
    let writer_config = base.clone().mode("produce").instance("writer");
    let reader_config = base.mode("consume").instance("reader");
    let writer = dir.canary_instance("writer", &writer_config);
    let reader = dir.canary_instance("reader", &reader_config);
    // The writer makes the topic; a reader leaves it to its writers.
    let mut writer = dir.spawn_canary(&writer);
    writer.wait_ready(READY_TIMEOUT).await;
    let mut reader = dir.spawn_canary(&reader);
    reader.wait_ready(READY_TIMEOUT).await;

    let producer: FutureProducer = cluster.config().create().expect("producer");
    for &(seq, attempt) in FAKE {
        let beat = Heartbeat {
            v: 1,
            run: "fake-run".into(),
            instance: "fake".into(),
            partition: 0,
            seq,
            produced_at: 0,
            attempt,
        };
        let payload = beat.encode();
        let record = FutureRecord::<(), [u8]>::to(&topic)
            .partition(0)
            .payload(&payload);
        producer
            .send(record, TIMEOUT)
            .await
            .expect("a fake heartbeat");
    }

    // Past the horizon (4 sends x send_timeout + consume_timeout) the holes are lost.
    let r = wait_for(
        &reader,
        Duration::from_secs(60),
        "the made-up writer's holes judged",
        |r| source(r, "fake").is_some_and(|s| s.counts.lost >= 3 && s.unread == 0),
    )
    .await;
    let fake = source(&r, "fake").unwrap();
    assert_eq!(fake.run, "fake-run");
    assert_eq!(
        fake.lost_sequences,
        vec![(0, 5), (0, 11), (0, 12)],
        "{fake:#?}"
    );
    let distinct: BTreeSet<u64> = FAKE.iter().map(|(s, _)| *s).collect();
    assert_eq!(fake.counts.consumed, distinct.len() as u64, "{fake:#?}");
    assert_eq!(
        (fake.counts.lost, fake.counts.duplicated, fake.counts.late),
        (3, 1, 0),
        "{fake:#?}"
    );
    assert_eq!(fake.partitions[0].next, 20, "{fake:#?}");

    // The real writer, followed for a while, then stopped: everything it wrote is read, in
    // an unbroken run of sequence numbers on every partition.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let w = report(&writer).await;
    assert_eq!(w.mode, "produce");
    assert!(w.acknowledged > 0, "{w:#?}");
    assert_eq!((w.consumed, w.unread, w.lost), (0, 0, 0), "{w:#?}");
    writer.terminate(Duration::from_secs(20)).await;
    let r = wait_for(
        &reader,
        Duration::from_secs(60),
        "the real writer read to its end",
        |r| source(r, "writer").is_some_and(|s| s.unread == 0 && r.at - s.last_read > 3_000),
    )
    .await;
    assert_eq!(r.mode, "consume");
    assert_eq!(r.produced, 0, "a reader writes nothing: {r:#?}");
    assert_eq!(r.skipped.get("other_run"), None, "{r:#?}");
    let real = source(&r, "writer").expect("the writer followed");
    assert_eq!(real.run, w.run, "the writer's run id");
    assert_eq!(real.counts.lost, 0, "{real:#?}");
    assert_eq!(real.counts.duplicated, 0, "{real:#?}");
    assert_eq!(real.counts.unexpected, 0, "{real:#?}");
    assert_eq!(real.partitions.len(), 3, "{real:#?}");
    for p in &real.partitions {
        let first = p.first.expect("read from this partition");
        assert_eq!(
            p.counts.consumed,
            p.next - first,
            "partition {}: an unbroken run from {first}: {real:#?}",
            p.partition
        );
        let acked = w
            .partitions
            .iter()
            .find(|wp| wp.partition == p.partition)
            .map_or(0, |wp| wp.acknowledged);
        assert!(
            p.next >= acked,
            "partition {}: the reader reached {} but the writer had {acked} acknowledged",
            p.partition,
            p.next
        );
    }
    println!(
        "canary modes: a consume instance followed a produce instance ({} heartbeats, 0 lost, 0 \
         duplicated) and a made-up writer (lost exactly {:?})",
        real.counts.consumed, fake.lost_sequences
    );
    reader.terminate(Duration::from_secs(20)).await;
}
