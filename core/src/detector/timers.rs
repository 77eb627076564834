//! One timer per message, fired in deadline order, driven only by the `now` argument.
//!
//! Timers are intrusive lists keyed by deadline: a `BTreeMap` from deadline to the first
//! row due then, and a `next` and `prev` link per row. Scheduling is O(log d) in the
//! number of distinct deadlines d (not messages) and costs 8 bytes per row. A row is in at
//! most one list. It leaves it when it fires, or when it is cancelled: a message moved out
//! of memory (spilled, or shed) leaves its list, so its row can be reused at once.

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
    /// The row before in its list; `NIL` for a list's head (and for a row in no list).
    prev: Vec<u32>,
}

impl Timers {
    /// Arms `row` at `at`. The row must not be in a list already.
    pub fn schedule(&mut self, row: u32, at: Millis) {
        let ix = row as usize;
        if self.next.len() <= ix {
            // Grow by an eighth, not double: the links follow the row slab's growth.
            let len = (ix + 1).max(self.next.len() + self.next.len() / 8);
            self.next.resize(len, NIL);
            self.prev.resize(len, NIL);
        }
        let head = self.heads.entry(at).or_insert(NIL);
        let old = std::mem::replace(head, row);
        self.next[ix] = old;
        self.prev[ix] = NIL;
        if let Some(p) = self.prev.get_mut(old as usize) {
            *p = row;
        }
    }

    /// Takes `row` out of the list of deadline `at` (where it must be armed).
    pub fn cancel(&mut self, row: u32, at: Millis) {
        let ix = row as usize;
        let (Some(&next), Some(&prev)) = (self.next.get(ix), self.prev.get(ix)) else {
            return;
        };
        if prev == NIL {
            match self.heads.get_mut(&at) {
                Some(head) if *head == row => {
                    if next == NIL {
                        self.heads.remove(&at);
                    } else {
                        *head = next;
                    }
                }
                // Not armed at `at`: nothing to take out.
                _ => return,
            }
        } else if let Some(n) = self.next.get_mut(prev as usize) {
            *n = next;
        }
        if let Some(p) = self.prev.get_mut(next as usize) {
            *p = prev;
        }
        self.next[ix] = NIL;
        self.prev[ix] = NIL;
    }

    /// Armed rows, latest deadline first, with their deadlines.
    pub fn latest_first(&self) -> impl Iterator<Item = (Millis, u32)> + '_ {
        self.heads.iter().rev().flat_map(move |(&at, &head)| {
            std::iter::successors((head != NIL).then_some(head), move |&row| {
                self.next.get(row as usize).copied().filter(|&n| n != NIL)
            })
            .map(move |row| (at, row))
        })
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
        if let Some(p) = self.prev.get_mut(due.next as usize) {
            *p = NIL;
        }
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
    fn a_cancelled_row_never_fires_and_its_neighbours_still_do() {
        let mut t = Timers::default();
        for row in 0..5 {
            t.schedule(row, 10);
        }
        t.schedule(5, 20);
        t.cancel(2, 10); // middle
        t.cancel(4, 10); // head (last scheduled)
        t.cancel(0, 10); // tail
        t.cancel(5, 20); // alone: its deadline goes too
        t.cancel(3, 99); // not armed there: no effect
        assert_eq!(t.next_deadline(), Some(10));
        let latest: Vec<u32> = t.latest_first().map(|(_, r)| r).collect();
        assert_eq!(latest, vec![3, 1]);
        let mut rows: Vec<u32> = fire(&mut t, 100).into_iter().map(|(_, r)| r).collect();
        rows.sort_unstable();
        assert_eq!(rows, vec![1, 3]);
        assert_eq!(t.next_deadline(), None);
        // A cancelled row is free to be armed again.
        t.schedule(2, 30);
        assert_eq!(fire(&mut t, 100), vec![(30, 2)]);
    }

    #[test]
    fn latest_first_walks_deadlines_from_the_back() {
        let mut t = Timers::default();
        t.schedule(0, 10);
        t.schedule(1, 30);
        t.schedule(2, 20);
        t.schedule(3, 30);
        let order: Vec<(Millis, u32)> = t.latest_first().collect();
        assert_eq!(order, vec![(30, 3), (30, 1), (20, 2), (10, 0)]);
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
