//! The first responder: a task of `cairn watch` that takes the incident records the watch
//! publishes, asks [`cairn_core::respond::Responder`] what to do, stores that decision, runs
//! it ([`execute`]), and audits every action ([`log`]): the actions topic, `/api/actions`,
//! `/metrics`, the log. `docs/respond.md` explains the policy.
//!
//! It acts only while this instance is the active one ([`ActiveFlag`]); an inactive instance
//! leaves incidents to the active one.

pub mod execute;
pub mod history;
pub mod log;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use cairn_core::config::{RespondAction, WatchConfig};
use cairn_core::respond::record::{ActionRecord, VERSION, encode as encode_action};
use cairn_core::respond::template::{command_env, render_body};
use cairn_core::respond::{ActionKind, Decision, Outcome, Responder, Via};
use cairn_core::watch::incident::{
    Evidence, OpenIncident, PartitionEvidence, encode as encode_incident,
};
use cairn_core::watch::{ConsumerState, GroupState, Incident, Phase};
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::sync::mpsc;

use self::execute::{Finished, call_http, post_webhooks, run_command};
use self::history::read_actions;
use self::log::RespondStore;
use super::view::WatchView;
use crate::clock::now_millis;
use crate::kafka::client::client_config;

/// Whether this instance acts: the election's answer, or always when there is none.
pub type ActiveFlag = Arc<dyn Fn() -> bool + Send + Sync>;

/// The watch's open incidents now (its incident book), read when the responder becomes active.
pub type OpenIncidents = Arc<dyn Fn() -> Vec<OpenIncident> + Send + Sync>;

/// The flag of a watch that runs alone.
pub fn always_active() -> ActiveFlag {
    Arc::new(|| true)
}

/// Incident records waiting for the responder.
const QUEUE: usize = 10_000;
/// How often relaunches are checked against their `verify_within`.
const TICK: Duration = Duration::from_millis(500);
/// How long actions still running at shutdown may take to finish and be audited.
const DRAIN: Duration = Duration::from_secs(10);
/// How long reading the actions topic back may take when the instance becomes active.
const HISTORY_TIMEOUT: Duration = Duration::from_secs(10);

/// A running responder: where incident records go, and its task.
pub struct ResponderHandle {
    pub incidents: mpsc::Sender<Incident>,
    pub task: tokio::task::JoinHandle<()>,
}

/// Starts the responder if `[[respond.groups]]` has entries; call inside the runtime.
///
/// Each time the instance becomes active (at start, when it is), the responder first learns
/// what was done from the actions topic (if configured: another instance may have acted), then
/// reconciles with the watch's open incidents (`book`): one never acted on is acted on now.
pub fn spawn_responder(
    config: &WatchConfig,
    db: sled::Db,
    book: OpenIncidents,
    view: Arc<WatchView>,
    active: ActiveFlag,
) -> anyhow::Result<Option<ResponderHandle>> {
    let respond = &config.respond;
    if respond.groups.is_empty() {
        return Ok(None);
    }
    let mut store = RespondStore::open(db).context("opening the responder's store")?;
    let mut core = Responder::new(
        respond
            .groups
            .iter()
            .map(|g| ((g.cluster.clone(), g.group.clone()), g.policy())),
    );
    if let Some(bytes) = store
        .load_state()
        .context("reading the responder's state")?
    {
        core.restore(&bytes).context(
            "the stored responder state is unreadable (delete the watch store to start afresh)",
        )?;
    }
    view.actions.restore(store.recent());
    let topic = match &respond.actions_topic {
        Some(location) => {
            let cluster = config
                .cluster(&location.cluster)
                .expect("the config validates that actions_topic names a declared cluster");
            let producer: FutureProducer = client_config(cluster)
                .set("enable.idempotence", "true")
                .set("acks", "all")
                .create()
                .context("creating the actions producer")?;
            Some((producer, location.topic.clone()))
        }
        None => None,
    };
    let history = respond.actions_topic.as_ref().map(|location| {
        let cluster = config
            .cluster(&location.cluster)
            .expect("the config validates that actions_topic names a declared cluster");
        (client_config(cluster), location.topic.clone())
    });
    let actions: GroupActions = respond
        .groups
        .iter()
        .map(|g| {
            (
                (g.cluster.clone(), g.group.clone()),
                (g.action.clone(), g.timeout),
            )
        })
        .collect();
    let (sender, receiver) = mpsc::channel(QUEUE);
    let mut task = Task {
        core,
        store,
        view,
        active,
        actions: Arc::new(actions),
        webhooks: Arc::new(respond.webhooks.clone()),
        topic: Arc::new(topic),
        history,
        book,
        was_active: false,
        http: reqwest::Client::new(),
        open: BTreeMap::new(),
        in_flight: 0,
    };
    let handle = tokio::spawn(async move { task.run(receiver).await });
    Ok(Some(ResponderHandle {
        incidents: sender,
        task: handle,
    }))
}

/// Per (cluster, group): its relaunch, if any, and the action's timeout.
type GroupActions = BTreeMap<(String, String), (Option<RespondAction>, Duration)>;

/// The responder's task state.
struct Task {
    core: Responder,
    store: RespondStore,
    view: Arc<WatchView>,
    active: ActiveFlag,
    /// Per configured group: its relaunch and timeout.
    actions: Arc<GroupActions>,
    webhooks: Arc<Vec<cairn_core::config::Webhook>>,
    topic: Arc<Option<(FutureProducer, String)>>,
    /// Where the actions topic is read back from when this instance becomes active.
    history: Option<(ClientConfig, String)>,
    book: OpenIncidents,
    /// Whether the instance was active at the last look.
    was_active: bool,
    http: reqwest::Client,
    /// The open record of each group's open incident: what a command gets on stdin.
    open: BTreeMap<(String, String), Incident>,
    in_flight: usize,
}

type Done = (Decision, Finished);

impl Task {
    async fn run(&mut self, mut incidents: mpsc::Receiver<Incident>) {
        let (done_tx, mut done_rx) = mpsc::channel::<Done>(QUEUE);
        self.is_active(&done_tx).await;
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                incident = incidents.recv() => {
                    let Some(incident) = incident else { break };
                    self.on_incident(incident, &done_tx).await;
                }
                _ = tick.tick() => {
                    if self.is_active(&done_tx).await {
                        let decisions = self.core.on_tick(now_millis());
                        self.dispatch(decisions, &done_tx).await;
                    }
                }
                Some(done) = done_rx.recv() => self.on_done(done, &done_tx).await,
            }
        }
        // The watch is stopping: let running actions finish and be audited.
        let deadline = tokio::time::Instant::now() + DRAIN;
        while self.in_flight > 0 {
            match tokio::time::timeout_at(deadline, done_rx.recv()).await {
                Ok(Some(done)) => self.on_done(done, &done_tx).await,
                _ => {
                    tracing::warn!(
                        running = self.in_flight,
                        "responder actions still running at shutdown were not audited"
                    );
                    break;
                }
            }
        }
    }

    async fn on_incident(&mut self, incident: Incident, done: &mpsc::Sender<Done>) {
        let key = (incident.cluster.clone(), incident.group.clone());
        if !self.core.covers(&key.0, &key.1) {
            return;
        }
        match incident.phase {
            Phase::Open => {
                self.open.insert(key, incident.clone());
            }
            Phase::Close => {
                self.open.remove(&key);
            }
        }
        if !self.is_active(done).await {
            return;
        }
        let decisions = self.core.on_incident(&incident, now_millis());
        self.dispatch(decisions, done).await;
    }

    /// Whether this instance acts now; on becoming active, catches up first.
    async fn is_active(&mut self, done: &mpsc::Sender<Done>) -> bool {
        let active = (self.active)();
        if active && !self.was_active {
            self.activate(done).await;
        }
        self.was_active = active;
        active
    }

    /// Learns what was done from the actions topic, then acts on open incidents nobody
    /// acted on.
    async fn activate(&mut self, done: &mpsc::Sender<Done>) {
        if let Some((client, topic)) = self.history.clone() {
            let read =
                tokio::task::spawn_blocking(move || read_actions(client, &topic, HISTORY_TIMEOUT))
                    .await;
            match read {
                Ok(Ok(records)) => {
                    tracing::info!(
                        records = records.len(),
                        "responder learnt the actions topic"
                    );
                    for record in &records {
                        self.core.learn(record);
                    }
                }
                Ok(Err(err)) => {
                    tracing::warn!(error = %err, "actions topic not read back: acting on this instance's own memory")
                }
                Err(err) => tracing::error!(error = %err, "reading the actions topic panicked"),
            }
        }
        let book = (self.book)();
        for incident in &book {
            let record = from_book(incident);
            self.open
                .entry((record.cluster.clone(), record.group.clone()))
                .or_insert(record);
        }
        let decisions = self.core.resume(&book, now_millis());
        self.dispatch(decisions, done).await;
    }

    async fn on_done(&mut self, (decision, finished): Done, done: &mpsc::Sender<Done>) {
        self.in_flight -= 1;
        let failed = !matches!(finished.outcome, Outcome::Ok | Outcome::Recorded);
        self.audit(&decision, finished).await;
        if failed {
            let decisions = self.core.on_failed(&decision, now_millis());
            self.dispatch(decisions, done).await;
        }
    }

    /// Stores the state the decisions left, then starts each of them.
    async fn dispatch(&mut self, decisions: Vec<Decision>, done: &mpsc::Sender<Done>) {
        if let Err(err) = self.store.save_state(self.core.to_bytes()).await {
            // Acting anyway: the incident is real, and the state is kept in memory; only a
            // restart before the next successful write could repeat it.
            self.view.actions.audit_failed();
            tracing::error!(error = %err, "responder state not stored");
        }
        for decision in decisions {
            tracing::info!(
                cluster = decision.cluster,
                group = decision.group,
                action = decision.action.as_str(),
                reason = decision.reason.as_str(),
                opened_at = decision.incident.opened_at,
                "responder acting"
            );
            self.in_flight += 1;
            let key = (decision.cluster.clone(), decision.group.clone());
            let incident = self
                .open
                .get(&key)
                .map(encode_incident)
                .unwrap_or_else(|| b"null".to_vec());
            let (action, timeout) = self
                .actions
                .get(&key)
                .cloned()
                .unwrap_or((None, Duration::ZERO));
            let (http, webhooks, done) = (self.http.clone(), self.webhooks.clone(), done.clone());
            tokio::spawn(async move {
                let finished = match decision.action {
                    ActionKind::Relaunch => {
                        relaunch(&http, action, timeout, &decision, incident).await
                    }
                    ActionKind::Notify | ActionKind::Escalate => {
                        let mut record = record_of(&decision, &Finished::pending());
                        record.via = if webhooks.is_empty() {
                            Via::None
                        } else {
                            Via::Webhook
                        };
                        post_webhooks(&http, &webhooks, encode_action(&record)).await
                    }
                };
                let _ = done.send((decision, finished)).await;
            });
        }
    }

    /// Writes the audit record everywhere it goes.
    async fn audit(&mut self, decision: &Decision, finished: Finished) {
        let cause = finished.cause;
        let record = record_of(decision, &finished);
        let level_failed = cause.is_some();
        if level_failed {
            tracing::warn!(
                cluster = record.cluster,
                group = record.group,
                action = record.action.as_str(),
                outcome = record.outcome.as_str(),
                error = record.error.as_deref().unwrap_or_default(),
                "responder action failed"
            );
        } else {
            tracing::info!(
                cluster = record.cluster,
                group = record.group,
                action = record.action.as_str(),
                outcome = record.outcome.as_str(),
                duration_ms = record.duration_ms,
                "responder action done"
            );
        }
        if let Err(err) = self.store.append(&record).await {
            self.view.actions.audit_failed();
            tracing::error!(error = %err, "action record not stored");
        }
        if let Some((producer, topic)) = self.topic.as_ref() {
            let key = format!("{}/{}", record.cluster, record.group);
            let payload = encode_action(&record);
            let sent = producer
                .send(
                    FutureRecord::to(topic).key(&key).payload(&payload),
                    Duration::from_secs(30),
                )
                .await;
            if let Err((err, _)) = sent {
                self.view.actions.audit_failed();
                tracing::error!(error = %err, "action record not published");
            }
        }
        self.view.actions.push(record, cause);
    }
}

/// Runs a group's relaunch.
async fn relaunch(
    http: &reqwest::Client,
    action: Option<RespondAction>,
    timeout: Duration,
    decision: &Decision,
    incident: Vec<u8>,
) -> Finished {
    let incident_json = String::from_utf8_lossy(&incident).into_owned();
    match action {
        Some(RespondAction::Command(argv)) => {
            run_command(
                &argv,
                &command_env(decision, &incident_json),
                incident,
                timeout,
            )
            .await
        }
        Some(RespondAction::Http {
            url,
            method,
            headers,
            body,
        }) => {
            let body = match body {
                Some(template) => render_body(&template, decision, &incident_json),
                None => incident_json,
            };
            call_http(http, &method, &url, &headers, body, timeout).await
        }
        None => Finished::pending().failed_without_action(),
    }
}

/// The audit record of a decision and how it ended.
fn record_of(decision: &Decision, finished: &Finished) -> ActionRecord {
    ActionRecord {
        v: VERSION,
        action: decision.action,
        cluster: decision.cluster.clone(),
        group: decision.group.clone(),
        at: decision.at,
        reason: decision.reason,
        incident: decision.incident,
        outcome: finished.outcome,
        via: finished.via,
        exit_code: finished.exit_code,
        http_status: finished.http_status,
        duration_ms: u64::try_from(finished.duration.as_millis()).unwrap_or(u64::MAX),
        output: finished.output.clone(),
        output_truncated: finished.output_truncated,
        error: finished.error.clone(),
    }
}

/// An open record rebuilt from the stored book, for an incident opened before a restart.
fn from_book(open: &OpenIncident) -> Incident {
    Incident {
        phase: Phase::Open,
        kind: open.kind,
        cluster: open.cluster.clone(),
        group: open.group.clone(),
        since: open.since,
        at: open.opened_at,
        evidence: Evidence {
            group_state: GroupState::Unknown,
            members: None,
            partitions: open
                .partitions
                .iter()
                .map(|p| PartitionEvidence {
                    topic: p.topic.clone(),
                    partition: p.partition,
                    state: if p.expired_since.is_some() {
                        ConsumerState::Expired
                    } else {
                        ConsumerState::Stuck
                    },
                    committed: p.committed,
                    log_start: None,
                    log_end: None,
                    lag_records: None,
                    lag_seconds: None,
                    stuck_since: p.stuck_since,
                    last_commit_at: None,
                    expired_records: p.expired_records,
                })
                .collect(),
            gone: Vec::new(),
        },
    }
}
