//! The heartbeat producer of one cluster: paces first sends per partition, re-sends failed
//! ones (marked by their attempt), and never blocks. A full local queue pauses the pace (the
//! sequence is taken back); an unreachable cluster fails sends after `send_timeout`, which
//! the ledger counts and the producer re-sends, so the process resumes by itself.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cairn_core::canary::Heartbeat;
use cairn_core::config::{CanaryAcks, CanarySection, ClusterConfig};
use parking_lot::Mutex;
use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{
    BaseRecord, DeliveryResult, Producer as _, ProducerContext, ThreadedProducer,
};

use super::view::ClusterSlot;
use crate::clock::now_millis;
use crate::kafka::client::{client_config, set_default};

/// How often the pacer wakes up.
const PACE: Duration = Duration::from_millis(5);

/// What a delivery report needs to find its sequence.
pub struct Sent {
    partition: i32,
    seq: u64,
}

/// Delivery reports go straight into the core; failed sends queue for a re-send.
pub struct CanaryProducerContext {
    slot: Arc<ClusterSlot>,
    resend: Arc<Mutex<VecDeque<(i32, u64)>>>,
}

impl ClientContext for CanaryProducerContext {}

impl ProducerContext for CanaryProducerContext {
    type DeliveryOpaque = Box<Sent>;

    fn delivery(&self, result: &DeliveryResult<'_>, sent: Box<Sent>) {
        let now = now_millis();
        match result {
            Ok(message) => {
                self.slot
                    .core
                    .lock()
                    .acknowledged(sent.partition, sent.seq, message.offset(), now);
            }
            Err((error, _)) => {
                tracing::debug!(cluster = %self.slot.name, partition = sent.partition, %error, "heartbeat send failed");
                // A refusal fails every send: say once which ACL is missing.
                if super::acl::is_denied(&error.to_string()) {
                    self.slot.error("produce", error);
                }
                let resend = self.slot.core.lock().failed(sent.partition, sent.seq, now);
                if resend {
                    self.resend.lock().push_back((sent.partition, sent.seq));
                }
            }
        }
    }
}

type Producer = ThreadedProducer<CanaryProducerContext>;

/// Starts the producer thread of `slot`'s cluster.
pub fn spawn_producer(
    cluster: &ClusterConfig,
    section: &CanarySection,
    slot: Arc<ClusterSlot>,
    run: String,
    instance: String,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<JoinHandle<()>> {
    let mut config = client_config(cluster);
    set_default(&mut config, "acks", section.acks.as_str());
    let idempotent = section.acks == CanaryAcks::All;
    set_default(&mut config, "enable.idempotence", &idempotent.to_string());
    set_default(
        &mut config,
        "message.timeout.ms",
        &section.send_timeout.as_millis().to_string(),
    );
    set_default(&mut config, "linger.ms", "2");
    set_default(&mut config, "allow.auto.create.topics", "false");
    set_default(&mut config, "topic.metadata.refresh.interval.ms", "5000");
    let resend = Arc::new(Mutex::new(VecDeque::new()));
    let producer: Producer = config.create_with_context(CanaryProducerContext {
        slot: slot.clone(),
        resend: resend.clone(),
    })?;
    let topic = section.topic.clone();
    let rate = f64::from(section.rate);
    let handle = std::thread::Builder::new()
        .name(format!("canary-produce-{}", slot.name))
        .spawn(move || {
            let mut pacer = Pacer::new(rate);
            let writer = Writer {
                producer: &producer,
                slot: &slot,
                topic: &topic,
                run: &run,
                instance: &instance,
            };
            while !stop.load(Ordering::Acquire) {
                writer.resend_failed(&resend);
                let partitions = slot.sendable.lock().clone();
                for partition in partitions {
                    let due = pacer.due(partition);
                    for _ in 0..due {
                        if !writer.first_send(partition) {
                            break;
                        }
                        pacer.sent(partition);
                    }
                }
                std::thread::sleep(PACE);
            }
            // Whatever is still queued gets its delivery report (or fails) before we go.
            let _ = producer.flush(Duration::from_secs(5));
        })?;
    Ok(handle)
}

/// First sends due per partition at `rate` per second since the partition was first seen.
struct Pacer {
    rate: f64,
    started: BTreeMap<i32, (Instant, u64)>,
}

impl Pacer {
    fn new(rate: f64) -> Pacer {
        Pacer {
            rate,
            started: BTreeMap::new(),
        }
    }

    fn due(&mut self, partition: i32) -> u64 {
        let (start, sent) = *self
            .started
            .entry(partition)
            .or_insert_with(|| (Instant::now(), 0));
        let owed = (start.elapsed().as_secs_f64() * self.rate) as u64 + 1;
        // Never catch up more than a second's worth after a pause.
        owed.saturating_sub(sent).min(self.rate.ceil() as u64 + 1)
    }

    fn sent(&mut self, partition: i32) {
        if let Some((_, sent)) = self.started.get_mut(&partition) {
            *sent += 1;
        }
    }
}

struct Writer<'a> {
    producer: &'a Producer,
    slot: &'a ClusterSlot,
    topic: &'a str,
    run: &'a str,
    instance: &'a str,
}

impl Writer<'_> {
    /// Sends the next sequence of `partition`; false when the local queue is full.
    fn first_send(&self, partition: i32) -> bool {
        let Some((seq, _leader)) = self.slot.core.lock().send(partition) else {
            return false;
        };
        if self.send(partition, seq, 0).is_ok() {
            return true;
        }
        // Never handed over: the sequence is taken back, as if it had not been drawn.
        self.slot.core.lock().cancel(partition, seq);
        false
    }

    fn resend_failed(&self, queue: &Mutex<VecDeque<(i32, u64)>>) {
        loop {
            let Some((partition, seq)) = queue.lock().pop_front() else {
                return;
            };
            let Some(attempt) = self.slot.core.lock().resend(partition, seq) else {
                continue;
            };
            if self.send(partition, seq, attempt).is_err() {
                // Not handed over: the attempt failed at once; the ledger decides again.
                let again = self.slot.core.lock().failed(partition, seq, now_millis());
                if again {
                    queue.lock().push_back((partition, seq));
                }
                return;
            }
        }
    }

    /// Hands one heartbeat to librdkafka. `Err(true)`: the queue is full; `Err(false)`:
    /// refused for another reason (counted).
    fn send(&self, partition: i32, seq: u64, attempt: u32) -> Result<(), bool> {
        let beat = Heartbeat {
            v: cairn_core::canary::heartbeat::VERSION,
            run: self.run.to_owned(),
            instance: self.instance.to_owned(),
            partition,
            seq,
            produced_at: now_millis(),
            attempt,
        };
        let payload = beat.encode();
        let record = BaseRecord::<(), [u8], Box<Sent>>::with_opaque_to(
            self.topic,
            Box::new(Sent { partition, seq }),
        )
        .partition(partition)
        .payload(&payload);
        match self.producer.send(record) {
            Ok(()) => Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => Err(true),
            Err((error, _)) => {
                self.slot.error("produce", &error);
                Err(false)
            }
        }
    }
}
