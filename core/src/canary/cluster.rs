//! One cluster's canary: a [`Ledger`] per partition, the partitions' leaders, and per broker
//! the counts, availability windows and latency histogram its partitions earned. The shell
//! feeds it sends, acknowledgements, failures, reads and metadata, and calls [`tick`] once a
//! second; it answers with losses and reports.
//!
//! [`tick`]: CanaryCluster::tick

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use hdrhistogram::Histogram;

use super::availability::Availability;
use super::follow::{FollowCounts, FollowReading, Track, horizon};
use super::heartbeat::Heartbeat;
use super::ledger::{Counts, Judgement, Ledger, Reading};
use super::report::{
    BrokerReport, ClusterReport, LatencySummary, LostSequence, PartitionReport, QuorumSummary,
    SourcePartition, SourceReport,
};
use crate::config::CanaryMode;
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
    /// Produce, consume or both (`[canary] mode`).
    pub mode: CanaryMode,
    /// A send not acknowledged within this fails and is re-sent: with the consume timeout, it
    /// bounds how long a consume-mode reader waits for a skipped sequence.
    pub send_timeout: Millis,
}

/// Writers a consume-mode instance follows at once; the one silent longest is retired
/// beyond (its counts stay in the totals).
pub const MAX_SOURCES: usize = 64;

/// Why a record read from the canary topic was skipped.
pub const SKIP_OTHER_RUN: &str = "other_run";

struct PartitionState {
    ledger: Ledger,
    leader: i32,
    last: Judgement,
}

/// Another instance's run, followed by a consume-mode instance.
struct Source {
    partitions: BTreeMap<i32, Track>,
    last_read: Millis,
    /// Lost (partition, sequence), the most recent `lost_sequences_kept`.
    lost_recent: VecDeque<(i32, u64)>,
    /// Open gaps and overdue ones at the last tick.
    open: u64,
    overdue: u64,
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
    /// Consume mode: the writers followed, by (instance, run).
    sources: BTreeMap<(String, String), Source>,
    /// Counts of writers no longer followed.
    retired_sources: FollowCounts,
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
            sources: BTreeMap::new(),
            retired_sources: FollowCounts::default(),
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
        let produce_only = self.settings.mode == CanaryMode::Produce;
        for &(partition, leader) in leaders {
            let state = self
                .partitions
                .entry(partition)
                .or_insert_with(|| PartitionState {
                    ledger: if produce_only {
                        Ledger::produce_only()
                    } else {
                        Ledger::new()
                    },
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
        // Writers start their sequences over on a new topic.
        for (_, source) in std::mem::take(&mut self.sources) {
            for track in source.partitions.values() {
                self.retired_sources.add(track.counts());
            }
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
            if self.settings.mode == CanaryMode::Consume {
                self.follow(beat, offset, now);
            } else {
                self.skip(SKIP_OTHER_RUN);
            }
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

    /// Consume mode: another instance's heartbeat, accounted under its writer.
    fn follow(&mut self, beat: &Heartbeat, offset: i64, now: Millis) {
        let leader = match self.partitions.get_mut(&beat.partition) {
            Some(state) => {
                state.ledger.passed(offset + 1);
                state.leader
            }
            None => -1,
        };
        let key = (beat.instance.clone(), beat.run.clone());
        if !self.sources.contains_key(&key) && self.sources.len() >= MAX_SOURCES {
            self.retire_oldest_source();
        }
        let source = self.sources.entry(key).or_insert_with(|| Source {
            partitions: BTreeMap::new(),
            last_read: now,
            lost_recent: VecDeque::new(),
            open: 0,
            overdue: 0,
        });
        source.last_read = now;
        let reading = source.partitions.entry(beat.partition).or_default().read(
            beat.seq,
            beat.attempt,
            leader,
            now,
        );
        let broker = self
            .brokers
            .entry(leader)
            .or_insert_with(new_broker(&self.settings));
        match reading {
            FollowReading::First { measure, .. } => {
                broker.counts.consumed += 1;
                if measure {
                    let latency = now - beat.produced_at;
                    if record_latency(&mut broker.latency, latency) {
                        self.clock_skew += 1;
                    }
                    record_latency(&mut self.latency, latency);
                }
            }
            FollowReading::Duplicate => broker.counts.duplicated += 1,
            _ => {}
        }
    }

    fn retire_oldest_source(&mut self) {
        let oldest = self
            .sources
            .iter()
            .min_by_key(|(_, s)| s.last_read)
            .map(|(k, _)| k.clone());
        if let Some(key) = oldest
            && let Some(source) = self.sources.remove(&key)
        {
            for track in source.partitions.values() {
                self.retired_sources.add(track.counts());
            }
        }
    }

    /// Consume mode: judges every followed writer's gaps; returns the sequences lost now.
    fn judge_sources(
        &mut self,
        now: Millis,
        healthy: &mut BTreeMap<i32, bool>,
    ) -> Vec<LostSequence> {
        let horizon = horizon(self.settings.send_timeout, self.settings.consume_timeout);
        let timeout = self.settings.consume_timeout;
        let kept = self.settings.lost_sequences_kept;
        let mut lost = Vec::new();
        for source in self.sources.values_mut() {
            let (mut open, mut overdue) = (0, 0);
            for (&partition, track) in source.partitions.iter_mut() {
                let judgement = track.judge(now, horizon, timeout);
                open += judgement.open;
                overdue += judgement.overdue;
                let leader = self.partitions.get(&partition).map_or(-1, |p| p.leader);
                let good = judgement.lost.is_empty() && judgement.overdue == 0;
                *healthy.entry(leader).or_insert(true) &= good;
                for missing in judgement.lost {
                    source.lost_recent.push_back((partition, missing.sequence));
                    lost.push(LostSequence {
                        partition,
                        sequence: missing.sequence,
                        // The reader never learns where the writer's copy was written.
                        offset: -1,
                        leader: missing.leader,
                        detected_at: now,
                    });
                }
                while source.lost_recent.len() > kept {
                    source.lost_recent.pop_front();
                }
            }
            source.open = open;
            source.overdue = overdue;
        }
        lost
    }

    /// Totals over every followed writer, current and retired.
    pub fn follow_totals(&self) -> FollowCounts {
        let mut counts = self.retired_sources;
        for source in self.sources.values() {
            for track in source.partitions.values() {
                counts.add(track.counts());
            }
        }
        counts
    }

    fn source_reports(&self) -> Vec<SourceReport> {
        self.sources
            .iter()
            .map(|((instance, run), source)| {
                let mut totals = FollowCounts::default();
                let partitions = source
                    .partitions
                    .iter()
                    .map(|(&partition, track)| {
                        totals.add(track.counts());
                        SourcePartition {
                            partition,
                            first: track.first(),
                            next: track.next(),
                            open_gaps: track.open_gaps() as u64,
                            counts: *track.counts(),
                        }
                    })
                    .collect();
                SourceReport {
                    instance: instance.clone(),
                    run: run.clone(),
                    last_read: source.last_read,
                    counts: totals,
                    unread: source.open,
                    overdue: source.overdue,
                    lost_sequences: source.lost_recent.iter().copied().collect(),
                    partitions,
                }
            })
            .collect()
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
        if self.settings.mode == CanaryMode::Consume {
            let followed = self.judge_sources(now, &mut healthy);
            lost.extend(followed);
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

    /// Totals over every partition, current and retired, and (consume mode) over every
    /// writer followed.
    pub fn totals(&self) -> Counts {
        let mut counts = self.retired;
        for state in self.partitions.values() {
            counts.add(state.ledger.counts());
        }
        let f = self.follow_totals();
        counts.add(&Counts {
            consumed: f.consumed,
            lost: f.lost,
            duplicated: f.duplicated,
            reordered: f.reordered,
            resent_copies: f.resent_copies,
            late: f.late,
            unexpected: f.unexpected,
            ..Counts::default()
        });
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
        for source in self.sources.values() {
            unread += source.open;
            overdue += source.overdue;
        }
        let sources = self.source_reports();
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
            mode: self.settings.mode.as_str().to_owned(),
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
            sources,
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
