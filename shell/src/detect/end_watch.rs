//! The end watch: a thread that asks the tracing cluster, a few times a second, where each owned
//! partition ends, and tells its [`Lane`](super::lane::Lane) whether the consumer has routed
//! everything up to there. It has its own client, so a poll loop held up by a slow worker
//! never holds it up: that is exactly when it must notice.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;

use super::lane::Lanes;

/// How often the log ends are asked: well under any sensible confirmation delay, which must
/// cover the time from a trace landing unread to a worker hearing it is behind.
pub const LOOK_EVERY: Duration = Duration::from_millis(200);

/// The running watch; it stops when dropped.
pub struct EndWatch {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EndWatch {
    pub fn start(
        tracing_base: &ClientConfig,
        topic: &str,
        lanes: Lanes,
    ) -> Result<EndWatch, KafkaError> {
        let client: BaseConsumer = tracing_base.create()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let topic = topic.to_owned();
        let thread = std::thread::Builder::new()
            .name("cairn-end-watch".into())
            .spawn(move || {
                while !stopping.load(Ordering::Acquire) {
                    let owned: Vec<_> = lanes
                        .lock()
                        .iter()
                        .map(|(&p, lane)| (p, lane.clone()))
                        .collect();
                    for (partition, lane) in owned {
                        let end = client
                            .fetch_watermarks(&topic, partition, Duration::from_secs(1))
                            .ok()
                            .map(|(_, high)| high);
                        lane.saw_log_end(end);
                    }
                    std::thread::sleep(LOOK_EVERY);
                }
            })
            .map_err(|err| KafkaError::ClientCreation(err.to_string()))?;
        Ok(EndWatch {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for EndWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
