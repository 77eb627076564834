//! One session of the detect job: a consumer-group member, its workers and its checkpoint
//! producer, from subscribing until `stop` or a failure.
//!
//! Its steps, each with its own error: start the checkpoints, spawn the workers, subscribe, run
//! until stopped or failed, shut down. The session tells the [`Observatory`] where it is:
//! joining after it subscribed, running once its first assignment is restored (see
//! [`super::rebalance`]), stopping once asked to.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use cairn_core::config::Config;
use cairn_core::metrics::Metrics;
use rdkafka::ClientConfig;

use super::checkpoint::{CheckpointRunner, Checkpointer, ExternalOutput};
use super::consume::{Pipeline, TracingConsumer};
use super::dispatch::Dispatcher;
use super::error::SessionError;
use super::frontier::Frontier;
use super::restore::Restorer;
use super::spill::SpillTier;
use super::watchdog::Watchdog;
use super::worker::{Worker, WorkerError};
use super::{CHECKPOINT_INTERVAL, TICK_INTERVAL};
use crate::lineage::LineageCell;
use crate::observe::Observatory;
use crate::oracle::OffsetsBoard;
use crate::readiness::SessionPhase;
use crate::store::Store;

/// What every session of the job shares: made once per process.
pub(super) struct Shared<'a> {
    pub config: &'a Config,
    /// The lineage in use (from the file, or from the control plane, changing meanwhile).
    pub lineage: &'a Arc<LineageCell>,
    pub observatory: &'a Arc<Observatory>,
    pub board: &'a Arc<OffsetsBoard>,
    pub tracing_base: &'a ClientConfig,
    /// The output cluster's settings when it is not the tracing cluster.
    pub output_base: Option<&'a ClientConfig>,
    pub changelog_topic: &'a str,
    pub store: &'a Arc<Store>,
    /// The detector's disk tier, shared by every session of the job.
    pub tier: &'a Arc<SpillTier>,
    /// `[detector] max_memory`, given or derived: split evenly between the workers.
    pub max_memory: u64,
    pub instance: &'a str,
}

/// Runs one session until `stop` (then it returns after a final checkpoint) or a failure.
/// `subscribed_before` turns true once this session has subscribed.
pub(super) fn run(
    shared: &Shared<'_>,
    stop: &AtomicBool,
    subscribed_before: &mut bool,
) -> Result<(), SessionError> {
    let checkpoints = start_checkpoints(shared)?;
    let (dispatcher, workers) = spawn_workers(shared)?;
    let consumer = match subscribe(shared, dispatcher, checkpoints) {
        Ok(consumer) => consumer,
        Err(err) => {
            // The dispatcher went down with the consumer: the workers' inboxes are closed.
            workers.join();
            return Err(err);
        }
    };
    *subscribed_before = true;
    shared.observatory.session.set(SessionPhase::Joining);
    tracing::info!(
        topic = %shared.config.tracing.topic,
        group = %shared.config.tracing.group,
        workers = workers.threads.len(),
        "session started"
    );
    let outcome = run_until_stopped_or_failed(shared, &consumer, stop, &workers);
    shut_down(consumer, workers);
    outcome
}

/// The transactional producer on the tracing cluster (and the output producer when verdicts
/// go elsewhere), on the thread that commits checkpoints.
fn start_checkpoints(shared: &Shared<'_>) -> Result<CheckpointRunner, SessionError> {
    let config = shared.config;
    let external = shared
        .output_base
        .map(|base| ExternalOutput::new(base, &config.output.topic))
        .transpose()
        .map_err(SessionError::CheckpointProducer)?;
    let checkpointer = Checkpointer::new(
        shared.tracing_base,
        &config.tracing.topic,
        shared.changelog_topic,
        &config.output.topic,
        external,
        shared.store.clone(),
        shared.tier.clone(),
        shared.observatory.clone(),
        shared.instance,
        config.oracle.request_timeout,
    )
    .map_err(SessionError::CheckpointProducer)?;
    CheckpointRunner::start(checkpointer).map_err(SessionError::CheckpointThread)
}

/// The worker threads of a session, and where they report why they stopped on their own.
struct WorkerThreads {
    threads: Vec<JoinHandle<()>>,
    errors: mpsc::Receiver<WorkerError>,
}

impl WorkerThreads {
    /// Waits for every worker; they stop once told to or once their inbox closes.
    fn join(self) {
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

/// One worker thread per configured worker (0: one per core), and the dispatcher that feeds
/// them.
fn spawn_workers(shared: &Shared<'_>) -> Result<(Dispatcher, WorkerThreads), SessionError> {
    let config = shared.config;
    let count = worker_count(config);
    let (errors_tx, errors) = mpsc::sync_channel::<WorkerError>(count);
    let mut inboxes = Vec::with_capacity(count);
    let mut threads = Vec::with_capacity(count);
    let frontier = Frontier::new();
    for n in 0..count {
        let (tx, rx) = mpsc::sync_channel(64);
        inboxes.push(tx);
        let zero = shared
            .lineage
            .current()
            .map(|applied| Metrics::for_lineage(&applied.lineage))
            .unwrap_or_default();
        let worker = Worker::new(
            zero,
            shared.lineage.clone(),
            shared.board.clone(),
            config.detector.on_malformed,
            TICK_INTERVAL,
            errors_tx.clone(),
            shared.tier.clone(),
            shared.max_memory / count as u64,
            frontier.clone(),
        );
        let thread = std::thread::Builder::new()
            .name(format!("cairn-worker-{n}"))
            .spawn(move || worker.run(rx))
            .map_err(SessionError::Workers)?;
        threads.push(thread);
    }
    Ok((
        Dispatcher::new(inboxes, frontier),
        WorkerThreads { threads, errors },
    ))
}

/// Worker threads: as configured, or one per core.
fn worker_count(config: &cairn_core::config::Config) -> usize {
    match config.detector.workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

/// Joins cairn's group on the tracing topic with the session's pipeline.
fn subscribe(
    shared: &Shared<'_>,
    dispatcher: Dispatcher,
    checkpoints: CheckpointRunner,
) -> Result<TracingConsumer, SessionError> {
    let config = shared.config;
    let restorer = Restorer {
        lineage: shared.lineage.clone(),
        store: shared.store.clone(),
        tracing_base: shared.tracing_base.clone(),
        tracing_topic: config.tracing.topic.clone(),
        changelog_topic: shared.changelog_topic.to_owned(),
        observatory: shared.observatory.clone(),
        timeout: config.oracle.request_timeout,
        tier: shared.tier.clone(),
        memory_per_worker: shared.max_memory / worker_count(config) as u64,
    };
    let pipeline = Pipeline {
        dispatcher,
        checkpoints,
        restorer,
    };
    TracingConsumer::subscribe(
        shared.tracing_base,
        &config.tracing.group,
        &config.tracing.topic,
        pipeline,
        shared.observatory.clone(),
    )
}

/// Consumes until `stop`, then commits a closing checkpoint; or returns the first failure.
fn run_until_stopped_or_failed(
    shared: &Shared<'_>,
    consumer: &TracingConsumer,
    stop: &AtomicBool,
    workers: &WorkerThreads,
) -> Result<(), SessionError> {
    consumer.poll_until_stopped(CHECKPOINT_INTERVAL, stop, &workers.errors)?;
    shared.observatory.session.set(SessionPhase::Stopping);
    consumer.closing_checkpoint()
}

/// How long ending a session may take before the process gives up on it (see [`Watchdog`]):
/// well above the consumer's close timeout and a worker's last tick.
const SHUT_DOWN_LIMIT: Duration = Duration::from_secs(120);

/// Leaves the group (see [`TracingConsumer::leave`]) and waits for the workers.
fn shut_down(consumer: TracingConsumer, workers: WorkerThreads) {
    let _watchdog = Watchdog::arm(SHUT_DOWN_LIMIT, "ending the session");
    consumer.leave();
    workers.join();
}
