use crate::canary::cluster::{CanaryCluster, CanarySettings, SKIP_OTHER_RUN};
use crate::canary::heartbeat::Heartbeat;
use crate::config::CanaryMode;

fn cluster() -> CanaryCluster {
    cluster_in(CanaryMode::Both)
}

fn cluster_in(mode: CanaryMode) -> CanaryCluster {
    let mut c = CanaryCluster::new(CanarySettings {
        cluster: "local".into(),
        topic: "canary".into(),
        run: "r".into(),
        instance: "i".into(),
        consume_timeout: 5_000,
        availability_window: 10_000,
        lost_sequences_kept: 2,
        mode,
        send_timeout: 1_000,
    });
    let brokers: Vec<(i32, String)> = (1..=3).map(|b| (b, format!("h:{b}"))).collect();
    c.metadata(&brokers, &[(0, 1), (1, 2), (2, 3)]);
    c
}

fn beat(partition: i32, seq: u64, produced_at: i64) -> Heartbeat {
    Heartbeat {
        v: 1,
        run: "r".into(),
        instance: "i".into(),
        partition,
        seq,
        produced_at,
        attempt: 0,
    }
}

#[test]
fn failures_and_losses_are_attributed_to_the_leader_at_send_time() {
    let mut c = cluster();
    let (s, leader) = c.send(1).unwrap();
    assert_eq!(leader, 2);
    // Broker 2 dies; partition 1 moves to broker 3 before the failure is reported.
    c.metadata(
        &[(1, "h:1".into()), (3, "h:3".into())],
        &[(0, 1), (1, 3), (2, 3)],
    );
    assert!(c.failed(1, s, 1_000));
    for p in [0, 2] {
        let (s, _) = c.send(p).unwrap();
        c.acknowledged(p, s, 0, 1_000);
        c.read(&beat(p, s, 1_000), 0, 1_004);
    }
    c.tick(1_500);
    let r = c.report(1_500);
    let broker = |id: i32| r.brokers.iter().find(|b| b.id == id).unwrap().clone();
    assert_eq!(broker(2).send_failures, 1);
    assert!(broker(2).produce_availability < 1.0);
    assert!(!broker(2).live);
    assert_eq!(broker(1).produce_availability, 1.0);
    assert_eq!(broker(3).produce_availability, 1.0);
    assert_eq!(broker(3).leads, vec![1, 2]);
    assert_eq!(r.latency_ms.count, 2);
    assert_eq!(r.latency_ms.max, 4);
}

#[test]
fn lost_sequences_are_listed_newest_last_and_bounded() {
    let mut c = cluster();
    for offset in 0..4 {
        let (s, _) = c.send(0).unwrap();
        c.acknowledged(0, s, offset, 0);
    }
    c.passed(0, 10);
    let lost = c.tick(100);
    assert_eq!(lost.len(), 4);
    let r = c.report(100);
    assert_eq!(r.lost, 4);
    let listed: Vec<u64> = r.lost_sequences.iter().map(|l| l.sequence).collect();
    assert_eq!(listed, vec![2, 3]);
    assert_eq!(r.brokers[0].lost, 4);
    assert!(r.consume_availability < 1.0);
}

#[test]
fn other_runs_garbage_and_clock_skew_are_counted_never_fatal() {
    let mut c = cluster();
    let mut other = beat(0, 0, 0);
    other.run = "old".into();
    c.read(&other, 0, 10);
    c.skip_at(0, 1, "invalid");
    let (s, _) = c.send(0).unwrap();
    c.acknowledged(0, s, 2, 0);
    c.read(&beat(0, s, 5_000), 2, 4_000);
    c.tick(4_000);
    let r = c.report(4_000);
    assert_eq!(r.skipped.get(SKIP_OTHER_RUN), Some(&1));
    assert_eq!(r.skipped.get("invalid"), Some(&1));
    assert_eq!(r.clock_skew, 1);
    assert_eq!((r.consumed, r.lost), (1, 0));
}

#[test]
fn a_recreated_topic_starts_over_without_counting_loss() {
    let mut c = cluster();
    let (s, _) = c.send(0).unwrap();
    c.acknowledged(0, s, 0, 0);
    c.topic_recreated();
    assert!(c.partitions().is_empty());
    c.metadata(&[(1, "h:1".into())], &[(0, 1)]);
    c.passed(0, 5);
    assert!(c.tick(10).is_empty());
    let r = c.report(10);
    assert_eq!((r.produced, r.acknowledged, r.lost), (1, 1, 0));
    assert_eq!(r.topic_changes.get("recreated"), Some(&1));
}

#[test]
fn an_overdue_partition_makes_its_leader_unavailable_for_consumption_not_lossy() {
    let mut c = cluster();
    let (s, _) = c.send(1).unwrap();
    c.acknowledged(1, s, 0, 0);
    c.tick(10_000);
    let r = c.report(10_000);
    let b2 = r.brokers.iter().find(|b| b.id == 2).unwrap();
    assert!(b2.consume_availability < 1.0);
    assert_eq!((r.lost, r.unread, r.overdue), (0, 1, 1));
}

#[test]
fn a_consume_mode_instance_accounts_each_writer_by_sequence() {
    let mut c = cluster_in(CanaryMode::Consume);
    let writer = |instance: &str, seq: u64| {
        let mut b = beat(1, seq, 0);
        b.instance = instance.into();
        b.run = format!("run-{instance}");
        b
    };
    // Writer a: 0..=5 without 2 and 4; writer b: 0..=3, 1 twice.
    for seq in [0, 1, 3, 5] {
        c.read(&writer("a", seq), seq as i64, 100);
    }
    for seq in [0, 1, 1, 2, 3] {
        c.read(&writer("b", seq), 10 + seq as i64, 100);
    }
    // The horizon: 4 sends x 1 s + 5 s.
    assert!(c.tick(8_000).is_empty(), "a gap is lag before the horizon");
    assert_eq!(c.report(8_000).unread, 2);
    let lost = c.tick(9_100);
    let seqs: Vec<(i32, u64, i32)> = lost
        .iter()
        .map(|l| (l.partition, l.sequence, l.leader))
        .collect();
    assert_eq!(seqs, vec![(1, 2, 2), (1, 4, 2)]);
    let r = c.report(9_100);
    assert_eq!(r.mode, "consume");
    assert_eq!((r.produced, r.consumed, r.lost, r.duplicated), (0, 8, 2, 1));
    assert_eq!(r.skipped.get(SKIP_OTHER_RUN), None);
    assert_eq!(r.sources.len(), 2);
    let a = r.sources.iter().find(|s| s.instance == "a").unwrap();
    assert_eq!(a.lost_sequences, vec![(1, 2), (1, 4)]);
    assert_eq!((a.counts.consumed, a.counts.lost), (4, 2));
    assert_eq!((a.partitions[0].first, a.partitions[0].next), (Some(0), 6));
    let b = r.sources.iter().find(|s| s.instance == "b").unwrap();
    assert_eq!(
        (b.counts.consumed, b.counts.duplicated, b.counts.lost),
        (4, 1, 0)
    );
    let broker2 = r.brokers.iter().find(|b| b.id == 2).unwrap();
    assert_eq!((broker2.lost, broker2.consumed), (2, 8));
}

#[test]
fn a_produce_mode_instance_holds_nothing_once_acknowledged() {
    let mut c = cluster_in(CanaryMode::Produce);
    for p in 0..3 {
        let (s, _) = c.send(p).unwrap();
        c.acknowledged(p, s, 0, 0);
    }
    assert!(c.tick(60_000).is_empty());
    let r = c.report(60_000);
    assert_eq!((r.produced, r.acknowledged, r.unread, r.lost), (3, 3, 0, 0));
    assert_eq!(r.mode, "produce");
}
