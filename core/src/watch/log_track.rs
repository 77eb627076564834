//! What the evaluator learns about one partition's log, kept once per topic-partition and
//! shared by every group that reads it: the (log end, time) table lag in time is interpolated
//! from, the last log start, and whether the log went back (recreated or truncated).
//!
//! The table is a property of the log, not of a reader: 200 groups on one partition would
//! otherwise keep 200 copies of the same points.

use super::end_table::EndTable;
use crate::model::Millis;

#[derive(Clone, Debug, Default)]
pub(super) struct LogTrack {
    table: EndTable,
    last_log_start: Option<i64>,
    /// Counts the times the log went back; a (group, partition) that knew an older count
    /// starts again (see `PartitionTrack::follow_log`).
    epoch: u32,
    went_back_at: Option<Millis>,
    /// The last round that read this log through some group, to drop logs nobody reads.
    pub(super) seen_at: Millis,
}

impl LogTrack {
    /// Takes one round's fresh log start and end. Every group reading the partition calls
    /// it with the same round's values; after the first, it changes nothing.
    pub fn follow(&mut self, log_start: Option<i64>, log_end: Option<i64>, now: Millis) {
        self.seen_at = now;
        let start_went_back = matches!(
            (log_start, self.last_log_start),
            (Some(start), Some(last)) if start < last
        );
        let end_went_back = log_end.is_some_and(|end| self.table.push(end, now).is_err());
        if start_went_back || end_went_back {
            // A new log: what was learnt about the old one says nothing of it.
            self.table = log_end
                .map(|end| EndTable::starting_at(end, now))
                .unwrap_or_default();
            self.last_log_start = None;
            self.epoch = self.epoch.wrapping_add(1);
            self.went_back_at = Some(now);
        }
        if log_start.is_some() {
            self.last_log_start = log_start;
        }
    }

    pub fn table(&self) -> &EndTable {
        &self.table
    }

    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// Whether the round at `now` found the log gone back.
    pub fn went_back_at(&self, now: Millis) -> bool {
        self.went_back_at == Some(now)
    }
}
