//! The first unread record of a lagging partition: a `read_committed` fetch of one record at
//! the group's committed offset, by a consumer that is assigned partitions (it never joins or
//! commits for any group). Answers are cached per committed offset; a "nothing before the end"
//! answer is asked again once the log end grows past it.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use cairn_core::watch::FirstUnread;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// What the fetch needs to know about one lagging partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lagging {
    pub topic: String,
    pub partition: i32,
    pub committed: i64,
    /// The log end read this round.
    pub log_end: i64,
}

/// (topic, partition).
type PartitionKey = (String, i32);
/// (topic, partition) → the latest answer.
type Cache = HashMap<PartitionKey, FirstUnread>;

/// The fetching consumer and its cache.
pub struct FirstUnreadFetcher {
    consumer: BaseConsumer,
    cache: Cache,
    timeout: Duration,
}

impl FirstUnreadFetcher {
    /// `base` is the cluster's read_committed client settings; `timeout` bounds each topic's fetch.
    pub fn new(base: &ClientConfig, timeout: Duration) -> Result<FirstUnreadFetcher, KafkaError> {
        let consumer = base
            .clone()
            .set("group.id", "cairn-watch-first-unread")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true")
            // A commit below the log start (expired) reads the first record still kept.
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", "100")
            .create()?;
        Ok(FirstUnreadFetcher {
            consumer,
            cache: Cache::new(),
            timeout,
        })
    }

    /// The answer for each lagging partition: cached, or fetched now; a partition the fetch
    /// did not answer in time has none. Partitions not in `lagging` are forgotten. The errors
    /// are those of topics whose fetch failed (their partitions have no answer).
    pub fn answers(&mut self, lagging: &[Lagging]) -> (&Cache, Vec<KafkaError>) {
        // By key, so that keeping the cache costs a lookup per cached answer, not a scan.
        let by_key: HashMap<(&str, i32), Vec<&Lagging>> =
            lagging.iter().fold(HashMap::new(), |mut by_key, l| {
                by_key.entry((&l.topic, l.partition)).or_default().push(l);
                by_key
            });
        self.cache.retain(|key, answer| {
            by_key
                .get(&(key.0.as_str(), key.1))
                .is_some_and(|ls| ls.iter().any(|l| still_answers(answer, l)))
        });
        let mut by_topic: BTreeMap<&str, Vec<&Lagging>> = BTreeMap::new();
        for l in lagging {
            if !self.cache.contains_key(&(l.topic.clone(), l.partition)) {
                by_topic.entry(&l.topic).or_default().push(l);
            }
        }
        let mut errors = Vec::new();
        for (topic, partitions) in by_topic {
            // One topic at a time: an end-of-partition event names the partition only.
            match self.fetch_topic(topic, &partitions) {
                Ok(found) => self.cache.extend(found),
                Err(err) => errors.push(err),
            }
        }
        (&self.cache, errors)
    }

    fn fetch_topic(
        &self,
        topic: &str,
        partitions: &[&Lagging],
    ) -> Result<Vec<(PartitionKey, FirstUnread)>, KafkaError> {
        let mut assignment = TopicPartitionList::with_capacity(partitions.len());
        for l in partitions {
            assignment.add_partition_offset(topic, l.partition, Offset::Offset(l.committed))?;
        }
        self.consumer.assign(&assignment)?;
        let mut pending: HashMap<i32, &Lagging> =
            partitions.iter().map(|l| (l.partition, *l)).collect();
        let mut found = Vec::new();
        let deadline = Instant::now() + self.timeout;
        while !pending.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match self.consumer.poll(left.min(Duration::from_millis(100))) {
                Some(Ok(message)) if message.topic() == topic => {
                    if let Some(l) = pending.remove(&message.partition()) {
                        let timestamp = message.timestamp().to_millis().unwrap_or(-1);
                        found.push((
                            (topic.to_owned(), l.partition),
                            FirstUnread::Record {
                                from: l.committed,
                                offset: message.offset(),
                                timestamp,
                            },
                        ));
                    }
                }
                Some(Err(KafkaError::PartitionEOF(partition))) => {
                    // The end came before any record: only markers or aborted records wait.
                    if let Some(l) = pending.remove(&partition) {
                        found.push((
                            (topic.to_owned(), l.partition),
                            FirstUnread::NoneBefore {
                                from: l.committed,
                                end: l.log_end,
                            },
                        ));
                    }
                }
                Some(Err(err)) => {
                    tracing::debug!(topic, error = %err, "first unread fetch: consumer error");
                }
                Some(Ok(_)) | None => {}
            }
        }
        self.consumer.unassign()?;
        Ok(found)
    }
}

/// Whether a cached answer still holds for this round's committed offset and log end.
fn still_answers(answer: &FirstUnread, now: &Lagging) -> bool {
    match *answer {
        FirstUnread::Record { from, .. } => from == now.committed,
        FirstUnread::NoneBefore { from, end } => from == now.committed && end >= now.log_end,
    }
}
