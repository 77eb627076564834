//! Rebuilding a tracing partition's detector when this instance is assigned the partition.
//!
//! Each checkpoint's transaction moves the changelog (state plus the tracing offset it stands
//! for) and the group's committed offset (with a token as metadata) together. The local snapshot is
//! used when its checkpoint carries the committed token; otherwise the changelog is read to its
//! end and its position is where consumption resumes.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use cairn_core::detector::{Detector, StateError};
use cairn_core::lineage::Lineage;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use cairn_core::detector::spill::spill_goal;

use super::changelog::{self, ChangelogError};
use super::spill::{SpillError, SpillTier};
use crate::events::{PositionReset, ResetCause, SnapshotStage, SnapshotUnusable, StateUnreadable};
use crate::lineage::LineageCell;
use crate::observe::Observatory;
use crate::store::{Checkpoint, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("reading the committed position of tracing partition {partition}: {source}")]
    Committed {
        partition: i32,
        source: Box<KafkaError>,
    },
    #[error(transparent)]
    Changelog(#[from] ChangelogError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Spill(#[from] SpillError),
    #[error("state of `{key}` in tracing partition {partition} could not be restored: {detail}")]
    State {
        partition: i32,
        key: String,
        detail: String,
    },
    #[error("no lineage is in use yet")]
    NoLineage,
}

/// A partition ready to be handed to a worker.
pub struct Restored {
    pub detector: Detector,
    /// The tracing offset to consume from.
    pub next_offset: Offset,
}

pub struct Restorer {
    /// The lineage in use when a partition is restored; the worker moves the detector onto a
    /// newer one if it changes meanwhile.
    pub lineage: Arc<LineageCell>,
    pub store: Arc<Store>,
    pub tracing_base: ClientConfig,
    pub tracing_topic: String,
    pub changelog_topic: String,
    pub observatory: Arc<Observatory>,
    pub timeout: Duration,
    /// The disk tier: a partition restored past its worker's memory share spills as it loads.
    pub tier: Arc<SpillTier>,
    pub memory_per_worker: u64,
}

/// How many states are restored between two looks at the memory budget.
const BUDGET_CHECK_EVERY: usize = 4096;

impl Restorer {
    pub fn restore<C: ConsumerContext>(
        &self,
        consumer: &BaseConsumer<C>,
        partition: i32,
    ) -> Result<Restored, RestoreError> {
        let (committed, token) = self.committed(consumer, partition)?;
        // Whatever the tier holds of the partition is older than what is restored now.
        self.tier.drop_partition(partition)?;
        let local = self.store.read_checkpoint(partition)?;
        let shell = &self.observatory.shell;
        let mut detector = Detector::new(self.lineage()?);
        let local_matches = matches!(
            (&local, committed),
            (Some(Checkpoint { next_offset, token: local_token }), Some(offset))
                if *next_offset == offset && !token.is_empty() && *local_token == token
        );
        let position = match local_matches
            .then(|| self.restore_local(partition))
            .transpose()
        {
            Ok(Some(restored)) => {
                detector = restored;
                shell.restored_local.fetch_add(1, Ordering::Relaxed);
                committed
            }
            Ok(None) | Err(_) => {
                let state = changelog::read_partition(
                    &self.tracing_base,
                    &self.changelog_topic,
                    partition,
                    self.timeout,
                )?;
                for (n, (key, bytes)) in state.messages.iter().enumerate() {
                    if n.is_multiple_of(BUDGET_CHECK_EVERY) {
                        self.keep_budget(&mut detector, partition)?;
                    }
                    if let Err(error) = self.restore_one(&mut detector, partition, key, bytes) {
                        StateUnreadable {
                            partition,
                            key: &key.replace('\u{0}', "/"),
                            error: &error,
                        }
                        .emit(shell);
                    }
                }
                // The local snapshot no longer stands for anything; a new one is written when
                // the partition leaves this instance.
                self.store.drop_partition(partition)?;
                shell.restored_changelog.fetch_add(1, Ordering::Relaxed);
                // The position written with the state is the one that matches it; the group's
                // committed offset moved in the same transaction and is only the fallback.
                state.position.or(committed)
            }
        };
        self.keep_budget(&mut detector, partition)?;
        let next_offset = match position {
            Some(offset) => self.within_log(consumer, partition, offset),
            None => {
                // Never a silent skip: a partition without a committed position starts at the
                // log start, and says so.
                PositionReset {
                    topic: &self.tracing_topic,
                    partition,
                    cause: ResetCause::NoCommittedPosition,
                }
                .emit(shell);
                Offset::Beginning
            }
        };
        Ok(Restored {
            detector,
            next_offset,
        })
    }

    /// The detector held by the local snapshot, or why it cannot be used (logged and counted;
    /// the caller reads the changelog instead).
    fn restore_local(&self, partition: i32) -> Result<Detector, RestoreError> {
        let mut detector = Detector::new(self.lineage()?);
        let result = (|| {
            let mut reader = self.store.read_snapshot(partition)?;
            let mut n = 0usize;
            while let Some((key, bytes)) = reader.next_entry()? {
                self.restore_one(&mut detector, partition, key, bytes)?;
                n += 1;
                if n.is_multiple_of(BUDGET_CHECK_EVERY) {
                    self.keep_budget(&mut detector, partition)?;
                }
            }
            Ok(())
        })();
        if let Err(err) = &result {
            SnapshotUnusable {
                partition,
                error: err,
                when: SnapshotStage::Restore,
            }
            .emit(&self.observatory.shell);
        }
        result.map(|()| detector)
    }

    /// Spills what the partition holds past its worker's memory share (the worker splits the
    /// share between its partitions from its first round on).
    fn keep_budget(&self, detector: &mut Detector, partition: i32) -> Result<(), RestoreError> {
        let Some(target) = spill_goal(detector.memory_bytes(), self.memory_per_worker) else {
            return Ok(());
        };
        let mut write = self.tier.write()?;
        // Restored states are the checkpoint's: none is changed since.
        let mut changed = Vec::new();
        let count = write.spill(
            partition,
            detector,
            target,
            crate::clock::now_millis(),
            &mut changed,
        )?;
        write.commit()?;
        if count.shed > 0 {
            crate::events::MessagesShed {
                partition,
                shed: count.shed,
                disk_used: self.tier.used_bytes(),
                max_disk: self.tier.max_disk(),
            }
            .emit();
        }
        Ok(())
    }

    /// The lineage in use; a session only starts once there is one.
    fn lineage(&self) -> Result<Arc<Lineage>, RestoreError> {
        self.lineage
            .current()
            .map(|applied| applied.lineage.clone())
            .ok_or(RestoreError::NoLineage)
    }

    fn restore_one(
        &self,
        detector: &mut Detector,
        partition: i32,
        key: &str,
        bytes: &[u8],
    ) -> Result<(), RestoreError> {
        let id = super::worker::split_state_key(key).map_or(key, |(_, id)| id);
        match detector.restore(id, bytes) {
            // The lineage lost the stream while the state was stored: not watched any more,
            // counted, and removed from the store (never judged).
            Err(StateError::UnknownStream(stream)) => {
                detector.unwatch_stored(&stream, id);
                Ok(())
            }
            result => result.map_err(|err| RestoreError::State {
                partition,
                key: key.replace('\u{0}', "/"),
                detail: err.to_string(),
            }),
        }
    }

    fn committed<C: ConsumerContext>(
        &self,
        consumer: &BaseConsumer<C>,
        partition: i32,
    ) -> Result<(Option<i64>, String), RestoreError> {
        let mut request = TopicPartitionList::new();
        request.add_partition(&self.tracing_topic, partition);
        let answer = consumer
            .committed_offsets(request, self.timeout)
            .map_err(|source| RestoreError::Committed {
                partition,
                source: Box::new(source),
            })?;
        let element = answer.find_partition(&self.tracing_topic, partition);
        Ok(match element {
            Some(element) => match element.offset() {
                Offset::Offset(offset) => (Some(offset), element.metadata().to_owned()),
                _ => (None, String::new()),
            },
            None => (None, String::new()),
        })
    }

    /// The committed offset, unless retention already removed it: then the log start, logged
    /// and counted with how many traces expired unread.
    fn within_log<C: ConsumerContext>(
        &self,
        consumer: &BaseConsumer<C>,
        partition: i32,
        offset: i64,
    ) -> Offset {
        match consumer.fetch_watermarks(&self.tracing_topic, partition, self.timeout) {
            Ok((log_start, _)) if log_start > offset => {
                PositionReset {
                    topic: &self.tracing_topic,
                    partition,
                    cause: ResetCause::BeforeLogStart {
                        committed: offset,
                        log_start,
                    },
                }
                .emit(&self.observatory.shell);
                Offset::Beginning
            }
            _ => Offset::Offset(offset),
        }
    }
}
