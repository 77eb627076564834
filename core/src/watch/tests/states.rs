//! One test per state, the order of states, and the JSON shapes of the reports.

use super::super::input::{GroupState, Observed};
use super::super::state::{ConsumerState, LagMethod};
use super::*;

#[test]
fn a_caught_up_partition_is_ok_with_zero_lag() {
    let mut h = Harness::new();
    h.produce(0, 5);
    h.catch_up(0);
    h.round();
    let p = h.p(0);
    assert_eq!(p.state, ConsumerState::Ok);
    assert_eq!(
        (p.committed.get(), p.log_start.get(), p.log_end.get()),
        (Some(5), Some(0), Some(5))
    );
    assert_eq!(p.lag_records, Some(0));
    assert_eq!(p.lag_seconds, Some(0.0));
    assert_eq!(p.lag_method, LagMethod::CaughtUp);
    assert_eq!(p.stuck_since, None);
    assert_eq!(p.last_commit_at, Some(T0));
}

#[test]
fn a_partition_whose_oldest_unread_record_is_older_than_max_lag_is_lagging() {
    let mut h = Harness::new();
    h.produce(0, 10);
    h.round();
    assert_eq!(h.state(), ConsumerState::Ok, "a fresh backlog is not lag");
    h.commit(0, 2);
    h.poll_after(61_000);
    let p = h.p(0);
    assert_eq!(p.state, ConsumerState::Lagging);
    assert_eq!(p.lag_records, Some(8));
    assert_eq!(p.lag_seconds, Some(61.0));
    assert_eq!(p.lag_method, LagMethod::FirstUnreadRecord);
}

#[test]
fn committed_below_log_start_is_expired_with_the_exact_count() {
    let mut h = Harness::new();
    h.produce(0, 40);
    h.commit(0, 10);
    h.part(0).log_start = 25;
    h.round();
    let p = h.p(0);
    assert_eq!(p.state, ConsumerState::Expired);
    assert_eq!(p.expired_records, Some(15));
    assert_eq!(p.expired_since, Some(T0));
    h.part(0).log_start = 30;
    h.poll_after(POLL);
    assert_eq!(h.p(0).expired_records, Some(20));
    assert_eq!(h.p(0).expired_since, Some(T0), "kept from the first round");
    h.commit(0, 30);
    h.poll_after(POLL);
    assert_eq!(h.p(0).expired_records, None);
    assert_eq!(h.p(0).expired_since, None);
}

#[test]
fn committed_past_the_log_end_is_committed_beyond_end() {
    let mut h = Harness::new();
    h.produce(0, 10);
    h.commit(0, 50);
    h.round();
    assert_eq!(h.state(), ConsumerState::CommittedBeyondEnd);
    assert_eq!(h.p(0).lag_records, Some(0));
}

#[test]
fn a_partition_without_a_commit_is_no_commit_and_out_of_the_group_lag() {
    let mut h = Harness::new();
    h.parts.push(Part::new("t", 1));
    h.produce(0, 10);
    h.produce(1, 10);
    h.commit(0, 4);
    h.part(1).committed = None;
    h.round();
    assert_eq!(h.p(1).state, ConsumerState::NoCommit);
    assert_eq!(h.p(1).committed, None);
    assert_eq!(h.p(1).lag_records, None);
    assert_eq!(h.group().summary.lag_records, Some(6));
    assert_eq!(h.group().summary.state, ConsumerState::NoCommit);
}

#[test]
fn an_empty_group_with_records_waiting_is_empty_group_with_backlog() {
    let mut h = Harness::new();
    h.status = Some(status(GroupState::Empty, 0));
    h.round();
    h.produce(0, 10);
    h.poll_after(POLL);
    assert_eq!(h.state(), ConsumerState::EmptyGroupWithBacklog);
    assert_eq!(h.group().summary.members, Some(0));
    assert_eq!(h.group().summary.group_state, GroupState::Empty);
    h.status = None;
    h.poll_after(POLL);
    assert_eq!(
        h.state(),
        ConsumerState::Unknown,
        "not known to be empty now"
    );
}

#[test]
fn an_empty_group_that_still_commits_is_not_empty_group_with_backlog() {
    // Readers that `assign()` partitions commit without joining: the group looks empty.
    let mut h = Harness::new();
    h.status = Some(status(GroupState::Empty, 0));
    h.round();
    for _ in 0..10 {
        h.produce(0, 10);
        let committed = h.parts[0].committed.unwrap();
        h.commit(0, committed + 8);
        h.poll_after(POLL);
        assert_eq!(h.state(), ConsumerState::Ok);
    }
}

#[test]
fn a_rebalancing_group_is_rebalancing() {
    let mut h = Harness::new();
    h.produce(0, 10);
    h.status = Some(status(GroupState::Rebalancing, 2));
    h.round();
    assert_eq!(h.state(), ConsumerState::Rebalancing);
    assert_eq!(h.group().summary.state, ConsumerState::Rebalancing);
}

#[test]
fn failed_or_stale_reads_are_unknown() {
    let failures = [
        Failures {
            committed: true,
            ..Failures::default()
        },
        Failures {
            log_end: true,
            ..Failures::default()
        },
        Failures {
            log_start: true,
            ..Failures::default()
        },
    ];
    for fail in failures {
        let mut h = Harness::new();
        h.produce(0, 10);
        h.part(0).fail = fail;
        h.round();
        assert_eq!(h.state(), ConsumerState::Unknown, "{fail:?}");
    }
    let mut h = Harness::new();
    h.status = None;
    h.round();
    assert_eq!(h.state(), ConsumerState::Unknown, "group state unread");
    assert_eq!(h.group().summary.group_state, GroupState::Unknown);
    assert_eq!(h.group().summary.members, None);

    for dead in [GroupState::Dead, GroupState::Unknown] {
        let mut h = Harness::new();
        h.status = Some(status(dead, 0));
        h.round();
        assert_eq!(h.state(), ConsumerState::Unknown, "{dead:?}");
    }

    // A read two polls old is still trusted; older is stale.
    let mut h = Harness::new();
    h.produce(0, 10);
    h.catch_up(0);
    let mut obs = h.observation();
    let now = h.now;
    obs.partitions[0].committed = Some(Observed {
        value: Some(10),
        read_at: now - 2 * POLL,
    })
    .into();
    let round = |obs| Round {
        now,
        groups: vec![obs],
    };
    let report = h.evaluator.evaluate(&round(obs.clone()));
    assert_eq!(report.groups[0].partitions[0].state, ConsumerState::Ok);
    obs.partitions[0].committed = Some(Observed {
        value: Some(10),
        read_at: now - 2 * POLL - 1,
    })
    .into();
    let report = h.evaluator.evaluate(&round(obs));
    let p = &report.groups[0].partitions[0];
    assert_eq!(p.state, ConsumerState::Unknown);
    assert_eq!(p.committed, None, "a stale value is not reported as read");
}

#[test]
fn the_group_is_its_worst_partition_and_sums_its_lag() {
    let mut h = Harness::new();
    h.parts.push(Part::new("t", 1));
    h.parts.push(Part::new("u", 0));
    h.produce(0, 10);
    h.produce(1, 10);
    h.produce(2, 10);
    h.catch_up(0);
    h.commit(1, 7);
    h.commit(2, 2);
    h.part(2).log_start = 5;
    h.round();
    h.commit(1, 8);
    h.poll_after(70_000);
    let summary = &h.group().summary;
    assert_eq!(summary.state, ConsumerState::Expired);
    // t/1: 8 and 9 unread; u/0: what retention left, 5..10 (3 more were deleted unread).
    assert_eq!(summary.lag_records, Some(2 + 5));
    assert_eq!(summary.lag_seconds, Some(70.0));
    assert_eq!(summary.lag_method, LagMethod::FirstUnreadRecord);
    assert_eq!(summary.last_commit_age_seconds, Some(0.0));

    h.part(1).fail.log_end = true;
    h.poll_after(POLL);
    assert_eq!(h.group().summary.lag_records, None, "one unknown partition");
    assert_eq!(h.group().summary.lag_seconds, None);
    assert_eq!(h.group().summary.lag_method, LagMethod::Unknown);
}

#[test]
fn a_group_without_partitions_takes_its_own_state() {
    for (group_state, expected) in [
        (Some(stable()), ConsumerState::Ok),
        (
            Some(status(GroupState::Rebalancing, 1)),
            ConsumerState::Rebalancing,
        ),
        (None, ConsumerState::Unknown),
    ] {
        let mut h = Harness::new();
        h.parts.clear();
        h.status = group_state;
        h.round();
        assert_eq!(h.group().summary.state, expected);
        assert_eq!(h.group().summary.lag_records, Some(0));
    }
}

#[test]
fn states_are_ordered_worst_first() {
    let all = ConsumerState::ALL;
    for pair in all.windows(2) {
        assert!(
            pair[0] > pair[1],
            "{:?} must be worse than {:?}",
            pair[0],
            pair[1]
        );
    }
    assert_eq!(all.iter().max(), Some(&ConsumerState::Expired));
    for state in all {
        let json = serde_json::to_string(&state).unwrap();
        assert_eq!(json, format!("\"{}\"", state.as_str()));
    }
}

#[test]
fn group_kafka_names_fold_into_the_states_the_rules_use() {
    let cases = [
        ("Stable", GroupState::Stable),
        ("PreparingRebalance", GroupState::Rebalancing),
        ("CompletingRebalance", GroupState::Rebalancing),
        ("Assigning", GroupState::Rebalancing),
        ("Reconciling", GroupState::Rebalancing),
        ("Empty", GroupState::Empty),
        ("Dead", GroupState::Dead),
        ("Unknown", GroupState::Unknown),
        ("stable", GroupState::Unknown),
    ];
    for (name, state) in cases {
        assert_eq!(GroupState::from_kafka(name), state, "{name}");
    }
}

#[test]
fn reports_serialize_to_the_api_shapes() {
    let mut h = Harness::new();
    h.produce(0, 10);
    h.commit(0, 4);
    h.round();
    h.commit(0, 5);
    h.poll_after(POLL);
    let group = serde_json::to_value(h.group()).unwrap();
    let keys: std::collections::BTreeSet<&str> = group
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    let expected = [
        "cluster",
        "group",
        "state",
        "lag_records",
        "lag_seconds",
        "lag_method",
        "stuck_since",
        "last_commit_age_seconds",
        "group_state",
        "members",
        "partitions",
    ];
    assert_eq!(keys, expected.into_iter().collect());
    assert_eq!(group["cluster"], "c");
    assert_eq!(group["state"], "ok");
    assert_eq!(group["lag_records"], 5);
    assert_eq!(group["lag_seconds"], 5.0);
    assert_eq!(group["stuck_since"], serde_json::Value::Null);
    let partition = &group["partitions"][0];
    for (key, value) in [
        ("topic", serde_json::json!("t")),
        ("partition", serde_json::json!(0)),
        ("state", serde_json::json!("ok")),
        ("committed", serde_json::json!(5)),
        ("log_start", serde_json::json!(0)),
        ("log_end", serde_json::json!(10)),
        ("lag_records", serde_json::json!(5)),
        ("lag_seconds", serde_json::json!(5.0)),
        ("lag_method", serde_json::json!("first_unread_record")),
    ] {
        assert_eq!(partition[key], value, "{key}");
    }
    let summary = serde_json::to_value(&h.group().summary).unwrap();
    assert!(summary.get("partitions").is_none());
    assert_eq!(summary.as_object().unwrap().len(), keys.len() - 1);
}
