//! What a `cairn watch` instance does to its incident book when it becomes the active
//! instance: the incidents topic is the record of what was published, the book only what
//! this instance concluded while it stood by. Every instance judges every round, but only
//! the active one publishes, so the two may disagree:
//!
//! | the topic says open | the book has it open | after reconciling |
//! | --- | --- | --- |
//! | yes | yes | kept, with the published `kind` and `since` (its close must repeat them) |
//! | yes | no | adopted from the open record's evidence: no second open; the book closes it as usual once its partitions moved on, which publishes the close the last active instance did not get to |
//! | no (closed, or never published) | yes | dropped: if the group is still stuck or expired, the next round opens it, and that open is then published |
//! | no | no | nothing |
//!
//! So after reconciling, the book's open incidents are exactly the published ones, and the
//! book's usual rules (one open per episode, a close once every held partition moved on)
//! decide what is published next.

use std::collections::BTreeMap;

use super::book::{HeldPartition, IncidentBook, OpenIncident};
use super::record::{Incident, Phase};

/// (cluster, group).
type GroupKey = (String, String);

/// The incidents the topic shows open: its records folded in the order they were read
/// (records of one group share a key, hence a partition, hence an order).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PublishedIncidents {
    open: BTreeMap<GroupKey, Incident>,
    /// Records folded in, for the log line.
    records: u64,
}

impl PublishedIncidents {
    pub fn new() -> Self {
        Self::default()
    }

    /// Folds in the next record of its group: an `open` opens the group's incident (a
    /// repeated `open` while one is open keeps the first: its close repeats the first's
    /// `since`), a `close` closes it.
    pub fn apply(&mut self, record: Incident) {
        self.records += 1;
        let key = (record.cluster.clone(), record.group.clone());
        match record.phase {
            Phase::Open => {
                self.open.entry(key).or_insert(record);
            }
            Phase::Close => {
                self.open.remove(&key);
            }
        }
    }

    /// The open record of every group whose last record opened an incident.
    pub fn open(&self) -> impl Iterator<Item = &Incident> {
        self.open.values()
    }

    /// Records folded in so far.
    pub fn records(&self) -> u64 {
        self.records
    }
}

/// What reconciling changed, for the log line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reconciliation {
    /// Open in both: kept, with the published kind and since.
    pub kept: usize,
    /// Published open, not in the book: adopted.
    pub adopted: usize,
    /// In the book, not published open: dropped (re-opened next round if still troubled).
    pub dropped: usize,
    /// Published open on a cluster this instance does not watch: left alone.
    pub foreign: usize,
}

impl IncidentBook {
    /// Makes the book hold exactly the incidents `published` shows open on the clusters
    /// `watched` names (see the module's table). Returns what it changed; it publishes
    /// nothing itself.
    pub fn reconcile(
        &mut self,
        published: &PublishedIncidents,
        watched: impl Fn(&str) -> bool,
    ) -> Reconciliation {
        let mut outcome = Reconciliation::default();
        let mut by_key: BTreeMap<GroupKey, OpenIncident> = self
            .take_open()
            .into_iter()
            .map(|i| ((i.cluster.clone(), i.group.clone()), i))
            .collect();
        let mut open = Vec::new();
        for record in published.open() {
            if !watched(&record.cluster) {
                outcome.foreign += 1;
                continue;
            }
            let key = (record.cluster.clone(), record.group.clone());
            let mut incident = match by_key.remove(&key) {
                Some(mine) => {
                    outcome.kept += 1;
                    mine
                }
                None => {
                    outcome.adopted += 1;
                    OpenIncident {
                        cluster: record.cluster.clone(),
                        group: record.group.clone(),
                        kind: record.kind,
                        since: record.since,
                        opened_at: record.at,
                        partitions: Vec::new(),
                    }
                }
            };
            // The published episode is the one its close must name.
            incident.kind = record.kind;
            incident.since = record.since;
            incident.opened_at = record.at;
            for p in &record.evidence.partitions {
                let held = incident
                    .partitions
                    .iter()
                    .any(|h| h.topic == p.topic && h.partition == p.partition);
                if !held {
                    incident.partitions.push(HeldPartition {
                        topic: p.topic.clone(),
                        partition: p.partition,
                        committed: p.committed,
                        stuck_since: p.stuck_since,
                        expired_since: None,
                        expired_records: p.expired_records,
                    });
                }
            }
            open.push(incident);
        }
        outcome.dropped = by_key.len();
        // Oldest first, as the book keeps them.
        open.sort_by_key(|i| i.opened_at);
        self.set_open(open);
        outcome
    }
}
