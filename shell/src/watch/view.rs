//! What the running watch shows outside: each cluster's latest report, the evaluators (for
//! history), recent incidents, counters and readiness. Pollers write it; HTTP only reads it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use cairn_core::scale::{Advice, Planner};
use cairn_core::watch::{Evaluator, GroupHistory, Incident, Phase, Retention, RoundReport};
use parking_lot::Mutex;

use super::leader::LeaderHandle;
use super::respond::log::ActionLog;

/// Incidents `/api/incidents` keeps, newest first.
pub const RECENT_INCIDENTS: usize = 1_000;

/// One cluster's side of the view.
pub struct ClusterView {
    pub name: String,
    /// The evaluator of this cluster's rounds (each cluster is judged on its own, so that one
    /// cluster's round never drops another's groups).
    pub evaluator: Mutex<Evaluator>,
    pub latest: Mutex<Option<RoundReport>>,
    /// Set once the first round completed.
    pub ready: AtomicBool,
    pub rounds: AtomicU64,
    /// How long the last completed round took, in microseconds (0 before the first).
    pub last_round_micros: AtomicU64,
    /// Groups seen rebalancing: since when, and whether it was reported as long.
    pub rebalancing: Mutex<BTreeMap<String, Rebalance>>,
    /// The retention of the topics watched groups read, as last read.
    pub retention: Mutex<HashMap<String, Retention>>,
    /// Each group's retention headroom in seconds, worked out once per round when the report
    /// is judged (see `poller::judge`): `/metrics` reads it here rather than going over every
    /// partition of the report under its lock at each scrape, which held the round up.
    pub headroom: Mutex<HashMap<String, f64>>,
    /// The autoscaling advisor's memory of this cluster's `[[scale.groups]]`.
    pub planner: Mutex<Planner>,
    /// Its latest advice, one per `[[scale.groups]]` entry of this cluster, in file order.
    pub scale: Mutex<Vec<Advice>>,
}

/// A rebalance in progress, as the rounds saw it.
#[derive(Clone, Copy, Debug)]
pub struct Rebalance {
    pub since: cairn_core::model::Millis,
    pub reported: bool,
}

/// Everything the pollers publish, for HTTP and `/metrics`.
pub struct WatchView {
    pub clusters: Vec<ClusterView>,
    recent: Mutex<VecDeque<Incident>>,
    /// Shared with side tasks (scale action hooks) that count after the round moved on.
    pub counters: Arc<WatchCounters>,
    /// `[watch] partition_metrics`: export lag per partition too.
    pub partition_metrics: bool,
    /// The runtime the watch's side tasks (scale action hooks) run on, once it is started.
    pub io: std::sync::OnceLock<tokio::runtime::Handle>,
    /// What the first responder did, for `/api/actions` and `/metrics`.
    pub actions: ActionLog,
    /// Whether this instance acts (publishes); always active without an election.
    pub leader: LeaderHandle,
}

/// Counters of the watch, by their bounded labels.
#[derive(Default)]
pub struct WatchCounters {
    /// (cluster, operation, reason) → failed reads.
    pub read_errors: Mutex<BTreeMap<(String, &'static str, &'static str), u64>>,
    /// (cluster, change) → changes of topics watched groups read.
    pub topic_changes: Mutex<BTreeMap<(String, &'static str), u64>>,
    /// cluster → rebalances that lasted longer than the group's window.
    pub long_rebalances: Mutex<BTreeMap<String, u64>>,
    /// cluster → committed offsets reader processes lost (died, hung or not started).
    pub readers_lost: Mutex<BTreeMap<String, u64>>,
    /// (cluster, kind) → incidents opened / closed.
    pub opened: Mutex<BTreeMap<(String, &'static str), u64>>,
    pub closed: Mutex<BTreeMap<(String, &'static str), u64>>,
    /// (cluster, `missing` | `future`) → first unread records with odd timestamps.
    pub odd_timestamps: Mutex<BTreeMap<(String, &'static str), u64>>,
    pub webhook_failures: AtomicU64,
    /// (cluster, group) → the advisor's forecasts clamped to 0.
    pub clamped_forecasts: Mutex<BTreeMap<(String, String), u64>>,
    /// (cluster, group, outcome) → runs of a scale action hook.
    pub scale_hooks: Mutex<BTreeMap<(String, String, &'static str), u64>>,
}

impl WatchCounters {
    pub fn add(
        map: &Mutex<BTreeMap<(String, &'static str), u64>>,
        cluster: &str,
        label: &'static str,
        n: u64,
    ) {
        *map.lock().entry((cluster.to_owned(), label)).or_default() += n;
    }

    pub fn add3(
        map: &Mutex<BTreeMap<(String, &'static str, &'static str), u64>>,
        cluster: &str,
        first: &'static str,
        second: &'static str,
        n: u64,
    ) {
        *map.lock()
            .entry((cluster.to_owned(), first, second))
            .or_default() += n;
    }

    /// Adds `n` to a counter kept per (cluster, group).
    pub fn add_group(
        map: &Mutex<BTreeMap<(String, String), u64>>,
        cluster: &str,
        group: &str,
        n: u64,
    ) {
        *map.lock()
            .entry((cluster.to_owned(), group.to_owned()))
            .or_default() += n;
    }
}

impl WatchView {
    /// A view of `clusters`, each with an evaluator resumed from the incident `book`.
    pub fn new(clusters: Vec<(String, Evaluator)>) -> WatchView {
        WatchView {
            clusters: clusters
                .into_iter()
                .map(|(name, evaluator)| ClusterView {
                    name,
                    evaluator: Mutex::new(evaluator),
                    latest: Mutex::new(None),
                    ready: AtomicBool::new(false),
                    rounds: AtomicU64::new(0),
                    rebalancing: Mutex::new(BTreeMap::new()),
                    retention: Mutex::new(HashMap::new()),
                    headroom: Mutex::new(HashMap::new()),
                    planner: Mutex::new(Planner::new()),
                    scale: Mutex::new(Vec::new()),
                    last_round_micros: AtomicU64::new(0),
                })
                .collect(),
            recent: Mutex::new(VecDeque::new()),
            counters: Arc::new(WatchCounters::default()),
            partition_metrics: false,
            io: std::sync::OnceLock::new(),
            actions: ActionLog::default(),
            leader: LeaderHandle::single(),
        }
    }

    /// The same view for an instance whose role `leader` decides.
    pub fn with_leader(mut self, leader: LeaderHandle) -> WatchView {
        self.leader = leader;
        self
    }

    pub fn cluster(&self, name: &str) -> Option<&ClusterView> {
        self.clusters.iter().find(|c| c.name == name)
    }

    /// Ok once every cluster completed a round; else the clusters still waiting.
    pub fn readiness(&self) -> Result<(), Vec<&str>> {
        let waiting: Vec<&str> = self
            .clusters
            .iter()
            .filter(|c| !c.ready.load(Ordering::Acquire))
            .map(|c| c.name.as_str())
            .collect();
        if waiting.is_empty() {
            Ok(())
        } else {
            Err(waiting)
        }
    }

    /// Records incident records the active instance made on `cluster`: kept for
    /// `/api/incidents` and counted.
    pub fn record_incidents(&self, cluster: &str, incidents: &[Incident]) {
        for incident in incidents {
            let counter = match incident.phase {
                Phase::Open => &self.counters.opened,
                Phase::Close => &self.counters.closed,
            };
            WatchCounters::add(counter, cluster, incident.kind.as_str(), 1);
        }
        let mut recent = self.recent.lock();
        for incident in incidents {
            recent.push_front(incident.clone());
        }
        recent.truncate(RECENT_INCIDENTS);
    }

    /// Recent incident records, newest first.
    pub fn recent_incidents(&self, limit: usize) -> Vec<Incident> {
        self.recent.lock().iter().take(limit).cloned().collect()
    }

    pub fn history(&self, cluster: &str, group: &str) -> Option<GroupHistory> {
        self.cluster(cluster)?
            .evaluator
            .lock()
            .history(cluster, group)
    }
}
