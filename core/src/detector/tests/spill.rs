//! Spilling under a memory budget: a detector that moves messages to a disk tier (here a
//! map) and back judges exactly like one that never does, checkpoints the same state, and
//! past the disk limit sheds messages that are counted and never judged.

use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;

use super::*;
use crate::detector::StoredMessage;
use crate::detector::spill::{DUE_BUCKET_MS, Placement, placement, spill_goal};

/// One message on the fake disk tier.
#[derive(Clone, Debug)]
struct OnDisk {
    state: Vec<u8>,
    dirty: bool,
    gap_epoch: u64,
    deadline: Millis,
}

/// A harness whose detector keeps at most `budget` bytes in memory, spilling to `disk`
/// (keyed by deadline and id, as the shell's tier files them: a trace finds its message
/// only under the deadline the index gives) and shedding past `max_disk` bytes there.
struct Spilling {
    h: Harness,
    budget: u64,
    max_disk: u64,
    disk: BTreeMap<(Millis, String), OnDisk>,
    disk_bytes: u64,
    /// Messages moved to disk, ever.
    spills: u64,
    /// Times the index was rebuilt from the disk's list.
    rebuilds: u64,
}

/// The stream a stored state belongs to.
fn stream_of(state: &[u8]) -> String {
    StoredMessage::decode(state).unwrap().stream.to_string()
}

impl Spilling {
    fn new(budget: u64, max_disk: u64) -> Self {
        Spilling {
            h: Harness::new(),
            budget,
            max_disk,
            disk: BTreeMap::new(),
            disk_bytes: 0,
            spills: 0,
            rebuilds: 0,
        }
    }

    fn enforce(&mut self) {
        let Some(target) = spill_goal(self.h.det.memory_bytes(), self.budget) else {
            return;
        };
        let (disk, disk_bytes, max_disk) = (&mut self.disk, &mut self.disk_bytes, self.max_disk);
        let count = self
            .h
            .det
            .spill_to(target, self.h.now, |e| {
                let bytes = (e.state.len() + e.id.len()) as u64;
                let placed = placement(*disk_bytes, bytes, max_disk);
                if placed == Placement::Spilled {
                    *disk_bytes += bytes;
                    disk.insert(
                        (e.deadline, e.id.to_owned()),
                        OnDisk {
                            state: e.state.to_vec(),
                            dirty: e.dirty,
                            gap_epoch: e.gap_epoch,
                            deadline: e.deadline,
                        },
                    );
                }
                placed
            })
            .unwrap();
        self.spills += count.spilled;
    }

    /// Reads back the message filed under (`deadline`, `id`); false if none is.
    fn bring_back(&mut self, deadline: Millis, id: &str) -> bool {
        let Some(d) = self.disk.remove(&(deadline, id.to_owned())) else {
            return false;
        };
        self.disk_bytes -= (d.state.len() + id.len()) as u64;
        self.h
            .det
            .unspill(id, &d.state, d.dirty, d.gap_epoch)
            .unwrap();
        true
    }

    fn trace(&mut self, t: Trace<'_>) {
        let on_disk = self
            .disk
            .keys()
            .find(|(_, id)| id == &*t.id)
            .map(|(deadline, _)| *deadline);
        let maybe = self.h.det.spilled_at(&t).is_some();
        // The filter may say "maybe" for a message in memory (a disk read finds nothing),
        // never "no" for one on disk.
        assert!(
            maybe || on_disk.is_none(),
            "`{}` is on disk but the index says it is not",
            t.id
        );
        if let Some(deadline) = on_disk {
            // As the tier's table of spilled ids gives it.
            assert!(self.bring_back(deadline, &t.id));
        }
        self.h.trace(t);
        self.enforce();
    }

    /// As the shell does when stale entries pile up: lists what is on disk for a rebuild.
    fn rebuild_if_stale(&mut self) {
        if !self.h.det.spilled_index_stale() {
            return;
        }
        let streams: Vec<(String, String, Millis)> = self
            .disk
            .iter()
            .map(|((deadline, id), d)| (stream_of(&d.state), id.clone(), *deadline))
            .collect();
        self.h
            .det
            .rebuild_spilled_index(|add| {
                for (stream, id, deadline) in &streams {
                    add(stream, id, *deadline);
                }
                Ok::<(), ()>(())
            })
            .unwrap();
        self.rebuilds += 1;
    }

    fn tick(&mut self) {
        let now = self.h.now;
        if self.h.det.spilled_due_by(now) {
            // As the shell reads them: everything filed under a deadline up to now, in order.
            let due: Vec<(Millis, String)> = self
                .disk
                .range(..(now + 1, String::new()))
                .map(|(key, _)| key.clone())
                .collect();
            for (deadline, id) in due {
                self.bring_back(deadline, &id);
            }
        }
        self.rebuild_if_stale();
        self.h
            .det
            .on_tick(now, &self.h.offsets, &mut self.h.verdicts);
        self.enforce();
    }

    /// The checkpoint's changes: the detector's, then the spilled states changed since.
    fn drain(&mut self, changelog: &mut HashMap<String, Vec<u8>>) {
        drain_into(&mut self.h.det, changelog);
        for ((_, id), d) in self.disk.iter_mut().filter(|(_, d)| d.dirty) {
            changelog.insert(id.clone(), d.state.clone());
            d.dirty = false;
        }
    }
}

fn drain_into(det: &mut Detector, changelog: &mut HashMap<String, Vec<u8>>) {
    det.drain_changes(|c| {
        match c.state {
            Some(bytes) => changelog.insert(c.id.to_owned(), bytes.to_vec()),
            None => changelog.remove(c.id),
        };
    })
    .unwrap();
}

/// What happens at one time: a trace of message `msg` (step of its journey), or a commit.
#[derive(Clone, Debug)]
enum Event {
    Trace { msg: usize, step: usize },
    Commit { group: usize, past: i64 },
}

const GROUPS: [(&str, &str); 3] = [
    ("g-router", "c/l0"),
    ("g-audit", "c/l0"),
    ("g-sink", "c/l1"),
];

fn scenario() -> impl Strategy<Value = Vec<(Millis, Event)>> {
    let trace = (0usize..24, 0usize..5).prop_map(|(msg, step)| Event::Trace { msg, step });
    let commit = (0usize..3, 0i64..30).prop_map(|(group, past)| Event::Commit { group, past });
    let event = prop_oneof![4 => trace, 1 => commit];
    proptest::collection::vec((0i64..40_000, event), 1..120).prop_map(|mut events| {
        events.sort_by_key(|(at, _)| *at);
        events
    })
}

/// Plays `events` on a plain harness and on a spilling one side by side, 100 ms ticks, with a
/// restart of both from their drained changelogs at `restart_at`, up to `end`.
fn play(
    events: &[(Millis, Event)],
    budget: u64,
    restart_at: Millis,
    end: Millis,
) -> (Harness, Spilling) {
    let mut plain = Harness::new();
    let mut spilling = Spilling::new(budget, u64::MAX);
    let ids: Vec<String> = (0..24).map(|i| format!("m{i:02}")).collect();
    let mut next = events.iter().peekable();
    let mut restarted = false;
    let mut at = 0;
    while at <= end {
        let now = T0 + at;
        plain.now = now;
        spilling.h.now = now;
        while let Some((_, event)) = next.next_if(|(t, _)| *t <= at) {
            match event {
                Event::Trace { msg, step } => {
                    let t = journey(&ids[*msg], *msg as i64)[*step].clone();
                    plain.trace(t.clone());
                    spilling.trace(t);
                }
                Event::Commit { group, past } => {
                    let (g, l) = GROUPS[*group];
                    let value = if l == "c/l1" { 100 + past } else { *past };
                    plain.commit(g, l, 0, value);
                    spilling.h.commit(g, l, 0, value);
                }
            }
        }
        for o in plain.offsets.committed.values_mut() {
            o.read_at = now;
        }
        for o in spilling.h.offsets.committed.values_mut() {
            o.read_at = now;
        }
        plain.det.on_tick(now, &plain.offsets, &mut plain.verdicts);
        spilling.tick();
        if !restarted && at >= restart_at {
            restarted = true;
            let mut a = HashMap::new();
            let mut b = HashMap::new();
            drain_into(&mut plain.det, &mut a);
            spilling.drain(&mut b);
            assert_eq!(
                sorted_keys(&a),
                sorted_keys(&b),
                "the checkpoints hold the same messages"
            );
            assert_eq!(a, b, "and the same states");
            plain = restored(&plain, &a);
            let mut fresh = Spilling::new(budget, u64::MAX);
            fresh.spills = spilling.spills;
            fresh.h = restored(&spilling.h, &b);
            fresh.enforce();
            spilling = fresh;
        }
        at += 100;
    }
    (plain, spilling)
}

fn sorted_keys(m: &HashMap<String, Vec<u8>>) -> Vec<&String> {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    keys
}

fn restored(h: &Harness, changelog: &HashMap<String, Vec<u8>>) -> Harness {
    let mut fresh = Harness::new();
    fresh.now = h.now;
    fresh.offsets = h.offsets.clone();
    fresh.verdicts = h.verdicts.clone();
    for (id, bytes) in changelog {
        fresh.det.restore(id, bytes).unwrap();
    }
    fresh
}

fn verdict_keys(verdicts: &[Verdict]) -> Vec<(String, String, String, Millis)> {
    let mut keys: Vec<_> = verdicts
        .iter()
        .map(|v| {
            (
                v.id.clone(),
                v.hop.app.clone(),
                format!("{:?}/{:?}", v.verdict, v.reason),
                v.detected_at,
            )
        })
        .collect();
    keys.sort();
    keys
}

const JUDGED: [&str; 6] = [
    "cairn_lost_total",
    "cairn_retracted_total",
    "cairn_stuck_total",
    "cairn_messages_complete_total",
    "cairn_duplicates_total",
    "cairn_trace_gaps_total",
];

fn judged(det: &Detector) -> Vec<u64> {
    JUDGED
        .iter()
        .map(|name| det.metrics().total(name, None))
        .collect()
}

/// A budget of about three messages of the test pipeline.
const TINY: u64 = 400;

#[test]
fn a_tiny_budget_spills_and_judges_exactly_as_without() {
    // Six messages: three never complete at audit (committed past), three complete.
    let mut events = Vec::new();
    for msg in 0..6 {
        for step in 0..5 {
            if msg < 3 && step == 2 {
                continue;
            }
            events.push((msg as i64 * 300, Event::Trace { msg, step }));
        }
    }
    events.push((2_000, Event::Commit { group: 1, past: 29 }));
    let (plain, spilling) = play(&events, TINY, 3_000, 200_000);
    assert!(
        spilling.spills >= 3,
        "the budget forced spills: {}",
        spilling.spills
    );
    assert!(
        spilling.rebuilds >= 1,
        "messages read back and spilled again made the index stale and it was rebuilt"
    );
    assert_eq!(plain.lost().len(), 3);
    assert_eq!(
        verdict_keys(&plain.verdicts),
        verdict_keys(&spilling.h.verdicts)
    );
    assert_eq!(judged(&plain.det), judged(&spilling.h.det));
}

#[test]
fn the_budget_is_kept_and_spilled_messages_are_counted() {
    let budget = 1_000;
    let mut s = Spilling::new(budget, u64::MAX);
    for i in 0..20 {
        let id = format!("m{i:02}");
        s.trace(sent(&id, "producer", "c/l0", (0, i), T0));
    }
    assert!(
        s.h.det.memory_bytes() <= budget,
        "{}",
        s.h.det.memory_bytes()
    );
    assert!(s.h.det.messages_in_memory() >= 2);
    let spilled = s.h.det.messages_spilled();
    assert!(spilled >= 12, "{spilled} spilled");
    assert_eq!(spilled as usize, s.disk.len());
    for ((deadline, _), d) in &s.disk {
        assert_eq!(
            *deadline, d.deadline,
            "filed under the deadline it left with"
        );
    }
    assert_eq!(s.h.total("cairn_messages_spilled", None), spilled);
    assert_eq!(
        s.h.total("cairn_messages_in_memory", None) as usize,
        s.h.det.messages_in_memory()
    );
    // A trace of a spilled message brings it back; it is no longer on disk.
    let (_, id) = s.disk.keys().next().cloned().unwrap();
    let offset: i64 = id[1..].parse().unwrap();
    let seen_before = s.h.total("cairn_traces_seen_total", None);
    s.trace(received(&id, "router", "g-router", "c/l0", (0, offset), T0));
    assert_eq!(s.h.total("cairn_traces_seen_total", None), seen_before + 1);
    // Back in memory, or spilled again (its deadline ties the latest) with its new state.
    assert!(
        s.disk
            .iter()
            .filter(|((_, on), _)| *on == id)
            .all(|(_, d)| d.dirty)
    );
    assert!(s.h.det.memory_bytes() <= budget);
}

#[test]
fn checks_overdue_counts_from_the_earliest_check_not_yet_run() {
    let mut h = Harness::new();
    assert_eq!(h.det.checks_overdue(T0 + 60_000), 0, "nothing to check");
    h.trace(sent("m", "producer", "c/l0", (0, 1), T0));
    let first = T0 + 5_000;
    assert_eq!(h.det.checks_overdue(first - 1), 0, "not due yet");
    assert_eq!(h.det.checks_overdue(first), 0, "due just now");
    assert_eq!(h.det.checks_overdue(first + 2_500), 2_500);
    // Run: the check is done and the next one is ahead.
    h.run_to(5_000);
    assert_eq!(h.det.checks_overdue(h.now), 0);

    // A spilled message counts from the end of its due second.
    let mut s = Spilling::new(1, u64::MAX);
    for i in 0..4 {
        s.trace(sent(&format!("m{i}"), "producer", "c/l0", (0, i), T0));
    }
    assert!(s.h.det.messages_spilled() > 0);
    assert_eq!(s.h.det.messages_in_memory(), 0, "all on disk");
    let due = s.disk.keys().map(|(deadline, _)| *deadline).min().unwrap();
    let second_end = due - due.rem_euclid(DUE_BUCKET_MS) + DUE_BUCKET_MS - 1;
    assert_eq!(s.h.det.checks_overdue(second_end), 0);
    assert_eq!(s.h.det.checks_overdue(second_end + 700), 700);
}

#[test]
fn past_the_disk_limit_messages_are_shed_counted_and_never_judged() {
    let mut s = Spilling::new(TINY, 0);
    for i in 0..10 {
        let id = format!("m{i:02}");
        s.trace(sent(&id, "producer", "c/l0", (0, i), T0));
    }
    let shed = s.h.total("cairn_messages_shed_total", None);
    assert!(shed >= 6, "{shed} shed");
    assert!(s.disk.is_empty());
    let held = s.h.det.messages_in_memory() as u64;
    assert_eq!(held + shed, 10);
    let mut changelog = HashMap::new();
    s.drain(&mut changelog);
    assert_eq!(
        changelog.len(),
        10,
        "a marker for each shed message, a state for the others"
    );
    let mut shed_ids: Vec<String> = changelog
        .iter()
        .filter(|(_, bytes)| {
            StoredMessage::decode(bytes).unwrap().status & crate::detector::state::status::SHED != 0
        })
        .map(|(id, _)| id.clone())
        .collect();
    shed_ids.sort();
    assert_eq!(shed_ids.len() as u64, shed);
    // Later traces of a shed message are counted and skipped, before and after a restart.
    let offset = |id: &str| id[1..].parse::<i64>().unwrap();
    let first = shed_ids[0].clone();
    s.trace(received(
        &first,
        "router",
        "g-router",
        "c/l0",
        (0, offset(&first)),
        T0 + 1,
    ));
    assert_eq!(s.h.total("cairn_shed_traces_total", None), 1);
    let mut after = restored(&s.h, &changelog);
    let last = shed_ids[shed_ids.len() - 1].clone();
    after.trace(received(
        &last,
        "router",
        "g-router",
        "c/l0",
        (0, offset(&last)),
        T0 + 2,
    ));
    assert_eq!(after.total("cairn_shed_traces_total", None), 1);
    // Every group commits past everything: only the messages still watched are lost.
    for (g, l) in GROUPS {
        after.commit(g, l, 0, 1_000);
    }
    after.run_to(100_000);
    let lost: std::collections::HashSet<&str> =
        after.lost().iter().map(|v| v.id.as_str()).collect();
    assert_eq!(
        lost.len() as u64,
        held,
        "only the watched messages are judged"
    );
    assert!(shed_ids.iter().all(|id| !lost.contains(id.as_str())));
    // Shed messages are forgotten once they would have been dropped anyway: markers go too.
    after.run_to(1_000_000);
    let mut changelog_after = changelog.clone();
    drain_into(&mut after.det, &mut changelog_after);
    assert!(
        changelog_after.is_empty(),
        "{:?}",
        sorted_keys(&changelog_after)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn spilled_and_restored_judges_as_never_spilled(
        events in scenario(),
        budget in 150u64..1_500,
        restart_at in 0i64..60_000,
    ) {
        let (plain, spilling) = play(&events, budget, restart_at, 260_000);
        prop_assert_eq!(verdict_keys(&plain.verdicts), verdict_keys(&spilling.h.verdicts));
        prop_assert_eq!(judged(&plain.det), judged(&spilling.h.det));
    }
}
