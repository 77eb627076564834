//! A consume-mode instance's accounting of another instance's heartbeats, one partition of one
//! writer (its `instance` and `run`). The reader never sees the writer's acknowledgements, so
//! it judges from the sequence numbers alone: a writer numbers each partition's first sends
//! 0, 1, 2, ... and re-sends a failed one under the same number (`attempt` + 1), so every
//! number below the highest one read must arrive.
//!
//! A number skipped when a higher one is read opens a **gap**. A gap filled later by a first
//! send is a reorder; by a re-send, the re-send the writer owed. A gap still open once the
//! writer can no longer fill it (`horizon`: every re-send of its sequence would have come by
//! then) is **lost**. The first number read starts the account: what came before this reader
//! started is not judged.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::ledger::MAX_ATTEMPTS;
use crate::model::Millis;

/// A jump in sequence numbers larger than this is not believed: such a record is counted as
/// unexpected, so a stray number cannot open millions of gaps.
pub const MAX_JUMP: u64 = 100_000;
/// Read sequences remembered below the highest one, to tell a duplicate from a resent copy.
const WINDOW: u64 = 10_000;
/// Lost sequences remembered to recognise a late copy.
const REMEMBERED: usize = 100_000;

/// What a consume-mode reader counted for one writer (or one partition of it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowCounts {
    /// Distinct sequences read.
    pub consumed: u64,
    /// Sequences skipped and never filled within the horizon.
    pub lost: u64,
    /// Copies read again under the same attempt.
    pub duplicated: u64,
    /// First sends that filled a gap (read after a higher first send).
    pub reordered: u64,
    /// Copies of another attempt of a sequence already read.
    pub resent_copies: u64,
    /// Sequences read after they were declared lost.
    pub late: u64,
    /// Sequences that jumped more than [`MAX_JUMP`] ahead.
    pub unexpected: u64,
    /// Sequences below the first one this reader saw (sent before it started).
    pub before_start: u64,
}

impl FollowCounts {
    pub fn add(&mut self, o: &FollowCounts) {
        self.consumed += o.consumed;
        self.lost += o.lost;
        self.duplicated += o.duplicated;
        self.reordered += o.reordered;
        self.resent_copies += o.resent_copies;
        self.late += o.late;
        self.unexpected += o.unexpected;
        self.before_start += o.before_start;
    }
}

/// How one record was classified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FollowReading {
    /// The first copy of the sequence; `measure`: a first send, whose latency counts.
    First {
        measure: bool,
        reordered: bool,
    },
    Duplicate,
    ResentCopy,
    Late,
    Unexpected,
    BeforeStart,
}

/// A gap declared lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Missing {
    pub sequence: u64,
    /// The partition's leader when the gap was seen.
    pub leader: i32,
}

/// What one judgement found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FollowJudgement {
    pub lost: Vec<Missing>,
    /// Gaps still open (not read yet; lag, not loss).
    pub open: u64,
    /// Of those, the ones open for longer than the consume timeout.
    pub overdue: u64,
}

/// One writer's partition as a reader follows it.
#[derive(Clone, Debug, Default)]
pub struct Track {
    first: Option<u64>,
    /// One above the highest sequence read.
    next: u64,
    /// Skipped sequences: when the gap was seen, and the leader then.
    gaps: BTreeMap<u64, (Millis, i32)>,
    /// Attempt bits of sequences read within [`WINDOW`] below `next`.
    reads: BTreeMap<u64, u32>,
    given_up: BTreeSet<u64>,
    counts: FollowCounts,
}

impl Track {
    pub fn new() -> Track {
        Track::default()
    }

    pub fn counts(&self) -> &FollowCounts {
        &self.counts
    }

    /// The first sequence read, once one was.
    pub fn first(&self) -> Option<u64> {
        self.first
    }

    /// One above the highest sequence read (0 before any).
    pub fn next(&self) -> u64 {
        self.next
    }

    /// Gaps open now.
    pub fn open_gaps(&self) -> usize {
        self.gaps.len()
    }

    /// Reads `(seq, attempt)` at `now`, while `leader` leads the partition.
    pub fn read(&mut self, seq: u64, attempt: u32, leader: i32, now: Millis) -> FollowReading {
        let reading = self.classify(seq, attempt, leader, now);
        let c = &mut self.counts;
        match reading {
            FollowReading::First { reordered, .. } => {
                c.consumed += 1;
                c.reordered += u64::from(reordered);
            }
            FollowReading::Duplicate => c.duplicated += 1,
            FollowReading::ResentCopy => c.resent_copies += 1,
            FollowReading::Late => c.late += 1,
            FollowReading::Unexpected => c.unexpected += 1,
            FollowReading::BeforeStart => c.before_start += 1,
        }
        reading
    }

    fn classify(&mut self, seq: u64, attempt: u32, leader: i32, now: Millis) -> FollowReading {
        let bit = 1u32 << attempt.min(31);
        let Some(first) = self.first else {
            self.first = Some(seq);
            self.next = seq + 1;
            self.reads.insert(seq, bit);
            return FollowReading::First {
                measure: attempt == 0,
                reordered: false,
            };
        };
        if seq >= self.next {
            if seq - self.next > MAX_JUMP {
                return FollowReading::Unexpected;
            }
            for skipped in self.next..seq {
                self.gaps.insert(skipped, (now, leader));
            }
            self.next = seq + 1;
            self.reads.insert(seq, bit);
            let keep_from = self.next.saturating_sub(WINDOW);
            self.reads = self.reads.split_off(&keep_from);
            return FollowReading::First {
                measure: attempt == 0,
                reordered: false,
            };
        }
        if seq < first {
            return FollowReading::BeforeStart;
        }
        if self.gaps.remove(&seq).is_some() {
            self.reads.insert(seq, bit);
            return FollowReading::First {
                measure: attempt == 0,
                reordered: attempt == 0,
            };
        }
        if self.given_up.remove(&seq) {
            self.reads.insert(seq, bit);
            return FollowReading::Late;
        }
        match self.reads.get_mut(&seq) {
            Some(read) if *read & bit != 0 => FollowReading::Duplicate,
            Some(read) => {
                *read |= bit;
                FollowReading::ResentCopy
            }
            // Read long ago: beyond the window, a first send again is a duplicate.
            None if attempt == 0 => FollowReading::Duplicate,
            None => FollowReading::ResentCopy,
        }
    }

    /// Declares lost every gap open since `horizon` or longer; counts the open ones.
    pub fn judge(
        &mut self,
        now: Millis,
        horizon: Millis,
        consume_timeout: Millis,
    ) -> FollowJudgement {
        let mut judgement = FollowJudgement::default();
        let expired: Vec<u64> = self
            .gaps
            .iter()
            .filter(|(_, (seen, _))| now - seen >= horizon)
            .map(|(seq, _)| *seq)
            .collect();
        for seq in expired {
            if let Some((_, leader)) = self.gaps.remove(&seq) {
                judgement.lost.push(Missing {
                    sequence: seq,
                    leader,
                });
                if self.given_up.len() < REMEMBERED {
                    self.given_up.insert(seq);
                }
            }
        }
        self.counts.lost += judgement.lost.len() as u64;
        judgement.open = self.gaps.len() as u64;
        judgement.overdue = self
            .gaps
            .values()
            .filter(|(seen, _)| now - seen >= consume_timeout)
            .count() as u64;
        judgement
    }
}

/// How long a gap may stay open before it is lost: the writer re-sends a failed sequence up
/// to [`MAX_ATTEMPTS`] times, each after `send_timeout`, and its last copy may take up to
/// `consume_timeout` to be read.
pub fn horizon(send_timeout: Millis, consume_timeout: Millis) -> Millis {
    send_timeout.saturating_mul(i64::from(MAX_ATTEMPTS)) + consume_timeout
}
