//! One cluster's round: what the reads gave, assembled into the core's [`GroupObservation`]s.
//!
//! Per watched group: every partition it has a commit for, plus the other partitions of those
//! topics. A read that fails leaves its values `None` (the core calls them unknown); the
//! lists of groups and topics fall back on the last ones read so that a failed listing does
//! not make every group vanish. A group that disappears from the listing (deleted) is sent
//! once with no partitions, which closes its incident, and then left out.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use cairn_core::config::WatchConfig;
use cairn_core::model::Millis;
use cairn_core::watch::{
    GroupObservation, GroupState, GroupStatus, Observed, PartitionObservation,
};

use super::events::ReadFailed;
use super::first_unread::{FirstUnreadFetcher, Lagging};
use super::reads::{ClusterReads, ListedGroup};
use super::view::WatchCounters;
use crate::kafka::offsets::Watermarks;

/// What a cluster's rounds remember of the previous ones.
#[derive(Default)]
pub struct RoundMemory {
    groups: Option<Vec<ListedGroup>>,
    topics: BTreeMap<String, Vec<i32>>,
    /// Topics each group had commits on when last read.
    group_topics: HashMap<String, BTreeSet<String>>,
    /// The groups of the previous round, to tell a deleted group.
    watched: BTreeSet<String>,
}

/// Committed offsets of one group, by (topic, partition); `None` where the read failed.
type Committed = HashMap<(String, i32), Option<Observed<Option<i64>>>>;
/// Watermarks read this round, by (topic, partition), shared by the groups that read it.
type RoundWatermarks = HashMap<(String, i32), Option<Observed<Watermarks>>>;

/// The reads of one round on `cluster`, as observations for the evaluator.
pub fn observe_cluster(
    config: &WatchConfig,
    cluster: &str,
    reads: &mut ClusterReads,
    fetcher: &mut FirstUnreadFetcher,
    memory: &mut RoundMemory,
    counters: &WatchCounters,
    clock: impl Fn() -> Millis,
) -> Vec<GroupObservation> {
    let failed = |operation: &'static str, error: &dyn std::fmt::Display| {
        ReadFailed {
            cluster,
            operation,
            error,
        }
        .emit(counters)
    };
    let round = Round {
        config,
        cluster,
        clock: &clock,
        failed: &failed,
    };
    let listed = round.list_groups(reads, memory);
    match reads.topics() {
        Ok(topics) => memory.topics = topics,
        Err(err) => failed("metadata", &err),
    }
    // Every partition of the cluster: one OffsetFetch per group learns which it committed.
    let all: Vec<(String, i32)> = memory
        .topics
        .iter()
        .flat_map(|(t, ps)| ps.iter().map(move |p| (t.clone(), *p)))
        .collect();
    let mut watermarks = RoundWatermarks::new();
    let mut observations: Vec<GroupObservation> = listed
        .iter()
        .map(|(group, status)| {
            round.observe_group(reads, memory, &all, &mut watermarks, group, *status)
        })
        .collect();
    add_first_unread(&mut observations, fetcher, &failed);

    let now_watched: BTreeSet<String> = listed.iter().map(|(g, _)| g.name.clone()).collect();
    round.forget_deleted(memory, &now_watched, &mut observations);
    reads.retain_groups(|g| now_watched.contains(g));
    memory.watched = now_watched;
    observations
}

/// What every step of one cluster's round needs.
struct Round<'a> {
    config: &'a WatchConfig,
    cluster: &'a str,
    clock: &'a dyn Fn() -> Millis,
    failed: &'a dyn Fn(&'static str, &dyn std::fmt::Display),
}

impl Round<'_> {
    /// The watched groups with their state; after a failed listing, the last ones listed with
    /// no state (unknown), so that no group vanishes for a failed read.
    fn list_groups(
        &self,
        reads: &mut ClusterReads,
        memory: &mut RoundMemory,
    ) -> Vec<(ListedGroup, Option<Observed<GroupStatus>>)> {
        match reads.list_groups() {
            Ok(groups) => {
                let at = (self.clock)();
                let watched: Vec<(ListedGroup, Option<Observed<GroupStatus>>)> = groups
                    .into_iter()
                    .filter(|g| self.config.watches(self.cluster, &g.name))
                    .map(|g| {
                        let status = Observed {
                            value: g.status,
                            read_at: at,
                        };
                        (g, Some(status))
                    })
                    .collect();
                memory.groups = Some(watched.iter().map(|(g, _)| g.clone()).collect());
                watched
            }
            Err(err) => {
                (self.failed)("groups", &err);
                let last = memory.groups.clone().unwrap_or_default();
                last.into_iter().map(|g| (g, None)).collect()
            }
        }
    }

    /// One group: its commits and the watermarks of every partition of the topics it reads.
    fn observe_group(
        &self,
        reads: &mut ClusterReads,
        memory: &mut RoundMemory,
        all: &[(String, i32)],
        watermarks: &mut RoundWatermarks,
        group: &ListedGroup,
        status: Option<Observed<GroupStatus>>,
    ) -> GroupObservation {
        let committed = self.read_committed(reads, memory, all, &group.name);
        let topics = memory
            .group_topics
            .get(&group.name)
            .cloned()
            .unwrap_or_default();
        let mut partitions = Vec::new();
        for topic in &topics {
            let Some(ids) = memory.topics.get(topic) else {
                continue; // deleted: its partitions are gone
            };
            for &partition in ids {
                let key = (topic.clone(), partition);
                let marks = *watermarks
                    .entry(key.clone())
                    .or_insert_with(|| self.read_watermarks(reads, topic, partition));
                partitions.push(PartitionObservation {
                    topic: topic.clone(),
                    partition,
                    committed: committed.get(&key).cloned().flatten(),
                    log_start: marks.map(|w| Observed {
                        value: w.value.log_start,
                        read_at: w.read_at,
                    }),
                    log_end: marks.map(|w| Observed {
                        value: w.value.log_end,
                        read_at: w.read_at,
                    }),
                    first_unread: None,
                });
            }
        }
        GroupObservation {
            cluster: self.cluster.to_owned(),
            group: group.name.clone(),
            settings: self.config.settings_for(self.cluster, &group.name),
            status,
            partitions,
        }
    }

    /// The group's committed offsets over `all` the partitions of the cluster (one
    /// OffsetFetch), remembering which topics it has commits on.
    fn read_committed(
        &self,
        reads: &mut ClusterReads,
        memory: &mut RoundMemory,
        all: &[(String, i32)],
        group: &str,
    ) -> Committed {
        match reads.committed(group, all) {
            Ok(offsets) => {
                let at = (self.clock)();
                let topics: BTreeSet<String> = all
                    .iter()
                    .zip(&offsets)
                    .filter(|(_, o)| o.is_some())
                    .map(|((t, _), _)| t.clone())
                    .collect();
                memory.group_topics.insert(group.to_owned(), topics);
                all.iter()
                    .cloned()
                    .zip(offsets)
                    .map(|(key, value)| (key, Some(Observed { value, read_at: at })))
                    .collect()
            }
            Err(err) => {
                (self.failed)("committed", &err);
                Committed::new()
            }
        }
    }

    fn read_watermarks(
        &self,
        reads: &mut ClusterReads,
        topic: &str,
        partition: i32,
    ) -> Option<Observed<Watermarks>> {
        match reads.watermarks(topic, partition) {
            Ok(value) => Some(Observed {
                value,
                read_at: (self.clock)(),
            }),
            Err(err) => {
                (self.failed)("watermarks", &err);
                None
            }
        }
    }

    /// Groups watched last round and gone now: sent once as dead with no partitions, which
    /// closes their incidents, then forgotten.
    fn forget_deleted(
        &self,
        memory: &mut RoundMemory,
        now_watched: &BTreeSet<String>,
        observations: &mut Vec<GroupObservation>,
    ) {
        for deleted in memory.watched.difference(now_watched) {
            observations.push(GroupObservation {
                cluster: self.cluster.to_owned(),
                group: deleted.clone(),
                settings: self.config.settings_for(self.cluster, deleted),
                status: Some(Observed {
                    value: GroupStatus {
                        state: GroupState::Dead,
                        members: 0,
                    },
                    read_at: (self.clock)(),
                }),
                partitions: Vec::new(),
            });
            memory.group_topics.remove(deleted);
        }
    }
}

/// Fills `first_unread` of every partition with records past its commit.
fn add_first_unread(
    observations: &mut [GroupObservation],
    fetcher: &mut FirstUnreadFetcher,
    failed: &dyn Fn(&'static str, &dyn std::fmt::Display),
) {
    let mut lagging: Vec<Lagging> = Vec::new();
    for p in observations.iter().flat_map(|g| &g.partitions) {
        let committed = p.committed.as_ref().and_then(|c| c.value);
        if let (Some(committed), Some(end)) = (committed, p.log_end.as_ref()) {
            let l = Lagging {
                topic: p.topic.clone(),
                partition: p.partition,
                committed,
                log_end: end.value,
            };
            if end.value > committed && !lagging.contains(&l) {
                lagging.push(l);
            }
        }
    }
    // Two groups on one partition at different commits: the fetcher answers per partition,
    // so the second one is asked in a later round.
    let mut seen = BTreeSet::new();
    lagging.retain(|l| seen.insert((l.topic.clone(), l.partition)));
    let (answers, errors) = fetcher.answers(&lagging);
    for err in &errors {
        failed("first_unread", err);
    }
    for p in observations
        .iter_mut()
        .flat_map(|g| g.partitions.iter_mut())
    {
        let committed = p.committed.as_ref().and_then(|c| c.value);
        p.first_unread = answers
            .get(&(p.topic.clone(), p.partition))
            .filter(|a| Some(a.from()) == committed)
            .copied();
    }
}
