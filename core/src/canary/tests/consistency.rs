use std::collections::{BTreeMap, BTreeSet};

use crate::canary::consistency::{
    BrokerMetadata, MetadataJudge, MetadataRound, PartitionView, QuorumState, ReplicaProgress,
    compare,
};
use crate::watch::incident::Phase;

fn view(leader: i32, epoch: i32, isr: &[i32]) -> PartitionView {
    PartitionView {
        leader,
        leader_epoch: epoch,
        isr: isr.to_vec(),
    }
}

fn broker(brokers: &[i32], p0: PartitionView) -> Option<BrokerMetadata> {
    let mut partitions = BTreeMap::new();
    partitions.insert(("t".to_owned(), 0), p0);
    Some(BrokerMetadata {
        brokers: brokers.iter().copied().collect::<BTreeSet<_>>(),
        partitions,
    })
}

fn quorum(hw: i64, leo: [i64; 3]) -> QuorumState {
    QuorumState {
        leader: 1,
        leader_epoch: 5,
        high_watermark: hw,
        replicas: (1..=3)
            .map(|id| {
                (
                    id,
                    ReplicaProgress {
                        log_end_offset: leo[id as usize - 1],
                    },
                )
            })
            .collect(),
    }
}

/// Node 3 is cut off: it still sees itself as leader of t-0 at epoch 1 and every broker.
fn split_round(at: i64) -> MetadataRound {
    let fresh = view(1, 2, &[1, 2]);
    MetadataRound {
        at,
        brokers: BTreeMap::from([
            (1, broker(&[1, 2], fresh.clone())),
            (2, broker(&[1, 2], fresh)),
            (3, broker(&[1, 2, 3], view(3, 1, &[1, 2, 3]))),
        ]),
        quorum: Some(quorum(100 + at, [100 + at, 100 + at, 50])),
    }
}

fn healthy_round(at: i64) -> MetadataRound {
    let v = view(1, 2, &[1, 2, 3]);
    MetadataRound {
        at,
        brokers: (1..=3)
            .map(|id| (id, broker(&[1, 2, 3], v.clone())))
            .collect(),
        quorum: Some(quorum(100 + at, [100 + at; 3])),
    }
}

#[test]
fn the_broker_with_an_old_epoch_a_stale_list_and_a_lagging_log_is_the_one_that_disagrees() {
    let d = compare(&split_round(0), Some(90));
    assert_eq!(d.keys().copied().collect::<Vec<_>>(), vec![3]);
    let three = &d[&3];
    assert_eq!(three.partitions_differing, 1);
    assert_eq!(three.partitions[0].reference, view(1, 2, &[1, 2]));
    assert_eq!(three.broker_list, Some(vec![1, 2, 3]));
    assert_eq!(three.reference_broker_list, vec![1, 2]);
    assert_eq!(
        (three.log_end_offset, three.high_watermark),
        (Some(50), Some(90))
    );
    assert!(compare(&healthy_round(0), Some(90)).is_empty());
}

#[test]
fn a_fenced_broker_that_still_answers_is_unlisted_even_with_the_same_views() {
    let v = view(1, 2, &[1, 2]);
    let round = MetadataRound {
        at: 0,
        brokers: (1..=3).map(|id| (id, broker(&[1, 2], v.clone()))).collect(),
        quorum: None,
    };
    let d = compare(&round, None);
    assert_eq!(d.keys().copied().collect::<Vec<_>>(), vec![3]);
    assert!(d[&3].unlisted);
    assert_eq!(d[&3].broker_list, None);
}

#[test]
fn a_mismatch_opens_after_grace_and_closes_when_the_broker_agrees_again() {
    let mut judge = MetadataJudge::new("local", 30_000);
    assert!(judge.round(&healthy_round(0)).is_empty());
    assert!(judge.round(&split_round(10_000)).is_empty(), "within grace");
    assert!(judge.round(&split_round(20_000)).is_empty());
    assert!(judge.inconsistent().is_empty());
    let opened = judge.round(&split_round(40_000));
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0].incident, Phase::Open);
    assert_eq!(
        (opened[0].broker, opened[0].since, opened[0].at),
        (3, 10_000, 40_000)
    );
    assert_eq!(opened[0].kind, "metadata_mismatch");
    assert!(judge.round(&split_round(50_000)).is_empty(), "opened once");
    assert_eq!(judge.inconsistent(), BTreeSet::from([3]));
    let closed = judge.round(&healthy_round(60_000));
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].incident, Phase::Close);
    assert_eq!(
        closed[0].since, 10_000,
        "the close names the episode's start"
    );
    assert!(judge.inconsistent().is_empty());
}

#[test]
fn a_short_disagreement_never_opens_and_a_silent_broker_is_not_judged() {
    let mut judge = MetadataJudge::new("local", 30_000);
    judge.round(&split_round(0));
    judge.round(&healthy_round(10_000));
    assert!(judge.round(&split_round(20_000)).is_empty());
    assert!(
        judge.round(&split_round(45_000)).is_empty(),
        "the clock restarted at 20 s"
    );
    let mut silent = split_round(60_000);
    silent.brokers.insert(3, None);
    assert!(judge.round(&silent).is_empty(), "neither opened nor closed");
    assert_eq!(judge.round(&split_round(70_000)).len(), 1);
}
