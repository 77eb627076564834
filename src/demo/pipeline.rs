//! The demo's own pipeline, written directly against rdkafka until `cairn simulate` lands and
//! replaces it (see [`super::simulate`]).
//!
//! Stream `orders`: the producer `api` writes `orders-raw`; the processor `enricher` (group
//! `enricher`) reads it and writes `orders-enriched`; the processor `indexer` (group `indexer`)
//! reads that and writes `orders-indexed`; the sink `sink` (group `sink`) reads that and
//! writes outside Kafka. Each app really consumes its input (assign, poll to the end), writes
//! its output, emits the traces an honest emitter would (after the broker acked, keyed by id),
//! waits for its traces to be acknowledged and only then commits its offsets, as an app that
//! commits only what is done would.
//!
//! Faults are injected per message id (see [`Fault`]). What each app really did (every read,
//! every acknowledged write with its partition and offset, every filter, every commit and
//! when) goes to a [`Journal`]; the ground truth is derived from that, not from the faults.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use cairn_core::model::{Kind, Millis, Trace};
use cairn_core::trace;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use crate::clock::now_millis;

/// The cluster's name in locations (`demo/orders-raw`).
pub const CLUSTER: &str = "demo";
pub const STREAM: &str = "orders";
/// The producer app.
pub const PRODUCER: &str = "api";
/// The data topics, in pipeline order.
pub const TOPICS: [&str; 3] = ["orders-raw", "orders-enriched", "orders-indexed"];
pub const DATA_PARTITIONS: i32 = 2;
/// How long one Kafka step may take before the demo gives up.
const STEP_TIMEOUT: Duration = Duration::from_secs(15);

/// `demo/<topic>` of data topic `index`.
pub fn location(index: usize) -> String {
    format!("{CLUSTER}/{}", TOPICS[index])
}

/// An app that reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    Enricher,
    Indexer,
    Sink,
}

impl Stage {
    pub const ALL: [Stage; 3] = [Stage::Enricher, Stage::Indexer, Stage::Sink];

    /// The app name, which is also its group.
    pub fn app(self) -> &'static str {
        match self {
            Stage::Enricher => "enricher",
            Stage::Indexer => "indexer",
            Stage::Sink => "sink",
        }
    }

    /// The index of the topic it reads.
    pub fn reads(self) -> usize {
        self as usize
    }

    /// The index of the topic it writes; the sink writes outside Kafka.
    pub fn writes(self) -> Option<usize> {
        (self != Stage::Sink).then_some(self as usize + 1)
    }
}

/// A fault injected into one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The app's group commits past the message but the app never processed it (it
    /// committed early and crashed): lost, `committed_past`, at the stage's read hop.
    SkippedBy(Stage),
    /// The processor reads it but never writes it on nor filters it: lost, `lost_in_app`.
    DroppedIn(Stage),
    /// The processor writes it on twice (a retried send): written twice, and the next group
    /// reads both copies (delivered twice); that next processor is idempotent by id.
    WrittenTwiceBy(Stage),
    /// The app processes it twice at the same offset (a redelivery): delivered twice.
    RedeliveredTo(Stage),
    /// The processor drops it on purpose and says so with a `filtered` trace: no loss.
    FilteredBy(Stage),
}

impl Fault {
    /// What the fault is, in words.
    pub fn describe(self) -> String {
        match self {
            Fault::SkippedBy(s) => format!(
                "{} commits past it without processing it (lost: committed_past)",
                s.app()
            ),
            Fault::DroppedIn(s) => format!(
                "{} reads it but never writes it on (lost: lost_in_app)",
                s.app()
            ),
            Fault::WrittenTwiceBy(s) => format!(
                "{} writes it on twice (a duplicate: written_twice, then delivered_twice)",
                s.app()
            ),
            Fault::RedeliveredTo(s) => format!(
                "{} gets it twice at the same offset (a duplicate: delivered_twice)",
                s.app()
            ),
            Fault::FilteredBy(s) => format!(
                "{} drops it on purpose with a filtered trace (not a loss)",
                s.app()
            ),
        }
    }
}

/// What to play: how many messages, and which message (by index) gets which fault.
#[derive(Clone, Debug)]
pub struct Plan {
    pub messages: usize,
    pub faults: Vec<(usize, Fault)>,
}

impl Plan {
    /// The id of message `index`.
    pub fn id(index: usize) -> String {
        format!("order-{index:04}")
    }
}

/// An acknowledged write: where the broker put it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    pub app: &'static str,
    pub id: String,
    pub topic: usize,
    pub partition: i32,
    pub offset: i64,
}

/// One time an app processed a record it read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Read {
    pub stage: Stage,
    pub id: String,
    pub partition: i32,
    pub offset: i64,
}

/// What a group committed (partition → next offset) and when the commit returned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Commit {
    pub offsets: BTreeMap<i32, i64>,
    pub at: Millis,
}

/// What the apps really did.
#[derive(Clone, Debug, Default)]
pub struct Journal {
    /// Message ids, in the order the producer wrote them.
    pub ids: Vec<String>,
    pub writes: Vec<Write>,
    pub reads: Vec<Read>,
    pub filtered: Vec<(Stage, String)>,
    pub commits: BTreeMap<Stage, Commit>,
    /// Trace records acknowledged on the tracing topic.
    pub traces: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("demo pipeline: {doing}: {source}")]
    Kafka {
        doing: String,
        source: Box<KafkaError>,
    },
    #[error("demo pipeline: {doing}: no answer within {STEP_TIMEOUT:?}")]
    Timeout { doing: String },
}

fn kafka(doing: impl Into<String>) -> impl FnOnce(KafkaError) -> PipelineError {
    let doing = doing.into();
    move |source| PipelineError::Kafka {
        doing,
        source: Box::new(source),
    }
}

/// Plays `plan` against the cluster at `bootstrap`: the producer, then each stage in turn
/// reading everything its input holds. Runs on a multi-threaded tokio runtime.
pub async fn play(
    bootstrap: &str,
    tracing_topic: &str,
    plan: &Plan,
) -> Result<Journal, PipelineError> {
    let mut apps = Apps::new(bootstrap, tracing_topic)?;
    let faults: HashMap<String, Fault> = plan
        .faults
        .iter()
        .map(|&(index, fault)| (Plan::id(index), fault))
        .collect();
    let mut writes = Vec::new();
    for index in 0..plan.messages {
        let id = Plan::id(index);
        let partition = (index as i32) % DATA_PARTITIONS;
        writes.push((id.clone(), apps.write(0, &id, Some(partition))?));
        apps.journal.ids.push(id);
    }
    for (id, delivery) in writes {
        let (partition, offset) = landed(delivery, "the producer's write").await?;
        apps.wrote(PRODUCER, None, &id, 0, partition, offset)?;
    }
    apps.flush_traces().await?;
    for stage in Stage::ALL {
        apps.run_stage(stage, &faults).await?;
    }
    Ok(apps.journal)
}

/// The clients of all apps and what they did.
struct Apps {
    config: ClientConfig,
    producer: FutureProducer,
    tracing_topic: String,
    pending_traces: Vec<DeliveryFuture>,
    journal: Journal,
}

impl Apps {
    fn new(bootstrap: &str, tracing_topic: &str) -> Result<Apps, PipelineError> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", bootstrap)
            .set("message.timeout.ms", "10000");
        let producer = config
            .clone()
            .set("acks", "all")
            // Per-key order on the tracing topic, even across retries.
            .set("enable.idempotence", "true")
            .set("linger.ms", "1")
            .create()
            .map_err(kafka("creating the producer"))?;
        Ok(Apps {
            config,
            producer,
            tracing_topic: tracing_topic.to_owned(),
            pending_traces: Vec::new(),
            journal: Journal::default(),
        })
    }

    /// Reads everything `stage`'s input holds, processes it (faults included), waits for its
    /// output and traces to be acknowledged, then commits past all of it.
    async fn run_stage(
        &mut self,
        stage: Stage,
        faults: &HashMap<String, Fault>,
    ) -> Result<(), PipelineError> {
        let group = stage.app();
        let input = stage.reads();
        let consumer: BaseConsumer = self
            .config
            .clone()
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()
            .map_err(kafka(format!("creating {group}'s consumer")))?;
        let records = tokio::task::block_in_place(|| drain(&consumer, TOPICS[input]))?;
        let mut forwarded = HashSet::new();
        let mut writes = Vec::new();
        for (partition, offset, id) in &records {
            let (partition, offset) = (*partition, *offset);
            let fault = faults.get(id).copied();
            if fault == Some(Fault::SkippedBy(stage)) {
                continue;
            }
            let times = if fault == Some(Fault::RedeliveredTo(stage)) {
                2
            } else {
                1
            };
            for _ in 0..times {
                self.journal.reads.push(Read {
                    stage,
                    id: id.clone(),
                    partition,
                    offset,
                });
                self.trace(
                    id,
                    Kind::Received,
                    group,
                    Some(group),
                    input,
                    (partition, offset),
                )?;
            }
            if fault == Some(Fault::FilteredBy(stage)) {
                self.journal.filtered.push((stage, id.clone()));
                self.trace(
                    id,
                    Kind::Filtered,
                    group,
                    Some(group),
                    input,
                    (partition, offset),
                )?;
                continue;
            }
            let Some(output) = stage.writes() else {
                continue;
            };
            // Idempotent by id: a second copy of the input is not written on again.
            if fault == Some(Fault::DroppedIn(stage)) || !forwarded.insert(id.clone()) {
                continue;
            }
            let copies = if fault == Some(Fault::WrittenTwiceBy(stage)) {
                2
            } else {
                1
            };
            for _ in 0..copies {
                writes.push((id.clone(), self.write(output, id, None)?));
            }
        }
        for (id, delivery) in writes {
            let (partition, offset) = landed(delivery, &format!("{group}'s write")).await?;
            let output = stage.writes().expect("only processors write");
            self.wrote(group, Some(group), &id, output, partition, offset)?;
        }
        // Traces first, then the commit: an app that commits only what is done.
        self.flush_traces().await?;
        let mut next: BTreeMap<i32, i64> = BTreeMap::new();
        for (partition, offset, _) in &records {
            let at = next.entry(*partition).or_default();
            *at = (*at).max(offset + 1);
        }
        if next.is_empty() {
            return Ok(());
        }
        let mut list = TopicPartitionList::new();
        for (&partition, &offset) in &next {
            list.add_partition_offset(TOPICS[input], partition, Offset::Offset(offset))
                .map_err(kafka("building the commit"))?;
        }
        tokio::task::block_in_place(|| consumer.commit(&list, CommitMode::Sync))
            .map_err(kafka(format!("{group}'s commit")))?;
        self.journal.commits.insert(
            stage,
            Commit {
                offsets: next,
                at: now_millis(),
            },
        );
        Ok(())
    }

    /// Queues a write of `id` to data topic `index` (keyed by id).
    fn write(
        &self,
        index: usize,
        id: &str,
        partition: Option<i32>,
    ) -> Result<DeliveryFuture, PipelineError> {
        let mut record = FutureRecord::to(TOPICS[index]).key(id).payload(id);
        if let Some(partition) = partition {
            record = record.partition(partition);
        }
        self.producer
            .send_result(record)
            .map_err(|(err, _)| kafka(format!("writing {id} to {}", TOPICS[index]))(err))
    }

    /// Records an acknowledged write and traces `sent`.
    fn wrote(
        &mut self,
        app: &'static str,
        group: Option<&str>,
        id: &str,
        topic: usize,
        partition: i32,
        offset: i64,
    ) -> Result<(), PipelineError> {
        self.journal.writes.push(Write {
            app,
            id: id.to_owned(),
            topic,
            partition,
            offset,
        });
        self.trace(id, Kind::Sent, app, group, topic, (partition, offset))
    }

    /// Queues one trace on the tracing topic, keyed by the message id.
    fn trace(
        &mut self,
        id: &str,
        kind: Kind,
        app: &str,
        group: Option<&str>,
        topic: usize,
        (partition, offset): (i32, i64),
    ) -> Result<(), PipelineError> {
        let location = location(topic);
        let bytes = trace::encode(&Trace {
            id: id.into(),
            stream: STREAM.into(),
            kind,
            location: location.as_str().into(),
            partition,
            offset,
            app: app.into(),
            group: group.map(Into::into),
            ts: now_millis(),
        });
        let future = self
            .producer
            .send_result(
                FutureRecord::to(&self.tracing_topic)
                    .key(id)
                    .payload(&bytes),
            )
            .map_err(|(err, _)| kafka("writing a trace")(err))?;
        self.pending_traces.push(future);
        Ok(())
    }

    async fn flush_traces(&mut self) -> Result<(), PipelineError> {
        for delivery in std::mem::take(&mut self.pending_traces) {
            landed(delivery, "a trace").await?;
            self.journal.traces += 1;
        }
        Ok(())
    }
}

/// Where an acknowledged record landed.
async fn landed(delivery: DeliveryFuture, what: &str) -> Result<(i32, i64), PipelineError> {
    match tokio::time::timeout(STEP_TIMEOUT, delivery).await {
        Ok(Ok(Ok(d))) => Ok((d.partition, d.offset)),
        Ok(Ok(Err((err, _)))) => Err(kafka(format!("acknowledging {what}"))(err)),
        Ok(Err(_)) | Err(_) => Err(PipelineError::Timeout {
            doing: format!("acknowledging {what}"),
        }),
    }
}

/// Every record of `topic` up to its current end: (partition, offset, key).
fn drain(consumer: &BaseConsumer, topic: &str) -> Result<Vec<(i32, i64, String)>, PipelineError> {
    let doing = format!("reading {topic}");
    let mut end = BTreeMap::new();
    let mut assignment = TopicPartitionList::new();
    for partition in 0..DATA_PARTITIONS {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, STEP_TIMEOUT)
            .map_err(kafka(doing.clone()))?;
        if high > low {
            end.insert(partition, high);
            assignment
                .add_partition_offset(topic, partition, Offset::Offset(low))
                .map_err(kafka(doing.clone()))?;
        }
    }
    let mut records = Vec::new();
    if end.is_empty() {
        return Ok(records);
    }
    consumer.assign(&assignment).map_err(kafka(doing.clone()))?;
    let deadline = Instant::now() + STEP_TIMEOUT;
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    while end
        .iter()
        .any(|(p, high)| next.get(p).is_none_or(|n| n < high))
    {
        if Instant::now() > deadline {
            return Err(PipelineError::Timeout { doing });
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                let key = message
                    .key()
                    .map(|k| String::from_utf8_lossy(k).into_owned())
                    .unwrap_or_default();
                next.insert(message.partition(), message.offset() + 1);
                records.push((message.partition(), message.offset(), key));
            }
            Some(Err(err)) => return Err(kafka(doing)(err)),
            None => {}
        }
    }
    Ok(records)
}
