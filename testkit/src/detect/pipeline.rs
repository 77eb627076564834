//! A driver that plays the apps of the three-hop stream exactly, so the truth is exact.
//!
//! For each message it really produces the record to t1/t2/t3 (so partitions and offsets are
//! the broker's), writes the `sent`/`received` traces an honest emitter would write (encoded
//! with `cairn_core::trace::encode`, keyed by id), and moves each app's consumer group by
//! committing its offsets directly (a `BaseConsumer` with that `group.id`: assign, commit
//! sync). Every trace of a step is acknowledged by the broker before the step's commit, as an
//! app that commits only what is done would do.
//!
//! A batch moves hop by hop: [`Pipeline::produce`] (the api writes t1), then
//! [`Pipeline::process`] for enricher, indexer and sink in that order. Holding a stage back
//! is how a test makes a consumer stay behind: its group does not commit past the batch and
//! its traces come late.

use std::collections::{BTreeMap, BTreeSet};

use cairn_core::model::Kind;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

use super::verdicts::VerdictKey;
use super::{API, DATA_PARTITIONS, Names, STREAM};
use crate::kafka::{TIMEOUT, TestKafka};
use crate::trace::TraceBuilder;

/// An app that reads: enricher reads t1, indexer t2, sink t3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    Enricher,
    Indexer,
    Sink,
}

impl Stage {
    pub const ALL: [Stage; 3] = [Stage::Enricher, Stage::Indexer, Stage::Sink];

    /// The app name in traces and in cairn.toml.
    pub fn app(self) -> &'static str {
        match self {
            Stage::Enricher => "enricher",
            Stage::Indexer => "indexer",
            Stage::Sink => "sink",
        }
    }

    /// The index of the topic it reads (0 = t1).
    pub fn reads(self) -> usize {
        self as usize
    }

    /// The index of the topic it writes; the sink writes outside Kafka.
    pub fn writes(self) -> Option<usize> {
        match self {
            Stage::Sink => None,
            other => Some(other as usize + 1),
        }
    }
}

/// What happens to one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Every hop reads it, traces it and passes it on.
    Delivered,
    /// The stage's group commits past it, but the app never read it (no trace): lost
    /// `committed_past` at the stage's read hop.
    Skipped(Stage),
    /// The stage's app reads it (traces `received`) but never writes it downstream, and its
    /// group commits past it: lost `lost_in_app` at the stage's write hop. Processors only.
    DroppedInApp(Stage),
    /// The api writes it twice (two offsets at t1, two `sent`); the enricher reads both copies
    /// (so also delivered twice) and writes it on once. No loss.
    WrittenTwice,
    /// The stage's app reads it twice at the same offset (a redelivery). No loss.
    DeliveredTwice(Stage),
}

impl Fate {
    /// The verdict this fate must produce, if any: (stage, reason).
    fn loss(self) -> Option<(Stage, &'static str)> {
        match self {
            Fate::Skipped(stage) => Some((stage, "committed_past")),
            Fate::DroppedInApp(stage) => Some((stage, "lost_in_app")),
            _ => None,
        }
    }
}

/// One message's journey so far.
#[derive(Clone, Debug)]
struct Journey {
    fate: Fate,
    /// Where each copy landed at t1, t2, t3.
    copies: [Vec<(i32, i64)>; 3],
    /// Stages that have processed it (or skipped it and committed past it).
    processed: BTreeSet<Stage>,
}

/// Plays the stream's apps against the broker. See the module doc.
pub struct Pipeline {
    names: Names,
    id_prefix: String,
    next_id: usize,
    producer: FutureProducer,
    /// One committer per stage, with that stage's group.id.
    committers: [BaseConsumer; 3],
    /// Round-robin partition counters per data topic.
    round_robin: [i32; 3],
    /// The next offset each stage's group commits on each partition of the topic it reads.
    commit_to: [BTreeMap<i32, i64>; 3],
    messages: BTreeMap<String, Journey>,
    pending_traces: Vec<DeliveryFuture>,
    traces_written: usize,
}

impl Pipeline {
    pub fn new(kafka: &TestKafka, names: &Names, id_prefix: &str) -> Pipeline {
        let producer: FutureProducer = kafka
            .config()
            .set("acks", "all")
            // Per-key order on the tracing topic, even across retries.
            .set("enable.idempotence", "true")
            .set("linger.ms", "2")
            .create()
            .expect("create the pipeline's producer");
        let committers = [0, 1, 2].map(|i| {
            kafka
                .config()
                .set("group.id", &names.groups[i])
                .set("enable.auto.commit", "false")
                .create()
                .expect("create a committer")
        });
        Pipeline {
            names: names.clone(),
            id_prefix: id_prefix.to_owned(),
            next_id: 0,
            producer,
            committers,
            round_robin: [0; 3],
            commit_to: Default::default(),
            messages: BTreeMap::new(),
            pending_traces: Vec::new(),
            traces_written: 0,
        }
    }

    /// Fresh message ids with their fates, in order: `count` of each (fate, count), the
    /// fates interleaved so that losses land on every partition.
    pub fn batch(&mut self, fates: &[(Fate, usize)]) -> Vec<(String, Fate)> {
        let mut left: Vec<(Fate, usize)> = fates.to_vec();
        let mut out = Vec::new();
        while left.iter().any(|(_, n)| *n > 0) {
            for (fate, n) in left.iter_mut().filter(|(_, n)| *n > 0) {
                *n -= 1;
                // Fixed width, so no id is a prefix of another in the same test.
                let id = format!("{}-{:05}", self.id_prefix, self.next_id);
                self.next_id += 1;
                out.push((id, *fate));
            }
        }
        out
    }

    /// The api writes each message to t1 (twice for [`Fate::WrittenTwice`]) and traces `sent`.
    pub async fn produce(&mut self, batch: &[(String, Fate)]) {
        let mut writes = Vec::new();
        for (id, fate) in batch {
            assert!(
                !self.messages.contains_key(id),
                "message {id} produced twice by the test"
            );
            self.messages.insert(
                id.clone(),
                Journey {
                    fate: *fate,
                    copies: Default::default(),
                    processed: BTreeSet::new(),
                },
            );
            let copies = if *fate == Fate::WrittenTwice { 2 } else { 1 };
            for _ in 0..copies {
                writes.push((id.clone(), self.write(0, id)));
            }
        }
        for (id, delivery) in writes {
            let at = landed(delivery).await;
            self.journey(&id).copies[0].push(at);
            self.trace(&id, Kind::Sent, API, None, 0, at);
        }
        self.flush_traces().await;
    }

    /// `stage` reads the messages of `ids` that reached the topic it reads (all their copies),
    /// traces what its fate says, writes them on, and then commits past everything it has
    /// read so far. Messages that never reached the topic are passed over.
    pub async fn process(&mut self, stage: Stage, ids: &[String]) {
        let from = stage.reads();
        let app = stage.app();
        let group = self.names.groups[from].clone();
        let mut forward = Vec::new();
        for id in ids {
            let journey = self.journey(id);
            let (fate, copies) = (journey.fate, journey.copies[from].clone());
            if copies.is_empty() {
                continue;
            }
            assert!(
                journey.processed.insert(stage),
                "{id} processed twice by {app}"
            );
            for &(partition, offset) in &copies {
                let next = self.commit_to[from].entry(partition).or_insert(0);
                *next = (*next).max(offset + 1);
            }
            if fate == Fate::Skipped(stage) {
                continue;
            }
            for &at in &copies {
                self.trace(id, Kind::Received, app, Some(&group), from, at);
            }
            if fate == Fate::DeliveredTwice(stage) {
                self.trace(id, Kind::Received, app, Some(&group), from, copies[0]);
            }
            if fate == Fate::DroppedInApp(stage) {
                continue;
            }
            if let Some(to) = stage.writes() {
                forward.push((id.clone(), to, self.write(to, id)));
            }
        }
        for (id, to, delivery) in forward {
            let at = landed(delivery).await;
            self.journey(&id).copies[to].push(at);
            self.trace(&id, Kind::Sent, app, Some(&group), to, at);
        }
        // Traces first, then the commit: an app that commits only what is done.
        self.flush_traces().await;
        self.commit(stage);
    }

    /// Produce, then every stage in order.
    pub async fn play(&mut self, batch: &[(String, Fate)]) {
        self.produce(batch).await;
        let ids = ids(batch);
        for stage in Stage::ALL {
            self.process(stage, &ids).await;
        }
    }

    /// The verdicts the messages played so far must produce: one lost verdict per message
    /// whose fate is a loss, once the stage that loses it has committed past it.
    pub fn truth(&self) -> BTreeSet<VerdictKey> {
        self.truth_of(self.messages.keys())
    }

    /// [`Pipeline::truth`] restricted to `ids`.
    pub fn truth_of<'a>(&self, ids: impl IntoIterator<Item = &'a String>) -> BTreeSet<VerdictKey> {
        ids.into_iter()
            .filter_map(|id| {
                let journey = self.messages.get(id)?;
                let (stage, reason) = journey.fate.loss()?;
                if !journey.processed.contains(&stage) {
                    return None;
                }
                let read = stage.reads();
                let hop_location = match reason {
                    "lost_in_app" => stage.writes().expect("processors write"),
                    _ => read,
                };
                let (partition, offset) = journey.copies[read][0];
                Some(VerdictKey {
                    id: id.clone(),
                    verdict: "lost",
                    reason,
                    stream: STREAM.to_owned(),
                    hop_app: stage.app().to_owned(),
                    hop_group: Some(self.names.groups[read].clone()),
                    hop_location: self.names.location(hop_location),
                    message_location: self.names.location(read),
                    message_partition: partition,
                    message_offset: offset,
                })
            })
            .collect()
    }

    /// Extra copies the messages played so far made: (written twice, delivered twice), as
    /// cairn counts them (`cairn_duplicates_total{kind=...}`).
    pub fn duplicates(&self) -> (u64, u64) {
        let mut written = 0;
        let mut delivered = 0;
        for journey in self.messages.values() {
            match journey.fate {
                Fate::WrittenTwice => {
                    written += 1;
                    if journey.processed.contains(&Stage::Enricher) {
                        delivered += 1;
                    }
                }
                Fate::DeliveredTwice(stage) if journey.processed.contains(&stage) => delivered += 1,
                _ => {}
            }
        }
        (written, delivered)
    }

    /// Messages produced so far.
    pub fn message_count(&self) -> usize {
        self.messages.len()
    }

    /// Trace records written so far.
    pub fn traces_written(&self) -> usize {
        self.traces_written
    }

    fn journey(&mut self, id: &str) -> &mut Journey {
        self.messages
            .get_mut(id)
            .unwrap_or_else(|| panic!("message {id} was never produced"))
    }

    /// Writes the message to data topic `index`, round robin over its partitions.
    fn write(&mut self, index: usize, id: &str) -> DeliveryFuture {
        let partition = self.round_robin[index] % DATA_PARTITIONS;
        self.round_robin[index] += 1;
        let record = FutureRecord::to(&self.names.topics[index])
            .key(id)
            .payload(id)
            .partition(partition);
        match self.producer.send_result(record) {
            Ok(delivery) => delivery,
            Err((err, _)) => panic!("enqueue {id} for {}: {err}", self.names.topics[index]),
        }
    }

    /// Queues one trace on the tracing topic, keyed by the message id.
    fn trace(
        &mut self,
        id: &str,
        kind: Kind,
        app: &str,
        group: Option<&str>,
        location: usize,
        (partition, offset): (i32, i64),
    ) {
        let location = self.names.location(location);
        let bytes = TraceBuilder::new(id)
            .stream(STREAM)
            .kind(kind)
            .location(location)
            .at(partition, offset)
            .app(app)
            .maybe_group(group)
            .encode();
        let future = self
            .producer
            .send_result(
                FutureRecord::to(&self.names.tracing_topic)
                    .key(id)
                    .payload(&bytes),
            )
            .map_err(|(err, _)| err)
            .expect("enqueue a trace");
        self.pending_traces.push(future);
        self.traces_written += 1;
    }

    async fn flush_traces(&mut self) {
        for delivery in std::mem::take(&mut self.pending_traces) {
            landed(delivery).await;
        }
    }

    /// The stage's group commits, on every partition of the topic it reads, the offset after
    /// the last record it has read there.
    fn commit(&self, stage: Stage) {
        let from = stage.reads();
        let topic = &self.names.topics[from];
        let mut list = TopicPartitionList::new();
        for (&partition, &offset) in &self.commit_to[from] {
            list.add_partition_offset(topic, partition, Offset::Offset(offset))
                .expect("a valid offset");
        }
        if list.count() == 0 {
            return;
        }
        let consumer = &self.committers[from];
        tokio::task::block_in_place(|| {
            consumer.assign(&list).expect("assign");
            // Right after a broker restart the group coordinator may not be loaded yet: an
            // app would retry its commit, and so does this one, for a while.
            let mut attempts = 0;
            while let Err(err) = consumer.commit(&list, CommitMode::Sync) {
                attempts += 1;
                assert!(attempts < 30, "commit {} on {topic}: {err}", stage.app());
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
        });
    }
}

/// The ids of a batch, in order.
pub fn ids(batch: &[(String, Fate)]) -> Vec<String> {
    batch.iter().map(|(id, _)| id.clone()).collect()
}

/// Where an acknowledged record landed.
async fn landed(delivery: DeliveryFuture) -> (i32, i64) {
    match tokio::time::timeout(TIMEOUT, delivery).await {
        Ok(Ok(Ok(d))) => (d.partition, d.offset),
        Ok(Ok(Err((err, _)))) => panic!("a record was not acknowledged: {err}"),
        Ok(Err(_)) => panic!("the producer went away before acknowledging a record"),
        Err(_) => panic!("a record was not acknowledged within {TIMEOUT:?}"),
    }
}
