//! A lineage change while messages are in flight: each message keeps the plan it started with.

use std::collections::HashMap;

use super::*;
use crate::config::StreamConfig;
use crate::detector::StoredMessage;
use crate::metrics::Unwatched;

/// [`pipeline`] without the audit app: the lineage before the hop is added.
fn without_audit() -> StreamConfig {
    let mut s = pipeline();
    s.apps.retain(|a| a.app != "audit");
    s
}

fn lineage(streams: Vec<StreamConfig>) -> Arc<Lineage> {
    Arc::new(Lineage::compile(&streams).unwrap())
}

/// Every group has committed past offset `past` at its location, on partition 0.
fn commit_everyone_past(h: &mut Harness, past: i64) {
    h.commit("g-router", "c/l0", 0, past);
    h.commit("g-audit", "c/l0", 0, past);
    h.commit("g-sink", "c/l1", 0, past + 100);
}

fn lost_at(h: &Harness) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = h
        .lost()
        .iter()
        .map(|v| (v.id.clone(), v.hop.app.clone()))
        .collect();
    out.sort();
    out
}

fn unwatched(h: &Harness, reason: Unwatched) -> u64 {
    h.total(catalog::LINEAGE_UNWATCHED.name, Some(reason.as_str()))
}

#[test]
fn a_hop_added_is_expected_only_of_messages_first_seen_after_the_change() {
    let mut h = Harness::with(vec![without_audit()]);
    // In flight at the change: sent, read by the router, nothing else yet.
    h.trace(sent("old", "producer", "c/l0", (0, 1), T0));
    h.trace(received("old", "router", "g-router", "c/l0", (0, 1), T0));
    h.det.replan(lineage(vec![pipeline()]));
    assert_eq!(h.det.messages_in_memory(), 1, "the message moved");
    // After the change: a message the audit never reads.
    h.trace(sent("new", "producer", "c/l0", (0, 2), T0));
    h.trace(received("new", "router", "g-router", "c/l0", (0, 2), T0));
    for id in ["old", "new"] {
        let offset = if id == "old" { 101 } else { 102 };
        h.trace(sent(id, "router", "c/l1", (0, offset), T0 + 20));
        h.trace(received(id, "sink", "g-sink", "c/l1", (0, offset), T0 + 30));
    }
    // The audit group started at the log end: it committed past both without reading them.
    commit_everyone_past(&mut h, 3);
    h.run_to(30_000);
    assert_eq!(
        lost_at(&h),
        [("new".to_owned(), "audit".to_owned())],
        "only the message planned with the audit hop is lost there"
    );
    assert_eq!(
        h.total(catalog::MESSAGES_COMPLETE.name, None),
        1,
        "old completes"
    );
    assert_eq!(unwatched(&h, Unwatched::HopRemoved), 0);
}

#[test]
fn losses_at_the_hops_a_message_was_planned_with_are_still_found() {
    let mut h = Harness::with(vec![without_audit()]);
    h.trace(sent("old", "producer", "c/l0", (0, 1), T0));
    h.det.replan(lineage(vec![pipeline()]));
    // The router skipped it: lost at the router, whatever the lineage became meanwhile.
    commit_everyone_past(&mut h, 2);
    h.run_to(30_000);
    assert_eq!(lost_at(&h), [("old".to_owned(), "router".to_owned())]);
}

#[test]
fn a_hop_removed_takes_its_open_expectations_out_of_watch_counted() {
    let mut h = Harness::new();
    h.deliver_all("done", 1);
    // `waiting` has everything but the audit's received.
    for t in journey("waiting", 2)
        .into_iter()
        .filter(|t| t.app != "audit")
    {
        h.trace(t);
    }
    h.det.replan(lineage(vec![without_audit()]));
    commit_everyone_past(&mut h, 10);
    h.run_to(30_000);
    assert!(h.lost().is_empty(), "{:?}", h.lost());
    assert_eq!(
        unwatched(&h, Unwatched::HopRemoved),
        1,
        "the audit's open reception"
    );
    assert_eq!(h.total(catalog::MESSAGES_COMPLETE.name, None), 2);
}

#[test]
fn a_removed_streams_messages_are_dropped_counted_and_removed_from_the_store() {
    let mut other = pipeline();
    other.name = "other".into();
    let mut h = Harness::with(vec![pipeline(), other]);
    let mut in_other = sent("x", "producer", "c/l0", (0, 1), T0);
    in_other.stream = Cow::Borrowed("other");
    h.trace(in_other);
    h.trace(sent("y", "producer", "c/l0", (0, 2), T0));
    let mut store = HashMap::new();
    let drain = |h: &mut Harness, store: &mut HashMap<String, Vec<u8>>| {
        h.det
            .drain_changes(|c| {
                let key = format!("{}/{}", c.stream, c.id);
                match c.state {
                    Some(bytes) => store.insert(key, bytes.to_vec()),
                    None => store.remove(&key),
                };
            })
            .unwrap()
    };
    drain(&mut h, &mut store);
    assert_eq!(store.len(), 2);
    let seen_before = h.total(catalog::MESSAGES_SEEN.name, None);

    h.det.replan(lineage(vec![pipeline()]));
    assert_eq!(h.det.messages_in_memory(), 1);
    assert_eq!(unwatched(&h, Unwatched::StreamRemoved), 1);
    assert_eq!(
        h.det
            .metrics()
            .stream_by_name("other")
            .map(|s| s.messages_in_memory()),
        Some(0),
        "the removed stream's gauge drops, its counters stay"
    );
    assert_eq!(h.total(catalog::MESSAGES_SEEN.name, None), seen_before);
    drain(&mut h, &mut store);
    assert_eq!(
        store.keys().collect::<Vec<_>>(),
        ["s/y"],
        "x left the store"
    );
    // Everyone committed past x: it is never judged.
    commit_everyone_past(&mut h, 10);
    h.run_to(30_000);
    assert!(h.lost().iter().all(|v| v.id != "x"));
}

#[test]
fn a_restart_under_a_changed_lineage_restores_each_message_with_its_plan() {
    // Written before the audit hop existed, restored after it was added.
    let mut before = Harness::with(vec![without_audit()]);
    before.trace(sent("old", "producer", "c/l0", (0, 1), T0));
    let mut states = Vec::new();
    before
        .det
        .drain_changes(|c| states.push((c.id.to_owned(), c.state.map(<[u8]>::to_vec))))
        .unwrap();
    let mut after = Harness::new();
    for (id, bytes) in &states {
        after.det.restore(id, bytes.as_deref().unwrap()).unwrap();
    }
    after.trace(received("old", "router", "g-router", "c/l0", (0, 1), T0));
    after.trace(sent("old", "router", "c/l1", (0, 101), T0 + 20));
    after.trace(received("old", "sink", "g-sink", "c/l1", (0, 101), T0 + 30));
    commit_everyone_past(&mut after, 2);
    after.run_to(30_000);
    assert!(after.lost().is_empty(), "{:?}", after.lost());
    assert_eq!(after.total(catalog::MESSAGES_COMPLETE.name, None), 1);
}

#[test]
fn a_replanned_message_is_stored_again_so_a_restart_keeps_its_plan() {
    let mut h = Harness::with(vec![without_audit()]);
    h.trace(sent("old", "producer", "c/l0", (0, 1), T0));
    h.det.drain_changes(|_| {}).unwrap();
    h.det.replan(lineage(vec![pipeline()]));
    let mut states = Vec::new();
    h.det
        .drain_changes(|c| states.push((c.id.to_owned(), c.state.map(<[u8]>::to_vec))))
        .unwrap();
    assert_eq!(states.len(), 1, "the moved message is written again");
    let stored = StoredMessage::decode(states[0].1.as_deref().unwrap()).unwrap();
    let audit = stored
        .apps
        .iter()
        .find(|a| a.app == "audit")
        .expect("listed");
    assert_ne!(audit.flags, 0, "marked unplanned");
    // Restored under the same new lineage after a crash: still not expected of the audit.
    let mut fresh = Harness::new();
    fresh
        .det
        .restore("old", states[0].1.as_deref().unwrap())
        .unwrap();
    fresh.trace(received("old", "router", "g-router", "c/l0", (0, 1), T0));
    fresh.trace(sent("old", "router", "c/l1", (0, 101), T0 + 20));
    fresh.trace(received("old", "sink", "g-sink", "c/l1", (0, 101), T0 + 30));
    commit_everyone_past(&mut fresh, 2);
    fresh.run_to(30_000);
    assert!(fresh.lost().is_empty(), "{:?}", fresh.lost());
}

#[test]
fn states_written_before_plans_were_listed_restore_as_before() {
    // An older state lists only the readers with something seen and lacks PLAN_LISTED:
    // every reader of the lineage is expected, as before this change.
    let mut h = Harness::new();
    h.trace(sent("m", "producer", "c/l0", (0, 1), T0));
    let mut bytes = Vec::new();
    h.det
        .drain_changes(|c| bytes = c.state.unwrap().to_vec())
        .unwrap();
    let mut stored = StoredMessage::decode(&bytes).unwrap();
    stored.apps.retain(|a| a.flags != 0);
    stored.status &= !crate::detector::state::status::PLAN_LISTED;
    let mut fresh = Harness::new();
    fresh.det.restore_stored("m", &stored).unwrap();
    fresh.trace(received("m", "router", "g-router", "c/l0", (0, 1), T0));
    fresh.trace(sent("m", "router", "c/l1", (0, 101), T0 + 20));
    fresh.trace(received("m", "sink", "g-sink", "c/l1", (0, 101), T0 + 30));
    commit_everyone_past(&mut fresh, 2);
    fresh.run_to(30_000);
    assert_eq!(lost_at(&fresh), [("m".to_owned(), "audit".to_owned())]);
}

#[test]
fn a_timing_change_moves_messages_as_they_are_and_keeps_counters() {
    let mut h = Harness::new();
    h.deliver_all("a", 1);
    h.trace(sent("b", "producer", "c/l0", (0, 2), T0));
    let mut slower = pipeline();
    slower.timing.max_wait = std::time::Duration::from_secs(600);
    h.det.replan(lineage(vec![slower]));
    assert_eq!(h.det.messages_in_memory(), 2);
    assert_eq!(h.total(catalog::MESSAGES_IN_MEMORY.name, None), 2);
    assert_eq!(h.total(catalog::MESSAGES_SEEN.name, None), 2);
    assert_eq!(h.det.pending_changes(), 2, "undrained changes stay pending");
    commit_everyone_past(&mut h, 1);
    h.run_to(20_000);
    assert_eq!(h.total(catalog::MESSAGES_COMPLETE.name, None), 1);
}

#[test]
fn a_stored_message_of_a_stream_gone_meanwhile_is_unwatched_and_removed() {
    let mut h = Harness::new();
    h.det.unwatch_stored("gone", "x");
    assert_eq!(unwatched(&h, Unwatched::StreamRemoved), 1);
    let mut removed = Vec::new();
    h.det
        .drain_changes(|c| removed.push((c.stream.to_owned(), c.id.to_owned(), c.state.is_none())))
        .unwrap();
    assert_eq!(removed, [("gone".to_owned(), "x".to_owned(), true)]);
}

#[test]
fn a_spilled_message_comes_back_after_a_lineage_change_with_the_plan_it_started_with() {
    use crate::detector::spill::Placement;
    let mut h = Harness::with(vec![without_audit()]);
    h.trace(sent("old", "producer", "c/l0", (0, 1), T0));
    h.trace(received("old", "router", "g-router", "c/l0", (0, 1), T0));
    // Everything goes to the (here: a map) disk tier.
    let mut disk = HashMap::new();
    let count = h
        .det
        .spill_to(0, h.now, |e| {
            disk.insert(e.id.to_owned(), (e.state.to_vec(), e.dirty, e.gap_epoch));
            Placement::Spilled
        })
        .unwrap();
    assert_eq!(count.spilled, 1);
    // A hop is added: the stream changes shape, its table is rebuilt.
    h.det.replan(lineage(vec![pipeline()]));
    assert_eq!(
        h.det.messages_spilled(),
        1,
        "the spilled message is still counted"
    );
    let next = sent("old", "router", "c/l1", (0, 101), T0 + 20);
    assert!(
        h.det.spilled_at(&next).is_some(),
        "a trace of the spilled message still finds it"
    );
    let (state, dirty, epoch) = disk.remove("old").unwrap();
    h.det.unspill("old", &state, dirty, epoch).unwrap();
    assert_eq!(h.det.messages_spilled(), 0);
    h.trace(next);
    h.trace(received("old", "sink", "g-sink", "c/l1", (0, 101), T0 + 30));
    // The audit never read it and committed past it: not expected of a message planned
    // before the audit was added.
    commit_everyone_past(&mut h, 3);
    h.run_to(30_000);
    assert_eq!(lost_at(&h), Vec::<(String, String)>::new());
}
