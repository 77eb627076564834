//! The memory budget's decisions, and the compact index of what left memory.
//!
//! When a shard's messages cost more than its share of `[detector] max_memory`, the shell asks
//! the detector to move messages out ([`super::Detector::spill_to`]): those whose next check
//! is farthest away go first, down to [`LOW_WATER_PERCENT`] of the share, so one spill makes
//! room for many new messages instead of one. Each goes to the shell's disk tier, or, past
//! `[detector] max_disk` ([`placement`]), is shed: counted, no longer watched, never judged.
//! A spilled message comes back when its timer is due ([`SpilledIndex::due_by`]) or when a
//! trace for it arrives ([`SpilledIndex::contains`]).
//!
//! What is out is indexed in memory by a 64-bit hash of its id, not by the id: a hash map
//! from that hash to the deadline the message was spilled with costs ~28 bytes per message
//! against the id's own 40 or more, answers "not spilled" exactly (so a trace of a message in
//! memory, the common case, never reads the disk), and supports removal (a Bloom filter does
//! not; a cuckoo or xor filter would be smaller but needs a crate and a rebuild, and its false
//! positives cost a disk read per trace). The deadline is there because the tier files each
//! message under its deadline (so writes append and due messages are read in one sweep, see
//! the shell's `detect::spill`): a trace finds its message by deadline and id. Two ids with
//! the same hash are counted apart ([`SpilledIndex`] is a multiset), so a collision costs a
//! disk read, never a wrong answer. Due times are counted per second, not per message.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use crate::model::Millis;

/// Spilling brings a shard down to this share of its budget.
pub const LOW_WATER_PERCENT: u64 = 90;
/// Due times of spilled messages are counted per bucket of this width.
pub const DUE_BUCKET_MS: Millis = 1_000;
/// What the budget counts per spilled message: its hash and deadline in the map (16 bytes and
/// a control byte per slot, with the map's spare room: between 19 and 39 bytes per entry as
/// it fills and doubles).
pub const SPILLED_ENTRY_BYTES: u64 = 28;
/// What the budget counts per second that has spilled messages due (a `BTreeMap` entry).
pub const DUE_BUCKET_BYTES: u64 = 32;
/// What the budget counts per shed message remembered, besides its id: its hash in the set,
/// and its entry in the expiry queue.
pub const SHED_ENTRY_BYTES: u64 = 48;

/// How much a shard must free: `None` while `used` is within `budget`, else the target to
/// spill down to.
pub fn spill_goal(used: u64, budget: u64) -> Option<u64> {
    (used > budget)
        .then(|| budget / 100 * LOW_WATER_PERCENT + budget % 100 * LOW_WATER_PERCENT / 100)
}

/// Splits a worker's target over its shards in proportion to what each holds, so the shards
/// with the most state give up the most (each share rounded down: the sum never exceeds
/// `target`).
pub fn share_targets(used: &[u64], target: u64) -> Vec<u64> {
    let total: u128 = used.iter().map(|&u| u128::from(u)).sum();
    if total == 0 {
        return vec![0; used.len()];
    }
    used.iter()
        .map(|&u| {
            let share = u128::from(u) * u128::from(target) / total;
            u64::try_from(share).unwrap_or(u64::MAX).min(u)
        })
        .collect()
}

/// Where a message moved out of memory goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Written to the disk tier; it comes back when due or when a trace for it arrives.
    Spilled,
    /// No room on disk: no longer watched, counted, and never judged.
    Shed,
    /// The disk tier could not take it (an I/O error): it stays in memory, and spilling stops
    /// for this round.
    Kept,
}

/// Whether a state of `bytes` still fits on disk, given what the tier holds and its limit.
pub fn placement(disk_used: u64, bytes: u64, max_disk: u64) -> Placement {
    if disk_used
        .checked_add(bytes)
        .is_some_and(|total| total <= max_disk)
    {
        Placement::Spilled
    } else {
        Placement::Shed
    }
}

/// The messages of one stream that are on disk: a multiset of id hashes, each with the
/// deadline it was spilled with (the tier files a message under its deadline, so a trace finds
/// it by hash and deadline), and how many are due in each second.
#[derive(Debug, Default)]
pub(crate) struct SpilledIndex {
    ids: HashMap<u64, Millis>,
    /// The deadlines of extra ids with a hash already in `ids` (two spilled ids, one hash).
    collisions: HashMap<u64, Vec<Millis>>,
    due: BTreeMap<Millis, u32>,
    len: u64,
}

fn bucket(deadline: Millis) -> Millis {
    deadline.div_euclid(DUE_BUCKET_MS) * DUE_BUCKET_MS
}

impl SpilledIndex {
    pub fn insert(&mut self, hash: u64, deadline: Millis) {
        match self.ids.entry(hash) {
            Entry::Occupied(_) => self.collisions.entry(hash).or_default().push(deadline),
            Entry::Vacant(slot) => {
                slot.insert(deadline);
            }
        }
        *self.due.entry(bucket(deadline)).or_insert(0) += 1;
        self.len += 1;
    }

    /// Forgets one message of `hash` spilled with `deadline`; says whether one was there.
    pub fn remove(&mut self, hash: u64, deadline: Millis) -> bool {
        let Some(&first) = self.ids.get(&hash) else {
            return false;
        };
        let extra = self.collisions.get_mut(&hash);
        match extra {
            Some(extra) if first == deadline => {
                // Another id with this hash takes the first place.
                if let Some(next) = extra.pop() {
                    self.ids.insert(hash, next);
                }
                if extra.is_empty() {
                    self.collisions.remove(&hash);
                }
            }
            Some(extra) => {
                let Some(at) = extra.iter().position(|&d| d == deadline) else {
                    return false;
                };
                extra.swap_remove(at);
                if extra.is_empty() {
                    self.collisions.remove(&hash);
                }
            }
            None if first == deadline => {
                self.ids.remove(&hash);
            }
            None => return false,
        }
        if let Some(count) = self.due.get_mut(&bucket(deadline)) {
            *count -= 1;
            if *count == 0 {
                self.due.remove(&bucket(deadline));
            }
        }
        self.len -= 1;
        true
    }

    /// Whether a message with this id hash may be on disk (a collision makes it a maybe).
    pub fn contains(&self, hash: u64) -> bool {
        !self.ids.is_empty() && self.ids.contains_key(&hash)
    }

    /// The deadlines the messages with this id hash were spilled with: one, unless two
    /// spilled ids share the hash.
    pub fn deadlines(&self, hash: u64) -> impl Iterator<Item = Millis> + '_ {
        let extra = self.collisions.get(&hash).map_or(&[][..], Vec::as_slice);
        self.ids
            .get(&hash)
            .copied()
            .into_iter()
            .chain(extra.iter().copied())
    }

    /// Whether some spilled message may be due at or before `now`: the shell then reads the
    /// ones due by `now` back. Coarse (per second), so it can say yes a second early.
    pub fn due_by(&self, now: Millis) -> bool {
        self.due.keys().next().is_some_and(|&first| first <= now)
    }

    /// The earliest second in which a spilled message is due.
    pub fn next_due(&self) -> Option<Millis> {
        self.due.keys().next().copied()
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    /// What the budget counts for the index.
    pub fn bytes(&self) -> u64 {
        self.len * SPILLED_ENTRY_BYTES + self.due.len() as u64 * DUE_BUCKET_BYTES
    }
}

/// Messages of one stream that were shed, remembered until they would have been dropped
/// anyway, so that their later traces are counted and skipped rather than starting a message
/// that could be judged lost for traces it never got to see. Ids are kept (not only hashes):
/// the shell's changelog holds a marker per shed message, removed when it is forgotten.
#[derive(Debug, Default)]
pub(crate) struct ShedLog {
    ids: HashSet<u64>,
    /// (forget at, id), in the order they were shed or restored.
    expiry: VecDeque<(Millis, u64, Box<str>)>,
    /// The newest entries whose marker the changelog does not have yet.
    unsaved: usize,
    id_bytes: u64,
}

impl ShedLog {
    /// A message shed now: its marker goes with the next drain.
    pub fn insert(&mut self, hash: u64, forget_at: Millis, id: &str) {
        if self.push(hash, forget_at, id) {
            self.unsaved += 1;
        }
    }

    /// A shed message read back from stored state (its marker is already stored).
    pub fn restore(&mut self, hash: u64, forget_at: Millis, id: &str) {
        self.push(hash, forget_at, id);
    }

    fn push(&mut self, hash: u64, forget_at: Millis, id: &str) -> bool {
        if !self.ids.insert(hash) {
            return false;
        }
        self.id_bytes += id.len() as u64;
        self.expiry.push_back((forget_at, hash, id.into()));
        true
    }

    pub fn contains(&self, hash: u64) -> bool {
        !self.ids.is_empty() && self.ids.contains(&hash)
    }

    /// Forgets the entries whose time has come (stopping at the first that has not), and
    /// returns their ids, for their markers to be removed.
    pub fn expire(&mut self, now: Millis) -> Vec<Box<str>> {
        let mut out = Vec::new();
        while let Some((at, _, _)) = self.expiry.front() {
            if *at > now {
                break;
            }
            let Some((_, hash, id)) = self.expiry.pop_front() else {
                break;
            };
            self.ids.remove(&hash);
            self.id_bytes = self.id_bytes.saturating_sub(id.len() as u64);
            // A marker never written needs no removal, but one more is harmless.
            self.unsaved = self.unsaved.min(self.expiry.len());
            out.push(id);
        }
        out
    }

    /// The entries whose markers are not stored yet, marking them stored.
    pub fn take_unsaved(&mut self) -> impl Iterator<Item = (Millis, &str)> {
        let skip = self.expiry.len() - self.unsaved.min(self.expiry.len());
        self.unsaved = 0;
        self.expiry
            .iter()
            .skip(skip)
            .map(|(at, _, id)| (*at, &**id))
    }

    /// Every entry, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = (Millis, &str)> {
        self.expiry.iter().map(|(at, _, id)| (*at, &**id))
    }

    pub fn len(&self) -> usize {
        self.expiry.len()
    }

    pub fn bytes(&self) -> u64 {
        self.ids.len() as u64 * SHED_ENTRY_BYTES + self.id_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_goal_is_set_only_past_the_budget_and_aims_below_it() {
        assert_eq!(spill_goal(100, 100), None);
        assert_eq!(spill_goal(101, 100), Some(90));
        assert_eq!(spill_goal(5_000, 1_000), Some(900));
        assert_eq!(
            spill_goal(u64::MAX, u64::MAX - 1).map(|g| g < u64::MAX),
            Some(true)
        );
    }

    #[test]
    fn the_disk_limit_sheds_what_does_not_fit() {
        assert_eq!(placement(0, 10, 10), Placement::Spilled);
        assert_eq!(placement(1, 10, 10), Placement::Shed);
        assert_eq!(placement(u64::MAX - 1, 2, u64::MAX), Placement::Shed);
    }

    #[test]
    fn a_collision_is_counted_apart_and_due_buckets_follow() {
        let mut ix = SpilledIndex::default();
        ix.insert(7, 1_500);
        ix.insert(7, 9_000);
        ix.insert(8, 1_200);
        assert!(ix.contains(7) && ix.contains(8) && !ix.contains(9));
        assert_eq!(ix.next_due(), Some(1_000));
        assert!(!ix.due_by(999) && ix.due_by(1_000));
        let mut both: Vec<Millis> = ix.deadlines(7).collect();
        both.sort_unstable();
        assert_eq!(
            both,
            vec![1_500, 9_000],
            "a trace of hash 7 looks under both"
        );
        assert!(
            !ix.remove(7, 2_000),
            "no id with hash 7 was spilled due then"
        );
        assert!(ix.remove(7, 1_500));
        assert!(ix.contains(7), "the other id with hash 7 is still out");
        assert_eq!(ix.deadlines(7).collect::<Vec<_>>(), vec![9_000]);
        assert!(ix.remove(8, 1_200));
        assert_eq!(ix.next_due(), Some(9_000));
        assert!(ix.remove(7, 9_000));
        assert!(!ix.remove(7, 9_000));
        assert_eq!((ix.len(), ix.next_due()), (0, None));
    }

    #[test]
    fn shed_ids_are_forgotten_in_time_and_saved_once() {
        let mut log = ShedLog::default();
        log.restore(9, 50, "old");
        log.insert(1, 100, "a");
        log.insert(2, 200, "b");
        log.insert(2, 200, "b");
        let unsaved: Vec<(Millis, &str)> = log.take_unsaved().collect();
        assert_eq!(unsaved, vec![(100, "a"), (200, "b")]);
        assert_eq!(log.take_unsaved().count(), 0);
        assert_eq!(log.expire(150), vec![Box::<str>::from("old"), "a".into()]);
        assert!(!log.contains(1) && log.contains(2));
        assert_eq!(log.expire(200), vec![Box::<str>::from("b")]);
        assert!(!log.contains(2));
        assert_eq!(log.len(), 0);
    }

    proptest! {
        #[test]
        fn shares_never_exceed_the_target_nor_a_shard(
            used in proptest::collection::vec(0u64..1 << 40, 0..8),
            target in 0u64..1 << 42,
        ) {
            let shares = share_targets(&used, target);
            prop_assert_eq!(shares.len(), used.len());
            prop_assert!(shares.iter().sum::<u64>() <= target);
            for (s, u) in shares.iter().zip(&used) {
                prop_assert!(s <= u);
            }
        }

        #[test]
        fn the_index_is_a_multiset(ops in proptest::collection::vec((0u64..6, 0i64..5_000, any::<bool>()), 0..64)) {
            let mut ix = SpilledIndex::default();
            let mut model: Vec<(u64, Millis)> = Vec::new();
            for (hash, deadline, add) in ops {
                if add {
                    ix.insert(hash, deadline);
                    model.push((hash, deadline));
                } else {
                    let at = model.iter().position(|&(h, _)| h == hash);
                    let removed = match at {
                        Some(i) => ix.remove(hash, model.remove(i).1),
                        None => ix.remove(hash, deadline),
                    };
                    prop_assert_eq!(removed, at.is_some());
                }
                prop_assert_eq!(ix.len(), model.len() as u64);
                for h in 0..6 {
                    prop_assert_eq!(ix.contains(h), model.iter().any(|&(m, _)| m == h));
                    let mut got: Vec<Millis> = ix.deadlines(h).collect();
                    let mut want: Vec<Millis> =
                        model.iter().filter(|&&(m, _)| m == h).map(|&(_, d)| d).collect();
                    got.sort_unstable();
                    want.sort_unstable();
                    prop_assert_eq!(got, want);
                }
                let first = model.iter().map(|&(_, d)| bucket(d)).min();
                prop_assert_eq!(ix.next_due(), first);
            }
        }
    }
}
