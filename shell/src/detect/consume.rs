//! The Kafka consumer side of `cairn detect`: [`TracingConsumer`], cairn's member of its group on
//! the tracing topic. It reads records off Kafka and hands them to the workers; deciding what a
//! trace means is the workers' and the core's job (`cairn_core::detector`), not this one's.
//!
//! One thread polls, routes records to the worker that owns their partition, and runs the
//! periodic checkpoints; the rebalance callback ([`super::rebalance`]) restores and hands off
//! partitions. librdkafka calls that callback inside `poll`, on this same thread, so it can
//! checkpoint and restore synchronously through the shared [`Pipeline`] without racing the poll
//! loop.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;

use super::checkpoint::{CheckpointError, CheckpointRunner};
use super::dispatch::Dispatcher;
use super::error::SessionError;
use super::looks::LookThread;
use super::restore::Restorer;
use super::worker::{PartitionCheckpoint, Record, WorkerError};
use crate::clock::now_millis;
use crate::events::{AfterCheckpointFailure, CheckpointFailed, ConsumerError, ConsumerLeftOpen};
use crate::kafka::client::set_default;
use crate::observe::Observatory;

/// Everything the poll loop and the rebalance callback share.
pub struct Pipeline {
    pub dispatcher: Dispatcher,
    pub checkpoints: CheckpointRunner,
    pub restorer: Restorer,
}

/// The consumer's context: rebalances go through the pipeline; a failure there is kept for
/// the poll loop, which ends the session (the next one resumes from the last checkpoint).
pub struct ConsumerState {
    pub(super) pipeline: Mutex<Pipeline>,
    fatal: Mutex<Option<SessionError>>,
    /// Set once anything failed: from then on nothing more is checkpointed, because state
    /// drained for a failed checkpoint must not be skipped over by a later one.
    pub(super) poisoned: AtomicBool,
    pub(super) observatory: Arc<Observatory>,
    pub(super) tracing_topic: String,
}

impl ClientContext for ConsumerState {
    /// rdkafka hands every consumer error to this callback and then to `poll` as well; the poll
    /// loop logs and counts them (`ConsumerError`), and the end of a partition is news there,
    /// not an error. Logging here too would print each of them twice, the ends as ERROR lines.
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(%error, reason, "tracing consumer error (handled by the poll loop)");
    }
}

impl ConsumerState {
    /// Keeps `error` for the poll loop, which ends the session with it.
    pub(super) fn fail(&self, error: SessionError) {
        tracing::error!(%error, "stopping the session: it cannot go on safely");
        self.poisoned.store(true, Ordering::Relaxed);
        self.fatal.lock().get_or_insert(error);
    }
}

/// cairn's member of its consumer group on the tracing topic.
pub struct TracingConsumer {
    consumer: Arc<BaseConsumer<ConsumerState>>,
    /// Asks where the assigned partitions end, through the same client (see `looks`).
    looks: Option<LookThread>,
}

impl TracingConsumer {
    /// Creates the consumer on the tracing cluster and subscribes to `topic` as `group`. The
    /// group assigns partitions during the first polls.
    pub fn subscribe(
        tracing_base: &ClientConfig,
        group: &str,
        topic: &str,
        pipeline: Pipeline,
        observatory: Arc<Observatory>,
    ) -> Result<TracingConsumer, SessionError> {
        let frontier = pipeline.dispatcher.frontier().clone();
        let state = ConsumerState {
            pipeline: Mutex::new(pipeline),
            fatal: Mutex::new(None),
            poisoned: AtomicBool::new(false),
            observatory: observatory.clone(),
            tracing_topic: topic.to_owned(),
        };
        let consumer: BaseConsumer<ConsumerState> = consumer_settings(tracing_base, group)
            .create_with_context(state)
            .map_err(SessionError::Consumer)?;
        consumer
            .subscribe(&[topic])
            .map_err(|error| SessionError::Subscribe {
                topic: topic.to_owned(),
                error,
            })?;
        let consumer = Arc::new(consumer);
        let looks = LookThread::start(consumer.clone(), topic, frontier, observatory)
            .map_err(SessionError::LookThread)?;
        Ok(TracingConsumer {
            consumer,
            looks: Some(looks),
        })
    }

    /// Polls until `stop` is set or the session fails; checkpoints every `interval`.
    pub fn poll_until_stopped(
        &self,
        interval: Duration,
        stop: &AtomicBool,
        worker_errors: &mpsc::Receiver<WorkerError>,
    ) -> Result<(), SessionError> {
        let result = self.poll_loop(interval, stop, worker_errors);
        self.poison_on_error(result)
    }

    fn poll_loop(
        &self,
        interval: Duration,
        stop: &AtomicBool,
        worker_errors: &mpsc::Receiver<WorkerError>,
    ) -> Result<(), SessionError> {
        let state = self.consumer.context();
        let shell = &state.observatory.shell;
        let mut last_checkpoint = Instant::now();
        let mut last_interruption: Option<Instant> = None;
        while !stop.load(Ordering::Relaxed) {
            if let Some(error) = state.fatal.lock().take() {
                return Err(error);
            }
            if let Ok(error) = worker_errors.try_recv() {
                return Err(error.into());
            }
            match self.consumer.poll(Duration::from_millis(100)) {
                Some(Ok(message)) => {
                    shell.traces_consumed.fetch_add(1, Ordering::Relaxed);
                    let record = Record {
                        partition: message.partition(),
                        offset: message.offset(),
                        payload: message.payload().unwrap_or_default().to_vec(),
                    };
                    state.pipeline.lock().dispatcher.push(record);
                }
                Some(Err(KafkaError::PartitionEOF(partition))) => {
                    let position = self.position_of(partition);
                    state
                        .pipeline
                        .lock()
                        .dispatcher
                        .reached_end(partition, position);
                }
                Some(Err(error)) => {
                    ConsumerError { error: &error }.emit(shell);
                    // A burst of errors about one outage interrupts about once a second, each
                    // time moving on when the partitions must be read through again.
                    let due = last_interruption.is_none_or(|at| at.elapsed() >= INTERRUPT_EVERY);
                    if loses_the_cluster(&error) && due {
                        state.pipeline.lock().dispatcher.interrupted(now_millis());
                        last_interruption = Some(Instant::now());
                    }
                }
                None => state.pipeline.lock().dispatcher.flush(),
            }
            if last_checkpoint.elapsed() >= interval {
                self.checkpoint()?;
                last_checkpoint = Instant::now();
            }
        }
        Ok(())
    }

    /// Where the consumer stands in `partition` (a local answer: no request).
    fn position_of(&self, partition: i32) -> Option<i64> {
        let positions = self.consumer.position().ok()?;
        let element =
            positions.find_partition(&self.consumer.context().tracing_topic, partition)?;
        match element.offset() {
            rdkafka::Offset::Offset(offset) => Some(offset),
            _ => None,
        }
    }

    /// Starts a checkpoint of every owned partition and refreshes the published metrics,
    /// unless the previous checkpoint is still being committed (then the next interval picks
    /// it all up).
    fn checkpoint(&self) -> Result<(), SessionError> {
        let state = self.consumer.context();
        let shell = &state.observatory.shell;
        let mut pipeline = state.pipeline.lock();
        let busy = pipeline
            .checkpoints
            .busy()
            .map_err(|err| session_stops(state, err))?;
        if busy {
            return Ok(());
        }
        let (checkpoints, metrics) = pipeline.dispatcher.checkpoint_all();
        state.observatory.metrics.store(Arc::new(metrics));
        let now = now_millis();
        let lag = checkpoints
            .iter()
            .map(|c| now.saturating_sub(c.judged_through))
            .max()
            .unwrap_or(0);
        shell.judging_lag_ms.store(lag, Ordering::Relaxed);
        let overdue = checkpoints.iter().map(|c| c.checks_overdue).max();
        shell
            .checks_overdue_ms
            .store(overdue.unwrap_or(0), Ordering::Relaxed);
        let group = self
            .consumer
            .group_metadata()
            .ok_or(CheckpointError::NoGroup)
            .map_err(|err| session_stops(state, err))?;
        pipeline
            .checkpoints
            .submit(group, checkpoints)
            .map_err(|err| session_stops(state, err))
    }

    /// The last checkpoint before leaving: everything owned, committed before returning.
    pub fn closing_checkpoint(&self) -> Result<(), SessionError> {
        let state = self.consumer.context();
        let result = {
            let mut pipeline = state.pipeline.lock();
            let (checkpoints, metrics) = pipeline.dispatcher.checkpoint_all();
            state.observatory.metrics.store(Arc::new(metrics));
            final_checkpoint(&self.consumer, &mut pipeline.checkpoints, checkpoints)
                .map_err(|err| session_stops(state, err))
        };
        self.poison_on_error(result)
    }

    /// Leaves the group and stops the workers. The revoke callback checkpoints what is still
    /// owned, unless the session failed: then the next owner, or the next session, resumes
    /// from the last checkpoint.
    pub fn leave(mut self) {
        drop(self.looks.take());
        self.consumer.unsubscribe();
        let _ = self.consumer.poll(Duration::from_millis(500));
        self.consumer.context().pipeline.lock().dispatcher.stop();
        self.close_within(CLOSE_TIMEOUT);
    }

    /// Closes the consumer (leaves the group), giving up after `timeout`. rdkafka's drop
    /// polls until librdkafka says the consumer is closed, without a deadline; a close that
    /// never completes (it happened with a node of the tracing cluster just killed) would
    /// keep the next session from ever starting. Such a consumer is left behind, open: the
    /// group drops it once it stops polling (`max.poll.interval.ms`).
    fn close_within(&self, timeout: Duration) {
        if let Err(error) = self.consumer.close_queue() {
            tracing::warn!(%error, "closing the tracing consumer");
            return;
        }
        let deadline = Instant::now() + timeout;
        while !self.consumer.closed() {
            if Instant::now() >= deadline {
                ConsumerLeftOpen { waited: timeout }
                    .emit(&self.consumer.context().observatory.shell);
                // One more reference that is never dropped: rdkafka's drop never runs.
                std::mem::forget(self.consumer.clone());
                return;
            }
            let _ = self.consumer.poll(Duration::from_millis(100));
        }
    }

    fn poison_on_error(&self, result: Result<(), SessionError>) -> Result<(), SessionError> {
        if result.is_err() {
            self.consumer
                .context()
                .poisoned
                .store(true, Ordering::Relaxed);
        }
        result
    }
}

/// Whether a consumer error means the tracing cluster may be unreachable: what the workers
/// hold may then miss traces that tracers are still holding back.
fn loses_the_cluster(error: &KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as Code;
    matches!(
        error.rdkafka_error_code(),
        Some(Code::BrokerTransportFailure | Code::AllBrokersDown | Code::Resolve)
    )
}

/// How long closing the tracing consumer may take when a session ends.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

/// How often a burst of errors about losing the tracing cluster interrupts the workers.
const INTERRUPT_EVERY: Duration = Duration::from_secs(1);

/// The tracing cluster's settings with what this consumer needs on top.
fn consumer_settings(tracing_base: &ClientConfig, group: &str) -> ClientConfig {
    let mut settings = tracing_base.clone();
    // The default fetch (1 MiB per partition) leaves the consumer waiting on round trips at
    // about 200k traces/s; bigger fetches keep the workers busy, and a smaller prefetch queue
    // (64 MiB by default) keeps memory for the detector's state. Either can be overridden in
    // [clusters.<name>.client].
    set_default(&mut settings, "max.partition.fetch.bytes", "8388608");
    set_default(&mut settings, "queued.max.messages.kbytes", "16384");
    settings
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        // Eager, whatever the passthrough says: revocation runs before the group moves to a
        // new generation, so the final checkpoint of revoked partitions can still commit
        // offsets in a transaction. The rebalance callback relies on it (`rebalance`).
        .set("partition.assignment.strategy", "roundrobin")
        .set("isolation.level", "read_uncommitted")
        // The end of a partition tells its worker the consumer's position, which may stand
        // past a trailing transaction marker no record carries (see `worker`).
        .set("enable.partition.eof", "true");
    settings
}

/// Commits `checkpoints` and waits for it (and for any checkpoint still in flight before it).
pub(super) fn final_checkpoint(
    consumer: &BaseConsumer<ConsumerState>,
    runner: &mut CheckpointRunner,
    checkpoints: Vec<PartitionCheckpoint>,
) -> Result<(), CheckpointError> {
    runner.wait()?;
    let group = consumer.group_metadata().ok_or(CheckpointError::NoGroup)?;
    runner.submit(group, checkpoints)?;
    runner.wait()
}

/// A checkpoint failure that ends the session: reported, and turned into the session's error.
fn session_stops(state: &ConsumerState, err: CheckpointError) -> SessionError {
    CheckpointFailed {
        error: &err,
        then: AfterCheckpointFailure::SessionStops,
    }
    .emit(&state.observatory.shell);
    SessionError::Checkpoint(err)
}
