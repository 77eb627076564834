//! Routing records from the tracing consumer to the worker that owns their partition.
//!
//! A partition belongs to worker `partition mod workers`; records are sent in batches, and every
//! request to a worker (assign, end of partition, revoke, checkpoint) goes after the records read
//! before it, so a worker always answers for everything consumed so far.

use std::sync::mpsc::{self, SyncSender};

use cairn_core::metrics::Metrics;
use cairn_core::model::Millis;
use rdkafka::Offset;

use super::frontier::Frontier;
use super::restore::Restored;
use super::worker::{PartitionCheckpoint, Record, WorkerMsg};

/// Records are sent to workers in batches of this many (or fewer when the poll runs dry).
const BATCH: usize = 512;

/// Routes records to workers by partition and keeps the batches not yet sent.
pub struct Dispatcher {
    workers: Vec<SyncSender<WorkerMsg>>,
    batches: Vec<Vec<Record>>,
    /// Where interruptions are announced to the workers.
    frontier: Frontier,
}

impl Dispatcher {
    pub fn new(workers: Vec<SyncSender<WorkerMsg>>, frontier: Frontier) -> Self {
        let batches = workers.iter().map(|_| Vec::with_capacity(BATCH)).collect();
        Dispatcher {
            workers,
            batches,
            frontier,
        }
    }

    /// How far the workers' partitions are read, which the look thread moves.
    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }

    fn worker_of(&self, partition: i32) -> usize {
        partition.unsigned_abs() as usize % self.workers.len()
    }

    /// Queues a record for its partition's worker, sending the batch once it is full.
    pub fn push(&mut self, record: Record) {
        let w = self.worker_of(record.partition);
        self.batches[w].push(record);
        if self.batches[w].len() >= BATCH {
            let batch = std::mem::replace(&mut self.batches[w], Vec::with_capacity(BATCH));
            let _ = self.workers[w].send(WorkerMsg::Records(batch));
        }
    }

    /// Sends every pending batch, so a following request sees all records read so far.
    pub fn flush(&mut self) {
        for (w, batch) in self.batches.iter_mut().enumerate() {
            if !batch.is_empty() {
                let _ = self.workers[w].send(WorkerMsg::Records(std::mem::take(batch)));
            }
        }
    }

    /// Tells the partition's worker, after every record read before it, that the consumer
    /// reached the partition's end at `position`.
    pub fn reached_end(&mut self, partition: i32, position: Option<i64>) {
        let w = self.worker_of(partition);
        if !self.batches[w].is_empty() {
            let batch = std::mem::replace(&mut self.batches[w], Vec::with_capacity(BATCH));
            let _ = self.workers[w].send(WorkerMsg::Records(batch));
        }
        let _ = self.workers[w].send(WorkerMsg::ReachedEnd {
            partition,
            position,
        });
    }

    /// Tells every worker, after the records read so far, that the consumer lost the tracing
    /// cluster at `at` (see [`WorkerMsg::Interrupted`]).
    pub fn interrupted(&mut self, at: Millis) {
        // Announced first: a worker skips its timers from now until the message reaches it.
        let seq = self.frontier.interrupt();
        self.flush();
        for worker in &self.workers {
            let _ = worker.send(WorkerMsg::Interrupted { seq, at });
        }
    }

    /// Hands a restored partition to its worker.
    pub fn assign(&self, partition: i32, restored: Restored) {
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
        self.frontier.assigned(partition);
    }

    /// Takes partitions back from their workers: their final checkpoints, detectors included.
    pub fn revoke(&mut self, partitions: &[i32]) -> Vec<PartitionCheckpoint> {
        for &partition in partitions {
            self.frontier.revoked(partition);
        }
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

    /// A checkpoint of every owned partition, and the metrics merged over all workers.
    pub fn checkpoint_all(&mut self) -> (Vec<PartitionCheckpoint>, Metrics) {
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

    /// Tells every worker to stop.
    pub fn stop(&self) {
        for sender in &self.workers {
            let _ = sender.send(WorkerMsg::Stop);
        }
    }
}
