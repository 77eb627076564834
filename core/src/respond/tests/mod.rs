//! The responder's policy, step by step with injected time, and its properties over random
//! runs of incidents, ticks and failures.

mod props;
mod record;

use std::time::Duration;

use super::{ActionKind, Decision, GroupPolicy, Reason, Responder};
use crate::model::Millis;
use crate::watch::incident::{Evidence, OpenIncident};
use crate::watch::{GroupState, Incident, IncidentKind, Phase};

pub(super) const CLUSTER: &str = "a";
pub(super) const SUPPRESS: Millis = 3_600_000;
pub(super) const VERIFY: Millis = 180_000;

pub(super) fn policy(stateless: bool) -> GroupPolicy {
    GroupPolicy {
        stateless,
        suppress_for: Duration::from_millis(SUPPRESS as u64),
        verify_within: Duration::from_millis(VERIFY as u64),
    }
}

pub(super) fn responder(groups: &[(&str, bool)]) -> Responder {
    Responder::new(groups.iter().map(|(group, stateless)| {
        (
            (CLUSTER.to_owned(), (*group).to_owned()),
            policy(*stateless),
        )
    }))
}

pub(super) fn incident(group: &str, phase: Phase, since: Millis, at: Millis) -> Incident {
    Incident {
        phase,
        kind: IncidentKind::Stuck,
        cluster: CLUSTER.to_owned(),
        group: group.to_owned(),
        since,
        at,
        evidence: Evidence {
            group_state: GroupState::Stable,
            members: Some(1),
            partitions: Vec::new(),
            gone: Vec::new(),
        },
    }
}

fn open(r: &mut Responder, group: &str, at: Millis) -> Vec<Decision> {
    r.on_incident(&incident(group, Phase::Open, at - 10_000, at), at)
}

fn close(r: &mut Responder, group: &str, at: Millis) -> Vec<Decision> {
    r.on_incident(&incident(group, Phase::Close, at - 20_000, at), at)
}

fn actions(decisions: &[Decision]) -> Vec<(ActionKind, Reason)> {
    decisions.iter().map(|d| (d.action, d.reason)).collect()
}

#[test]
fn a_stateless_group_is_relaunched_once_when_its_incident_opens() {
    let mut r = responder(&[("sink", true)]);
    let decisions = open(&mut r, "sink", 1_000_000);
    assert_eq!(
        actions(&decisions),
        [(ActionKind::Relaunch, Reason::IncidentOpened)]
    );
    let d = &decisions[0];
    assert_eq!(
        (d.cluster.as_str(), d.group.as_str(), d.at),
        (CLUSTER, "sink", 1_000_000)
    );
    assert_eq!(d.incident.opened_at, 1_000_000);
    assert_eq!(d.incident.since, 990_000);
    // The same open seen again (a replay) is not a second incident.
    assert!(open(&mut r, "sink", 1_000_000).is_empty());
    // Closing before the deadline verifies the relaunch: no escalation later.
    assert!(close(&mut r, "sink", 1_050_000).is_empty());
    assert!(r.on_tick(1_000_000 + VERIFY + 1).is_empty());
}

#[test]
fn still_stuck_after_verify_within_is_escalated_once() {
    let mut r = responder(&[("sink", true)]);
    open(&mut r, "sink", 1_000_000);
    assert!(
        r.on_tick(1_000_000 + VERIFY - 1).is_empty(),
        "not before the deadline"
    );
    let decisions = r.on_tick(1_000_000 + VERIFY);
    assert_eq!(
        actions(&decisions),
        [(ActionKind::Escalate, Reason::StillStuck)]
    );
    assert_eq!(decisions[0].incident.opened_at, 1_000_000);
    assert!(
        r.on_tick(1_000_000 + 2 * VERIFY).is_empty(),
        "escalated once"
    );
}

#[test]
fn stuck_again_within_suppress_for_escalates_instead_of_relaunching() {
    let mut r = responder(&[("sink", true)]);
    open(&mut r, "sink", 1_000_000);
    close(&mut r, "sink", 1_060_000);
    let again = open(&mut r, "sink", 1_000_000 + SUPPRESS - 1);
    assert_eq!(
        actions(&again),
        [(ActionKind::Escalate, Reason::StuckAgain)]
    );
    // Its own deadline does not exist: no relaunch was made for it.
    assert!(r.on_tick(1_000_000 + SUPPRESS + VERIFY).is_empty());
    close(&mut r, "sink", 1_000_000 + SUPPRESS + VERIFY + 1);
    // Once suppress_for has passed since the relaunch, the next incident is relaunched.
    let later = open(&mut r, "sink", 1_000_000 + SUPPRESS + VERIFY + 10_000);
    assert_eq!(
        actions(&later),
        [(ActionKind::Relaunch, Reason::IncidentOpened)]
    );
}

#[test]
fn a_flapping_group_gets_one_relaunch_per_suppress_for() {
    let mut r = responder(&[("sink", true)]);
    let mut relaunches = Vec::new();
    let mut escalations = 0;
    // An incident every 5 minutes for 3 hours, each closing a minute later.
    for n in 0..36 {
        let at = 1_000_000 + n * 300_000;
        for d in open(&mut r, "sink", at) {
            match d.action {
                ActionKind::Relaunch => relaunches.push(at),
                ActionKind::Escalate => escalations += 1,
                ActionKind::Notify => panic!("a stateless group is not notified"),
            }
        }
        close(&mut r, "sink", at + 60_000);
    }
    assert_eq!(
        relaunches,
        [1_000_000, 1_000_000 + SUPPRESS, 1_000_000 + 2 * SUPPRESS]
    );
    assert_eq!(escalations, 33, "every other incident is escalated");
}

#[test]
fn a_stateful_group_is_only_notified() {
    let mut r = responder(&[("ledger", false)]);
    let decisions = open(&mut r, "ledger", 1_000_000);
    assert_eq!(
        actions(&decisions),
        [(ActionKind::Notify, Reason::Stateful)]
    );
    assert!(r.on_tick(1_000_000 + VERIFY).is_empty());
    close(&mut r, "ledger", 1_010_000);
    let again = open(&mut r, "ledger", 1_020_000);
    assert_eq!(actions(&again), [(ActionKind::Notify, Reason::Stateful)]);
}

#[test]
fn a_failed_relaunch_is_escalated_and_never_retried() {
    let mut r = responder(&[("sink", true)]);
    let relaunch = open(&mut r, "sink", 1_000_000).remove(0);
    let decisions = r.on_failed(&relaunch, 1_030_000);
    assert_eq!(
        actions(&decisions),
        [(ActionKind::Escalate, Reason::ActionFailed)]
    );
    assert!(
        r.on_tick(1_000_000 + VERIFY).is_empty(),
        "no second escalation at the deadline"
    );
    assert!(r.on_failed(&relaunch, 1_031_000).is_empty());
    // A failed escalation has nobody left to escalate to.
    assert!(r.on_failed(&decisions[0], 1_032_000).is_empty());
}

#[test]
fn groups_without_a_policy_are_left_alone() {
    let mut r = responder(&[("sink", true)]);
    assert!(!r.covers(CLUSTER, "other"));
    assert!(open(&mut r, "other", 1_000_000).is_empty());
    assert!(r.on_tick(1_000_000 + VERIFY).is_empty());
}

#[test]
fn groups_are_independent() {
    let mut r = responder(&[("one", true), ("two", true)]);
    assert_eq!(
        open(&mut r, "one", 1_000_000)[0].action,
        ActionKind::Relaunch
    );
    assert_eq!(
        open(&mut r, "two", 1_001_000)[0].action,
        ActionKind::Relaunch
    );
}

#[test]
fn the_stored_state_survives_a_restart_and_acts_on_nothing_twice() {
    let mut r = responder(&[("sink", true)]);
    open(&mut r, "sink", 1_000_000);
    let bytes = r.to_bytes();
    let mut restarted = responder(&[("sink", true)]);
    restarted.restore(&bytes).expect("restores");
    assert_eq!(restarted, r);
    // The watch's book still holds the incident: it was acted on already.
    let book = [OpenIncident {
        cluster: CLUSTER.into(),
        group: "sink".into(),
        kind: IncidentKind::Stuck,
        since: 990_000,
        opened_at: 1_000_000,
        partitions: Vec::new(),
    }];
    assert!(restarted.resume(&book, 1_010_000).is_empty());
    // The verify deadline came through the restart.
    assert_eq!(
        actions(&restarted.on_tick(1_000_000 + VERIFY)),
        [(ActionKind::Escalate, Reason::StillStuck)]
    );
}

#[test]
fn resume_acts_on_an_open_incident_the_responder_never_saw() {
    let mut r = responder(&[("sink", true)]);
    let book = [OpenIncident {
        cluster: CLUSTER.into(),
        group: "sink".into(),
        kind: IncidentKind::Expired,
        since: 990_000,
        opened_at: 1_000_000,
        partitions: Vec::new(),
    }];
    let decisions = r.resume(&book, 1_005_000);
    assert_eq!(
        actions(&decisions),
        [(ActionKind::Relaunch, Reason::IncidentOpened)]
    );
    assert_eq!(decisions[0].incident.kind, IncidentKind::Expired);
    assert_eq!(decisions[0].at, 1_005_000);
}

#[test]
fn resume_forgets_an_incident_that_closed_while_stopped() {
    let mut r = responder(&[("sink", true)]);
    open(&mut r, "sink", 1_000_000);
    assert!(r.resume(&[], 1_010_000).is_empty());
    assert!(
        r.on_tick(1_000_000 + VERIFY).is_empty(),
        "closed while stopped: the relaunch worked"
    );
}

#[test]
fn stored_state_errors_say_what_is_wrong() {
    let mut r = responder(&[("sink", true)]);
    assert_eq!(r.restore(&[]), Err(super::StateError::Empty));
    assert_eq!(
        r.restore(&[9, 1]),
        Err(super::StateError::Format { found: 9 })
    );
    assert!(matches!(
        r.restore(&[super::policy::STATE_FORMAT, 0xff, 0xff, 0xff]),
        Err(super::StateError::Decode(_))
    ));
}

#[test]
fn a_group_removed_from_the_config_is_forgotten_on_restore() {
    let mut r = responder(&[("sink", true), ("gone", true)]);
    open(&mut r, "gone", 1_000_000);
    let mut restarted = responder(&[("sink", true)]);
    restarted.restore(&r.to_bytes()).expect("restores");
    assert_eq!(restarted, responder(&[("sink", true)]));
}

/// The record an instance would publish for `decision`.
fn record_of(decision: &Decision) -> crate::respond::ActionRecord {
    crate::respond::ActionRecord {
        v: 1,
        action: decision.action,
        cluster: decision.cluster.clone(),
        group: decision.group.clone(),
        at: decision.at,
        reason: decision.reason,
        incident: decision.incident,
        outcome: crate::respond::Outcome::Ok,
        via: crate::respond::Via::Command,
        exit_code: Some(0),
        http_status: None,
        duration_ms: 10,
        output: String::new(),
        output_truncated: false,
        error: None,
    }
}

#[test]
fn an_instance_that_learns_what_another_did_repeats_none_of_it() {
    let mut acting = responder(&[("sink", true), ("ledger", false)]);
    let mut records = Vec::new();
    for d in open(&mut acting, "sink", 1_000_000) {
        records.push(record_of(&d));
    }
    for d in open(&mut acting, "ledger", 1_000_500) {
        records.push(record_of(&d));
    }
    let mut standby = responder(&[("sink", true), ("ledger", false)]);
    for record in &records {
        standby.learn(record);
        standby.learn(record); // read twice: changes nothing more
    }
    let book = [
        OpenIncident {
            cluster: CLUSTER.into(),
            group: "sink".into(),
            kind: IncidentKind::Stuck,
            since: 990_000,
            opened_at: 1_000_000,
            partitions: Vec::new(),
        },
        OpenIncident {
            cluster: CLUSTER.into(),
            group: "ledger".into(),
            kind: IncidentKind::Stuck,
            since: 990_500,
            opened_at: 1_000_500,
            partitions: Vec::new(),
        },
    ];
    assert!(
        standby.resume(&book, 1_010_000).is_empty(),
        "nothing acted on twice"
    );
    // The relaunch's verification carried over, and so did its suppression.
    assert_eq!(
        actions(&standby.on_tick(1_000_000 + VERIFY)),
        [(ActionKind::Escalate, Reason::StillStuck)]
    );
    close(&mut standby, "sink", 1_000_000 + VERIFY + 1);
    assert_eq!(
        actions(&open(&mut standby, "sink", 1_000_000 + VERIFY + 60_000)),
        [(ActionKind::Escalate, Reason::StuckAgain)]
    );
}

#[test]
fn a_learnt_escalation_is_not_escalated_again() {
    let mut acting = responder(&[("sink", true)]);
    let relaunch = open(&mut acting, "sink", 1_000_000).remove(0);
    let escalation = acting.on_tick(1_000_000 + VERIFY).remove(0);
    let mut standby = responder(&[("sink", true)]);
    standby.learn(&record_of(&relaunch));
    standby.learn(&record_of(&escalation));
    // An older record read late changes nothing.
    standby.learn(&record_of(&relaunch));
    assert!(standby.on_tick(1_000_000 + 2 * VERIFY).is_empty());
}
