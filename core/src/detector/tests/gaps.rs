//! Tracer gap reports: what they cover is "unknown at this hop", never lost; what they do not
//! cover is judged as before. And no verdict right after the input resumed.

use proptest::prelude::*;

use super::*;
use crate::model::Gap;

/// audit's tracer reports dropping its `received` at c/l0 partition 0, offsets `ranges`.
fn audit_gap(ranges: Vec<(i64, i64)>) -> Gap {
    let count = ranges.iter().map(|(a, b)| (b - a + 1) as u64).sum();
    Gap {
        stream: "s".into(),
        app: "audit".into(),
        group: Some("g-audit".into()),
        location: "c/l0".into(),
        partition: 0,
        dropped: Kind::Received,
        ranges,
        count,
        from_ts: T0,
        to_ts: T0 + 1_000,
        copy: 0,
        copies: 1,
    }
}

/// Every trace of `id` at offset `offset` except audit's reception.
fn all_but_audit(h: &mut Harness, id: &str, offset: i64) {
    for t in journey(id, offset).into_iter().filter(|t| t.app != "audit") {
        h.trace(t);
    }
}

fn gap(h: &mut Harness, g: &Gap) {
    h.det.on_gap(g, h.now);
}

#[test]
fn a_reported_drop_is_unknown_not_lost() {
    let mut h = Harness::new();
    all_but_audit(&mut h, "m", 10);
    gap(&mut h, &audit_gap(vec![(5, 12)]));
    h.commit("g-audit", "c/l0", 0, 50);
    h.run_to(200_000);
    assert!(h.verdicts.is_empty(), "{:?}", h.verdicts);
    assert_eq!(h.total(catalog::UNKNOWN.name, None), 1);
    assert_eq!(h.total(catalog::DROPPED_TRACES_REPORTED.name, None), 8);
    assert_eq!(
        h.total(catalog::MESSAGES_COMPLETE.name, None),
        0,
        "unknown is not complete"
    );
    assert_eq!(h.det.messages_in_memory(), 0, "concluded, then dropped");
}

#[test]
fn a_report_that_comes_while_the_loss_is_confirming_still_settles_it() {
    let mut h = Harness::new();
    all_but_audit(&mut h, "m", 10);
    h.commit("g-audit", "c/l0", 0, 50);
    h.run_to(6_000); // the condition held once: confirming
    gap(&mut h, &audit_gap(vec![(10, 10)]));
    h.run_to(200_000);
    assert!(h.verdicts.is_empty());
    assert_eq!(h.total(catalog::UNKNOWN.name, None), 1);
}

#[test]
fn a_report_that_comes_before_the_message_covers_it_later() {
    let mut h = Harness::new();
    gap(&mut h, &audit_gap(vec![(10, 10)]));
    all_but_audit(&mut h, "m", 10);
    h.commit("g-audit", "c/l0", 0, 50);
    h.run_to(200_000);
    assert!(h.verdicts.is_empty());
    assert_eq!(h.total(catalog::UNKNOWN.name, None), 1);
}

#[test]
fn offsets_outside_the_report_are_still_lost() {
    let mut h = Harness::new();
    all_but_audit(&mut h, "dropped", 10);
    all_but_audit(&mut h, "lost", 11);
    // Another partition, another group's drop: neither covers "lost".
    let mut elsewhere = audit_gap(vec![(11, 11)]);
    elsewhere.partition = 1;
    gap(&mut h, &elsewhere);
    gap(&mut h, &audit_gap(vec![(10, 10), (12, 20)]));
    h.commit("g-audit", "c/l0", 0, 50);
    h.run_to(200_000);
    let lost: Vec<&str> = h.lost().iter().map(|v| v.id.as_str()).collect();
    assert_eq!(lost, vec!["lost"]);
    assert_eq!(h.total(catalog::UNKNOWN.name, None), 1);
}

#[test]
fn only_the_first_copy_counts_the_dropped_traces() {
    let mut h = Harness::new();
    let mut second = audit_gap(vec![(1, 4)]);
    second.copy = 1;
    second.copies = 2;
    gap(&mut h, &second);
    assert_eq!(h.total(catalog::DROPPED_TRACES_REPORTED.name, None), 0);
    second.copy = 0;
    gap(&mut h, &second);
    assert_eq!(h.total(catalog::DROPPED_TRACES_REPORTED.name, None), 4);
}

#[test]
fn a_report_the_lineage_cannot_place_is_rejected_and_counted() {
    let mut h = Harness::new();
    let mut g = audit_gap(vec![(1, 1)]);
    g.group = Some("g-wrong".into());
    gap(&mut h, &g);
    g.app = "ghost".into();
    gap(&mut h, &g);
    assert_eq!(
        h.total(catalog::TRACES_REJECTED.name, Some("unknown_group")),
        1
    );
    assert_eq!(
        h.total(catalog::TRACES_REJECTED.name, Some("unknown_app")),
        1
    );
    assert_eq!(h.total(catalog::DROPPED_TRACES_REPORTED.name, None), 0);
}

#[test]
fn a_processors_dropped_sent_covers_what_it_received_in_the_span() {
    let mut h = Harness::new();
    // router received both, wrote neither (its `sent` traces at c/l1 were dropped for "a").
    for (id, offset, received_at) in [("a", 10, T0 + 500), ("b", 11, T0 + 60_000)] {
        h.trace(sent(id, "producer", "c/l0", (0, offset), T0));
        h.trace(received(
            id,
            "router",
            "g-router",
            "c/l0",
            (0, offset),
            received_at,
        ));
        h.trace(received(
            id,
            "audit",
            "g-audit",
            "c/l0",
            (0, offset),
            received_at,
        ));
    }
    gap(
        &mut h,
        &Gap {
            stream: "s".into(),
            app: "router".into(),
            group: None,
            location: "c/l1".into(),
            partition: 0,
            dropped: Kind::Sent,
            ranges: vec![(100, 100)],
            count: 1,
            from_ts: T0 + 400,
            to_ts: T0 + 600,
            copy: 0,
            copies: 1,
        },
    );
    h.commit("g-router", "c/l0", 0, 50);
    h.run_to(200_000);
    let lost: Vec<(&str, Reason)> = h.lost().iter().map(|v| (v.id.as_str(), v.reason)).collect();
    assert_eq!(lost, vec![("b", Reason::LostInApp)]);
    assert_eq!(h.total(catalog::UNKNOWN.name, None), 1);
}

#[test]
fn no_verdict_until_the_confirmation_delay_after_the_input_resumed() {
    let mut h = Harness::new();
    all_but_audit(&mut h, "m", 10);
    h.commit("g-audit", "c/l0", 0, 50);
    h.run_to(6_000); // confirming
    h.det.input_resumed(T0 + 8_500);
    h.run_to(11_400);
    assert!(h.verdicts.is_empty(), "held until 8.5 s + 3 s");
    h.run_to(20_000);
    assert_eq!(h.lost().len(), 1, "then judged as before");
}

proptest! {
    /// Messages on one partition: each is delivered, dropped by audit's tracer (in the report)
    /// or truly skipped by audit. Whatever the mix, exactly the skipped ones are lost, the
    /// dropped ones are unknown, and the report's count arrives whole.
    #[test]
    fn only_true_losses_are_lost(fates in proptest::collection::vec(0u8..3, 1..60)) {
        let mut h = Harness::new();
        let mut dropped: Vec<(i64, i64)> = Vec::new();
        let mut skipped = Vec::new();
        let ids: Vec<String> = (0..fates.len()).map(|i| format!("m{i}")).collect();
        for (i, fate) in fates.iter().enumerate() {
            let offset = i as i64;
            all_but_audit(&mut h, &ids[i], offset);
            match fate {
                0 => h.trace(received(&ids[i], "audit", "g-audit", "c/l0", (0, offset), T0 + 12)),
                1 => match dropped.last_mut() {
                    Some(last) if last.1 + 1 == offset => last.1 = offset,
                    _ => dropped.push((offset, offset)),
                },
                _ => skipped.push(ids[i].clone()),
            }
        }
        let n_dropped = fates.iter().filter(|f| **f == 1).count() as u64;
        if !dropped.is_empty() {
            gap(&mut h, &audit_gap(dropped));
        }
        h.commit("g-audit", "c/l0", 0, fates.len() as i64);
        h.run_to(200_000);
        let mut lost: Vec<String> = h.lost().iter().map(|v| v.id.clone()).collect();
        lost.sort();
        skipped.sort();
        prop_assert_eq!(lost, skipped);
        prop_assert_eq!(h.total(catalog::UNKNOWN.name, None), n_dropped);
        prop_assert_eq!(h.total(catalog::DROPPED_TRACES_REPORTED.name, None), n_dropped);
    }
}
