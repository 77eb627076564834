//! Checkpoints: making a batch of partition states durable together with the tracing offsets
//! they stand for, and the verdicts they produced.
//!
//! Order of one checkpoint:
//! 1. verdicts for an output cluster other than the tracing cluster are published and
//!    acknowledged (at-least-once there: a crash after this step repeats them; consumers drop
//!    repeats by (id, hop, verdict), as the contract allows);
//! 2. one Kafka transaction on the tracing cluster writes the state changes to the changelog
//!    (with the tracing position they stand for), the verdicts (when the output topic lives on
//!    the tracing cluster) and the tracing offsets with a token as commit metadata. Either all of
//!    it is visible or none of it;
//! 3. for a partition leaving this instance (revoke, shutdown), its full state becomes the local
//!    snapshot (see [`crate::store`]), tied to the token of the last commit.
//!
//! Checkpoints run on their own thread ([`CheckpointRunner`]), one at a time, so consuming goes
//! on while a transaction commits.
//!
//! The local snapshot is trusted on the next assign only if the committed metadata carries its
//! token; otherwise the changelog, which moved in the same transaction as the offsets, is read.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cairn_core::detector::Detector;
use cairn_core::model::Verdict;
use cairn_core::verdict;
use rdkafka::client::ClientContext;
use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::changelog;
use super::spill::SpillTier;
use super::worker::{PartitionCheckpoint, state_key};
use crate::events::{AfterCheckpointFailure, CheckpointFailed, SnapshotStage, SnapshotUnusable};
use crate::observe::Observatory;
use crate::store::{Checkpoint, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint transaction: {operation} failed: {source}")]
    Transaction {
        operation: &'static str,
        source: Box<KafkaError>,
    },
    #[error("publishing verdicts to the output cluster failed: {0}")]
    Verdicts(Box<KafkaError>),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the checkpoint thread stopped")]
    Stopped,
    #[error("the consumer has no group metadata (not in a group)")]
    NoGroup,
}

/// How long a periodic checkpoint transaction is tried again after errors that are not fatal:
/// longer than a broker's session timeout (9 s by default) plus an election, so a checkpoint
/// rides out the death of the broker that coordinates its transactions. A final checkpoint
/// (partitions leaving: revoke, shutdown) is not retried: it runs inside the rebalance, and its
/// failure loses nothing (the next owner resumes from the previous checkpoint).
const TRANSACTION_RETRY_FOR: Duration = Duration::from_secs(20);

impl CheckpointError {
    /// Whether the same checkpoint may succeed if tried again: a transaction error that
    /// librdkafka does not call fatal (a fatal one needs a new producer, that is a restart).
    fn retriable(&self) -> bool {
        match self {
            CheckpointError::Transaction { source, .. } => match source.as_ref() {
                KafkaError::Transaction(err) => !err.is_fatal(),
                // commit_transaction flushes first: records still waiting for a partition
                // whose leader died.
                KafkaError::Flush(_) => true,
                _ => false,
            },
            _ => false,
        }
    }
}

fn txn(operation: &'static str) -> impl FnOnce(KafkaError) -> CheckpointError {
    move |source| CheckpointError::Transaction {
        operation,
        source: Box::new(source),
    }
}

/// How long a start keeps asking for its transactional producer id while the broker answers
/// with errors librdkafka calls retriable (a coordinator still loading or just moved, as on a
/// broker that has just started): those say nothing about the settings.
const INIT_RETRY_FOR: Duration = Duration::from_secs(60);

/// Initialises the producer's transactions, asking again after retriable errors.
fn init_transactions(producer: &BaseProducer, timeout: Duration) -> Result<(), CheckpointError> {
    let deadline = Instant::now() + INIT_RETRY_FOR;
    loop {
        match producer.init_transactions(timeout) {
            Ok(()) => return Ok(()),
            Err(KafkaError::Transaction(err)) if passing(&err) && Instant::now() < deadline => {
                tracing::warn!(error = %err, "initialising checkpoint transactions; asking again");
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(err) => return Err(txn("init")(err)),
        }
    }
}

/// Whether an init error passes by itself: retriable by librdkafka's word, or about the
/// transaction coordinator, which a young broker is still electing or loading.
fn passing(err: &rdkafka::error::RDKafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as Code;
    err.is_retriable()
        || matches!(
            err.code(),
            Code::NotCoordinator
                | Code::CoordinatorNotAvailable
                | Code::CoordinatorLoadInProgress
                | Code::ConcurrentTransactions
        )
}

/// Where verdicts go when the output topic is not on the tracing cluster.
pub struct ExternalOutput {
    pub producer: BaseProducer<DeliveryCounter>,
    pub topic: String,
}

impl ExternalOutput {
    pub fn new(output_base: &ClientConfig, topic: &str) -> Result<Self, CheckpointError> {
        let producer = output_base
            .clone()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .create_with_context(DeliveryCounter::default())
            .map_err(|err| CheckpointError::Verdicts(Box::new(err)))?;
        Ok(ExternalOutput {
            producer,
            topic: topic.to_owned(),
        })
    }
}

/// Counts deliveries the broker did not acknowledge.
#[derive(Default)]
pub struct DeliveryCounter {
    failed: AtomicU64,
}

impl DeliveryCounter {
    /// Failures since the last call.
    fn take_failures(&self) -> u64 {
        self.failed.swap(0, Ordering::Relaxed)
    }
}

impl ClientContext for DeliveryCounter {}

impl ProducerContext for DeliveryCounter {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((err, _)) = result {
            tracing::error!(error = %err, "the output cluster did not acknowledge a verdict");
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

pub struct Checkpointer {
    tracing_topic: String,
    changelog_topic: String,
    output_topic: String,
    /// Transactional producer on the tracing cluster.
    producer: BaseProducer,
    external: Option<ExternalOutput>,
    store: Arc<Store>,
    tier: Arc<SpillTier>,
    observatory: Arc<Observatory>,
    instance: String,
    sequence: u64,
    /// The offset and token last committed per partition: a checkpoint that would change
    /// nothing is skipped, and a snapshot is tied to the token its state was committed with.
    committed: HashMap<i32, (i64, String)>,
    timeout: Duration,
}

impl Checkpointer {
    /// `tracing_base` carries the tracing cluster's settings; `instance` must be stable across
    /// restarts of this instance (it names the transactional id, which fences a zombie).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        tracing_base: &ClientConfig,
        tracing_topic: &str,
        changelog_topic: &str,
        output_topic: &str,
        external: Option<ExternalOutput>,
        store: Arc<Store>,
        tier: Arc<SpillTier>,
        observatory: Arc<Observatory>,
        instance: &str,
        timeout: Duration,
    ) -> Result<Self, CheckpointError> {
        let producer: BaseProducer = tracing_base
            .clone()
            .set("transactional.id", format!("cairn-{instance}"))
            // librdkafka may buffer 1 GiB by default; a checkpoint waits on a full queue instead.
            .set("queue.buffering.max.kbytes", "65536")
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("compression.type", "lz4")
            .create()
            .map_err(txn("create producer"))?;
        init_transactions(&producer, timeout)?;
        Ok(Checkpointer {
            tracing_topic: tracing_topic.to_owned(),
            changelog_topic: changelog_topic.to_owned(),
            output_topic: output_topic.to_owned(),
            producer,
            external,
            store,
            tier,
            observatory,
            instance: instance.to_owned(),
            sequence: 0,
            committed: HashMap::new(),
            timeout,
        })
    }

    /// Makes `checkpoints` durable and commits their offsets for the group of `group`, then
    /// writes the local snapshot of every partition handed off with them.
    pub fn commit(
        &mut self,
        group: &ConsumerGroupMetadata,
        checkpoints: &[PartitionCheckpoint],
    ) -> Result<(), CheckpointError> {
        let changed: Vec<&PartitionCheckpoint> = checkpoints
            .iter()
            .filter(|c| {
                !c.changes.is_empty()
                    || !c.verdicts.is_empty()
                    || self.committed.get(&c.partition).map(|(offset, _)| *offset)
                        != Some(c.next_offset)
            })
            .collect();
        if !changed.is_empty() {
            let final_checkpoint = checkpoints.iter().any(|c| c.handoff.is_some());
            let retry_for = if final_checkpoint {
                Duration::ZERO
            } else {
                TRANSACTION_RETRY_FOR
            };
            self.commit_changed(group, &changed, retry_for)?;
        }
        for checkpoint in checkpoints {
            if let Some(detector) = &checkpoint.handoff {
                self.write_snapshot(checkpoint.partition, detector);
                // The partition left: its spilled messages are in the snapshot and the changelog.
                if let Err(err) = self.tier.drop_partition(checkpoint.partition) {
                    tracing::warn!(partition = checkpoint.partition, error = %err, "forgetting a revoked partition's spilled messages failed; a restore drops them again");
                }
            }
        }
        Ok(())
    }

    fn commit_changed(
        &mut self,
        group: &ConsumerGroupMetadata,
        checkpoints: &[&PartitionCheckpoint],
        retry_for: Duration,
    ) -> Result<(), CheckpointError> {
        self.sequence += 1;
        for c in checkpoints {
            tracing::debug!(
                partition = c.partition,
                changes = c.changes.len(),
                verdicts = c.verdicts.len(),
                next_offset = c.next_offset,
                seq = self.sequence,
                "checkpoint commit starts"
            );
        }
        let token = format!("{}:{}:{}", self.instance, std::process::id(), self.sequence);
        if let Some(external) = &self.external {
            publish_and_confirm(
                external,
                checkpoints.iter().flat_map(|c| &c.verdicts),
                self.timeout,
            )?;
        }
        self.transaction_with_retries(group, checkpoints, &token, retry_for)?;
        for checkpoint in checkpoints {
            self.committed.insert(
                checkpoint.partition,
                (checkpoint.next_offset, token.clone()),
            );
        }
        let shell = &self.observatory.shell;
        shell.checkpoints.fetch_add(1, Ordering::Relaxed);
        for checkpoint in checkpoints {
            for verdict in &checkpoint.verdicts {
                shell.verdicts_published.fetch_add(1, Ordering::Relaxed);
                self.observatory.record_verdict(verdict);
                tracing::info!(
                    id = %verdict.id,
                    stream = %verdict.stream,
                    app = %verdict.hop.app,
                    verdict = ?verdict.verdict,
                    reason = verdict.reason.as_str(),
                    tracing_partition = checkpoint.partition,
                    "verdict published"
                );
            }
        }
        Ok(())
    }

    /// Writes the full state of a partition leaving this instance as its local snapshot. The
    /// snapshot only speeds up a later assign here, so a failure is logged and counted, and the
    /// next assign reads the changelog instead.
    fn write_snapshot(&mut self, partition: i32, detector: &Detector) {
        // Only a state this instance committed has a token to be trusted by.
        let Some((next_offset, token)) = self.committed.remove(&partition) else {
            return;
        };
        let checkpoint = Checkpoint { next_offset, token };
        let result = self.store.write_snapshot(partition, &checkpoint, |writer| {
            let mut failure = None;
            let mut bytes = Vec::new();
            detector.for_each_state(|id, stored| {
                if failure.is_some() {
                    return;
                }
                bytes.clear();
                failure = match stored.encode(&mut bytes) {
                    Ok(_) => writer.put(&state_key(&stored.stream, id), &bytes).err(),
                    Err(err) => Some(StoreError::CorruptSnapshot {
                        partition,
                        detail: format!("encoding the state of `{id}`: {err}"),
                    }),
                };
            });
            if let Some(err) = failure {
                return Err(err);
            }
            // The messages of the partition on the disk tier belong in its snapshot too.
            let mut failure = None;
            let spilled = self.tier.for_each(partition, |key, state| {
                if let Err(err) = writer.put(key, state) {
                    failure = Some(err);
                }
                Ok(())
            });
            match (failure, spilled) {
                (Some(err), _) => Err(err),
                (None, Err(err)) => Err(StoreError::CorruptSnapshot {
                    partition,
                    detail: format!("reading its spilled messages: {err}"),
                }),
                (None, Ok(_)) => Ok(()),
            }
        });
        match result {
            Ok(states) => {
                tracing::info!(partition, states, next_offset, "local snapshot written");
            }
            Err(err) => SnapshotUnusable {
                partition,
                error: &err,
                when: SnapshotStage::Write,
            }
            .emit(&self.observatory.shell),
        }
    }

    /// Runs the transaction, and when it fails with an error that is not fatal (its broker
    /// died, the transaction coordinator moved), aborts it and runs it again until
    /// `retry_for` has passed: nothing of an aborted transaction is visible, so
    /// the same records and offsets can go again. A broker restart must not stop the job.
    fn transaction_with_retries(
        &self,
        group: &ConsumerGroupMetadata,
        checkpoints: &[&PartitionCheckpoint],
        token: &str,
        retry_for: Duration,
    ) -> Result<(), CheckpointError> {
        let deadline = Instant::now() + retry_for;
        let mut backoff = Duration::from_millis(200);
        loop {
            let Err(err) = self.transaction(group, checkpoints, token) else {
                return Ok(());
            };
            // Leave the producer usable for the next attempt; what was drained is re-derived
            // after the restart the caller performs when this gives up.
            let aborted = self.abort_until(deadline);
            if !err.retriable() || Instant::now() + backoff >= deadline {
                // The caller reports the failure it gives up on.
                return Err(err);
            }
            aborted?;
            CheckpointFailed {
                error: &err,
                then: AfterCheckpointFailure::Retry { retry_in: backoff },
            }
            .emit(&self.observatory.shell);
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }

    /// Aborts the open transaction, trying again while the abort itself times out.
    fn abort_until(&self, deadline: Instant) -> Result<(), CheckpointError> {
        loop {
            match self.producer.abort_transaction(self.timeout) {
                Ok(()) => return Ok(()),
                Err(err) => {
                    let err = txn("abort")(err);
                    if !err.retriable() || Instant::now() >= deadline {
                        return Err(err);
                    }
                    tracing::debug!(error = %err, "aborting the checkpoint transaction failed; trying again");
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
    }

    fn transaction(
        &self,
        group: &ConsumerGroupMetadata,
        checkpoints: &[&PartitionCheckpoint],
        token: &str,
    ) -> Result<(), CheckpointError> {
        self.producer.begin_transaction().map_err(txn("begin"))?;
        let mut offsets = TopicPartitionList::new();
        for checkpoint in checkpoints {
            for (key, state) in &checkpoint.changes {
                let mut record = BaseRecord::<str, [u8]>::to(&self.changelog_topic)
                    .key(key.as_str())
                    .partition(checkpoint.partition);
                if let Some(state) = state {
                    record = record.payload(state.as_slice());
                }
                send(&self.producer, record)?;
            }
            if self.external.is_none() {
                for verdict in &checkpoint.verdicts {
                    let payload = verdict::encode(verdict);
                    send(
                        &self.producer,
                        BaseRecord::to(&self.output_topic)
                            .key(verdict.id.as_str())
                            .payload(&payload),
                    )?;
                }
            }
            let position = changelog::encode_position(checkpoint.next_offset);
            let record = BaseRecord::<str, [u8]>::to(&self.changelog_topic)
                .key(changelog::POSITION_KEY)
                .payload(position.as_slice())
                .partition(checkpoint.partition);
            send(&self.producer, record)?;
            offsets
                .add_partition_offset(
                    &self.tracing_topic,
                    checkpoint.partition,
                    Offset::Offset(checkpoint.next_offset),
                )
                .map_err(txn("offsets"))?;
            if let Some(mut element) =
                offsets.find_partition(&self.tracing_topic, checkpoint.partition)
            {
                element.set_metadata(token);
            }
        }
        self.producer
            .send_offsets_to_transaction(&offsets, group, self.timeout)
            .map_err(txn("send offsets"))?;
        self.producer
            .commit_transaction(self.timeout)
            .map_err(txn("commit"))
    }
}

/// Queues one record, waiting (never dropping) while the local queue is full.
fn send<K, P, X>(
    producer: &BaseProducer<X>,
    mut record: BaseRecord<'_, K, P>,
) -> Result<(), CheckpointError>
where
    X: ProducerContext<DeliveryOpaque = ()>,
    K: rdkafka::message::ToBytes + ?Sized,
    P: rdkafka::message::ToBytes + ?Sized,
{
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                record = returned;
                producer.poll(Duration::from_millis(10));
            }
            Err((err, _)) => return Err(txn("produce")(err)),
        }
    }
}

fn publish_and_confirm<'a>(
    output: &ExternalOutput,
    verdicts: impl Iterator<Item = &'a Verdict>,
    timeout: Duration,
) -> Result<(), CheckpointError> {
    for verdict in verdicts {
        let payload = verdict::encode(verdict);
        let record = BaseRecord::to(&output.topic)
            .key(verdict.id.as_str())
            .payload(&payload);
        send(&output.producer, record).map_err(|err| match err {
            CheckpointError::Transaction { source, .. } => CheckpointError::Verdicts(source),
            other => other,
        })?;
    }
    // flush waits for every delivery report; an idempotent producer with acks=all only reports
    // success once the record is on every in-sync replica.
    output
        .producer
        .flush(timeout)
        .map_err(|err| CheckpointError::Verdicts(Box::new(err)))?;
    let failed = output.producer.context().take_failures();
    if failed > 0 {
        return Err(CheckpointError::Verdicts(Box::new(
            KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut),
        )));
    }
    Ok(())
}

/// Runs checkpoints on a thread of their own, so consuming goes on while a transaction commits.
/// At most one checkpoint is in flight; the next waits for it.
pub struct CheckpointRunner {
    jobs: Option<SyncSender<(ConsumerGroupMetadata, Vec<PartitionCheckpoint>)>>,
    results: Receiver<Result<(), CheckpointError>>,
    in_flight: bool,
    thread: Option<JoinHandle<()>>,
}

impl CheckpointRunner {
    pub fn start(mut checkpointer: Checkpointer) -> std::io::Result<Self> {
        let (jobs, inbox) =
            mpsc::sync_channel::<(ConsumerGroupMetadata, Vec<PartitionCheckpoint>)>(1);
        let (outcomes, results) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("cairn-checkpoint".into())
            .spawn(move || {
                for (group, checkpoints) in inbox {
                    if outcomes
                        .send(checkpointer.commit(&group, &checkpoints))
                        .is_err()
                    {
                        return;
                    }
                }
            })?;
        Ok(CheckpointRunner {
            jobs: Some(jobs),
            results,
            in_flight: false,
            thread: Some(thread),
        })
    }

    /// Whether a checkpoint is still being committed; an error of the one that finished.
    pub fn busy(&mut self) -> Result<bool, CheckpointError> {
        if !self.in_flight {
            return Ok(false);
        }
        match self.results.try_recv() {
            Ok(outcome) => {
                self.in_flight = false;
                outcome.map(|()| false)
            }
            Err(mpsc::TryRecvError::Empty) => Ok(true),
            Err(mpsc::TryRecvError::Disconnected) => Err(CheckpointError::Stopped),
        }
    }

    /// Waits for the checkpoint in flight, if any.
    pub fn wait(&mut self) -> Result<(), CheckpointError> {
        if !self.in_flight {
            return Ok(());
        }
        self.in_flight = false;
        self.results.recv().map_err(|_| CheckpointError::Stopped)?
    }

    /// Starts a checkpoint after the previous one finished.
    pub fn submit(
        &mut self,
        group: ConsumerGroupMetadata,
        checkpoints: Vec<PartitionCheckpoint>,
    ) -> Result<(), CheckpointError> {
        self.wait()?;
        let jobs = self.jobs.as_ref().ok_or(CheckpointError::Stopped)?;
        jobs.send((group, checkpoints))
            .map_err(|_| CheckpointError::Stopped)?;
        self.in_flight = true;
        Ok(())
    }
}

impl Drop for CheckpointRunner {
    fn drop(&mut self) {
        let _ = self.wait();
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
