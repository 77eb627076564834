//! The manager of one cluster: once a second it reads the cluster's metadata for the canary
//! topic, tells the core the brokers and leaders, judges the ledgers and keeps the report;
//! every `management_interval` it makes sure every live broker leads a canary partition
//! (creating or extending the topic with explicit assignments). A topic deleted underneath is
//! made again at once and reported, not counted as loss.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cairn_core::canary::consistency::{MetadataJudge, MetadataRound, QuorumState};
use cairn_core::canary::placement::{TopicPlan, plan};
use cairn_core::canary::report::QuorumSummary;
use cairn_core::config::{CanarySection, ClusterConfig};
use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::types::RDKafkaRespErr;

use super::view::{ClusterSlot, StartAt, Wanted};
use super::{events, wire};
use crate::clock::now_millis;
use crate::kafka::client::{client_config, set_default};

/// How often the core judges and the report is refreshed.
pub const TICK: Duration = Duration::from_secs(1);

/// The most a per-broker request of the consistency check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a topic this run created may stay missing from the metadata.
const CREATE_PROPAGATION: Duration = Duration::from_secs(10);

/// What the metadata says about the cluster and the canary topic.
pub struct ClusterMetadata {
    pub brokers: Vec<(i32, String)>,
    /// `None`: the topic does not exist.
    pub partitions: Option<Vec<PartitionMetadata>>,
}

pub struct PartitionMetadata {
    pub id: i32,
    pub leader: i32,
    pub replicas: Vec<i32>,
}

/// Starts the manager thread of `slot`'s cluster.
pub fn spawn_manager(
    cluster: &ClusterConfig,
    section: &CanarySection,
    slot: Arc<ClusterSlot>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<JoinHandle<()>> {
    let mut config = client_config(cluster);
    set_default(&mut config, "allow.auto.create.topics", "false");
    let admin: AdminClient<DefaultClientContext> = config.create()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let section = section.clone();
    let judge = MetadataJudge::new(
        &slot.name,
        i64::try_from(section.grace.as_millis()).unwrap_or(i64::MAX),
    );
    let handle = std::thread::Builder::new()
        .name(format!("canary-manage-{}", slot.name))
        .spawn(move || {
            let mut manager = Manager {
                admin,
                runtime,
                section,
                slot,
                wanted: Wanted::default(),
                ours: BTreeSet::new(),
                existed: false,
                recreated_elsewhere: false,
                created_at: None,
                last_managed: None,
                judge,
                last_checked: None,
                addresses: BTreeMap::new(),
            };
            while !stop.load(Ordering::Acquire) {
                let started = Instant::now();
                manager.round();
                let rest = TICK.saturating_sub(started.elapsed());
                sleep_unless_stopped(rest, &stop);
            }
        })?;
    Ok(handle)
}

fn sleep_unless_stopped(total: Duration, stop: &AtomicBool) {
    let until = Instant::now() + total;
    while !stop.load(Ordering::Acquire) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

struct Manager {
    admin: AdminClient<DefaultClientContext>,
    runtime: tokio::runtime::Runtime,
    section: CanarySection,
    slot: Arc<ClusterSlot>,
    wanted: Wanted,
    /// Partitions this run created: read from their first offset.
    ours: BTreeSet<i32>,
    /// The topic was seen in the metadata by this run.
    existed: bool,
    /// Consume mode: the topic went away and came back (made by a writer): read it all.
    recreated_elsewhere: bool,
    /// When this run last created the topic: a new topic takes a moment to show in the
    /// metadata, and is not "deleted underneath" meanwhile.
    created_at: Option<Instant>,
    last_managed: Option<Instant>,
    judge: MetadataJudge,
    last_checked: Option<Instant>,
    /// Every broker seen in the metadata since the start, for the per-broker requests: a
    /// broker the controllers fenced drops out of the metadata but may still serve clients.
    addresses: BTreeMap<i32, String>,
}

impl Manager {
    fn round(&mut self) {
        match self.read_metadata() {
            Ok(metadata) => {
                self.addresses.extend(metadata.brokers.iter().cloned());
                self.apply(metadata);
            }
            Err(err) => self.slot.error("metadata", &err),
        }
        let check_due = self
            .last_checked
            .is_none_or(|at| at.elapsed() >= self.section.metadata_interval);
        if check_due && !self.addresses.is_empty() {
            self.last_checked = Some(Instant::now());
            self.check_consistency();
        }
        let now = now_millis();
        let mut core = self.slot.core.lock();
        let lost = core.tick(now);
        let report = core.report(now);
        drop(core);
        if !lost.is_empty() {
            events::HeartbeatsLost {
                cluster: &self.slot.name,
                lost: &lost,
            }
            .emit();
        }
        *self.slot.latest.lock() = Some(report);
    }

    fn apply(&mut self, metadata: ClusterMetadata) {
        let due = self
            .last_managed
            .is_none_or(|at| at.elapsed() >= self.section.management_interval);
        let live: Vec<i32> = metadata.brokers.iter().map(|(id, _)| *id).collect();
        let Some(partitions) = metadata.partitions else {
            // Missing: made at once when it was deleted underneath, else when due; not while
            // a creation of ours is still on its way into the metadata.
            let propagating = self
                .created_at
                .is_some_and(|at| at.elapsed() < CREATE_PROPAGATION);
            if !self.section.mode.produces() {
                // A reader leaves the topic to its writers; if it comes back, it is new.
                if self.existed {
                    self.existed = false;
                    self.recreated_elsewhere = true;
                    self.slot.core.lock().topic_recreated();
                    self.wanted = Wanted {
                        epoch: self.wanted.epoch + 1,
                        partitions: BTreeMap::new(),
                    };
                    self.publish_wanted();
                }
            } else if !propagating && (self.existed || due) {
                self.last_managed = Some(Instant::now());
                self.create(&live);
            }
            self.slot.core.lock().metadata(&metadata.brokers, &[]);
            return;
        };
        self.existed = true;
        self.created_at = None;
        let leaders: Vec<(i32, i32)> = partitions.iter().map(|p| (p.id, p.leader)).collect();
        self.slot.core.lock().metadata(&metadata.brokers, &leaders);
        let mut changed = false;
        for p in &partitions {
            if !self.wanted.partitions.contains_key(&p.id) {
                let start = if self.ours.contains(&p.id) || self.recreated_elsewhere {
                    StartAt::Beginning
                } else {
                    StartAt::End
                };
                self.wanted.partitions.insert(p.id, start);
                changed = true;
            }
        }
        if changed {
            self.publish_wanted();
        }
        if due && self.section.mode.produces() {
            self.last_managed = Some(Instant::now());
            let mut replicas: Vec<(i32, Vec<i32>)> = partitions
                .iter()
                .map(|p| (p.id, p.replicas.clone()))
                .collect();
            replicas.sort_by_key(|(id, _)| *id);
            let current: Vec<Vec<i32>> = replicas.into_iter().map(|(_, r)| r).collect();
            if let TopicPlan::Extend { total, assignments } =
                plan(&live, Some(&current), self.section.replication)
            {
                self.extend(total, &assignments);
            }
        }
    }

    fn create(&mut self, live: &[i32]) {
        let TopicPlan::Create { assignments } = plan(live, None, self.section.replication) else {
            return;
        };
        let refs: Vec<&[i32]> = assignments.iter().map(Vec::as_slice).collect();
        let mut topic = NewTopic::new(
            &self.section.topic,
            assignments.len() as i32,
            TopicReplication::Variable(&refs),
        );
        for (key, value) in &self.section.topic_config {
            topic = topic.set(key, value);
        }
        let options = self.options();
        let result = self
            .runtime
            .block_on(self.admin.create_topics([&topic], &options));
        let outcome = match result {
            Ok(results) => results.into_iter().try_for_each(|r| match r {
                Ok(_) => Ok(()),
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => Ok(()),
                Err((_, code)) => Err(code.to_string()),
            }),
            Err(err) => Err(err.to_string()),
        };
        if let Err(err) = outcome {
            self.slot.error("create", &err);
            return;
        }
        let recreated = self.existed;
        let kind = if recreated { "recreated" } else { "created" };
        {
            let mut core = self.slot.core.lock();
            if recreated {
                core.topic_recreated();
            } else {
                core.topic_change(kind);
            }
        }
        events::TopicChanged {
            cluster: &self.slot.name,
            topic: &self.section.topic,
            kind,
            partitions: assignments.len(),
        }
        .emit();
        self.existed = false;
        self.created_at = Some(Instant::now());
        self.ours = (0..assignments.len() as i32).collect();
        self.wanted = Wanted {
            epoch: self.wanted.epoch + u64::from(recreated),
            partitions: BTreeMap::new(),
        };
        self.publish_wanted();
    }

    /// Tells the consumer which partitions to hold. Without a consumer (produce mode) the
    /// producer may send to every partition at once, and the canary is ready once it has one.
    fn publish_wanted(&mut self) {
        self.slot.want(self.wanted.clone());
        if !self.section.mode.consumes() {
            *self.slot.sendable.lock() = self.wanted.partitions.keys().copied().collect();
            if !self.wanted.partitions.is_empty() {
                self.slot.ready.store(true, Ordering::Release);
            }
        }
    }

    fn extend(&mut self, total: usize, assignments: &[Vec<i32>]) {
        let refs: Vec<&[i32]> = assignments.iter().map(Vec::as_slice).collect();
        let request = NewPartitions::new(&self.section.topic, total).assign(&refs);
        let options = self.options();
        let result = self
            .runtime
            .block_on(self.admin.create_partitions([&request], &options));
        let outcome = match result {
            Ok(results) => results.into_iter().try_for_each(|r| match r {
                Ok(_) => Ok(()),
                Err((_, code)) => Err(code.to_string()),
            }),
            Err(err) => Err(err.to_string()),
        };
        if let Err(err) = outcome {
            self.slot.error("extend", &err);
            return;
        }
        let first_new = total - assignments.len();
        self.ours.extend(first_new as i32..total as i32);
        self.slot.core.lock().topic_change("extended");
        events::TopicChanged {
            cluster: &self.slot.name,
            topic: &self.section.topic,
            kind: "extended",
            partitions: total,
        }
        .emit();
    }

    /// Asks every broker for its own metadata and the quorum for its state, and judges them.
    fn check_consistency(&mut self) {
        // A round never takes longer than the interval, whatever a silent broker does.
        let timeout = self
            .section
            .request_timeout
            .min(CHECK_TIMEOUT)
            .min(self.section.metadata_interval);
        let addresses: Vec<(i32, String)> = self
            .addresses
            .iter()
            .map(|(id, a)| (*id, a.clone()))
            .collect();
        let (answers, quorum) = self.runtime.block_on(async {
            let mut asks = tokio::task::JoinSet::new();
            for (id, addr) in addresses.clone() {
                asks.spawn(async move { (id, wire::broker_metadata(&addr, timeout).await) });
            }
            let mut answers = Vec::new();
            while let Some(Ok(answer)) = asks.join_next().await {
                answers.push(answer);
            }
            // A broker cut off from the quorum may answer late or from its stale view: ask
            // every broker at once, keep the newest answer (highest epoch, then high watermark).
            let mut asks = tokio::task::JoinSet::new();
            for (_, addr) in addresses.clone() {
                asks.spawn(async move { wire::describe_quorum(&addr, timeout).await });
            }
            let mut quorum: Result<QuorumState, Option<wire::WireError>> = Err(None);
            while let Some(Ok(answer)) = asks.join_next().await {
                match (answer, &quorum) {
                    (Ok(q), Ok(best))
                        if (q.leader_epoch, q.high_watermark)
                            <= (best.leader_epoch, best.high_watermark) => {}
                    (Ok(q), _) => quorum = Ok(q),
                    (Err(err), Err(_)) => quorum = Err(Some(err)),
                    (Err(_), Ok(_)) => {}
                }
            }
            (answers, quorum)
        });
        let mut round = MetadataRound {
            at: now_millis(),
            ..MetadataRound::default()
        };
        for (id, answer) in answers {
            match answer {
                Ok(metadata) => {
                    round.brokers.insert(id, Some(metadata));
                }
                Err(err) => {
                    self.slot.error("broker_metadata", &err);
                    round.brokers.insert(id, None);
                }
            }
        }
        match quorum {
            Ok(q) => round.quorum = Some(q),
            Err(Some(err)) => self.slot.error("describe_quorum", &err),
            Err(None) => {}
        }
        for (id, answer) in &round.brokers {
            if let Some(m) = answer {
                tracing::debug!(cluster = %self.slot.name, broker = id, brokers = ?m.brokers,
                    partitions = m.partitions.len(), "broker metadata");
            }
        }
        if let Some(q) = &round.quorum {
            tracing::debug!(cluster = %self.slot.name, leader = q.leader, epoch = q.leader_epoch,
                hw = q.high_watermark, replicas = ?q.replicas, "quorum");
        }
        let incidents = self.judge.round(&round);
        {
            let mut core = self.slot.core.lock();
            core.set_inconsistent(self.judge.inconsistent());
            if let Some(q) = &round.quorum {
                core.set_quorum(QuorumSummary {
                    leader: q.leader,
                    leader_epoch: q.leader_epoch,
                    high_watermark: q.high_watermark,
                    replicas: q
                        .replicas
                        .iter()
                        .map(|(id, r)| (*id, r.log_end_offset))
                        .collect(),
                    at: round.at,
                });
            }
        }
        for incident in incidents {
            events::MetadataMismatch {
                incident: &incident,
            }
            .emit();
            self.slot.incident(incident);
        }
    }

    fn options(&self) -> AdminOptions {
        AdminOptions::new()
            .operation_timeout(Some(self.section.request_timeout))
            .request_timeout(Some(self.section.request_timeout))
    }

    fn read_metadata(&self) -> Result<ClusterMetadata, rdkafka::error::KafkaError> {
        let metadata = self
            .admin
            .inner()
            .fetch_metadata(Some(&self.section.topic), self.section.request_timeout)?;
        let brokers = metadata
            .brokers()
            .iter()
            .map(|b| (b.id(), format!("{}:{}", b.host(), b.port())))
            .collect();
        let partitions = metadata
            .topics()
            .iter()
            .find(|t| t.name() == self.section.topic)
            .and_then(|t| match t.error() {
                Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) => None,
                _ if t.partitions().is_empty() => None,
                _ => Some(
                    t.partitions()
                        .iter()
                        .map(|p| PartitionMetadata {
                            id: p.id(),
                            leader: p.leader(),
                            replicas: p.replicas().to_vec(),
                        })
                        .collect(),
                ),
            });
        Ok(ClusterMetadata {
            brokers,
            partitions,
        })
    }
}
