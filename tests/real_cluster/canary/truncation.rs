//! Done-when 3: the broker-loss recipe of the simulator (`sim/src/simulate/kill.rs`) played on
//! the canary topic. With `acks=1`, replication 2 and unclean leader election allowed on the
//! topic, the follower of one canary partition is paused (`kafka.sh pause`) while its leader
//! keeps acknowledging heartbeats alone; the leader is killed with SIGKILL and the follower
//! resumed at once, so the follower becomes the leader without the writes it never fetched,
//! and the old leader, restarted, truncates its log to the new one's.
//!
//! The follower is paused for less than `replica.lag.time.max.ms` (3 s on kafka.sh's cluster),
//! so it stays in the ISR and the high watermark stays at its log end: the doomed heartbeats
//! are acknowledged but never visible to a consumer, which is the loss the canary exists to
//! see. The test then reads the partition's log from the start and asserts that the lost
//! sequence numbers the canary reports are exactly the acknowledged ones missing there, all
//! charged to the killed leader.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use cairn_testkit::cluster::ThreeNodes;
use cairn_testkit::kafka::kafka_sh;
use cairn_testkit::names::rand_suffix;
use cairn_testkit::workdir::Workdir;
use rdkafka::consumer::{BaseConsumer, Consumer};

use super::{READY_TIMEOUT, canary_config, read_heartbeats, wait_for};

/// Heartbeats per second per partition.
const RATE: u32 = 50;
/// How long the leader writes alone: well under kafka.sh's 3 s replica lag, so the follower
/// stays in the ISR and nothing the leader wrote alone becomes readable.
const ALONE: Duration = Duration::from_millis(1200);
/// Sequences sent within this long of the test's final read may still be in flight; the
/// truth is judged below them.
const SETTLE: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_reports_exactly_the_sequences_a_truncation_removed() {
    let _alone = cairn_testkit::cluster::killing_nodes().await;
    let cluster = ThreeNodes::real();
    let dir = Workdir::new("canary-truncation", crate::cairn());
    let topic = format!("canary-trunc-{}", rand_suffix());
    let config = canary_config(&cluster, &topic)
        .rate(RATE)
        .acks("1")
        .replication(2)
        .topic_config("min.insync.replicas", "1")
        .topic_config("unclean.leader.election.enable", "true")
        // Long enough that no heartbeat is abandoned across the election: every sequence
        // is acknowledged in the end, so "missing from the log" means "lost".
        .send_timeout(Duration::from_secs(60))
        .lost_sequences_kept(10_000);
    let instance = dir.canary_instance("canary", &config);
    let mut canary = dir.spawn_canary(&instance);
    canary.wait_ready(READY_TIMEOUT).await;
    wait_for(
        &canary,
        Duration::from_secs(30),
        "every broker leads a partition",
        |r| r.brokers.len() == 3 && r.brokers.iter().all(|b| b.leads.len() == 1),
    )
    .await;

    // A partition with its follower in sync; its leader is the node to kill.
    let reader: BaseConsumer = cluster
        .config()
        .set("group.id", format!("truncation-reader-{}", rand_suffix()))
        .set("enable.auto.commit", "false")
        .create()
        .expect("reader");
    let (partition, leader, follower) = in_sync_partition(&reader, &topic).await;
    eprintln!("partition {partition}: leader {leader}, follower {follower}");
    tokio::time::sleep(Duration::from_secs(3)).await;

    kafka_sh(&["pause", &follower.to_string()]);
    let paused = Instant::now();
    tokio::time::sleep(ALONE).await;
    let killed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        kafka_sh(&["kill", &leader.to_string()])
    }));
    // Resume whatever happened: a paused node must not outlive the test.
    kafka_sh(&["resume", &follower.to_string()]);
    eprintln!(
        "leader {leader} killed {:?} after pausing {follower}",
        paused.elapsed()
    );
    if let Err(panic) = killed {
        std::panic::resume_unwind(panic);
    }
    wait_for(
        &canary,
        Duration::from_secs(60),
        "the follower leads the partition",
        |r| {
            r.partitions
                .iter()
                .any(|p| p.partition == partition && p.leader == follower)
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    kafka_sh(&["restart", &leader.to_string()]);
    let r = wait_for(
        &canary,
        Duration::from_secs(60),
        "losses judged and the rest read",
        |r| r.lost > 0 && r.unread == 0,
    )
    .await;
    // Sequences sent from here on are not judged by the test.
    tokio::time::sleep(SETTLE).await;
    let r = wait_for(
        &canary,
        Duration::from_secs(60),
        "a settled report",
        |later| later.at > r.at && later.unread == 0,
    )
    .await;

    let log: BTreeSet<u64> = read_heartbeats(&reader, &topic, partition, &r)
        .await
        .into_iter()
        .map(|(seq, _)| seq)
        .collect();
    let last = *log
        .iter()
        .next_back()
        .expect("the partition holds heartbeats");
    let judged_below = last.saturating_sub(u64::from(RATE) * SETTLE.as_secs());
    let missing: BTreeSet<u64> = (0..judged_below).filter(|s| !log.contains(s)).collect();
    let reported: BTreeSet<u64> = r
        .lost_sequences
        .iter()
        .filter(|l| l.partition == partition && l.sequence < judged_below)
        .map(|l| l.sequence)
        .collect();
    eprintln!(
        "partition {partition}: {} heartbeats in the log up to seq {last}; missing below \
         {judged_below}: {missing:?}",
        log.len()
    );
    assert!(
        !missing.is_empty(),
        "the truncation removed no acknowledged heartbeat; the test proves nothing: {r:#?}"
    );
    assert_eq!(r.abandoned, 0, "every heartbeat was acknowledged: {r:#?}");
    assert_eq!(
        reported, missing,
        "the lost sequences reported are the ones the truncation removed"
    );
    assert_eq!(
        r.lost,
        missing.len() as u64,
        "no other loss anywhere: {:?}",
        r.lost_sequences
    );
    for l in &r.lost_sequences {
        assert_eq!(l.leader, leader, "charged to the killed leader: {l:?}");
    }
    let broker = |id: i32| r.brokers.iter().find(|b| b.id == id).unwrap();
    assert_eq!(broker(leader).lost, missing.len() as u64, "{r:#?}");
    for id in (1..=3).filter(|id| *id != leader) {
        assert_eq!(broker(id).lost, 0, "broker {id}: {r:#?}");
    }
    assert_eq!(r.duplicated, 0, "{r:#?}");
    assert_eq!(
        r.late, 0,
        "nothing declared lost was read after all: {r:#?}"
    );
    println!(
        "canary truncation: partition {partition} (leader {leader} killed, follower {follower} \
         elected): {} acknowledged heartbeats truncated, {} reported lost, all on broker {leader}",
        missing.len(),
        reported.len()
    );
    canary.terminate(Duration::from_secs(20)).await;
}

/// A canary partition whose ISR holds both replicas: (partition, leader, follower).
async fn in_sync_partition(reader: &BaseConsumer, topic: &str) -> (i32, i32, i32) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let metadata = reader
            .fetch_metadata(Some(topic), Duration::from_secs(5))
            .expect("metadata");
        let found = metadata
            .topics()
            .iter()
            .flat_map(|t| t.partitions())
            .find(|p| p.isr().len() == 2 && p.leader() > 0)
            .map(|p| {
                let leader = p.leader();
                let follower = *p.isr().iter().find(|r| **r != leader).unwrap();
                (p.id(), leader, follower)
            });
        if let Some(found) = found {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "no canary partition of {topic} with two replicas in sync"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
