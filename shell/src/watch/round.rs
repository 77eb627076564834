//! One cluster's round: what the reads gave, assembled into the core's [`GroupObservation`]s.
//!
//! Per watched group: every partition it has a commit for, plus the other partitions of those
//! topics. A read that fails leaves its values `None` (the core calls them unknown); the
//! lists of groups and topics fall back on the last ones read so that a failed listing does
//! not make every group vanish. A group that disappears from the listing (deleted) is sent
//! once with no partitions, which closes its incident, and then left out.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use cairn_core::config::WatchConfig;
use cairn_core::model::Millis;
use cairn_core::watch::packed::CommitRead;
use cairn_core::watch::{
    FirstUnread, GroupObservation, GroupSettings, GroupState, GroupStatus, Observed,
    PartitionObservation,
};
use rdkafka::error::RDKafkaErrorCode;

use super::committed::Commit;
use super::events::{ReadFailed, ReadReason, TopicChange, TopicChanged};
use super::first_unread::{FirstUnreadFetcher, Lagging};
use super::phases::Phases;
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

/// Committed offsets of one group, in the order of the cluster's partitions (see [`Cluster`]);
/// `None` where the read failed, empty when it failed as a whole.
type Committed = Vec<CommitRead>;
/// Watermarks read this round, by (topic, partition), shared by the groups that read it.
type RoundWatermarks = HashMap<(String, i32), Option<Observed<Watermarks>>>;

/// The reads of one round on `cluster`, ready to be turned into observations for the
/// evaluator group by group, and how long each read took.
pub fn observe_cluster(
    config: &WatchConfig,
    cluster: &str,
    reads: &mut ClusterReads,
    fetcher: &mut FirstUnreadFetcher,
    memory: &mut RoundMemory,
    counters: &WatchCounters,
    clock: impl Fn() -> Millis,
) -> (ClusterRound, Phases) {
    let mut phases = Phases::default();
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
    let listed = phases.time("groups", || round.list_groups(reads, memory));
    match phases.time("metadata", || reads.topics()) {
        Ok(topics) => round.follow_topics(memory, topics, counters),
        Err(err) => failed("metadata", ReadReason::of_kafka(&err), &err),
    }
    // Every partition of the cluster: each group is asked for all of them (in chunks, all in
    // flight at once) to learn which it committed.
    let all: Vec<(String, i32)> = memory
        .topics
        .iter()
        .flat_map(|(t, ps)| ps.iter().map(move |p| (t.clone(), *p)))
        .collect();
    let names: Vec<String> = listed.iter().map(|(g, _)| g.name.clone()).collect();
    let answers = phases.time("committed", || reads.committed(&names, &all));
    let lost = reads.take_readers_lost();
    if lost > 0 {
        *counters
            .readers_lost
            .lock()
            .entry(cluster.to_owned())
            .or_default() += lost;
    }
    let committed: Vec<Committed> = names
        .iter()
        .zip(answers)
        .map(|(group, answer)| round.read_committed(memory, &all, group, answer))
        .collect();
    // Every partition some group reads, for one batched watermarks read shared by all.
    let read_topics: BTreeSet<&String> = names
        .iter()
        .filter_map(|group| memory.group_topics.get(group))
        .flatten()
        .collect();
    let needed: BTreeSet<(String, i32)> = read_topics
        .into_iter()
        .filter_map(|topic| memory.topics.get(topic).map(|ids| (topic, ids)))
        .flat_map(|(topic, ids)| ids.iter().map(move |p| (topic.clone(), *p)))
        .collect();
    let watermarks = phases.time("watermarks", || round.read_watermarks(reads, &needed));
    // By topic, in the order of its partitions, as the groups' observations are built.
    let mut topics = BTreeMap::new();
    let mut start = 0;
    for (topic, ids) in &memory.topics {
        let marks = ids
            .iter()
            .map(|&p| watermarks.get(&(topic.clone(), p)).copied().flatten())
            .collect();
        let read = RoundTopic {
            name: Arc::from(topic.as_str()),
            partitions: ids.clone(),
            start,
            marks,
        };
        start += ids.len();
        topics.insert(topic.clone(), read);
    }
    let mut groups: Vec<PendingGroup> = listed
        .iter()
        .zip(committed)
        .map(|((group, status), committed)| PendingGroup {
            name: group.name.clone(),
            settings: config.settings_for(cluster, &group.name),
            status: *status,
            topics: memory
                .group_topics
                .get(&group.name)
                .into_iter()
                .flatten()
                .filter(|topic| topics.contains_key(*topic))
                .cloned()
                .collect(),
            committed,
        })
        .collect();
    let first_unread = phases.time("first_unread", || {
        read_first_unread(&topics, &groups, fetcher, &failed)
    });

    let now_watched: BTreeSet<String> = listed.iter().map(|(g, _)| g.name.clone()).collect();
    round.forget_deleted(memory, &now_watched, &mut groups);
    memory.watched = now_watched;
    let cluster_round = ClusterRound {
        cluster: cluster.to_owned(),
        topics,
        groups,
        first_unread,
    };
    (cluster_round, phases)
}

/// One cluster's reads of a round, kept as read until the judging asks for each group's
/// observation: a committed offset is 16 bytes a pair here and an observation 80, and at
/// 400,000 pairs the round's observations whole were 32 MB on top of the last report and the
/// evaluator's tracks, at the peak of the round.
pub struct ClusterRound {
    cluster: String,
    topics: BTreeMap<String, RoundTopic>,
    groups: Vec<PendingGroup>,
    /// First unread records fetched this round; each answers for the committed offset it was
    /// fetched from.
    first_unread: HashMap<(String, i32), FirstUnread>,
}

/// A topic of the cluster as this round read it.
struct RoundTopic {
    /// Shared by every observation of the topic in the round.
    name: Arc<str>,
    partitions: Vec<i32>,
    /// Where its partitions start in a group's committed offsets (topic, then partition).
    start: usize,
    /// Each partition's watermarks, in the order of `partitions`.
    marks: Vec<Option<Observed<Watermarks>>>,
}

/// A watched group's reads, not yet an observation.
struct PendingGroup {
    name: String,
    settings: GroupSettings,
    status: Option<Observed<GroupStatus>>,
    /// The topics it reads (has commits on), of those the cluster lists.
    topics: Vec<String>,
    committed: Committed,
}

impl ClusterRound {
    /// Every group's observation, each made when asked for; the reads go with them.
    pub fn into_observations(self) -> impl Iterator<Item = GroupObservation> {
        let ClusterRound {
            cluster,
            topics,
            groups,
            first_unread,
        } = self;
        groups
            .into_iter()
            .map(move |group| observe(&cluster, &topics, &first_unread, &group))
    }

    /// The observations of the groups `wanted` says yes to, made now.
    pub fn observations_of(&self, wanted: impl Fn(&str) -> bool) -> Vec<GroupObservation> {
        self.groups
            .iter()
            .filter(|g| wanted(&g.name))
            .map(|g| observe(&self.cluster, &self.topics, &self.first_unread, g))
            .collect()
    }

    /// The topics the round's groups read.
    pub fn topics_read(&self) -> BTreeSet<String> {
        self.groups
            .iter()
            .flat_map(|g| g.topics.iter().cloned())
            .collect()
    }
}

/// One group's observation: every partition of the topics it reads, with its commit, the
/// partition's watermarks and, where records wait past the commit, the first unread record.
fn observe(
    cluster: &str,
    topics: &BTreeMap<String, RoundTopic>,
    first_unread: &HashMap<(String, i32), FirstUnread>,
    group: &PendingGroup,
) -> GroupObservation {
    let size = group
        .topics
        .iter()
        .filter_map(|t| topics.get(t))
        .map(|t| t.partitions.len())
        .sum();
    let mut partitions = Vec::with_capacity(size);
    for topic in &group.topics {
        let Some(read) = topics.get(topic) else {
            continue; // deleted: its partitions are gone
        };
        for (k, &partition) in read.partitions.iter().enumerate() {
            let marks = read.marks.get(k).copied().flatten();
            let committed = group
                .committed
                .get(read.start + k)
                .copied()
                .unwrap_or(CommitRead::NONE);
            let offset = committed.get().and_then(|c| c.value);
            // Only a partition with records past its commit was asked about.
            let behind = matches!((offset, marks), (Some(c), Some(m)) if m.value.log_end > c);
            let unread = if behind {
                first_unread
                    .get(&(topic.clone(), partition))
                    .filter(|a| Some(a.from()) == offset)
                    .map(|a| Box::new(*a))
            } else {
                None
            };
            partitions.push(PartitionObservation {
                topic: read.name.clone(),
                partition,
                committed,
                log_start: marks
                    .map(|w| Observed {
                        value: w.value.log_start,
                        read_at: w.read_at,
                    })
                    .into(),
                log_end: marks
                    .map(|w| Observed {
                        value: w.value.log_end,
                        read_at: w.read_at,
                    })
                    .into(),
                first_unread: unread,
            });
        }
    }
    GroupObservation {
        cluster: cluster.to_owned(),
        group: group.name.clone(),
        settings: group.settings,
        status: group.status,
        partitions,
    }
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

    /// The group's committed offsets over `all` the partitions of the cluster, remembering
    /// which topics it has commits on. A partition refused alone is unknown and its topic
    /// stays the group's; a request that failed as a whole leaves all it asked unknown; when
    /// nothing was answered, the group keeps the topics it had.
    fn read_committed(
        &self,
        memory: &mut RoundMemory,
        all: &[(String, i32)],
        group: &str,
        answer: Vec<Commit>,
    ) -> Committed {
        let at = (self.clock)();
        let answered = answer.iter().any(|c| !matches!(c, Commit::Failed(_)));
        // Errors by kind (refused alone or failed request) and code, each said once per round.
        let mut errors: Vec<(bool, Option<RDKafkaErrorCode>, usize)> = Vec::new();
        let mut topics = BTreeSet::new();
        let before = memory.group_topics.get(group);
        for ((topic, _), commit) in all.iter().zip(&answer) {
            let (refused, code) = match *commit {
                Commit::Offset(Some(_)) => {
                    // Copied once per topic, not per partition.
                    if !topics.contains(topic) {
                        topics.insert(topic.clone());
                    }
                    continue;
                }
                Commit::Offset(None) => continue,
                Commit::Refused(code) => (true, code),
                Commit::Failed(code) => (false, code),
            };
            match errors
                .iter_mut()
                .find(|(r, c, _)| (*r, *c) == (refused, code))
            {
                Some((_, _, n)) => *n += 1,
                None => errors.push((refused, code, 1)),
            }
            // Unknown this round, and the group keeps the topic.
            if before.is_some_and(|b| b.contains(topic)) && !topics.contains(topic) {
                topics.insert(topic.clone());
            }
        }
        for (refused, code, partitions) in errors {
            let code_text = code.map_or_else(|| "an error".to_owned(), |c| c.to_string());
            let error = if refused {
                format!("group `{group}`: {partitions} partitions answered {code_text}")
            } else {
                format!(
                    "reading committed offsets of group `{group}` on {partitions} partitions failed: {code_text}"
                )
            };
            (self.failed)("committed", ReadReason::of_code(code), &error);
        }
        if !answered && !all.is_empty() {
            return Committed::new();
        }
        memory.group_topics.insert(group.to_owned(), topics);
        answer
            .into_iter()
            .map(|commit| match commit {
                Commit::Offset(value) => Some(Observed { value, read_at: at }).into(),
                Commit::Refused(_) | Commit::Failed(_) => CommitRead::NONE,
            })
            .collect()
    }

    /// The watermarks of every partition in `needed`, in one batched read (two requests per
    /// broker); a failed request leaves them all unknown, a partition the broker refused only
    /// that one.
    fn read_watermarks(
        &self,
        reads: &mut ClusterReads,
        needed: &BTreeSet<(String, i32)>,
    ) -> RoundWatermarks {
        if needed.is_empty() {
            return RoundWatermarks::new();
        }
        let partitions: Vec<(String, i32)> = needed.iter().cloned().collect();
        match reads.watermarks_of(&partitions) {
            Ok(answers) => {
                let read_at = (self.clock)();
                answers
                    .into_iter()
                    .map(|(key, answer)| {
                        let marks = match answer {
                            Ok(value) => Some(Observed { value, read_at }),
                            Err(err) => {
                                (self.failed)("watermarks", ReadReason::of_kafka(&err), &err);
                                None
                            }
                        };
                        (key, marks)
                    })
                    .collect()
            }
            Err(err) => {
                (self.failed)("watermarks", ReadReason::of_kafka(&err), &err);
                RoundWatermarks::new()
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
        groups: &mut Vec<PendingGroup>,
    ) {
        for deleted in memory.watched.difference(now_watched) {
            groups.push(PendingGroup {
                name: deleted.clone(),
                settings: self.config.settings_for(self.cluster, deleted),
                status: Some(Observed {
                    value: GroupStatus {
                        state: GroupState::Dead,
                        members: 0,
                    },
                    read_at: (self.clock)(),
                }),
                topics: Vec::new(),
                committed: Committed::new(),
            });
            memory.group_topics.remove(deleted);
        }
    }
}

/// The first unread record of every partition with records past a group's commit, once per
/// (topic, partition, committed offset).
fn read_first_unread(
    topics: &BTreeMap<String, RoundTopic>,
    groups: &[PendingGroup],
    fetcher: &mut FirstUnreadFetcher,
    failed: Failed<'_>,
) -> HashMap<(String, i32), FirstUnread> {
    let mut lagging: Vec<Lagging> = Vec::new();
    // (topic, partition, committed) already asked, so many groups at one commit ask once.
    let mut asked: HashSet<(&str, i32, i64)> = HashSet::new();
    for group in groups {
        for (topic, read) in group
            .topics
            .iter()
            .filter_map(|t| Some((t, topics.get(t)?)))
        {
            for (k, &partition) in read.partitions.iter().enumerate() {
                let committed = group
                    .committed
                    .get(read.start + k)
                    .and_then(|c| c.get())
                    .and_then(|c| c.value);
                let end = read
                    .marks
                    .get(k)
                    .copied()
                    .flatten()
                    .map(|m| m.value.log_end);
                if let (Some(committed), Some(end)) = (committed, end)
                    && end > committed
                    && asked.insert((topic.as_str(), partition, committed))
                {
                    lagging.push(Lagging {
                        topic: topic.clone(),
                        partition,
                        committed,
                        log_end: end,
                    });
                }
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
    answers.clone()
}
