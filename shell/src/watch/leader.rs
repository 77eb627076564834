//! Which `cairn watch` instance acts. Several instances may run on one config for
//! availability: every one of them polls, judges and serves the API, but only the **active**
//! one publishes incident records (and, later, runs responder actions). They elect it through
//! a Kafka consumer group (`[watch] control_group`) subscribed to a one-partition control topic
//! (`[watch] control_topic`): the member that owns partition 0 is the active instance.
//!
//! # The handle
//!
//! [`LeaderHandle`] is cheap to clone and is what other parts ask:
//!
//! ```no_run
//! # fn act(leader: &cairn_shell::watch::leader::LeaderHandle) {
//! if leader.is_active() {
//!     // publish, page, restart a job...
//! }
//! # }
//! ```
//!
//! Ask right before acting, every time: the answer changes when the group rebalances. Code
//! that queues work to do later should keep [`LeaderHandle::active_term`] with it and drop
//! the work when the term is no longer the current one (a term is one stretch of being
//! active). Without an election (`[watch] incidents_topic` unset or `election = false`) the
//! handle is always active.
//!
//! # Bounds
//!
//! - **Takeover**: a SIGKILLed active instance stops heart-beating; its coordinator expires it
//!   after `control_session_timeout`, and a standby is assigned the partition at its next
//!   heartbeat (a third of that timeout). It then reconciles (see `takeover`) before it acts.
//! - **Fencing**: an active instance cut off from the control group's coordinator hears of
//!   no rebalance; librdkafka declares its assignment lost once no heartbeat has been answered
//!   for `control_session_timeout`, and the instance stands by at once. Until then it may
//!   still believe it acts, so the incidents producer is also fenced by Kafka itself: every
//!   active instance uses one transactional id per control group, and the newcomer's
//!   `init_transactions` makes every later write of the one before it fail.
//! - **Control cluster unreachable**: no instance joins the group, none is active; each
//!   says why in its role (`/api/watch`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cairn_core::config::ElectionConfig;
use cairn_core::model::Millis;
use parking_lot::Mutex;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{ClientConfig, TopicPartitionList};
use serde::Serialize;

use crate::clock::now_millis;

/// Whether this instance acts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// It publishes incident records (and runs actions).
    Active,
    /// It polls, judges and serves the API, and publishes nothing.
    Standby,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Active => "active",
            Role::Standby => "standby",
        }
    }
}

/// The role as `/api/watch` shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoleStatus {
    pub role: Role,
    /// When this instance took this role (ms since the epoch).
    pub since: Millis,
    /// Why it has it, in words: `elected`, what it waits for, what failed.
    pub reason: String,
    /// Times this instance became active so far; the current term while active.
    pub term: u64,
    /// How the instances elect the active one; null without an election.
    pub election: Option<ElectionSummary>,
}

/// The election settings, as `/api/watch` shows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ElectionSummary {
    pub control_topic: String,
    pub control_group: String,
    pub session_timeout_ms: u64,
}

/// Whether this instance acts now; shared by everything that acts or reports the role.
#[derive(Clone)]
pub struct LeaderHandle {
    shared: Arc<Shared>,
}

struct Shared {
    /// The term this instance acts in; 0 while it stands by.
    active_term: AtomicU64,
    /// The last term it acted in: a term ends for good once it stood by in it.
    last_active: AtomicU64,
    status: Mutex<RoleStatus>,
}

impl LeaderHandle {
    /// An instance without an election: active from the start, for good.
    pub fn single() -> LeaderHandle {
        LeaderHandle::with(
            1,
            RoleStatus {
                role: Role::Active,
                since: now_millis(),
                reason: "no election configured: this instance always acts".into(),
                term: 1,
                election: None,
            },
        )
    }

    /// An instance that must be elected: standing by until then.
    pub fn elected_by(election: &ElectionConfig) -> LeaderHandle {
        LeaderHandle::with(
            0,
            RoleStatus {
                role: Role::Standby,
                since: now_millis(),
                reason: "joining the control group".into(),
                term: 0,
                election: Some(ElectionSummary {
                    control_topic: election.control_topic.name(),
                    control_group: election.control_group.clone(),
                    session_timeout_ms: u64::try_from(election.session_timeout.as_millis())
                        .unwrap_or(u64::MAX),
                }),
            },
        )
    }

    fn with(term: u64, status: RoleStatus) -> LeaderHandle {
        LeaderHandle {
            shared: Arc::new(Shared {
                active_term: AtomicU64::new(term),
                last_active: AtomicU64::new(term),
                status: Mutex::new(status),
            }),
        }
    }

    /// Whether this instance is the active one now.
    pub fn is_active(&self) -> bool {
        self.active_term().is_some()
    }

    /// The term this instance acts in, or `None` while it stands by. Work queued in one term
    /// must not be done in another.
    pub fn active_term(&self) -> Option<u64> {
        match self.shared.active_term.load(Ordering::Acquire) {
            0 => None,
            term => Some(term),
        }
    }

    /// The role, since when and why.
    pub fn status(&self) -> RoleStatus {
        self.shared.status.lock().clone()
    }

    /// Becomes active in `term`, which the election started with [`LeaderHandle::begin_term`];
    /// false (and nothing changes) when that term has ended meanwhile.
    pub fn activate(&self, term: u64) -> bool {
        let mut status = self.shared.status.lock();
        let ended = self.shared.last_active.load(Ordering::Acquire) >= term;
        if status.term != term || status.role == Role::Active || ended {
            return false;
        }
        self.shared.last_active.store(term, Ordering::Release);
        status.role = Role::Active;
        status.since = now_millis();
        status.reason = "elected: owns the control partition".into();
        self.shared.active_term.store(term, Ordering::Release);
        tracing::info!(term, "this watch instance is now the active one");
        true
    }

    /// Starts a new term (this instance was assigned the control partition); still standing by
    /// until [`LeaderHandle::activate`].
    pub fn begin_term(&self) -> u64 {
        let mut status = self.shared.status.lock();
        status.term += 1;
        status.reason =
            "assigned the control partition: reconciling with the incidents topic".into();
        status.term
    }

    /// Stands by (or keeps standing by) for `reason`.
    pub fn stand_by(&self, reason: impl Into<String>) {
        let reason = reason.into();
        let mut status = self.shared.status.lock();
        self.shared.active_term.store(0, Ordering::Release);
        if status.role == Role::Active {
            status.role = Role::Standby;
            status.since = now_millis();
            tracing::warn!(term = status.term, reason, "this watch instance stands by");
        } else if status.reason != reason {
            tracing::info!(reason, "watch instance standing by");
        }
        status.reason = reason;
    }

    /// Stands by if `term` is still the one it acts in (a publisher that found itself fenced).
    pub fn step_down(&self, term: u64, reason: impl Into<String>) {
        if self.active_term() == Some(term) {
            self.stand_by(reason);
        }
    }
}

/// What the active instance does on taking over and on stepping down (the watch's is in
/// `takeover`). Both run on the election's thread.
pub trait Takeover: Send {
    /// Gets ready to act in `term`, then calls `leader.activate(term)` at the moment acting
    /// starts. An error leaves the instance standing by; it is tried again while it owns the
    /// control partition.
    fn take_over(&mut self, term: u64, leader: &LeaderHandle) -> Result<(), String>;
    /// This instance no longer acts: drop what acting needed.
    fn step_down(&mut self);
}

/// How long an owner that failed to take over waits before it tries again.
const RETRY_TAKEOVER: Duration = Duration::from_secs(5);
/// How often the election polls its consumer (rebalance callbacks run in these polls).
const POLL: Duration = Duration::from_millis(100);

/// What the consumer's callbacks tell the election loop.
enum ControlEvent {
    Assigned,
    Revoked { lost: bool },
    Error(String),
}

/// The election consumer's callbacks: they only pass events on (and stand by at once on a
/// revocation, before the group hands the partition to anyone else).
struct ElectionContext {
    topic: String,
    leader: LeaderHandle,
    events: mpsc::Sender<ControlEvent>,
}

impl ElectionContext {
    fn holds_control(&self, list: &TopicPartitionList) -> bool {
        list.elements_for_topic(&self.topic)
            .iter()
            .any(|e| e.partition() == 0)
    }
}

impl ClientContext for ElectionContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        DefaultClientContext.log(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let _ = self
            .events
            .send(ControlEvent::Error(format!("{error}: {reason}")));
    }
}

impl ConsumerContext for ElectionContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance
            && self.holds_control(list)
        {
            let lost = consumer.assignment_lost();
            self.leader.stand_by(revoked_reason(lost));
            let _ = self.events.send(ControlEvent::Revoked { lost });
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(list) if self.holds_control(list) => {
                let _ = self.events.send(ControlEvent::Assigned);
            }
            Rebalance::Error(err) => {
                let _ = self.events.send(ControlEvent::Error(err.to_string()));
            }
            _ => {}
        }
    }
}

fn revoked_reason(lost: bool) -> &'static str {
    if lost {
        "lost the control partition: the control group's coordinator did not answer within control_session_timeout"
    } else {
        "the control partition went to another instance"
    }
}

/// Starts the election on its own thread; it stands by and leaves the group once `stop` is set.
pub fn spawn_election(
    election: &ElectionConfig,
    cluster: ClientConfig,
    request_timeout: Duration,
    leader: LeaderHandle,
    takeover: Box<dyn Takeover>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<JoinHandle<()>> {
    let (events, received) = mpsc::channel();
    let topic = election.control_topic.topic.clone();
    let session_ms = election.session_timeout.as_millis().to_string();
    let heartbeat_ms = (election.session_timeout.as_millis() / 3)
        .max(100)
        .to_string();
    let consumer: BaseConsumer<ElectionContext> = cluster
        .clone()
        .set("group.id", &election.control_group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        // Sticky: an instance that joins leaves the partition where it is, so a newcomer
        // never deposes a working active instance.
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("session.timeout.ms", &session_ms)
        .set("heartbeat.interval.ms", &heartbeat_ms)
        .create_with_context(ElectionContext {
            topic: topic.clone(),
            leader: leader.clone(),
            events,
        })?;
    let admin: AdminClient<DefaultClientContext> = cluster.create()?;
    let run = ElectionLoop {
        topic,
        consumer,
        admin,
        received,
        leader,
        takeover,
        request_timeout,
    };
    Ok(std::thread::Builder::new()
        .name("watch-election".into())
        .spawn(move || run.run(&stop))?)
}

struct ElectionLoop {
    topic: String,
    consumer: BaseConsumer<ElectionContext>,
    admin: AdminClient<DefaultClientContext>,
    received: mpsc::Receiver<ControlEvent>,
    leader: LeaderHandle,
    takeover: Box<dyn Takeover>,
    request_timeout: Duration,
}

impl ElectionLoop {
    fn run(mut self, stop: &AtomicBool) {
        if !self.join(stop) {
            return;
        }
        // The term this instance owns the control partition in and has not yet acted in, and
        // when to try taking over. Once it acted in a term it does not take over again in
        // that term: standing by in the middle of one (a fenced producer) means another
        // instance took over, and fighting back would fence that one in turn.
        let mut owned: Option<(u64, Instant)> = None;
        while !stop.load(Ordering::Acquire) {
            if let Some(Err(err)) = self.consumer.poll(POLL) {
                self.unreachable(&err.to_string());
            }
            while let Ok(event) = self.received.try_recv() {
                match event {
                    ControlEvent::Assigned => {
                        let term = self.leader.begin_term();
                        owned = Some((term, Instant::now()));
                    }
                    ControlEvent::Revoked { lost } => {
                        owned = None;
                        self.takeover.step_down();
                        tracing::info!(lost, "control partition revoked");
                    }
                    ControlEvent::Error(reason) => self.unreachable(&reason),
                }
            }
            if let Some((term, at)) = owned
                && !self.leader.is_active()
                && Instant::now() >= at
            {
                match self.takeover.take_over(term, &self.leader) {
                    Ok(()) => owned = None,
                    Err(err) => {
                        tracing::warn!(term, error = %err, "taking over failed; trying again");
                        self.leader.stand_by(format!(
                            "owns the control partition but could not take over ({err}); trying again every {}s",
                            RETRY_TAKEOVER.as_secs()
                        ));
                        owned = Some((term, Instant::now() + RETRY_TAKEOVER));
                    }
                }
            }
        }
        self.leader.stand_by("stopping");
        self.takeover.step_down();
        // Dropping the consumer leaves the group at once, so a standby takes over without
        // waiting for the session to time out.
        self.consumer.unsubscribe();
        tracing::info!("watch election stopped");
    }

    /// Creates the control topic if needed and subscribes; false when stopped first.
    fn join(&mut self, stop: &AtomicBool) -> bool {
        while !stop.load(Ordering::Acquire) {
            match self.ensure_topic() {
                Ok(()) => match self.consumer.subscribe(&[&self.topic]) {
                    Ok(()) => return true,
                    Err(err) => self.leader.stand_by(format!(
                        "cannot subscribe to the control topic `{}`: {err}",
                        self.topic
                    )),
                },
                Err(KafkaError::AdminOp(RDKafkaErrorCode::OperationTimedOut)) => {
                    self.leader.stand_by(format!(
                        "control cluster unreachable: no answer when making sure the control topic `{}` exists",
                        self.topic
                    ))
                }
                Err(err) => self.leader.stand_by(format!(
                    "cannot create the control topic `{}`: {err}; create it with one partition",
                    self.topic
                )),
            }
            let until = Instant::now() + RETRY_TAKEOVER;
            while Instant::now() < until && !stop.load(Ordering::Acquire) {
                std::thread::sleep(POLL);
            }
        }
        false
    }

    /// The control topic with one partition; an existing one is used as it is (an owner of
    /// its partition 0 is elected whatever its partition count).
    fn ensure_topic(&self) -> Result<(), KafkaError> {
        let topic = NewTopic::new(&self.topic, 1, TopicReplication::Fixed(-1));
        let options = AdminOptions::new().request_timeout(Some(self.request_timeout));
        let results = block_on(self.admin.create_topics(std::iter::once(&topic), &options))?;
        for result in results {
            match result {
                Ok(_) => tracing::info!(topic = self.topic, "control topic created"),
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((_, code)) => return Err(KafkaError::AdminOp(code)),
            }
        }
        Ok(())
    }

    /// Records why this instance cannot act, unless it is active (librdkafka reports passing
    /// connection errors that a working group survives; losing the group arrives as a revocation).
    fn unreachable(&self, reason: &str) {
        tracing::debug!(reason, "control group client error");
        if !self.leader.is_active() {
            self.leader.stand_by(format!(
                "control group unreachable or not joined yet: {reason}"
            ));
        }
    }
}

/// Runs an admin future to its end on this plain thread.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime")
        .block_on(future)
}
