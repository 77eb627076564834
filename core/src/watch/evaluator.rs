//! The evaluator: rounds in, reports out, with each partition's memory in between.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::history::{GroupHistory, PartitionHistory, RoundTimes};
use super::incident::IncidentBook;
use super::input::{GroupObservation, GroupState, Round};
use super::log_track::LogTrack;
use super::partition::{GroupContext, PartitionTrack};
use super::report::{GroupReport, GroupSummary, PartitionReport, RoundReport, TimestampCounts};
use super::state::{ConsumerState, LagMethod};
use crate::model::Millis;

/// (cluster, group).
type GroupKey = (String, String);
/// One cluster's partition logs: topic, then partition. Looked up once per topic of a group's
/// round, not per pair: at 400,000 pairs a round, a (topic, partition) key copied and
/// compared per pair cost more than judging the pair.
type ClusterLogs = HashMap<String, HashMap<i32, LogTrack>>;

/// Judges every watched group, round after round.
///
/// Memory is bounded per (group, partition) (four trend samples, at most `history_points`
/// history runs) and per partition's log (a fixed end table, shared by the groups reading
/// it), and kept only for what the latest round listed: a group or partition left out of a
/// round is dropped with everything learnt about it.
#[derive(Debug, Default)]
pub struct Evaluator {
    groups: BTreeMap<GroupKey, GroupTrack>,
    /// Each cluster's partition logs, shared by the groups that read them.
    logs: HashMap<String, ClusterLogs>,
}

#[derive(Debug, Default)]
struct GroupTrack {
    empty_since: Option<Millis>,
    /// The times of the rounds its partitions' histories keep.
    times: RoundTimes,
    /// Topic, then partition (iterated in (topic, partition) order).
    partitions: BTreeMap<String, TopicTracks>,
}

/// A topic's tracks in partition order. A sorted vector, not a map: a `BTreeMap` filled in
/// order leaves its nodes about half full, and at 400,000 pairs the empty half was tens of MiB.
#[derive(Debug, Default)]
struct TopicTracks(Vec<Tracked>);

impl TopicTracks {
    /// The track of `partition`, made by `new` when there is none.
    fn get_or_insert_with(
        &mut self,
        partition: i32,
        new: impl FnOnce() -> Tracked,
    ) -> &mut Tracked {
        let at = match self.0.binary_search_by_key(&partition, |t| t.partition) {
            Ok(at) => at,
            Err(at) => {
                self.0.insert(at, new());
                at
            }
        };
        &mut self.0[at]
    }
}

/// A partition's track and the group's round that last listed it, so that partitions left
/// out of a round are told without a set of the ones seen.
#[derive(Debug)]
struct Tracked {
    partition: i32,
    seen_in: u32,
    track: PartitionTrack,
}

impl Evaluator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Seeds the stuck clocks that open incidents vouch for, so that after a restart of the
    /// watch a partition still stuck on the same committed offset is stuck again at once,
    /// with its old `stuck_since`. Call it on a fresh evaluator, before the first round;
    /// partitions it already tracks are left alone.
    pub fn resume(&mut self, book: &IncidentBook) {
        for incident in book.open() {
            let key = (incident.cluster.clone(), incident.group.clone());
            let track = self.groups.entry(key).or_default();
            for recorded in &incident.partitions {
                let (Some(committed), Some(stuck_since)) =
                    (recorded.committed, recorded.stuck_since)
                else {
                    continue;
                };
                track
                    .partitions
                    .entry(recorded.topic.clone())
                    .or_default()
                    .get_or_insert_with(recorded.partition, || Tracked {
                        partition: recorded.partition,
                        seen_in: 0,
                        track: PartitionTrack::resumed(
                            committed,
                            stuck_since,
                            recorded.expired_since,
                        ),
                    });
            }
        }
    }

    /// Judges one round.
    pub fn evaluate(&mut self, round: &Round) -> RoundReport {
        self.evaluate_stream(round.now, round.groups.iter())
    }

    /// Judges the round of time `now` whose groups `observations` yields, each group taken
    /// (and, when owned, dropped) in turn: the shell makes each group's observation only when
    /// it is judged, so a round's observations are never whole in memory.
    pub fn evaluate_stream<G: std::borrow::Borrow<GroupObservation>>(
        &mut self,
        now: Millis,
        observations: impl Iterator<Item = G>,
    ) -> RoundReport {
        let mut timestamps = TimestampCounts::default();
        let mut logs_went_back = BTreeSet::new();
        let mut seen = BTreeSet::new();
        let groups = observations
            .map(|obs| {
                let obs = obs.borrow();
                let key = (obs.cluster.clone(), obs.group.clone());
                let track = self.groups.entry(key.clone()).or_default();
                seen.insert(key);
                let logs = self.logs.entry(obs.cluster.clone()).or_default();
                track.evaluate(now, obs, logs, &mut timestamps, &mut logs_went_back)
            })
            .collect();
        self.groups.retain(|key, _| seen.contains(key));
        // Logs no group read this round are forgotten, as their groups' partitions are.
        for logs in self.logs.values_mut() {
            for partitions in logs.values_mut() {
                partitions.retain(|_, log| log.seen_at == now);
            }
            logs.retain(|_, partitions| !partitions.is_empty());
        }
        self.logs.retain(|_, logs| !logs.is_empty());
        RoundReport {
            now,
            groups,
            timestamps,
            logs_went_back: logs_went_back.into_iter().collect(),
        }
    }

    /// The recent points of every partition of a group, oldest first.
    pub fn history(&self, cluster: &str, group: &str) -> Option<GroupHistory> {
        let track = self.groups.get(&(cluster.to_owned(), group.to_owned()))?;
        let partitions = track
            .partitions
            .iter()
            .flat_map(|(topic, partitions)| {
                partitions.0.iter().map(|p| PartitionHistory {
                    topic: topic.clone(),
                    partition: p.partition,
                    points: p.track.history().points(&track.times),
                })
            })
            .collect();
        Some(GroupHistory {
            cluster: cluster.to_owned(),
            group: group.to_owned(),
            partitions,
        })
    }

    /// How many partitions are tracked, over all groups.
    pub fn tracked_partitions(&self) -> usize {
        self.groups
            .values()
            .flat_map(|g| g.partitions.values())
            .map(|tracks| tracks.0.len())
            .sum()
    }
}

impl GroupTrack {
    fn evaluate(
        &mut self,
        now: Millis,
        obs: &GroupObservation,
        logs: &mut ClusterLogs,
        timestamps: &mut TimestampCounts,
        logs_went_back: &mut BTreeSet<(String, i32)>,
    ) -> GroupReport {
        let stale_after = obs.settings.stale_after_ms();
        let status = obs
            .status
            .filter(|s| now.saturating_sub(s.read_at) <= stale_after)
            .map(|s| s.value);
        match status.map(|s| s.state) {
            Some(GroupState::Empty) => {
                self.empty_since.get_or_insert(now);
            }
            Some(_) => self.empty_since = None,
            // Unknown: neither starts nor ends an empty spell.
            None => {}
        }
        let is_empty = status.is_some_and(|s| s.state == GroupState::Empty);
        let round = self.times.push(now, obs.settings.history_points);
        let ctx = GroupContext {
            round,
            times: &self.times,
            now,
            settings: obs.settings,
            status,
            // An unreadable round keeps the spell going but does not show an empty group.
            empty_since: self.empty_since.filter(|_| is_empty),
        };
        let mut partitions: Vec<PartitionReport> = Vec::with_capacity(obs.partitions.len());
        // The shell lists a group's partitions topic by topic: each run of one topic looks
        // its tracks and logs up once.
        for run in obs.partitions.chunk_by(|a, b| a.topic == b.topic) {
            let topic = &run[0].topic;
            // The name is copied only when the topic is new.
            if !logs.contains_key(&**topic) {
                logs.insert(topic.to_string(), HashMap::new());
            }
            if !self.partitions.contains_key(&**topic) {
                // Sized to the topic's partitions: a vector grown by doubling kept a quarter
                // of its room empty.
                let tracks = TopicTracks(Vec::with_capacity(run.len()));
                self.partitions.insert(topic.to_string(), tracks);
            }
            let (Some(topic_logs), Some(topic_tracks)) =
                (logs.get_mut(&**topic), self.partitions.get_mut(&**topic))
            else {
                unreachable!("both were just inserted");
            };
            for p in run {
                let log = topic_logs.entry(p.partition).or_default();
                let tracked = topic_tracks.get_or_insert_with(p.partition, || Tracked {
                    partition: p.partition,
                    seen_in: round,
                    track: PartitionTrack::new(round),
                });
                tracked.seen_in = round;
                partitions.push(tracked.track.evaluate(&ctx, p, log, timestamps));
                if log.went_back_at(now) {
                    logs_went_back.insert((p.topic.to_string(), p.partition));
                }
            }
        }
        for tracks in self.partitions.values_mut() {
            tracks.0.retain(|tracked| tracked.seen_in == round);
        }
        self.partitions.retain(|_, tracks| !tracks.0.is_empty());

        let summary = summarize(obs, &ctx, &partitions);
        GroupReport {
            summary,
            partitions,
            settings: obs.settings,
        }
    }
}

/// The group's figures from its partitions'.
fn summarize(
    obs: &GroupObservation,
    ctx: &GroupContext,
    partitions: &[PartitionReport],
) -> GroupSummary {
    let group_state = ctx.status.map_or(GroupState::Unknown, |s| s.state);
    let state = partitions
        .iter()
        .map(|p| p.state)
        .max()
        .unwrap_or(match group_state {
            GroupState::Stable | GroupState::Empty => ConsumerState::Ok,
            GroupState::Rebalancing => ConsumerState::Rebalancing,
            GroupState::Dead | GroupState::Unknown => ConsumerState::Unknown,
        });
    // Partitions without a commit have no lag to add up; their state says so.
    let committed: Vec<&PartitionReport> = partitions
        .iter()
        .filter(|p| p.state != ConsumerState::NoCommit)
        .collect();
    let lag_records = committed
        .iter()
        .map(|p| p.lag_records.get())
        .sum::<Option<i64>>();
    let slowest = committed
        .iter()
        .map(|p| p.lag_seconds.get().map(|lag| (lag, p.lag_method)))
        .collect::<Option<Vec<_>>>()
        .map(|lags| {
            lags.into_iter()
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .unwrap_or((0.0, LagMethod::CaughtUp))
        });
    GroupSummary {
        cluster: obs.cluster.clone(),
        group: obs.group.clone(),
        state,
        lag_records,
        lag_seconds: slowest.map(|(lag, _)| lag),
        lag_method: slowest.map_or(LagMethod::Unknown, |(_, method)| method),
        stuck_since: partitions.iter().filter_map(|p| p.stuck_since.get()).min(),
        last_commit_age_seconds: partitions
            .iter()
            .filter_map(|p| p.last_commit_age_seconds.get())
            .min_by(f64::total_cmp),
        group_state,
        members: ctx.status.map(|s| s.members),
    }
}
