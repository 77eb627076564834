//! One cluster's round: what the reads gave, assembled into the core's [`GroupObservation`]s.
//!
//! Per watched group: every partition it has a commit for, plus the other partitions of those
//! topics. A read that fails leaves its values `None` (the core calls them unknown); the
//! lists of groups and topics fall back on the last ones read so that a failed listing does
//! not make every group vanish. A group that disappears from the listing (deleted) is sent
//! once with no partitions, which closes its incident, and then left out.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use cairn_core::config::WatchConfig;
use cairn_core::model::Millis;
use cairn_core::watch::{
    GroupObservation, GroupState, GroupStatus, Observed, PartitionObservation,
};
use rdkafka::error::RDKafkaErrorCode;

use super::events::{ReadFailed, ReadReason, TopicChange, TopicChanged};
use super::first_unread::{FirstUnreadFetcher, Lagging};
use super::reads::{ClusterReads, ListedGroup, Topics};
use super::view::WatchCounters;
use crate::kafka::offsets::Watermarks;

/// What a cluster's rounds remember of the previous ones.
#[derive(Default)]
pub struct RoundMemory {
    groups: Option<Vec<ListedGroup>>,
    pub(super) topics: BTreeMap<String, Vec<i32>>,
    /// Topics each group had commits on when last read.
    pub(super) group_topics: HashMap<String, BTreeSet<String>>,
    /// The groups of the previous round, to tell a deleted group.
    watched: BTreeSet<String>,
    /// Topics watched groups read that were seen deleted, to tell one recreated (bounded).
    deleted_topics: VecDeque<String>,
}

/// How many deleted topic names a cluster remembers to tell a recreated one.
const DELETED_TOPICS_KEPT: usize = 1_000;

/// Reports a failed read: its operation, why, and the error.
pub(super) type Failed<'a> = &'a dyn Fn(&'static str, ReadReason, &dyn std::fmt::Display);

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
    let failed = |operation: &'static str, reason: ReadReason, error: &dyn std::fmt::Display| {
        ReadFailed {
            cluster,
            operation,
            reason,
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
        Ok(topics) => round.follow_topics(memory, topics, counters),
        Err(err) => failed("metadata", ReadReason::of_kafka(&err), &err),
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
pub(super) struct Round<'a> {
    pub(super) config: &'a WatchConfig,
    pub(super) cluster: &'a str,
    pub(super) clock: &'a dyn Fn() -> Millis,
    pub(super) failed: Failed<'a>,
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
                (self.failed)("groups", ReadReason::of_kafka(&err), &err);
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
                let before = memory.group_topics.remove(group).unwrap_or_default();
                let mut topics = BTreeSet::new();
                let mut refused: Vec<(Option<RDKafkaErrorCode>, usize)> = Vec::new();
                for ((topic, _), offset) in all.iter().zip(&offsets) {
                    match offset {
                        Ok(Some(_)) => {
                            topics.insert(topic.clone());
                        }
                        Ok(None) => {}
                        // Refused for this partition: unknown, and the group keeps the topic.
                        Err(code) => {
                            match refused.iter_mut().find(|(c, _)| c == code) {
                                Some((_, n)) => *n += 1,
                                None => refused.push((*code, 1)),
                            }
                            if before.contains(topic) {
                                topics.insert(topic.clone());
                            }
                        }
                    }
                }
                for (code, partitions) in refused {
                    let error = format!(
                        "group `{group}`: {partitions} partitions answered {}",
                        code.map_or_else(|| "an error".to_owned(), |c| c.to_string())
                    );
                    (self.failed)("committed", ReadReason::of_code(code), &error);
                }
                memory.group_topics.insert(group.to_owned(), topics);
                all.iter()
                    .cloned()
                    .zip(offsets)
                    .map(|(key, value)| {
                        let read = value.ok().map(|value| Observed { value, read_at: at });
                        (key, read)
                    })
                    .collect()
            }
            Err(err) => {
                (self.failed)("committed", ReadReason::of_offsets(&err), &err);
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
                (self.failed)("watermarks", ReadReason::of_kafka(&err), &err);
                None
            }
        }
    }

    /// Takes this round's topic listing, and says what changed under the watched groups: a
    /// topic gone (its partitions leave the report this round), back after it was gone, or
    /// grown. A topic the broker named with an error keeps its last known partitions: a failed
    /// read is not a deletion.
    pub(super) fn follow_topics(
        &self,
        memory: &mut RoundMemory,
        topics: Topics,
        counters: &WatchCounters,
    ) {
        let Topics { mut listed, failed } = topics;
        for (topic, code) in failed {
            let error = format!("topic `{topic}`: {code}");
            (self.failed)("metadata", ReadReason::of_code(Some(code)), &error);
            if let Some(known) = memory.topics.get(&topic) {
                listed.insert(topic, known.clone());
            }
        }
        let read: BTreeSet<&String> = memory.group_topics.values().flatten().collect();
        let changed = |topic: &str, change: TopicChange, detail: &dyn std::fmt::Display| {
            TopicChanged {
                cluster: self.cluster,
                topic,
                change,
                detail,
            }
            .emit(counters)
        };
        let mut deleted = Vec::new();
        for topic in read {
            match (memory.topics.get(topic), listed.get(topic)) {
                (Some(before), None) => {
                    changed(
                        topic,
                        TopicChange::Deleted,
                        &format!("{} partitions", before.len()),
                    );
                    deleted.push(topic.clone());
                }
                (Some(before), Some(now)) if now.len() > before.len() => {
                    let detail = format!("{} -> {} partitions", before.len(), now.len());
                    changed(topic, TopicChange::PartitionsAdded, &detail);
                }
                _ => {}
            }
        }
        memory.deleted_topics.retain(|topic| {
            let back = listed.get(topic);
            if let Some(partitions) = back {
                let detail = format!("{} partitions", partitions.len());
                changed(topic, TopicChange::Recreated, &detail);
            }
            back.is_none()
        });
        memory.deleted_topics.extend(deleted);
        while memory.deleted_topics.len() > DELETED_TOPICS_KEPT {
            memory.deleted_topics.pop_front();
        }
        memory.topics = listed;
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
    failed: Failed<'_>,
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
        failed("first_unread", ReadReason::of_kafka(err), err);
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
