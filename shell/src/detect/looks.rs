//! The look thread: asks the tracing cluster, a few times a second, where each partition
//! assigned to cairn's consumer ends, and files the answers on the [`Frontier`].
//!
//! It asks through the consumer's own client (librdkafka's calls are thread-safe), one
//! ListOffsets request per broker for all partitions, and never waits on the poll loop: a
//! poll loop held up behind a slow worker is exactly when the answers matter.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};

use super::frontier::{Frontier, Look};
use crate::clock::now_millis;
use crate::observe::Observatory;

/// How often the log ends are asked. The frontier trails the present by about this much plus
/// the time to read to the end asked, so verdicts come that much after their deadline.
pub const LOOK_EVERY: Duration = Duration::from_millis(200);

/// How long one ask may take before it counts as failed.
const LOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// The running thread; it stops when dropped.
pub struct LookThread {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl LookThread {
    pub fn start<C: ConsumerContext + 'static>(
        consumer: Arc<BaseConsumer<C>>,
        topic: &str,
        frontier: Frontier,
        observatory: Arc<Observatory>,
    ) -> std::io::Result<LookThread> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let topic = topic.to_owned();
        let thread = std::thread::Builder::new()
            .name("cairn-looks".into())
            .spawn(move || {
                let mut failing = false;
                while !stopping.load(Ordering::Acquire) {
                    match look_once(&consumer, &topic, &frontier) {
                        Ok(_) if failing => {
                            failing = false;
                            tracing::info!(
                                topic,
                                "the tracing partitions' log ends answer again; judging resumes"
                            );
                        }
                        Ok(_) => {}
                        Err(error) => {
                            observatory
                                .shell
                                .look_failures
                                .fetch_add(1, Ordering::Relaxed);
                            if !failing {
                                failing = true;
                                tracing::warn!(
                                    topic,
                                    %error,
                                    "cannot ask where the tracing partitions end; no message is \
                                     judged past the last answer until they answer again"
                                );
                            }
                        }
                    }
                    std::thread::sleep(LOOK_EVERY);
                }
            })?;
        Ok(LookThread {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for LookThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Asks the end of every assigned partition of `topic` once; returns how many answered.
fn look_once<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    frontier: &Frontier,
) -> Result<usize, KafkaError> {
    let mut ask = TopicPartitionList::new();
    for partition in frontier.assignment() {
        // The latest offset (ListOffsets' timestamp -1): the high watermark, as this consumer
        // reads uncommitted records.
        ask.add_partition_offset(topic, partition, Offset::End)?;
    }
    if ask.count() == 0 {
        return Ok(0);
    }
    // Taken before asking: every record written before now is below the end the broker gives.
    let asked_at = now_millis();
    let ends = consumer.offsets_for_times(ask, LOOK_TIMEOUT)?;
    let mut answered = 0;
    for element in ends.elements() {
        if element.error().is_err() {
            continue;
        }
        if let Offset::Offset(end) = element.offset() {
            frontier.saw(element.partition(), Look { end, asked_at });
            answered += 1;
        }
    }
    Ok(answered)
}
