//! The tracer: what a producer or a stream job links to emit cairn's trace records.
//!
//! One [`Tracer`] per app and stream. Each call (`sent`, `received`, `filtered`) checks the
//! stream's consistent sample ([`cairn_core::sampling`]), encodes one trace record
//! ([`cairn_core::trace::encode`]) and queues it for the tracing topic, keyed by the message id,
//! without waiting. The queue is bounded: when it is full (the tracing cluster is slow or down)
//! the trace is dropped and counted, never the caller blocked. librdkafka reconnects by itself,
//! so traces flow again when the cluster comes back. Counters: [`TracerStats`].
//!
//! What it drops, it remembers (app, group, location, partition, offsets; [`drops`]): once
//! the tracing cluster answers again, a background thread writes a gap record
//! ([`cairn_core::trace::gap`]) to every partition of the tracing topic, so the detector
//! concludes "unknown at this hop" for those messages instead of declaring them lost.
//!
//! ```no_run
//! # fn demo() -> Result<(), cairn_tracer::TracerError> {
//! use cairn_tracer::{Tracer, TracerConfig};
//! let tracer = Tracer::new(TracerConfig::new("127.0.0.1:9092", "cairn-traces", "playback", "playback-api"))?;
//! tracer.sent("a4c1", "fronting/playback", 3, 1234);
//! tracer.flush(std::time::Duration::from_secs(5));
//! # Ok(()) }
//! ```
//!
//! Call [`Tracer::flush`] before the app exits: dropping the last clone discards what is queued.

mod drops;
mod stats;

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use cairn_core::config::secrets::{ShownSettings, scrub};
use cairn_core::model::{Kind, Trace};
use cairn_core::sampling::is_sampled;
use cairn_core::trace::{self as wire, Record};
use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::client::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};

use self::drops::DropLog;
use self::stats::Counters;
pub use self::stats::TracerStats;

/// How a tracer connects and what it stamps on every trace. Its `Debug` redacts the client
/// settings that hold secrets (`sasl.password`, `ssl.key.password`, ...).
#[derive(Clone)]
pub struct TracerConfig {
    /// bootstrap.servers of the tracing cluster.
    pub bootstrap: String,
    /// Extra librdkafka settings (security, timeouts); they win over the tracer's defaults.
    /// The same keys as a cluster's `[clusters.<name>.client]` in cairn.toml (SASL, TLS).
    pub client: Vec<(String, String)>,
    /// The tracing topic.
    pub topic: String,
    /// The `stream` of every trace.
    pub stream: String,
    /// The `app` of every trace.
    pub app: String,
    /// The stream's sample rate in (0, 1], as in cairn.toml.
    pub sample_rate: f64,
    /// Most traces waiting for the tracing cluster; beyond that, traces are dropped.
    pub queue_capacity: usize,
}

impl std::fmt::Debug for TracerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracerConfig")
            .field("bootstrap", &self.bootstrap)
            .field("client", &ShownSettings(&self.client))
            .field("topic", &self.topic)
            .field("stream", &self.stream)
            .field("app", &self.app)
            .field("sample_rate", &self.sample_rate)
            .field("queue_capacity", &self.queue_capacity)
            .finish()
    }
}

impl TracerConfig {
    /// Every message traced, a queue of [`TracerConfig::DEFAULT_QUEUE_CAPACITY`].
    pub fn new(bootstrap: &str, topic: &str, stream: &str, app: &str) -> TracerConfig {
        TracerConfig {
            bootstrap: bootstrap.to_owned(),
            client: Vec::new(),
            topic: topic.to_owned(),
            stream: stream.to_owned(),
            app: app.to_owned(),
            sample_rate: 1.0,
            queue_capacity: Self::DEFAULT_QUEUE_CAPACITY,
        }
    }

    /// About a few MiB of traces: rides out a short outage without holding much memory.
    pub const DEFAULT_QUEUE_CAPACITY: usize = 100_000;
    /// How long a queued trace waits for the cluster before it counts as failed: bounded, so
    /// the queue drains during an outage and fresh traces find room when the cluster returns.
    pub const DEFAULT_MESSAGE_TIMEOUT_MS: &str = "30000";
}

/// A tracer that could not start. Nothing here is about a single trace: those never fail.
#[derive(Debug, thiserror::Error)]
pub enum TracerError {
    #[error("tracer config: {field} = {value:?}, expected {expected}")]
    Config {
        field: &'static str,
        value: String,
        expected: &'static str,
    },
    /// librdkafka refused the settings; the text is librdkafka's, with secret values redacted.
    #[error("creating the tracer's Kafka producer: {0}")]
    Client(String),
}

/// Emits trace records for one app of one stream. Cheap to clone; clones share one producer
/// and one set of counters.
#[derive(Clone)]
pub struct Tracer {
    inner: Arc<Inner>,
}

struct Inner {
    producer: ThreadedProducer<TracerContext>,
    shared: Arc<Shared>,
    topic: String,
    stream: String,
    app: String,
    sample_rate: f64,
}

/// What the caller's threads, the delivery callback and the gap reporter share.
#[derive(Default)]
struct Shared {
    counters: Counters,
    /// Traces dropped and not yet reported.
    drops: Mutex<DropLog>,
    /// Gap record copies that could not be delivered: (partition, payload), sent again as
    /// they are, so that every partition gets each copy once.
    resend: Mutex<Vec<(i32, Vec<u8>)>>,
}

/// The delivery opaque of a trace.
const TRACE: usize = 0;
/// The delivery opaque of a gap record copy.
const GAP: usize = 1;

/// How often the reporter looks for drops to report.
const GAP_REPORT_INTERVAL: Duration = Duration::from_millis(500);
/// How long the reporter waits for the tracing cluster to answer before trying later.
const REACHABLE_TIMEOUT: Duration = Duration::from_secs(2);

/// Counts delivery reports and remembers what failed; runs on the producer's poll thread.
struct TracerContext {
    shared: Arc<Shared>,
}

impl ClientContext for TracerContext {}

impl ProducerContext for TracerContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, what: usize) {
        let counters = &self.shared.counters;
        match (result, what) {
            (Ok(_), TRACE) => Counters::add(&counters.delivered),
            (Ok(message), _) => {
                Counters::add(&counters.gap_records);
                if let Some(Ok(Record::Gap(gap))) = message.payload().map(wire::decode_record)
                    && gap.copy == 0
                {
                    counters.add_reported(gap.count);
                }
            }
            (Err((_, message)), TRACE) => {
                Counters::add(&counters.failed);
                // Our own encoding: it decodes. Remember where the trace was, to report it.
                if let Some(Ok(Record::Trace(t))) = message.payload().map(wire::decode_record) {
                    lock(&self.shared.drops).record(
                        t.kind,
                        t.group.as_deref(),
                        &t.location,
                        (t.partition, t.offset),
                        t.ts,
                    );
                }
            }
            (Err((_, message)), _) => {
                let payload = message.payload().unwrap_or_default().to_vec();
                lock(&self.shared.resend).push((message.partition(), payload));
            }
        }
    }
}

/// A poisoned lock only means another thread panicked while holding it; the data (counts,
/// ranges) is still whole, so go on with it rather than lose drops.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Tracer {
    pub fn new(config: TracerConfig) -> Result<Tracer, TracerError> {
        let bad = |field, value: String, expected| TracerError::Config {
            field,
            value,
            expected,
        };
        if !(config.sample_rate > 0.0 && config.sample_rate <= 1.0) {
            return Err(bad(
                "sample_rate",
                config.sample_rate.to_string(),
                "a share in (0, 1]",
            ));
        }
        // librdkafka's own bounds for queue.buffering.max.messages.
        if !(1..=2_147_483_647).contains(&config.queue_capacity) {
            return Err(bad(
                "queue_capacity",
                config.queue_capacity.to_string(),
                "1 to 2147483647 traces",
            ));
        }
        for (field, value) in [
            ("bootstrap", &config.bootstrap),
            ("topic", &config.topic),
            ("stream", &config.stream),
            ("app", &config.app),
        ] {
            if value.trim().is_empty() {
                return Err(bad(field, value.clone(), "a non-empty value"));
            }
        }
        let shared = Arc::new(Shared::default());
        let mut client = ClientConfig::new();
        client
            .set("bootstrap.servers", &config.bootstrap)
            .set(
                "queue.buffering.max.messages",
                config.queue_capacity.to_string(),
            )
            .set(
                "message.timeout.ms",
                TracerConfig::DEFAULT_MESSAGE_TIMEOUT_MS,
            )
            // Idempotence (which implies acks=all): a retried trace is never written twice, and
            // a duplicate `received` would read as a message delivered twice. It also keeps the
            // traces of one id in order across retries.
            .set("enable.idempotence", "true")
            // Come back soon after an outage (librdkafka's default backs off to 10 s).
            .set("reconnect.backoff.max.ms", "1000")
            // Traces are small and many: batch a little.
            .set("linger.ms", "5")
            // The Java client's partitioner (murmur2 of the key): every trace of a message must
            // land in one partition of the tracing topic, also when Java apps (or any client
            // with Java's default) trace the same stream. librdkafka's default hashes with
            // CRC32 and would split a message's traces between two partitions.
            .set("partitioner", "murmur2_random");
        for (key, value) in &config.client {
            client.set(key, value);
        }
        let producer = client
            .create_with_context(TracerContext {
                shared: Arc::clone(&shared),
            })
            .map_err(|err| TracerError::Client(scrub(&err.to_string(), &config.client)))?;
        let inner = Arc::new(Inner {
            producer,
            shared,
            topic: config.topic,
            stream: config.stream,
            app: config.app,
            sample_rate: config.sample_rate,
        });
        spawn_gap_reporter(Arc::downgrade(&inner));
        Ok(Tracer { inner })
    }

    /// The app wrote message `id` at `location` (`<cluster>/<topic>`), `partition`, `offset`,
    /// and the broker acknowledged it.
    pub fn sent(&self, id: &str, location: &str, partition: i32, offset: i64) {
        self.emit(id, Kind::Sent, location, None, partition, offset);
    }

    /// The app, as consumer group `group`, read message `id` at location/partition/offset.
    pub fn received(&self, id: &str, location: &str, group: &str, partition: i32, offset: i64) {
        self.emit(id, Kind::Received, location, Some(group), partition, offset);
    }

    /// The app read message `id` and on purpose does not forward it.
    pub fn filtered(&self, id: &str, location: &str, group: &str, partition: i32, offset: i64) {
        self.emit(id, Kind::Filtered, location, Some(group), partition, offset);
    }

    /// [`Tracer::sent`] from a produce acknowledgement (`(partition, offset)`, e.g. a
    /// `FutureProducer` delivery) of a record written to `topic` on cluster `cluster`.
    pub fn sent_delivery(
        &self,
        id: &str,
        cluster: &str,
        topic: &str,
        (partition, offset): (i32, i64),
    ) {
        self.sent(id, &format!("{cluster}/{topic}"), partition, offset);
    }

    /// [`Tracer::received`] for a consumed message of cluster `cluster`: the location, partition
    /// and offset come from the message.
    pub fn received_message(&self, id: &str, cluster: &str, group: &str, message: &impl Message) {
        let location = format!("{cluster}/{}", message.topic());
        self.received(id, &location, group, message.partition(), message.offset());
    }

    /// [`Tracer::filtered`] for a consumed message of cluster `cluster`.
    pub fn filtered_message(&self, id: &str, cluster: &str, group: &str, message: &impl Message) {
        let location = format!("{cluster}/{}", message.topic());
        self.filtered(id, &location, group, message.partition(), message.offset());
    }

    /// Whether this tracer traces message `id` (the stream's consistent sample).
    pub fn is_sampled(&self, id: &str) -> bool {
        is_sampled(id, self.inner.sample_rate)
    }

    /// The counters so far.
    pub fn stats(&self) -> TracerStats {
        self.inner.shared.counters.snapshot()
    }

    /// The counters as Prometheus text (the catalog's `TRACER_*` families), labelled with this
    /// tracer's app and stream.
    pub fn prometheus(&self) -> String {
        self.stats()
            .to_prometheus(&self.inner.app, &self.inner.stream)
    }

    /// Reports pending drops (gap records) if the tracing cluster answers, then waits up to
    /// `timeout` for queued records to be delivered (or to fail). Returns whether the queue
    /// drained. Call it before the app exits.
    pub fn flush(&self, timeout: Duration) -> bool {
        self.inner.report_drops();
        self.inner.producer.flush(timeout).is_ok() && self.inner.producer.in_flight_count() == 0
    }

    fn emit(
        &self,
        id: &str,
        kind: Kind,
        location: &str,
        group: Option<&str>,
        partition: i32,
        offset: i64,
    ) {
        let inner = &*self.inner;
        let counters = &inner.shared.counters;
        if !is_sampled(id, inner.sample_rate) {
            Counters::add(&counters.sampled_out);
            return;
        }
        let trace = Trace {
            id: id.into(),
            stream: inner.stream.as_str().into(),
            kind,
            location: location.into(),
            partition,
            offset,
            app: inner.app.as_str().into(),
            group: group.map(Into::into),
            ts: now_millis(),
        };
        let payload = cairn_core::trace::encode(&trace);
        let record = BaseRecord::with_opaque_to(&inner.topic, TRACE)
            .key(id)
            .payload(&payload);
        let refused = match inner.producer.send(record) {
            Ok(()) => {
                Counters::add(&counters.emitted);
                return;
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                Counters::add(&counters.dropped_queue_full);
                None
            }
            Err((err, _)) => {
                Counters::add(&counters.failed);
                Some(err)
            }
        };
        lock(&inner.shared.drops).record(kind, group, location, (partition, offset), trace.ts);
        if let Some(err) = refused {
            tracing::debug!(error = %err, app = %inner.app, "trace refused at enqueue");
        }
    }
}

impl Inner {
    /// Writes what was dropped as gap records, one copy to every partition of the tracing
    /// topic, if the tracing cluster answers; else leaves it for the next try. Copies that
    /// failed before are sent again as they were.
    fn report_drops(&self) {
        let nothing_to_do =
            lock(&self.shared.drops).is_empty() && lock(&self.shared.resend).is_empty();
        if nothing_to_do {
            return;
        }
        // Asking for the topic's partitions is also the check that the cluster answers.
        let partitions = match self
            .producer
            .client()
            .fetch_metadata(Some(&self.topic), REACHABLE_TIMEOUT)
        {
            Ok(metadata) => metadata
                .topics()
                .first()
                .map_or(0, |topic| topic.partitions().len()),
            Err(_) => return,
        };
        let Ok(copies) = u32::try_from(partitions) else {
            return;
        };
        if copies == 0 {
            return;
        }
        let mut outgoing = std::mem::take(&mut *lock(&self.shared.resend));
        let gaps = lock(&self.shared.drops).take(&self.stream, &self.app);
        for mut gap in gaps {
            gap.copies = copies;
            for copy in 0..copies {
                gap.copy = copy;
                outgoing.push((copy as i32, wire::gap::encode(&gap)));
            }
        }
        let key = format!("gap:{}", self.app);
        for (partition, payload) in outgoing {
            let record = BaseRecord::with_opaque_to(&self.topic, GAP)
                .partition(partition)
                .key(&key)
                .payload(&payload);
            if self.producer.send(record).is_err() {
                lock(&self.shared.resend).push((partition, payload));
            }
        }
    }
}

/// The reporter thread: reports drops every [`GAP_REPORT_INTERVAL`] until the last clone of
/// the tracer is gone.
fn spawn_gap_reporter(inner: Weak<Inner>) {
    let spawned = std::thread::Builder::new()
        .name("cairn-tracer-gaps".into())
        .spawn(move || {
            loop {
                std::thread::sleep(GAP_REPORT_INTERVAL);
                let Some(inner) = inner.upgrade() else { return };
                inner.report_drops();
            }
        });
    if let Err(err) = spawned {
        // The tracer still traces; drops are then reported only by `flush`.
        tracing::warn!(error = %err, "could not start the tracer's gap reporter thread");
    }
}

/// The emitter's clock for a trace's `ts`: wall-clock milliseconds since the Unix epoch.
fn now_millis() -> cairn_core::model::Millis {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    since_epoch
        .as_millis()
        .try_into()
        .unwrap_or(cairn_core::model::Millis::MAX)
}
