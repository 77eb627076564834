//! The detector's side of the disk tier: what the memory budget counts, moving messages out
//! of memory ([`Detector::spill_to`]) and back ([`Detector::unspill`]), and which traces and
//! timers need a message back first. The shell does the disk I/O; the choices are here.
//!
//! A spilled message is the same state in another place: spilling logs no change for the
//! changelog (a message changed since the last drain says so in [`Evicted::dirty`], and the
//! shell carries its state from disk into the next checkpoint), and a message read back is
//! re-armed at its stored deadline, so it is checked exactly when it would have been.

use std::borrow::Cow;

use super::Detector;
use super::persist::{self, STATE_FORMAT, StateError, StoredMessage};
use super::rules;
use super::spill::{DUE_BUCKET_BYTES, MAX_SPILL_STEP, Placement, SPILLED_ENTRY_BYTES};
use super::state::status;
use crate::lineage::StreamPlan;
use crate::model::{Millis, Trace};

/// A message leaving memory, for the shell's disk tier.
#[derive(Clone, Copy, Debug)]
pub struct Evicted<'a> {
    pub stream: &'a str,
    pub id: &'a str,
    /// When its timer is due (detector time): the shell reads it back by then, and files it
    /// under it ([`Detector::spilled_at`] gives it back to a trace).
    pub deadline: Millis,
    /// Changed since the last drain: the next checkpoint must carry its state.
    pub dirty: bool,
    /// How many gap reports its stream had seen; given back to [`Detector::unspill`].
    pub gap_epoch: u64,
    /// Its encoded [`StoredMessage`].
    pub state: &'a [u8],
}

/// A message that may be on the disk tier (the index's filter says "maybe"): the tier knows
/// it by its stream and id, and says whether it is there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnTier<'a> {
    pub stream: &'a str,
}

/// What one [`Detector::spill_to`] moved out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpillCount {
    pub spilled: u64,
    pub shed: u64,
}

/// The stored form of a shed message: no slots, the shed bit, and when it is forgotten.
pub(crate) fn shed_marker(plan: &StreamPlan, forget_at: Millis) -> StoredMessage<'_> {
    StoredMessage {
        format: STATE_FORMAT,
        stream: Cow::Borrowed(plan.name.as_str()),
        anchor: forget_at,
        deadline: forget_at,
        backoff: 0,
        status: status::SHED,
        locations: Vec::new(),
        apps: Vec::new(),
    }
}

impl Detector {
    /// What the memory budget counts for this shard: the messages in memory, the index of
    /// those on disk, and the shed ones remembered.
    pub fn memory_bytes(&self) -> u64 {
        let tables: u64 = self.tables.iter().map(|t| t.live_bytes()).sum();
        let spilled: u64 = self.spilled.iter().map(|s| s.bytes()).sum();
        let shed: u64 = self.shed.iter().map(|s| s.bytes()).sum();
        tables + spilled + shed
    }

    /// Moves messages out of memory until [`Detector::memory_bytes`] is at most `target`:
    /// those whose next check is latest first, over all streams. `place` writes each to the
    /// disk tier and says where it went: spilled, or shed when the disk has no room.
    pub fn spill_to(
        &mut self,
        target: u64,
        now: Millis,
        mut place: impl FnMut(&Evicted<'_>) -> Placement,
    ) -> Result<SpillCount, StateError> {
        let mut count = SpillCount::default();
        // A round picks enough candidates for what is over (at most MAX_SPILL_STEP of it, so
        // the candidates stay few whatever the budget and however far over it the shard is),
        // counting each message at what it frees at worst (its index entry and a new due
        // second); rounds repeat while over.
        loop {
            let used = self.memory_bytes();
            if used <= target {
                return Ok(count);
            }
            let need = (used - target).min(MAX_SPILL_STEP);
            let mut candidates: Vec<(Millis, usize, u32)> = Vec::new();
            for (sid, table) in self.tables.iter().enumerate() {
                let mut offered = 0u64;
                for (at, row) in table.timers.latest_first() {
                    if offered >= need {
                        break;
                    }
                    let cost = table.cost_of(table.view(row).row.id.len());
                    offered += cost
                        .saturating_sub(SPILLED_ENTRY_BYTES + DUE_BUCKET_BYTES)
                        .max(1);
                    candidates.push((at, sid, row));
                }
            }
            if candidates.is_empty() {
                return Ok(count);
            }
            candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
            for (at, sid, row) in candidates {
                if self.memory_bytes() <= target {
                    return Ok(count);
                }
                if !self.move_out(at, sid, row, now, &mut place, &mut count)? {
                    return Ok(count);
                }
            }
        }
    }

    /// Moves one message out; false when the tier refused it (stop spilling).
    fn move_out(
        &mut self,
        at: Millis,
        sid: usize,
        row: u32,
        now: Millis,
        place: &mut impl FnMut(&Evicted<'_>) -> Placement,
        count: &mut SpillCount,
    ) -> Result<bool, StateError> {
        let (Some(plan), Some(table), Some(metrics), Some(spilled), Some(shed), Some(gaps)) = (
            self.lineage.streams().get(sid),
            self.tables.get_mut(sid),
            self.metrics.stream(crate::lineage::StreamId(sid as u16)),
            self.spilled.get_mut(sid),
            self.shed.get_mut(sid),
            self.gaps.get(sid),
        ) else {
            return Ok(true);
        };
        self.encoded.clear();
        let view = table.view(row);
        let deadline = view.deadline();
        persist::snapshot(plan, &view).encode(&mut self.encoded)?;
        let placement = place(&Evicted {
            stream: &plan.name,
            id: &view.row.id,
            deadline,
            dirty: table.is_dirty(row),
            gap_epoch: gaps.added(),
            state: &self.encoded,
        });
        if placement == Placement::Kept {
            return Ok(false);
        }
        let Some(id) = table.evict(row, at) else {
            return Ok(true);
        };
        let hash = table.hash_id(&id);
        match placement {
            Placement::Spilled => {
                spilled.insert(hash, deadline);
                metrics.count_spilled();
                count.spilled += 1;
            }
            Placement::Shed => {
                let t = plan.timing;
                let forget_at = deadline
                    .max(now)
                    .saturating_add(t.max_wait)
                    .saturating_add(t.dedup_window);
                shed.insert(hash, forget_at, &id);
                metrics.count_shed();
                count.shed += 1;
            }
            Placement::Kept => {}
        }
        Ok(true)
    }

    /// Whether `trace`'s message may be on the disk tier: the shell then looks it up there and
    /// reads it back ([`Detector::unspill`]) before [`Detector::on_trace`]. Never `None` for a
    /// message that is on disk; `Some` for about 1% of those that are not (a disk lookup that
    /// finds nothing). Costs a few bit tests per filter layer, and nothing while nothing is
    /// spilled.
    pub fn spilled_at(&self, trace: &Trace<'_>) -> Option<OnTier<'_>> {
        // Asked of the filter, not of the count: the filter is what never says no.
        if !self.spilled.iter().any(|s| s.has_filter()) {
            return None;
        }
        let sid = usize::from(self.lineage.stream_id(&trace.stream)?.0);
        let (plan, table, spilled) = (
            self.lineage.streams().get(sid)?,
            self.tables.get(sid)?,
            self.spilled.get(sid)?,
        );
        let hash = table.hash_id(&trace.id);
        spilled.contains(hash).then_some(OnTier {
            stream: plan.name.as_str(),
        })
    }

    /// Whether the index of spilled messages holds more stale entries (messages read back
    /// since it was built) than live ones: the shell should then list what the tier holds of
    /// this shard for [`Detector::rebuild_spilled_index`].
    pub fn spilled_index_stale(&self) -> bool {
        self.spilled.iter().any(|s| s.is_stale())
    }

    /// Builds the index of spilled messages again from what the tier holds: `list` is called
    /// with a function to call for each spilled message's (stream, id, deadline). After it the
    /// index holds no stale entry, and counts exactly what the tier holds.
    pub fn rebuild_spilled_index<E>(
        &mut self,
        list: impl FnOnce(&mut dyn FnMut(&str, &str, Millis)) -> Result<(), E>,
    ) -> Result<(), E> {
        for spilled in &mut self.spilled {
            spilled.begin_rebuild();
        }
        let (lineage, tables, spilled) = (&self.lineage, &self.tables, &mut self.spilled);
        list(&mut |stream, id, deadline| {
            let Some(sid) = lineage.stream_id(stream) else {
                return;
            };
            let sid = usize::from(sid.0);
            if let (Some(table), Some(index)) = (tables.get(sid), spilled.get_mut(sid)) {
                index.refile(table.hash_id(id), deadline);
            }
        })
    }

    /// Whether a spilled message may be due at or before `now` (then the shell reads back
    /// those due by `now` before [`Detector::on_tick`]).
    pub fn spilled_due_by(&self, now: Millis) -> bool {
        self.spilled.iter().any(|s| s.due_by(now))
    }

    /// The earliest second in which a spilled message is due.
    pub fn next_spilled_due(&self) -> Option<Millis> {
        self.spilled.iter().filter_map(|s| s.next_due()).min()
    }

    /// Brings a message back from the disk tier: `bytes`, `dirty` and `gap_epoch` as its
    /// [`Evicted`] gave them. Its timer is re-armed at its stored deadline, it is marked
    /// changed again if it was, and the gap reports that came while it was out are applied
    /// to it as they were to the messages in memory.
    pub fn unspill(
        &mut self,
        id: &str,
        bytes: &[u8],
        dirty: bool,
        gap_epoch: u64,
    ) -> Result<(), StateError> {
        let stored = StoredMessage::decode(bytes)?;
        let sid = self
            .lineage
            .stream_id(&stored.stream)
            .ok_or_else(|| StateError::UnknownStream(stored.stream.to_string()))?;
        let i = usize::from(sid.0);
        let (Some(plan), Some(table), Some(metrics), Some(spilled), Some(gaps)) = (
            self.lineage.streams().get(i),
            self.tables.get_mut(i),
            self.metrics.stream(sid),
            self.spilled.get_mut(i),
            self.gaps.get(i),
        ) else {
            return Err(StateError::UnknownStream(stored.stream.to_string()));
        };
        let row =
            table
                .insert_restored(id, stored.anchor)
                .ok_or_else(|| StateError::AlreadyPresent {
                    stream: plan.name.clone(),
                    id: id.to_owned(),
                })?;
        spilled.remove(table.hash_id(id), stored.deadline);
        persist::fill(plan, &stored, &mut table.message(row));
        table.rearm(row, stored.deadline);
        metrics.count_unspilled();
        let mut changed = dirty;
        for gap in gaps.since(gap_epoch) {
            let Some(&reader) = plan.readers().get(usize::from(gap.slot)) else {
                continue;
            };
            let app = plan.app(reader);
            let mut msg = table.message(row);
            let open = rules::open_expectation(&msg, gap.slot, app) == Some(gap.expectation);
            if open && rules::covered_by_gap(gaps, plan, &msg, gap.slot, app, gap.expectation) {
                rules::mark_unknown(&mut msg, gap.slot, app, gap.expectation, metrics);
                changed = true;
            }
        }
        if changed {
            table.mark_dirty(row);
        }
        Ok(())
    }

    /// Forgets the shed messages whose time has come; their markers are removed with the
    /// next drain.
    pub(super) fn forget_shed(&mut self, now: Millis) {
        for (table, shed) in self.tables.iter_mut().zip(&mut self.shed) {
            if shed.len() == 0 {
                continue;
            }
            for id in shed.expire(now) {
                table.log_removed(id);
            }
        }
    }

    /// Shed messages remembered (their later traces are skipped), over all streams.
    pub fn messages_shed_held(&self) -> usize {
        self.shed.iter().map(|s| s.len()).sum()
    }
}
