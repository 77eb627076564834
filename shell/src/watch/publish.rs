//! Where incident records go: the incidents topic (keyed by `<cluster>/<group>` so an open and
//! its close stay in order) and each webhook (a POST with a bounded timeout and a few retries
//! with back-off, each on its own task). Evaluation only hands records over a channel; it
//! never waits for either.
//!
//! Two ways to the topic:
//! - **one instance** (no election): an idempotent producer with `acks=all`; each webhook is
//!   posted whatever the topic answered.
//! - **elected** (several instances): the active instance's transactional producer, installed
//!   in the [`FencedSink`] when it takes over. Each batch of records goes in one transaction,
//!   and the webhooks are posted only once it committed: a deposed instance whose producer a
//!   newer one fenced publishes nothing anywhere, and stands by. Records queued in a term the
//!   instance no longer acts in are dropped (the next active instance's reconciling covers
//!   them).

use std::sync::Arc;
use std::time::Duration;

use cairn_core::config::{WatchConfig, Webhook};
use cairn_core::watch::Incident;
use cairn_core::watch::incident::encode;
use parking_lot::Mutex;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use tokio::sync::mpsc;

use super::events::{NotPublished, PublishFailed, WebhookFailed};
use super::view::WatchView;
use crate::kafka::client::client_config;

/// Attempts per record and webhook.
pub(crate) const WEBHOOK_ATTEMPTS: u32 = 3;
/// The wait before the second attempt; doubled before each next one.
const WEBHOOK_BACKOFF: Duration = Duration::from_millis(500);
/// Records waiting to go out. A poller that finds the queue full logs the record as dropped
/// (it stays in the book and in `/api/incidents`) rather than wait.
pub const PUBLISH_QUEUE: usize = 10_000;
/// Records sent in one transaction at most.
const BATCH: usize = 100;
/// How long one record or one transaction may take on the topic.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// A record to publish, with the term of the active instance that made it.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub term: u64,
    pub incident: Incident,
}

/// A producer and the term it was made for.
type TermProducer = (u64, Arc<BaseProducer>);

/// The active instance's transactional producer, for the term it was made in.
#[derive(Clone, Default)]
pub struct FencedSink {
    slot: Arc<Mutex<Option<TermProducer>>>,
}

impl FencedSink {
    pub fn install(&self, term: u64, producer: BaseProducer) {
        *self.slot.lock() = Some((term, Arc::new(producer)));
    }

    pub fn clear(&self) {
        *self.slot.lock() = None;
    }

    /// The producer of `term`, if it is the installed one.
    fn producer(&self, term: u64) -> Option<Arc<BaseProducer>> {
        match &*self.slot.lock() {
            Some((installed, producer)) if *installed == term => Some(producer.clone()),
            _ => None,
        }
    }
}

/// The incidents topic, as this instance writes it.
enum TopicSink {
    Plain { producer: FutureProducer },
    Fenced { sink: FencedSink },
}

/// Starts the publisher task; returns the sender the pollers hand records to. `fenced` is
/// the sink of an elected instance (`None`: one instance, always active). Each record is
/// handed on to `respond` (the first responder), when there is one, once it went out (with an
/// election: once its transaction committed, so an instance taking over finds on the topic
/// every incident the responder acted on); the responder acts only while this instance is
/// active.
pub fn spawn_publisher(
    config: &WatchConfig,
    view: Arc<WatchView>,
    fenced: Option<FencedSink>,
    respond: Option<mpsc::Sender<Incident>>,
) -> Result<(mpsc::Sender<Outgoing>, tokio::task::JoinHandle<()>), KafkaError> {
    let topic = match &config.watch.incidents_topic {
        Some(location) => {
            let sink = match fenced {
                Some(sink) => TopicSink::Fenced { sink },
                None => {
                    let cluster = config.cluster(&location.cluster).expect(
                        "the config validates that incidents_topic names a declared cluster",
                    );
                    let producer: FutureProducer = client_config(cluster)
                        .set("enable.idempotence", "true")
                        .set("acks", "all")
                        .create()?;
                    TopicSink::Plain { producer }
                }
            };
            Some((location.topic.clone(), sink))
        }
        None => None,
    };
    let publisher = Publisher {
        topic,
        webhooks: config.watch.webhooks.clone(),
        http: reqwest::Client::new(),
        view,
        respond,
    };
    let (sender, receiver) = mpsc::channel::<Outgoing>(PUBLISH_QUEUE);
    let task = tokio::spawn(publisher.run(receiver));
    Ok((sender, task))
}

struct Publisher {
    topic: Option<(String, TopicSink)>,
    webhooks: Vec<Webhook>,
    http: reqwest::Client,
    view: Arc<WatchView>,
    respond: Option<mpsc::Sender<Incident>>,
}

impl Publisher {
    async fn run(self, mut receiver: mpsc::Receiver<Outgoing>) {
        while let Some(first) = receiver.recv().await {
            let mut batch = vec![first];
            while batch.len() < BATCH {
                match receiver.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            match &self.topic {
                None => {
                    self.post_all(&batch);
                    self.hand_to_responder(&batch);
                }
                Some((topic, TopicSink::Plain { producer })) => {
                    self.post_all(&batch);
                    for out in &batch {
                        send_plain(producer, topic, &out.incident).await;
                    }
                    self.hand_to_responder(&batch);
                }
                Some((topic, TopicSink::Fenced { sink })) => {
                    // Records of one term travel together; a batch may span two.
                    let mut rest = batch.as_slice();
                    while let Some(first) = rest.first() {
                        let len = rest.iter().take_while(|o| o.term == first.term).count();
                        let (same, later) = rest.split_at(len);
                        self.send_fenced(sink, topic, same).await;
                        rest = later;
                    }
                }
            }
        }
    }

    /// Records of one term, in one transaction of that term's producer; the webhooks once
    /// it committed.
    async fn send_fenced(&self, sink: &FencedSink, topic: &str, batch: &[Outgoing]) {
        let term = batch[0].term;
        let leader = &self.view.leader;
        let producer = sink
            .producer(term)
            .filter(|_| leader.active_term() == Some(term));
        let Some(producer) = producer else {
            for out in batch {
                NotPublished {
                    incident: &out.incident,
                    reason: "this instance no longer acts in the term that made it",
                }
                .emit();
            }
            return;
        };
        let records: Vec<(String, Vec<u8>)> = batch
            .iter()
            .map(|o| (key(&o.incident), encode(&o.incident)))
            .collect();
        let topic_name = topic.to_owned();
        let sent = tokio::task::spawn_blocking(move || {
            send_in_transaction(&producer, &topic_name, &records)
        })
        .await
        .unwrap_or_else(|err| Err(TransactionFailed::Other(err.to_string())));
        match sent {
            // The responder acts only on what a successor will find on the topic.
            Ok(()) => {
                self.post_all(batch);
                self.hand_to_responder(batch);
            }
            Err(err) => {
                if let TransactionFailed::Fenced(_) = err {
                    sink.clear();
                    leader.step_down(
                        term,
                        "fenced: a newer active instance took over the incidents producer",
                    );
                }
                for out in batch {
                    PublishFailed {
                        cluster: &out.incident.cluster,
                        group: &out.incident.group,
                        error: &err,
                    }
                    .emit();
                }
            }
        }
    }

    fn hand_to_responder(&self, batch: &[Outgoing]) {
        let Some(respond) = &self.respond else {
            return;
        };
        for out in batch {
            let incident = &out.incident;
            if let Err(err) = respond.try_send(incident.clone()) {
                tracing::error!(cluster = incident.cluster, group = incident.group, error = %err, "incident not handed to the responder: its queue is full or closed");
            }
        }
    }

    fn post_all(&self, batch: &[Outgoing]) {
        for out in batch {
            let payload = encode(&out.incident);
            for hook in &self.webhooks {
                tokio::spawn(post(
                    self.http.clone(),
                    hook.clone(),
                    payload.clone(),
                    self.view.clone(),
                ));
            }
        }
    }
}

/// `<cluster>/<group>`: an open and its close share a partition, hence an order.
fn key(incident: &Incident) -> String {
    format!("{}/{}", incident.cluster, incident.group)
}

async fn send_plain(producer: &FutureProducer, topic: &str, incident: &Incident) {
    let key = key(incident);
    let payload = encode(incident);
    let record = FutureRecord::to(topic).key(&key).payload(&payload);
    if let Err((err, _)) = producer.send(record, SEND_TIMEOUT).await {
        PublishFailed {
            cluster: &incident.cluster,
            group: &incident.group,
            error: &err,
        }
        .emit();
    }
}

/// Why a transaction of incident records did not commit.
#[derive(Debug, thiserror::Error)]
enum TransactionFailed {
    /// Another producer with the same transactional id took over: this instance is deposed.
    #[error("fenced by a newer active instance: {0}")]
    Fenced(KafkaError),
    #[error("transaction not committed (aborted): {0}")]
    Aborted(KafkaError),
    #[error("{0}")]
    Other(String),
}

/// Sends `records` in one transaction and commits it; aborts it on a failure that allows it.
fn send_in_transaction(
    producer: &BaseProducer,
    topic: &str,
    records: &[(String, Vec<u8>)],
) -> Result<(), TransactionFailed> {
    let classify = |err: KafkaError| match &err {
        KafkaError::Transaction(e) if e.is_fatal() => TransactionFailed::Fenced(err),
        _ => TransactionFailed::Aborted(err),
    };
    let attempt = || -> Result<(), KafkaError> {
        producer.begin_transaction()?;
        for (key, payload) in records {
            let mut record = BaseRecord::to(topic).key(key).payload(payload);
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        producer.poll(Duration::from_millis(100));
                        record = back;
                    }
                    Err((err, _)) => return Err(err),
                }
            }
        }
        producer.commit_transaction(SEND_TIMEOUT)
    };
    attempt().map_err(|err| {
        let failed = classify(err);
        if let TransactionFailed::Aborted(_) = failed
            && let Err(abort) = producer.abort_transaction(SEND_TIMEOUT)
        {
            tracing::warn!(error = %abort, "aborting the incidents transaction failed");
            if let KafkaError::Transaction(e) = &abort
                && e.is_fatal()
            {
                return TransactionFailed::Fenced(abort);
            }
        }
        failed
    })
}

/// POSTs `payload` as JSON to `hook`, each attempt bounded by the hook's timeout, up to
/// [`WEBHOOK_ATTEMPTS`] times with doubling back-off; the last error when none succeeded. The
/// incident sinks of `cairn watch` and `cairn canary` both send through it.
pub(crate) async fn deliver(
    http: &reqwest::Client,
    hook: &Webhook,
    payload: &[u8],
) -> Result<(), String> {
    let mut backoff = WEBHOOK_BACKOFF;
    let mut last_error = String::new();
    for attempt in 1..=WEBHOOK_ATTEMPTS {
        let mut request = http
            .post(&hook.url)
            .timeout(hook.timeout)
            .header("content-type", "application/json")
            .body(payload.to_vec());
        for (name, value) in &hook.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) => last_error = format!("status {}", response.status()),
            Err(err) => last_error = err.to_string(),
        }
        if attempt < WEBHOOK_ATTEMPTS {
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }
    Err(last_error)
}

/// POSTs one record to one webhook, retrying with back-off; a final failure is logged and counted.
async fn post(http: reqwest::Client, hook: Webhook, payload: Vec<u8>, view: Arc<WatchView>) {
    let Err(last_error) = deliver(&http, &hook, &payload).await else {
        return;
    };
    WebhookFailed {
        url: &hook.url,
        attempts: WEBHOOK_ATTEMPTS,
        error: &last_error,
    }
    .emit(&view.counters);
}
