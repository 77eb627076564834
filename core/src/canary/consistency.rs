//! Metadata consistency: each broker's own view of the cluster (its broker list, and per
//! partition the leader, leader epoch and ISR) compared with the others' and with the KRaft
//! quorum. A broker that disagrees, or whose metadata log is behind the quorum's high
//! watermark of the previous round, for longer than `grace`, gets a `metadata_mismatch`
//! incident; it closes when the broker agrees again.
//!
//! A broker that answers but is missing from the reference broker list disagrees too: the
//! controllers fenced it (its heartbeats stopped reaching them) while it still serves clients.
//!
//! The reference for a partition is the view with the highest leader epoch (the newest the
//! quorum has published), ties decided by the most common view; the reference broker list is
//! the most common one. A broker that did not answer is not judged (that is availability).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::model::Millis;
use crate::watch::incident::Phase;

/// Partitions listed in one incident's evidence.
pub const EVIDENCE_PARTITIONS: usize = 20;

/// One partition as one broker sees it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PartitionView {
    pub leader: i32,
    pub leader_epoch: i32,
    /// Sorted.
    pub isr: Vec<i32>,
}

/// What one broker answered to a Metadata request sent to it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BrokerMetadata {
    pub brokers: BTreeSet<i32>,
    pub partitions: BTreeMap<(String, i32), PartitionView>,
}

/// One replica of the metadata log, as DescribeQuorum reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplicaProgress {
    pub log_end_offset: i64,
}

/// DescribeQuorum's answer for the metadata log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuorumState {
    pub leader: i32,
    pub leader_epoch: i32,
    pub high_watermark: i64,
    /// Voters and observers by replica (node) id.
    pub replicas: BTreeMap<i32, ReplicaProgress>,
}

/// One round of the check: each broker's answer (`None`: it did not answer) and the quorum's.
#[derive(Clone, Debug, Default)]
pub struct MetadataRound {
    pub at: Millis,
    pub brokers: BTreeMap<i32, Option<BrokerMetadata>>,
    pub quorum: Option<QuorumState>,
}

/// One partition a broker sees differently from the reference.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionDifference {
    pub topic: String,
    pub partition: i32,
    /// `None`: the broker does not know the partition.
    pub broker_view: Option<PartitionView>,
    pub reference: PartitionView,
}

/// How one broker disagrees.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disagreement {
    /// Partitions it sees differently (at most [`EVIDENCE_PARTITIONS`]).
    pub partitions: Vec<PartitionDifference>,
    /// How many partitions differ in all.
    pub partitions_differing: usize,
    /// Its broker list, when it differs from the reference list.
    pub broker_list: Option<Vec<i32>>,
    pub reference_broker_list: Vec<i32>,
    /// It answers clients, but the reference broker list leaves it out: the controllers have
    /// fenced it (it stopped reaching them) or never registered it.
    #[serde(default)]
    pub unlisted: bool,
    /// Its metadata log end offset, when behind the quorum's previous high watermark.
    pub log_end_offset: Option<i64>,
    pub high_watermark: Option<i64>,
}

impl Disagreement {
    fn is_empty(&self) -> bool {
        self.partitions_differing == 0
            && self.broker_list.is_none()
            && !self.unlisted
            && self.log_end_offset.is_none()
    }
}

/// Compares every answering broker with the reference; the brokers that disagree, and how.
pub fn compare(round: &MetadataRound, previous_hw: Option<i64>) -> BTreeMap<i32, Disagreement> {
    let answers: BTreeMap<i32, &BrokerMetadata> = round
        .brokers
        .iter()
        .filter_map(|(id, m)| m.as_ref().map(|m| (*id, m)))
        .collect();
    let reference_brokers = most_common(answers.values().map(|m| &m.brokers)).cloned();
    let mut keys: BTreeSet<&(String, i32)> = BTreeSet::new();
    for m in answers.values() {
        keys.extend(m.partitions.keys());
    }
    let mut reference: BTreeMap<&(String, i32), &PartitionView> = BTreeMap::new();
    for key in keys {
        let views = answers.values().filter_map(|m| m.partitions.get(key));
        let newest = views.clone().map(|v| v.leader_epoch).max();
        let chosen = most_common(views.filter(|v| Some(v.leader_epoch) == newest));
        if let Some(view) = chosen {
            reference.insert(key, view);
        }
    }
    let mut out = BTreeMap::new();
    for (&id, m) in &answers {
        let mut d = Disagreement {
            reference_broker_list: reference_brokers
                .as_ref()
                .map(|b| b.iter().copied().collect())
                .unwrap_or_default(),
            ..Disagreement::default()
        };
        for (key, view) in &reference {
            let mine = m.partitions.get(*key);
            if mine != Some(*view) {
                d.partitions_differing += 1;
                if d.partitions.len() < EVIDENCE_PARTITIONS {
                    d.partitions.push(PartitionDifference {
                        topic: key.0.clone(),
                        partition: key.1,
                        broker_view: mine.cloned(),
                        reference: (*view).clone(),
                    });
                }
            }
        }
        if reference_brokers.as_ref().is_some_and(|r| *r != m.brokers) {
            d.broker_list = Some(m.brokers.iter().copied().collect());
        }
        d.unlisted = reference_brokers.as_ref().is_some_and(|r| !r.contains(&id));
        let progress = round.quorum.as_ref().and_then(|q| q.replicas.get(&id));
        if let (Some(progress), Some(hw)) = (progress, previous_hw)
            && progress.log_end_offset < hw
        {
            d.log_end_offset = Some(progress.log_end_offset);
            d.high_watermark = Some(hw);
        }
        if !d.is_empty() {
            out.insert(id, d);
        }
    }
    out
}

/// The value seen most often (the first such in iteration order on a tie).
fn most_common<'a, T: Ord + 'a>(values: impl Iterator<Item = &'a T>) -> Option<&'a T> {
    let mut counts: BTreeMap<&T, usize> = BTreeMap::new();
    let mut order = Vec::new();
    for v in values {
        let n = counts.entry(v).or_default();
        if *n == 0 {
            order.push(v);
        }
        *n += 1;
    }
    let best = counts.values().copied().max()?;
    order.into_iter().find(|v| counts[v] == best)
}

/// One end of a `metadata_mismatch` incident: the same record shape as `cairn watch`'s
/// (`schemas/incident.schema.json`), about a broker instead of a group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MismatchIncident {
    pub v: i64,
    pub incident: Phase,
    /// Always `metadata_mismatch`.
    pub kind: String,
    pub cluster: String,
    pub broker: i32,
    pub since: Millis,
    pub at: Millis,
    pub evidence: Disagreement,
}

struct Held {
    since: Millis,
    open: bool,
    last: Disagreement,
}

/// The grace rule over rounds: which brokers hold a mismatch, and the incidents it opens and
/// closes.
pub struct MetadataJudge {
    cluster: String,
    grace: Millis,
    held: BTreeMap<i32, Held>,
    previous_hw: Option<i64>,
}

impl MetadataJudge {
    pub fn new(cluster: &str, grace: Millis) -> MetadataJudge {
        MetadataJudge {
            cluster: cluster.to_owned(),
            grace,
            held: BTreeMap::new(),
            previous_hw: None,
        }
    }

    /// Judges one round; returns the incident records it opens or closes.
    pub fn round(&mut self, round: &MetadataRound) -> Vec<MismatchIncident> {
        let disagreements = compare(round, self.previous_hw);
        if let Some(q) = &round.quorum {
            self.previous_hw = Some(q.high_watermark);
        }
        let mut out = Vec::new();
        for (&id, answer) in &round.brokers {
            if answer.is_none() {
                continue;
            }
            match disagreements.get(&id) {
                Some(d) => {
                    let held = self.held.entry(id).or_insert(Held {
                        since: round.at,
                        open: false,
                        last: d.clone(),
                    });
                    held.last = d.clone();
                    if !held.open && round.at - held.since >= self.grace {
                        held.open = true;
                        let since = held.since;
                        out.push(self.record(Phase::Open, id, since, round.at, d.clone()));
                    }
                }
                None => {
                    if let Some(held) = self.held.remove(&id)
                        && held.open
                    {
                        out.push(self.record(Phase::Close, id, held.since, round.at, held.last));
                    }
                }
            }
        }
        out
    }

    /// Brokers whose mismatch incident is open.
    pub fn inconsistent(&self) -> BTreeSet<i32> {
        self.held
            .iter()
            .filter(|(_, h)| h.open)
            .map(|(id, _)| *id)
            .collect()
    }

    fn record(
        &self,
        phase: Phase,
        broker: i32,
        since: Millis,
        at: Millis,
        evidence: Disagreement,
    ) -> MismatchIncident {
        MismatchIncident {
            v: crate::watch::incident::VERSION,
            incident: phase,
            kind: "metadata_mismatch".into(),
            cluster: self.cluster.clone(),
            broker,
            since,
            at,
            evidence,
        }
    }
}
