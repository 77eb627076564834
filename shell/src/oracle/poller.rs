//! One thread per cluster polls committed offsets and watermarks and publishes a snapshot.
//!
//! rdkafka's metadata, watermark and offset-fetch calls block, so each cluster gets a plain
//! thread rather than a task on the async runtime: a slow cluster then delays only itself.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use arc_swap::ArcSwap;
use cairn_core::config::{ClusterConfig, Config};
use cairn_core::offsets::Observed;
use rdkafka::ClientConfig;

use super::snapshot::{ClusterOffsets, OffsetsBoard, TopicOffsets};
use crate::clock::now_millis;
use crate::kafka::client::client_config;
use crate::kafka::offsets::{GroupOffsetsReader, OffsetsError};

/// Topic → groups reading it (empty for a topic only written, whose watermarks still matter).
pub type WatchedTopics = BTreeMap<String, BTreeSet<String>>;

/// What to poll on one cluster: each lineage topic and the groups that read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterWatch {
    pub cluster: ClusterConfig,
    pub topics: WatchedTopics,
}

/// Every declared cluster, with what the config's streams read and write there (possibly
/// nothing): for a lineage from a control plane, which may come to use any of them.
pub fn every_cluster(config: &Config) -> Vec<ClusterWatch> {
    let mut used = watches_from_config(config);
    config
        .clusters
        .iter()
        .map(|cluster| {
            let topics = used
                .iter_mut()
                .find(|w| w.cluster.name == cluster.name)
                .map(|w| std::mem::take(&mut w.topics))
                .unwrap_or_default();
            ClusterWatch {
                cluster: cluster.clone(),
                topics,
            }
        })
        .collect()
}

/// Every (group, location) and location of every stream, grouped by cluster.
pub fn watches_from_config(config: &Config) -> Vec<ClusterWatch> {
    let mut by_cluster: BTreeMap<&str, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for app in config.streams.iter().flat_map(|stream| &stream.apps) {
        if let Some(location) = &app.writes {
            by_cluster
                .entry(&location.cluster)
                .or_default()
                .entry(location.topic.clone())
                .or_default();
        }
        if let Some(location) = &app.reads {
            let groups = by_cluster
                .entry(&location.cluster)
                .or_default()
                .entry(location.topic.clone())
                .or_default();
            groups.extend(app.group.clone());
        }
    }
    config
        .clusters
        .iter()
        .filter_map(|cluster| {
            let topics = by_cluster.remove(cluster.name.as_str())?;
            Some(ClusterWatch {
                cluster: cluster.clone(),
                topics,
            })
        })
        .collect()
}

/// Counters of one cluster's poller, for /metrics.
#[derive(Debug, Default)]
pub struct PollerStats {
    pub rounds: AtomicU64,
    pub errors_metadata: AtomicU64,
    pub errors_watermarks: AtomicU64,
    pub errors_committed: AtomicU64,
    /// Completion time of the last round in which every read succeeded (0: never).
    pub last_complete_round: AtomicI64,
}

/// The running oracle: the board workers read, and the poller threads.
pub struct OracleHandle {
    pub board: Arc<OffsetsBoard>,
    pub stats: HashMap<String, Arc<PollerStats>>,
    /// What each cluster's poller reads, swapped whole when the lineage changes.
    pub watched: WatchedSet,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// The topics and groups each poller reads, by cluster; cloned into whoever changes them.
#[derive(Clone, Debug, Default)]
pub struct WatchedSet(HashMap<String, Arc<ArcSwap<WatchedTopics>>>);

impl WatchedSet {
    /// Polls what `watches` name from the next round on; a cluster they leave out polls
    /// nothing. Clusters without a poller (not declared at start) are ignored.
    pub fn set(&self, watches: &[ClusterWatch]) {
        for (cluster, topics) in &self.0 {
            let wanted = watches
                .iter()
                .find(|w| &w.cluster.name == cluster)
                .map(|w| w.topics.clone())
                .unwrap_or_default();
            topics.store(Arc::new(wanted));
        }
    }

    /// What `cluster`'s poller reads now.
    pub fn get(&self, cluster: &str) -> Option<Arc<WatchedTopics>> {
        self.0.get(cluster).map(|t| t.load_full())
    }
}

impl OracleHandle {
    /// Stops the pollers and waits for them.
    pub fn shutdown(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Starts one poller thread per watched cluster. The first round runs before this returns
/// only in the sense that it is started; readers see empty snapshots (so wait) until it lands.
pub fn spawn_oracle(
    watches: Vec<ClusterWatch>,
    poll_interval: Duration,
    request_timeout: Duration,
) -> std::io::Result<OracleHandle> {
    let board = Arc::new(OffsetsBoard::new(
        watches.iter().map(|w| w.cluster.name.as_str()),
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let mut stats = HashMap::new();
    let mut watched = HashMap::new();
    let mut threads = Vec::new();
    for watch in watches {
        let cluster_stats = Arc::new(PollerStats::default());
        stats.insert(watch.cluster.name.clone(), cluster_stats.clone());
        let mut poller = ClusterPoller::new(watch, request_timeout, board.clone(), cluster_stats);
        watched.insert(poller.cluster.name.clone(), poller.topics.clone());
        let stop = stop.clone();
        let name = format!("oracle-{}", poller.cluster.name);
        threads.push(std::thread::Builder::new().name(name).spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                poller.round();
                sleep_unless_stopped(poll_interval, &stop);
            }
        })?);
    }
    Ok(OracleHandle {
        board,
        stats,
        watched: WatchedSet(watched),
        stop,
        threads,
    })
}

fn sleep_unless_stopped(total: Duration, stop: &AtomicBool) {
    let step = Duration::from_millis(50);
    let mut slept = Duration::ZERO;
    while slept < total && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(step.min(total - slept));
        slept += step;
    }
}

/// Polls one cluster; keeps the last good value of everything it could not read this round.
pub struct ClusterPoller {
    cluster: ClusterConfig,
    topics: Arc<ArcSwap<WatchedTopics>>,
    timeout: Duration,
    base: ClientConfig,
    /// One passive reader per group, made on first use; `metadata` reads partitions and watermarks.
    readers: HashMap<String, GroupOffsetsReader>,
    metadata: Option<GroupOffsetsReader>,
    last: ClusterOffsets,
    board: Arc<OffsetsBoard>,
    stats: Arc<PollerStats>,
}

impl ClusterPoller {
    pub fn new(
        watch: ClusterWatch,
        timeout: Duration,
        board: Arc<OffsetsBoard>,
        stats: Arc<PollerStats>,
    ) -> Self {
        let base = client_config(&watch.cluster);
        ClusterPoller {
            cluster: watch.cluster,
            topics: Arc::new(ArcSwap::from_pointee(watch.topics)),
            timeout,
            base,
            readers: HashMap::new(),
            metadata: None,
            last: ClusterOffsets::default(),
            board,
            stats,
        }
    }

    /// One poll of every watched topic and group, then a publish.
    pub fn round(&mut self) {
        let cluster = self.cluster.name.as_str();
        let watched = self.topics.load_full();
        // A topic the lineage no longer names is forgotten, not left to turn stale.
        self.last
            .topics
            .retain(|topic, _| watched.contains_key(topic));
        if self.metadata.is_none() {
            // The consumer API wants a group id; this client never joins or commits with it.
            match GroupOffsetsReader::new(&self.base, "cairn-oracle-metadata") {
                Ok(reader) => self.metadata = Some(reader),
                Err(err) => {
                    self.stats.errors_metadata.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(cluster, error = %err, "oracle could not create a client");
                }
            }
        }
        let mut complete = self.metadata.is_some();
        if let Some(metadata) = &self.metadata {
            for (topic, groups) in watched.iter() {
                let poll = TopicPoll {
                    cluster,
                    topic,
                    timeout: self.timeout,
                    base: &self.base,
                    stats: &self.stats,
                    metadata,
                };
                let entry = self.last.topics.entry(topic.clone()).or_default();
                complete &= poll.run(groups, &mut self.readers, entry);
            }
        }
        let now = now_millis();
        if complete {
            self.last.polled_at = now;
            self.stats.last_complete_round.store(now, Ordering::Relaxed);
        }
        self.stats.rounds.fetch_add(1, Ordering::Relaxed);
        self.board.publish(cluster, self.last.clone());
    }
}

/// The reads of one topic in one round.
struct TopicPoll<'a> {
    cluster: &'a str,
    topic: &'a str,
    timeout: Duration,
    base: &'a ClientConfig,
    stats: &'a PollerStats,
    metadata: &'a GroupOffsetsReader,
}

impl TopicPoll<'_> {
    /// Updates `entry` with what could be read; returns whether every read succeeded.
    fn run(
        &self,
        groups: &BTreeSet<String>,
        readers: &mut HashMap<String, GroupOffsetsReader>,
        entry: &mut TopicOffsets,
    ) -> bool {
        let (cluster, topic) = (self.cluster, self.topic);
        let partitions = match self.metadata.partitions(topic, self.timeout) {
            Ok(partitions) => partitions,
            Err(err) => {
                self.stats.errors_metadata.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(cluster, topic, error = %err, "oracle could not read topic metadata");
                return false;
            }
        };
        // A topic that does not exist yet has no partitions: nothing to know, nothing wrong.
        let width = partitions
            .iter()
            .map(|&p| p as usize + 1)
            .max()
            .unwrap_or(0);
        let mut complete = true;
        entry.committed.retain(|group, _| groups.contains(group));
        entry.log_start.resize(width, None);
        entry.log_end.resize(width, None);
        for &partition in &partitions {
            match self.metadata.watermarks(topic, partition, self.timeout) {
                Ok(marks) => {
                    let read_at = now_millis();
                    let slot = partition as usize;
                    entry.log_start[slot] = Some(Observed {
                        value: marks.log_start,
                        read_at,
                    });
                    entry.log_end[slot] = Some(Observed {
                        value: marks.log_end,
                        read_at,
                    });
                }
                Err(err) => {
                    complete = false;
                    self.stats.errors_watermarks.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(cluster, topic, partition, error = %err, "oracle could not read watermarks");
                }
            }
        }
        for group in groups {
            let reader = match readers.entry(group.clone()) {
                Entry::Occupied(known) => known.into_mut(),
                Entry::Vacant(new) => match GroupOffsetsReader::new(self.base, group) {
                    Ok(reader) => new.insert(reader),
                    Err(err) => {
                        complete = false;
                        log_committed_error(self.stats, cluster, &err);
                        continue;
                    }
                },
            };
            match reader.committed(topic, &partitions, self.timeout) {
                Ok(committed) => {
                    let read_at = now_millis();
                    let slots = entry.committed.entry(group.clone()).or_default();
                    slots.resize(width, None);
                    for (partition, offset) in committed {
                        // "Nothing committed" is a fresh fact too: the group has read nothing.
                        slots[partition as usize] = offset.map(|value| Observed { value, read_at });
                    }
                }
                Err(err) => {
                    complete = false;
                    log_committed_error(self.stats, cluster, &err);
                }
            }
        }
        complete
    }
}

fn log_committed_error(stats: &PollerStats, cluster: &str, err: &OffsetsError) {
    stats.errors_committed.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(cluster, error = %err, "oracle could not read committed offsets");
}
