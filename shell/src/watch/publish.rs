//! Where incident records go: the incidents topic (idempotent producer, `acks=all`, keyed by
//! `<cluster>/<group>` so an open and its close stay in order) and each webhook (a POST with a
//! bounded timeout and a few retries with back-off, each on its own task). Evaluation only
//! hands records over a channel; it never waits for either.

use std::sync::Arc;
use std::time::Duration;

use cairn_core::config::{WatchConfig, Webhook};
use cairn_core::watch::Incident;
use cairn_core::watch::incident::encode;
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::sync::mpsc;

use super::events::{PublishFailed, WebhookFailed};
use super::view::WatchView;
use crate::kafka::client::client_config;

/// Attempts per record and webhook.
const WEBHOOK_ATTEMPTS: u32 = 3;
/// The wait before the second attempt; doubled before each next one.
const WEBHOOK_BACKOFF: Duration = Duration::from_millis(500);
/// Records waiting to go out. A poller that finds the queue full logs the record as dropped
/// (it stays in the book and in `/api/incidents`) rather than wait.
pub const PUBLISH_QUEUE: usize = 10_000;

/// The incidents topic's producer and where it writes.
struct TopicSink {
    producer: FutureProducer,
    topic: String,
}

/// Starts the publisher task; returns the sender the pollers hand records to. Each record
/// is handed on to `respond` (the first responder), when there is one, before it goes out.
pub fn spawn_publisher(
    config: &WatchConfig,
    view: Arc<WatchView>,
    respond: Option<mpsc::Sender<Incident>>,
) -> Result<(mpsc::Sender<Incident>, tokio::task::JoinHandle<()>), KafkaError> {
    let sink = match &config.watch.incidents_topic {
        Some(location) => {
            let cluster = config
                .cluster(&location.cluster)
                .expect("the config validates that incidents_topic names a declared cluster");
            let producer: FutureProducer = client_config(cluster)
                .set("enable.idempotence", "true")
                .set("acks", "all")
                .create()?;
            Some(TopicSink {
                producer,
                topic: location.topic.clone(),
            })
        }
        None => None,
    };
    let webhooks = config.watch.webhooks.clone();
    let http = reqwest::Client::new();
    let (sender, mut receiver) = mpsc::channel::<Incident>(PUBLISH_QUEUE);
    let task = tokio::spawn(async move {
        while let Some(incident) = receiver.recv().await {
            if let Some(respond) = &respond
                && let Err(err) = respond.try_send(incident.clone())
            {
                tracing::error!(cluster = incident.cluster, group = incident.group, error = %err, "incident not handed to the responder: its queue is full or closed");
            }
            let payload = encode(&incident);
            for hook in &webhooks {
                tokio::spawn(post(
                    http.clone(),
                    hook.clone(),
                    payload.clone(),
                    view.clone(),
                ));
            }
            if let Some(sink) = &sink {
                let key = format!("{}/{}", incident.cluster, incident.group);
                let record = FutureRecord::to(&sink.topic).key(&key).payload(&payload);
                if let Err((err, _)) = sink.producer.send(record, Duration::from_secs(30)).await {
                    PublishFailed {
                        cluster: &incident.cluster,
                        group: &incident.group,
                        error: &err,
                    }
                    .emit();
                }
            }
        }
    });
    Ok((sender, task))
}

/// POSTs one record to one webhook, retrying with back-off; a final failure is logged and counted.
async fn post(http: reqwest::Client, hook: Webhook, payload: Vec<u8>, view: Arc<WatchView>) {
    let mut backoff = WEBHOOK_BACKOFF;
    let mut last_error = String::new();
    for attempt in 1..=WEBHOOK_ATTEMPTS {
        let mut request = http
            .post(&hook.url)
            .timeout(hook.timeout)
            .header("content-type", "application/json")
            .body(payload.clone());
        for (name, value) in &hook.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => return,
            Ok(response) => last_error = format!("status {}", response.status()),
            Err(err) => last_error = err.to_string(),
        }
        if attempt < WEBHOOK_ATTEMPTS {
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }
    WebhookFailed {
        url: &hook.url,
        attempts: WEBHOOK_ATTEMPTS,
        error: &last_error,
    }
    .emit(&view.counters);
}
