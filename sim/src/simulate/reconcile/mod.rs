//! The ground truth of a run, rebuilt from what really happened, not from what the injector
//! meant to do: the topics read in full after the run, each app's ledger (what it consumed and
//! traced, what the broker acknowledged to it) and the offsets the observer saw.
//!
//! For every sampled message id, walking the stream's lineage from the producer's location:
//! - A message is *at* a location when its writer's ledger holds an acknowledgement there or
//!   the topic holds a copy (an acknowledged write that the broker later lost still counts:
//!   the `sent` trace told cairn it was there).
//! - Read hop `{app, group, reads}`: `count` = how often the app's ledger says it read the
//!   message there (`received` or `filtered`). 0 → `lost`, and every hop below it on the
//!   branch `unreached`; 1 → `delivered`; 2+ → `duplicated` (read twice: a second copy or a
//!   redelivery after a crash).
//! - The reason of a lost read, in the terms of cairn's decision rule, from the observer: if the
//!   location's log start was seen past the message before the group's committed offset was,
//!   retention removed it before the group read it → `expired` (at the log start's time);
//!   else if the group's committed offset was seen past it → `committed_past` (skipped without
//!   a trace, taken by an intruder in the group, jumped over by an offset reset, or lost by the
//!   broker after it was acknowledged). If neither was seen, nothing in Kafka shows the loss
//!   yet, cairn must keep waiting; the line says `lost` without a reason or `passed_at`, and
//!   the report counts it as undecidable.
//! - Write hop of a producer `{app, writes}` (no group), first in each message's lines:
//!   `count` = distinct copies at the written location; 2+ → `duplicated` (written twice,
//!   which cairn counts as `cairn_duplicates_total{kind="written_twice"}` with an empty group).
//!   Never lost: a message is what its producer wrote.
//! - Write hop of a processor `{app, group, writes}`: after a `filtered` read, `filtered` (and
//!   every hop below `filtered`); else `count` = distinct copies at the written location
//!   (written twice → `duplicated`); 0 after a read → `lost`, reason `lost_in_app`, passed
//!   when the group's committed offset at the input was first seen past the copy it read.
//! - A stalled or lagging consumer that caught up reads everything: `delivered`, never lost.

use std::collections::{BTreeMap, BTreeSet};

use cairn_core::config::StreamConfig;
use cairn_core::model::{HopRef, Kind, MessageRef, Reason};
use cairn_core::sampling::is_sampled;

use super::ledger::{Action, Entry};
use super::observer::Observations;
use crate::truth::{Outcome, TRUTH_VERSION, TruthRecord};

/// (partition, offset).
pub type Position = (i32, i64);

/// Everything the truth is rebuilt from.
pub struct Evidence<'a> {
    pub stream: &'a StreamConfig,
    /// Per location, per id: the copies the topic held after the run.
    pub topics: &'a BTreeMap<String, BTreeMap<String, BTreeSet<Position>>>,
    /// Per app: its ledger.
    pub ledgers: &'a BTreeMap<String, Vec<Entry>>,
    pub observations: &'a Observations,
}

/// The truth lines of every sampled message, sorted by id, in lineage order per id, and the
/// number of lost lines whose reason nothing in Kafka showed.
pub fn reconcile(evidence: &Evidence) -> (Vec<TruthRecord>, usize) {
    let index = Index::build(evidence);
    let mut ids: BTreeSet<&str> = BTreeSet::new();
    for app in evidence.stream.apps.iter().filter(|a| a.reads.is_none()) {
        if let Some(location) = &app.writes {
            ids.extend(index.ids_at(&location.name()));
        }
    }
    let mut walk = Walk {
        evidence,
        index: &index,
        out: Vec::new(),
        undecided: 0,
    };
    for id in ids {
        if !is_sampled(id, evidence.stream.sample_rate) {
            continue;
        }
        for app in evidence.stream.apps.iter().filter(|a| a.reads.is_none()) {
            if let Some(location) = &app.writes {
                let location = location.name();
                let copies = index.copies(id, &location).len();
                if copies > 0 {
                    walk.out
                        .push(producer_line(evidence, id, &app.app, &location, copies));
                    walk.below(id, &location, Fate::Reached);
                }
            }
        }
    }
    (walk.out, walk.undecided)
}

/// How a location was reached by the message.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    Reached,
    Unreached,
    Filtered,
}

/// The lines written so far, walking the lineage down from each producer.
struct Walk<'e> {
    evidence: &'e Evidence<'e>,
    index: &'e Index,
    out: Vec<TruthRecord>,
    /// Lost lines whose reason nothing in Kafka showed.
    undecided: usize,
}

/// One reader of a location, with what its ledger says it read of the message there.
struct Reading<'a> {
    app: &'a str,
    group: String,
    location: &'a str,
    /// In ledger order.
    reads: Vec<(Action, Position)>,
}

impl Walk<'_> {
    /// The lines of every reader of `location` and everything below them.
    fn below(&mut self, id: &str, location: &str, fate: Fate) {
        let evidence = self.evidence;
        let readers = evidence
            .stream
            .apps
            .iter()
            .filter(|a| a.reads.as_ref().is_some_and(|r| r.name() == location));
        for reader in readers {
            let reading = Reading {
                app: &reader.app,
                group: reader.group.clone().unwrap_or_default(),
                location,
                reads: self.index.reads(&reader.app, id, location),
            };
            let below = self.read_line(id, &reading, fate);
            let Some(writes) = &reader.writes else {
                continue;
            };
            let writes = writes.name();
            let next = self.write_line(id, &reading, &writes, below);
            self.below(id, &writes, next);
        }
    }

    /// The line of a read hop; returns how the message goes on below it.
    fn read_line(&mut self, id: &str, reading: &Reading, fate: Fate) -> Fate {
        let hop = HopRef {
            app: reading.app.to_owned(),
            group: Some(reading.group.clone()),
            location: reading.location.to_owned(),
        };
        let mut line = record(self.evidence, id, hop, Kind::Received);
        let reads = &reading.reads;
        let below = match fate {
            Fate::Unreached | Fate::Filtered => {
                line.outcome = if fate == Fate::Filtered {
                    Outcome::Filtered
                } else {
                    Outcome::Unreached
                };
                fate
            }
            Fate::Reached if reads.is_empty() => {
                line.outcome = Outcome::Lost;
                self.lost_read(&mut line, id, reading);
                Fate::Unreached
            }
            Fate::Reached => {
                line.count = reads.len() as u32;
                line.outcome = if reads.len() == 1 {
                    Outcome::Delivered
                } else {
                    Outcome::Duplicated
                };
                line.message = Some(message(reading.location, reads[0].1));
                if reads.iter().any(|(action, _)| *action == Action::Filtered) {
                    Fate::Filtered
                } else {
                    Fate::Reached
                }
            }
        };
        self.out.push(line);
        below
    }

    /// Where and why a read hop lost the message: the first copy at the location, and which
    /// of retention or the group's commit was seen past it first.
    fn lost_read(&mut self, line: &mut TruthRecord, id: &str, reading: &Reading) {
        let location = reading.location;
        let Some((partition, offset)) = self.index.copies(id, location).first().copied() else {
            return;
        };
        line.message = Some(message(location, (partition, offset)));
        let obs = self.evidence.observations;
        let expired = obs.log_start_past(location, partition, offset);
        let committed = obs.committed_past(&reading.group, location, partition, offset);
        match (expired, committed) {
            (Some(e), c) if c.is_none_or(|c| e <= c) => {
                line.reason = Some(Reason::Expired);
                line.passed_at = Some(e);
            }
            (_, Some(c)) => {
                line.reason = Some(Reason::CommittedPast);
                line.passed_at = Some(c);
            }
            _ => self.undecided += 1,
        }
    }

    /// The line of a processor's write hop at `writes`, below its read hop; returns how the
    /// message goes on below it.
    fn write_line(&mut self, id: &str, reading: &Reading, writes: &str, below: Fate) -> Fate {
        let hop = HopRef {
            app: reading.app.to_owned(),
            group: Some(reading.group.clone()),
            location: writes.to_owned(),
        };
        let mut line = record(self.evidence, id, hop, Kind::Sent);
        let next = match below {
            Fate::Unreached => {
                line.outcome = Outcome::Unreached;
                Fate::Unreached
            }
            Fate::Filtered => {
                line.outcome = Outcome::Filtered;
                Fate::Filtered
            }
            Fate::Reached => {
                let reads = &reading.reads;
                let read_at = reads[0].1;
                line.message = Some(message(reading.location, read_at));
                let written = self.index.copies(id, writes).len();
                if written == 0 {
                    line.outcome = Outcome::Lost;
                    line.reason = Some(Reason::LostInApp);
                    // The processor's group passed the copy it read last (a redelivered
                    // message is only lost once the last reading is committed past).
                    let (partition, offset) = reads.iter().map(|r| r.1).max().unwrap_or(read_at);
                    line.passed_at = self.evidence.observations.committed_past(
                        &reading.group,
                        reading.location,
                        partition,
                        offset,
                    );
                    if line.passed_at.is_none() {
                        self.undecided += 1;
                    }
                    Fate::Unreached
                } else {
                    line.count = written as u32;
                    line.outcome = if written == 1 {
                        Outcome::Delivered
                    } else {
                        Outcome::Duplicated
                    };
                    Fate::Reached
                }
            }
        };
        self.out.push(line);
        next
    }
}

/// The write hop of a producer: never lost (the message is what it wrote), `duplicated` when
/// it wrote the message more than once, which cairn counts as written twice.
fn producer_line(
    evidence: &Evidence,
    id: &str,
    app: &str,
    location: &str,
    copies: usize,
) -> TruthRecord {
    let hop = HopRef {
        app: app.to_owned(),
        group: None,
        location: location.to_owned(),
    };
    let mut line = record(evidence, id, hop, Kind::Sent);
    line.count = copies as u32;
    line.outcome = if copies == 1 {
        Outcome::Delivered
    } else {
        Outcome::Duplicated
    };
    line
}

fn record(evidence: &Evidence, id: &str, hop: HopRef, kind: Kind) -> TruthRecord {
    TruthRecord {
        v: TRUTH_VERSION,
        id: id.to_owned(),
        stream: evidence.stream.name.clone(),
        hop,
        kind,
        outcome: Outcome::Unreached,
        count: 0,
        reason: None,
        message: None,
        passed_at: None,
    }
}

fn message(location: &str, (partition, offset): Position) -> MessageRef {
    MessageRef {
        location: location.to_owned(),
        partition,
        offset,
    }
}

/// The evidence indexed by id.
struct Index {
    /// (location, id) → copies: topic contents ∪ the writer's acknowledgements.
    copies: BTreeMap<(String, String), BTreeSet<Position>>,
    /// (app, id, location) → reads in ledger order.
    reads: BTreeMap<(String, String, String), Vec<(Action, Position)>>,
}

impl Index {
    fn build(evidence: &Evidence) -> Index {
        let mut copies: BTreeMap<(String, String), BTreeSet<Position>> = BTreeMap::new();
        for (location, ids) in evidence.topics {
            for (id, positions) in ids {
                copies
                    .entry((location.clone(), id.clone()))
                    .or_default()
                    .extend(positions.iter().copied());
            }
        }
        let mut reads: BTreeMap<(String, String, String), Vec<(Action, Position)>> =
            BTreeMap::new();
        for (app, entries) in evidence.ledgers {
            for entry in entries {
                let at = (entry.partition, entry.offset);
                match entry.action {
                    Action::Acked => {
                        copies
                            .entry((entry.location.clone(), entry.id.clone()))
                            .or_default()
                            .insert(at);
                    }
                    action => reads
                        .entry((app.clone(), entry.id.clone(), entry.location.clone()))
                        .or_default()
                        .push((action, at)),
                }
            }
        }
        Index { copies, reads }
    }

    fn ids_at(&self, location: &str) -> Vec<&str> {
        self.copies
            .keys()
            .filter(|(l, _)| l == location)
            .map(|(_, id)| id.as_str())
            .collect()
    }

    fn copies(&self, id: &str, location: &str) -> Vec<Position> {
        self.copies
            .get(&(location.to_owned(), id.to_owned()))
            .map(|c| c.iter().copied().collect())
            .unwrap_or_default()
    }

    fn reads(&self, app: &str, id: &str, location: &str) -> Vec<(Action, Position)> {
        self.reads
            .get(&(app.to_owned(), id.to_owned(), location.to_owned()))
            .cloned()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
