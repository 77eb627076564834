//! Over random runs of opens, closes, ticks, failed actions and restarts: a group is
//! relaunched at most once per `suppress_for`, each incident gets at most one relaunch or
//! notice and at most one escalation, a stateful group is never relaunched, and a restart
//! from the stored state changes nothing that follows.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::{CLUSTER, SUPPRESS, incident, responder};
use crate::model::Millis;
use crate::respond::{ActionKind, Decision, Responder};
use crate::watch::Phase;

#[derive(Clone, Debug)]
enum Step {
    /// The group's incident opens or closes (whichever is next), after `gap` ms.
    Flip {
        group: usize,
        gap: Millis,
    },
    /// The same open record again (a replay).
    Replay {
        group: usize,
    },
    Tick {
        gap: Millis,
    },
    /// The last relaunch decided failed.
    Fail,
    /// Stored and restored into a fresh responder.
    Restart,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..3usize, 1..2_000_000i64).prop_map(|(group, gap)| Step::Flip { group, gap }),
        1 => (0..3usize).prop_map(|group| Step::Replay { group }),
        2 => (1..600_000i64).prop_map(|gap| Step::Tick { gap }),
        1 => Just(Step::Fail),
        1 => Just(Step::Restart),
    ]
}

const GROUPS: [(&str, bool); 3] = [("a", true), ("b", true), ("c", false)];

proptest! {
    #[test]
    fn the_policy_holds_over_random_runs(steps in proptest::collection::vec(step(), 1..120)) {
        let mut r = responder(&GROUPS);
        let mut now: Millis = 1_000_000;
        // Per group: the open incident's (since, at), if any.
        let mut open: BTreeMap<usize, (Millis, Millis)> = BTreeMap::new();
        let mut decided: Vec<Decision> = Vec::new();
        let mut last_relaunch: Option<Decision> = None;
        for step in steps {
            let decisions = match step {
                Step::Flip { group, gap } => {
                    now += gap;
                    let name = GROUPS[group].0;
                    match open.remove(&group) {
                        Some((since, _)) => r.on_incident(&incident(name, Phase::Close, since, now), now),
                        None => {
                            open.insert(group, (now - 1_000, now));
                            r.on_incident(&incident(name, Phase::Open, now - 1_000, now), now)
                        }
                    }
                }
                Step::Replay { group } => match open.get(&group) {
                    Some(&(since, at)) => {
                        let replayed = r.on_incident(&incident(GROUPS[group].0, Phase::Open, since, at), now);
                        prop_assert!(replayed.is_empty(), "a replayed open acted: {replayed:?}");
                        replayed
                    }
                    None => Vec::new(),
                },
                Step::Tick { gap } => {
                    now += gap;
                    r.on_tick(now)
                }
                Step::Fail => match last_relaunch.take() {
                    Some(relaunch) => r.on_failed(&relaunch, now),
                    None => Vec::new(),
                },
                Step::Restart => {
                    let mut restarted: Responder = responder(&GROUPS);
                    restarted.restore(&r.to_bytes()).expect("the stored state restores");
                    prop_assert_eq!(&restarted, &r);
                    r = restarted;
                    Vec::new()
                }
            };
            for d in &decisions {
                prop_assert_eq!(d.cluster.as_str(), CLUSTER);
                prop_assert_eq!(d.at, now);
                if d.action == ActionKind::Relaunch {
                    last_relaunch = Some(d.clone());
                }
            }
            decided.extend(decisions);
        }
        for (name, stateless) in GROUPS {
            let ours: Vec<&Decision> = decided.iter().filter(|d| d.group == name).collect();
            let relaunches: Vec<Millis> = ours
                .iter()
                .filter(|d| d.action == ActionKind::Relaunch)
                .map(|d| d.at)
                .collect();
            if !stateless {
                prop_assert!(relaunches.is_empty(), "stateful `{name}` relaunched");
                prop_assert!(ours.iter().all(|d| d.action == ActionKind::Notify));
            }
            for pair in relaunches.windows(2) {
                prop_assert!(pair[1] - pair[0] >= SUPPRESS, "relaunches of `{name}` {pair:?}");
            }
            let mut per_incident: BTreeMap<(Millis, ActionKind), usize> = BTreeMap::new();
            for d in &ours {
                *per_incident.entry((d.incident.opened_at, d.action)).or_default() += 1;
            }
            for ((opened_at, action), count) in per_incident {
                prop_assert_eq!(count, 1, "`{}` {:?} of incident {} x{}", name, action, opened_at, count);
            }
            let first_actions: BTreeMap<Millis, usize> = ours
                .iter()
                .filter(|d| d.action != ActionKind::Escalate)
                .fold(BTreeMap::new(), |mut m, d| {
                    *m.entry(d.incident.opened_at).or_default() += 1;
                    m
                });
            prop_assert!(first_actions.values().all(|&n| n == 1), "one relaunch or notice per incident");
        }
    }
}
