//! Reads a verdict topic from the beginning to the high watermarks of all its partitions, as
//! they were when reading started. A `BaseConsumer` with `assign`: it never joins a group and
//! never commits, so scoring disturbs nobody. `read_committed`, because cairn publishes
//! verdicts in transactions and an aborted one was never said.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cairn_core::model::Verdict;
use cairn_core::verdict;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

/// Why a verdict topic could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("verdict topic `{topic}` on {bootstrap}: {operation} failed: {source}")]
    Kafka {
        bootstrap: String,
        topic: String,
        operation: &'static str,
        source: Box<KafkaError>,
    },
    #[error("verdict topic `{topic}` does not exist on {bootstrap} (or has no partitions)")]
    NoTopic { bootstrap: String, topic: String },
    #[error(
        "verdict topic `{topic}`: not read to its end within {timeout:?}; behind on (partition, position, end): {behind:?}"
    )]
    Timeout {
        topic: String,
        timeout: Duration,
        behind: Vec<(i32, i64, i64)>,
    },
}

/// What a topic held.
#[derive(Debug, Default)]
pub struct TopicRead {
    pub verdicts: Vec<Verdict>,
    /// Records that are not verdicts, as "partition p offset o: why".
    pub malformed: Vec<String>,
}

/// Every record of `topic` up to the end it had when reading started.
pub fn read_to_end(
    bootstrap: &str,
    topic: &str,
    timeout: Duration,
) -> Result<TopicRead, TopicError> {
    let source = Source { bootstrap, topic };
    let consumer = source.consumer()?;
    let (end, assignment) = source.ends(&consumer, timeout)?;
    if end.is_empty() {
        return Ok(TopicRead::default());
    }
    consumer
        .assign(&assignment)
        .map_err(source.kafka("assign"))?;
    source.read_until(&consumer, &end, timeout)
}

/// The topic being read, for the errors to name.
#[derive(Clone, Copy)]
struct Source<'a> {
    bootstrap: &'a str,
    topic: &'a str,
}

impl Source<'_> {
    fn kafka(self, operation: &'static str) -> impl FnOnce(KafkaError) -> TopicError {
        move |source| TopicError::Kafka {
            bootstrap: self.bootstrap.to_owned(),
            topic: self.topic.to_owned(),
            operation,
            source: Box::new(source),
        }
    }

    fn consumer(self) -> Result<BaseConsumer, TopicError> {
        ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap)
            // librdkafka wants a group id for a consumer; nothing is ever committed under it.
            .set("group.id", "cairn-score")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("isolation.level", "read_committed")
            .create()
            .map_err(self.kafka("client"))
    }

    /// The high watermark of every partition that holds a record, and an assignment from
    /// each one's log start.
    fn ends(
        self,
        consumer: &BaseConsumer,
        timeout: Duration,
    ) -> Result<(BTreeMap<i32, i64>, TopicPartitionList), TopicError> {
        let topic = self.topic;
        let metadata = consumer
            .fetch_metadata(Some(topic), timeout)
            .map_err(self.kafka("metadata"))?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == topic && t.error().is_none())
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        if partitions.is_empty() {
            return Err(TopicError::NoTopic {
                bootstrap: self.bootstrap.to_owned(),
                topic: topic.to_owned(),
            });
        }
        let mut end = BTreeMap::new();
        let mut assignment = TopicPartitionList::new();
        for partition in partitions {
            let (low, high) = consumer
                .fetch_watermarks(topic, partition, timeout)
                .map_err(self.kafka("watermarks"))?;
            if high > low {
                end.insert(partition, high);
                assignment
                    .add_partition_offset(topic, partition, Offset::Offset(low))
                    .map_err(self.kafka("assign"))?;
            }
        }
        Ok((end, assignment))
    }

    /// Polls until the consumer's position reached `end` on every partition.
    fn read_until(
        self,
        consumer: &BaseConsumer,
        end: &BTreeMap<i32, i64>,
        timeout: Duration,
    ) -> Result<TopicRead, TopicError> {
        let mut read = TopicRead::default();
        let deadline = Instant::now() + timeout;
        loop {
            // The position, not the last record: it moves past transaction markers too.
            let positions = positions(consumer, self.topic);
            let behind: Vec<(i32, i64, i64)> = end
                .iter()
                .map(|(&p, &high)| (p, positions.get(&p).copied().unwrap_or(0), high))
                .filter(|(_, position, high)| position < high)
                .collect();
            if behind.is_empty() {
                return Ok(read);
            }
            if Instant::now() >= deadline {
                return Err(TopicError::Timeout {
                    topic: self.topic.to_owned(),
                    timeout,
                    behind,
                });
            }
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(message)) => take(&mut read, end, &message),
                Some(Err(err)) => return Err(self.kafka("read")(err)),
                None => {}
            }
        }
    }
}

/// Keeps a record read before its partition's end as a verdict, or as malformed.
fn take(read: &mut TopicRead, end: &BTreeMap<i32, i64>, message: &BorrowedMessage<'_>) {
    // What came after the end taken at the start is left for the next score.
    if end
        .get(&message.partition())
        .is_none_or(|&high| message.offset() >= high)
    {
        return;
    }
    let at = format!(
        "partition {} offset {}",
        message.partition(),
        message.offset()
    );
    match verdict::decode(message.payload().unwrap_or_default()) {
        Ok(v) => read.verdicts.push(v),
        Err(err) => read.malformed.push(format!("{at}: {err}")),
    }
}

fn positions(consumer: &BaseConsumer, topic: &str) -> BTreeMap<i32, i64> {
    let Ok(list) = consumer.position() else {
        return BTreeMap::new();
    };
    list.elements_for_topic(topic)
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some((e.partition(), o)),
            _ => None,
        })
        .collect()
}
