//! Per-message state, timers, the decision rule, duplicates and latency.
//!
//! A [`Detector`] owns the messages of one shard (the shell runs one per tracing-topic
//! partition). It is fed three ways, all with the detector time `now` passed in:
//! - [`Detector::on_trace`] records a trace (duplicates, hop latency, retractions);
//! - [`Detector::on_tick`] runs the timers that are due: the decision rule, stuck
//!   messages, and dropping settled messages once their dedup window has passed;
//! - [`Detector::on_gap`] takes a tracer's report of traces it dropped: what it covers is
//!   concluded "unknown at this hop", never lost; [`Detector::input_resumed`] holds verdicts
//!   for a confirmation delay after the shell's input was interrupted;
//! - [`Detector::drain_changes`] / [`Detector::restore`] move per-message state to and
//!   from the shell's store, so a restart neither loses nor repeats a verdict;
//! - [`Detector::spill_to`] / [`Detector::unspill`] move messages between memory and the
//!   shell's disk tier under a memory budget ([`spill`] decides what and when).
//! - [`Detector::replan`] moves the messages onto a new lineage (from a control plane),
//!   each keeping the plan it started with.
//!
//! Layout: `state` holds the compact rows and slots, `timers` the deadline lists,
//! `ingest` what a trace changes, `rules` the decision rule, `verdicts` the records and
//! their idempotency bits, `persist` the stored form, `gaps` the tracers' gap reports,
//! `spill` the memory budget's decisions and the index of what left memory, `tier` the
//! detector's side of spilling, `replan` a lineage change.

mod gaps;
mod ingest;
mod persist;
mod replan;
mod rules;
pub mod spill;
mod state;
mod tier;
mod timers;
mod verdicts;

use std::sync::Arc;

pub use persist::{
    MAX_STATE_BYTES, STATE_FORMAT, StateError, StoredApp, StoredLocation, StoredMessage,
};

use crate::lineage::{Lineage, StreamId};
use crate::metrics::Metrics;
use crate::model::{Gap, Kind, Millis, Trace, VerdictSink};
use crate::offsets::OffsetsView;
use gaps::{GapEntry, GapTable};
use rules::Next;
use spill::{ShedLog, SpilledIndex};
use state::{MessageTable, Shape};
use verdicts::Expectation;

pub use tier::{Evicted, OnTier, SpillCount};

/// A message whose state changed (or that was dropped) since the last drain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateChange<'a> {
    pub stream: &'a str,
    pub id: &'a str,
    /// The encoded [`StoredMessage`], or `None` when the message was dropped from memory.
    pub state: Option<&'a [u8]>,
}

/// The detector core for one shard of message ids.
pub struct Detector {
    lineage: Arc<Lineage>,
    /// One table per stream, in lineage order.
    tables: Vec<MessageTable>,
    /// The tracers' gap reports, one table per stream, in lineage order.
    gaps: Vec<GapTable>,
    /// Messages on the shell's disk tier, one index per stream, in lineage order.
    spilled: Vec<SpilledIndex>,
    /// Messages shed (no longer watched), one log per stream, in lineage order.
    shed: Vec<ShedLog>,
    /// Detector time the shell's input last resumed after an interruption.
    resumed_at: Option<Millis>,
    metrics: Metrics,
    encoded: Vec<u8>,
    /// Whether changed states are tracked for [`Detector::drain_changes`].
    track_changes: bool,
    /// Messages dropped from watch by a lineage change, (stream, id): removed from the store
    /// at the next drain.
    orphans: Vec<(String, Box<str>)>,
}

impl Detector {
    /// A detector that tracks changed states for [`Detector::drain_changes`] (the shell's case).
    pub fn new(lineage: Arc<Lineage>) -> Self {
        Self::build(lineage, true)
    }

    /// A detector that keeps no change log: for callers that never persist state
    /// (simulations, benchmarks of the rule alone). Draining it yields nothing.
    pub fn without_change_tracking(lineage: Arc<Lineage>) -> Self {
        Self::build(lineage, false)
    }

    fn build(lineage: Arc<Lineage>, track_changes: bool) -> Self {
        let tables: Vec<MessageTable> = lineage
            .streams()
            .iter()
            .map(|plan| {
                let shape = Shape {
                    locs: plan.locations().len(),
                    apps: plan.readers().len(),
                };
                MessageTable::new(shape, track_changes)
            })
            .collect();
        Detector {
            metrics: Metrics::for_lineage(&lineage),
            gaps: tables.iter().map(|_| GapTable::default()).collect(),
            spilled: tables.iter().map(|_| SpilledIndex::default()).collect(),
            shed: tables.iter().map(|_| ShedLog::default()).collect(),
            lineage,
            tables,
            resumed_at: None,
            encoded: Vec::new(),
            track_changes,
            orphans: Vec::new(),
        }
    }

    /// The lineage the detector was built on.
    pub fn lineage(&self) -> &Arc<Lineage> {
        &self.lineage
    }

    /// Records one trace at detector time `now`. A trace that retracts an earlier lost
    /// verdict emits the retraction to `sink`. Traces the lineage cannot place are
    /// counted by reason and skipped.
    pub fn on_trace(&mut self, trace: &Trace<'_>, now: Millis, sink: &mut impl VerdictSink) {
        let resolved = match self.lineage.resolve(trace) {
            Ok(resolved) => resolved,
            Err(reason) => {
                self.metrics.count_rejected(reason);
                return;
            }
        };
        let sid = usize::from(resolved.stream.0);
        let (Some(plan), Some(table), Some(metrics), Some(shed)) = (
            self.lineage.streams().get(sid),
            self.tables.get_mut(sid),
            self.metrics.stream(resolved.stream),
            self.shed.get(sid),
        ) else {
            return;
        };
        if shed.contains(table.hash_id(&trace.id)) && table.find(&trace.id).is_none() {
            // Shed: no longer watched, and never judged on the traces that remain.
            metrics.count_shed_trace();
            return;
        }
        let (row, created) = table.find_or_insert(&trace.id, now, plan.timing.first_check);
        if created {
            metrics.count_seen();
        }
        let mut msg = table.message(row);
        ingest::record(plan, &mut msg, resolved, trace, now, metrics, sink);
        if msg.changed() || created {
            table.mark_dirty(row);
        }
    }

    /// Records a tracer's report of traces it dropped. Every message held whose open
    /// expectation the report covers is concluded "unknown at this hop" now; the report is
    /// kept (for `max_wait` + `dedup_window`) for messages whose traces come later. A report
    /// the lineage cannot place is counted like a trace it cannot place.
    pub fn on_gap(&mut self, gap: &Gap, now: Millis) {
        let first = gap.ranges.first().map_or(0, |r| r.0);
        let probe = Trace {
            id: "".into(),
            stream: gap.stream.as_str().into(),
            kind: gap.dropped,
            location: gap.location.as_str().into(),
            partition: gap.partition,
            offset: first,
            app: gap.app.as_str().into(),
            group: gap.group.as_deref().map(Into::into),
            ts: gap.to_ts,
        };
        let resolved = match self.lineage.resolve(&probe) {
            Ok(resolved) => resolved,
            Err(reason) => {
                self.metrics.count_rejected(reason);
                return;
            }
        };
        let sid = usize::from(resolved.stream.0);
        let (Some(plan), Some(table), Some(gaps), Some(metrics)) = (
            self.lineage.streams().get(sid),
            self.tables.get_mut(sid),
            self.gaps.get_mut(sid),
            self.metrics.stream(resolved.stream),
        ) else {
            return;
        };
        if gap.copy == 0 {
            metrics.count_tracer_dropped(gap.count);
        }
        let app = plan.app(resolved.app);
        let expectation = match gap.dropped {
            Kind::Received | Kind::Filtered => Expectation::Reception,
            // Only a processor's `sent` is expected by the rule (its write downstream).
            Kind::Sent if app.reads.is_some() => Expectation::Write,
            Kind::Sent => return,
        };
        let Some(slot) = app.slot else { return };
        let t = plan.timing;
        gaps.add(
            GapEntry {
                slot,
                expectation,
                partition: gap.partition,
                ranges: gap.ranges.clone(),
                from_ts: gap.from_ts,
                to_ts: gap.to_ts,
                expires_at: now
                    .saturating_add(t.max_wait)
                    .saturating_add(t.dedup_window),
            },
            now,
        );
        let rows: Vec<u32> = table.rows().collect();
        for row in rows {
            let mut msg = table.message(row);
            let open = rules::open_expectation(&msg, slot, app) == Some(expectation);
            if open && rules::covered_by_gap(gaps, plan, &msg, slot, app, expectation) {
                rules::mark_unknown(&mut msg, slot, app, expectation, metrics);
                table.mark_dirty(row);
            }
        }
    }

    /// The shell's input resumed at `now` after an interruption (the tracing cluster was
    /// unreachable, or partitions were just assigned): no lost verdict is emitted before
    /// each stream's confirmation delay has passed from `now`, so that traces and gap
    /// reports the emitters held back meanwhile can arrive first.
    pub fn input_resumed(&mut self, now: Millis) {
        self.resumed_at = Some(now);
    }

    /// Gap reports held, over all streams.
    pub fn gap_reports_held(&self) -> usize {
        self.gaps.iter().map(GapTable::len).sum()
    }

    /// Runs every timer due at or before `now`, in deadline order, against `offsets`: for a
    /// shell whose input holds every trace written up to `now` (tests, replays).
    pub fn on_tick(
        &mut self,
        now: Millis,
        offsets: &impl OffsetsView,
        sink: &mut impl VerdictSink,
    ) {
        self.on_tick_bounded(now, now, offsets, sink, usize::MAX);
    }

    /// Runs the timers due at or before `read_through`, or `now` if that is earlier, checking
    /// them at `now`; stops at the first deadline boundary after `budget` messages were
    /// checked and returns whether due timers remain.
    ///
    /// `read_through` is the latest time by which every trace written to the input has been
    /// fed to this detector. A check confirms a loss only after the delay has passed since the
    /// check before it, so with timers held to `read_through` a trace written before the
    /// commit that passed it is always read before a verdict, however far the reading lags
    /// behind. `budget` bounds how much state one checkpoint must carry when many timers
    /// come due at once (after a backlog).
    pub fn on_tick_bounded(
        &mut self,
        now: Millis,
        read_through: Millis,
        offsets: &impl OffsetsView,
        sink: &mut impl VerdictSink,
        budget: usize,
    ) -> bool {
        let due_by = now.min(read_through);
        self.forget_shed(now);
        let mut checked = 0usize;
        for (sid, table) in self.tables.iter_mut().enumerate() {
            let (Some(plan), Some(metrics), Some(gaps)) = (
                self.lineage.streams().get(sid),
                self.metrics.stream(StreamId(sid as u16)),
                self.gaps.get(sid),
            ) else {
                continue;
            };
            let context = rules::Context {
                gaps,
                hold_until: self.resumed_at.map_or(Millis::MIN, |at| {
                    at.saturating_add(plan.timing.confirmation_delay)
                }),
            };
            while let Some(mut due) = table.timers.pop_due(due_by) {
                while let Some(row) = table.timers.take(&mut due) {
                    if !table.is_occupied(row) {
                        continue;
                    }
                    checked += 1;
                    let mut msg = table.message(row);
                    let next =
                        rules::evaluate(plan, &mut msg, now, offsets, &context, metrics, sink);
                    let changed = msg.changed();
                    match next {
                        Next::At(at) => {
                            table.rearm(row, at);
                            if changed {
                                table.mark_dirty(row);
                            }
                        }
                        Next::Remove => {
                            rules::finish(plan, &mut table.message(row), metrics);
                            table.remove(row);
                            metrics.count_removed();
                        }
                    }
                }
                // A deadline's timers are taken as a whole, so stop only between deadlines.
                if checked >= budget {
                    return self
                        .tables
                        .iter()
                        .any(|t| t.timers.next_deadline().is_some_and(|at| at <= due_by));
                }
            }
        }
        false
    }

    /// States changed since the last [`Detector::drain_changes`]: what the next checkpoint
    /// will carry.
    pub fn pending_changes(&self) -> usize {
        self.orphans.len()
            + self
                .tables
                .iter()
                .map(|t| t.pending_changes())
                .sum::<usize>()
    }

    /// When [`Detector::on_tick`] next has work: the shell may sleep until then.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.tables
            .iter()
            .filter_map(|t| t.timers.next_deadline())
            .min()
    }

    /// How long the earliest check not yet run has been due at `through` (the time the
    /// timers may run up to), 0 if none is: how far the detector's own work (bounded ticks,
    /// spilled messages read back) is behind its input. A spilled message counts from the end
    /// of its due second (its index keeps seconds), so for those it may read up to a second
    /// low, never high.
    pub fn checks_overdue(&self, through: Millis) -> Millis {
        let on_disk = self
            .next_spilled_due()
            .map(|second| second.saturating_add(spill::DUE_BUCKET_MS - 1));
        self.next_deadline()
            .into_iter()
            .chain(on_disk)
            .min()
            .map_or(0, |due| through.saturating_sub(due).max(0))
    }

    /// Everything counted so far (the shell merges the detectors of all partitions).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// For the shell to count what only it sees (malformed records).
    pub fn metrics_mut(&mut self) -> &mut Metrics {
        &mut self.metrics
    }

    /// Messages held in memory.
    pub fn messages_in_memory(&self) -> usize {
        self.tables.iter().map(MessageTable::len).sum()
    }

    /// Messages on the shell's disk tier.
    pub fn messages_spilled(&self) -> u64 {
        self.spilled.iter().map(SpilledIndex::len).sum()
    }

    /// Hands every message changed since the last call to `f`: dropped ones first (state
    /// `None`), then the others with their encoded [`StoredMessage`]. Returns how many.
    /// On an error the changes not yet handed over stay queued for the next call.
    pub fn drain_changes(
        &mut self,
        mut f: impl FnMut(StateChange<'_>),
    ) -> Result<usize, StateError> {
        let mut count = 0;
        if self.track_changes {
            for (stream, id) in self.orphans.drain(..) {
                f(StateChange {
                    stream: &stream,
                    id: &id,
                    state: None,
                });
                count += 1;
            }
        } else {
            self.orphans.clear();
        }
        for (sid, table) in self.tables.iter_mut().enumerate() {
            let Some(plan) = self.lineage.streams().get(sid) else {
                continue;
            };
            for id in table.take_removed() {
                f(StateChange {
                    stream: &plan.name,
                    id: &id,
                    state: None,
                });
                count += 1;
            }
            if let Some(shed) = self.shed.get_mut(sid) {
                for (forget_at, id) in shed.take_unsaved() {
                    self.encoded.clear();
                    tier::shed_marker(plan, forget_at).encode(&mut self.encoded)?;
                    f(StateChange {
                        stream: &plan.name,
                        id,
                        state: Some(&self.encoded),
                    });
                    count += 1;
                }
            }
            while let Some(row) = table.pop_dirty() {
                self.encoded.clear();
                let view = table.view(row);
                if let Err(e) = persist::snapshot(plan, &view).encode(&mut self.encoded) {
                    table.unpop_dirty(row);
                    return Err(e);
                }
                f(StateChange {
                    stream: &plan.name,
                    id: &view.row.id,
                    state: Some(&self.encoded),
                });
                count += 1;
            }
        }
        Ok(count)
    }

    /// Hands the stored form of every message in memory to `f` (a full checkpoint, or a
    /// move to a detector built on a reloaded lineage).
    pub fn for_each_state(&self, mut f: impl FnMut(&str, &StoredMessage<'_>)) {
        for (sid, table) in self.tables.iter().enumerate() {
            let Some(plan) = self.lineage.streams().get(sid) else {
                continue;
            };
            for row in table.rows() {
                let view = table.view(row);
                f(&view.row.id, &persist::snapshot(plan, &view));
            }
            if let Some(shed) = self.shed.get(sid) {
                for (forget_at, id) in shed.iter() {
                    f(id, &tier::shed_marker(plan, forget_at));
                }
            }
        }
    }

    /// Restores one message from bytes written by [`Detector::drain_changes`], re-arming its
    /// timer at the stored deadline (at once on the next tick if that has passed).
    pub fn restore(&mut self, id: &str, bytes: &[u8]) -> Result<(), StateError> {
        let stored = StoredMessage::decode(bytes)?;
        self.restore_stored(id, &stored)
    }

    /// Restores one message from its stored form.
    pub fn restore_stored(
        &mut self,
        id: &str,
        stored: &StoredMessage<'_>,
    ) -> Result<(), StateError> {
        if stored.format != STATE_FORMAT {
            return Err(StateError::Format {
                found: stored.format,
            });
        }
        let sid = self
            .lineage
            .stream_id(&stored.stream)
            .ok_or_else(|| StateError::UnknownStream(stored.stream.to_string()))?;
        let i = usize::from(sid.0);
        let (Some(plan), Some(table), Some(metrics), Some(shed)) = (
            self.lineage.streams().get(i),
            self.tables.get_mut(i),
            self.metrics.stream(sid),
            self.shed.get_mut(i),
        ) else {
            return Err(StateError::UnknownStream(stored.stream.to_string()));
        };
        if stored.status & state::status::SHED != 0 {
            shed.restore(table.hash_id(id), stored.deadline, id);
            return Ok(());
        }
        let row =
            table
                .insert_restored(id, stored.anchor)
                .ok_or_else(|| StateError::AlreadyPresent {
                    stream: plan.name.clone(),
                    id: id.to_owned(),
                })?;
        persist::fill(plan, stored, &mut table.message(row));
        table.rearm(row, stored.deadline);
        metrics.count_restored();
        Ok(())
    }
}

#[cfg(test)]
mod tests;
