//! Traffic of a known shape and consumers of a known speed, for tests that need a group to
//! fall behind by a chosen amount: a producer thread that follows a rate schedule, and group
//! members that each consume at most a fixed number of records per second.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

/// How often the producer tops up to its schedule.
const TICK: Duration = Duration::from_millis(20);

/// A producer thread writing `rate(seconds since start)` records per second to a topic,
/// spread over its partitions by the default partitioner (no key: sticky batches).
pub struct PacedProducer {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl PacedProducer {
    pub fn start(
        config: &ClientConfig,
        topic: &str,
        rate: impl Fn(f64) -> f64 + Send + 'static,
    ) -> PacedProducer {
        let producer: BaseProducer = config
            .clone()
            .set("linger.ms", "5")
            .create()
            .expect("create the paced producer");
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let (flag, count, topic) = (stop.clone(), sent.clone(), topic.to_owned());
        let thread = std::thread::spawn(move || {
            let start = Instant::now();
            let mut due = 0.0;
            let mut last = 0.0;
            let mut n = 0u64;
            while !flag.load(Ordering::Relaxed) {
                let now = start.elapsed().as_secs_f64();
                due += rate(now).max(0.0) * (now - last);
                last = now;
                while (n as f64) < due {
                    let payload = n.to_string();
                    match producer.send(BaseRecord::<(), _>::to(&topic).payload(&payload)) {
                        Ok(()) => n += 1,
                        Err(_) => break, // queue full: try again next tick
                    }
                }
                count.store(n, Ordering::Relaxed);
                producer.poll(Duration::ZERO);
                std::thread::sleep(TICK);
            }
            let _ = producer.flush(Duration::from_secs(10));
        });
        PacedProducer {
            stop,
            sent,
            thread: Some(thread),
        }
    }

    /// Records handed to the producer so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

impl Drop for PacedProducer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One member of a consumer group that consumes at most `rate` records per second and
/// commits what it consumed (auto commit every 500 ms). Dropping it closes the consumer,
/// which leaves the group.
pub struct ThrottledMember {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ThrottledMember {
    pub fn start(config: &ClientConfig, topic: &str, group: &str, rate: f64) -> ThrottledMember {
        let consumer: BaseConsumer = config
            .clone()
            .set("group.id", group)
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "500")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "500")
            .create()
            .expect("create a throttled member");
        consumer.subscribe(&[topic]).expect("subscribe");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let gap = Duration::from_secs_f64(1.0 / rate);
        let thread = std::thread::spawn(move || {
            // A token bucket without credit: a pause (a rebalance) is not made up for later.
            let mut next = Instant::now();
            while !flag.load(Ordering::Relaxed) {
                // Errors (a partition end, a broker hiccup) are the consumer's to retry.
                if let Some(Ok(_)) = consumer.poll(Duration::from_millis(100)) {
                    next = next.max(Instant::now()) + gap;
                    let wait = next.saturating_duration_since(Instant::now());
                    if !wait.is_zero() {
                        std::thread::sleep(wait);
                    }
                }
            }
            // Commit what was consumed, then leave the group at once.
            let _ = consumer.commit_consumer_state(rdkafka::consumer::CommitMode::Sync);
            consumer.unsubscribe();
        });
        ThrottledMember {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for ThrottledMember {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
