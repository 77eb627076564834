//! Incidents: one open and one close per episode, no repeats, restore across a restart.

use super::super::incident::{
    BookError, Incident, IncidentBook, IncidentError, IncidentKind, Phase, decode, encode,
};
use super::super::input::GroupState;
use super::super::state::ConsumerState;
use super::*;

fn phases(incidents: &[Incident]) -> Vec<(Phase, IncidentKind)> {
    incidents.iter().map(|i| (i.phase, i.kind)).collect()
}

/// A group whose consumer read 100 records, committed at T0, and stopped; 10 records arrive
/// per poll from then on. Returns when its stuck clock started: the first round with records
/// waiting.
fn stopped_consumer(h: &mut Harness) -> Millis {
    h.produce(0, 100);
    h.catch_up(0);
    h.round();
    h.produce(0, 10);
    h.poll_after(POLL);
    h.now
}

fn keep_producing(h: &mut Harness, ms: Millis) {
    for _ in 0..ms / POLL {
        h.produce(0, 10);
        h.poll_after(POLL);
    }
}

#[test]
fn a_stuck_episode_opens_once_and_closes_once() {
    let mut h = Harness::new();
    let stuck_since = stopped_consumer(&mut h);
    keep_producing(&mut h, 6 * WINDOW);
    assert_eq!(phases(&h.incidents), [(Phase::Open, IncidentKind::Stuck)]);
    let open = &h.incidents[0];
    assert_eq!(open.since, stuck_since);
    assert_eq!(open.at, stuck_since + WINDOW);
    assert_eq!((open.cluster.as_str(), open.group.as_str()), ("c", "g"));
    let evidence = &open.evidence;
    assert_eq!(evidence.group_state, GroupState::Stable);
    assert_eq!(evidence.members, Some(1));
    assert_eq!(evidence.partitions.len(), 1);
    let p = &evidence.partitions[0];
    assert_eq!(p.state, ConsumerState::Stuck);
    assert_eq!(p.committed, Some(100));
    assert_eq!(p.stuck_since, Some(stuck_since));
    assert_eq!(p.last_commit_at, Some(T0));
    assert_eq!(h.book.open().len(), 1);

    h.commit(0, 101);
    h.poll_after(POLL);
    assert_eq!(
        phases(&h.incidents),
        [
            (Phase::Open, IncidentKind::Stuck),
            (Phase::Close, IncidentKind::Stuck)
        ]
    );
    let close = &h.incidents[1];
    assert_eq!(
        close.since, stuck_since,
        "an open and its close share `since`"
    );
    assert_eq!(close.at, h.now);
    assert_eq!(close.evidence.partitions[0].committed, Some(101));
    assert!(h.book.open().is_empty());
    keep_producing(&mut h, WINDOW / 2);
    assert_eq!(h.incidents.len(), 2, "nothing more while it recovers");
}

#[test]
fn a_rebalance_or_a_gap_during_an_incident_does_not_close_it() {
    let mut h = Harness::new();
    stopped_consumer(&mut h);
    keep_producing(&mut h, WINDOW + POLL);
    assert_eq!(h.incidents.len(), 1);
    h.status = Some(status(GroupState::Rebalancing, 2));
    keep_producing(&mut h, 2 * WINDOW);
    h.status = Some(stable());
    h.part(0).fail.committed = true;
    keep_producing(&mut h, WINDOW);
    h.part(0).fail.committed = false;
    // The clock starts again after the gap; the incident holds meanwhile, then the
    // partition is stuck again inside the same episode.
    keep_producing(&mut h, 2 * WINDOW);
    assert_eq!(h.state(), ConsumerState::Stuck);
    assert_eq!(phases(&h.incidents), [(Phase::Open, IncidentKind::Stuck)]);
}

#[test]
fn retention_overtaking_a_stopped_consumer_opens_expired_with_the_exact_count() {
    let mut h = Harness::new();
    stopped_consumer(&mut h);
    keep_producing(&mut h, 3 * POLL);
    // Retention removes the first 130 offsets: 30 of them were never read.
    h.part(0).log_start = 130;
    h.poll_after(POLL);
    assert_eq!(phases(&h.incidents), [(Phase::Open, IncidentKind::Expired)]);
    let p = &h.incidents[0].evidence.partitions[0];
    assert_eq!(p.expired_records, Some(30));
    assert_eq!((p.committed, p.log_start), (Some(100), Some(130)));
    h.part(0).log_start = 150;
    keep_producing(&mut h, 2 * WINDOW);
    assert_eq!(
        h.state(),
        ConsumerState::Expired,
        "stuck too, expired is worse"
    );
    assert!(h.p(0).stuck_since.get().is_some());
    // The consumer comes back and resets to the log start.
    h.commit(0, 150);
    h.poll_after(POLL);
    assert_eq!(
        phases(&h.incidents),
        [
            (Phase::Open, IncidentKind::Expired),
            (Phase::Close, IncidentKind::Expired)
        ]
    );
    let closed = &h.incidents[1].evidence.partitions[0];
    assert_eq!(
        closed.expired_records,
        Some(50),
        "the most the incident saw"
    );
    assert_eq!(closed.state, ConsumerState::Lagging);
}

#[test]
fn several_partitions_make_one_episode() {
    let mut h = Harness::new();
    h.parts.push(Part::new("t", 1));
    h.produce(0, 10);
    h.produce(1, 10);
    h.round();
    keep_producing(&mut h, WINDOW);
    // Partition 1 retention overtakes its consumer while partition 0 is stuck.
    h.part(1).log_start = 5;
    keep_producing(&mut h, WINDOW);
    assert_eq!(phases(&h.incidents), [(Phase::Open, IncidentKind::Stuck)]);
    let held: Vec<i32> = h.book.open()[0]
        .partitions
        .iter()
        .map(|p| p.partition)
        .collect();
    assert_eq!(held, [0, 1]);
    // Partition 0 recovers; partition 1 is still expired: still open.
    h.catch_up(0);
    keep_producing(&mut h, POLL);
    assert_eq!(h.incidents.len(), 1);
    h.commit(1, 5);
    keep_producing(&mut h, POLL);
    assert_eq!(h.incidents.len(), 2);
    assert_eq!(h.incidents[1].phase, Phase::Close);
    assert_eq!(h.incidents[1].evidence.partitions.len(), 2);
}

#[test]
fn a_held_partition_that_disappears_is_gone_and_the_incident_closes() {
    let mut h = Harness::new();
    stopped_consumer(&mut h);
    keep_producing(&mut h, WINDOW + POLL);
    h.parts.clear();
    h.status = Some(status(GroupState::Dead, 0));
    h.poll_after(POLL);
    assert_eq!(h.incidents.len(), 2);
    let close = &h.incidents[1];
    assert!(close.evidence.partitions.is_empty());
    assert_eq!(close.evidence.gone.len(), 1);
    assert_eq!(close.evidence.gone[0].topic, "t");
}

#[test]
fn a_group_without_incidents_is_judged_but_opens_nothing() {
    let mut h = Harness::new();
    h.settings.incidents = false;
    stopped_consumer(&mut h);
    keep_producing(&mut h, 2 * WINDOW);
    assert_eq!(h.state(), ConsumerState::Stuck);
    assert!(h.incidents.is_empty());
}

/// The shell restarting mid-incident: a new evaluator and the book read back from its bytes.
fn restart(h: &mut Harness, resume: bool) {
    let stored = h.book.to_bytes();
    h.book = IncidentBook::from_bytes(&stored).expect("the book reads back");
    h.evaluator = Evaluator::new();
    h.streaming = Evaluator::new();
    if resume {
        h.evaluator.resume(&h.book);
        h.streaming.resume(&h.book);
    }
}

#[test]
fn a_restart_during_an_incident_keeps_stuck_since_and_opens_nothing() {
    let mut h = Harness::new();
    let stuck_since = stopped_consumer(&mut h);
    keep_producing(&mut h, 2 * WINDOW);
    assert_eq!(h.incidents.len(), 1);
    // Down for a minute.
    h.now += 60_000;
    restart(&mut h, true);
    h.produce(0, 10);
    h.round();
    assert_eq!(h.state(), ConsumerState::Stuck);
    assert_eq!(h.p(0).stuck_since, Some(stuck_since));
    keep_producing(&mut h, WINDOW);
    assert_eq!(h.incidents.len(), 1, "no second open");
    h.commit(0, 105);
    h.poll_after(POLL);
    assert_eq!(
        phases(&h.incidents),
        [
            (Phase::Open, IncidentKind::Stuck),
            (Phase::Close, IncidentKind::Stuck)
        ]
    );
    assert_eq!(h.incidents[1].since, stuck_since);
}

#[test]
fn a_restart_without_resume_still_neither_closes_nor_reopens() {
    let mut h = Harness::new();
    stopped_consumer(&mut h);
    keep_producing(&mut h, 2 * WINDOW);
    restart(&mut h, false);
    keep_producing(&mut h, 3 * WINDOW);
    assert_eq!(
        h.state(),
        ConsumerState::Stuck,
        "stuck again after a fresh window"
    );
    assert_eq!(h.incidents.len(), 1, "held meanwhile, not reopened");
}

#[test]
fn a_restart_after_the_consumer_moved_closes_at_the_first_round() {
    let mut h = Harness::new();
    stopped_consumer(&mut h);
    keep_producing(&mut h, 2 * WINDOW);
    restart(&mut h, true);
    h.catch_up(0);
    h.poll_after(POLL);
    assert_eq!(h.state(), ConsumerState::Ok);
    assert_eq!(phases(&h.incidents).len(), 2);
    assert_eq!(h.incidents[1].phase, Phase::Close);
}

#[test]
fn stored_books_that_do_not_read_back_are_refused() {
    let mut h = Harness::new();
    stopped_consumer(&mut h);
    keep_producing(&mut h, 2 * WINDOW);
    let stored = h.book.to_bytes();
    assert_eq!(IncidentBook::from_bytes(&[]), Err(BookError::Empty));
    let mut other_format = stored.clone();
    other_format[0] = 9;
    assert_eq!(
        IncidentBook::from_bytes(&other_format),
        Err(BookError::Format { found: 9 })
    );
    let truncated = &stored[..stored.len() - 3];
    assert!(matches!(
        IncidentBook::from_bytes(truncated),
        Err(BookError::Decode(_))
    ));
    let mut trailing = stored.clone();
    trailing.push(0);
    assert!(matches!(
        IncidentBook::from_bytes(&trailing),
        Err(BookError::Decode(_))
    ));
    assert_eq!(IncidentBook::from_bytes(&stored).as_ref(), Ok(&h.book));
}

#[test]
fn incident_records_round_trip_through_json() {
    let mut h = Harness::new();
    stopped_consumer(&mut h);
    keep_producing(&mut h, 2 * WINDOW);
    h.catch_up(0);
    h.poll_after(POLL);
    assert_eq!(h.incidents.len(), 2);
    for incident in &h.incidents {
        let bytes = encode(incident);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with(r#"{"v":1,"incident":""#), "{text}");
        assert_eq!(decode(&bytes).as_ref(), Ok(incident));
    }
    let open = String::from_utf8(encode(&h.incidents[0])).unwrap();
    assert!(open.contains(r#""incident":"open","kind":"stuck","cluster":"c","group":"g""#));
    assert_eq!(
        decode(open.replace(r#""v":1"#, r#""v":2"#).as_bytes()),
        Err(IncidentError::UnsupportedVersion { found: 2 })
    );
    assert!(matches!(decode(b"{"), Err(IncidentError::NotJson { .. })));
    assert!(matches!(
        decode(
            open.replace(r#""kind":"stuck""#, r#""kind":"slow""#)
                .as_bytes()
        ),
        Err(IncidentError::Invalid { .. })
    ));
    assert!(matches!(
        decode(
            open.replace(r#""committed":100"#, r#""committed":-1"#)
                .as_bytes()
        ),
        Err(IncidentError::Invalid { .. })
    ));
    let with_extra = open.replacen('{', r#"{"later_field":[1,2],"#, 1);
    assert_eq!(decode(with_extra.as_bytes()).as_ref(), Ok(&h.incidents[0]));
}
