//! What happens when the group moves tracing partitions: on assign, each partition's detector is
//! restored and handed to its worker; on revoke, the partitions' final checkpoint is committed
//! and their detectors leave with it (as local snapshots).
//!
//! librdkafka runs this inside the tracing consumer's `poll`, on the polling thread.

use std::sync::atomic::Ordering;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::topic_partition_list::TopicPartitionList;
use rdkafka::types::RDKafkaRespErr;

use super::consume::{ConsumerState, final_checkpoint};
use super::error::SessionError;
use crate::events::{AfterCheckpointFailure, CheckpointFailed};
use crate::readiness::SessionPhase;

impl ConsumerContext for ConsumerState {
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

impl ConsumerState {
    /// Restores every assigned partition, then takes them from the positions their state
    /// stands for. The first assignment that completes makes the session run (possibly with no
    /// partition at all: a group may have more members than partitions).
    fn assign(&self, consumer: &BaseConsumer<Self>, tpl: &mut TopicPartitionList) {
        let partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
        if let Err(error) = self.restore_all(consumer, tpl, &partitions) {
            self.fail(error);
            refuse_assignment(consumer);
            return;
        }
        // The strategy is always eager (`consume::consumer_settings`). Asking librdkafka for
        // the protocol here instead can block for ever when the rebalance comes from closing
        // the consumer (librdkafka issue #4041).
        if let Err(err) = consumer.assign(tpl) {
            self.fail(SessionError::Assign(err));
            return;
        }
        self.observatory
            .shell
            .partitions_assigned
            .fetch_add(partitions.len() as i64, Ordering::Relaxed);
        self.observatory
            .session
            .advance(SessionPhase::Joining, SessionPhase::Running);
    }

    /// Restores each partition, hands it to its worker and sets where consuming resumes.
    fn restore_all(
        &self,
        consumer: &BaseConsumer<Self>,
        tpl: &mut TopicPartitionList,
        partitions: &[i32],
    ) -> Result<(), SessionError> {
        let pipeline = self.pipeline.lock();
        for &partition in partitions {
            let restored = pipeline
                .restorer
                .restore(consumer, partition)
                .map_err(|error| SessionError::Restore { partition, error })?;
            let offset = restored.next_offset;
            tpl.set_partition_offset(&self.tracing_topic, partition, offset)
                .map_err(SessionError::Assign)?;
            tracing::info!(
                partition,
                ?offset,
                messages = restored.detector.messages_in_memory(),
                "partition assigned"
            );
            pipeline.dispatcher.assign(partition, restored);
        }
        Ok(())
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
            CheckpointFailed {
                error: &err,
                then: AfterCheckpointFailure::NextOwnerResumes {
                    partitions: &partitions,
                },
            }
            .emit(&self.observatory.shell);
        }
        if let Err(err) = consumer.unassign() {
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
fn refuse_assignment(consumer: &BaseConsumer<ConsumerState>) {
    if let Err(err) = consumer.unassign() {
        tracing::warn!(error = %err, "unassigning after a failed assignment");
    }
}
