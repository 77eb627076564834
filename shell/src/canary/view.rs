//! What the running canary shares between its threads and shows outside: per cluster the
//! core (fed by the producer's delivery callbacks, the consumer and the manager), the latest
//! report, the partitions the consumer has taken and the producer may use, and error counts.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use std::collections::VecDeque;

use cairn_core::canary::consistency::MismatchIncident;
use cairn_core::canary::report::ClusterReport;
use cairn_core::canary::{CanaryCluster, CanarySettings};
use parking_lot::Mutex;
use tokio::sync::mpsc;

/// Where the consumer must start a partition the manager found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartAt {
    /// A partition that held records before this run: its current end.
    End,
    /// A partition the canary just created: its first offset.
    Beginning,
}

/// The partitions the consumer should hold; `epoch` changes when the topic was recreated
/// (everything is assigned again from the beginning).
#[derive(Clone, Debug, Default)]
pub struct Wanted {
    pub epoch: u64,
    pub partitions: BTreeMap<i32, StartAt>,
}

/// One cluster's side of the canary.
pub struct ClusterSlot {
    pub name: String,
    pub core: Mutex<CanaryCluster>,
    pub latest: Mutex<Option<ClusterReport>>,
    /// Written by the manager, read by the consumer when `wanted_version` moved.
    pub wanted: Mutex<Wanted>,
    pub wanted_version: AtomicU64,
    /// Partitions the consumer holds: only those are sent to.
    pub sendable: Mutex<Vec<i32>>,
    /// (operation) → failed Kafka operations.
    pub errors: Mutex<BTreeMap<&'static str, u64>>,
    /// Set once the topic is in place and the consumer holds its partitions.
    pub ready: AtomicBool,
    /// Recent `metadata_mismatch` records, newest last.
    pub incidents: Mutex<VecDeque<MismatchIncident>>,
    /// (kind) → incidents opened.
    pub opened: Mutex<BTreeMap<&'static str, u64>>,
    /// The publisher's queue, when an incidents topic or a webhook is set.
    outbox: OnceLock<mpsc::Sender<MismatchIncident>>,
    /// The canary topic, named in ACL hints.
    topic: String,
    /// Operations whose refusal was logged at error level.
    denied_logged: Mutex<BTreeSet<&'static str>>,
}

/// Incident records each cluster keeps for `/api/incidents`.
pub const RECENT_INCIDENTS: usize = 1_000;

impl ClusterSlot {
    pub fn new(settings: CanarySettings) -> ClusterSlot {
        let topic = settings.topic.clone();
        ClusterSlot {
            name: settings.cluster.clone(),
            core: Mutex::new(CanaryCluster::new(settings)),
            latest: Mutex::new(None),
            wanted: Mutex::new(Wanted::default()),
            wanted_version: AtomicU64::new(0),
            sendable: Mutex::new(Vec::new()),
            errors: Mutex::new(BTreeMap::new()),
            ready: AtomicBool::new(false),
            incidents: Mutex::new(VecDeque::new()),
            opened: Mutex::new(BTreeMap::new()),
            outbox: OnceLock::new(),
            topic,
            denied_logged: Mutex::new(BTreeSet::new()),
        }
    }

    /// Queues incident records for the incidents topic and the webhooks.
    pub fn set_outbox(&self, outbox: mpsc::Sender<MismatchIncident>) {
        let _ = self.outbox.set(outbox);
    }

    /// Keeps an incident record for `/api/incidents`, counts an open one, and queues it for
    /// the publisher (without waiting: a full queue is counted, the record stays here).
    pub fn incident(&self, incident: MismatchIncident) {
        if incident.incident == cairn_core::watch::incident::Phase::Open {
            *self.opened.lock().entry("metadata_mismatch").or_default() += 1;
        }
        if let Some(outbox) = self.outbox.get()
            && let Err(err) = outbox.try_send(incident.clone())
        {
            self.error("incidents_queue", &err);
        }
        let mut recent = self.incidents.lock();
        recent.push_back(incident);
        while recent.len() > RECENT_INCIDENTS {
            recent.pop_front();
        }
    }

    /// Counts a failed operation and logs it; a refusal names the ACL it needs (logged once
    /// per operation at error level, then at debug: a refused producer fails every send).
    pub fn error(&self, operation: &'static str, error: &dyn std::fmt::Display) {
        *self.errors.lock().entry(operation).or_default() += 1;
        let text = error.to_string();
        match super::acl::needed(operation, &self.topic, &text) {
            Some(acl) if self.denied_logged.lock().insert(operation) => tracing::error!(
                cluster = %self.name, operation, error = %text, acl = %acl,
                "canary operation not authorized: grant the canary's principal the ACL named"
            ),
            Some(acl) => {
                tracing::debug!(cluster = %self.name, operation, error = %text, acl = %acl,
                "canary operation not authorized")
            }
            None => {
                tracing::warn!(cluster = %self.name, operation, error = %text, "canary operation failed")
            }
        }
    }

    /// Replaces what the consumer should hold.
    pub fn want(&self, wanted: Wanted) {
        *self.wanted.lock() = wanted;
        self.wanted_version.fetch_add(1, Ordering::AcqRel);
    }
}

/// Everything HTTP reads.
pub struct CanaryView {
    pub run: String,
    pub instance: String,
    pub clusters: Vec<std::sync::Arc<ClusterSlot>>,
}

impl CanaryView {
    /// Ready once every cluster's canary topic is in place and its consumer holds the
    /// partitions; else the reason, naming the clusters still waited for (`/readyz`).
    pub fn readiness(&self) -> Result<(), String> {
        let waiting: Vec<&str> = self
            .clusters
            .iter()
            .filter(|s| !s.ready.load(Ordering::Acquire) || s.latest.lock().is_none())
            .map(|s| s.name.as_str())
            .collect();
        if waiting.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "waiting for the canary topic and consumer on: {}",
                waiting.join(", ")
            ))
        }
    }

    /// The latest report of every cluster that has one.
    pub fn reports(&self) -> Vec<ClusterReport> {
        self.clusters
            .iter()
            .filter_map(|slot| slot.latest.lock().clone())
            .collect()
    }
}
