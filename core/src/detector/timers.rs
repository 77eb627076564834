//! One timer per message, fired in deadline order, driven only by the `now` argument.
//!
//! Timers are intrusive lists keyed by deadline: a `BTreeMap` from deadline to the first
//! row due then, and a `next` link per row. Scheduling is O(log d) in the number of
//! distinct deadlines d (not messages) and costs 4 bytes per row. A row is in at most
//! one list and leaves it only when it fires, so there is nothing to cancel: the detector
//! re-arms a row only while handling its expiry, and drops a row only then.

use std::collections::BTreeMap;

use crate::model::Millis;

const NIL: u32 = u32::MAX;

/// Rows due at one deadline, taken out of the timer set.
#[derive(Debug)]
pub(crate) struct Due {
    next: u32,
}

#[derive(Debug, Default)]
pub(crate) struct Timers {
    heads: BTreeMap<Millis, u32>,
    next: Vec<u32>,
}

impl Timers {
    /// Arms `row` at `at`. The row must not be in a list already.
    pub fn schedule(&mut self, row: u32, at: Millis) {
        let ix = row as usize;
        if self.next.len() <= ix {
            self.next.resize(ix + 1, NIL);
        }
        let head = self.heads.entry(at).or_insert(NIL);
        self.next[ix] = *head;
        *head = row;
    }

    /// The earliest deadline armed.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.heads.keys().next().copied()
    }

    /// Takes out the rows of the earliest deadline, if it is at or before `now`.
    pub fn pop_due(&mut self, now: Millis) -> Option<Due> {
        let entry = self.heads.first_entry()?;
        if *entry.key() > now {
            return None;
        }
        Some(Due {
            next: entry.remove(),
        })
    }

    /// The next row of `due`, unlinked (free to be scheduled again).
    pub fn take(&mut self, due: &mut Due) -> Option<u32> {
        if due.next == NIL {
            return None;
        }
        let row = due.next;
        let link = self.next.get_mut(row as usize)?;
        due.next = std::mem::replace(link, NIL);
        Some(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fire(t: &mut Timers, now: Millis) -> Vec<(Millis, u32)> {
        let mut out = Vec::new();
        while let Some(at) = t.next_deadline() {
            let Some(mut due) = t.pop_due(now) else { break };
            while let Some(row) = t.take(&mut due) {
                out.push((at, row));
            }
        }
        out
    }

    #[test]
    fn fires_in_deadline_order_and_only_when_due() {
        let mut t = Timers::default();
        t.schedule(0, 30);
        t.schedule(1, 10);
        t.schedule(2, 20);
        t.schedule(3, 10);
        assert_eq!(t.next_deadline(), Some(10));
        assert!(fire(&mut t, 9).is_empty());
        let fired = fire(&mut t, 20);
        let deadlines: Vec<Millis> = fired.iter().map(|&(at, _)| at).collect();
        assert_eq!(deadlines, vec![10, 10, 20]);
        let mut rows: Vec<u32> = fired.iter().map(|&(_, r)| r).collect();
        rows.sort_unstable();
        assert_eq!(rows, vec![1, 2, 3]);
        assert_eq!(fire(&mut t, 100), vec![(30, 0)]);
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn a_fired_row_can_be_rearmed_while_its_list_is_walked() {
        let mut t = Timers::default();
        t.schedule(0, 5);
        t.schedule(1, 5);
        let mut due = t.pop_due(5).unwrap();
        let first = t.take(&mut due).unwrap();
        t.schedule(first, 50);
        let second = t.take(&mut due).unwrap();
        assert_ne!(first, second);
        assert_eq!(t.take(&mut due), None);
        assert_eq!(fire(&mut t, 50), vec![(50, first)]);
    }
}
