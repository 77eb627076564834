//! The decision rule: each way a message is declared lost, and each way it must not be.

use super::*;

/// Everything but audit's reception of `m` at c/l0 (0, 10).
fn all_but_audit(h: &mut Harness) {
    for t in journey("m", 10).into_iter().filter(|t| t.app != "audit") {
        h.trace(t);
    }
}

#[test]
fn committed_past_is_lost_only_after_the_confirmation_delay() {
    let mut h = Harness::new();
    all_but_audit(&mut h);
    h.commit("g-audit", "c/l0", 0, 11);
    h.run_to(7_900);
    assert!(
        h.verdicts.is_empty(),
        "condition seen at 5 s must hold 3 s first"
    );
    h.run_to(8_000);
    assert_eq!(h.lost().len(), 1);
    assert_eq!(h.lost()[0].reason, Reason::CommittedPast);
    h.run_to(200_000);
    assert_eq!(h.verdicts.len(), 1, "emitted once, never again");
    assert_eq!(h.total(catalog::LOST.name, Some("committed_past")), 1);
    assert_eq!(h.total(catalog::MESSAGES_COMPLETE.name, None), 0);
}

#[test]
fn a_consumer_merely_behind_is_never_lost_and_ends_stuck() {
    let mut h = Harness::new();
    all_but_audit(&mut h);
    h.commit("g-audit", "c/l0", 0, 10);
    h.offsets.set_log_start("c/l0", 0, 0, h.now);
    h.run_to(119_900);
    assert!(h.verdicts.is_empty());
    assert_eq!(h.total(catalog::STUCK.name, None), 0);
    h.run_to(120_000);
    assert!(h.verdicts.is_empty());
    assert_eq!(
        h.total(catalog::STUCK.name, None),
        1,
        "reported stuck at max wait"
    );
    // Committing past it now changes nothing: a stuck message is concluded.
    h.commit("g-audit", "c/l0", 0, 50);
    h.run_to(300_000);
    assert!(h.verdicts.is_empty());
    assert_eq!(h.det.messages_in_memory(), 0, "dropped after its linger");
}

#[test]
fn behind_then_delivered_is_never_lost() {
    let mut h = Harness::new();
    all_but_audit(&mut h);
    h.commit("g-audit", "c/l0", 0, 3);
    h.run_to(60_000);
    h.trace(received(
        "m",
        "audit",
        "g-audit",
        "c/l0",
        (0, 10),
        T0 + 60_000,
    ));
    h.commit("g-audit", "c/l0", 0, 11);
    h.run_to(200_000);
    assert!(h.verdicts.is_empty());
    assert_eq!(h.total(catalog::MESSAGES_COMPLETE.name, None), 1);
    assert_eq!(h.total(catalog::STUCK.name, None), 0);
}

#[test]
fn log_start_past_the_offset_is_lost_expired() {
    let mut h = Harness::new();
    all_but_audit(&mut h);
    h.commit("g-audit", "c/l0", 0, 4);
    h.offsets.set_log_start("c/l0", 0, 11, h.now);
    h.run_to(10_000);
    let lost = h.lost();
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0].reason, Reason::Expired);
    assert_eq!(
        (lost[0].evidence.committed, lost[0].evidence.log_start),
        (Some(4), Some(11))
    );
}

#[test]
fn a_processor_that_read_but_never_wrote_is_lost_in_app() {
    let mut h = Harness::new();
    h.trace(sent("m", "producer", "c/l0", (0, 10), T0));
    h.trace(received("m", "router", "g-router", "c/l0", (0, 10), T0));
    h.trace(received("m", "audit", "g-audit", "c/l0", (0, 10), T0));
    h.commit("g-router", "c/l0", 0, 11);
    h.run_to(10_000);
    let lost = h.lost();
    assert_eq!(lost.len(), 1, "{lost:?}");
    let v = lost[0];
    assert_eq!(v.reason, Reason::LostInApp);
    assert_eq!(
        (v.hop.app.as_str(), v.hop.location.as_str()),
        ("router", "c/l1")
    );
    assert_eq!(
        (v.message.location.as_str(), v.message.offset),
        ("c/l0", 10),
        "re-fetch where it was read"
    );
    assert_eq!(h.total(catalog::LOST.name, Some("lost_in_app")), 1);
}

#[test]
fn a_loss_is_reported_at_the_first_hop_only() {
    let mut h = Harness::new();
    h.trace(sent("m", "producer", "c/l0", (0, 10), T0));
    h.trace(received("m", "audit", "g-audit", "c/l0", (0, 10), T0));
    // The router never got it, committed past it, and so nothing reached c/l1.
    h.commit("g-router", "c/l0", 0, 11);
    h.commit("g-sink", "c/l1", 0, 1_000);
    h.run_to(200_000);
    let lost = h.lost();
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert_eq!(
        (lost[0].hop.app.as_str(), lost[0].reason),
        ("router", Reason::CommittedPast)
    );
}

#[test]
fn a_filtered_message_expects_nothing_downstream() {
    let mut h = Harness::new();
    h.trace(sent("m", "producer", "c/l0", (0, 10), T0));
    h.trace(received("m", "router", "g-router", "c/l0", (0, 10), T0));
    h.trace(tr(
        "m",
        Kind::Filtered,
        "router",
        "c/l0",
        Some("g-router"),
        (0, 10),
        T0,
    ));
    h.trace(received("m", "audit", "g-audit", "c/l0", (0, 10), T0));
    h.commit("g-router", "c/l0", 0, 11);
    h.commit("g-sink", "c/l1", 0, 1_000);
    h.run_to(200_000);
    assert!(h.verdicts.is_empty());
    assert_eq!(h.total(catalog::MESSAGES_COMPLETE.name, None), 1);
}

#[test]
fn a_trace_in_flight_that_lands_before_confirmation_is_no_alarm() {
    let mut h = Harness::new();
    all_but_audit(&mut h);
    h.commit("g-audit", "c/l0", 0, 11);
    h.run_to(7_999);
    h.trace(received(
        "m",
        "audit",
        "g-audit",
        "c/l0",
        (0, 10),
        T0 + 4_000,
    ));
    h.run_to(200_000);
    assert!(h.verdicts.is_empty());
    assert_eq!(h.total(catalog::RETRACTED.name, None), 0);
}

#[test]
fn a_late_trace_retracts_the_verdict_once() {
    let mut h = Harness::new();
    all_but_audit(&mut h);
    h.commit("g-audit", "c/l0", 0, 11);
    h.run_to(20_000);
    assert_eq!(h.lost().len(), 1);
    h.trace(received(
        "m",
        "audit",
        "g-audit",
        "c/l0",
        (0, 10),
        T0 + 19_000,
    ));
    h.trace(received(
        "m",
        "audit",
        "g-audit",
        "c/l0",
        (0, 10),
        T0 + 19_000,
    ));
    assert_eq!(h.verdicts.len(), 2);
    let (lost, retracted) = (&h.verdicts[0], &h.verdicts[1]);
    assert_eq!(retracted.verdict, VerdictKind::Retracted);
    assert_eq!(
        (&retracted.hop, &retracted.message, retracted.reason),
        (&lost.hop, &lost.message, lost.reason)
    );
    assert_eq!(h.total(catalog::RETRACTED.name, None), 1);
    h.run_to(300_000);
    assert_eq!(h.verdicts.len(), 2);
    assert_eq!(
        h.total(catalog::MESSAGES_COMPLETE.name, None),
        1,
        "complete once the retraction closed it"
    );
}

#[test]
fn a_late_sent_retracts_lost_in_app_and_opens_the_next_hop() {
    let mut h = Harness::new();
    h.trace(sent("m", "producer", "c/l0", (0, 10), T0));
    h.trace(received("m", "router", "g-router", "c/l0", (0, 10), T0));
    h.trace(received("m", "audit", "g-audit", "c/l0", (0, 10), T0));
    h.commit("g-router", "c/l0", 0, 11);
    h.run_to(10_000);
    assert_eq!(h.lost().len(), 1);
    h.trace(sent("m", "router", "c/l1", (0, 7), T0 + 9_000));
    assert_eq!(h.verdicts[1].verdict, VerdictKind::Retracted);
    assert_eq!(h.verdicts[1].reason, Reason::LostInApp);
    // c/l1 is now reached: the sink must read it, and it committed past without doing so.
    h.commit("g-sink", "c/l1", 0, 8);
    h.run_to(200_000);
    let lost: Vec<_> = h
        .lost()
        .into_iter()
        .map(|v| (v.hop.app.clone(), v.reason))
        .collect();
    assert_eq!(
        lost,
        vec![
            ("router".to_owned(), Reason::LostInApp),
            ("sink".to_owned(), Reason::CommittedPast)
        ]
    );
}

#[test]
fn stale_or_unknown_offsets_mean_wait() {
    let mut h = Harness::new();
    all_but_audit(&mut h);
    // Read 6 s before the first trace and never again: stale (> 10 s old) from the 5 s check on.
    h.offsets
        .set_committed("g-audit", "c/l0", 0, 11, T0 - 6_000);
    h.offsets_frozen = true;
    h.run_to(30_000);
    assert!(h.verdicts.is_empty());
    assert_eq!(h.det.messages_in_memory(), 1);
    h.offsets_frozen = false;
    h.run_to(60_000);
    assert_eq!(h.lost().len(), 1);
}

#[test]
fn a_condition_that_stops_holding_restarts_the_confirmation() {
    let mut h = Harness::new();
    all_but_audit(&mut h);
    h.commit("g-audit", "c/l0", 0, 11);
    h.run_to(5_000);
    // The group was reset to before the message: it will read it again.
    h.commit("g-audit", "c/l0", 0, 2);
    h.run_to(8_000);
    assert!(h.verdicts.is_empty());
    h.commit("g-audit", "c/l0", 0, 11);
    h.run_to(60_000);
    assert_eq!(h.lost().len(), 1);
}

#[test]
fn a_received_without_its_sent_gives_the_position_and_a_trace_gap() {
    let mut h = Harness::new();
    // The producer's `sent` trace never came; the router's `received` says (2, 77).
    h.trace(received("m", "router", "g-router", "c/l0", (2, 77), T0));
    h.trace(sent("m", "router", "c/l1", (0, 5), T0));
    h.trace(received("m", "sink", "g-sink", "c/l1", (0, 5), T0));
    h.commit("g-audit", "c/l0", 2, 78);
    h.run_to(200_000);
    let lost = h.lost();
    assert_eq!(lost.len(), 1);
    assert_eq!(
        (
            lost[0].hop.app.as_str(),
            lost[0].message.partition,
            lost[0].message.offset
        ),
        ("audit", 2, 77)
    );
    assert_eq!(h.det.messages_in_memory(), 0);
    assert_eq!(
        h.total(catalog::TRACE_GAPS.name, None),
        1,
        "the producer's missing sent"
    );
}

#[test]
fn a_processor_that_wrote_downstream_did_read_upstream() {
    let mut h = Harness::new();
    h.trace(sent("m", "producer", "c/l0", (0, 10), T0));
    h.trace(received("m", "audit", "g-audit", "c/l0", (0, 10), T0));
    // The router's `received` trace is lost, but its `sent` proves it read the message.
    h.trace(sent("m", "router", "c/l1", (0, 5), T0));
    h.trace(received("m", "sink", "g-sink", "c/l1", (0, 5), T0));
    h.commit("g-router", "c/l0", 0, 11);
    h.run_to(200_000);
    assert!(h.verdicts.is_empty());
    assert_eq!(h.total(catalog::TRACE_GAPS.name, None), 1);
    assert_eq!(h.total(catalog::MESSAGES_COMPLETE.name, None), 1);
}

#[test]
fn fan_out_losses_are_reported_per_branch() {
    let mut h = Harness::new();
    h.trace(sent("m", "producer", "c/l0", (0, 10), T0));
    h.commit("g-router", "c/l0", 0, 11);
    h.commit("g-audit", "c/l0", 0, 11);
    h.run_to(20_000);
    let mut hops: Vec<_> = h.lost().into_iter().map(|v| v.hop.app.clone()).collect();
    hops.sort();
    assert_eq!(hops, vec!["audit", "router"]);
}

#[test]
fn re_checks_back_off_while_a_consumer_is_behind() {
    let mut h = Harness::new();
    all_but_audit(&mut h);
    h.commit("g-audit", "c/l0", 0, 1);
    let mut deadlines = Vec::new();
    for _ in 0..6 {
        let next = h.det.next_deadline().unwrap();
        deadlines.push(next - T0);
        h.run_to(next - T0);
    }
    assert_eq!(
        deadlines,
        vec![5_000, 6_000, 8_000, 12_000, 20_000, 28_000],
        "1 s doubling, capped at 8 s"
    );
}

#[test]
fn a_downstream_received_proves_the_processor_wrote_it() {
    let mut h = Harness::new();
    h.trace(sent("m", "producer", "c/l0", (0, 10), T0));
    h.trace(received("m", "router", "g-router", "c/l0", (0, 10), T0));
    h.trace(received("m", "audit", "g-audit", "c/l0", (0, 10), T0));
    // The router's `sent` trace is lost; the sink's `received` shows the message reached c/l1.
    h.trace(received("m", "sink", "g-sink", "c/l1", (1, 4), T0));
    h.commit("g-router", "c/l0", 0, 11);
    h.run_to(200_000);
    assert!(h.verdicts.is_empty(), "{:?}", h.verdicts);
    assert_eq!(
        h.total(catalog::TRACE_GAPS.name, None),
        1,
        "the router's missing sent"
    );
}

#[test]
fn a_late_downstream_received_retracts_lost_in_app() {
    let mut h = Harness::new();
    h.trace(sent("m", "producer", "c/l0", (0, 10), T0));
    h.trace(received("m", "router", "g-router", "c/l0", (0, 10), T0));
    h.trace(received("m", "audit", "g-audit", "c/l0", (0, 10), T0));
    h.commit("g-router", "c/l0", 0, 11);
    h.run_to(10_000);
    assert_eq!(h.lost().len(), 1);
    h.trace(received("m", "sink", "g-sink", "c/l1", (1, 4), T0 + 9_000));
    assert_eq!(h.verdicts.len(), 2);
    assert_eq!(
        (h.verdicts[1].verdict, h.verdicts[1].reason),
        (VerdictKind::Retracted, Reason::LostInApp)
    );
    assert_eq!(h.total(catalog::RETRACTED.name, None), 1);
}

#[test]
fn a_bounded_tick_stops_between_deadlines_and_the_next_ticks_finish_the_work() {
    let mut h = Harness::new();
    let ids: Vec<String> = (0..50).map(|n| format!("m{n}")).collect();
    for (n, id) in ids.iter().enumerate() {
        // One millisecond apart: each message has a deadline of its own.
        h.now += 1;
        for t in journey(id, 10 + n as i64)
            .into_iter()
            .filter(|t| t.app != "audit")
        {
            h.trace(t);
        }
    }
    h.now = T0 + 20_000;
    // Offsets read now, so they are fresh for the checks below.
    h.commit("g-audit", "c/l0", 0, 100);
    let mut calls = 1;
    while h
        .det
        .on_tick_bounded(h.now, h.now, &h.offsets, &mut h.verdicts, 10)
    {
        calls += 1;
    }
    assert!(calls >= 5, "50 due messages in ticks of 10: {calls} calls");
    assert!(h.verdicts.is_empty(), "first checks only confirm");
    // Every confirming check was re-armed by the same tick, at one deadline: a bounded tick
    // takes a deadline whole, so one call decides them all.
    h.now = T0 + 30_000;
    h.commit("g-audit", "c/l0", 0, 100);
    assert!(
        !h.det
            .on_tick_bounded(h.now, h.now, &h.offsets, &mut h.verdicts, 10)
    );
    let lost: std::collections::BTreeSet<&str> = h.lost().iter().map(|v| v.id.as_str()).collect();
    assert_eq!(lost.len(), ids.len(), "every message decided, once");
    assert_eq!(h.lost().len(), ids.len());
}

#[test]
fn no_timer_runs_past_what_was_read_so_a_trace_read_late_is_never_a_loss() {
    for trace_was_written in [true, false] {
        let mut h = Harness::new();
        for t in journey("m", 10).into_iter().filter(|t| t.app != "audit") {
            h.trace(t);
        }
        h.commit("g-audit", "c/l0", 0, 11);
        // The shell has read its input only through T0 + 50 for a minute: audit's trace, if it
        // was written, waits unread, while the commit past the message is fresh all along.
        h.read_through = Some(T0 + 50);
        h.run_to(60_000);
        assert!(h.verdicts.is_empty(), "judged past what was read");
        if trace_was_written {
            h.trace(received("m", "audit", "g-audit", "c/l0", (0, 10), T0 + 12));
        }
        h.read_through = None;
        h.run_to(70_000);
        let expected = usize::from(!trace_was_written);
        assert_eq!(h.lost().len(), expected, "written: {trace_was_written}");
    }
}
