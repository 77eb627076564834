//! The memory budget's decisions, and the compact index of what left memory.
//!
//! When a shard's messages cost more than its share of `[detector] max_memory`, the shell asks
//! the detector to move messages out ([`super::Detector::spill_to`]): those whose next check
//! is farthest away go first, down to [`LOW_WATER_PERCENT`] of the share but at most
//! [`MAX_SPILL_STEP`] below it, so one spill makes room for many new messages instead of one,
//! and what a spill holds while it runs (its candidates, the keys of the states it moved) stays
//! the same size whatever the budget. Each goes to the shell's disk tier, or, past
//! `[detector] max_disk` ([`placement`]), is shed: counted, no longer watched, never judged.
//! A spilled message comes back when its timer is due ([`SpilledIndex::due_by`]) or when a
//! trace for it arrives ([`SpilledIndex::contains`]).
//!
//! What is out is indexed in memory by a Bloom filter of 64-bit hashes of the ids, 2 to 4
//! bytes per spilled message (room not filled yet included) at 1% false positives, where a map from hash to deadline cost
//! ~28 (it held 110 MiB against a 64 MiB budget at 4M spilled messages, `docs/spill.md`). The
//! filter never says "no" for a spilled id, so a trace of a message in memory (the common
//! case) reads the disk only on a false "maybe", and a spilled message is always found. The
//! exact answer, and the deadline the tier files the message under, is in the tier's table of
//! spilled ids (the shell's `detect::spill`). A Bloom filter cannot forget: a message read
//! back leaves a stale bit pattern, a "maybe" that costs one disk read. Once stale entries
//! outnumber the live ones, the shell lists the ids the tier holds and the filter is built
//! again ([`super::Detector::rebuild_spilled_index`]); when nothing is spilled it is dropped.
//! When more are spilled than it was sized for, a layer is added that holds as much as the
//! others together (the filter doubles), each layer with 0.8 times the false positives of the
//! one before, so the layers together stay under [`FALSE_POSITIVES`] and a late layer
//! costs only a few bits more per message than the first. (A cuckoo filter could forget, but the crate's growing variant removes
//! the first matching fingerprint from whichever layer holds one, which can be another id's:
//! a spilled message that a trace would then not find.) Due times are counted per second,
//! not per message.

use std::collections::{BTreeMap, HashSet, VecDeque};

use fastbloom::BloomFilter;

use crate::model::Millis;

/// Spilling brings a shard down to this share of its budget...
pub const LOW_WATER_PERCENT: u64 = 90;
/// ...but never more than this below it. Why: at a budget of 5 GiB, 10% is ~5M messages moved
/// in one spill, and with the spill's own bookkeeping (its candidates, the shell's keys of the
/// states it moved) the bench at 50M peaked 905 MiB above its state, against 410 MiB with
/// this step (`docs/spill.md`). Budgets up to 80 MiB are not changed by it. (A few messages' worth in
/// tests, so that their spills run in many rounds.)
pub const MAX_SPILL_STEP: u64 = if cfg!(test) { 256 } else { 8 << 20 };
/// Due times of spilled messages are counted per bucket of this width.
pub const DUE_BUCKET_MS: Millis = 1_000;
/// What spilling a message is taken to cost the index, when choosing how many to spill: 13 to
/// 21 bits in the filter, rounded up (the budget counts the filter's real size).
pub const SPILLED_ENTRY_BYTES: u64 = 2;
/// The false positives of the whole filter, all layers together.
pub const FALSE_POSITIVES: f64 = 0.01;
/// The smallest layer, in messages (smaller in tests, whose budgets are a few hundred bytes).
const FIRST_LAYER: u64 = if cfg!(test) { 16 } else { 256 };
/// Each layer's false positives, as a share of the one before's.
const TIGHTENING: f64 = 0.8;
/// Stale entries that may pile up before a rebuild is asked for, at least (few in tests, so
/// that they rebuild).
const STALE_FLOOR: u64 = if cfg!(test) { 8 } else { 4096 };
/// What the budget counts per second that has spilled messages due (a `BTreeMap` entry).
pub const DUE_BUCKET_BYTES: u64 = 32;
/// What the budget counts per shed message remembered, besides its id: its hash in the set,
/// and its entry in the expiry queue.
pub const SHED_ENTRY_BYTES: u64 = 48;

/// How much a shard must free: `None` while `used` is within `budget`, else the target to
/// spill down to.
pub fn spill_goal(used: u64, budget: u64) -> Option<u64> {
    (used > budget).then(|| {
        let low_water = budget / 100 * LOW_WATER_PERCENT + budget % 100 * LOW_WATER_PERCENT / 100;
        low_water.max(budget.saturating_sub(MAX_SPILL_STEP))
    })
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

/// The messages of one stream that are on disk: a filter of their id hashes that never says
/// no for one of them, and how many are due in each second.
#[derive(Debug, Default)]
pub(crate) struct SpilledIndex {
    layers: Vec<Layer>,
    due: BTreeMap<Millis, u32>,
    len: u64,
    /// Messages read back since the filter was built: their entries answer "maybe" still.
    stale: u64,
}

#[derive(Debug)]
struct Layer {
    filter: BloomFilter,
    capacity: u64,
    inserted: u64,
}

impl Layer {
    /// The `n`th layer (from 0) holds `capacity` at `FALSE_POSITIVES × 0.2 × 0.8^n`: the sum
    /// over all layers stays under `FALSE_POSITIVES`.
    fn new(n: usize, capacity: u64) -> Layer {
        let exponent = i32::try_from(n).unwrap_or(i32::MAX);
        let rate = FALSE_POSITIVES * (1.0 - TIGHTENING) * TIGHTENING.powi(exponent);
        let items = usize::try_from(capacity).unwrap_or(usize::MAX);
        Layer {
            filter: BloomFilter::with_false_pos(rate).expected_items(items),
            capacity,
            inserted: 0,
        }
    }
}

fn bucket(deadline: Millis) -> Millis {
    deadline.div_euclid(DUE_BUCKET_MS) * DUE_BUCKET_MS
}

impl SpilledIndex {
    pub fn insert(&mut self, hash: u64, deadline: Millis) {
        self.file(hash);
        *self.due.entry(bucket(deadline)).or_insert(0) += 1;
        self.len += 1;
    }

    /// Adds `hash` to the filter, in a new layer when the last one is full.
    fn file(&mut self, hash: u64) {
        let full = self.layers.last().is_none_or(|l| l.inserted >= l.capacity);
        if full {
            let held: u64 = self.layers.iter().map(|l| l.capacity).sum();
            let capacity = held.max(FIRST_LAYER);
            self.layers.push(Layer::new(self.layers.len(), capacity));
        }
        if let Some(layer) = self.layers.last_mut() {
            layer.filter.insert_hash(hash);
            layer.inserted += 1;
        }
    }

    /// Forgets one message of `hash` spilled with `deadline`, read back: it stays a stale
    /// "maybe" in the filter until the next rebuild. A message the filter does not hold (the
    /// tier had it from before this index) changes nothing.
    pub fn remove(&mut self, hash: u64, deadline: Millis) {
        if self.len == 0 || !self.contains(hash) {
            return;
        }
        if let Some(count) = self.due.get_mut(&bucket(deadline)) {
            *count -= 1;
            if *count == 0 {
                self.due.remove(&bucket(deadline));
            }
        }
        self.len -= 1;
        self.stale += 1;
    }

    /// Whether the filter holds anything at all (live or stale).
    pub fn has_filter(&self) -> bool {
        !self.layers.is_empty()
    }

    /// Whether a message with this id hash may be on disk: never false for one that is.
    pub fn contains(&self, hash: u64) -> bool {
        self.layers.iter().any(|l| l.filter.contains_hash(hash))
    }

    /// Whether the filter should be built again from what the tier holds: stale entries
    /// outnumber the live ones (and are many), or nothing is left but stale ones.
    pub fn is_stale(&self) -> bool {
        (self.stale >= STALE_FLOOR && self.stale > self.len) || (self.len == 0 && self.stale > 0)
    }

    /// Empties the index for a rebuild, its filter sized for twice what it counted. Every
    /// message the tier holds must then be [`SpilledIndex::refile`]d: the index then says
    /// exactly what the tier says, whatever it counted before.
    pub fn begin_rebuild(&mut self) {
        let expected = self.len;
        *self = SpilledIndex::default();
        if expected > 0 {
            self.layers
                .push(Layer::new(0, (expected * 2).max(FIRST_LAYER)));
        }
    }

    /// Files again a message the tier holds (during a rebuild).
    pub fn refile(&mut self, hash: u64, deadline: Millis) {
        self.insert(hash, deadline);
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

    /// What the budget counts for the index: the filter's bits and the due seconds.
    pub fn bytes(&self) -> u64 {
        let bits: u64 = self.layers.iter().map(|l| l.filter.num_bits() as u64).sum();
        bits / 8 + self.due.len() as u64 * DUE_BUCKET_BYTES
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
        // A large budget spills at most MAX_SPILL_STEP below itself, not 10%.
        let large = 20 * MAX_SPILL_STEP;
        assert_eq!(spill_goal(large + 1, large), Some(large - MAX_SPILL_STEP));
        let small = 5 * MAX_SPILL_STEP;
        assert_eq!(spill_goal(small + 1, small), Some(small / 10 * 9), "90%");
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
    fn the_filter_never_forgets_a_spilled_id_and_due_buckets_follow() {
        let mut ix = SpilledIndex::default();
        ix.insert(7, 1_500);
        ix.insert(7, 9_000);
        ix.insert(8, 1_200);
        assert!(ix.contains(7) && ix.contains(8));
        assert_eq!(ix.next_due(), Some(1_000));
        assert!(!ix.due_by(999) && ix.due_by(1_000));
        ix.remove(7, 1_500);
        assert!(ix.contains(7), "the other id with hash 7 is still out");
        ix.remove(8, 1_200);
        assert_eq!((ix.len(), ix.next_due()), (1, Some(9_000)));
        ix.remove(7, 9_000);
        assert_eq!((ix.len(), ix.next_due()), (0, None));
        assert!(ix.is_stale(), "only stale entries are left: rebuild");
        ix.begin_rebuild();
        assert_eq!(ix.bytes(), 0, "nothing on the tier: no filter");
        assert!(!ix.contains(7));
    }

    fn spread(h: u64) -> u64 {
        h.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    #[test]
    fn a_filter_grows_in_layers_and_a_rebuild_clears_what_went_stale() {
        let mut ix = SpilledIndex::default();
        let n = 100_000;
        for h in 0..n {
            ix.insert(spread(h), 10_000);
        }
        assert!(ix.layers.len() >= 2, "{} layers", ix.layers.len());
        assert!((0..n).all(|h| ix.contains(spread(h))));
        let per_message = ix.bytes() as f64 / n as f64;
        assert!(per_message < 4.0, "{per_message} bytes per spilled message");
        // Read back all but the last 100: stale entries outnumber the live ones.
        for h in 0..n - 100 {
            ix.remove(spread(h), 10_000);
        }
        assert!(ix.is_stale());
        ix.begin_rebuild();
        for h in n - 100..n {
            ix.refile(spread(h), 10_000);
        }
        assert_eq!(ix.len(), 100);
        assert!(!ix.is_stale());
        assert_eq!(ix.layers.len(), 1);
        assert!((n - 100..n).all(|h| ix.contains(spread(h))));
        let stale_maybes = (0..n - 100).filter(|&h| ix.contains(spread(h))).count();
        assert!(
            stale_maybes < (n as usize) / 50,
            "{stale_maybes} ids read back still look spilled"
        );
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
        fn the_index_never_says_no_for_a_spilled_hash(
            ops in proptest::collection::vec((0u64..6, 0i64..5_000, any::<bool>()), 0..64),
        ) {
            let mut ix = SpilledIndex::default();
            let mut model: Vec<(u64, Millis)> = Vec::new();
            for (hash, deadline, add) in ops {
                if add {
                    ix.insert(spread(hash), deadline);
                    model.push((hash, deadline));
                } else if let Some(i) = model.iter().position(|&(h, _)| h == hash) {
                    // Only what was spilled is read back.
                    ix.remove(spread(hash), model.remove(i).1);
                }
                prop_assert_eq!(ix.len(), model.len() as u64);
                for &(h, _) in &model {
                    prop_assert!(ix.contains(spread(h)));
                }
                let first = model.iter().map(|&(_, d)| bucket(d)).min();
                prop_assert_eq!(ix.next_due(), first);
            }
        }
    }
}
