//! Moving a detector's messages onto a new lineage, without a restart (`docs/control-plane.md`).
//!
//! What a message expects is decided once, by the lineage it was first seen under, so that a
//! verdict is about the pipeline as it was when the message went through it:
//! - a stream the new lineage lacks: its messages are dropped from watch, each counted
//!   (`stream_removed`) and removed from the store, never judged;
//! - a stream whose plan has the same locations and apps in the same order: its messages
//!   move as they are (new timing applies from their next check);
//! - any other change: each message moves slot by slot, by name. An app added (or changed:
//!   another group, `reads` or `writes`) is marked *unplanned* for it, so nothing is expected
//!   of that app for messages already in flight; an app removed (or changed) takes its open
//!   expectation with it, counted (`hop_removed`). The message is written to the store again,
//!   so a restart restores the same plan;
//! - a stream only the new lineage has starts with its next traces.

use std::sync::Arc;

use super::gaps::GapTable;
use super::spill::{ShedLog, SpilledIndex};
use super::state::MessageTable;
use super::{Detector, persist, rules};
use crate::lineage::{Lineage, StreamChange, StreamId, StreamPlan};
use crate::metrics::{Metrics, Unwatched};

impl Detector {
    /// Moves every message held onto `lineage` (see the module doc). Counters carry over by
    /// stream and hop name, so exported counters never go back.
    pub fn replan(&mut self, lineage: Arc<Lineage>) {
        let old_lineage = self.lineage.clone();
        let mut next = Detector::build(lineage.clone(), self.track_changes);
        next.metrics = Metrics::for_lineage(&lineage);
        next.metrics.merge_retired(&self.metrics);
        next.resumed_at = self.resumed_at;
        next.orphans = std::mem::take(&mut self.orphans);
        let tables = std::mem::take(&mut self.tables);
        let gaps = std::mem::take(&mut self.gaps);
        next.carry_tiers(&old_lineage, &mut self.spilled, &mut self.shed);
        for ((plan, mut table), gaps) in old_lineage.streams().iter().zip(tables).zip(gaps) {
            // Removals not yet drained stay removals whatever happens to the stream.
            next.orphans.extend(
                table
                    .take_removed()
                    .into_iter()
                    .map(|id| (plan.name.clone(), id)),
            );
            match lineage.stream_id(&plan.name) {
                None => next.unwatch_stream(plan, &table),
                Some(id) => {
                    let Some(new_plan) = lineage.stream(id) else {
                        continue;
                    };
                    if plan.same_shape(new_plan) {
                        next.adopt(id, table, gaps);
                    } else {
                        next.move_slot_by_slot(plan, new_plan, &mut table, &gaps);
                    }
                }
            }
        }
        *self = next;
    }

    /// A stored message of a stream this detector's lineage does not have (the lineage changed
    /// while the state was stored): dropped from watch, counted like the messages of a stream
    /// removed while running, and removed from the store at the next drain.
    pub fn unwatch_stored(&mut self, stream: &str, id: &str) {
        if self.track_changes {
            self.orphans.push((stream.to_owned(), id.into()));
        }
        self.metrics
            .stream_entry(stream)
            .count_unwatched(Unwatched::StreamRemoved, 1);
    }

    /// Drops a removed stream's messages from watch: counted, and removed from the store.
    fn unwatch_stream(&mut self, plan: &StreamPlan, table: &MessageTable) {
        let held = table.len() as u64;
        if self.track_changes {
            for row in table.rows() {
                let id = table.view(row).row.id.clone();
                self.orphans.push((plan.name.clone(), id));
            }
        }
        if let Some(metrics) = self.metrics.stream_by_name_mut(&plan.name) {
            metrics.count_unwatched(Unwatched::StreamRemoved, held);
        }
    }

    /// Keeps what each stream has on the disk tier (its spilled index, its shed log) under the
    /// stream's new id; a spilled message comes back with its own plan, as after a restart
    /// (`persist::fill`). A removed stream's spilled messages are counted out of watch; they
    /// stay on disk, never judged, until the tier is made anew at the next start.
    fn carry_tiers(
        &mut self,
        old_lineage: &Lineage,
        spilled: &mut [SpilledIndex],
        shed: &mut [ShedLog],
    ) {
        for (i, plan) in old_lineage.streams().iter().enumerate() {
            let (Some(spilled), Some(shed)) = (spilled.get_mut(i), shed.get_mut(i)) else {
                continue;
            };
            match self.lineage.stream_id(&plan.name) {
                Some(id) => {
                    let j = usize::from(id.0);
                    if let Some(metrics) = self.metrics.stream(id) {
                        metrics.carry_spilled(spilled.len());
                    }
                    if let Some(slot) = self.spilled.get_mut(j) {
                        *slot = std::mem::take(spilled);
                    }
                    if let Some(slot) = self.shed.get_mut(j) {
                        *slot = std::mem::take(shed);
                    }
                }
                None => {
                    if let Some(metrics) = self.metrics.stream_by_name_mut(&plan.name) {
                        metrics.count_unwatched(Unwatched::StreamRemoved, spilled.len());
                    }
                }
            }
        }
    }

    /// Takes a stream's table and gap reports as they are: the slots mean the same.
    fn adopt(&mut self, id: StreamId, table: MessageTable, gaps: GapTable) {
        let i = usize::from(id.0);
        let held = table.len();
        if let (Some(slot), Some(gap_slot), Some(metrics)) = (
            self.tables.get_mut(i),
            self.gaps.get_mut(i),
            self.metrics.stream(id),
        ) {
            *slot = table;
            *gap_slot = gaps;
            for _ in 0..held {
                metrics.count_restored();
            }
        }
    }

    /// Moves each message of a changed stream by name (see the module doc).
    fn move_slot_by_slot(
        &mut self,
        old: &StreamPlan,
        new: &StreamPlan,
        table: &mut MessageTable,
        gaps: &GapTable,
    ) {
        let change = StreamChange::between(old, new);
        let kept = |name: &str| change.still_has(name);
        // The spilled index holds id hashes of this table's hasher: the new table hashes alike.
        if let Some(sid) = self.lineage.stream_id(&new.name)
            && let Some(fresh) = self.tables.get_mut(usize::from(sid.0))
        {
            fresh.hash_like(table);
        }
        let rows: Vec<u32> = table.rows().collect();
        let mut dropped_expectations = 0u64;
        for row in rows {
            // Expectations still open at apps that leave (or change) are no longer watched.
            let msg = table.message(row);
            for (slot, &app_ix) in old.readers().iter().enumerate() {
                let app = old.app(app_ix);
                if !kept(&app.name) && rules::open_expectation(&msg, slot as u8, app).is_some() {
                    dropped_expectations += 1;
                }
            }
            let view = table.view(row);
            let mut stored = persist::snapshot(old, &view);
            stored.apps.retain(|s| kept(&s.app));
            let id = view.row.id.clone();
            // The new plan's apps missing from the listed ones are marked unplanned by `fill`.
            // It cannot fail here: the format is this build's, the stream is in the new
            // lineage, and the fresh table has no row of that id yet.
            if self.restore_stored(&id, &stored).is_ok()
                && let Some(sid) = self.lineage.stream_id(&new.name)
                && let Some(table) = self.tables.get_mut(usize::from(sid.0))
                && let Some(row) = table.find(&id)
            {
                table.mark_dirty(row);
            }
        }
        if let Some(metrics) = self.metrics.stream_by_name_mut(&new.name) {
            metrics.count_unwatched(Unwatched::HopRemoved, dropped_expectations);
        }
        // Gap reports follow their app to its new slot; those of apps that left go.
        let new_slot = |slot: u8| {
            let app = old.app(*old.readers().get(usize::from(slot))?);
            if !kept(&app.name) {
                return None;
            }
            new.app(new.app_ix(&app.name)?).slot
        };
        if let Some(sid) = self.lineage.stream_id(&new.name)
            && let Some(mine) = self.gaps.get_mut(usize::from(sid.0))
        {
            *mine = gaps.remapped(new_slot);
        }
    }
}
