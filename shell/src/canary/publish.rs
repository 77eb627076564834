//! Where `metadata_mismatch` records go besides the log and `/api/incidents`: the incidents
//! topic (`[canary] incidents_topic`, keyed by `<cluster>/broker/<id>` so an open and its close
//! stay in order) and every `[[canary.webhooks]]` (a POST with a bounded timeout and a few
//! retries with back-off). The same record `cairn watch` publishes, so one consumer of the
//! topic or one receiver serves both. The manager only queues records; it never waits for
//! either sink. A failure is logged and counted under `errors{operation}` (`incidents_topic`,
//! `webhook`) of the incident's cluster.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use cairn_core::canary::consistency::MismatchIncident;
use cairn_core::config::{CanaryConfig, Webhook};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::sync::mpsc;

use super::view::ClusterSlot;
use crate::kafka::client::client_config;
use crate::watch::publish::{WEBHOOK_ATTEMPTS, deliver};

/// Records waiting to go out; a full queue drops the record from the sinks (it stays in
/// `/api/incidents` and the log) and counts it.
pub const QUEUE: usize = 10_000;
/// How long one record may take on the topic.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// The publisher: its queue, the sinks, and the slots whose errors it counts.
pub struct Publisher {
    receiver: mpsc::Receiver<MismatchIncident>,
    topic: Option<(String, FutureProducer)>,
    webhooks: Vec<Webhook>,
    http: reqwest::Client,
    slots: BTreeMap<String, Arc<ClusterSlot>>,
}

/// A publisher whose queue every slot feeds, or `None` when no sink is set.
pub fn publisher(
    config: &CanaryConfig,
    slots: &[Arc<ClusterSlot>],
) -> anyhow::Result<Option<Publisher>> {
    let section = &config.canary;
    if section.incidents_topic.is_none() && section.webhooks.is_empty() {
        return Ok(None);
    }
    let topic = match &section.incidents_topic {
        Some(location) => {
            // The loader checks the cluster is declared; it must also be one the canary runs on.
            let Some(cluster) = config.clusters.iter().find(|c| c.name == location.cluster) else {
                anyhow::bail!(
                    "[canary] incidents_topic: cluster `{}` is not one of [canary] clusters",
                    location.cluster
                );
            };
            let producer: FutureProducer = client_config(cluster)
                .set("enable.idempotence", "true")
                .set("acks", "all")
                .create()?;
            Some((location.topic.clone(), producer))
        }
        None => None,
    };
    let (sender, receiver) = mpsc::channel(QUEUE);
    for slot in slots {
        slot.set_outbox(sender.clone());
    }
    Ok(Some(Publisher {
        receiver,
        topic,
        webhooks: section.webhooks.clone(),
        http: reqwest::Client::new(),
        slots: slots.iter().map(|s| (s.name.clone(), s.clone())).collect(),
    }))
}

impl Publisher {
    /// Publishes every queued record, in order, until every sender is gone.
    pub async fn run(mut self) {
        while let Some(incident) = self.receiver.recv().await {
            self.publish(&incident).await;
        }
    }
}

impl Publisher {
    async fn publish(&self, incident: &MismatchIncident) {
        let payload = match serde_json::to_vec(incident) {
            Ok(payload) => payload,
            Err(err) => {
                self.error(&incident.cluster, "incidents_topic", &err);
                return;
            }
        };
        for hook in &self.webhooks {
            let slot = self.slots.get(&incident.cluster).cloned();
            tokio::spawn(post(self.http.clone(), hook.clone(), payload.clone(), slot));
        }
        if let Some((topic, producer)) = &self.topic {
            let key = key(incident);
            let record = FutureRecord::to(topic).key(&key).payload(&payload);
            if let Err((err, _)) = producer.send(record, SEND_TIMEOUT).await {
                self.error(&incident.cluster, "incidents_topic", &err);
            }
        }
    }

    fn error(&self, cluster: &str, operation: &'static str, error: &dyn std::fmt::Display) {
        match self.slots.get(cluster) {
            Some(slot) => slot.error(operation, error),
            None => tracing::warn!(cluster, operation, %error, "canary incident not published"),
        }
    }
}

/// `<cluster>/broker/<id>`: an open and its close share a partition, hence an order.
pub fn key(incident: &MismatchIncident) -> String {
    format!("{}/broker/{}", incident.cluster, incident.broker)
}

/// POSTs one record to one webhook, retrying with back-off; a final failure is counted.
async fn post(
    http: reqwest::Client,
    hook: Webhook,
    payload: Vec<u8>,
    slot: Option<Arc<ClusterSlot>>,
) {
    let Err(last_error) = deliver(&http, &hook, &payload).await else {
        return;
    };
    let error = format!(
        "{} after {WEBHOOK_ATTEMPTS} attempts: {last_error}",
        hook.url
    );
    match slot {
        Some(slot) => slot.error("webhook", &error),
        None => tracing::warn!(%error, "canary incident webhook failed"),
    }
}
