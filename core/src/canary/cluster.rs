//! One cluster's canary: a [`Ledger`] per partition, the partitions' leaders, and per broker
//! the counts, availability windows and latency histogram its partitions earned. The shell
//! feeds it sends, acknowledgements, failures, reads and metadata, and calls [`tick`] once a
//! second; it answers with losses and reports.
//!
//! [`tick`]: CanaryCluster::tick

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use hdrhistogram::Histogram;

use super::availability::Availability;
use super::heartbeat::Heartbeat;
use super::ledger::{Counts, Judgement, Ledger, Reading};
use super::report::{
    BrokerReport, ClusterReport, LatencySummary, LostSequence, PartitionReport, QuorumSummary,
};
use crate::metrics::catalog::MetricDef;
use crate::metrics::exposition::HistogramValue;
use crate::metrics::histogram::{exported, new_histogram, record_latency};
use crate::model::Millis;

/// The knobs the core needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CanarySettings {
    pub cluster: String,
    pub topic: String,
    pub run: String,
    pub instance: String,
    /// An acknowledged heartbeat unread for this long makes its partition unavailable for
    /// consumption (lag, never loss).
    pub consume_timeout: Millis,
    /// Availability is the share of good outcomes over this window.
    pub availability_window: Millis,
    /// Lost sequences listed in reports.
    pub lost_sequences_kept: usize,
}

/// Why a record read from the canary topic was skipped.
pub const SKIP_OTHER_RUN: &str = "other_run";

struct PartitionState {
    ledger: Ledger,
    leader: i32,
    last: Judgement,
}

struct BrokerState {
    address: String,
    live: bool,
    counts: Counts,
    produce: Availability,
    consume: Availability,
    latency: Histogram<u64>,
}

pub struct CanaryCluster {
    settings: CanarySettings,
    partitions: BTreeMap<i32, PartitionState>,
    /// Counts of the partitions of a canary topic that was deleted.
    retired: Counts,
    brokers: BTreeMap<i32, BrokerState>,
    produce: Availability,
    consume: Availability,
    latency: Histogram<u64>,
    lost_recent: VecDeque<LostSequence>,
    skipped: BTreeMap<String, u64>,
    clock_skew: u64,
    topic_changes: BTreeMap<String, u64>,
    inconsistent: BTreeSet<i32>,
    quorum: Option<QuorumSummary>,
}

impl CanaryCluster {
    pub fn new(settings: CanarySettings) -> CanaryCluster {
        let window = settings.availability_window;
        CanaryCluster {
            settings,
            partitions: BTreeMap::new(),
            retired: Counts::default(),
            brokers: BTreeMap::new(),
            produce: Availability::new(window),
            consume: Availability::new(window),
            latency: new_histogram(),
            lost_recent: VecDeque::new(),
            skipped: BTreeMap::new(),
            clock_skew: 0,
            topic_changes: BTreeMap::new(),
            inconsistent: BTreeSet::new(),
            quorum: None,
        }
    }

    pub fn settings(&self) -> &CanarySettings {
        &self.settings
    }

    /// The partitions being accounted, ascending.
    pub fn partitions(&self) -> Vec<i32> {
        self.partitions.keys().copied().collect()
    }

    /// The cluster's live brokers and the canary partitions' leaders (-1: none), as the latest
    /// metadata says. A partition not seen before starts its ledger here; the shell assigns
    /// the consumer to it before sending to it.
    pub fn metadata(&mut self, brokers: &[(i32, String)], leaders: &[(i32, i32)]) {
        let live: BTreeSet<i32> = brokers.iter().map(|(id, _)| *id).collect();
        for (id, address) in brokers {
            let state = self.broker(*id);
            state.address.clone_from(address);
        }
        for (id, state) in self.brokers.iter_mut() {
            state.live = live.contains(id);
        }
        for &(partition, leader) in leaders {
            let state = self
                .partitions
                .entry(partition)
                .or_insert_with(|| PartitionState {
                    ledger: Ledger::new(),
                    leader,
                    last: Judgement::default(),
                });
            state.leader = leader;
        }
    }

    /// The canary topic was deleted underneath and made again: every partition starts over.
    /// What was in flight is dropped, neither lost nor read.
    pub fn topic_recreated(&mut self) {
        for (_, state) in std::mem::take(&mut self.partitions) {
            self.retired.add(state.ledger.counts());
        }
        self.topic_change("recreated");
    }

    /// Counts a change the shell made to the canary topic (`created`, `extended`, `recreated`).
    pub fn topic_change(&mut self, kind: &str) {
        *self.topic_changes.entry(kind.to_owned()).or_default() += 1;
    }

    /// A first send to `partition`: its sequence and the leader it goes through.
    pub fn send(&mut self, partition: i32) -> Option<(u64, i32)> {
        let state = self.partitions.get_mut(&partition)?;
        let leader = state.leader;
        let seq = state.ledger.send(leader);
        self.broker(leader).counts.produced += 1;
        Some((seq, leader))
    }

    /// Takes back the sequence [`send`](Self::send) just drew: the client refused it.
    pub fn cancel(&mut self, partition: i32, seq: u64) {
        let Some(state) = self.partitions.get_mut(&partition) else {
            return;
        };
        let leader = state.ledger.leader_of(seq).unwrap_or(state.leader);
        if state.ledger.cancel(seq) {
            let broker = self.broker(leader);
            broker.counts.produced = broker.counts.produced.saturating_sub(1);
        }
    }

    /// The attempt number of a re-send of `seq`, if it awaits one.
    pub fn resend(&mut self, partition: i32, seq: u64) -> Option<u32> {
        let state = self.partitions.get_mut(&partition)?;
        state.ledger.resend(seq)
    }

    /// A send of `seq` to `partition` was acknowledged at `offset`.
    pub fn acknowledged(&mut self, partition: i32, seq: u64, offset: i64, now: Millis) {
        let Some(state) = self.partitions.get_mut(&partition) else {
            return;
        };
        let leader = state.ledger.leader_of(seq).unwrap_or(state.leader);
        if state.ledger.acknowledged(seq, offset, now) {
            self.broker(leader).counts.acknowledged += 1;
        }
        self.broker(leader).produce.record(now, true);
        self.produce.record(now, true);
    }

    /// A send of `seq` to `partition` failed; true when it should be re-sent.
    pub fn failed(&mut self, partition: i32, seq: u64, now: Millis) -> bool {
        let Some(state) = self.partitions.get_mut(&partition) else {
            return false;
        };
        let leader = state.ledger.leader_of(seq).unwrap_or(state.leader);
        let resend = state.ledger.failed(seq);
        let broker = self.broker(leader);
        broker.counts.send_failures += 1;
        broker.produce.record(now, false);
        self.produce.record(now, false);
        resend
    }

    /// A heartbeat read at `offset`; records of other runs or instances are counted and
    /// skipped.
    pub fn read(&mut self, beat: &Heartbeat, offset: i64, now: Millis) {
        if beat.run != self.settings.run || beat.instance != self.settings.instance {
            self.skip(SKIP_OTHER_RUN);
            return;
        }
        let Some(state) = self.partitions.get_mut(&beat.partition) else {
            self.skip("unknown_partition");
            return;
        };
        let leader = state.leader;
        let reading = state.ledger.read(beat.seq, beat.attempt, offset);
        let broker = self
            .brokers
            .entry(leader)
            .or_insert_with(new_broker(&self.settings));
        match reading {
            Reading::First { measure, .. } => {
                broker.counts.consumed += 1;
                if measure {
                    let latency = now - beat.produced_at;
                    if record_latency(&mut broker.latency, latency) {
                        self.clock_skew += 1;
                    }
                    record_latency(&mut self.latency, latency);
                }
            }
            Reading::Duplicate => broker.counts.duplicated += 1,
            _ => {}
        }
    }

    /// A record on `partition` that is not a heartbeat, skipped for `reason`; the consumer
    /// still moved past `offset`.
    pub fn skip_at(&mut self, partition: i32, offset: i64, reason: &str) {
        if let Some(state) = self.partitions.get_mut(&partition) {
            state.ledger.passed(offset + 1);
        }
        self.skip(reason);
    }

    pub fn skip(&mut self, reason: &str) {
        *self.skipped.entry(reason.to_owned()).or_default() += 1;
    }

    /// The consumer reached the end of `partition` at `position`.
    pub fn passed(&mut self, partition: i32, position: i64) {
        if let Some(state) = self.partitions.get_mut(&partition) {
            state.ledger.passed(position);
        }
    }

    /// The quorum as the last consistency check read it.
    pub fn set_quorum(&mut self, quorum: QuorumSummary) {
        self.quorum = Some(quorum);
    }

    /// Brokers whose metadata disagrees with the quorum's now.
    pub fn set_inconsistent(&mut self, brokers: BTreeSet<i32>) {
        self.inconsistent = brokers;
    }

    /// Judges every partition and samples availability; returns the sequences lost now.
    pub fn tick(&mut self, now: Millis) -> Vec<LostSequence> {
        let timeout = self.settings.consume_timeout;
        let mut lost = Vec::new();
        let mut healthy: BTreeMap<i32, bool> = BTreeMap::new();
        for (&partition, state) in self.partitions.iter_mut() {
            let judgement = state.ledger.judge(now, timeout);
            let good = judgement.lost.is_empty() && judgement.overdue == 0;
            *healthy.entry(state.leader).or_insert(true) &= good;
            for loss in &judgement.lost {
                lost.push(LostSequence::new(partition, *loss, now));
            }
            state.last = judgement;
        }
        for loss in &lost {
            self.broker(loss.leader).counts.lost += 1;
        }
        for (id, broker) in self.brokers.iter_mut() {
            // A broker gone from the cluster's list is unavailable, whatever it leads.
            let good = broker.live && healthy.get(id).copied().unwrap_or(true);
            broker.consume.record(now, good);
            if !broker.live {
                broker.produce.record(now, false);
            }
        }
        self.consume.record(now, healthy.values().all(|g| *g));
        self.lost_recent.extend(lost.iter().copied());
        while self.lost_recent.len() > self.settings.lost_sequences_kept {
            self.lost_recent.pop_front();
        }
        lost
    }

    /// Totals over every partition, current and retired.
    pub fn totals(&self) -> Counts {
        let mut counts = self.retired;
        for state in self.partitions.values() {
            counts.add(state.ledger.counts());
        }
        counts
    }

    /// The report of the latest tick.
    pub fn report(&mut self, now: Millis) -> ClusterReport {
        let totals = self.totals();
        let mut leads: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
        let mut partitions = Vec::new();
        let (mut unread, mut overdue) = (0, 0);
        for (&partition, state) in &self.partitions {
            leads.entry(state.leader).or_default().push(partition);
            unread += state.last.unread;
            overdue += state.last.overdue;
            let c = state.ledger.counts();
            partitions.push(PartitionReport {
                partition,
                leader: state.leader,
                produced: c.produced,
                acknowledged: c.acknowledged,
                consumed: c.consumed,
                lost: c.lost,
                duplicated: c.duplicated,
                reordered: c.reordered,
                unread: state.last.unread,
                position: state.ledger.position(),
            });
        }
        let cluster = self.settings.cluster.clone();
        let inconsistent = &self.inconsistent;
        let brokers = self
            .brokers
            .iter_mut()
            .filter(|(id, _)| **id >= 0)
            .map(|(&id, b)| BrokerReport {
                cluster: cluster.clone(),
                id,
                address: b.address.clone(),
                live: b.live,
                leads: leads.get(&id).cloned().unwrap_or_default(),
                produced: b.counts.produced,
                acknowledged: b.counts.acknowledged,
                send_failures: b.counts.send_failures,
                consumed: b.counts.consumed,
                lost: b.counts.lost,
                duplicated: b.counts.duplicated,
                produce_availability: b.produce.ratio(now).unwrap_or(if b.live {
                    1.0
                } else {
                    0.0
                }),
                consume_availability: b.consume.ratio(now).unwrap_or(1.0),
                latency_p99_ms: b.latency.value_at_quantile(0.99),
                metadata_consistent: !inconsistent.contains(&id),
            })
            .collect();
        ClusterReport {
            cluster,
            topic: self.settings.topic.clone(),
            run: self.settings.run.clone(),
            instance: self.settings.instance.clone(),
            at: now,
            produced: totals.produced,
            acknowledged: totals.acknowledged,
            consumed: totals.consumed,
            lost: totals.lost,
            duplicated: totals.duplicated,
            reordered: totals.reordered,
            send_failures: totals.send_failures,
            resent: totals.resent,
            resent_copies: totals.resent_copies,
            abandoned: totals.abandoned,
            late: totals.late,
            unexpected: totals.unexpected,
            unread,
            overdue,
            skipped: self.skipped.clone(),
            clock_skew: self.clock_skew,
            topic_changes: self.topic_changes.clone(),
            produce_availability: self.produce.ratio(now).unwrap_or(1.0),
            consume_availability: self.consume.ratio(now).unwrap_or(1.0),
            latency_ms: LatencySummary {
                count: self.latency.len(),
                p50: self.latency.value_at_quantile(0.5),
                p99: self.latency.value_at_quantile(0.99),
                max: self.latency.max(),
            },
            lost_sequences: self.lost_recent.iter().copied().collect(),
            brokers,
            partitions,
            quorum: self.quorum.clone(),
        }
    }

    /// Each broker's latency histogram in `def`'s exported unit.
    pub fn latency_histograms(&self, def: &MetricDef) -> Vec<(i32, HistogramValue)> {
        self.brokers
            .iter()
            .filter(|(id, _)| **id >= 0)
            .map(|(&id, b)| (id, exported(def, &b.latency)))
            .collect()
    }

    fn broker(&mut self, id: i32) -> &mut BrokerState {
        let settings = &self.settings;
        self.brokers.entry(id).or_insert_with(new_broker(settings))
    }
}

fn new_broker(settings: &CanarySettings) -> impl FnOnce() -> BrokerState + '_ {
    move || BrokerState {
        address: String::new(),
        live: true,
        counts: Counts::default(),
        produce: Availability::new(settings.availability_window),
        consume: Availability::new(settings.availability_window),
        latency: new_histogram(),
    }
}
