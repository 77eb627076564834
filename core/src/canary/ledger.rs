//! One partition's sequence accounting for one run: every sequence the canary sent, whether
//! the cluster acknowledged it (and at which offset), and every copy the consumer read.
//!
//! A sequence is **lost** when it was acknowledged at offset `o`, the consumer's position has
//! passed `o`, and no copy of it was read: the log no longer holds it where the broker said it
//! wrote it. Merely unread sequences (a slow consumer) are lag, never loss. A copy read twice
//! under the same attempt is a **duplicate**; a copy of another attempt of a sequence already
//! read is a **resent copy** (the canary re-sent it after a failed send), not a duplicate. A
//! first send read after a higher first send is a **reorder**.
//!
//! Sequences below `floor` are settled (read and acknowledged, lost, or abandoned) and
//! forgotten, so memory follows what is in flight, not the length of the run.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::model::Millis;

/// Sends of one sequence, the first included, before the canary gives it up.
pub const MAX_ATTEMPTS: u32 = 4;
/// Lost and abandoned sequences remembered to recognise a late copy; beyond, a late copy
/// counts as a duplicate.
const REMEMBERED: usize = 100_000;

/// What happened to a partition's sequences, cumulative over the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Sequences sent (first sends).
    pub produced: u64,
    /// Sequences the cluster acknowledged (under any attempt).
    pub acknowledged: u64,
    /// Sends (of any attempt) that failed: not acknowledged within the send timeout.
    pub send_failures: u64,
    /// Re-sends of a sequence whose earlier send failed.
    pub resent: u64,
    /// Sequences given up after every attempt failed: never acknowledged, so never expected.
    pub abandoned: u64,
    /// Distinct sequences read.
    pub consumed: u64,
    /// Acknowledged sequences the consumer passed without reading.
    pub lost: u64,
    /// Copies read again under the same attempt.
    pub duplicated: u64,
    /// First sends read after a higher first send.
    pub reordered: u64,
    /// Copies of another attempt of a sequence already read.
    pub resent_copies: u64,
    /// Sequences read after they had been declared lost.
    pub late: u64,
    /// Records of this run and instance with a sequence it never sent.
    pub unexpected: u64,
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.produced += o.produced;
        self.acknowledged += o.acknowledged;
        self.send_failures += o.send_failures;
        self.resent += o.resent;
        self.abandoned += o.abandoned;
        self.consumed += o.consumed;
        self.lost += o.lost;
        self.duplicated += o.duplicated;
        self.reordered += o.reordered;
        self.resent_copies += o.resent_copies;
        self.late += o.late;
        self.unexpected += o.unexpected;
    }
}

/// The state of one sequence still in flight.
#[derive(Clone, Debug)]
struct Seq {
    /// The partition's leader when the sequence was first sent (-1: unknown).
    leader: i32,
    /// Sends not yet acknowledged or failed.
    in_flight: u8,
    /// The attempt number of the next send.
    next_attempt: u32,
    /// A failed send that the shell will re-send.
    awaiting_resend: bool,
    acked: Option<i64>,
    acked_at: Millis,
    /// Bit `min(attempt, 31)` for each attempt read.
    read: u32,
    lost: bool,
}

impl Seq {
    /// `reads`: the ledger expects every acknowledged sequence to be read back.
    fn settled(&self, reads: bool) -> bool {
        self.in_flight == 0
            && !self.awaiting_resend
            && (!reads || self.lost || self.acked.is_none() || self.read != 0)
    }
}

/// How one record read from the partition was classified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reading {
    /// The first copy of the sequence. `measure`: a first send, whose latency counts.
    First {
        measure: bool,
        reordered: bool,
    },
    Duplicate,
    ResentCopy,
    /// Read after it was declared lost.
    Late,
    Unexpected,
}

/// A sequence the last judgement declared lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Loss {
    pub sequence: u64,
    /// Where the cluster said it wrote it.
    pub offset: i64,
    /// The partition's leader when it was sent (-1: unknown).
    pub leader: i32,
}

/// What one judgement found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Judgement {
    pub lost: Vec<Loss>,
    /// Acknowledged sequences still unread after the consume timeout.
    pub overdue: u64,
    /// Acknowledged sequences not read yet.
    pub unread: u64,
}

/// One partition's accounting for one run.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    floor: u64,
    next: u64,
    open: BTreeMap<u64, Seq>,
    /// Lost or abandoned sequences below `floor`, to tell a late copy from a duplicate.
    given_up: BTreeSet<u64>,
    /// Which attempts were read of settled sequences that were re-sent (rare), to tell a
    /// duplicate of a re-send from a copy of another attempt.
    resent_reads: BTreeMap<u64, u32>,
    max_first_read: Option<u64>,
    /// The consumer's next offset, once it has read or reached the end.
    position: Option<i64>,
    counts: Counts,
    /// Produce mode: nothing is read back, so an acknowledged sequence is settled.
    produce_only: bool,
}

impl Ledger {
    pub fn new() -> Ledger {
        Ledger::default()
    }

    /// A ledger for a produce-mode instance: another instance reads the heartbeats, so this
    /// one settles a sequence once it is acknowledged (or given up) and never judges loss.
    pub fn produce_only() -> Ledger {
        Ledger {
            produce_only: true,
            ..Ledger::default()
        }
    }

    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    pub fn position(&self) -> Option<i64> {
        self.position
    }

    /// Sequences not settled yet (memory held).
    pub fn open(&self) -> usize {
        self.open.len()
    }

    /// A new first send through `leader`: its sequence.
    pub fn send(&mut self, leader: i32) -> u64 {
        let seq = self.next;
        self.next += 1;
        self.counts.produced += 1;
        self.open.insert(
            seq,
            Seq {
                leader,
                in_flight: 1,
                next_attempt: 1,
                awaiting_resend: false,
                acked: None,
                acked_at: 0,
                read: 0,
                lost: false,
            },
        );
        seq
    }

    /// Takes back the last sequence drawn, when the client refused it before sending.
    pub fn cancel(&mut self, seq: u64) -> bool {
        let untouched = self
            .open
            .get(&seq)
            .is_some_and(|s| s.in_flight == 1 && s.acked.is_none() && s.read == 0);
        if seq + 1 != self.next || !untouched {
            return false;
        }
        self.open.remove(&seq);
        self.next -= 1;
        self.counts.produced -= 1;
        true
    }

    /// The attempt number of a re-send of `seq`, if it awaits one.
    pub fn resend(&mut self, seq: u64) -> Option<u32> {
        let entry = self.open.get_mut(&seq)?;
        if !entry.awaiting_resend {
            return None;
        }
        entry.awaiting_resend = false;
        entry.in_flight += 1;
        let attempt = entry.next_attempt;
        entry.next_attempt += 1;
        self.counts.resent += 1;
        Some(attempt)
    }

    /// The leader `seq` was first sent through, if it is in flight.
    pub fn leader_of(&self, seq: u64) -> Option<i32> {
        self.open.get(&seq).map(|s| s.leader)
    }

    /// The cluster acknowledged a send of `seq` at `offset`. True for the sequence's first
    /// acknowledgement.
    pub fn acknowledged(&mut self, seq: u64, offset: i64, now: Millis) -> bool {
        let Some(entry) = self.open.get_mut(&seq) else {
            return false;
        };
        entry.in_flight = entry.in_flight.saturating_sub(1);
        let first = entry.acked.is_none();
        if first {
            entry.acked = Some(offset);
            entry.acked_at = now;
            self.counts.acknowledged += 1;
        }
        self.settle();
        first
    }

    /// A send of `seq` failed. True when the shell should re-send it.
    pub fn failed(&mut self, seq: u64) -> bool {
        let Some(entry) = self.open.get_mut(&seq) else {
            return false;
        };
        self.counts.send_failures += 1;
        entry.in_flight = entry.in_flight.saturating_sub(1);
        let resend =
            entry.acked.is_none() && entry.in_flight == 0 && entry.next_attempt < MAX_ATTEMPTS;
        entry.awaiting_resend = resend;
        if !resend && entry.acked.is_none() && entry.in_flight == 0 {
            self.counts.abandoned += 1;
        }
        self.settle();
        resend
    }

    /// The consumer read `(seq, attempt)` at `offset`.
    pub fn read(&mut self, seq: u64, attempt: u32, offset: i64) -> Reading {
        self.position = Some(offset + 1);
        let reading = self.classify(seq, attempt);
        match reading {
            Reading::First { reordered, .. } => {
                self.counts.consumed += 1;
                if reordered {
                    self.counts.reordered += 1;
                }
            }
            Reading::Duplicate => self.counts.duplicated += 1,
            Reading::ResentCopy => self.counts.resent_copies += 1,
            Reading::Late => self.counts.late += 1,
            Reading::Unexpected => self.counts.unexpected += 1,
        }
        self.settle();
        reading
    }

    fn classify(&mut self, seq: u64, attempt: u32) -> Reading {
        if seq >= self.next {
            return Reading::Unexpected;
        }
        let bit = 1u32 << attempt.min(31);
        let Some(entry) = self.open.get_mut(&seq) else {
            // Settled: read before, or given up.
            if self.given_up.remove(&seq) {
                return Reading::Late;
            }
            if let Some(read) = self.resent_reads.get_mut(&seq) {
                let earlier = *read;
                *read |= bit;
                return if earlier & bit != 0 {
                    Reading::Duplicate
                } else {
                    Reading::ResentCopy
                };
            }
            return if attempt == 0 {
                Reading::Duplicate
            } else {
                Reading::ResentCopy
            };
        };
        if entry.read & bit != 0 {
            return Reading::Duplicate;
        }
        let earlier = entry.read;
        entry.read |= bit;
        if earlier != 0 {
            return Reading::ResentCopy;
        }
        if entry.lost {
            return Reading::Late;
        }
        let mut reordered = false;
        if attempt == 0 {
            match self.max_first_read {
                Some(max) if max > seq => reordered = true,
                _ => self.max_first_read = Some(seq),
            }
        }
        Reading::First {
            measure: attempt == 0,
            reordered,
        }
    }

    /// The consumer reached `position` (the partition's end) without reading a record.
    pub fn passed(&mut self, position: i64) {
        self.position = Some(position);
    }

    /// Declares lost every acknowledged, unread sequence the consumer has passed; counts the
    /// ones still unread after `consume_timeout`.
    pub fn judge(&mut self, now: Millis, consume_timeout: Millis) -> Judgement {
        let mut judgement = Judgement::default();
        if self.produce_only {
            return judgement;
        }
        let position = self.position;
        for (&seq, entry) in self.open.iter_mut() {
            let Some(offset) = entry.acked else { continue };
            if entry.read != 0 || entry.lost {
                continue;
            }
            if position.is_some_and(|p| p > offset) {
                entry.lost = true;
                judgement.lost.push(Loss {
                    sequence: seq,
                    offset,
                    leader: entry.leader,
                });
                continue;
            }
            judgement.unread += 1;
            if now - entry.acked_at >= consume_timeout {
                judgement.overdue += 1;
            }
        }
        self.counts.lost += judgement.lost.len() as u64;
        self.settle();
        judgement
    }

    /// Forgets settled sequences at the bottom.
    fn settle(&mut self) {
        let reads = !self.produce_only;
        while let Some(entry) = self.open.first_entry() {
            if !entry.get().settled(reads) {
                break;
            }
            let (seq, state) = entry.remove_entry();
            let never_read = state.lost || (state.read == 0 && state.acked.is_none());
            if never_read && self.given_up.len() < REMEMBERED {
                self.given_up.insert(seq);
            } else if state.next_attempt > 1 && self.resent_reads.len() < REMEMBERED {
                self.resent_reads.insert(seq, state.read);
            }
            self.floor = seq + 1;
        }
    }
}
