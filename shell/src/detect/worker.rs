//! Worker threads: each owns the detectors of some tracing partitions and feeds them.
//!
//! A tracing partition belongs to exactly one worker (partition mod workers). All traces of a
//! message share one partition (they are keyed by id), so per-key order is kept without a task
//! per message, and a partition's state can be checkpointed or handed off as one unit.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, SyncSender};
use std::time::Duration;

use cairn_core::config::MalformedPolicy;
use cairn_core::detector::Detector;
use cairn_core::metrics::Metrics;
use cairn_core::model::{Millis, Verdict};
use cairn_core::trace;

use cairn_core::detector::spill::{share_targets, spill_goal};

use super::frontier::Frontier;
use super::spill::{SpillError, SpillTier, TierKey, TierWrite};
use crate::clock::now_millis;
use crate::events::{MalformedTrace, MessagesShed, StateOverBudget, TracerGap};
use crate::lineage::LineageCell;
use crate::oracle::OffsetsBoard;

/// Most changed states a partition gathers for one checkpoint through its timers (about
/// 25 MiB of changelog records); traces are never held back by it.
const MAX_PENDING_CHANGES: usize = 100_000;

/// One record of the tracing topic, as the consumer read it.
pub struct Record {
    pub partition: i32,
    pub offset: i64,
    pub payload: Vec<u8>,
}

/// What the state of one partition looks like at a checkpoint.
pub struct PartitionCheckpoint {
    pub partition: i32,
    /// The next tracing offset to consume: every record before it is in `changes`' state.
    pub next_offset: i64,
    /// (store key, encoded state or `None` for removal) since the previous checkpoint.
    pub changes: Vec<(String, Option<Vec<u8>>)>,
    /// Verdicts made since the previous checkpoint, in order.
    pub verdicts: Vec<Verdict>,
    /// The partition's detector, when the partition leaves this instance (revoke, shutdown):
    /// after the commit its full state becomes the local snapshot.
    pub handoff: Option<Box<Detector>>,
    /// The time its timers may run up to: the later of its read-through time and its
    /// assignment (see [`Frontier`]).
    pub judged_through: Millis,
    /// How long its earliest check not yet run has been due at `judged_through`
    /// ([`Detector::checks_overdue`]).
    pub checks_overdue: Millis,
}

/// Messages to a worker.
pub enum WorkerMsg {
    Records(Vec<Record>),
    /// Take ownership of a partition whose state was restored, consuming from `next_offset`.
    Assign {
        partition: i32,
        detector: Box<Detector>,
        next_offset: i64,
    },
    /// The consumer reached the end of `partition`, standing at `position` there: every
    /// record before it was sent before this message (past a trailing transaction marker too,
    /// which is never a record).
    ReachedEnd {
        partition: i32,
        position: Option<i64>,
    },
    /// The consumer lost the tracing cluster at `at`: verdicts wait until each partition is
    /// read through a time after it, and a confirmation delay more (traces and gap reports
    /// that tracers held back must come first). `seq` is its number on the [`Frontier`].
    Interrupted {
        seq: u64,
        at: Millis,
    },
    /// Give up partitions: reply with their final checkpoints, then drop them.
    Revoke {
        partitions: Vec<i32>,
        reply: Sender<Vec<PartitionCheckpoint>>,
    },
    /// Reply with a checkpoint of every owned partition, and the merged metrics.
    Checkpoint {
        reply: Sender<(Vec<PartitionCheckpoint>, Metrics)>,
    },
    /// Stop at once (shutdown after the final checkpoint).
    Stop,
}

/// Why a worker stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(
        "malformed trace at tracing partition {partition} offset {offset}: {detail} (on_malformed = \"fail\")"
    )]
    Malformed {
        partition: i32,
        offset: i64,
        detail: String,
    },
    #[error("encoding the state of a message failed: {0}")]
    State(String),
    #[error("the detector's disk tier failed: {0}")]
    Spill(String),
}

impl From<SpillError> for WorkerError {
    fn from(err: SpillError) -> Self {
        WorkerError::Spill(err.to_string())
    }
}

struct Owned {
    detector: Box<Detector>,
    next_offset: i64,
    verdicts: Vec<Verdict>,
    /// The latest time every trace written to the partition before it has been fed (see
    /// [`Frontier`]): timers run no further. A missing trace may be among the records not
    /// read yet, and the confirmation delay only covers traces in flight, not a backlog of
    /// the detector's own (after a restart, behind a slow disk tier, or under more load than
    /// it keeps up with).
    read_through: Millis,
    assigned_at: Millis,
    /// The partition's input counts as resumed once it is read through this time: its
    /// assignment, or the consumer's last interruption.
    resume_after: Millis,
    /// Whether the detector was told its input resumed since `resume_after` was set.
    resumed: bool,
    /// Keys of messages spilled with changes the next checkpoint must carry (from the tier).
    spilled_dirty: Vec<TierKey>,
}

pub struct Worker {
    partitions: HashMap<i32, Owned>,
    /// The lineage in use; detectors built on an older one are moved onto it.
    lineage: Arc<LineageCell>,
    /// Counts of partitions this worker no longer owns, so exported counters never go back.
    retired: Metrics,
    board: Arc<OffsetsBoard>,
    on_malformed: MalformedPolicy,
    /// How often timers are run even without traffic.
    tick_every: Duration,
    errors: SyncSender<WorkerError>,
    tier: Arc<SpillTier>,
    /// This worker's share of `[detector] max_memory`.
    memory_share: u64,
    /// How far each partition is read; while an interruption announced on it has not
    /// arrived yet, no timer runs.
    frontier: Frontier,
    /// The number of the last interruption received.
    interrupts_seen: u64,
}

impl Worker {
    /// `zero` holds a zeroed series for every stream and hop, so they exist from the start.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        zero: Metrics,
        lineage: Arc<LineageCell>,
        board: Arc<OffsetsBoard>,
        on_malformed: MalformedPolicy,
        tick_every: Duration,
        errors: SyncSender<WorkerError>,
        tier: Arc<SpillTier>,
        memory_share: u64,
        frontier: Frontier,
    ) -> Self {
        Worker {
            partitions: HashMap::new(),
            lineage,
            retired: zero,
            board,
            on_malformed,
            tick_every,
            errors,
            tier,
            memory_share,
            frontier,
            interrupts_seen: 0,
        }
    }

    /// Runs until the channel closes or a `Stop` arrives.
    pub fn run(mut self, inbox: Receiver<WorkerMsg>) {
        let mut last_tick = now_millis();
        loop {
            self.follow_lineage();
            match inbox.recv_timeout(self.tick_every) {
                Ok(WorkerMsg::Records(records)) => {
                    if let Err(err) = self.feed(records) {
                        let _ = self.errors.try_send(err);
                        return;
                    }
                }
                Ok(WorkerMsg::Assign {
                    partition,
                    detector,
                    next_offset,
                }) => {
                    let now = now_millis();
                    self.partitions.insert(
                        partition,
                        Owned {
                            detector,
                            next_offset,
                            verdicts: Vec::new(),
                            read_through: Millis::MIN,
                            assigned_at: now,
                            resume_after: now,
                            resumed: false,
                            spilled_dirty: Vec::new(),
                        },
                    );
                }
                Ok(WorkerMsg::ReachedEnd {
                    partition,
                    position: Some(position),
                }) => {
                    if let Some(owned) = self.partitions.get_mut(&partition) {
                        owned.next_offset = owned.next_offset.max(position);
                    }
                }
                Ok(WorkerMsg::ReachedEnd { position: None, .. }) => {}
                Ok(WorkerMsg::Interrupted { seq, at }) => {
                    for owned in self.partitions.values_mut() {
                        owned.resume_after = owned.resume_after.max(at);
                        owned.resumed = false;
                    }
                    self.interrupts_seen = self.interrupts_seen.max(seq);
                }
                Ok(WorkerMsg::Revoke { partitions, reply }) => {
                    if let Err(err) = self.tick() {
                        let _ = self.errors.try_send(err);
                        return;
                    }
                    let mut out = Vec::new();
                    for partition in partitions {
                        if let Some(mut owned) = self.partitions.remove(&partition) {
                            self.retired.merge_retired(owned.detector.metrics());
                            match checkpoint_of(partition, &mut owned, &self.tier) {
                                Ok(mut checkpoint) => {
                                    checkpoint.handoff = Some(owned.detector);
                                    out.push(checkpoint);
                                }
                                Err(err) => {
                                    let _ = self.errors.try_send(err);
                                    return;
                                }
                            }
                        }
                    }
                    let _ = reply.send(out);
                }
                Ok(WorkerMsg::Checkpoint { reply }) => {
                    if let Err(err) = self.tick() {
                        let _ = self.errors.try_send(err);
                        return;
                    }
                    let mut out = Vec::new();
                    let mut metrics = self.retired.clone();
                    for (&partition, owned) in &mut self.partitions {
                        match checkpoint_of(partition, owned, &self.tier) {
                            Ok(checkpoint) => out.push(checkpoint),
                            Err(err) => {
                                let _ = self.errors.try_send(err);
                                return;
                            }
                        }
                        metrics.merge(owned.detector.metrics());
                    }
                    let _ = reply.send((out, metrics));
                }
                Ok(WorkerMsg::Stop) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return;
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            }
            let now = now_millis();
            if now - last_tick >= self.tick_every.as_millis() as i64 {
                if let Err(err) = self.tick() {
                    let _ = self.errors.try_send(err);
                    return;
                }
                last_tick = now;
            }
        }
    }

    /// Moves every detector built on an older lineage onto the one in use (a pointer compare
    /// per partition when nothing changed). Messages in flight keep the plan they started
    /// with; see `Detector::replan`.
    fn follow_lineage(&mut self) {
        let Some(applied) = self.lineage.current() else {
            return;
        };
        let mut moved = 0;
        for owned in self.partitions.values_mut() {
            if !Arc::ptr_eq(owned.detector.lineage(), &applied.lineage) {
                owned.detector.replan(applied.lineage.clone());
                moved += 1;
            }
        }
        if moved > 0 {
            let mut retired = Metrics::for_lineage(&applied.lineage);
            retired.merge_retired(&self.retired);
            self.retired = retired;
            tracing::debug!(
                partitions = moved,
                version = %applied.version,
                "detectors moved onto the new lineage"
            );
        }
    }

    /// Feeds records to their partitions' detectors, skipping what the restored state holds.
    fn feed(&mut self, records: Vec<Record>) -> Result<(), WorkerError> {
        let now = now_millis();
        let tier = self.tier.clone();
        let mut write: Option<TierWrite<'_>> = None;
        for record in records {
            let Some(owned) = self.partitions.get_mut(&record.partition) else {
                // A record of a partition revoked meanwhile: the next owner reads it again.
                continue;
            };
            if record.offset < owned.next_offset {
                continue; // already in the restored state
            }
            owned.next_offset = record.offset + 1;
            match trace::decode_record(&record.payload) {
                Ok(trace::Record::Trace(decoded)) => {
                    if let Some(at) = owned.detector.spilled_at(&decoded) {
                        // The message may be on disk: back into memory before the trace is
                        // added.
                        let key = state_key(at.stream, &decoded.id);
                        let batch = match &mut write {
                            Some(batch) => batch,
                            None => write.insert(tier.write()?),
                        };
                        if let Some(on_disk) = batch.take(record.partition, &key)? {
                            owned
                                .detector
                                .unspill(
                                    &decoded.id,
                                    &on_disk.state,
                                    on_disk.dirty,
                                    on_disk.gap_epoch,
                                )
                                .map_err(|err| WorkerError::Spill(err.to_string()))?;
                        }
                    }
                    owned.detector.on_trace(&decoded, now, &mut owned.verdicts)
                }
                Ok(trace::Record::Gap(gap)) => {
                    TracerGap { gap: &gap }.emit();
                    owned.detector.on_gap(&gap, now);
                }
                Err(err) => {
                    MalformedTrace {
                        partition: record.partition,
                        offset: record.offset,
                        error: &err,
                        policy: self.on_malformed,
                    }
                    .emit(owned.detector.metrics_mut());
                    if self.on_malformed == MalformedPolicy::Fail {
                        return Err(WorkerError::Malformed {
                            partition: record.partition,
                            offset: record.offset,
                            detail: err.to_string(),
                        });
                    }
                }
            }
        }
        self.keep_budget(&tier, &mut write, now)?;
        if let Some(batch) = write {
            batch.commit()?;
        }
        Ok(())
    }

    /// Spills (or, past `max_disk`, sheds) messages of this worker's partitions while they
    /// cost more than its share of `[detector] max_memory`, each partition in proportion to
    /// what it holds.
    fn keep_budget<'t>(
        &mut self,
        tier: &'t SpillTier,
        write: &mut Option<TierWrite<'t>>,
        now: i64,
    ) -> Result<(), WorkerError> {
        for (&partition, owned) in self.partitions.iter_mut() {
            if owned.detector.spilled_index_stale() {
                let batch = match write {
                    Some(batch) => batch,
                    None => write.insert(tier.write()?),
                };
                batch.rebuild_index(partition, &mut owned.detector)?;
            }
        }
        let used: Vec<(i32, u64)> = self
            .partitions
            .iter()
            .map(|(&p, owned)| (p, owned.detector.memory_bytes()))
            .collect();
        let total = used.iter().map(|&(_, u)| u).sum();
        let Some(target) = spill_goal(total, self.memory_share) else {
            return Ok(());
        };
        let bytes: Vec<u64> = used.iter().map(|&(_, u)| u).collect();
        let batch = match write {
            Some(batch) => batch,
            None => write.insert(tier.write()?),
        };
        for (&(partition, _), partition_target) in used.iter().zip(share_targets(&bytes, target)) {
            let Some(owned) = self.partitions.get_mut(&partition) else {
                continue;
            };
            let count = batch.spill(
                partition,
                &mut owned.detector,
                partition_target,
                now,
                &mut owned.spilled_dirty,
            )?;
            if count.shed > 0 {
                MessagesShed {
                    partition,
                    shed: count.shed,
                    disk_used: tier.used_bytes(),
                    max_disk: tier.max_disk(),
                }
                .emit();
            }
        }
        let after: u64 = self
            .partitions
            .values()
            .map(|owned| owned.detector.memory_bytes())
            .sum();
        if after > self.memory_share {
            // Everything that could leave memory did: what is left is the index of what is
            // on disk (and the shed messages remembered), which cannot leave.
            StateOverBudget {
                used: after,
                share: self.memory_share,
            }
            .emit();
        }
        Ok(())
    }

    fn tick(&mut self) -> Result<(), WorkerError> {
        let view = self.board.view();
        let now = now_millis();
        // The consumer lost the tracing cluster and its message saying so is on the way:
        // traces held back by tracers may still come, whatever was read.
        let judging = self.frontier.interrupts() <= self.interrupts_seen;
        crate::events::report_skipped_malformed(now);
        let tier = self.tier.clone();
        let mut write: Option<TierWrite<'_>> = None;
        for (&partition, owned) in self.partitions.iter_mut() {
            if let Some(through) = self.frontier.reached(partition, owned.next_offset, now) {
                owned.read_through = owned.read_through.max(through);
            }
            if !judging {
                continue;
            }
            if !owned.resumed {
                if owned.read_through < owned.resume_after {
                    continue;
                }
                owned.detector.input_resumed(now);
                owned.resumed = true;
            }
            let due_by = now.min(owned.read_through);
            if owned.detector.spilled_due_by(due_by) {
                // Spilled messages whose timers are due come back before the timers run.
                let batch = match &mut write {
                    Some(batch) => batch,
                    None => write.insert(tier.write()?),
                };
                for on_disk in batch.take_due(partition, due_by, MAX_PENDING_CHANGES)? {
                    let id =
                        split_state_key(&on_disk.key).map_or(on_disk.key.as_str(), |(_, id)| id);
                    owned
                        .detector
                        .unspill(id, &on_disk.state, on_disk.dirty, on_disk.gap_epoch)
                        .map_err(|err| WorkerError::Spill(err.to_string()))?;
                }
            }
            // Many timers come due at once after a backlog: check only as many as keep the
            // next checkpoint bounded; the rest wait for the ticks after it.
            let room = MAX_PENDING_CHANGES.saturating_sub(owned.detector.pending_changes());
            if room > 0 {
                owned.detector.on_tick_bounded(
                    now,
                    owned.read_through,
                    &view,
                    &mut owned.verdicts,
                    room,
                );
            }
        }
        self.keep_budget(&tier, &mut write, now)?;
        if let Some(batch) = write {
            batch.commit()?;
        }
        Ok(())
    }
}

/// The store key of a message: its stream and id, which together identify it.
pub fn state_key(stream: &str, id: &str) -> String {
    format!("{stream}\u{0}{id}")
}

/// Splits a store key back into (stream, id).
pub fn split_state_key(key: &str) -> Option<(&str, &str)> {
    key.split_once('\u{0}')
}

fn checkpoint_of(
    partition: i32,
    owned: &mut Owned,
    tier: &SpillTier,
) -> Result<PartitionCheckpoint, WorkerError> {
    let mut changes = Vec::new();
    owned
        .detector
        .drain_changes(|change| {
            changes.push((
                state_key(change.stream, change.id),
                change.state.map(<[u8]>::to_vec),
            ));
        })
        .map_err(|err| WorkerError::State(err.to_string()))?;
    // Messages spilled with changes since the last checkpoint: their states are on the tier
    // (those read back since are in memory and were just drained).
    if !owned.spilled_dirty.is_empty() {
        let mut batch = tier.write()?;
        let dirty = batch.drain_dirty(partition, std::mem::take(&mut owned.spilled_dirty))?;
        batch.commit()?;
        changes.extend(dirty.into_iter().map(|(key, state)| (key, Some(state))));
    }
    tracing::debug!(
        partition,
        changes = changes.len(),
        verdicts = owned.verdicts.len(),
        next_offset = owned.next_offset,
        "partition drained"
    );
    let judged_through = owned.read_through.max(owned.assigned_at);
    Ok(PartitionCheckpoint {
        partition,
        next_offset: owned.next_offset,
        changes,
        verdicts: std::mem::take(&mut owned.verdicts),
        handoff: None,
        judged_through,
        checks_overdue: owned.detector.checks_overdue(judged_through),
    })
}
