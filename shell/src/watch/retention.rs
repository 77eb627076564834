//! The retention of the topics watched groups read (`retention.ms`, `cleanup.policy`), read
//! with DescribeConfigs at most once per [`REFRESH`], for the retention headroom gauge.
//! Retention rarely changes; a failed read keeps the last values and is counted.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use cairn_core::watch::Retention;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, OwnedResourceSpecifier, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;

/// How often the topics' retention is read again.
pub const REFRESH: Duration = Duration::from_secs(60);

/// Reads and keeps the retention of topics.
pub struct RetentionCache {
    admin: AdminClient<DefaultClientContext>,
    /// The admin client's futures are driven by its own thread; this only waits for them.
    runtime: tokio::runtime::Runtime,
    timeout: Duration,
    read_at: Option<(Instant, BTreeSet<String>)>,
    known: HashMap<String, Retention>,
}

impl RetentionCache {
    pub fn new(base: &ClientConfig, timeout: Duration) -> Result<RetentionCache, KafkaError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(|err| KafkaError::AdminOpCreation(err.to_string()))?;
        Ok(RetentionCache {
            admin: base.create()?,
            runtime,
            timeout,
            read_at: None,
            known: HashMap::new(),
        })
    }

    /// The retention of every topic in `topics` that could be read. Reads again when
    /// [`REFRESH`] has passed or a topic is new; on failure keeps what it knew.
    pub fn refresh(
        &mut self,
        topics: BTreeSet<String>,
        now: Instant,
    ) -> Result<&HashMap<String, Retention>, KafkaError> {
        let due = match &self.read_at {
            None => true,
            Some((at, read)) => now.duration_since(*at) >= REFRESH || !topics.is_subset(read),
        };
        if due && !topics.is_empty() {
            self.read_at = Some((now, topics.clone()));
            let fresh = self.read(&topics)?;
            self.known = fresh;
        }
        self.known.retain(|topic, _| topics.contains(topic));
        Ok(&self.known)
    }

    fn read(&self, topics: &BTreeSet<String>) -> Result<HashMap<String, Retention>, KafkaError> {
        let specifiers: Vec<ResourceSpecifier<'_>> = topics
            .iter()
            .map(|t| ResourceSpecifier::Topic(t.as_str()))
            .collect();
        let options = AdminOptions::new().request_timeout(Some(self.timeout));
        let results = self.runtime.block_on(async {
            tokio::time::timeout(
                self.timeout + Duration::from_secs(1),
                self.admin.describe_configs(&specifiers, &options),
            )
            .await
            .unwrap_or(Err(KafkaError::AdminOp(
                rdkafka::types::RDKafkaErrorCode::RequestTimedOut,
            )))
        })?;
        let mut out = HashMap::new();
        for resource in results.into_iter().flatten() {
            let OwnedResourceSpecifier::Topic(topic) = &resource.specifier else {
                continue;
            };
            let value = |name: &str| resource.get(name).and_then(|e| e.value.clone());
            let (Some(ms), Some(policy)) = (value("retention.ms"), value("cleanup.policy")) else {
                continue;
            };
            if let Some(retention) = Retention::from_topic_config(&ms, &policy) {
                out.insert(topic.clone(), retention);
            }
        }
        Ok(out)
    }
}
