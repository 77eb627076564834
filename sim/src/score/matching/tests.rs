use cairn_core::model::{Evidence, MessageRef};

use super::*;
use crate::truth::TRUTH_VERSION;

fn hop(app: &str) -> HopRef {
    HopRef {
        app: app.into(),
        group: Some(app.into()),
        location: "c/t".into(),
    }
}

fn truth(id: &str, app: &str, outcome: Outcome) -> TruthRecord {
    TruthRecord {
        v: TRUTH_VERSION,
        id: id.into(),
        stream: "s".into(),
        hop: hop(app),
        kind: Kind::Received,
        outcome,
        count: match outcome {
            Outcome::Delivered => 1,
            Outcome::Duplicated => 2,
            _ => 0,
        },
        reason: None,
        message: None,
        passed_at: None,
    }
}

fn lost_at(id: &str, app: &str, reason: Reason, passed_at: Millis) -> TruthRecord {
    TruthRecord {
        reason: Some(reason),
        passed_at: Some(passed_at),
        ..truth(id, app, Outcome::Lost)
    }
}

fn verdict(kind: VerdictKind, id: &str, app: &str, reason: Reason, at: Millis) -> Verdict {
    Verdict {
        verdict: kind,
        reason,
        id: id.into(),
        stream: "s".into(),
        hop: hop(app),
        message: MessageRef {
            location: "c/t".into(),
            partition: 0,
            offset: 1,
        },
        evidence: Evidence::default(),
        first_seen: 0,
        detected_at: at,
    }
}

fn lost(id: &str, app: &str, reason: Reason, at: Millis) -> Verdict {
    verdict(VerdictKind::Lost, id, app, reason, at)
}

fn by_reason(score: &StreamScore, reason: Reason) -> &ReasonScore {
    score
        .by_reason
        .iter()
        .find(|r| r.reason == reason)
        .unwrap_or_else(|| panic!("no row for {reason:?}: {score:?}"))
}

#[test]
fn true_and_false_positives_and_misses() {
    let truth = vec![
        lost_at("a", "g1", Reason::CommittedPast, 1_000),
        lost_at("b", "g1", Reason::CommittedPast, 1_000),
        truth("c", "g1", Outcome::Delivered),
        truth("c", "g2", Outcome::Delivered),
    ];
    let verdicts = vec![
        lost("a", "g1", Reason::CommittedPast, 2_000),
        // c was delivered: contradicted by the truth.
        lost("c", "g2", Reason::CommittedPast, 2_000),
        // No such message in the truth at all.
        lost("zz", "g1", Reason::CommittedPast, 2_000),
    ];
    let scores = score(&truth, &verdicts, None).unwrap();
    let s = &scores.overall;
    assert_eq!((s.messages, s.truth_hops, s.lost_true), (3, 4, 2));
    assert_eq!((s.detected, s.missed, s.false_positives), (1, 1, 2));
    assert_eq!((s.standing, s.retracted, s.false_alarms), (3, 0, 2));
    assert_eq!(s.precision, Some(1.0 / 3.0));
    assert_eq!(s.recall, Some(0.5));
    assert_eq!(scores.streams.len(), 1);
    assert_eq!(scores.streams[0].stream, "s");
    assert_eq!(scores.streams[0].detected, 1);
}

#[test]
fn a_verdict_at_an_unreached_or_filtered_hop_is_a_false_positive() {
    let truth = vec![
        lost_at("a", "g1", Reason::LostInApp, 0),
        truth("a", "g2", Outcome::Unreached),
        truth("b", "g2", Outcome::Filtered),
        truth("d", "g2", Outcome::Duplicated),
    ];
    let verdicts = vec![
        lost("a", "g1", Reason::LostInApp, 10),
        lost("a", "g2", Reason::CommittedPast, 10),
        lost("b", "g2", Reason::CommittedPast, 10),
        lost("d", "g2", Reason::CommittedPast, 10),
    ];
    let s = score(&truth, &verdicts, None).unwrap().overall;
    assert_eq!((s.detected, s.false_positives, s.false_alarms), (1, 3, 3));
    assert_eq!(s.recall, Some(1.0));
    assert_eq!(s.precision, Some(0.25));
}

#[test]
fn a_retracted_verdict_is_a_false_alarm_and_not_a_detection() {
    let truth = vec![
        truth("a", "g1", Outcome::Delivered),
        lost_at("b", "g1", Reason::CommittedPast, 0),
    ];
    let verdicts = vec![
        lost("a", "g1", Reason::CommittedPast, 10),
        verdict(VerdictKind::Retracted, "a", "g1", Reason::CommittedPast, 20),
        // Even where the truth says lost, a withdrawn verdict detected nothing.
        lost("b", "g1", Reason::CommittedPast, 10),
        verdict(VerdictKind::Retracted, "b", "g1", Reason::CommittedPast, 20),
    ];
    let s = score(&truth, &verdicts, None).unwrap().overall;
    assert_eq!((s.lost_verdicts, s.retracted, s.standing), (2, 2, 0));
    assert_eq!((s.detected, s.missed, s.false_positives), (0, 1, 0));
    assert_eq!(s.false_alarms, 2);
    assert_eq!(s.precision, None, "no standing verdict to be precise about");
    assert_eq!(s.recall, Some(0.0));
}

#[test]
fn repeated_verdict_records_count_once_with_the_earliest_detection() {
    let truth = vec![lost_at("a", "g1", Reason::CommittedPast, 1_000)];
    let verdicts = vec![
        lost("a", "g1", Reason::CommittedPast, 5_000),
        lost("a", "g1", Reason::CommittedPast, 3_000),
        lost("a", "g1", Reason::CommittedPast, 4_000),
    ];
    let scores = score(&truth, &verdicts, None).unwrap();
    assert_eq!((scores.verdict_records, scores.verdict_repeats), (3, 2));
    let s = &scores.overall;
    assert_eq!((s.lost_verdicts, s.detected, s.false_positives), (1, 1, 0));
    assert_eq!(s.precision, Some(1.0));
    assert_eq!(s.delay.unwrap().max_ms, 2_000);
}

#[test]
fn per_reason_precision_by_the_verdict_and_recall_by_the_truth() {
    let truth = vec![
        lost_at("a", "g1", Reason::CommittedPast, 0),
        lost_at("b", "g1", Reason::CommittedPast, 0),
        lost_at("c", "g1", Reason::Expired, 0),
    ];
    let verdicts = vec![
        lost("a", "g1", Reason::CommittedPast, 1),
        // Right hop, wrong reason: a detection, but right for neither reason.
        lost("b", "g1", Reason::Expired, 1),
        lost("c", "g1", Reason::Expired, 1),
    ];
    let s = score(&truth, &verdicts, None).unwrap().overall;
    assert_eq!((s.detected, s.wrong_reason, s.missed), (3, 1, 0));
    assert_eq!((s.precision, s.recall), (Some(1.0), Some(1.0)));
    let committed = by_reason(&s, Reason::CommittedPast);
    assert_eq!((committed.verdicts, committed.verdicts_right), (1, 1));
    assert_eq!(committed.precision, Some(1.0));
    assert_eq!((committed.lost_true, committed.detected_right), (2, 1));
    assert_eq!(committed.recall, Some(0.5));
    let expired = by_reason(&s, Reason::Expired);
    assert_eq!((expired.verdicts, expired.verdicts_right), (2, 1));
    assert_eq!(expired.precision, Some(0.5));
    assert_eq!(expired.recall, Some(1.0));
    assert!(
        s.by_reason.iter().all(|r| r.reason != Reason::LostInApp),
        "a reason in neither input has no row"
    );
}

#[test]
fn delay_percentiles_by_nearest_rank() {
    // 100 detections, delays 1..=100 s after passed_at; one without passed_at.
    let mut truth = Vec::new();
    let mut verdicts = Vec::new();
    for n in 1..=100i64 {
        let id = format!("m{n}");
        truth.push(lost_at(&id, "g1", Reason::CommittedPast, 10_000));
        verdicts.push(lost(&id, "g1", Reason::CommittedPast, 10_000 + n * 1_000));
    }
    let mut unknown = lost_at("u", "g1", Reason::CommittedPast, 0);
    unknown.passed_at = None;
    truth.push(unknown);
    verdicts.push(lost("u", "g1", Reason::CommittedPast, 99));
    // A false positive's delay is not a detection delay.
    verdicts.push(lost("nope", "g1", Reason::CommittedPast, 10_000_000));
    let s = score(&truth, &verdicts, None).unwrap().overall;
    let delay = s.delay.unwrap();
    assert_eq!(delay.count, 100);
    assert_eq!(
        (delay.p50_ms, delay.p99_ms, delay.max_ms),
        (50_000, 99_000, 100_000)
    );
    assert_eq!(s.delay_unknown, 1);

    let one = score(
        &[lost_at("a", "g1", Reason::Expired, 500)],
        &[lost("a", "g1", Reason::Expired, 700)],
        None,
    )
    .unwrap()
    .overall;
    let d = one.delay.unwrap();
    assert_eq!((d.count, d.p50_ms, d.p99_ms, d.max_ms), (1, 200, 200, 200));
    assert_eq!(score(&[], &[], None).unwrap().overall.delay, None);
}

#[test]
fn duplicates_true_by_hop_kind_and_found_from_metrics() {
    let mut sent_thrice = truth("a", "api", Outcome::Duplicated);
    sent_thrice.kind = Kind::Sent;
    sent_thrice.count = 3;
    let mut other_stream = truth("b", "g1", Outcome::Duplicated);
    other_stream.stream = "t".into();
    let truth = vec![
        sent_thrice,
        truth("a", "g1", Outcome::Duplicated),
        other_stream,
    ];
    let without = score(&truth, &[], None).unwrap();
    let kinds = |s: &StreamScore| {
        s.duplicates
            .iter()
            .map(|d| (d.kind, d.truth, d.found))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        kinds(&without.overall),
        [("written_twice", 2, None), ("delivered_twice", 2, None)]
    );
    assert_eq!(without.overall.stuck, None);

    let mut found = FoundCounts::default();
    found
        .duplicates
        .insert(("s".into(), "written_twice".into()), 2);
    found
        .duplicates
        .insert(("s".into(), "delivered_twice".into()), 1);
    found
        .duplicates
        .insert(("t".into(), "delivered_twice".into()), 4);
    found.stuck.insert("t".into(), 7);
    let with = score(&truth, &[], Some(&found)).unwrap();
    assert_eq!(
        kinds(&with.overall),
        [
            ("written_twice", 2, Some(2)),
            ("delivered_twice", 2, Some(5))
        ]
    );
    let s = &with.streams[0];
    assert_eq!(s.stream, "s");
    assert_eq!(
        kinds(s),
        [
            ("written_twice", 2, Some(2)),
            ("delivered_twice", 1, Some(1))
        ]
    );
    assert_eq!(
        (s.stuck, with.streams[1].stuck, with.overall.stuck),
        (Some(0), Some(7), Some(7))
    );
}

#[test]
fn streams_are_scored_apart_and_summed() {
    let mut t_lost = lost_at("x", "g1", Reason::Expired, 0);
    t_lost.stream = "t".into();
    let truth = vec![lost_at("a", "g1", Reason::CommittedPast, 0), t_lost];
    let mut v = lost("x", "g1", Reason::Expired, 1);
    v.stream = "t".into();
    let scores = score(&truth, &[v], None).unwrap();
    let names: Vec<_> = scores.streams.iter().map(|s| s.stream.as_str()).collect();
    assert_eq!(names, ["s", "t"]);
    assert_eq!(scores.streams[0].recall, Some(0.0));
    assert_eq!(scores.streams[1].recall, Some(1.0));
    assert_eq!(scores.overall.recall, Some(0.5));
    assert_eq!(scores.overall.stream, OVERALL);
}

#[test]
fn the_same_hop_twice_in_the_truth_is_refused() {
    let truth = vec![
        truth("a", "g1", Outcome::Delivered),
        truth("b", "g1", Outcome::Delivered),
        truth("a", "g1", Outcome::Lost),
    ];
    let err = score(&truth, &[], None).unwrap_err().to_string();
    assert!(err.contains("\"a\""), "{err}");
    assert!(err.contains("records 1 and 3"), "{err}");
}
