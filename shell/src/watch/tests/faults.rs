//! The faults of docs/watch.md that need no real broker: a rebalance longer than the window,
//! odd record timestamps, topics deleted, recreated or grown under a watched group, and reads
//! refused because the coordinator is loading or the principal is not authorized. Each is a
//! counter and a log line, never a false stuck.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cairn_core::config::WatchConfig;
use cairn_core::metrics::catalog;
use cairn_core::watch::{
    ConsumerState, FirstUnread, GroupObservation, GroupSettings, GroupState, GroupStatus,
    PartitionObservation, Round,
};
use rdkafka::ClientConfig;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::mocking::MockCluster;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

use super::{CLUSTER, Fixture, GROUP, at};
use crate::watch::committed::Commit;
use crate::watch::events::{ReadReason, TopicChange};
use crate::watch::poller::judge;
use crate::watch::reads::{ClusterReads, Topics};
use crate::watch::round::{Round as ClusterRound, RoundMemory};
use crate::watch::view::WatchCounters;

const START: i64 = 1_000_000;

/// One round: the group in `state`, on `committed` of a log ending at `end`.
fn observed(
    now: i64,
    state: GroupState,
    committed: i64,
    end: i64,
    first_unread: Option<FirstUnread>,
) -> Round {
    Round {
        now,
        groups: vec![GroupObservation {
            cluster: CLUSTER.into(),
            group: GROUP.into(),
            settings: GroupSettings {
                window: Duration::from_secs(3),
                poll_interval: Duration::from_secs(1),
                ..GroupSettings::default()
            },
            status: at(now, GroupStatus { state, members: 2 }),
            partitions: vec![PartitionObservation {
                topic: "t".into(),
                partition: 0,
                committed: at(now, Some(committed)).into(),
                log_start: at(now, 0).into(),
                log_end: at(now, end).into(),
                first_unread: first_unread.map(Box::new),
            }],
        }],
    }
}

impl Fixture {
    fn judge(&self, round: &Round) -> (ConsumerState, Option<i64>) {
        judge(
            CLUSTER,
            round.clone(),
            &self.view,
            &self.book,
            &self.publish,
        );
        let latest = self.view.clusters[0].latest.lock();
        let group = latest
            .as_ref()
            .and_then(|r| r.group(CLUSTER, GROUP))
            .expect("the group's report");
        (group.summary.state, group.summary.stuck_since)
    }

    async fn metric_line(&self, line: &str) -> bool {
        let (_, metrics) = self.get("/metrics").await;
        metrics.lines().any(|l| l == line)
    }
}

#[tokio::test]
async fn a_rebalance_longer_than_the_window_is_counted_once_and_never_stuck() {
    let mut fixture = Fixture::new();
    // Ten seconds of rebalancing (window 3 s) while records wait on an unchanged commit.
    for n in 0..10 {
        let round = observed(
            START + n * 1_000,
            GroupState::Rebalancing,
            100,
            110 + n,
            None,
        );
        let (state, stuck_since) = fixture.judge(&round);
        // Records of unknown age wait: lagging, which ranks above rebalancing; never stuck.
        assert_eq!(state, ConsumerState::Lagging, "round {n}");
        assert_eq!(stuck_since, None, "round {n}");
    }
    let counted = |f: &Fixture| f.view.counters.long_rebalances.lock().get(CLUSTER).copied();
    assert_eq!(counted(&fixture), Some(1), "said once, not once per round");
    let line = format!("{}{{cluster=\"c\"}} 1", catalog::WATCH_LONG_REBALANCES.name);
    assert!(fixture.metric_line(&line).await, "{line}");

    // Settled, still on the same commit: a full window from the end of the rebalance.
    for n in 10..13 {
        let round = observed(START + n * 1_000, GroupState::Stable, 100, 110 + n, None);
        let (state, _) = fixture.judge(&round);
        assert_ne!(
            state,
            ConsumerState::Stuck,
            "round {n}: inside the new window"
        );
    }
    assert!(fixture.view.clusters[0].rebalancing.lock().is_empty());
    let round = observed(START + 13_000, GroupState::Stable, 100, 123, None);
    assert_eq!(
        fixture.judge(&round),
        (ConsumerState::Stuck, Some(START + 10_000)),
        "stuck a window after the rebalance ended, not before"
    );
    assert_eq!(counted(&fixture), Some(1));
    assert!(fixture.sent.try_recv().is_ok(), "the stuck incident opens");
}

#[tokio::test]
async fn odd_first_unread_timestamps_are_counted_once_each() {
    let fixture = Fixture::new();
    let missing = FirstUnread::Record {
        from: 100,
        offset: 100,
        timestamp: -1,
    };
    for n in 0..3 {
        let round = observed(
            START + n * 1_000,
            GroupState::Stable,
            100,
            110,
            Some(missing),
        );
        fixture.judge(&round);
    }
    let future = FirstUnread::Record {
        from: 105,
        offset: 105,
        timestamp: START + 3_600_000,
    };
    for n in 3..6 {
        let round = observed(
            START + n * 1_000,
            GroupState::Stable,
            105,
            110,
            Some(future),
        );
        let (state, stuck_since) = fixture.judge(&round);
        assert_eq!((state, stuck_since), (ConsumerState::Ok, None));
        let latest = fixture.view.clusters[0].latest.lock();
        let report = latest.as_ref().and_then(|r| r.group(CLUSTER, GROUP));
        assert_eq!(
            report.and_then(|g| g.summary.lag_seconds),
            Some(0.0),
            "clamped to now"
        );
    }
    for kind in ["missing", "future"] {
        let line = format!(
            "{}{{cluster=\"c\",kind=\"{kind}\"}} 1",
            catalog::WATCH_ODD_TIMESTAMPS.name
        );
        assert!(fixture.metric_line(&line).await, "{line}");
    }
}

fn topics(listed: &[(&str, i32)]) -> Topics {
    Topics {
        listed: listed
            .iter()
            .map(|(t, n)| ((*t).to_owned(), (0..*n).collect()))
            .collect(),
        failed: Vec::new(),
    }
}

fn changes(counters: &WatchCounters) -> BTreeMap<&'static str, u64> {
    counters
        .topic_changes
        .lock()
        .iter()
        .map(|((_, change), n)| (*change, *n))
        .collect()
}

#[test]
fn topic_changes_under_a_watched_group_are_counted_and_a_failed_listing_is_no_deletion() {
    let config = WatchConfig::from_toml_str(
        "[clusters.c]\nbootstrap = \"127.0.0.1:9\"\n[http]\nlisten = \"127.0.0.1:0\"\n[watch]\n",
    )
    .expect("a valid config");
    let failures = RefCell::new(Vec::new());
    let failed = |operation: &'static str, reason: ReadReason, _: &dyn std::fmt::Display| {
        failures.borrow_mut().push((operation, reason));
    };
    let clock = || START;
    let round = ClusterRound {
        config: &config,
        cluster: CLUSTER,
        clock: &clock,
        failed: &failed,
    };
    let counters = WatchCounters::default();
    let mut memory = RoundMemory::default();
    memory.group_topics.insert(
        GROUP.into(),
        BTreeSet::from(["a".to_owned(), "b".to_owned()]),
    );
    round.follow_topics(
        &mut memory,
        topics(&[("a", 1), ("b", 1), ("x", 1)]),
        &counters,
    );
    assert!(
        changes(&counters).is_empty(),
        "the first listing changes nothing"
    );

    // `a` grows, `b` goes, and `x` (no watched group reads it) goes unremarked.
    round.follow_topics(&mut memory, topics(&[("a", 3)]), &counters);
    let expected = BTreeMap::from([
        (TopicChange::Deleted.as_str(), 1),
        (TopicChange::PartitionsAdded.as_str(), 1),
    ]);
    assert_eq!(changes(&counters), expected);
    assert!(!memory.topics.contains_key("b"), "gone from this round on");

    // `b` is back; `a` is named with an error: its partitions are kept, it is not deleted.
    let mut listing = topics(&[("b", 1)]);
    listing
        .failed
        .push(("a".into(), RDKafkaErrorCode::TopicAuthorizationFailed));
    round.follow_topics(&mut memory, listing, &counters);
    let expected = BTreeMap::from([
        (TopicChange::Deleted.as_str(), 1),
        (TopicChange::PartitionsAdded.as_str(), 1),
        (TopicChange::Recreated.as_str(), 1),
    ]);
    assert_eq!(changes(&counters), expected);
    assert_eq!(memory.topics.get("a"), Some(&vec![0, 1, 2]));
    assert_eq!(
        *failures.borrow(),
        [("metadata", ReadReason::Authorization)]
    );
}

#[test]
fn read_failures_are_named_by_a_bounded_reason() {
    use RDKafkaErrorCode as C;
    for (code, reason) in [
        (C::CoordinatorLoadInProgress, "coordinator_loading"),
        (C::NotCoordinator, "coordinator_unavailable"),
        (C::GroupAuthorizationFailed, "authorization"),
        (C::TopicAuthorizationFailed, "authorization"),
        (C::ClusterAuthorizationFailed, "authorization"),
        (C::OperationTimedOut, "timeout"),
        (C::UnknownTopicOrPartition, "unknown_topic"),
        (C::AllBrokersDown, "broker_down"),
        (C::InvalidRecord, "other"),
    ] {
        assert_eq!(ReadReason::of_code(Some(code)).as_str(), reason, "{code:?}");
    }
    assert_eq!(ReadReason::of_code(None), ReadReason::Other);
}

/// A group's committed offsets read while the broker answers OffsetFetch with `error`.
fn committed_read_failing_with(error: RDKafkaRespErr) -> ReadReason {
    let mock = MockCluster::new(1).expect("a mock cluster");
    mock.create_topic("t", 1, 1).expect("a topic");
    let mut base = ClientConfig::new();
    base.set("bootstrap.servers", mock.bootstrap_servers());
    let reads = ClusterReads::new(&base, Duration::from_secs(2)).expect("the reads");
    mock.request_errors(RDKafkaApiKey::OffsetFetch, &[error; 200]);
    let answers = reads.committed(&[GROUP.to_owned()], &[("t".to_owned(), 0)]);
    match answers[..] {
        [ref group] => match group[..] {
            [Commit::Failed(code)] => ReadReason::of_code(code),
            ref other => panic!("the read should fail as a whole, got {other:?}"),
        },
        ref other => panic!("one answer per group, got {other:?}"),
    }
}

#[test]
fn a_loading_coordinator_or_a_refused_group_fails_the_read_with_its_reason() {
    assert_eq!(
        committed_read_failing_with(RDKafkaRespErr::RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED),
        ReadReason::Authorization
    );
    // librdkafka's admin request does not retry a loading coordinator (its consumer did, until
    // the timeout): the read fails at once, named for what it is, and the next round asks again.
    let loading =
        committed_read_failing_with(RDKafkaRespErr::RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS);
    assert_eq!(loading, ReadReason::CoordinatorLoading);
}
