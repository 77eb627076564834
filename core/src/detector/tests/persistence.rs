//! Draining changed states and restoring them: a restart neither loses nor repeats a verdict.

use std::collections::HashMap;

use super::*;
use crate::detector::{StateError, StoredMessage};

fn drain(h: &mut Harness, store: &mut HashMap<String, Vec<u8>>) -> usize {
    h.det
        .drain_changes(|c| {
            match c.state {
                Some(bytes) => store.insert(c.id.to_owned(), bytes.to_vec()),
                None => store.remove(c.id),
            };
        })
        .unwrap()
}

/// A fresh detector on the same lineage, restored from `store`, at the same time and offsets.
fn restart(h: &Harness, store: &HashMap<String, Vec<u8>>) -> Harness {
    let mut fresh = Harness::new();
    fresh.now = h.now;
    fresh.offsets = h.offsets.clone();
    for (id, bytes) in store {
        fresh.det.restore(id, bytes).unwrap();
    }
    fresh
}

#[test]
fn drained_changes_cover_new_changed_and_dropped_messages() {
    let mut h = Harness::new();
    let mut store = HashMap::new();
    h.deliver_all("a", 1);
    h.trace(sent("b", "producer", "c/l0", (0, 2), T0));
    assert_eq!(
        drain(&mut h, &mut store),
        2,
        "two messages, however many traces"
    );
    let mut again = Vec::new();
    h.det
        .drain_changes(|c| again.push((c.id.to_owned(), c.state.is_some())))
        .unwrap();
    assert_eq!(again, vec![], "nothing changed since");
    // `a` completes and lingers 60 s; `b` waits until stuck at 120 s, then lingers 60 s.
    h.run_to(180_000);
    drain(&mut h, &mut store);
    assert_eq!(h.det.messages_in_memory(), 0);
    assert!(
        store.is_empty(),
        "dropped messages are removed from the store"
    );
}

#[test]
fn a_restart_never_repeats_a_verdict_and_can_still_retract_it() {
    let mut h = Harness::new();
    let mut store = HashMap::new();
    for t in journey("m", 10).into_iter().filter(|t| t.app != "audit") {
        h.trace(t);
    }
    h.commit("g-audit", "c/l0", 0, 11);
    h.run_to(9_000);
    assert_eq!(h.lost().len(), 1);
    drain(&mut h, &mut store);

    let mut after = restart(&h, &store);
    // Within the 60 s the concluded message lingers (from 8 s) to catch such late traces.
    after.run_to(60_000);
    assert!(
        after.verdicts.is_empty(),
        "the lost verdict was already emitted: {:?}",
        after.verdicts
    );
    after.trace(received("m", "audit", "g-audit", "c/l0", (0, 10), T0));
    assert_eq!(after.verdicts.len(), 1);
    assert_eq!(after.verdicts[0].verdict, VerdictKind::Retracted);
}

#[test]
fn a_restart_while_confirming_still_waits_the_full_delay() {
    let mut h = Harness::new();
    let mut store = HashMap::new();
    for t in journey("m", 10).into_iter().filter(|t| t.app != "audit") {
        h.trace(t);
    }
    h.commit("g-audit", "c/l0", 0, 11);
    h.run_to(5_000);
    drain(&mut h, &mut store);
    let mut after = restart(&h, &store);
    after.run_to(7_900);
    assert!(after.verdicts.is_empty());
    after.run_to(8_000);
    assert_eq!(after.lost().len(), 1);
}

#[test]
fn restored_state_equals_the_state_it_came_from() {
    let mut h = Harness::new();
    let mut store = HashMap::new();
    h.deliver_all("a", 1);
    h.trace(sent("a", "producer", "c/l0", (1, 1), T0));
    h.trace(received("b", "router", "g-router", "c/l0", (0, 9), T0 + 3));
    drain(&mut h, &mut store);
    let after = restart(&h, &store);
    let collect = |d: &Detector| {
        let mut v: Vec<(String, StoredMessage<'static>)> = Vec::new();
        d.for_each_state(|id, s| {
            let mut bytes = Vec::new();
            s.encode(&mut bytes).unwrap();
            v.push((id.to_owned(), StoredMessage::decode(&bytes).unwrap()));
        });
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    assert_eq!(collect(&h.det), collect(&after.det));
    assert_eq!(after.total(catalog::MESSAGES_IN_MEMORY.name, None), 2);
}

#[test]
fn restore_refuses_what_it_cannot_place() {
    let mut h = Harness::new();
    let mut store = HashMap::new();
    h.trace(sent("m", "producer", "c/l0", (0, 2), T0));
    drain(&mut h, &mut store);
    let bytes = &store["m"];
    assert!(matches!(
        h.det.restore("m", bytes),
        Err(StateError::AlreadyPresent { .. })
    ));
    assert!(matches!(
        h.det.restore("x", b"junk"),
        Err(StateError::Decode(_))
    ));
    let mut other = Harness::with(vec![crate::lineage::tests::stream(
        "t",
        vec![app("p", None, None, Some("c/x"))],
    )]);
    assert!(matches!(
        other.det.restore("m", bytes),
        Err(StateError::UnknownStream(_))
    ));
}
