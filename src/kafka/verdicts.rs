//! Publishing verdicts to the lost-messages topic, keyed by message id, with `acks=all` and
//! idempotence, so a checkpoint can wait until every verdict it covers is on the broker.

use std::time::Duration;

use cairn_core::model::Verdict;
use cairn_core::verdict;
use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("could not create the verdict producer: {0}")]
    Client(Box<KafkaError>),
    #[error("verdict for message `{id}` could not be queued: {source}")]
    Enqueue { id: String, source: Box<KafkaError> },
    #[error("the broker did not acknowledge {failed} verdict(s); first error: {first}")]
    NotAcknowledged {
        failed: usize,
        first: Box<KafkaError>,
    },
}

/// Verdicts handed to the producer whose acknowledgement has not been checked yet.
#[derive(Default)]
pub struct PendingVerdicts {
    deliveries: Vec<DeliveryFuture>,
}

impl PendingVerdicts {
    pub fn len(&self) -> usize {
        self.deliveries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.deliveries.is_empty()
    }
}

pub struct VerdictPublisher {
    producer: FutureProducer,
    topic: String,
}

impl VerdictPublisher {
    /// `base` carries the output cluster's settings; durability settings are forced here
    /// because a checkpoint relies on them.
    pub fn new(base: &ClientConfig, topic: &str) -> Result<Self, PublishError> {
        let producer = base
            .clone()
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .create()
            .map_err(|err| PublishError::Client(Box::new(err)))?;
        Ok(VerdictPublisher {
            producer,
            topic: topic.to_owned(),
        })
    }

    /// Queues one verdict; waits (without dropping it) while the local queue is full.
    pub fn publish(
        &self,
        verdict: &Verdict,
        pending: &mut PendingVerdicts,
    ) -> Result<(), PublishError> {
        let payload = verdict::encode(verdict);
        loop {
            let record = FutureRecord::to(&self.topic)
                .key(&verdict.id)
                .payload(&payload);
            match self.producer.send_result(record) {
                Ok(delivery) => {
                    pending.deliveries.push(delivery);
                    return Ok(());
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    self.producer.poll(Duration::from_millis(10));
                }
                Err((source, _)) => {
                    return Err(PublishError::Enqueue {
                        id: verdict.id.clone(),
                        source: Box::new(source),
                    });
                }
            }
        }
    }

    /// Waits until the broker acknowledged every pending verdict. An error means some verdict
    /// may not be on the topic: the caller must not checkpoint past it.
    pub async fn confirm(&self, pending: PendingVerdicts) -> Result<usize, PublishError> {
        let count = pending.deliveries.len();
        let mut failed = 0;
        let mut first = None;
        for delivery in pending.deliveries {
            let outcome = match delivery.await {
                Ok(Ok(_)) => None,
                Ok(Err((err, _))) => Some(err),
                Err(_canceled) => Some(KafkaError::Canceled),
            };
            if let Some(err) = outcome {
                failed += 1;
                first.get_or_insert(err);
            }
        }
        match first {
            None => Ok(count),
            Some(first) => Err(PublishError::NotAcknowledged {
                failed,
                first: Box::new(first),
            }),
        }
    }
}
