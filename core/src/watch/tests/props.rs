//! Property tests: whatever the producer, the consumer, the group and the reads do, the
//! cases that must not be stuck are not, stuck means what it says, and incidents pair up.

use proptest::prelude::*;

use super::super::incident::{IncidentBook, Phase};
use super::super::input::GroupState;
use super::super::state::ConsumerState;
use super::*;

/// What happens to the group between two rounds.
#[derive(Clone, Copy, Debug)]
enum Commit {
    Keep,
    Advance(i64),
    ToEnd,
}

/// The group's state as the round reads it; `None`: unreadable.
fn group_state() -> impl Strategy<Value = Option<GroupState>> {
    prop_oneof![
        12 => Just(Some(GroupState::Stable)),
        2 => Just(Some(GroupState::Empty)),
        2 => Just(Some(GroupState::Rebalancing)),
        1 => Just(Some(GroupState::Dead)),
        2 => Just(None),
    ]
}

#[derive(Clone, Copy, Debug)]
struct Step {
    /// Time since the previous round: a poll, give or take.
    gap: Millis,
    produce: usize,
    /// A transaction marker after the records.
    marker: bool,
    commit: Commit,
    group: Option<GroupState>,
    fail: Failures,
    /// Offsets retention removes from the log start (never past the log end).
    retain: i64,
}

fn step() -> impl Strategy<Value = Step> {
    let commit = prop_oneof![
        4 => Just(Commit::Keep),
        3 => (1i64..40).prop_map(Commit::Advance),
        1 => Just(Commit::ToEnd),
    ];
    let fail = (
        prop::bool::weighted(0.08),
        prop::bool::weighted(0.05),
        prop::bool::weighted(0.08),
    )
        .prop_map(|(committed, log_start, log_end)| Failures {
            committed,
            log_start,
            log_end,
        });
    let retain = prop_oneof![9 => Just(0i64), 1 => 1i64..30];
    (
        (POLL - 1_500)..(POLL + 1_500),
        prop_oneof![3 => Just(0usize), 5 => 1usize..30],
        prop::bool::weighted(0.2),
        commit,
        group_state(),
        fail,
        retain,
    )
        .prop_map(|(gap, produce, marker, commit, group, fail, retain)| Step {
            gap,
            produce,
            marker,
            commit,
            group,
            fail,
            retain,
        })
}

/// Steps, each repeated: mostly once, sometimes for many rounds, so that long quiet or
/// stopped stretches (the ones that make a window) happen as often as churn.
fn steps(segments: std::ops::Range<usize>) -> impl Strategy<Value = Vec<Step>> {
    let repeat = prop_oneof![3 => 1usize..3, 1 => 10usize..80];
    prop::collection::vec((step(), repeat), segments).prop_map(|segments| {
        segments
            .into_iter()
            .flat_map(|(step, n)| std::iter::repeat_n(step, n))
            .collect()
    })
}

/// Applies a step to the model (partition 0 of `h`) and polls.
fn play(h: &mut Harness, step: &Step) {
    h.now += step.gap;
    h.produce(0, step.produce);
    if step.marker {
        h.marker(0);
    }
    let end = h.parts[0].log_end();
    let part = h.part(0);
    part.log_start = (part.log_start + step.retain).min(end);
    part.committed = Some(match (step.commit, part.committed) {
        (Commit::Keep, c) => c.unwrap_or(0),
        (Commit::Advance(n), c) => (c.unwrap_or(0) + n).min(end),
        (Commit::ToEnd, _) => end,
    });
    part.fail = step.fail;
    h.status = step.group.map(|state| status(state, 1));
    h.round();
}

/// What the model says about a round: the truth the evaluator only sees through reads.
#[derive(Clone, Copy, Debug)]
struct Truth {
    at: Millis,
    /// The group's state and every read needed for stuck were there.
    complete: bool,
    committed: i64,
    /// A record (not a marker) at or after the committed offset.
    records_wait: bool,
}

fn truth(h: &Harness) -> Truth {
    let p = &h.parts[0];
    let committed = p.committed.unwrap_or(0);
    let settled = matches!(
        h.status.map(|s| s.state),
        Some(GroupState::Stable | GroupState::Empty)
    );
    let first = committed.max(p.log_start).max(0) as usize;
    Truth {
        at: h.now,
        complete: settled && !p.fail.committed && !p.fail.log_end,
        committed,
        records_wait: p.log.iter().skip(first).any(|e| !e.marker),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A group that commits at least once per window (or has nothing to read) is never stuck.
    #[test]
    fn committing_every_window_is_never_stuck(
        steps in steps(5..60),
        fetch in any::<bool>(),
    ) {
        let mut h = Harness::new();
        h.fetch = fetch;
        let mut last_change = h.now;
        for mut step in steps {
            let before = h.parts[0].committed;
            let end = h.parts[0].log_end() + step.produce as i64 + i64::from(step.marker);
            // Two polls of margin: a change is seen at most one (late) round after it.
            if h.now + step.gap - last_change >= WINDOW - 2 * (POLL + 1_500)
                && before.is_some_and(|c| c < end)
            {
                step.commit = Commit::Advance(1);
            }
            play(&mut h, &step);
            if h.parts[0].committed != before || h.parts[0].committed == Some(h.parts[0].log_end()) {
                last_change = h.now;
            }
            prop_assert_ne!(h.state(), ConsumerState::Stuck, "at {}", h.now - T0);
        }
    }

    /// A partition whose log end equals its committed offset at every round has no lag at all.
    #[test]
    fn caught_up_at_every_round_is_never_stuck_nor_behind(
        steps in steps(5..60),
        fetch in any::<bool>(),
    ) {
        let mut h = Harness::new();
        h.fetch = fetch;
        for mut step in steps {
            step.commit = Commit::ToEnd;
            play(&mut h, &step);
            let state = h.state();
            prop_assert!(
                matches!(
                    state,
                    ConsumerState::Ok | ConsumerState::Unknown | ConsumerState::Rebalancing
                ),
                "{state:?} at {}", h.now - T0
            );
            if state == ConsumerState::Ok {
                prop_assert_eq!(h.p(0).lag_records, Some(0));
            }
        }
    }

    /// Stuck only ever follows a whole window of complete rounds in which the committed
    /// offset stood still and records waited; and such a window is always declared.
    #[test]
    fn stuck_means_a_window_of_evidence_and_missing_data_never_yields_it(
        steps in steps(5..60),
    ) {
        let mut h = Harness::new();
        let mut truths: Vec<Truth> = Vec::new();
        for step in steps {
            play(&mut h, &step);
            let now = truth(&h);
            truths.push(now);
            let p = h.p(0);
            if p.state == ConsumerState::Stuck {
                prop_assert!(now.complete, "stuck on missing data at {}", now.at - T0);
            }
            if let Some(since) = p.stuck_since.get() {
                prop_assert!(now.at - since >= WINDOW);
                for t in truths.iter().filter(|t| t.at >= since) {
                    prop_assert!(t.complete, "a gap at {} inside the stuck run", t.at - T0);
                    prop_assert_eq!(t.committed, now.committed);
                    prop_assert!(t.records_wait, "nothing waited at {}", t.at - T0);
                }
            }
            // The other way: a window and a poll of complete, still, waiting rounds is stuck.
            let run = truths
                .iter()
                .rev()
                .take_while(|t| t.complete && t.committed == now.committed && t.records_wait)
                .last();
            if let Some(first) = run
                && now.at - first.at >= WINDOW + POLL + 1_500
            {
                prop_assert!(p.stuck_since.get().is_some(), "not declared at {}", now.at - T0);
            }
        }
    }

    /// Incident records alternate open, close per group; a close repeats its open's
    /// `since`; a restart of the watch at any round changes neither.
    #[test]
    fn incidents_pair_up_across_a_restart(
        steps in steps(5..60),
        restart_at in 0usize..600,
        resume in any::<bool>(),
    ) {
        let mut h = Harness::new();
        for (i, step) in steps.iter().enumerate() {
            if i == restart_at {
                h.book = IncidentBook::from_bytes(&h.book.to_bytes()).expect("reads back");
                h.evaluator = Evaluator::new();
                h.streaming = Evaluator::new();
                if resume {
                    h.evaluator.resume(&h.book);
                    h.streaming.resume(&h.book);
                }
            }
            play(&mut h, step);
        }
        let mut open_since = None;
        for incident in &h.incidents {
            match incident.phase {
                Phase::Open => {
                    prop_assert_eq!(open_since, None, "a second open");
                    open_since = Some(incident.since);
                }
                Phase::Close => {
                    prop_assert_eq!(open_since, Some(incident.since), "a close without its open");
                    open_since = None;
                }
            }
        }
        prop_assert_eq!(open_since.is_some(), !h.book.open().is_empty());
    }
}

/// Guards the properties above against passing by never getting anywhere: the generator
/// must reach stuck, and open and close incidents, in a fair share of cases.
#[test]
fn the_generated_histories_do_reach_stuck_and_incidents() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, TestRng, TestRunner};

    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(Config::default().rng_algorithm),
    );
    let (mut stuck, mut closed) = (0, 0);
    let cases = 100;
    for _ in 0..cases {
        let steps = steps(5..60).new_tree(&mut runner).unwrap().current();
        let mut h = Harness::new();
        let mut seen_stuck = false;
        for step in &steps {
            play(&mut h, step);
            seen_stuck |= h.state() == ConsumerState::Stuck;
        }
        stuck += usize::from(seen_stuck);
        closed += usize::from(h.incidents.iter().any(|i| i.phase == Phase::Close));
    }
    assert!(
        stuck >= cases / 5,
        "{stuck} of {cases} histories reached stuck"
    );
    assert!(
        closed >= cases / 10,
        "{closed} of {cases} histories closed an incident"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Whatever happens, the history serves exactly the points the last rounds reported,
    /// though it keeps them as runs.
    #[test]
    fn the_history_serves_the_points_the_rounds_reported(
        steps in steps(5..60),
        fetch in any::<bool>(),
        kept in 1usize..40,
    ) {
        let mut h = Harness::new();
        h.fetch = fetch;
        h.settings.history_points = kept;
        let mut reported = Vec::new();
        for step in steps {
            play(&mut h, &step);
            let p = h.p(0);
            reported.push(crate::watch::HistoryPoint {
                at: h.now,
                state: p.state,
                committed: p.committed.get(),
                log_end: p.log_end.get(),
                lag_records: p.lag_records.get(),
                lag_seconds: p.lag_seconds.get(),
            });
        }
        let history = h.evaluator.history("c", "g").expect("a history");
        let served = &history.partitions[0].points;
        // A log that went back starts the series again: compare what both have.
        let n = served.len();
        prop_assert!(n <= kept);
        prop_assert_eq!(served.as_slice(), &reported[reported.len() - n..]);
    }
}
