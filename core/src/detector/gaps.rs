//! The tracers' gap reports, kept per stream: which expectations had their trace dropped by
//! the tracer itself, so that the rule concludes "unknown at this hop" instead of "lost".
//!
//! A `received` (or `filtered`) gap names the group, location, partition and offsets exactly,
//! so it covers a missing reception exactly. A `sent` gap of a processor names offsets at the
//! location it writes, which the detector does not know for a message whose `sent` is
//! missing; it covers the processor's missing write for messages the processor *received*
//! (by its own trace's time) within the gap's time span, widened by the confirmation delay
//! for the time the processor took between reading and writing.

use std::collections::VecDeque;

use super::verdicts::Expectation;
use crate::model::Millis;

/// Most gap entries one stream keeps; beyond it the oldest are forgotten first. A tracer
/// reports one entry per (location, partition) per outage, so this is many outages deep.
pub(crate) const MAX_GAPS_PER_STREAM: usize = 4096;

/// One gap report placed in its stream's plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GapEntry {
    /// The reader slot of the app whose trace was dropped.
    pub slot: u8,
    pub expectation: Expectation,
    pub partition: i32,
    pub ranges: Vec<(i64, i64)>,
    pub from_ts: Millis,
    pub to_ts: Millis,
    /// Detector time after which no message it could cover is still held.
    pub expires_at: Millis,
}

impl GapEntry {
    /// Whether the entry covers reader `slot`'s missing `received` at `partition`/`offset`.
    pub fn covers_reception(&self, slot: u8, partition: i32, offset: i64) -> bool {
        self.slot == slot
            && self.expectation == Expectation::Reception
            && self.partition == partition
            && covers(&self.ranges, offset)
    }

    /// Whether the entry covers reader `slot`'s missing write downstream, for a message it
    /// received at `received_ts` (emitter's clock); `slack` widens the span backwards.
    pub fn covers_write(&self, slot: u8, received_ts: Millis, slack: Millis) -> bool {
        self.slot == slot
            && self.expectation == Expectation::Write
            && received_ts >= self.from_ts.saturating_sub(slack)
            && received_ts <= self.to_ts
    }
}

/// Inclusive, ascending, disjoint ranges: bisect for the last one starting at or before `offset`.
fn covers(ranges: &[(i64, i64)], offset: i64) -> bool {
    let i = ranges.partition_point(|&(first, _)| first <= offset);
    i > 0 && ranges[i - 1].1 >= offset
}

/// The gap entries of one stream, oldest first.
#[derive(Debug, Default)]
pub(crate) struct GapTable {
    entries: VecDeque<GapEntry>,
    /// Reports ever added: a message spilled when this was n saw every report up to n.
    added: u64,
}

impl GapTable {
    /// Keeps `entry`, forgetting expired ones (and the oldest when full).
    pub fn add(&mut self, entry: GapEntry, now: Millis) {
        self.entries.retain(|e| e.expires_at > now);
        while self.entries.len() >= MAX_GAPS_PER_STREAM {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
        self.added += 1;
    }

    /// The reports added after the first `epoch` (those still held), oldest first.
    pub fn since(&self, epoch: u64) -> impl Iterator<Item = &GapEntry> {
        let newer = usize::try_from(self.added.saturating_sub(epoch)).unwrap_or(usize::MAX);
        self.entries
            .iter()
            .skip(self.entries.len().saturating_sub(newer))
    }

    /// How many reports were ever added.
    pub fn added(&self) -> u64 {
        self.added
    }

    pub fn iter(&self) -> impl Iterator<Item = &GapEntry> {
        self.entries.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entries with their reader slots renumbered by `slot`; those it maps to `None` go.
    pub fn remapped(&self, slot: impl Fn(u8) -> Option<u8>) -> GapTable {
        let entries = self
            .entries
            .iter()
            .filter_map(|e| {
                Some(GapEntry {
                    slot: slot(e.slot)?,
                    ..e.clone()
                })
            })
            .collect();
        // The count of reports ever added stays: a spilled message's epoch counts them. Taking a
        // dropped report's place again gives it an older report, which it saw already, and
        // seeing a gap report twice changes nothing.
        GapTable {
            entries,
            added: self.added,
        }
    }
}
