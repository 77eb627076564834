//! The open incidents, one per (cluster, group) at most, derived round by round from the
//! evaluator's reports; serialisable so the shell can keep it in sled across restarts.
//!
//! An incident opens the first round a partition of the group is `stuck` or `expired` (if
//! the group's settings allow incidents), and stays open, without repeats, until the
//! trouble is known to be over: no partition is stuck or expired, and every partition the
//! incident holds has moved on (its committed offset changed, nothing is left unread) or is
//! gone. A round that cannot see a held partition, a rebalance, or a stuck clock that is
//! running again after a gap keeps the incident open. So does a restart of the watch: the
//! book holds the committed offsets it opened on, and a partition still on them is not over.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::record::{Evidence, Incident, IncidentKind, PartitionEvidence, PartitionRef, Phase};
use crate::model::Millis;
use crate::watch::report::{GroupReport, PartitionReport, RoundReport};
use crate::watch::state::ConsumerState;

/// The version of the stored book this build writes and reads.
pub const BOOK_FORMAT: u8 = 1;

/// Largest stored book accepted: a corrupt length never becomes a huge allocation.
pub const MAX_BOOK_BYTES: usize = 64 << 20;

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_BOOK_BYTES>()
}

/// Why a stored book could not be read back.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BookError {
    #[error("stored incident book is empty; expected a format byte and the book")]
    Empty,
    #[error(
        "stored incident book has format {found}, this build reads {BOOK_FORMAT}; run the matching version or drop the stored book"
    )]
    Format { found: u8 },
    #[error("stored incident book does not decode ({0}); the record is corrupt")]
    Decode(String),
}

/// Every open incident.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IncidentBook {
    /// In the order they opened.
    open: Vec<OpenIncident>,
}

/// One open incident of one group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpenIncident {
    pub cluster: String,
    pub group: String,
    pub kind: IncidentKind,
    pub since: Millis,
    /// The round that opened it.
    pub opened_at: Millis,
    /// Every partition that was stuck or expired while it was open.
    pub partitions: Vec<HeldPartition>,
}

/// A partition an incident holds, as it was when last stuck or expired.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldPartition {
    pub topic: String,
    pub partition: i32,
    /// The committed offset it was stuck or expired on; the incident is not over for this
    /// partition while the group is still there.
    pub committed: Option<i64>,
    pub stuck_since: Option<Millis>,
    pub expired_since: Option<Millis>,
    /// The most offsets seen deleted unread.
    pub expired_records: Option<i64>,
}

impl IncidentBook {
    pub fn new() -> Self {
        Self::default()
    }

    /// The open incidents, in the order they opened.
    pub fn open(&self) -> &[OpenIncident] {
        &self.open
    }

    /// Takes every open incident out of the book (for [`IncidentBook::reconcile`]).
    pub(super) fn take_open(&mut self) -> Vec<OpenIncident> {
        std::mem::take(&mut self.open)
    }

    /// Replaces the open incidents (for [`IncidentBook::reconcile`]).
    pub(super) fn set_open(&mut self, open: Vec<OpenIncident>) {
        self.open = open;
    }

    /// Applies one round: returns the records to publish, opens first.
    pub fn observe(&mut self, round: &RoundReport) -> Vec<Incident> {
        let mut records = Vec::new();
        for group in &round.groups {
            records.extend(self.observe_group(round.now, group));
        }
        records
    }

    /// The book as bytes for the shell's store: a format byte, then bincode.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = vec![BOOK_FORMAT];
        // Strings, integers and unit enums: bincode has no way to fail on these.
        let body = bincode::serde::encode_to_vec(self, bincode_config())
            .expect("a book of strings and integers always encodes");
        bytes.extend(body);
        bytes
    }

    /// A book stored by [`IncidentBook::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<IncidentBook, BookError> {
        let (&format, body) = bytes.split_first().ok_or(BookError::Empty)?;
        if format != BOOK_FORMAT {
            return Err(BookError::Format { found: format });
        }
        let (book, used): (IncidentBook, usize) =
            bincode::serde::decode_from_slice(body, bincode_config())
                .map_err(|e| BookError::Decode(e.to_string()))?;
        if used != body.len() {
            return Err(BookError::Decode(format!(
                "{} bytes left over after the book",
                body.len() - used
            )));
        }
        Ok(book)
    }

    fn observe_group(&mut self, now: Millis, group: &GroupReport) -> Option<Incident> {
        let troubled: Vec<&PartitionReport> = group
            .partitions
            .iter()
            .filter(|p| IncidentKind::of(p.state).is_some())
            .collect();
        let summary = &group.summary;
        let position = self
            .open
            .iter()
            .position(|i| i.cluster == summary.cluster && i.group == summary.group);
        let Some(position) = position else {
            if troubled.is_empty() || !group.settings.incidents {
                return None;
            }
            return Some(self.open_incident(now, group, &troubled));
        };
        let incident = &mut self.open[position];
        for p in &troubled {
            incident.hold(p);
        }
        let over =
            troubled.is_empty() && incident.partitions.iter().all(|held| moved_on(held, group));
        over.then(|| {
            let incident = self.open.remove(position);
            close_record(now, incident, group)
        })
    }

    fn open_incident(
        &mut self,
        now: Millis,
        group: &GroupReport,
        troubled: &[&PartitionReport],
    ) -> Incident {
        let kind = troubled
            .iter()
            .filter_map(|p| IncidentKind::of(p.state))
            .max_by_key(|kind| matches!(kind, IncidentKind::Expired))
            .expect("an incident opens on a troubled partition");
        let since = troubled
            .iter()
            .filter_map(|p| {
                [p.stuck_since.get(), p.expired_since.get()]
                    .into_iter()
                    .flatten()
                    .min()
            })
            .min()
            .unwrap_or(now);
        let mut incident = OpenIncident {
            cluster: group.summary.cluster.clone(),
            group: group.summary.group.clone(),
            kind,
            since,
            opened_at: now,
            partitions: Vec::new(),
        };
        for p in troubled {
            incident.hold(p);
        }
        let record = Incident {
            phase: Phase::Open,
            kind,
            cluster: incident.cluster.clone(),
            group: incident.group.clone(),
            since,
            at: now,
            evidence: Evidence {
                group_state: group.summary.group_state,
                members: group.summary.members,
                partitions: troubled
                    .iter()
                    .map(|p| PartitionEvidence::from_report(p))
                    .collect(),
                gone: Vec::new(),
            },
        };
        self.open.push(incident);
        record
    }
}

impl OpenIncident {
    /// Holds a stuck or expired partition, or refreshes what is held about it.
    fn hold(&mut self, p: &PartitionReport) {
        let fresh = HeldPartition {
            topic: p.topic.to_string(),
            partition: p.partition,
            committed: p.committed.get(),
            stuck_since: p.stuck_since.get(),
            expired_since: p.expired_since.get(),
            expired_records: p.expired_records.get(),
        };
        match self.held_mut(&p.topic, p.partition) {
            Some(held) => {
                let most_expired = held.expired_records.max(fresh.expired_records);
                *held = HeldPartition {
                    expired_records: most_expired,
                    ..fresh
                };
            }
            None => self.partitions.push(fresh),
        }
    }

    fn held_mut(&mut self, topic: &str, partition: i32) -> Option<&mut HeldPartition> {
        self.partitions
            .iter_mut()
            .find(|h| h.topic == topic && h.partition == partition)
    }
}

/// Whether a held partition is known to be past its trouble this round.
fn moved_on(held: &HeldPartition, group: &GroupReport) -> bool {
    let Some(now) = find(group, &held.topic, held.partition) else {
        return true; // gone
    };
    let commit_moved = match now.state {
        // The commit was deleted: the group will start elsewhere.
        ConsumerState::NoCommit => true,
        _ => now.committed.get().is_some() && now.committed.get() != held.committed,
    };
    commit_moved || now.lag_records == Some(0)
}

fn find<'a>(group: &'a GroupReport, topic: &str, partition: i32) -> Option<&'a PartitionReport> {
    group
        .partitions
        .iter()
        .find(|p| &*p.topic == topic && p.partition == partition)
}

fn close_record(now: Millis, incident: OpenIncident, group: &GroupReport) -> Incident {
    let mut partitions = Vec::new();
    let mut gone = Vec::new();
    for held in &incident.partitions {
        match find(group, &held.topic, held.partition) {
            Some(p) => {
                let mut evidence = PartitionEvidence::from_report(p);
                evidence.expired_records = held.expired_records.max(p.expired_records.get());
                partitions.push(evidence);
            }
            None => gone.push(PartitionRef {
                topic: held.topic.clone(),
                partition: held.partition,
            }),
        }
    }
    Incident {
        phase: Phase::Close,
        kind: incident.kind,
        cluster: incident.cluster,
        group: incident.group,
        since: incident.since,
        at: now,
        evidence: Evidence {
            group_state: group.summary.group_state,
            members: group.summary.members,
            partitions,
            gone,
        },
    }
}
