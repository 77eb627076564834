//! What a `cairn watch` instance does when the election makes it the active one, in order:
//!
//! 1. **Fence**: it creates the incidents producer with the control group's transactional id
//!    and calls `init_transactions`, which aborts whatever transaction the previous active
//!    instance left open and makes every later write of that instance fail.
//! 2. **Read**: it reads the incidents topic, every partition from its start to its end
//!    (`read_committed`, so aborted records do not count), and folds the records into the
//!    incidents the topic shows open (`PublishedIncidents`).
//! 3. **Reconcile and act**: under the book's lock (no round is judged meanwhile) it makes
//!    its book hold exactly the published open incidents (`IncidentBook::reconcile`), seeds
//!    the stuck clocks of adopted ones, installs the producer and becomes active. The next
//!    round publishes what follows: the close of an adopted incident whose partitions moved
//!    on, the open of an episode nobody published. Never a second open.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_core::config::{ElectionConfig, WatchConfig};
use cairn_core::watch::incident::{PublishedIncidents, decode};
use parking_lot::Mutex;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::leader::{LeaderHandle, Takeover};
use super::poller::SharedBook;
use super::publish::FencedSink;
use super::view::WatchView;
use crate::kafka::client::client_config;

/// How long a transaction of incident records may stay open: also how long a crashed active
/// instance's unfinished transaction holds up `read_committed` readers of the topic, when no
/// new active instance aborts it sooner.
const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(30);

/// The watch's [`Takeover`]: fence, read the incidents topic, reconcile the book.
pub struct IncidentsTakeover {
    pub config: Arc<WatchConfig>,
    pub election: ElectionConfig,
    pub book: Arc<Mutex<SharedBook>>,
    pub view: Arc<WatchView>,
    pub sink: FencedSink,
}

impl Takeover for IncidentsTakeover {
    fn take_over(&mut self, term: u64, leader: &LeaderHandle) -> Result<(), String> {
        let location = self
            .config
            .watch
            .incidents_topic
            .clone()
            .ok_or("no incidents topic")?;
        let cluster = self
            .config
            .cluster(&location.cluster)
            .ok_or("the incidents topic's cluster is not declared")?;
        let base = client_config(cluster);
        let timeout = self.config.watch.request_timeout;
        let producer = fenced_producer(&base, &self.election, timeout)
            .map_err(|e| format!("fencing the incidents producer: {e}"))?;
        let published = read_published(&base, &location.topic, timeout)
            .map_err(|e| format!("reading the incidents topic `{location}`: {e}"))?;

        let mut shared = self.book.lock();
        let config = &self.config;
        let outcome = shared
            .book
            .reconcile(&published, |c| config.cluster(c).is_some());
        let SharedBook { book, store } = &mut *shared;
        if let Err(err) = store.save(book) {
            tracing::error!(error = %err, "incident book not stored after reconciling");
        }
        for cluster in &self.view.clusters {
            // Seeds only partitions this instance does not track yet (it just started).
            cluster.evaluator.lock().resume(book);
        }
        self.sink.install(term, producer);
        if leader.activate(term) {
            tracing::info!(
                term,
                records = published.records(),
                kept = outcome.kept,
                adopted = outcome.adopted,
                dropped = outcome.dropped,
                other_clusters = outcome.foreign,
                "reconciled with the incidents topic"
            );
        } else {
            self.sink.clear();
        }
        Ok(())
    }

    fn step_down(&mut self) {
        self.sink.clear();
    }
}

/// The active instance's producer, after `init_transactions` fenced the previous one.
fn fenced_producer(
    base: &ClientConfig,
    election: &ElectionConfig,
    timeout: Duration,
) -> Result<BaseProducer, KafkaError> {
    let producer: BaseProducer = base
        .clone()
        .set("transactional.id", election.transactional_id())
        .set(
            "transaction.timeout.ms",
            TRANSACTION_TIMEOUT.as_millis().to_string(),
        )
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .create()?;
    // Finding the transaction coordinator and fencing may take more than one request.
    producer.init_transactions(timeout * 3)?;
    Ok(producer)
}

/// Every record of `topic`, start to end, folded; an absent topic has published nothing.
/// Records that do not decode are skipped with a log line.
fn read_published(
    base: &ClientConfig,
    topic: &str,
    timeout: Duration,
) -> Result<PublishedIncidents, KafkaError> {
    let consumer: BaseConsumer = base
        .clone()
        .set("group.id", "cairn-watch-takeover")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .create()?;
    let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
    let Some(meta) = metadata.topics().iter().find(|t| t.name() == topic) else {
        return Ok(PublishedIncidents::new());
    };
    match meta.error().map(RDKafkaErrorCode::from) {
        None => {}
        Some(RDKafkaErrorCode::UnknownTopicOrPartition) => return Ok(PublishedIncidents::new()),
        Some(code) => return Err(KafkaError::MetadataFetch(code)),
    }
    // Where each partition ends now (the last stable offset, under read_committed).
    let mut ends: HashMap<i32, i64> = HashMap::new();
    let mut assignment = TopicPartitionList::new();
    for p in meta.partitions() {
        let (start, end) = consumer.fetch_watermarks(topic, p.id(), timeout)?;
        if end > start {
            ends.insert(p.id(), end);
            assignment.add_partition_offset(topic, p.id(), Offset::Beginning)?;
        }
    }
    let mut published = PublishedIncidents::new();
    if ends.is_empty() {
        return Ok(published);
    }
    consumer.assign(&assignment)?;
    // Each partition's records in order; partitions are independent (a group's records
    // share one), so folding them one after another is the same as in any interleaving.
    let mut by_partition: HashMap<i32, Vec<cairn_core::watch::Incident>> = HashMap::new();
    let mut last_progress = Instant::now();
    while !ends.is_empty() {
        if last_progress.elapsed() > timeout {
            return Err(KafkaError::MessageConsumption(
                RDKafkaErrorCode::OperationTimedOut,
            ));
        }
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => {
                last_progress = Instant::now();
                let partition = message.partition();
                match message.payload().map(decode) {
                    Some(Ok(incident)) => by_partition.entry(partition).or_default().push(incident),
                    Some(Err(err)) => tracing::warn!(
                        topic,
                        partition,
                        offset = message.offset(),
                        error = %err,
                        "incidents topic: record skipped, not an incident record"
                    ),
                    None => {}
                }
                if ends
                    .get(&partition)
                    .is_some_and(|end| message.offset() + 1 >= *end)
                {
                    ends.remove(&partition);
                }
            }
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                last_progress = Instant::now();
                ends.remove(&partition);
            }
            Some(Err(err)) => tracing::debug!(topic, error = %err, "incidents topic read"),
            None => {}
        }
    }
    for records in by_partition.into_values() {
        for record in records {
            published.apply(record);
        }
    }
    Ok(published)
}
