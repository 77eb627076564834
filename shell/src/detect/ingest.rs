//! The tracing-topic consumer: one thread polls, routes records to the worker that owns their
//! partition, and runs checkpoints; the rebalance callback restores and hands off partitions.
//!
//! librdkafka calls the rebalance callback inside `poll`, on this same thread, so the callback
//! can checkpoint and restore synchronously through the shared [`Pipeline`] without racing the
//! poll loop.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::time::{Duration, Instant};

use cairn_core::metrics::Metrics;
use parking_lot::Mutex;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaError;
use rdkafka::topic_partition_list::TopicPartitionList;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Message, Offset};

use super::checkpoint::{CheckpointError, CheckpointRunner};
use super::restore::Restorer;
use super::worker::{PartitionCheckpoint, Record, WorkerMsg};
use crate::observe::Observatory;

/// Records are sent to workers in batches of this many (or fewer when the poll runs dry).
const BATCH: usize = 512;

/// Routes records to workers by partition and keeps the batches not yet sent.
pub struct Dispatcher {
    workers: Vec<SyncSender<WorkerMsg>>,
    batches: Vec<Vec<Record>>,
}

impl Dispatcher {
    pub fn new(workers: Vec<SyncSender<WorkerMsg>>) -> Self {
        let batches = workers.iter().map(|_| Vec::with_capacity(BATCH)).collect();
        Dispatcher { workers, batches }
    }

    fn worker_of(&self, partition: i32) -> usize {
        partition.unsigned_abs() as usize % self.workers.len()
    }

    fn push(&mut self, record: Record) {
        let w = self.worker_of(record.partition);
        self.batches[w].push(record);
        if self.batches[w].len() >= BATCH {
            let batch = std::mem::replace(&mut self.batches[w], Vec::with_capacity(BATCH));
            let _ = self.workers[w].send(WorkerMsg::Records(batch));
        }
    }

    /// Sends every pending batch, so a following request sees all records read so far.
    fn flush(&mut self) {
        for (w, batch) in self.batches.iter_mut().enumerate() {
            if !batch.is_empty() {
                let _ = self.workers[w].send(WorkerMsg::Records(std::mem::take(batch)));
            }
        }
    }

    /// Tells the partition's worker, after every record read before it, that the consumer
    /// reached the partition's end: every trace appended so far is in its state.
    fn reached_end(&mut self, partition: i32) {
        let w = self.worker_of(partition);
        if !self.batches[w].is_empty() {
            let batch = std::mem::replace(&mut self.batches[w], Vec::with_capacity(BATCH));
            let _ = self.workers[w].send(WorkerMsg::Records(batch));
        }
        let _ = self.workers[w].send(WorkerMsg::ReachedEnd { partition });
    }

    fn assign(&self, partition: i32, restored: super::restore::Restored) {
        let next_offset = match restored.next_offset {
            Offset::Offset(offset) => offset,
            _ => 0,
        };
        let message = WorkerMsg::Assign {
            partition,
            detector: Box::new(restored.detector),
            next_offset,
        };
        let _ = self.workers[self.worker_of(partition)].send(message);
    }

    fn revoke(&mut self, partitions: &[i32]) -> Vec<PartitionCheckpoint> {
        self.flush();
        let (reply, answers) = mpsc::channel();
        let mut asked = 0;
        for (w, sender) in self.workers.iter().enumerate() {
            let mine: Vec<i32> = partitions
                .iter()
                .copied()
                .filter(|&p| self.worker_of(p) == w)
                .collect();
            if !mine.is_empty()
                && sender
                    .send(WorkerMsg::Revoke {
                        partitions: mine,
                        reply: reply.clone(),
                    })
                    .is_ok()
            {
                asked += 1;
            }
        }
        answers.iter().take(asked).flatten().collect()
    }

    fn checkpoint_all(&mut self) -> (Vec<PartitionCheckpoint>, Metrics) {
        self.flush();
        let (reply, answers) = mpsc::channel();
        let asked = self
            .workers
            .iter()
            .filter(|sender| {
                sender
                    .send(WorkerMsg::Checkpoint {
                        reply: reply.clone(),
                    })
                    .is_ok()
            })
            .count();
        let mut checkpoints = Vec::new();
        let mut metrics = Metrics::default();
        for (partial, partial_metrics) in answers.iter().take(asked) {
            checkpoints.extend(partial);
            metrics.merge(&partial_metrics);
        }
        (checkpoints, metrics)
    }

    pub fn stop(&self) {
        for sender in &self.workers {
            let _ = sender.send(WorkerMsg::Stop);
        }
    }
}

/// Everything the poll loop and the rebalance callback share.
pub struct Pipeline {
    pub dispatcher: Dispatcher,
    pub checkpoints: CheckpointRunner,
    pub restorer: Restorer,
}

/// The consumer's context: rebalances go through the pipeline; a failure there is kept for
/// the poll loop, which stops the job (a restart resumes from the last checkpoint).
pub struct IngestContext {
    pub pipeline: Mutex<Pipeline>,
    pub fatal: Mutex<Option<anyhow::Error>>,
    /// Set once anything failed: from then on nothing more is checkpointed, because state
    /// drained for a failed checkpoint must not be skipped over by a later one.
    pub poisoned: AtomicBool,
    pub observatory: Arc<Observatory>,
    pub tracing_topic: String,
}

impl ClientContext for IngestContext {}

impl IngestContext {
    fn fail(&self, error: anyhow::Error) {
        tracing::error!(
            error = format!("{error:#}"),
            "stopping: the job cannot go on safely"
        );
        self.poisoned.store(true, Ordering::Relaxed);
        self.fatal.lock().get_or_insert(error);
    }

    fn assign(&self, consumer: &BaseConsumer<Self>, tpl: &mut TopicPartitionList) {
        let partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
        let pipeline = self.pipeline.lock();
        for &partition in &partitions {
            match pipeline.restorer.restore(consumer, partition) {
                Ok(restored) => {
                    let offset = restored.next_offset;
                    if let Err(err) =
                        tpl.set_partition_offset(&self.tracing_topic, partition, offset)
                    {
                        self.fail(err.into());
                        refuse_assignment(consumer);
                        return;
                    }
                    tracing::info!(
                        partition,
                        ?offset,
                        messages = restored.detector.messages_in_memory(),
                        "partition assigned"
                    );
                    pipeline.dispatcher.assign(partition, restored);
                }
                Err(err) => {
                    self.fail(
                        anyhow::Error::new(err)
                            .context(format!("restoring tracing partition {partition}")),
                    );
                    refuse_assignment(consumer);
                    return;
                }
            }
        }
        let result = match consumer.rebalance_protocol() {
            RebalanceProtocol::Cooperative => consumer.incremental_assign(tpl),
            _ => consumer.assign(tpl),
        };
        if let Err(err) = result {
            self.fail(anyhow::Error::new(err).context("assigning tracing partitions"));
            return;
        }
        self.observatory
            .shell
            .partitions_assigned
            .fetch_add(partitions.len() as i64, Ordering::Relaxed);
    }

    fn revoke(&self, consumer: &BaseConsumer<Self>, tpl: &TopicPartitionList) {
        let partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
        let mut pipeline = self.pipeline.lock();
        let checkpoints = pipeline.dispatcher.revoke(&partitions);
        // A failed final checkpoint loses nothing: the next owner restores the last committed
        // one and re-derives the rest from the traces, and this instance no longer needs it.
        if !self.poisoned.load(Ordering::Relaxed)
            && let Err(err) = final_checkpoint(consumer, &mut pipeline.checkpoints, checkpoints)
        {
            self.observatory
                .shell
                .checkpoint_failures
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %err, ?partitions, "final checkpoint of revoked partitions failed; their next owner resumes from the previous one");
        }
        let result = match consumer.rebalance_protocol() {
            RebalanceProtocol::Cooperative => consumer.incremental_unassign(tpl),
            _ => consumer.unassign(),
        };
        if let Err(err) = result {
            tracing::warn!(error = %err, "unassigning revoked partitions");
        }
        tracing::info!(?partitions, "partitions revoked after a final checkpoint");
        self.observatory
            .shell
            .partitions_assigned
            .fetch_sub(partitions.len() as i64, Ordering::Relaxed);
    }
}

/// Ends a rebalance without taking the partitions: librdkafka waits for an assign call after
/// an assignment, and a consumer left waiting would hang when it is closed. The session then
/// stops, and its next one (or another member) takes the partitions.
fn refuse_assignment(consumer: &BaseConsumer<IngestContext>) {
    if let Err(err) = consumer.unassign() {
        tracing::warn!(error = %err, "unassigning after a failed assignment");
    }
}

impl ConsumerContext for IngestContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => self.assign(consumer, tpl),
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => self.revoke(consumer, tpl),
            other => {
                tracing::warn!(error = ?other, "rebalance error; dropping the assignment");
                let _ = consumer.unassign();
            }
        }
    }
}

/// Polls until `stop` is set or a fatal error happens; checkpoints every `interval`.
pub fn poll_loop(
    consumer: &BaseConsumer<IngestContext>,
    interval: Duration,
    stop: &AtomicBool,
    worker_errors: &mpsc::Receiver<super::worker::WorkerError>,
) -> anyhow::Result<()> {
    let result = poll_until_stopped(consumer, interval, stop, worker_errors);
    if result.is_err() {
        consumer.context().poisoned.store(true, Ordering::Relaxed);
    }
    result
}

fn poll_until_stopped(
    consumer: &BaseConsumer<IngestContext>,
    interval: Duration,
    stop: &AtomicBool,
    worker_errors: &mpsc::Receiver<super::worker::WorkerError>,
) -> anyhow::Result<()> {
    let context = consumer.context();
    let shell = &context.observatory.shell;
    let mut last_checkpoint = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if let Some(error) = context.fatal.lock().take() {
            return Err(error);
        }
        if let Ok(error) = worker_errors.try_recv() {
            return Err(error.into());
        }
        if !context.observatory.is_ready() && oracle_has_polled(context) {
            context.observatory.ready.store(true, Ordering::Relaxed);
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                shell.traces_consumed.fetch_add(1, Ordering::Relaxed);
                let record = Record {
                    partition: message.partition(),
                    offset: message.offset(),
                    payload: message.payload().unwrap_or_default().to_vec(),
                };
                context.pipeline.lock().dispatcher.push(record);
            }
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                context.pipeline.lock().dispatcher.reached_end(partition);
            }
            Some(Err(err)) => {
                shell.consumer_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %err, "tracing consumer error");
            }
            None => context.pipeline.lock().dispatcher.flush(),
        }
        if last_checkpoint.elapsed() >= interval {
            checkpoint(consumer)?;
            last_checkpoint = Instant::now();
        }
    }
    closing_checkpoint(consumer)
}

/// Ready means subscribed and holding offsets of every cluster: before the oracle's first
/// complete round, every decision would wait.
fn oracle_has_polled(context: &IngestContext) -> bool {
    context
        .observatory
        .oracle
        .lock()
        .values()
        .all(|stats| stats.last_complete_round.load(Ordering::Relaxed) > 0)
}

/// Starts a checkpoint of every owned partition and refreshes the published metrics, unless
/// the previous checkpoint is still being committed (then the next interval picks it all up).
pub fn checkpoint(consumer: &BaseConsumer<IngestContext>) -> anyhow::Result<()> {
    let context = consumer.context();
    let mut pipeline = context.pipeline.lock();
    let busy = pipeline
        .checkpoints
        .busy()
        .map_err(|err| failed(context, err))?;
    if busy {
        return Ok(());
    }
    let (checkpoints, metrics) = pipeline.dispatcher.checkpoint_all();
    context.observatory.metrics.store(Arc::new(metrics));
    let group = consumer
        .group_metadata()
        .ok_or(CheckpointError::NoGroup)
        .map_err(|err| failed(context, err))?;
    pipeline
        .checkpoints
        .submit(group, checkpoints)
        .map_err(|err| failed(context, err))
}

/// The last checkpoint before stopping: everything owned, committed before returning.
pub fn closing_checkpoint(consumer: &BaseConsumer<IngestContext>) -> anyhow::Result<()> {
    let context = consumer.context();
    let mut pipeline = context.pipeline.lock();
    let (checkpoints, metrics) = pipeline.dispatcher.checkpoint_all();
    context.observatory.metrics.store(Arc::new(metrics));
    final_checkpoint(consumer, &mut pipeline.checkpoints, checkpoints)
        .map_err(|err| failed(context, err))
}

/// Commits `checkpoints` and waits for it (and for any checkpoint still in flight before it).
fn final_checkpoint(
    consumer: &BaseConsumer<IngestContext>,
    runner: &mut CheckpointRunner,
    checkpoints: Vec<PartitionCheckpoint>,
) -> Result<(), CheckpointError> {
    runner.wait()?;
    let group = consumer.group_metadata().ok_or(CheckpointError::NoGroup)?;
    runner.submit(group, checkpoints)?;
    runner.wait()
}

fn failed(context: &IngestContext, err: CheckpointError) -> anyhow::Error {
    context
        .observatory
        .shell
        .checkpoint_failures
        .fetch_add(1, Ordering::Relaxed);
    anyhow::Error::new(err).context("checkpoint")
}
